"""optkit.profiles: performance and data profiles against hand-computed examples, bands."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

import optkit
from optkit import bench, profiles
from optkit.result import History

INF = np.inf


def run(problem, method, nfev, *, seed=0, success=True, funs=(10.0, 0.0), n=2, f_opt=None):
    """A run_grid-like row whose history goes through ``funs`` and ends at ``nfev``."""
    counts = np.linspace(1, nfev, len(funs)).round().astype(int) if len(funs) > 1 else [nfev]
    history = History([{"nit": k, "fun": f, "nfev": int(e)}
                       for k, (f, e) in enumerate(zip(funs, counts, strict=True))],
                      f_opt=f_opt, problem=problem, method=method)
    return {"problem": problem, "method": method, "seed": seed, "success": success,
            "n": n, "f_opt": f_opt, "history": history}


# Costs (final nfev; x = failed run):     a     b
#   p1                                    10    20     a best, b twice as slow
#   p2                                    30    15     b best
#   p3                                     8     8     a tie: both best
#   p4                                     x    40     only b solves it
#   p5                                     x     x     nobody solves it
TABLE = [
    run("p1", "a", 10), run("p1", "b", 20),
    run("p2", "a", 30), run("p2", "b", 15),
    run("p3", "a", 8), run("p3", "b", 8),
    run("p4", "a", 99, success=False), run("p4", "b", 40),
    run("p5", "a", 50, success=False), run("p5", "b", 60, success=False),
]


def test_performance_profile_by_hand():
    profile = profiles.performance_profile(TABLE, "nfev")
    assert profile.kind == "performance"
    assert profile.methods == ("a", "b")
    assert profile.instances == tuple((p, 0) for p in ("p1", "p2", "p3", "p4", "p5"))
    np.testing.assert_array_equal(profile.scores, [[1, 2], [2, 1], [1, 1], [INF, 1],
                                                   [INF, INF]])
    np.testing.assert_array_equal(profile.breakpoints, [1.0, 2.0])
    # rho_a: 2/5 at tau = 1 (p1, p3), 3/5 from tau = 2 on (and p2); never p4, p5.
    # rho_b: 3/5 at tau = 1 (p2, p3, p4), 4/5 from tau = 2 on (and p1); never p5.
    np.testing.assert_allclose(profile([0.5, 1.0, 1.5, 2.0, 1e9]),
                               [[0, 2 / 5, 2 / 5, 3 / 5, 3 / 5],
                                [0, 3 / 5, 3 / 5, 4 / 5, 4 / 5]])


def test_performance_profile_with_the_convergence_test_and_seed_medians():
    # f(x0) = 10 everywhere; f_L = 0 (the best value reached). tol = 0.1: solved at f <= 1.
    rows = [
        # p1: a reaches f = 1 at nfev 4 on seed 0 and at nfev 7 on seed 1; b at nfev 2 and 3.
        run("p1", "a", 10, funs=(10.0, 5.0, 1.0, 0.0), seed=0),   # nfev 1, 4, 7, 10
        run("p1", "a", 10, funs=(10.0, 5.0, 5.0, 1.0), seed=1),   # solved at nfev 10
        run("p1", "b", 3, funs=(10.0, 1.0, 1.0), seed=0),         # nfev 1, 2, 3: at 2
        run("p1", "b", 5, funs=(10.0, 2.0, 0.5), seed=1),         # nfev 1, 3, 5: at 5
        run("p1", "c", 9, funs=(10.0, 8.0), seed=0),              # never
        run("p1", "c", 9, funs=(10.0, 0.5), seed=1),              # at nfev 9
    ]
    profile = profiles.performance_profile(rows, "nfev", tol=0.1)
    assert profile.instances == (("p1", 0), ("p1", 1))
    # seed 0: a 7, b 2, c never -> 3.5, 1, inf; seed 1: a 10, b 5, c 9 -> 2, 1, 1.8
    np.testing.assert_allclose(profile.scores, [[3.5, 1, INF], [2, 1, 1.8]])
    median = profiles.performance_profile(rows, "nfev", tol=0.1, seeds="median")
    assert median.instances == (("p1",),)
    # medians over the two seeds: a (7 + 10) / 2, b (2 + 5) / 2, c (9 + inf) / 2 = inf
    np.testing.assert_allclose(median.scores, [[8.5 / 3.5, 1, INF]])
    # The iteration count as the cost: seed 0 reaches the test at nit 2 (a) and 1 (b).
    by_nit = profiles.performance_profile(rows, "nit", tol=0.1)
    np.testing.assert_allclose(by_nit.scores[0], [2, 1, INF])


def test_data_profile_by_hand():
    rows = [
        # n = 2: one simplex gradient is 3 evaluations. f(x0) = 10, f_L = 0, tol = 0.1.
        run("p1", "a", 9, funs=(10.0, 4.0, 0.5, 0.0)),     # nfev 1, 4, 6, 9 (rounded)
        run("p1", "b", 3, funs=(10.0, 1.0, 0.0)),          # nfev 1, 2, 3: solved at 2
        # n = 4 (5 evaluations a simplex gradient); f_L = -2 here, so solved at f <= -0.8.
        run("p2", "a", 10, funs=(10.0, -1.0), n=4),        # at nfev 10
        run("p2", "b", 20, funs=(10.0, 0.0, -2.0), n=4),   # nfev 1, 10 (rounded), 20: at 20
    ]
    assert [r["nfev"] for r in rows[0]["history"]] == [1, 4, 6, 9]
    profile = profiles.data_profile(rows, tol=0.1)
    assert profile.kind == "data"
    np.testing.assert_allclose(profile.scores, [[6 / 3, 2 / 3], [10 / 5, 20 / 5]])
    np.testing.assert_allclose(profile([0.5, 2 / 3, 2.0, 4.0]),
                               [[0, 0, 1, 1], [0, 0.5, 0.5, 1]])
    raw = profiles.data_profile(rows, tol=0.1, per_dimension=False)
    np.testing.assert_allclose(raw.scores, [[6, 2], [10, 20]])
    # tol = 1e-3 on p1: f <= 0.01, reached only at f = 0 (nfev 9 for a, 3 for b).
    np.testing.assert_allclose(profiles.data_profile(rows, tol=1e-3).scores[0], [9 / 3, 1])
    # The known optimum instead of the best value found: f_L = -10, f <= -9 is never reached,
    # not even with an unlimited budget.
    for row in rows:
        row["f_opt"] = -10.0
    unsolved = profiles.data_profile(rows, tol=0.1, reference="f_opt")
    assert np.all(np.isinf(unsolved.scores))
    np.testing.assert_array_equal(unsolved([1.0, np.inf]), np.zeros((2, 2)))
    assert profile.unit == "simplex gradients" and raw.unit == "function evaluations"
    _, ax = profiles.plot_profile(raw)
    assert ax.get_xlabel() == r"budget $\kappa$ (function evaluations)"
    plt.close(ax.figure)


@pytest.mark.parametrize("change, error, match", [
    (lambda t: t[:-1], ValueError, "lacks the runs"),
    (lambda t: [*t, t[0]], ValueError, "twice"),
    (lambda t: [], ValueError, "no runs"),
    (lambda t: [{**t[0], "history": None}, *t[1:]], TypeError, "history"),
])
def test_profile_errors(change, error, match):
    with pytest.raises(error, match=match):
        profiles.performance_profile(change(TABLE))


def test_profile_argument_errors():
    with pytest.raises(ValueError, match="tol"):
        profiles.data_profile(TABLE, tol=1.0)
    with pytest.raises(ValueError, match="tol"):
        profiles.performance_profile(TABLE, tol=0.0)
    with pytest.raises(ValueError, match="seeds"):
        profiles.performance_profile(TABLE, seeds="mean")
    with pytest.raises(ValueError, match="reference"):
        profiles.performance_profile(TABLE, reference="min")
    with pytest.raises(ValueError, match="no known optimum"):
        profiles.performance_profile(TABLE, tol=0.1, reference="f_opt")


def test_plot_profiles():
    fig, ax = profiles.plot_profile(profiles.performance_profile(TABLE))
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"a", "b"} and lines["a"].get_drawstyle() == "steps-post"
    np.testing.assert_allclose(lines["a"].get_xdata(), [1, 2, 4])
    np.testing.assert_allclose(lines["a"].get_ydata(), [2 / 5, 3 / 5, 3 / 5])
    np.testing.assert_allclose(lines["b"].get_ydata(), [3 / 5, 4 / 5, 4 / 5])
    plt.close(fig)
    fig, ax = plt.subplots()
    out_fig, out_ax = profiles.plot_profile(profiles.data_profile(TABLE, tol=0.5), ax=ax,
                                            title="t")
    assert out_ax is ax and ax.get_xscale() == "linear" and ax.get_title() == "t"
    assert ax.get_xlim()[0] == 0
    plt.close(fig)


def test_suboptimality_bands_by_hand():
    def hist(funs, nfevs):
        return History([{"nit": k, "fun": f, "nfev": e}
                        for k, (f, e) in enumerate(zip(funs, nfevs, strict=True))], f_opt=1.0)

    rows = [{"problem": "p", "method": "a", "history": hist([9.0, 5.0, 2.0], [1, 3, 5])},
            {"problem": "p", "method": "a", "history": hist([9.0, 3.0], [1, 4])},
            {"problem": "p", "method": "a", "history": hist([9.0, 7.0, 5.0], [2, 3, 6])},
            {"problem": "p", "method": "b", "history": hist([3.0], [1])}]
    bands = profiles.suboptimality_bands(rows, x="nfev", quantiles=(0.0, 1.0))
    assert list(bands) == ["a", "b"]
    a = bands["a"]
    # Grid: the union of the runs' nfev. f - 1 held from each run's last record at or before.
    np.testing.assert_array_equal(a.x, [1, 2, 3, 4, 5, 6])
    #      nfev:      1       2       3       4       5       6
    # run 1:          8       8       4       4       1       1
    # run 2:          8       8       8       2       2       2
    # run 3:          -       8       6       6       6       4
    np.testing.assert_allclose(a.median, [8, 8, 6, 4, 2, 2])
    np.testing.assert_allclose(a.lower, [8, 8, 4, 2, 1, 1])
    np.testing.assert_allclose(a.upper, [8, 8, 8, 6, 6, 4])
    assert a.n_runs == 3 and bands["b"].n_runs == 1
    fig, ax = profiles.plot_bands(bands, x="nfev")
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "function evaluations"
    assert [line.get_label() for line in ax.get_lines()] == ["a (median of 3)",
                                                             "b (median of 1)"]
    assert len(ax.collections) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="per problem"):
        profiles.suboptimality_bands([*rows, {**rows[0], "problem": "q"}])
    with pytest.raises(ValueError, match="quantiles"):
        profiles.suboptimality_bands(rows, quantiles=(0.8, 0.2))


def test_profiles_of_a_real_grid():
    """run_grid's table goes straight in: the profiles of a small grid are consistent."""
    quads = {f"q{k}": optkit.QuadraticProblem(np.diag([1.0, 10.0 ** k]), np.ones(2),
                                              x0=np.zeros(2), f_opt=None, name=f"q{k}")
             for k in (1, 2)}
    rows = bench.run_grid(quads, {"gd": {"maxiter": 50}, "nesterov": {"maxiter": 50}},
                          seeds=[0, 1])
    perf = profiles.performance_profile(rows, "nfev", tol=1e-6)
    assert perf.scores.shape == (4, 2) and np.all(np.nanmin(perf.scores, axis=1) == 1)
    data = profiles.data_profile(rows, tol=1e-6)
    assert data.scores.shape == (4, 2)
    # Both profiles see the same runs solved.
    np.testing.assert_array_equal(np.isfinite(perf.scores), np.isfinite(data.scores))
    bands = profiles.suboptimality_bands([r for r in rows if r["problem"] == "q2"],
                                         f_opt=min(r["fun"] for r in rows
                                                   if r["problem"] == "q2"))
    assert set(bands) == {"gd", "nesterov"}
