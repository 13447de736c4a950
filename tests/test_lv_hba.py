"""LV-HBA (spec ``papers/lv-hba.md``): the test oracles of section 5 on toy A (known solution),
the saddle sub-step against an independent solve, the reduction without constraints, toy B's
feasibility and lower-level tracking, the affine constraints' projections against cvxpy, and
the errors before iterating."""

from __future__ import annotations

import dataclasses

import cvxpy as cp
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp

import optkit
from optkit.bilevel import affine_constraints, affine_projection, check_derivatives
from optkit.solvers.lv_hba import LVHBAOptions, saddle_step
from problems.constrained_bilevel import coupled_affine_toy, coupled_equality_toy

#: Toy A's start of the spec (section 4.1): θ = 1, λ = 1, z = 10 clipped to 1.
TOY_A_START = {"theta0": 1.0, "z0": 10.0}


def rel_error(x, x_star):
    return float(np.linalg.norm(x - x_star) / np.linalg.norm(x_star))


@pytest.fixture(scope="module")
def toy_a_run():
    problem = coupled_equality_toy(n=10)
    res = optkit.minimize(problem, method="lv-hba", options={"maxiter": 20_000, **TOY_A_START})
    return problem, res


def test_toy_a_converges_to_the_known_solution(toy_a_run):
    # spec oracle 1 (measured 0.28 after 2000 iterations, 0.048 after 10 000; with n = 10 as
    # with n = 100, the problem being symmetric). The error dips to 0.09 near iteration 300
    # while the penalty is small, rises to 0.36 at 1000, and falls monotonically after.
    problem, res = toy_a_run
    err = np.asarray(res.history["x_rel_error"])
    assert err[2000] < 0.35
    assert err[10_000] < 0.1
    assert np.all(np.diff(err[1000:]) <= 1e-9)
    assert err[-1] < 0.5 * err[10_000]
    n = problem.n
    short = optkit.minimize(problem, method="lv-hba", options={"maxiter": 10_000, **TOY_A_START})
    assert abs(short.y[:n].mean() - 0.7) < 0.02
    assert abs(short.y[n:].mean() + 0.4) < 0.05
    assert short.status == 1 and rel_error(short.x, problem.info["x_star"]) == pytest.approx(
        err[10_000], rel=1e-12)


def test_one_iteration_is_the_spec_pseudocode_by_hand():
    # spec section 2, step by step on toy A (n = 2) from its projected start: (θ, λ) at the
    # old values, then (x, y) with the NEW (θ, λ), then z with the new λ; c_0 = c0 · 1^p
    problem = coupled_equality_toy(n=2)
    o = LVHBAOptions(alpha=0.1, beta=0.2, eta=0.3, gamma1=2.0, gamma2=4.0, r=1.5, c0=3.0)
    res = optkit.minimize(problem, method="lv-hba",
                          options={**dataclasses.asdict(o), "maxiter": 1, "theta0": 0.5,
                                   "lam0": [0.2, 0.9], "z0": [1.0, 0.4]})
    x, y = problem.proj_xy(problem.x0, problem.y0)
    theta, lam, z = np.full(4, 0.5), np.array([0.2, 0.9]), np.array([1.0, 0.4])
    s = lambda x, t: x.sum() + t.sum()  # noqa: E731
    g = s(x, theta) * np.array([1.0, -1.0])
    d_theta = np.concatenate([theta[:2] - x, np.ones(2)]) + (lam[0] - lam[1]) \
        + (theta - y) / o.gamma1
    d_lam = -g + (lam - z) / o.gamma2
    theta1, lam1 = theta - o.eta * d_theta, np.clip(lam - o.eta * d_lam, 0, o.r)
    d_x = (x - y[2:]) / o.c0 + (-y[:2]) - (-theta1[:2]) - (lam1[0] - lam1[1])
    d_y = np.concatenate([y[:2] - 1, y[2:] - x]) / o.c0 + np.concatenate([y[:2] - x, np.ones(2)]) \
        - (y - theta1) / o.gamma1
    x1, y1 = problem.proj_xy(x - o.alpha * d_x, y - o.alpha * d_y)
    z1 = np.clip(z + o.beta * (lam1 - z) / o.gamma2, 0, o.r)
    for got, want in ((res.theta, theta1), (res.lam, lam1), (res.x, x1), (res.y, y1),
                      (res.z, z1)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # alpha_x: x's own step (y's unchanged)
    res = optkit.minimize(problem, method="lv-hba",
                          options={**dataclasses.asdict(o), "maxiter": 1, "theta0": 0.5,
                                   "lam0": [0.2, 0.9], "z0": [1.0, 0.4], "alpha_x": 0.7})
    x1, y1 = problem.proj_xy(x - 0.7 * d_x, y - o.alpha * d_y)
    np.testing.assert_allclose(res.x, x1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.y, y1, rtol=1e-12, atol=1e-12)


def test_toy_a_ends_feasible_with_multipliers_in_the_box(toy_a_run):
    # spec oracle 2: the projection is exact, and λ, z stay in [0, r]
    problem, res = toy_a_run
    assert abs(res.x.sum() + res.y.sum()) < 1e-8
    assert res.constraint_violation < 1e-8
    r = LVHBAOptions().r
    for v in (res.lam, res.z):
        assert v.shape == (2,) and np.all(v >= 0) and np.all(v <= r)


def test_toy_a_lower_gap_against_cvxpy(toy_a_run):
    # spec oracle 3: f(x, y) - φ(x) in [0, 0.05] after 20 000 iterations (measured 0.006 at
    # n = 100), with φ(x) solved by cvxpy and matching its closed form
    problem, res = toy_a_run
    n, x = problem.n, res.x
    y = cp.Variable(2 * n)
    lower = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(y[:n]) - x @ y[:n] + cp.sum(y[n:])),
                       [cp.sum(x) + cp.sum(y) == 0])
    lower.solve(solver="CLARABEL")
    phi = lower.value
    assert phi == pytest.approx(problem.info["lower_value"](x), abs=1e-7)
    gap = problem.lower_fun(x, res.y) - phi
    assert -1e-8 <= gap <= 0.05
    assert abs(res.lower_residual) < 0.05  # the run's own estimate of the same gap


def test_saddle_sub_step_converges_to_the_saddle_point():
    # spec oracle 4: at fixed (x, y, z), the (θ, λ) steps alone reach the saddle point of
    # L = f(x, θ) + λᵀg(x, θ) + ‖θ - y‖²/(2γ1) - ‖λ - z‖²/(2γ2), λ ∈ [0, r]. Independent
    # solve: the inner max is λ_i = clip(z_i + γ2 g_i, 0, r) in closed form, so θ* minimizes
    # a smooth convex function of θ alone (L-BFGS).
    problem = coupled_equality_toy(n=3)
    rng = np.random.default_rng(0)
    x, y = problem.proj_xy(rng.standard_normal(3), rng.standard_normal(6))  # feasible
    z = np.array([0.3, 0.8])
    opts = LVHBAOptions(eta=0.05, gamma1=2.0, gamma2=2.0, r=1.0)

    def best_lam(theta):
        return np.clip(z + opts.gamma2 * problem.constraints(x, theta), 0.0, opts.r)

    def saddle_value(theta):
        lam = best_lam(theta)
        return (problem.lower_fun(x, theta) + lam @ problem.constraints(x, theta)
                + (theta - y) @ (theta - y) / (2 * opts.gamma1)
                - (lam - z) @ (lam - z) / (2 * opts.gamma2))

    theta_star = scipy.optimize.minimize(saddle_value, y, method="BFGS",
                                         options={"gtol": 1e-10}).x
    theta, lam = np.ones(6), np.ones(2)
    for _ in range(5000):
        theta, lam = saddle_step(problem, x, y, theta, lam, z, opts)
    np.testing.assert_allclose(theta, theta_star, atol=1e-6)
    np.testing.assert_allclose(lam, best_lam(theta_star), atol=1e-6)
    # the proximal Lagrangian value lies below f at the feasible (x, y)
    assert saddle_value(theta) <= problem.lower_fun(x, y) + 1e-12


def _unconstrained(**fields):
    """Spec oracle 5's problem: F = ½(x - 1)² + ½(y - 2)², f = ½(y - x)², solution 1.5."""
    return optkit.BilevelProblem(
        upper_fun=lambda x, y: 0.5 * float((x - 1) @ (x - 1) + (y - 2) @ (y - 2)),
        upper_grad=lambda x, y: (x - 1.0, y - 2.0),
        lower_fun=lambda x, y: 0.5 * float((y - x) @ (y - x)),
        lower_grad_y=lambda x, y: y - x, lower_grad_x=lambda x, y: x - y,
        x0=[0.0], y0=[0.0], name="moreau", **fields)


def test_without_constraints_it_solves_the_unconstrained_bilevel_problem():
    # spec oracle 5: slow (penalty bias ~ 1/c_k): measured x = 1.41, y = 1.44 after 20 000
    res = optkit.minimize(_unconstrained(), method="lv-hba", options={"maxiter": 20_000})
    assert abs(res.x[0] - 1.5) < 0.15 and abs(res.y[0] - 1.5) < 0.15
    early = optkit.minimize(_unconstrained(), method="lv-hba", options={"maxiter": 5000})
    assert abs(res.x[0] - 1.5) < abs(early.x[0] - 1.5)
    assert res.lam.shape == (0,) and res.constraint_violation == 0.0


def test_a_constant_penalty_stops_at_its_fixed_point():
    # with p = 0 the penalized problem is fixed, the iteration a contraction: the stopping
    # rule fires (status 0), at a point where every step's direction vanishes
    opts = {"maxiter": 200_000, "p": 0.0, "c0": 2.0, "alpha": 0.05, "eta": 0.1, "tol": 1e-8}
    res = optkit.minimize(_unconstrained(), method="lv-hba", options=opts)
    assert res.status == 0, res.message
    x, y, theta = res.x[0], res.y[0], res.theta[0]
    g1 = 10.0
    assert abs((theta - x) + (theta - y) / g1) < 1e-6  # d_θ = 0
    assert abs((x - 1) / 2.0 + (x - y) - (x - theta)) < 1e-6  # d_x = 0
    assert abs((y - 2) / 2.0 + (y - x) - (y - theta) / g1) < 1e-6  # d_y = 0


def test_toy_b_stays_feasible_and_tracks_the_lower_solution():
    problem = coupled_affine_toy()
    A, H, B = (problem.info[k] for k in "AHB")
    res = optkit.minimize(problem, method="lv-hba",
                          options={"maxiter": 3000, "alpha": 0.02, "eta": 0.1})
    assert np.abs(A @ res.y + H @ res.x).max() < 1e-9
    assert np.abs(B @ res.x).max() < 1e-9
    gaps = [np.linalg.norm(y - problem.info["y_star"](x)) for x, y in
            ((problem.x0, problem.y0), (res.x, res.y))]
    assert gaps[1] < 0.05
    assert res.fun < problem.upper_fun(problem.x0, problem.y0) - 0.1
    # y*(x) solves the lower level: feasible, and y* - x is orthogonal to A's null space
    x = np.random.default_rng(1).standard_normal(problem.n)
    ys = problem.info["y_star"](x)
    assert np.abs(A @ ys + H @ x).max() < 1e-10
    null = scipy.linalg.null_space(A)
    assert np.abs(null.T @ (ys - x)).max() < 1e-10


@pytest.mark.parametrize("build", [lambda: coupled_equality_toy(n=4), coupled_affine_toy])
def test_toy_derivatives_match_finite_differences(build):
    # spec oracle 6
    problem = build()
    rng = np.random.default_rng(0)
    check_derivatives(problem, rng.standard_normal(problem.n), rng.standard_normal(problem.m),
                      rng=0)


def test_the_callback_sees_the_lower_iterate():
    seen = []
    res = optkit.minimize(coupled_affine_toy(), method="lv-hba", options={"maxiter": 5},
                          callback=lambda intermediate_result: seen.append(intermediate_result))
    assert [r.nit for r in seen] == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(seen[-1].y, res.y)
    np.testing.assert_array_equal(seen[-1].x, res.x)
    assert seen[0].y is not seen[1].y


def test_runs_repeat_exactly():
    # spec oracle 7: deterministic
    problem = coupled_affine_toy()
    runs = [optkit.minimize(problem, method="lv-hba", options={"maxiter": 50}) for _ in "ab"]
    for key in ("upper_loss", "lower_residual", "xy_residual"):
        np.testing.assert_array_equal(runs[0].history[key], runs[1].history[key])
    np.testing.assert_array_equal(runs[0].x, runs[1].x)


def test_large_steps_end_with_status_3_at_a_finite_iterate():
    res = optkit.minimize(coupled_equality_toy(n=10), method="lv-hba",
                          options={"maxiter": 500, "alpha": 5.0, "eta": 5.0})
    assert res.status == 3 and not res.success
    assert np.all(np.isfinite(res.x)) and np.all(np.isfinite(res.y))
    assert "diverged" in res.message


# -- affine constraints and their projections ----------------------------------------------


def _cvxpy_projection(G, h, w, equality=False):
    v = cp.Variable(w.shape[0])
    cons = [G @ v == h] if equality else [G @ v <= h]
    cp.Problem(cp.Minimize(cp.sum_squares(v - w)), cons).solve(  # tight: errors near 1e-10
        solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return v.value


@pytest.mark.parametrize("solver", ["OSQP", "CLARABEL"])
def test_inequality_projection_matches_cvxpy(solver):
    rng = np.random.default_rng(0)
    G, h = rng.standard_normal((12, 8)), rng.random(12)
    project = affine_projection(G, h, solver=solver)
    for _ in range(3):
        w = 3 * rng.standard_normal(8)
        p = project(w)
        assert np.max(G @ p - h) < 1e-9
        np.testing.assert_allclose(p, _cvxpy_projection(G, h, w), atol=1e-7)
    inside = np.linalg.lstsq(G, h - 1.0, rcond=None)[0]
    if np.all(G @ inside <= h):
        np.testing.assert_array_equal(project(inside), inside)


def _svm_like(rng, n=40, d=5):
    """The constraints of a linear SVM, 1 - ξ - l (Z w + b) <= 0 over (w, b, ξ): n rows,
    independent (the -I block), sparse."""
    Z, labels = rng.standard_normal((n, d)), np.sign(rng.standard_normal(n))
    G = sp.hstack([sp.csr_array(-labels[:, None] * Z), sp.csr_array(-labels[:, None]),
                   -sp.eye_array(n)], format="csr")
    return G, -np.ones(n)


@pytest.mark.parametrize("case", ["dense", "svm"])
def test_the_active_set_projection_is_exact_and_warm_started(case):
    rng = np.random.default_rng(4)
    G, h = (rng.standard_normal((6, 8)), rng.random(6)) if case == "dense" else _svm_like(rng)
    project = affine_projection(G, h, solver="active-set")
    assert type(affine_projection(G, h)) is type(project)  # what "auto" picks here
    w = 3 * rng.standard_normal(G.shape[1])
    for k in range(6):  # a sequence of nearby points, as LV-HBA's iterates
        p = project(w)
        assert np.max(G @ p - h) < 1e-10
        np.testing.assert_allclose(p, _cvxpy_projection(G, h, w), atol=1e-7)
        assert project.steps > 1 if k == 0 else project.steps >= 1
        np.testing.assert_array_equal(project(w), p)
        assert project.steps == 1  # warm-started at its own active set: one solve
        w = w + 0.1 * rng.standard_normal(w.shape[0])


def test_the_active_set_projection_needs_independent_rows_and_falls_back(monkeypatch):
    from optkit.bilevel import coupled

    rng = np.random.default_rng(5)
    G, h = rng.standard_normal((12, 8)), rng.random(12)  # 12 rows in 8 dimensions
    with pytest.raises(ValueError, match="linearly independent.*OSQP"):
        affine_projection(G, h, solver="active-set")
    assert isinstance(affine_projection(G, h), coupled._QPProjection)  # "auto": OSQP
    G, h = _svm_like(rng)
    project = affine_projection(G, h)
    monkeypatch.setattr(coupled._ActiveSetProjection, "MAX_STEPS", 0)  # as if it cycled
    w = 3 * rng.standard_normal(G.shape[1])
    np.testing.assert_allclose(project(w), _cvxpy_projection(G, h, w), atol=1e-7)
    assert isinstance(project.fallback, coupled._QPProjection)


def test_an_unpolished_osqp_solve_falls_back_to_clarabel(monkeypatch):
    # OSQP stops at 1e-6 and relies on its polish for accuracy: without it, CLARABEL
    from optkit.bilevel import coupled

    rng = np.random.default_rng(3)
    G, h = rng.standard_normal((12, 8)), rng.random(12)
    project = affine_projection(G, h)
    w = 3 * rng.standard_normal(8)
    solvers = []
    solve = coupled._QPProjection._solve
    monkeypatch.setattr(coupled._QPProjection, "_polished", lambda self: False)
    monkeypatch.setattr(coupled._QPProjection, "_solve",
                        lambda self, solver, settings: solvers.append(solver)
                        or solve(self, solver, settings))
    np.testing.assert_allclose(project(w), _cvxpy_projection(G, h, w), atol=1e-7)
    assert solvers == ["OSQP", "CLARABEL"]


def test_closed_forms_match_cvxpy():
    rng = np.random.default_rng(1)
    a, w = rng.standard_normal((1, 5)), rng.standard_normal(5)
    half = affine_projection(a, [-1.0])
    np.testing.assert_allclose(half(w), _cvxpy_projection(a, np.array([-1.0]), w), atol=1e-7)
    assert half(-np.sign(a[0]) * 10).tolist() == (-np.sign(a[0]) * 10).tolist()
    G, h = rng.standard_normal((3, 5)), rng.standard_normal(3)
    sub = affine_projection(G, h, equality=True)
    np.testing.assert_allclose(sub(w), _cvxpy_projection(G, h, w, equality=True), atol=1e-7)
    # a redundant row is fine
    redundant = affine_projection(np.vstack([G, 2 * G[:1]]), np.append(h, 2 * h[0]),
                                  equality=True)
    np.testing.assert_allclose(redundant(w), sub(w), atol=1e-10)


def test_affine_constraint_fields():
    rng = np.random.default_rng(2)
    Gx, Gy, h = rng.standard_normal((3, 2)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    x, y, lam = rng.standard_normal(2), rng.standard_normal(4), rng.random(6)
    ineq = affine_constraints(Gx, Gy, h)
    np.testing.assert_allclose(ineq["constraints"](x, y), Gx @ x + Gy @ y - h)
    np.testing.assert_allclose(ineq["constraints_jvp_x"](x, y, lam[:3]), Gx.T @ lam[:3])
    np.testing.assert_allclose(ineq["constraints_jvp_y"](x, y, lam[:3]), Gy.T @ lam[:3])
    px, py = ineq["proj_xy"](x + 5, y + 5)
    assert np.max(Gx @ px + Gy @ py - h) < 1e-8
    eq = affine_constraints(Gx, Gy, h, equality=True)
    s = Gx @ x + Gy @ y - h
    np.testing.assert_allclose(eq["constraints"](x, y), np.concatenate([s, -s]))
    np.testing.assert_allclose(eq["constraints_jvp_y"](x, y, lam), Gy.T @ (lam[:3] - lam[3:]))
    px, py = eq["proj_xy"](x, y)
    np.testing.assert_allclose(Gx @ px + Gy @ py, h, atol=1e-10)
    # sparse matrices give the same fields
    sparse = affine_constraints(sp.csr_array(Gx), sp.csr_array(Gy), h)
    for a, b in zip(sparse["proj_xy"](x + 5, y + 5), ineq["proj_xy"](x + 5, y + 5), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_bad_affine_data_is_named():
    with pytest.raises(ValueError, match="G_y must have 2 rows"):
        affine_constraints(np.ones((2, 3)), np.ones((3, 3)), [0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        affine_constraints(np.ones((1, 3)), np.full((1, 3), np.nan), [0.0])
    with pytest.raises(ValueError, match="no solution"):
        affine_projection(np.ones((2, 3)), [0.0, 1.0], equality=True)
    with pytest.raises(ValueError, match="solver"):
        affine_projection(np.ones((2, 3)), [0.0, 1.0], solver="ECOS")


# -- errors before iterating ---------------------------------------------------------------


def test_constraints_without_a_projection_or_jacobian_product_are_refused():
    problem = coupled_equality_toy(n=3)
    with pytest.raises(TypeError, match="proj_xy"):
        optkit.minimize(dataclasses.replace(problem, proj_xy=None), method="lv-hba")
    with pytest.raises(TypeError, match="constraints_jvp_x"):
        optkit.minimize(dataclasses.replace(problem, constraints_jvp_x=None), method="lv-hba")


def test_a_wrong_projection_is_refused():
    problem = coupled_equality_toy(n=3)
    with pytest.raises(ValueError, match="shape"):
        optkit.minimize(dataclasses.replace(problem, proj_xy=lambda x, y: (x, y[:2])),
                        method="lv-hba")
    with pytest.raises(ValueError, match="does not project"):
        optkit.minimize(dataclasses.replace(problem, proj_xy=lambda x, y: (x, y)),
                        method="lv-hba")
    with pytest.raises(ValueError, match="pair"):
        optkit.minimize(dataclasses.replace(problem, proj_xy=lambda x, y: x), method="lv-hba")


def test_an_empty_feasible_set_is_refused_before_iterating():
    # x + y <= -1 and -(x + y) <= -1 (x + y >= 1): no point
    fields = affine_constraints(np.array([[1.0], [-1.0]]), np.array([[1.0], [-1.0]]),
                                [-1.0, -1.0])
    problem = _unconstrained(**fields)
    with pytest.raises(ValueError, match="empty"):
        optkit.minimize(problem, method="lv-hba")


def test_start_vectors_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="theta0"):
        optkit.minimize(coupled_equality_toy(n=3), method="lv-hba",
                        options={"theta0": np.ones(2)})
    with pytest.raises(ValueError, match="lam0"):
        optkit.minimize(coupled_equality_toy(n=3), method="lv-hba", options={"lam0": [1.0]})
