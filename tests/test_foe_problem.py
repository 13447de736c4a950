"""Tests of the Field of Experts denoising problem (``problems.field_of_experts``, MAID's E3):
the objective against an independent NumPy/SciPy evaluation, the derived oracles against finite
differences, the constants against the dense Hessian (and the smoothness bound attained), the
hypergradient against differences of the hyperobjective, the data, bad arguments, and a short
MAID run that denoises."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage

torch = pytest.importorskip("torch")

import optkit  # noqa: E402
import problems  # noqa: E402
from optkit.bilevel import check_derivatives, hypergradient, solve_lower  # noqa: E402
from problems.field_of_experts import field_of_experts  # noqa: E402

TINY = {"n_images": 2, "size": 6, "n_filters": 2, "filter_size": 3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny() -> optkit.BilevelProblem:
    return field_of_experts(**TINY)


def unpack(x: np.ndarray, K: int, s: int) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_0, log weights, log smoothings, filters (K, s, s))`` of the documented layout."""
    return x[0], x[1:1 + K], x[1 + K:1 + 2 * K], x[1 + 2 * K:].reshape(K, s, s)


def dense_hessian(p: optkit.BilevelProblem, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``∇²_yy f`` assembled column by column from ``lower_hvp_yy``."""
    return np.column_stack([p.lower_hvp_yy(x, y, e) for e in np.eye(p.m)])


def random_point(p: optkit.BilevelProblem, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A point away from the start: weights up to e^3 times larger, other filters and images."""
    rng = np.random.default_rng(seed)
    x = p.x0 + rng.normal(1.0, 1.0, p.n)
    return x, p.y0 + 0.3 * rng.standard_normal(p.m)


# -- the objectives and their derivatives ----------------------------------------------------------


def test_the_objectives_are_the_documented_formulas(tiny):
    """``f`` and ``F`` against a NumPy evaluation with SciPy's correlation (mode "mirror" is
    torch's "reflect": the edge sample is not repeated)."""
    K, s, N, size = TINY["n_filters"], TINY["filter_size"], TINY["n_images"], TINY["size"]
    x, y = random_point(tiny, 0)
    x0, logw, lognu, filters = unpack(x, K, s)
    images, noisy = y.reshape(N, size, size), tiny.info["noisy"]
    experts = sum(np.exp(logw[k]) * np.sum(np.sqrt(
        scipy.ndimage.correlate(image, filters[k], mode="mirror") ** 2 + np.exp(2 * lognu[k])))
        for k in range(K) for image in images)
    f = 0.5 * np.sum((images - noisy) ** 2) + 0.5 * np.exp(x0) * experts
    assert tiny.lower_fun(x, y) == pytest.approx(f, rel=1e-12)
    F = 0.5 * np.sum((images - tiny.info["clean"]) ** 2) / N
    assert tiny.upper_fun(x, y) == pytest.approx(F, rel=1e-12)


def test_derivatives_match_finite_differences(tiny):
    for x, y in [(tiny.x0, tiny.y0), random_point(tiny, 1)]:
        errors = check_derivatives(tiny, x, y, rtol=1e-6)
        assert set(errors) == {"upper_grad[x]", "upper_grad[y]", "lower_grad_y", "lower_grad_x",
                               "lower_hvp_yy", "lower_hvp_xy"}


def test_hypergradient_matches_differences_of_the_hyperobjective(tiny):
    """``∇Φ`` by the implicit function theorem (dense solve) against central differences of
    ``Φ(x) = F(x, y*(x))`` along a random direction, with lower solves certified to 1e-11."""
    x = tiny.x0.copy()
    x[0] = 0.0  # a global weight e^3 larger than the start's: a sizeable hypergradient

    def y_star(xx: np.ndarray) -> np.ndarray:
        solve = solve_lower(tiny, xx, tiny.y0, eps=1e-11, maxiter=100_000)
        assert solve.converged
        return solve.y

    g, info = hypergradient(tiny, x, y_star(x), linsolve="exact")
    assert info.status == 0
    u = np.random.default_rng(2).standard_normal(tiny.n)
    u /= np.linalg.norm(u)
    h = 1e-4
    fd = (tiny.upper_fun(x + h * u, y_star(x + h * u))
          - tiny.upper_fun(x - h * u, y_star(x - h * u))) / (2 * h)
    assert abs(g @ u - fd) <= 1e-6 * np.linalg.norm(g)  # measured 4e-8


# -- the constants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [None, 3, 4])
def test_lower_constants_bound_the_hessian(tiny, seed):
    x, y = (tiny.x0, tiny.y0) if seed is None else random_point(tiny, seed)
    mu = tiny.constant("lower_strong_convexity", x)
    L = tiny.constant("lower_smoothness", x)
    H = dense_hessian(tiny, x, y)
    np.testing.assert_allclose(H, H.T, atol=1e-12 * L)
    eigs = np.linalg.eigvalsh(H)
    assert mu == 1.0 and tiny.upper_smoothness == 1 / TINY["n_images"]
    assert mu * (1 - 1e-12) <= eigs[0] and eigs[-1] <= L * (1 + 1e-12)
    if seed is None:  # zero-mean filters: constant images are in every kernel, so μ = 1 is
        assert eigs[0] == pytest.approx(1.0, abs=1e-12)  # attained


def test_smoothness_bound_is_attained():
    """Every filter the off-axis delta c(p+1, p+1) = 1 (reflect padding copies a pixel four
    times: ‖C_k‖ = 2‖c_k‖_1) and y = 0 (ψ'' = 1/ν): λ_max(∇²_yy f) equals the bound."""
    p = field_of_experts(n_images=1, size=7, n_filters=2, filter_size=5)
    x = p.x0.copy()
    x[1:5] = [-0.5, 0.3, -1.0, 0.2]  # log weights and log smoothings, all different
    filters = np.zeros((2, 5, 5))
    filters[:, 3, 3] = 1.0
    x[5:] = filters.ravel()
    L = p.constant("lower_smoothness", x)
    lam = np.linalg.eigvalsh(dense_hessian(p, x, np.zeros(p.m)))[-1]
    assert lam == pytest.approx(L, rel=1e-10)


# -- the data --------------------------------------------------------------------------------------


def test_default_data_follow_the_recipe():
    p = field_of_experts()
    K, s = 8, 5
    clean, noisy = p.info["clean"], p.info["noisy"]
    assert clean.shape == noisy.shape == (4, 32, 32)
    assert (p.n, p.m) == (1 + 2 * K + K * s * s, 4 * 32 * 32) and p.name == "foe-denoising"
    assert clean.min() >= 0 and clean.max() <= 1
    assert all(len(np.unique(image)) >= 2 for image in clean)  # shapes on a background
    assert np.std(noisy - clean) == pytest.approx(0.1, rel=0.05)
    np.testing.assert_array_equal(p.y0, noisy.ravel())
    x0, logw, lognu, filters = unpack(p.x0, K, s)
    assert x0 == -3.0 and np.all(logw == -3.0) and np.all(lognu == -3.5)
    np.testing.assert_allclose(filters.mean(axis=(1, 2)), 0.0, atol=1e-15)
    assert np.std(filters) == pytest.approx(np.sqrt(2 / (s + s)), rel=0.15)  # Xavier-normal
    assert (p.info["sigma"], p.info["n_filters"], p.info["filter_size"]) == (0.1, K, s)
    assert p.upper_smoothness == 0.25 and p.lower_strong_convexity == 1.0
    psnr = p.info["psnr"](noisy.ravel())
    assert 20.0 <= psnr <= 21.0  # 20 dB for σ = 0.1, a little more since clipping helps
    assert p.info["psnr"](noisy) == psnr and p.info["psnr"](clean) == np.inf
    want = np.mean([-10 * np.log10(np.mean((1 - image) ** 2)) for image in clean])
    assert p.info["psnr"](np.full(p.m, 6.0)) == pytest.approx(want)  # clipped to [0, 1] first
    assert not noisy.flags.writeable and not clean.flags.writeable


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (field_of_experts(**TINY, seed=seed) for seed in (0, 0, 1))
    np.testing.assert_array_equal(a.info["noisy"], b.info["noisy"])
    np.testing.assert_array_equal(a.x0, b.x0)
    assert not np.array_equal(a.info["clean"], c.info["clean"])
    assert not np.array_equal(a.x0, c.x0)


@pytest.mark.parametrize("kwargs", [
    {"n_images": 0},
    {"n_filters": 0},
    {"n_images": 2.5},
    {"filter_size": 4},
    {"filter_size": 0},
    {"size": 5, "filter_size": 5},  # reflect padding needs size >= filter_size + 1
    {"sigma": -0.1},
    {"sigma": float("nan")},
])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        field_of_experts(**{**TINY, **kwargs})


def test_missing_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    with pytest.raises(ImportError, match=r"pip install optkit\[torch\]"):
        field_of_experts(**TINY)


def test_importing_the_module_and_the_catalog_imports_no_torch():
    code = ("import sys, problems, problems.field_of_experts; problems.catalog(); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_catalog_builds_it():
    rows = {row["name"]: row for row in problems.catalog()}
    assert rows["foe-denoising"]["kind"] == "bilevel" and rows["foe-denoising"]["summary"]
    p = problems.get("foe-denoising", **TINY)
    assert isinstance(p, optkit.BilevelProblem) and p.m == 2 * 6 * 6


# -- MAID learns a denoiser ------------------------------------------------------------------------


def test_a_short_maid_run_denoises():
    p = field_of_experts(n_images=2, size=16, n_filters=4, filter_size=3)
    res = optkit.minimize(p, method="maid", options={"maxiter": 60})
    loss = res.history["upper_loss"]
    # measured 1.29 -> 0.56 and 19.9 dB -> 23.7 dB (regression pin of the margins)
    assert loss[-1] < 0.7 * loss[0]
    assert p.info["psnr"](res.y) > p.info["psnr"](p.info["noisy"]) + 2.0
