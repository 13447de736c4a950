"""The problems of the gradient-normalized smoothness paper: log-sum-exp (``problems.smooth``),
power-of-norm equations (``problems.equations``) and the Fisher approximations of the ML
problems (``problems.ml``)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from finite_differences import central_grad, central_jac, rel_err

import problems
from optkit.linalg import LowRank
from optkit.problem import Problem
from problems import equations, ml, smooth


def is_psd(H: np.ndarray, tol: float = 1e-10) -> bool:
    return bool(np.linalg.eigvalsh(H).min() >= -tol * max(1.0, np.abs(H).max()))


# Small instances (fast finite differences); the defaults are checked by the catalog tests.
SMALL = {
    "log-sum-exp": lambda: smooth.log_sum_exp(n=30, m=30),
    "log-sum-exp-wide": lambda: smooth.log_sum_exp(n=30, m=20, mu=0.5),
    "power-equations": lambda: equations.power_linear_equations(m=15, n=30),
    "power-equations-p3": lambda: equations.power_linear_equations(p=3, m=15, n=30),
    "power-equations-p2": lambda: equations.power_linear_equations(p=2, m=15, n=30),
    "rosenbrock-equations": lambda: equations.rosenbrock_equations(),
    "rosenbrock-equations-p2": lambda: equations.rosenbrock_equations(p=2),
    "chebyshev-chain": lambda: equations.chebyshev_chain(n=30),
    "chebyshev-chain-p5": lambda: equations.chebyshev_chain(n=30, p=5),
}


@pytest.fixture(scope="module")
def small() -> dict[str, Problem]:
    return {name: build() for name, build in SMALL.items()}


def points(problem: Problem) -> list[np.ndarray]:
    """``x0`` and a seeded random point near it."""
    rng = np.random.default_rng(1)
    return [problem.x0, problem.x0 + 0.3 * rng.standard_normal(problem.x0.shape)]


def dense(H) -> np.ndarray:
    return H.toarray() if isinstance(H, LowRank) else np.asarray(H)


# -- oracles against finite differences ------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_gradient_matches_finite_differences(small, name):
    p = small[name]
    for x in points(p):
        f, g = p.value_and_grad(x)
        assert f == pytest.approx(p.value(x), rel=1e-13)
        if p.grad is not None:
            np.testing.assert_allclose(p.grad(x), g, rtol=1e-14, atol=0)
        assert rel_err(g, central_grad(p.value, x)) < 1e-7, name


@pytest.mark.parametrize("name", SMALL)
def test_hessian_matches_finite_differences(small, name):
    p = small[name]
    rng = np.random.default_rng(2)
    for x in points(p):
        H = p.hessian(x)
        assert isinstance(H, np.ndarray) and H.shape == (x.size, x.size)
        assert rel_err(H, central_jac(p.gradient, x)) < 1e-6, name
        np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12 * np.abs(H).max())
        v = rng.standard_normal(x.size)
        assert rel_err(p.hess_vec(x, v), H @ v) < 1e-12


@pytest.mark.parametrize("name", SMALL)
def test_approximations_are_symmetric_psd(small, name):
    p = small[name]
    assert p.hess_approx
    for x in points(p):
        for key, approx in p.hess_approx.items():
            H = approx(x)
            assert isinstance(H, (np.ndarray, LowRank)), key
            H = dense(H)
            assert H.shape == (x.size, x.size)
            np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12 * max(np.abs(H).max(), 1))
            assert is_psd(H), (name, key)


# -- log-sum-exp -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["log-sum-exp", "log-sum-exp-wide"])
def test_log_sum_exp_zero_oracle(small, name):
    p = small[name]
    n = p.x0.size
    x_opt = p.info["x_opt"]
    np.testing.assert_array_equal(x_opt, np.zeros(n))
    assert np.abs(p.gradient(x_opt)).max() < 1e-12
    assert p.f_opt == p.value(x_opt)
    np.testing.assert_array_equal(p.x0, np.ones(n))
    assert p.value(p.x0) > p.f_opt
    mu = 1.0 if name == "log-sum-exp" else 0.5
    assert p.f_opt == pytest.approx(mu * np.log(np.sum(np.exp(-p.info["b"] / mu))), rel=1e-14)


def test_log_sum_exp_hessian_is_weighted_gauss_newton_minus_rank_one(small):
    for name, mu in (("log-sum-exp", 1.0), ("log-sum-exp-wide", 0.5)):
        p = small[name]
        for x in points(p):
            g = p.gradient(x)
            wgn = p.hess_approx["weighted-gauss-newton"](x)
            np.testing.assert_allclose(p.hessian(x), wgn - np.outer(g, g) / mu,
                                       rtol=1e-12, atol=1e-14)
            # the explicit formula (1/mu) Aᵀ Diag(π) A with π the softmax weights
            A, b = p.info["A"], p.info["b"]
            z = (A @ x - b) / mu
            pi = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            np.testing.assert_allclose(wgn, A.T @ np.diag(pi) @ A / mu, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(g, A.T @ pi, rtol=1e-12, atol=1e-14)


def test_log_sum_exp_metric_is_the_unshifted_gram_matrix():
    n, m, seed = 30, 40, 7
    p = smooth.log_sum_exp(n=n, m=m, seed=seed)
    rng = np.random.default_rng(seed)
    A_raw = rng.uniform(-1.0, 1.0, size=(n, m))
    b = rng.uniform(-1.0, 1.0, size=m)
    np.testing.assert_array_equal(p.info["b"], b)
    B = p.info["metric"]
    np.testing.assert_allclose(B, A_raw @ A_raw.T, rtol=1e-14)
    assert np.linalg.eigvalsh(B).min() > 0
    # the design is A_rawᵀ with one vector subtracted from every row
    shift = A_raw.T - p.info["A"]
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-14)
    # m < n: the Gram matrix is singular, 1e-8 I makes it SPD
    wide = smooth.log_sum_exp(n=30, m=20)
    assert np.linalg.eigvalsh(wide.info["metric"]).min() > 0
    assert np.linalg.cholesky(wide.info["metric"]) is not None


def test_log_sum_exp_stable_for_small_mu():
    p = smooth.log_sum_exp(n=10, m=10, mu=1e-3)
    f, g = p.value_and_grad(100 * p.x0)
    assert np.isfinite(f) and np.all(np.isfinite(g))
    assert np.all(np.isfinite(p.hessian(100 * p.x0)))


def test_log_sum_exp_is_seeded():
    a, b = smooth.log_sum_exp(n=10, m=12), smooth.log_sum_exp(n=10, m=12)
    np.testing.assert_array_equal(a.info["A"], b.info["A"])
    c = smooth.log_sum_exp(n=10, m=12, seed=1)
    assert not np.array_equal(a.info["A"], c.info["A"])


# -- power-of-norm equations -------------------------------------------------------------------


@pytest.mark.parametrize("pw", [2, 3, 4, 6])
def test_power_equations_fisher_term_identity(pw):
    p = equations.power_linear_equations(p=pw, m=15, n=30)
    A, b = p.info["A"], p.info["b"]
    for x in points(p):
        u = A @ x - b
        nu = np.linalg.norm(u)
        g = p.gradient(x)
        np.testing.assert_allclose(g, nu ** (pw - 2) * A.T @ u, rtol=1e-12)
        F = p.hess_approx["fisher-term"](x)
        assert isinstance(F, LowRank) and F.rank == 1
        alpha = (pw - 2) * nu ** (pw - 4)
        assert F.s[0] == pytest.approx(alpha, rel=1e-14, abs=0)
        np.testing.assert_allclose(F.toarray(), (pw - 2) / nu**pw * np.outer(g, g),
                                   rtol=1e-10, atol=1e-14 * np.abs(F.toarray()).max())
        # exact = ‖u‖^{p-2} AᵀA + Fisher term
        np.testing.assert_allclose(p.hessian(x), nu ** (pw - 2) * A.T @ A + F.toarray(),
                                   rtol=1e-12)
        if pw == 2:
            assert F.s[0] == 0.0
            np.testing.assert_allclose(p.hessian(x), A.T @ A, rtol=1e-13)


def test_power_equations_solution_and_metric():
    p = equations.power_linear_equations(m=15, n=30)
    A = p.info["A"]
    assert A.shape == (15, 30)
    assert p.f_opt == 0.0
    assert p.value(p.info["x_opt"]) < 1e-25
    np.testing.assert_array_equal(p.x0, np.ones(30))
    B = p.info["metric"]
    np.testing.assert_allclose(B, A.T @ A + 1e-8 * np.eye(30), rtol=1e-14, atol=1e-20)
    assert np.linalg.eigvalsh(B).min() > 0
    # tall: f_opt is the least-squares residual
    tall = equations.power_linear_equations(p=3, m=40, n=10)
    x_ls, res = np.linalg.lstsq(tall.info["A"], tall.info["b"], rcond=None)[:2]
    assert tall.f_opt == pytest.approx(np.sqrt(res[0]) ** 3 / 3, rel=1e-10)
    assert tall.value(x_ls) == pytest.approx(tall.f_opt, rel=1e-10)
    assert np.linalg.norm(tall.gradient(x_ls)) < 1e-10


def test_power_equations_at_the_solution():
    p = equations.power_linear_equations(p=3, m=5, n=8)
    x = p.info["x_opt"]
    assert np.all(np.isfinite(p.hessian(x))) and np.all(np.isfinite(p.gradient(x)))
    F = p.hess_approx["fisher-term"]
    assert np.all(np.isfinite(F(x).toarray()))


def _second_term(name: str, x: np.ndarray, pw: float) -> np.ndarray:
    """``‖u‖^{p-2} Σ_i u_i ∇²u_i``, written out by hand for each problem."""
    if name.startswith("rosenbrock"):
        u = np.array([1 - x[0], 10 * (x[1] - x[0] ** 2)])
        S = np.array([[-20.0 * u[1], 0.0], [0.0, 0.0]])
    else:
        n = x.size
        u = np.concatenate([[0.5 * (1 - x[0])], x[1:] - 2 * x[:-1] ** 2 + 1])
        S = np.zeros((n, n))
        for i in range(1, n):  # ∇²u_i = -4 e_{i-1} e_{i-1}ᵀ
            S[i - 1, i - 1] += -4.0 * u[i]
    return np.linalg.norm(u) ** (pw - 2) * S


@pytest.mark.parametrize("name, pw", [("rosenbrock-equations", 5), ("rosenbrock-equations-p2", 2),
                                      ("chebyshev-chain", 4), ("chebyshev-chain-p5", 5)])
def test_gauss_newton_plus_second_term_is_exact(small, name, pw):
    p = small[name]
    for x in points(p):
        gn = p.hess_approx["gauss-newton"](x)
        F = p.hess_approx["fisher-term"](x).toarray()
        exact = p.hessian(x)
        np.testing.assert_allclose(gn + _second_term(name, x, pw), exact, rtol=1e-12, atol=1e-12)
        g = p.gradient(x)
        nu = (pw * p.value(x)) ** (1 / pw)
        np.testing.assert_allclose(F, (pw - 2) / nu**pw * np.outer(g, g), rtol=1e-9,
                                   atol=1e-12 * max(np.abs(F).max(), 1))
        assert is_psd(gn - F)  # ‖u‖^{p-2} JᵀJ


@pytest.mark.parametrize("name", ["rosenbrock-equations", "chebyshev-chain", "power-equations"])
def test_value_at_the_solution_is_zero(small, name):
    p = small[name]
    x = p.info["x_opt"]
    assert p.f_opt == 0.0
    assert p.value(x) == pytest.approx(0.0, abs=1e-25)
    assert np.linalg.norm(p.gradient(x)) < 1e-12


def test_equation_starts():
    rosen = equations.rosenbrock_equations()
    np.testing.assert_array_equal(rosen.x0, [-2.0, 2.0])
    np.testing.assert_array_equal(rosen.info["x_opt"], [1.0, 1.0])
    cheb = equations.chebyshev_chain(n=30)
    np.testing.assert_array_equal(cheb.x0, np.random.default_rng(3124).uniform(0, 1, 30))
    np.testing.assert_array_equal(cheb.info["x_opt"], np.ones(30))
    # tridiagonal + rank one (the Fisher term); tridiagonal for p = 2
    x = cheb.x0
    T = cheb.hessian(x) - cheb.hess_approx["fisher-term"](x).toarray()
    H2 = equations.chebyshev_chain(n=30, p=2).hessian(x)
    for H in (T, H2):
        assert np.all(np.triu(H, 2) == 0) and np.all(np.tril(H, -2) == 0)
    # p = 2: half the classic Rosenbrock function
    x = np.array([0.3, -0.7])
    assert equations.rosenbrock_equations(p=2).value(x) == pytest.approx(
        0.5 * ((1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2), rel=1e-14)


@pytest.mark.parametrize(
    "builder, kwargs, match",
    [
        (equations.power_linear_equations, {"p": 1.5}, "p must be"),
        (equations.power_linear_equations, {"m": 0}, "m must be"),
        (equations.power_linear_equations, {"n": 2.5}, "n must be"),
        (equations.rosenbrock_equations, {"p": float("nan")}, "p must be"),
        (equations.chebyshev_chain, {"n": 1}, "n must be"),
        (equations.chebyshev_chain, {"p": 1}, "p must be"),
        (smooth.log_sum_exp, {"mu": 0.0}, "mu must be"),
        (smooth.log_sum_exp, {"n": 0}, "n must be"),
    ],
)
def test_bad_arguments(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)


def test_wrong_sizes_are_rejected():
    with pytest.raises(ValueError, match="2 variables"):
        equations.rosenbrock_equations().value(np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        equations.chebyshev_chain(n=5).value(np.ones(4))


# -- ML: Fisher and empirical Fisher -------------------------------------------------------------


#: Small data for the ML checks: rows ``A`` (with a bias column), labels ±1 / 0..k-1.
_RNG = np.random.default_rng(5)
_A = np.hstack([_RNG.standard_normal((40, 4)), np.ones((40, 1))])
_B = np.where(_RNG.random(40) < 0.5, -1.0, 1.0)
_Y = _RNG.integers(0, 3, 40)
_L2 = 1e-2


@pytest.fixture(scope="module")
def ml_small() -> dict[str, Problem]:
    return {
        "logistic": ml._Logistic(_A, _B, _L2).problem(np.zeros(5), "logistic-small"),
        "softmax": ml._Softmax(_A, _Y, 3, _L2).problem(np.zeros(15), "softmax-small"),
    }


def _ml_points(p: Problem) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [p.x0, rng.standard_normal(p.x0.shape)]


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_fisher_is_the_hessian(ml_small, kind):
    p = ml_small[kind]
    for x in _ml_points(p):
        np.testing.assert_array_equal(p.hess_approx["fisher"](x), p.hessian(x))
        assert rel_err(p.hessian(x), central_jac(p.gradient, x)) < 1e-6


def _sample_gradient(kind: str, i: int, x: np.ndarray) -> np.ndarray:
    """``∇ℓ_i(x)`` of the loss of row ``i`` alone (no L2 term), written out."""
    a = _A[i]
    if kind == "logistic":
        return -_B[i] * a / (1.0 + np.exp(_B[i] * (a @ x)))
    z = a @ x.reshape(a.size, 3)
    prob = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    prob[_Y[i]] -= 1.0
    return np.outer(a, prob).ravel()


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_empirical_fisher_is_the_mean_of_gradient_outer_products(ml_small, kind):
    p = ml_small[kind]
    m = _A.shape[0]
    for x in _ml_points(p):
        F = p.hess_approx["empirical-fisher"](x)
        assert isinstance(F, np.ndarray) and F.shape == (x.size, x.size)
        np.testing.assert_array_equal(F, F.T)
        assert is_psd(F - _L2 * np.eye(x.size))
        grads = [_sample_gradient(kind, i, x) for i in range(m)]
        total = sum(np.outer(g, g) for g in grads)
        np.testing.assert_allclose(F, total / m + _L2 * np.eye(x.size), rtol=1e-12, atol=1e-14)
        # the per-sample gradients are the right ones: their mean plus l2 x is ∇f
        np.testing.assert_allclose(np.mean(grads, axis=0) + _L2 * x, p.gradient(x),
                                   rtol=1e-12, atol=1e-14)


def test_ml_batches_carry_the_approximations(ml_small):
    for p in ml_small.values():
        batch = p.sample(10, np.random.default_rng(0))
        assert set(batch.hess_approx) == {"fisher", "empirical-fisher"}
        x = p.x0
        np.testing.assert_array_equal(batch.hess_approx["fisher"](x), batch.hessian(x))


def test_ml_default_problems_have_the_approximations():
    for name in ("logistic-breast-cancer", "softmax-digits"):
        p = problems.get(name)
        assert set(p.hess_approx) == {"fisher", "empirical-fisher"}
        F = p.hess_approx["empirical-fisher"](p.x0)
        assert F.shape == (p.x0.size, p.x0.size) and np.all(np.isfinite(F))


def test_large_synthetic_logistic_builds_quickly():
    start = time.perf_counter()
    p = ml.logistic_regression(dataset="synthetic", n=20000, d=500)
    assert time.perf_counter() - start < 15.0
    assert p.x0.shape == (501,) and np.isfinite(p.f_opt)
    assert p.value(p.x0) > p.f_opt


# -- the catalog -------------------------------------------------------------------------------

NEW = {"log-sum-exp": "smooth", "power-equations": "equations",
       "rosenbrock-equations": "equations", "chebyshev-chain": "equations"}


def test_catalog_lists_the_new_problems():
    rows = {row["name"]: row for row in problems.catalog()}
    for name, kind in NEW.items():
        assert rows[name]["kind"] == kind and rows[name]["summary"]


@pytest.mark.parametrize("name", NEW)
def test_catalog_builds(name):
    p = problems.get(name)
    assert isinstance(p, Problem) and p.name == name
    assert p.f_opt is not None and p.value(p.x0) > p.f_opt
    assert p.hess_approx
    for approx in p.hess_approx.values():
        assert dense(approx(p.x0)).shape == (p.x0.size, p.x0.size)
    sizes = {"log-sum-exp": 200, "power-equations": 200, "rosenbrock-equations": 2,
             "chebyshev-chain": 100}
    assert p.x0.shape == (sizes[name],)
    if "metric" in p.info:
        assert np.linalg.eigvalsh(p.info["metric"]).min() > 0
