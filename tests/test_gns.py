"""Gradient-normalized smoothness: the oracles of the spec (section 6) and the companions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.optimize import rosen, rosen_der, rosen_hess

import optkit
from optkit.linalg import LowRank, Metric, solve_shifted


def _quadratic20():
    """Spec oracle 1: 20-dim SPD Q with eigenvalues linspace(1, 100), x0 = ones."""
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    Q = (U * np.linspace(1.0, 100.0, 20)) @ U.T
    Q = 0.5 * (Q + Q.T)
    c = rng.standard_normal(20)
    f_opt = -0.5 * c @ np.linalg.solve(Q, c)
    return optkit.QuadraticProblem(Q, -c, x0=np.ones(20), f_opt=f_opt, name="q20")


def test_quadratic_converges_superlinearly():
    problem = _quadratic20()
    res = optkit.minimize(problem, method="gns-newton", options={"gtol": 1e-10})
    assert res.success and res.nit <= 30
    assert res.fun - problem.f_opt < 1e-10
    gammas = res.history["gamma"]
    assert np.all(np.diff(gammas[1:]) > 0)  # every step accepted at once: gamma doubles
    assert np.all(res.history["rejected"][1:] == 0)


def test_zero_curvature_is_the_normalized_gradient_method():
    """Spec oracle 2: H = 0 and B = I give the gns-gradient iterates."""
    problem = _quadratic20()
    zero = np.zeros((20, 20))
    opts = {"maxiter": 25, "gtol": 0.0}
    newton = optkit.minimize(problem, method="gns-newton",
                             options={**opts, "hess_approx": lambda x: zero})
    gradient = optkit.minimize(problem, method="gns-gradient", options=opts)
    np.testing.assert_allclose(newton.history["fun"], gradient.history["fun"], rtol=1e-12)
    np.testing.assert_allclose(newton.x, gradient.x, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(newton.history["gamma"], gradient.history["gamma"])


@pytest.mark.parametrize("name, approx", [("rosenbrock-equations", "gauss-newton"),
                                          ("chebyshev-chain", "gauss-newton"),
                                          ("log-sum-exp", "weighted-gauss-newton")])
def test_accepted_steps_decrease_enough_and_gamma_bookkeeping(name, approx):
    """Spec oracles 3 and 4: f_{k+1} <= f_k - ||g_{k+1}||^2 / (8 lambda_k) for every accepted
    step, gamma doubles after an acceptance and halves after each rejection."""
    import problems

    problem = problems.get(name)
    opts = {"maxiter": 40, "gtol": 1e-7, "hess_approx": approx}
    res = optkit.minimize(problem, method="gns-newton", options=opts)
    hist = res.history
    assert res.nit_search_exhausted == 0
    f, gnorm, lam = hist["fun"], hist["grad_norm"], hist["lam"]
    assert np.all(f[1:] <= f[:-1] - gnorm[1:] ** 2 / (8 * lam[1:]) + 1e-12 * np.abs(f[:-1]))
    gamma, rejected = hist["gamma"], hist["rejected"]
    expected = np.maximum(gamma[:-1] * 2.0 ** (1 - rejected[1:]), 1e-9)
    np.testing.assert_allclose(gamma[1:], expected, rtol=1e-12)


def test_search_cap_is_reported():
    """A step that can never pass the test (an objective shifted up at every new point)
    exhausts the 40 trials; the count is in the result."""
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        return float(x @ x) + 10.0 * calls["n"]

    res = optkit.minimize(fun, np.ones(3), jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(3),
                          method="gns-newton", options={"maxiter": 2, "max_search": 5})
    assert res.nit == 2 and res.nit_search_exhausted == 2
    assert np.all(res.history["ls_trials"][1:] == 5)


@pytest.mark.parametrize("rank", [1, 4])
def test_woodbury_equals_dense_solve(rank):
    """Spec oracle 5: Sherman-Morrison (rank one) and Woodbury equal a dense solve."""
    rng = np.random.default_rng(rank)
    n = 40
    M = rng.standard_normal((n, n))
    B = M @ M.T + np.eye(n)
    H = LowRank(rng.standard_normal((n, rank)), rng.uniform(0.0, 3.0, rank))
    g, lam = rng.standard_normal(n), 0.37
    dense = np.linalg.solve(H.toarray() + lam * B, -g)
    for metric in (Metric(B), Metric()):
        target = dense if metric.B is not None else np.linalg.solve(H.toarray() + lam *
                                                                    np.eye(n), -g)
        for method in ("auto", "woodbury", "cholesky", "cg"):
            out = solve_shifted(H, lam, g, metric, method=method)
            np.testing.assert_allclose(out.delta, target, rtol=0, atol=1e-8)
        out = solve_shifted(H, lam, g, metric)
        np.testing.assert_allclose(out.delta, target, rtol=0, atol=1e-10)
    with pytest.raises(TypeError, match="the Woodbury solve needs a LowRank"):
        solve_shifted(H.toarray(), lam, g, Metric(), method="woodbury")


def test_rosenbrock_within_60_iterations():
    """Spec oracle 6 (the reference first reaches f < 1e-8 at iteration 51). The run may go
    on past 60 iterations, so the test fails when f < 1e-8 comes later or never."""
    res = optkit.minimize(rosen, np.array([-2.0, 2.0]), method="gns-newton", jac=rosen_der,
                          hess=rosen_hess, options={"maxiter": 500, "gtol": 1e-12})
    reached = np.flatnonzero(res.history["fun"] < 1e-8)
    assert reached.size and reached[0] <= 60


def test_log_sum_exp_exact_vs_weighted_gauss_newton_vs_gradient():
    """Spec oracle 7 at n = m = 100."""
    import problems

    problem = problems.get("log-sum-exp", n=100, m=100)
    runs = {approx: optkit.minimize(problem, method="gns-newton",
                                    options={"hess_approx": approx, "gtol": 1e-10,
                                             "maxiter": 1000})
            for approx in ("exact", "weighted-gauss-newton")}
    gm = optkit.minimize(problem, method="gm-backtracking",
                         options={"gtol": 1e-10, "maxiter": 5000})
    for res in runs.values():
        assert res.fun - problem.f_opt < 1e-8
    first = {k: int(np.argmax(r.history["fun"] - problem.f_opt < 1e-8)) for k, r in
             runs.items()}
    gm_first = np.flatnonzero(gm.history["fun"] - problem.f_opt < 1e-8)
    gm_first = gm_first[0] if gm_first.size else gm.nit + 1
    assert first["exact"] < first["weighted-gauss-newton"] < gm_first


def test_cholesky_failure_halves_gamma():
    """Spec oracle 8: an indefinite H with a small lambda fails Cholesky; gamma is halved until
    H + lambda I is positive definite, no crash."""
    problem = _quadratic20()
    res = optkit.minimize(problem, method="gns-newton",
                          options={"hess_approx": lambda x: -5.0 * np.eye(20), "gamma0": 1e3,
                                   "maxiter": 5})
    assert res.nit == 5 and np.isfinite(res.fun)
    assert res.history["rejected"][1] > 0
    assert np.all(res.history["lam"][1:] > 5.0)  # only PD shifts were taken


def test_zero_gradient_stops_before_lambda():
    """Spec oracle 9: a stationary start ends at once, with success and no division."""
    problem = _quadratic20()
    x_star = np.linalg.solve(problem.Q, -problem.c)
    with np.errstate(all="raise"):
        res = optkit.minimize(problem, x_star, method="gns-newton", options={"gtol": 1e-6})
    assert res.success and res.nit == 0


def test_metric_changes_the_norms():
    """With B = Q the normalized gradient step is a damped Newton step on a quadratic."""
    problem = _quadratic20()
    res = optkit.minimize(problem, method="gns-gradient",
                          options={"metric": problem.Q, "gtol": 1e-9, "maxiter": 200})
    plain = optkit.minimize(problem, method="gns-gradient", options={"gtol": 1e-9,
                                                                    "maxiter": 200})
    assert res.success and res.nit < plain.nit


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_matrix_free_path_matches_cholesky(solver):
    import problems

    problem = problems.get("logistic-breast-cancer")
    res = optkit.minimize(problem, method="gns-newton",
                          options={"linear_solver": solver, "gtol": 1e-10})
    assert res.success and res.fun - problem.f_opt < 1e-12
    if solver == "cg":  # Hessian-vector products, one per CG iteration, counted as nhev
        cg_iterations = res.history["linsolve_iters"][1:].sum()
        assert cg_iterations > res.nit and res.nhev >= cg_iterations


def test_low_rank_approximation_uses_woodbury():
    import problems

    problem = problems.get("power-equations", m=40, n=80)
    res = optkit.minimize(problem, method="gns-newton",
                          options={"hess_approx": "fisher-term", "maxiter": 300})
    assert res.fun < 1e-8 * problem.value(problem.x0)


@pytest.mark.parametrize("options", [{"hess_approx": "diagonal"}, {"hess_every": 5}])
def test_optkit_extensions_converge(options):
    import problems

    problem = problems.get("logistic-breast-cancer")
    res = optkit.minimize(problem, method="gns-newton",
                          options={"gtol": 1e-8, "maxiter": 2000, **options})
    assert res.success and res.fun - problem.f_opt < 1e-10


@pytest.mark.parametrize("method", ["super-newton", "cubic-newton"])
def test_second_order_companions_on_rosenbrock(method):
    res = optkit.minimize(rosen, np.array([-2.0, 2.0]), method=method, jac=rosen_der,
                          hess=rosen_hess, options={"maxiter": 200})
    assert res.success and res.fun < 1e-12


def test_cubic_step_solves_its_subproblem():
    """The cubic step is the global minimizer of the model: compare with a dense search."""
    H = np.diag([-1.0, 2.0])
    g = np.array([0.5, 1.0])

    def model(h, M=3.0):
        return g @ h + 0.5 * h @ H @ h + M / 6.0 * np.linalg.norm(h) ** 3

    def grad(x, M=2.0):
        return g + H @ x + M / 2.0 * np.linalg.norm(x) * x

    # f is the cubic model with M = 2 < H0 = 3: the first trial is accepted
    problem = optkit.Problem(fun=lambda x: model(x, 2.0), grad=grad, hess=lambda x: H,
                             x0=np.zeros(2))
    res = optkit.minimize(problem, method="cubic-newton",
                          options={"maxiter": 1, "H0": 3.0, "gtol": 0.0})
    assert res.history["rejected"][1] == 0
    h = res.x

    grid = np.linspace(-3, 3, 601)
    best = min(model(np.array([a, b])) for a in grid for b in grid)
    assert model(h) <= best + 1e-6


def test_gradient_methods_with_lipschitz_search():
    """Both converge; acceleration shows in the first hundred iterations (the fast method is
    not monotone and, without restarts, sublinear at high accuracy)."""
    import problems

    problem = problems.get("quadratic")  # cond 1e3
    runs = {m: optkit.minimize(problem, method=m, options={"maxiter": 100, "gtol": 0.0})
            for m in ("gm-backtracking", "fast-gradient")}
    gap = {m: r.fun - problem.f_opt for m, r in runs.items()}
    assert gap["fast-gradient"] < 0.05 * gap["gm-backtracking"]
    L = runs["gm-backtracking"].history["constant"]
    assert L.max() <= 4 * 1e3  # the search never overshoots twice L = 1e3 (and then halves)
    res = optkit.minimize(_quadratic20(), method="gm-backtracking", options={"gtol": 1e-8})
    assert res.success
    assert optkit.registry.get("fgm") is optkit.registry.get("fast-gradient")


def test_bad_inputs():
    problem = _quadratic20()
    with pytest.raises(ValueError, match="metric B must be positive definite"):
        optkit.minimize(problem, method="gns-newton", options={"metric": -np.eye(20)})
    with pytest.raises(TypeError, match="unknown hess_approx 'fisher'"):
        optkit.minimize(problem, method="gns-newton", options={"hess_approx": "fisher"})
    with pytest.raises(TypeError, match=r"metric='problem' needs problem.info\['metric'\]"):
        optkit.minimize(problem, method="gns-newton", options={"metric": "problem"})
    with pytest.raises(ValueError, match="option 'linear_solver' must be"):
        optkit.minimize(problem, method="gns-newton", options={"linear_solver": "lu"})
    with pytest.raises(ValueError, match=r"U must be \(n, r\)"):
        LowRank(np.ones((3, 2)), np.ones(3))


def test_metric_norms():
    B = np.array([[2.0, 0.5], [0.5, 1.0]])
    metric = Metric(B)
    h = np.array([1.0, -2.0])
    assert metric.norm(h) == pytest.approx(np.sqrt(h @ B @ h))
    assert metric.dual_norm(h) == pytest.approx(np.sqrt(h @ scipy.linalg.solve(B, h)))


@pytest.mark.parametrize("method, options", [
    ("gns-newton", {}), ("gns-gradient", {"metric": "Q"}),
    ("gm-backtracking", {"metric": "Q"}), ("super-newton", {}), ("cubic-newton", {})])
def test_gtol_below_the_precision_of_f_ends_with_success(method, options):
    """With gtol = 0 the gradient test cannot pass; once f no longer decreases beyond its
    rounding error with the gradient at that level, the run ends with success and says why,
    instead of searching until maxiter or reporting precision loss (issue 12)."""
    problem = _quadratic20()
    if options.get("metric") == "Q":
        options = {"metric": problem.Q}
    res = optkit.minimize(problem, method=method,
                          options={**options, "gtol": 0.0, "maxiter": 500})
    assert res.status == 0 and res.nit < 500, res.message
    assert "rounding" in res.message
    assert res.fun - problem.f_opt <= 1e-13 * abs(problem.f_opt)


def test_gtol_below_the_precision_of_f_on_log_sum_exp():
    """The gradient test at 1e-13 passes or the run ends at the precision floor: success
    either way, within a few more iterations than gtol = 1e-10 needs."""
    import problems

    problem = problems.get("log-sum-exp", n=100, m=100)
    res = optkit.minimize(problem, method="gns-newton", options={"gtol": 1e-13})
    assert res.success and res.nit < 20, res.message
    assert res.fun - problem.f_opt < 1e-14


@pytest.mark.parametrize("method", ["gns-newton", "super-newton"])
def test_without_hessians_finite_differences_of_the_gradient(method):
    """Neither hess nor hessp: Hessian-vector products by forward differences of the gradient
    (as SciPy's Newton-CG), counted as gradient evaluations; the iterates follow the exact
    Hessian's closely and the run converges."""
    problem = _quadratic20()
    exact = optkit.minimize(problem, method=method, options={"gtol": 1e-8})
    fd_problem = optkit.Problem(fun=problem.value, grad=problem.gradient, x0=problem.x0)
    res = optkit.minimize(fd_problem, method=method, options={"gtol": 1e-8})
    assert res.success and res.nhev == 0 and res.njev > 2 * res.nit
    assert res.fun - problem.f_opt < 1e-12
    assert abs(res.nit - exact.nit) <= 2
    np.testing.assert_allclose(res.history["fun"][:4], exact.history["fun"][:4], rtol=1e-6)


@pytest.mark.parametrize("method, options, match", [
    ("cubic-newton", {}, "cubic-newton needs the Hessian as a matrix"),
    ("gns-newton", {"hess_approx": "diagonal"}, "hess_approx='diagonal' needs the Hessian"),
    ("gns-newton", {"hess_approx": "fisher"}, "unknown hess_approx 'fisher'")])
def test_hessian_that_cannot_be_had_raises_before_any_work(method, options, match):
    calls = []

    def fun(x):
        calls.append(x)
        return float(x @ x)

    with pytest.raises(TypeError, match=match):
        optkit.minimize(fun, np.ones(3), jac=lambda x: 2 * x, method=method, options=options)
    assert calls == []
