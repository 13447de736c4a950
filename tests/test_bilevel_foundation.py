"""optkit.bilevel: hypergradients, certified lower solves and the bounds of MAID's spec
(sections 2 and 3.6; oracles 1-3 of section 6), on problems with closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import optkit
from optkit.bilevel import (
    LINSOLVES,
    error_bound,
    estimate_lipschitz,
    estimate_strong_convexity,
    hypergradient,
    mixed_norm,
    solve_lower,
    value_bounds,
)


def quadratic_bilevel(n_rows=40, m=6, p=3, seed=0):
    """Spec E1 with Gaussian data: lower ``f = ½‖A2 y + A3 x - b2‖²``, upper
    ``F = ½‖A1 y - b1‖²``; returns the problem and its closed forms."""
    rng = np.random.default_rng(seed)
    A1, A2 = rng.standard_normal((n_rows, m)), rng.standard_normal((n_rows, m))
    A3 = rng.standard_normal((n_rows, p))
    b1, b2 = rng.standard_normal(n_rows), rng.standard_normal(n_rows)
    H = A2.T @ A2
    eig = np.linalg.eigvalsh(H)
    problem = optkit.BilevelProblem(
        upper_fun=lambda x, y: 0.5 * float((A1 @ y - b1) @ (A1 @ y - b1)),
        upper_grad=lambda x, y: (np.zeros_like(x), A1.T @ (A1 @ y - b1)),
        lower_fun=lambda x, y: 0.5 * float(np.sum((A2 @ y + A3 @ x - b2) ** 2)),
        lower_grad_y=lambda x, y: A2.T @ (A2 @ y + A3 @ x - b2),
        lower_grad_x=lambda x, y: A3.T @ (A2 @ y + A3 @ x - b2),
        lower_hvp_yy=lambda x, y, v: H @ v,
        lower_hvp_xy=lambda x, y, v: A3.T @ (A2 @ v),
        x0=np.ones(p), y0=np.zeros(m), lower_strong_convexity=eig[0],
        lower_smoothness=eig[-1], name="e1")

    def y_star(x):
        return np.linalg.solve(H, A2.T @ (b2 - A3 @ x))

    def phi(x):
        return problem.upper_fun(x, y_star(x))

    constants = {"mu": eig[0], "L": eig[-1], "L_g": np.linalg.eigvalsh(A1.T @ A1)[-1],
                 "B_norm": np.linalg.norm(A3.T @ A2, 2)}
    return problem, y_star, phi, constants


def central_difference(phi, x, h=1e-6):
    return np.array([(phi(x + h * e) - phi(x - h * e)) / (2 * h) for e in np.eye(x.size)])


@pytest.mark.parametrize("linsolve", LINSOLVES)
def test_hypergradient_matches_finite_differences(linsolve):
    """Spec oracle 1: with exact solves the IFT hypergradient is ∇Φ."""
    problem, y_star, phi, c = quadratic_bilevel()
    x = np.array([0.3, -1.2, 0.7])
    g, info = hypergradient(problem, x, y_star(x), linsolve=linsolve, rtol=1e-13,
                            maxiter=5000 if linsolve == "neumann" else None)
    fd = central_difference(phi, x)
    assert np.linalg.norm(g - fd) <= 1e-6 * np.linalg.norm(fd)
    assert info.status == 0 and info.residual <= 1e-9 * np.linalg.norm(fd)
    assert info.q.shape == (6,) and info.iterations >= 1


def _ridge(seed=1, n=30, d=8):
    """Validation loss of ridge regression in θ = log λ: ``Φ(θ) = ½‖X_v w(λ) - y_v‖²``,
    ``w(λ) = (XᵀX + λI)⁻¹Xᵀy``, with ``dΦ/dθ = λ r_vᵀ X_v dw/dλ``, ``dw/dλ = -(XᵀX + λI)⁻¹ w``."""
    rng = np.random.default_rng(seed)
    X, Xv = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y, yv = X @ w_true + rng.standard_normal(n), Xv @ w_true + rng.standard_normal(n)
    G = X.T @ X
    problem = optkit.BilevelProblem(
        upper_fun=lambda t, w: 0.5 * float((Xv @ w - yv) @ (Xv @ w - yv)),
        upper_grad=lambda t, w: (np.zeros(1), Xv.T @ (Xv @ w - yv)),
        lower_fun=lambda t, w: (0.5 * float((X @ w - y) @ (X @ w - y))
                                + 0.5 * np.exp(t[0]) * (w @ w)),
        lower_grad_y=lambda t, w: G @ w - X.T @ y + np.exp(t[0]) * w,
        lower_hvp_yy=lambda t, w, v: G @ v + np.exp(t[0]) * v,
        lower_hvp_xy=lambda t, w, v: np.array([np.exp(t[0]) * float(w @ v)]),
        x0=np.zeros(1), y0=np.zeros(d), name="ridge")

    def closed_form(theta):
        lam = np.exp(theta)
        K = G + lam * np.eye(d)
        w = np.linalg.solve(K, X.T @ y)
        dw = -np.linalg.solve(K, w)
        return w, lam * float((Xv @ w - yv) @ (Xv @ dw))

    return problem, closed_form, np.linalg.eigvalsh(G)[-1]


@pytest.mark.parametrize("linsolve", LINSOLVES)
def test_hypergradient_of_ridge_in_log_lambda(linsolve):
    problem, closed_form, L = _ridge()
    for theta in (-2.0, 0.5, 2.0):
        w, derivative = closed_form(theta)
        g, _ = hypergradient(problem, np.array([theta]), w, linsolve=linsolve, rtol=1e-13,
                             maxiter=20000 if linsolve == "neumann" else None,
                             step=1.0 / (L + np.exp(theta)))
        assert g[0] == pytest.approx(derivative, rel=1e-8, abs=1e-12)


def test_error_bound_holds_and_the_lower_solve_is_certified():
    """Spec oracle 2: for random x and (ε, δ) in [1e-6, 1]², ‖z - ∇Φ‖ <= ω(ε, δ), the lower
    solve certifies ‖ỹ - y*‖ <= ε and the CG residual is at most δ."""
    problem, y_star, phi, c = quadratic_bilevel()
    rng = np.random.default_rng(7)
    tight = 0
    for _ in range(40):
        x = rng.standard_normal(3)
        eps, delta = 10.0 ** rng.uniform(-6, 0, size=2)
        lower = solve_lower(problem, x, rng.standard_normal(6), eps=eps,
                            method=rng.choice(["gd", "fista"]))
        assert lower.converged and np.linalg.norm(lower.y - y_star(x)) <= eps
        z, info = hypergradient(problem, x, lower.y, rtol=0.0, atol=delta)
        assert info.status == 0 and info.residual <= delta * (1 + 1e-8)
        gy = problem.upper_grad(x, lower.y)[1]
        omega = error_bound(eps, info.residual, mu=c["mu"], B_norm=c["B_norm"],
                            upper_grad_norm=np.linalg.norm(gy), L_g=c["L_g"])
        error = np.linalg.norm(z - central_difference(phi, x))
        assert error <= omega + 1e-6
        tight += error > 0.01 * omega
    assert tight > 0  # the bound is not vacuous on these instances


def test_error_bound_formula():
    """Each term of spec 2.1 with L_B and L_Ainv non-zero."""
    omega = error_bound(0.1, 0.2, mu=2.0, B_norm=3.0, upper_grad_norm=5.0, L_g=7.0, L_B=11.0,
                        L_Ainv=13.0)
    c = 7.0 * 3.0 / 2.0 + 13.0 * 5.0 * 3.0 + 11.0 * 5.0 / 2.0
    assert omega == pytest.approx(c * 0.1 + 3.0 / 2.0 * 0.2 + 11.0 * 7.0 / 2.0 * 0.01)


def test_value_bounds_sandwich_phi():
    """Spec oracle 3: U⁻(ỹ, ε) <= Φ(x) <= U⁺(ỹ, ε), and the convex form too (F is convex
    in y here)."""
    problem, y_star, phi, c = quadratic_bilevel()
    rng = np.random.default_rng(3)
    for _ in range(50):
        x = rng.standard_normal(3)
        eps = 10.0 ** rng.uniform(-6, 0)
        y = y_star(x) + eps * rng.uniform(0, 1) * _unit(rng.standard_normal(6))
        F, gy = problem.upper_fun(x, y), problem.upper_grad(x, y)[1]
        for convex in (False, True):
            lo, hi = value_bounds(F, np.linalg.norm(gy), eps, c["L_g"], convex=convex)
            assert lo <= phi(x) * (1 + 1e-12) + 1e-12 and phi(x) <= hi * (1 + 1e-12) + 1e-12


def _unit(v):
    return v / np.linalg.norm(v)


def test_fista_beats_gradient_descent_and_warm_starts_cost_one_call():
    problem, y_star, phi, c = quadratic_bilevel(n_rows=12, m=10)  # ill-conditioned lower level
    assert c["L"] / c["mu"] > 100
    x = np.zeros(3)
    gd = solve_lower(problem, x, np.zeros(10), eps=1e-8, method="gd", maxiter=10**6)
    fista = solve_lower(problem, x, np.zeros(10), eps=1e-8, method="fista", maxiter=10**6)
    assert gd.converged and fista.converged
    assert fista.iterations < gd.iterations / 3
    for res in (gd, fista):
        assert np.linalg.norm(res.y - y_star(x)) <= 1e-8
    again = solve_lower(problem, x, gd.y, eps=1e-8, method="gd")
    assert again.iterations == 1 and again.bound <= 1e-8
    capped = solve_lower(problem, x, np.zeros(10), eps=1e-12, method="fista", maxiter=5)
    assert not capped.converged and capped.iterations == 5


def test_cg_warm_start_and_neumann_terms():
    problem, y_star, phi, c = quadratic_bilevel()
    x = np.zeros(3)
    y = y_star(x)
    _, info = hypergradient(problem, x, y, rtol=1e-10)
    _, again = hypergradient(problem, x, y, rtol=1e-10, q0=info.q)
    assert again.iterations == 0 and again.status == 0
    _, short = hypergradient(problem, x, y, linsolve="neumann", maxiter=3)
    assert short.iterations == 3 and short.status == 1
    _, ridge = hypergradient(problem, x, y, linsolve="exact", ridge=1e3)
    np.testing.assert_allclose(ridge.q, np.linalg.solve(
        np.column_stack([problem.lower_hvp_yy(x, y, e) for e in np.eye(6)]) + 1e3 * np.eye(6),
        problem.upper_grad(x, y)[1]))


def test_strong_convexity_estimate():
    problem, _, _, c = quadratic_bilevel()
    assert estimate_strong_convexity(problem, np.zeros(3), np.zeros(6)) == \
        pytest.approx(c["mu"], rel=1e-10)
    rng = np.random.default_rng(5)
    Q = rng.standard_normal((200, 60))
    H = Q.T @ Q + 0.5 * np.eye(60)
    big = optkit.BilevelProblem(
        upper_fun=lambda x, y: 0.0, upper_grad=lambda x, y: (0 * x, 0 * y),
        lower_fun=lambda x, y: 0.5 * y @ H @ y, lower_grad_y=lambda x, y: H @ y,
        lower_hvp_yy=lambda x, y, v: H @ v, x0=np.zeros(1), y0=np.zeros(60))
    mu = estimate_strong_convexity(big, np.zeros(1), np.zeros(60))
    true = np.linalg.eigvalsh(H)[0]
    assert true <= mu * (1 + 1e-9) and mu <= 1.01 * true


@pytest.mark.parametrize("p", [3, 30])  # n <= iters: exact columns; n > iters: power iteration
def test_mixed_norm(p):
    problem, _, _, c = quadratic_bilevel(n_rows=60, m=6, p=p)
    x, y = np.ones(p), np.zeros(6)
    norm = mixed_norm(problem, x, y, iters=10)
    if p <= 10:
        assert norm == pytest.approx(c["B_norm"], rel=1e-8)
    else:  # from below, close after 10 iterations
        assert 0.95 * c["B_norm"] <= norm <= c["B_norm"] * (1 + 1e-8)
    with pytest.raises(ValueError, match="at least 5"):
        mixed_norm(problem, x, y, iters=4)


def test_lipschitz_estimates_are_zero_for_a_quadratic_and_bound_the_change_of_the_solve():
    problem, *_ = quadratic_bilevel()
    rng = np.random.default_rng(0)
    x, y, q = rng.standard_normal(3), rng.standard_normal(6), rng.standard_normal(6)
    assert estimate_lipschitz(problem, x, y, q, radius=1e-3, mu=1.0, rng=rng) == (0.0, 0.0)
    # TV denoising: A and B change with y. The estimates are the finite-difference ratios
    # of their definitions along the probe drawn from the same generator.
    from problems.bilevel import tv_denoising_1d

    tv = tv_denoising_1d(n_signals=2, length=10)
    x, y = np.array([0.5, -1.5]), tv.y0
    b = tv.upper_grad(x, y)[1]
    A = np.column_stack([tv.lower_hvp_yy(x, y, e) for e in np.eye(tv.m)])
    q = np.linalg.solve(A, b)
    radius = 1e-4
    L_B, L_Ainv = estimate_lipschitz(tv, x, y, q, radius=radius, mu=1.0,
                                     rng=np.random.default_rng(3))
    u = np.random.default_rng(3).standard_normal(tv.m)
    y2 = y + radius * u / np.linalg.norm(u)
    dB = tv.lower_hvp_xy(x, y2, q) - tv.lower_hvp_xy(x, y, q)
    assert L_B == pytest.approx(np.linalg.norm(dB) / (radius * np.linalg.norm(q)), rel=1e-12)
    assert L_B > 0
    A2 = np.column_stack([tv.lower_hvp_yy(x, y2, e) for e in np.eye(tv.m)])
    change = np.linalg.norm(np.linalg.solve(A2, b) - q) / (radius * np.linalg.norm(b))
    # the identity A'⁻¹b - A⁻¹b = A'⁻¹(A - A')q with ‖A'⁻¹‖ <= 1/μ = 1: an upper estimate,
    # tight within the conditioning of A'
    assert change <= L_Ainv * (1 + 1e-9) and L_Ainv <= np.linalg.cond(A2) * change
    with pytest.raises(ValueError, match="radius"):
        estimate_lipschitz(tv, x, y, q, radius=0.0, mu=1.0, rng=np.random.default_rng(0))


def test_bad_input():
    problem, y_star, *_ = quadratic_bilevel()
    x, y = np.zeros(3), np.zeros(6)
    with pytest.raises(ValueError, match="linsolve must be one of"):
        hypergradient(problem, x, y, linsolve="lu")
    with pytest.raises(ValueError, match=r"q0 has shape \(2,\)"):
        hypergradient(problem, x, y, q0=np.zeros(2))
    with pytest.raises(ValueError, match="rtol"):
        hypergradient(problem, x, y, rtol=-1.0)
    bare = optkit.BilevelProblem(upper_fun=problem.upper_fun, upper_grad=problem.upper_grad,
                                 lower_fun=problem.lower_fun, lower_grad_y=problem.lower_grad_y,
                                 x0=x, y0=y)
    with pytest.raises(TypeError, match="lower_hvp_yy"):
        hypergradient(bare, x, y)
    with pytest.raises(ValueError, match="needs step"):
        hypergradient(optkit.BilevelProblem(
            upper_fun=problem.upper_fun, upper_grad=problem.upper_grad,
            lower_fun=problem.lower_fun, lower_grad_y=problem.lower_grad_y,
            lower_hvp_yy=problem.lower_hvp_yy, lower_hvp_xy=problem.lower_hvp_xy, x0=x, y0=y),
            x, y, linsolve="neumann")
    with pytest.raises(ValueError, match="mu is needed"):
        solve_lower(bare, x, y, eps=1e-3)
    with pytest.raises(ValueError, match="exceeds L"):
        solve_lower(problem, x, y, eps=1e-3, mu=10.0, L=1.0)
    with pytest.raises(ValueError, match="eps must be"):
        solve_lower(problem, x, y, eps=0.0)
    with pytest.raises(ValueError, match="method must be one of"):
        solve_lower(problem, x, y, eps=1e-3, method="newton")
    bad = optkit.BilevelProblem(
        upper_fun=problem.upper_fun, upper_grad=lambda x, y: (np.zeros(2), y),
        lower_fun=problem.lower_fun, lower_grad_y=problem.lower_grad_y,
        lower_hvp_yy=problem.lower_hvp_yy, lower_hvp_xy=problem.lower_hvp_xy, x0=x, y0=y)
    with pytest.raises(ValueError, match="upper_grad returned shapes"):
        hypergradient(bad, x, y)
