"""HOAG as MAID's spec section 4.1 describes it, on the quadratic bilevel problem (spec E1
with Gaussian data)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize
from test_bilevel_foundation import quadratic_bilevel

import optkit
from optkit.result import Status


@pytest.fixture(scope="module")
def e1():
    problem, y_star, phi, c = quadratic_bilevel(n_rows=200, m=10, p=5)
    f_star = scipy_minimize(phi, np.ones(5), method="BFGS", options={"gtol": 1e-10}).fun
    return dataclasses.replace(problem, upper_smoothness=c["L_g"]), phi, f_star


@pytest.mark.parametrize("schedule", ["geometric", "quadratic", "cubic", "fixed"])
def test_converges_on_the_quadratic_problem(e1, schedule):
    problem, phi, f_star = e1
    res = optkit.minimize(problem, method="hoag",
                          options={"maxiter": 300, "schedule": schedule})
    assert res.status == Status.MAXITER
    assert phi(res.x) - f_star <= 1e-6 * abs(f_star)
    assert res.fun == problem.upper_fun(res.x, res.y)


def test_tolerance_schedules(e1):
    """ε_k = ε₀ 0.9^k, ε₀/(k+1)², ε₀/(k+1)³ or ε₀, halved at each rejection, floored."""
    problem, *_ = e1
    k = np.arange(21)
    for schedule, expected in (("geometric", 0.1 * 0.9**k), ("quadratic", 0.1 / (k + 1) ** 2),
                               ("cubic", 0.1 / (k + 1) ** 3), ("fixed", 0.1 + 0 * k)):
        h = optkit.minimize(problem, method="hoag", options={
            "maxiter": 20, "schedule": schedule}).history.to_dict()
        halvings = h["rejected"] if schedule != "fixed" else 0 * h["rejected"]
        np.testing.assert_allclose(h["eps"], np.maximum(expected / 2.0**halvings, 1e-12),
                                   rtol=1e-12)


def test_a_rejected_step_returns_to_the_point_before_it(e1):
    """A loss above 1.2 g_old doubles L and goes back (Pedregosa's algorithm): the iterate
    after a rejection is one the run visited before."""
    problem, phi, _ = e1
    xs = [problem.x0]
    res = optkit.minimize(problem, method="hoag", options={"maxiter": 60},
                          callback=lambda xk: xs.append(xk))
    rejected = np.diff(res.history["rejected"]) > 0
    assert rejected.any()
    L = res.history["L"]
    for k in np.flatnonzero(rejected) + 1:
        assert any(np.array_equal(xs[k], x) for x in xs[:k - 1])
        assert L[k] == pytest.approx(2 * L[k - 1])


def test_budget_and_bad_options(e1):
    problem, *_ = e1
    res = optkit.minimize(problem, method="hoag", options={"maxiter": 300, "ll_budget": 500})
    assert res.status == Status.MAXITER and "ll_budget=500" in res.message
    assert res.history["cost"][-1] >= 500 > res.history["cost"][-2]
    with pytest.raises(ValueError, match="option 'schedule'"):
        optkit.minimize(problem, method="hoag", options={"schedule": "linear"})
    with pytest.raises(ValueError, match="lower_smoothness"):
        optkit.minimize(dataclasses.replace(problem, lower_smoothness=None), method="hoag")


@pytest.mark.parametrize("method", ["hoag", "maid"])
def test_a_diverging_constant_ends_the_run_with_status_3(method):
    """A lower-level constant that overflows at the new x (a learned weight exp(x) running
    away) ends the run with status 3 and the last finite iterate, never an exception."""
    import math

    from conftest import tiny_bilevel

    base = tiny_bilevel()
    problem = dataclasses.replace(  # finite at x0 = 0 only
        base, lower_smoothness=lambda x: 1.5 * math.exp(1e6 * float(np.abs(x).max())))
    res = optkit.minimize(problem, method=method, options={"maxiter": 20})
    assert res.status == Status.NONFINITE and not res.success
    np.testing.assert_array_equal(res.x, base.x0)  # the only point where L is finite
