"""optkit.plot: what is drawn is what the histories hold."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

import optkit
from optkit.plot import convergence, suboptimality


@pytest.fixture
def runs():
    Q = np.diag([1.0, 10.0])
    problem = optkit.QuadraticProblem(Q, np.array([1.0, -1.0]), x0=np.zeros(2), f_opt=-0.55,
                                      name="q")
    return problem, {m: optkit.minimize(problem, method=m, options={"maxiter": 30})
                     for m in ("gd", "nesterov")}


def test_suboptimality_lines_on_log_axes(runs):
    problem, results = runs
    fig, ax = convergence(results)
    assert isinstance(fig, plt.Figure) and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "f(x) - f*" and ax.get_title() == "q"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"gd", "nesterov"}
    res = results["gd"]
    np.testing.assert_allclose(lines["gd"].get_xdata(), np.arange(res.nit + 1))
    expected = np.maximum(res.history["fun"] + 0.55, np.finfo(float).eps * 0.55)
    np.testing.assert_allclose(lines["gd"].get_ydata(), expected)
    plt.close(fig)


def test_suboptimality_needs_f_opt():
    res = optkit.minimize(lambda x: float(x @ x), np.ones(2), method="gd",
                          options={"maxiter": 3, "step_size": 0.1, "grow": 1.0})
    with pytest.raises(ValueError, match="pass f_opt"):
        suboptimality(res.history)
    np.testing.assert_allclose(suboptimality(res.history, f_opt=0.0)[-1], res.fun)
    assert suboptimality(res.history, f_opt=res.fun)[-1] == np.finfo(float).eps * res.fun
    fig, ax = convergence(res, y="fun")  # no f_opt: the objective itself
    assert ax.get_ylabel() == "fun"
    plt.close(fig)


def test_other_columns_and_axes(runs):
    _, results = runs
    fig, ax = plt.subplots()
    out_fig, out_ax = convergence(list(results.values()), x="nfev", y="grad_norm", ax=ax,
                                  logx=True, title="t")
    assert out_ax is ax and out_fig is fig
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "function evaluations" and ax.get_title() == "t"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(),
                               results["gd"].history["nfev"])
    plt.close(fig)


def test_seeds_are_drawn_as_median_and_band(runs):
    problem, _ = runs
    seeds = [optkit.minimize(problem, method="gd", options={"maxiter": 10, "step_size": s})
             for s in (0.5, 1.0, 2.0)]
    fig, ax = convergence({"gd": seeds})
    (line,) = ax.get_lines()
    assert line.get_label() == "gd (median of 3)"
    stacked = np.stack([suboptimality(r.history) for r in seeds])
    n = min(len(r.history) for r in seeds)
    np.testing.assert_allclose(line.get_ydata(), np.median(stacked[:, :n], axis=0))
    assert len(ax.collections) == 1  # the band
    plt.close(fig)


def test_bad_runs():
    with pytest.raises(TypeError, match="expected an OptimizeResult with a 'history'"):
        convergence({"a": 3})


def test_runs_below_the_reference_are_drawn_as_distances(runs):
    problem, results = runs
    res = results["gd"]
    f_ref = res.history["fun"][5]  # later iterates undershoot this "optimum"
    fig, ax = convergence(results, f_opt=f_ref)
    assert ax.get_ylabel() == "|f(x) - f*|" and ax.get_yscale() == "log"
    line = {ln.get_label(): ln for ln in ax.get_lines()}["gd"]
    floor = np.finfo(float).eps * abs(f_ref)
    np.testing.assert_allclose(line.get_ydata(),
                               np.maximum(np.abs(res.history["fun"] - f_ref), floor))
    plt.close(fig)
