"""Tests of the bilevel problems of the zoo (``problems.bilevel``): oracles against finite
differences, closed forms, the validity of the constants, the data and the catalog entries."""

from __future__ import annotations

import numpy as np
import pytest
from finite_differences import central_grad, central_jac, rel_err

import problems
from optkit import BilevelProblem
from problems.bilevel import (
    bilevel_quadratic,
    digits_logistic,
    ridge_per_feature,
    tv_denoising_1d,
    tv_denoising_2d,
)

#: Small instances (fast finite differences); digits has one size only.
SMALL = {
    "bilevel-quadratic": lambda: bilevel_quadratic(n_rows=30, m=4),
    "tv-denoising-1d": lambda: tv_denoising_1d(n_signals=3, length=12),
    "tv-denoising-2d": lambda: tv_denoising_2d(n_images=2, size=5),
    "ridge-per-feature": lambda: ridge_per_feature(n_features=6, n_informative=2, n_train=20,
                                                   n_val=15, n_test=10),
    "digits-logistic": digits_logistic,
}
NAMES = list(SMALL)


@pytest.fixture(scope="module")
def built() -> dict[str, BilevelProblem]:
    return {name: make() for name, make in SMALL.items()}


def points(p: BilevelProblem) -> list[tuple[np.ndarray, np.ndarray]]:
    """The start and a seeded random point near it."""
    rng = np.random.default_rng(1)
    return [(p.x0, p.y0),
            (p.x0 + 0.5 * rng.standard_normal(p.n), p.y0 + 0.3 * rng.standard_normal(p.m))]


def dense_hessian(p: BilevelProblem, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``∇²_yy f`` assembled column by column from ``lower_hvp_yy``."""
    return np.column_stack([p.lower_hvp_yy(x, y, e) for e in np.eye(p.m)])


# -- oracles against central finite differences ---------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shapes(built, name):
    p = built[name]
    x, y = p.x0, p.y0
    v = np.ones(p.m)
    gx, gy = p.upper_grad(x, y)
    assert gx.shape == (p.n,) and gy.shape == (p.m,)
    assert np.isscalar(p.upper_fun(x, y)) and np.isscalar(p.lower_fun(x, y))
    assert p.lower_grad_y(x, y).shape == (p.m,)
    assert p.lower_grad_x(x, y).shape == (p.n,)
    assert p.lower_hvp_yy(x, y, v).shape == (p.m,)
    assert p.lower_hvp_xy(x, y, v).shape == (p.n,)
    assert all(p.provides(need) for need in ("lower_grad_x", "lower_hvp_yy", "lower_hvp_xy"))


def fd_grad(fun, z: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Central differences of ``fun`` at ``z`` in the coordinates ``idx`` only."""
    out = np.empty(idx.shape[0])
    for k, i in enumerate(idx):
        h = 6e-6 * max(1.0, abs(z[i]))
        e = np.zeros_like(z)
        e[i] = h
        out[k] = (fun(z + e) - fun(z - e)) / (2 * h)
    return out


def coords(dim: int, rng: np.random.Generator) -> np.ndarray:
    """All coordinates of a small vector, 40 random ones (and the first) of a large one."""
    return np.arange(dim) if dim <= 100 else np.union1d([0], rng.choice(dim, 40, replace=False))


def check_gradients(p: BilevelProblem, x: np.ndarray, y: np.ndarray, rng) -> None:
    ix, iy = coords(p.n, rng), coords(p.m, rng)
    gx, gy = p.upper_grad(x, y)
    assert rel_err(gy[iy], fd_grad(lambda yy: p.upper_fun(x, yy), y, iy)) < 1e-5
    assert np.linalg.norm(gx[ix] - fd_grad(lambda xx: p.upper_fun(xx, y), x, ix)) < 1e-8
    assert rel_err(p.lower_grad_y(x, y)[iy], fd_grad(lambda yy: p.lower_fun(x, yy), y, iy)) < 1e-5
    assert rel_err(p.lower_grad_x(x, y)[ix], fd_grad(lambda xx: p.lower_fun(xx, y), x, ix)) < 1e-5


def check_hvps(p: BilevelProblem, x: np.ndarray, y: np.ndarray, rng) -> None:
    v = rng.standard_normal(p.m)
    if p.m <= 100:  # the whole Jacobian of the gradient
        H = central_jac(lambda yy: p.lower_grad_y(x, yy), y)
        assert rel_err(p.lower_hvp_yy(x, y, v), H @ v) < 1e-5
    h = 1e-5 / np.linalg.norm(v)  # directional difference (all sizes)
    fd = (p.lower_grad_y(x, y + h * v) - p.lower_grad_y(x, y - h * v)) / (2 * h)
    assert rel_err(p.lower_hvp_yy(x, y, v), fd) < 1e-5
    # mixed: ∇_x ⟨∇_y f, v⟩, and (by symmetry of mixed partials) the y-derivative of ∇_x f
    mixed = p.lower_hvp_xy(x, y, v)
    ix = coords(p.n, rng)
    assert rel_err(mixed[ix], fd_grad(lambda xx: p.lower_grad_y(xx, y) @ v, x, ix)) < 1e-5
    fd = (p.lower_grad_x(x, y + h * v) - p.lower_grad_x(x, y - h * v)) / (2 * h)
    assert rel_err(mixed, fd) < 1e-5


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_finite_differences(built, name):
    p = built[name]
    rng = np.random.default_rng(6)
    for x, y in points(p):
        check_gradients(p, x, y, rng)


@pytest.mark.parametrize("name", NAMES)
def test_hessian_vector_products_match_differences_of_the_gradient(built, name):
    p = built[name]
    rng = np.random.default_rng(2)
    for x, y in points(p):
        check_hvps(p, x, y, rng)


def _lower_solve(p: BilevelProblem, x: np.ndarray) -> np.ndarray:
    """``y*(x)`` by Newton's method on the dense Hessian (small instances)."""
    y = p.y0.copy()
    for _ in range(50):
        g = p.lower_grad_y(x, y)
        if np.linalg.norm(g) < 1e-12:
            break
        y = y - np.linalg.solve(dense_hessian(p, x, y), g)
    return y


@pytest.mark.parametrize("name", ["tv-denoising-1d", "tv-denoising-2d", "ridge-per-feature"])
def test_implicit_hypergradient_matches_finite_differences(built, name):
    # ∇Φ = ∇_x F - B A⁻¹ ∇_y F with A = ∇²_yy f, B v = lower_hvp_xy: the signs of all oracles
    p = built[name]
    x = p.x0 + np.linspace(2.0, 3.0, p.n) if name.startswith("tv") else p.x0 - 1.0
    y = _lower_solve(p, x)
    gx, gy = p.upper_grad(x, y)
    q = np.linalg.solve(dense_hessian(p, x, y), gy)
    hypergrad = gx - p.lower_hvp_xy(x, y, q)
    phi = lambda xx: p.upper_fun(xx, _lower_solve(p, xx))  # noqa: E731
    assert rel_err(hypergrad, central_grad(phi, x)) < 1e-5


# -- the closed forms of the quadratic -------------------------------------------------------------


def test_quadratic_closed_forms_are_consistent(built):
    p = built["bilevel-quadratic"]
    info = p.info
    rng = np.random.default_rng(3)
    for x in (p.x0, rng.standard_normal(p.n)):
        y = info["y_star"](x)
        residual = np.linalg.norm(p.lower_grad_y(x, y))
        assert residual <= 1e-10 * np.linalg.norm(p.lower_grad_y(x, p.y0))
        assert info["phi"](x) == pytest.approx(p.upper_fun(x, y), rel=1e-10)
        assert rel_err(info["phi_grad"](x), central_grad(info["phi"], x)) < 1e-6
        # the implicit-function hypergradient equals the closed form
        q = np.linalg.solve(dense_hessian(p, x, y), p.upper_grad(x, y)[1])
        assert rel_err(-p.lower_hvp_xy(x, y, q), info["phi_grad"](x)) < 1e-8
    x_opt = info["x_opt"]
    assert info["phi"](x_opt) == pytest.approx(p.f_opt, rel=1e-12)
    np.testing.assert_array_equal(info["y_opt"], info["y_star"](x_opt))
    g0 = np.linalg.norm(central_grad(info["phi"], p.x0))
    assert np.linalg.norm(central_grad(info["phi"], x_opt)) <= 1e-6 * g0
    assert info["phi"](p.x0) > p.f_opt
    B = np.column_stack([p.lower_hvp_xy(x_opt, p.y0, e) for e in np.eye(p.m)])
    assert info["B_norm"] == pytest.approx(np.linalg.norm(B, 2), rel=1e-12)
    assert info["L_B"] == 0.0 and info["L_Ainv"] == 0.0
    np.testing.assert_array_equal(p.x0, np.ones(p.m))


def test_quadratic_data_follow_the_recipe():
    p = bilevel_quadratic(n_rows=50, m=3, seed=7)
    rng = np.random.default_rng(7)
    A1, A2, A3 = (rng.uniform(0, 1, (50, 3)) for _ in range(3))
    x1, x2, x_e = (rng.uniform(0, 1, 3) for _ in range(3))
    np.testing.assert_array_equal(p.info["A2"], A2)
    np.testing.assert_array_equal(p.y0, x2)
    np.testing.assert_allclose(p.info["b1"], A1 @ x1 + 0.01 * rng.standard_normal(50))
    np.testing.assert_allclose(p.info["b2"], A2 @ x2 + A3 @ x_e + 0.01 * rng.standard_normal(50))


# -- the constants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_lower_constants_bound_the_hessian(built, name):
    p = built[name]
    rng = np.random.default_rng(4)
    for x, y in points(p) + [(p.x0 + 2.0 * rng.standard_normal(p.n), p.y0)]:
        mu = p.constant("lower_strong_convexity", x)
        L = p.constant("lower_smoothness", x)
        assert 0 < mu <= L
        for _ in range(5):  # Rayleigh quotients with random vectors
            v = rng.standard_normal(p.m)
            rq = v @ p.lower_hvp_yy(x, y, v) / (v @ v)
            assert mu * (1 - 1e-12) <= rq <= L * (1 + 1e-12)
        eigs = np.linalg.eigvalsh(dense_hessian(p, x, y))  # all sizes here are small
        assert mu * (1 - 1e-12) <= eigs[0] and eigs[-1] <= L * (1 + 1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_upper_smoothness_bounds_the_upper_hessian(built, name):
    p = built[name]
    rng = np.random.default_rng(5)
    L_g = p.constant("upper_smoothness", p.x0)
    for x, y in points(p):
        for _ in range(5):
            u, v = y + rng.standard_normal(p.m), y + rng.standard_normal(p.m)
            ratio = np.linalg.norm(p.upper_grad(x, u)[1] - p.upper_grad(x, v)[1]) / \
                np.linalg.norm(u - v)
            assert ratio <= L_g * (1 + 1e-12)


def test_quadratic_constants_are_the_extreme_eigenvalues(built):
    p = built["bilevel-quadratic"]
    eigs = np.linalg.eigvalsh(p.info["A2"].T @ p.info["A2"])
    assert p.lower_strong_convexity == pytest.approx(eigs[0], rel=1e-8)
    assert p.lower_smoothness == pytest.approx(eigs[-1], rel=1e-8)
    A1 = p.info["A1"]
    assert p.upper_smoothness == pytest.approx(np.linalg.eigvalsh(A1.T @ A1)[-1], rel=1e-8)


def test_tv_smoothness_bound_is_nearly_attained():
    # flat signals: ψ'' = 1/ν everywhere, λ_max = 1 + ½ α/ν ‖D‖², ‖D‖² → 4 as length grows
    p = tv_denoising_1d(n_signals=1, length=40)
    x = np.array([0.5, -1.0])
    L = p.constant("lower_smoothness", x)
    lam = np.linalg.eigvalsh(dense_hessian(p, x, np.zeros(p.m)))[-1]
    assert lam <= L and lam >= 1 + 0.99 * (L - 1)


def test_tv_2d_smoothness_bound_is_nearly_attained():
    # flat image: λ_max = 1 + ½ α/ν (‖D_r‖² + ‖D_c‖²), which tends to 1 + ½ α/ν · 8
    p = tv_denoising_2d(n_images=1, size=24)
    x = np.array([0.5, -1.0])
    L = p.constant("lower_smoothness", x)
    assert L == pytest.approx(1 + 4 * np.exp(1.5))
    lam = np.linalg.eigvalsh(dense_hessian(p, x, np.zeros(p.m)))[-1]
    assert lam <= L and lam >= 1 + 0.98 * (L - 1)


# -- data ------------------------------------------------------------------------------------------


def test_tv_noisy_psnr_is_what_sigma_implies():
    p = tv_denoising_1d()  # default size, 16 x 256
    clean, noisy = p.info["clean"], p.info["noisy"]
    assert clean.shape == noisy.shape == (16, 256) and p.m == 16 * 256
    assert clean.min() >= 0 and clean.max() <= 1
    assert 1 <= np.count_nonzero(np.diff(clean, axis=1), axis=1).min()
    assert np.std(noisy - clean) == pytest.approx(0.1, rel=0.05)
    psnr = p.info["psnr"](noisy.ravel())
    assert 20.0 <= psnr <= 21.0  # 20 dB for σ = 0.1, a little more since clipping helps
    assert p.info["psnr"](noisy) == psnr
    np.testing.assert_array_equal(p.y0, noisy.ravel())
    np.testing.assert_array_equal(p.x0, [-5.0, -5.0])
    assert p.lower_smoothness(p.x0) == 3.0 and p.upper_smoothness == 1 / 16


def test_tv_2d_images_are_shapes_on_a_background_with_sigma_noise():
    p = tv_denoising_2d()  # default size, 8 x 32 x 32
    clean, noisy = p.info["clean"], p.info["noisy"]
    assert clean.shape == noisy.shape == (8, 32, 32) and p.m == 8 * 32 * 32
    assert clean.min() >= 0 and clean.max() <= 1
    for image in clean:  # a few flat regions: several levels, edges in both directions
        assert 2 <= np.unique(image).size <= 5
        assert np.any(np.diff(image, axis=0)) and np.any(np.diff(image, axis=1))
    assert np.std(noisy - clean) == pytest.approx(0.1, rel=0.05)
    assert 20.0 <= p.info["psnr"](noisy.ravel()) <= 21.0
    np.testing.assert_array_equal(p.y0, noisy.ravel())
    assert p.upper_smoothness == 1 / 8


def test_ridge_split_and_one_penalty_is_worse_than_per_feature():
    p = ridge_per_feature()
    info = p.info
    assert info["X_train"].shape == (100, 50) and info["X_val"].shape == (100, 50)
    assert info["X_test"].shape == (1000, 50) and info["t_test"].shape == (1000,)
    support = info["coef_true"] != 0
    assert support.sum() == 5
    # RidgeCV-like: the single penalty with the best validation loss on a grid
    single = [np.full(50, np.log(lam)) for lam in np.logspace(-4, 3, 60)]
    x_single = min(single, key=lambda x: p.upper_fun(x, info["y_star"](x)))
    best_single = info["test_mse"](info["y_star"](x_single))
    per_feature = info["test_mse"](info["y_star"](np.where(support, -10.0, 10.0)))
    assert per_feature < 1.1 < 1.5 < best_single


def test_digits_split_is_stratified():
    p = digits_logistic()
    info = p.info
    sizes = [info[f"labels_{s}"].shape[0] for s in ("train", "val", "test")]
    assert sizes == [1000, 400, 397]
    for split in ("train", "val", "test"):
        counts = np.bincount(info[f"labels_{split}"], minlength=10)
        assert counts.max() - counts.min() <= 0.05 * counts.sum()
    assert info["X_train"].max() <= 1.0 and info["X_train"].min() >= 0.0
    np.testing.assert_array_equal(p.x0, np.full(640, -3.0))
    assert p.upper_fun(p.x0, p.y0) == pytest.approx(np.log(10))
    assert 0.0 <= info["accuracy"](p.y0, "val") <= 1.0
    with pytest.raises(ValueError, match="split"):
        info["accuracy"](p.y0, "bogus")


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (tv_denoising_1d(4, 32, seed=s).info["noisy"] for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    a, c = (bilevel_quadratic(40, 3, seed=s).f_opt for s in (0, 1))
    assert a != c


@pytest.mark.parametrize("builder, kwargs", [
    (bilevel_quadratic, {"n_rows": 3, "m": 5}),
    (bilevel_quadratic, {"noise": -1.0}),
    (tv_denoising_1d, {"length": 1}),
    (tv_denoising_1d, {"sigma": float("nan")}),
    (tv_denoising_2d, {"size": 3}),
    (tv_denoising_2d, {"n_images": 0}),
    (ridge_per_feature, {"n_features": 3, "n_informative": 4}),
    (digits_logistic, {"x0": float("inf")}),
])
def test_invalid_arguments_raise(builder, kwargs):
    with pytest.raises(ValueError):
        builder(**kwargs)


# -- the catalog -----------------------------------------------------------------------------------


def test_catalog_lists_the_bilevel_problems():
    rows = {row["name"]: row for row in problems.catalog()}
    for name in NAMES:
        assert rows[name]["kind"] == "bilevel" and rows[name]["summary"]


def test_get_builds_bilevel_problems_with_keywords():
    p = problems.get("bilevel-quadratic", n_rows=200)
    assert isinstance(p, BilevelProblem) and p.info["A1"].shape == (200, 10)
    assert problems.get("tv-denoising-1d", n_signals=2, length=16).m == 32
    assert problems.get("tv-denoising-2d", n_images=2, size=8).m == 128
    assert problems.get("ridge-per-feature", n_features=7).n == 7
    assert isinstance(problems.get("digits-logistic"), BilevelProblem)
