"""Tests of ``problems.quadratic_finite_sum``: the oracles against finite differences, the closed
forms against the implicit-function formula, unbiased row-sampling mini-batches, the data's
determinism, argument checks, and short runs of the stochastic bilevel methods on it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from finite_differences import central_grad, central_jac, rel_err

import optkit
import problems
from optkit import BilevelProblem
from problems.quadratic_finite_sum import quadratic_finite_sum

LOWER = ("lower_fun", "lower_grad_y", "lower_grad_x", "lower_hvp_yy", "lower_hvp_xy")


@pytest.fixture(scope="module")
def small() -> BilevelProblem:
    return quadratic_finite_sum(dim_inner=6, dim_outer=3, n_train=30, n_val=20, seed=3)


@pytest.fixture(scope="module")
def medium() -> BilevelProblem:
    return quadratic_finite_sum(dim_inner=20, dim_outer=5, n_train=200, n_val=200, seed=1)


def point(p: BilevelProblem, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random ``(x, y, v)``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(p.n), rng.standard_normal(p.m), rng.standard_normal(p.m)


def hessian_yy(p: BilevelProblem, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.column_stack([p.lower_hvp_yy(x, y, e) for e in np.eye(p.m)])


def all_oracles(p: BilevelProblem, x, y, v) -> dict[str, np.ndarray]:
    gx, gy = p.upper_grad(x, y)
    return {"upper_fun": np.array([p.upper_fun(x, y)]), "upper_grad_x": gx,
            "upper_grad_y": gy, "lower_fun": np.array([p.lower_fun(x, y)]),
            "lower_grad_y": p.lower_grad_y(x, y), "lower_grad_x": p.lower_grad_x(x, y),
            "lower_hvp_yy": p.lower_hvp_yy(x, y, v), "lower_hvp_xy": p.lower_hvp_xy(x, y, v)}


class AllRows:
    """A stand-in generator whose ``integers(0, n, size=n)`` draws every row once, in a
    fixed shuffled order (checks the sampler's call too)."""

    def __init__(self, n: int) -> None:
        self.order = np.random.default_rng(5).permutation(n)

    def integers(self, low, high, size):
        assert (low, high, size) == (0, len(self.order), len(self.order))
        return self.order


# -- oracles against central finite differences ---------------------------------------------


def check_oracles_by_differences(p: BilevelProblem, x, y, v) -> None:
    gx, gy = p.upper_grad(x, y)
    assert rel_err(gx, central_grad(lambda xx: p.upper_fun(xx, y), x)) < 1e-7
    assert rel_err(gy, central_grad(lambda yy: p.upper_fun(x, yy), y)) < 1e-7
    assert rel_err(p.lower_grad_y(x, y), central_grad(lambda yy: p.lower_fun(x, yy), y)) < 1e-7
    assert rel_err(p.lower_grad_x(x, y), central_grad(lambda xx: p.lower_fun(xx, y), x)) < 1e-7
    H = central_jac(lambda yy: p.lower_grad_y(x, yy), y)
    assert rel_err(p.lower_hvp_yy(x, y, v), H @ v) < 1e-7
    mixed = central_grad(lambda xx: float(p.lower_grad_y(xx, y) @ v), x)
    assert rel_err(p.lower_hvp_xy(x, y, v), mixed) < 1e-7


def test_oracles_match_finite_differences(small):
    for seed in range(2):
        check_oracles_by_differences(small, *point(small, seed))
    # the oracles of sampled mini-batches are the derivatives of the sampled values too
    rng = np.random.default_rng(0)
    check_oracles_by_differences(small.sample_lower(5, rng), *point(small, 2))
    check_oracles_by_differences(small.sample_upper(5, rng), *point(small, 3))


def test_shapes_and_starts(small):
    assert (small.n, small.m) == (3, 6)
    np.testing.assert_array_equal(small.x0, np.zeros(3))
    np.testing.assert_array_equal(small.y0, np.zeros(6))
    x, y, v = point(small)
    for name, value in all_oracles(small, x, y, v).items():
        in_x = name.endswith(("_x", "_xy"))
        assert value.shape == ((1,) if name.endswith("fun") else (3,) if in_x else (6,)), name


# -- closed forms and constants --------------------------------------------------------------


def test_hypergradient_is_the_implicit_function_formula(small):
    info = small.info
    for seed in range(3):
        x = point(small, seed)[0]
        y = info["y_star"](x)
        assert np.linalg.norm(small.lower_grad_y(x, y)) < 1e-12 * max(1.0, np.linalg.norm(y))
        gx, gy = small.upper_grad(x, y)
        H = hessian_yy(small, x, y)
        implicit = gx - small.lower_hvp_xy(x, y, np.linalg.solve(H, gy))
        assert rel_err(info["phi_grad"](x), implicit) < 1e-10
        assert rel_err(info["z_star"](x), np.linalg.solve(H, gy)) < 1e-10
        assert info["phi"](x) == pytest.approx(small.upper_fun(x, y), rel=1e-12)
        assert rel_err(info["phi_grad"](x), central_grad(info["phi"], x)) < 1e-7


def test_x_opt_is_the_stationary_minimizer(small, medium):
    for p in (small, medium):
        x_opt, phi = p.info["x_opt"], p.info["phi"]
        scale = np.linalg.norm(p.info["phi_grad"](p.x0))
        assert np.linalg.norm(p.info["phi_grad"](x_opt)) < 1e-12 * max(scale, 1.0)
        assert p.f_opt == phi(x_opt)
        rng = np.random.default_rng(0)
        for _ in range(5):  # Φ is a strongly convex quadratic: x_opt is its minimizer
            assert phi(x_opt + 1e-3 * rng.standard_normal(p.n)) > p.f_opt


def test_constants_are_the_extreme_eigenvalues(small):
    info = small.info
    A, C, mu = info["A"], info["C"], 0.1
    eigs = np.linalg.eigvalsh(A.T @ A / A.shape[0] + mu * np.eye(small.m))
    assert small.lower_strong_convexity == pytest.approx(eigs[0], rel=1e-12)
    assert small.lower_smoothness == pytest.approx(eigs[-1], rel=1e-12)
    assert small.lower_strong_convexity == pytest.approx(mu, rel=1e-10)  # exactly μ
    assert small.upper_smoothness == pytest.approx(
        np.linalg.eigvalsh(C.T @ C / C.shape[0])[-1], rel=1e-12)
    H = hessian_yy(small, *point(small)[:2])
    np.testing.assert_allclose(H, A.T @ A / A.shape[0] + mu * np.eye(small.m), atol=1e-14)


def test_default_instance_is_the_benchmark_size():
    p = quadratic_finite_sum()
    assert (p.n, p.m, p.name) == (10, 100, "quadratic-finite-sum")
    assert p.info["A"].shape == (2000, 100) and p.info["B"].shape == (2000, 10)
    assert p.info["C"].shape == (2000, 100) and p.info["t"].shape == (2000,)
    assert p.lower_strong_convexity == pytest.approx(0.1, rel=1e-10)
    assert 1.0 < p.lower_smoothness < 1.5  # moderate: κ ≈ 12
    assert not p.info["A"].flags.writeable


# -- mini-batches -------------------------------------------------------------------------------


def test_samplers_are_unbiased(small):
    # the mean of many mini-batch oracles tends to the full oracle: each entry within 5
    # standard errors; the batches do vary (a real finite sum, not a constant)
    x, y, v = point(small, 4)
    full = all_oracles(small, x, y, v)
    rng = np.random.default_rng(7)
    draws = 4000
    lower = [all_oracles(small.sample_lower(3, rng), x, y, v) for _ in range(draws)]
    upper = [all_oracles(small.sample_upper(3, rng), x, y, v) for _ in range(draws)]
    for name in full:
        batches = upper if name.startswith("upper") else lower
        values = np.array([b[name] for b in batches])
        if name == "upper_grad_x":  # reg x: no data in it, exact
            np.testing.assert_array_equal(values, np.broadcast_to(full[name], values.shape))
            continue
        se = values.std(axis=0) / math.sqrt(draws)
        assert np.all(values.std(axis=0) > 1e-3 * np.abs(full[name]).max()), name
        assert np.all(np.abs(values.mean(axis=0) - full[name]) <= 5 * se + 1e-12), name
        # the other level's oracles stay exact
        other = lower if batches is upper else upper
        np.testing.assert_array_equal(other[0][name], full[name])


def test_a_batch_of_every_row_is_the_full_problem(small):
    x, y, v = point(small, 5)
    full = all_oracles(small, x, y, v)
    for sampler, n in ((small.sample_lower, 30), (small.sample_upper, 20)):
        batch = sampler(n, AllRows(n))
        assert batch.sample_lower is None and batch.sample_upper is None
        for name, value in all_oracles(batch, x, y, v).items():
            np.testing.assert_allclose(value, full[name], rtol=1e-12, atol=1e-14)


def test_sampling_follows_the_generator(small):
    x, y, _ = point(small)
    a = small.sample_lower(4, np.random.default_rng(11)).lower_grad_y(x, y)
    b = small.sample_lower(4, np.random.default_rng(11)).lower_grad_y(x, y)
    c = small.sample_lower(4, np.random.default_rng(12)).lower_grad_y(x, y)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # rows drawn uniformly from all n (with replacement), batch_size of them
    calls = []

    class Recorder:
        def __init__(self, seed):
            self.rng = np.random.default_rng(seed)

        def integers(self, *args, **kwargs):
            calls.append((args, kwargs))
            return self.rng.integers(*args, **kwargs)

    small.sample_lower(4, Recorder(0))
    small.sample_upper(6, Recorder(0))
    assert calls == [((0, 30), {"size": 4}), ((0, 20), {"size": 6})]
    # a one-row batch is that row's term: idx from rng.integers(0, n, size=1)
    i = np.random.default_rng(13).integers(0, 30, size=1)
    A, B = small.info["A"][i], small.info["B"][i]
    expected = A.T @ (A @ y - B @ x) + 0.1 * y
    np.testing.assert_allclose(small.sample_lower(1, np.random.default_rng(13))
                               .lower_grad_y(x, y), expected, rtol=1e-12)


# -- data, arguments, catalog ---------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data():
    kw = {"dim_inner": 8, "dim_outer": 3, "n_train": 40, "n_val": 30}
    a, b, c = (quadratic_finite_sum(**kw, seed=s) for s in (4, 4, 5))
    for key in ("A", "B", "C", "t", "x_opt", "x_true"):
        np.testing.assert_array_equal(a.info[key], b.info[key])
        assert not np.allclose(a.info[key], c.info[key]), key
    assert a.f_opt == b.f_opt != c.f_opt


@pytest.mark.parametrize("kwargs", [
    {"dim_inner": 0}, {"dim_outer": 1.5}, {"n_train": 0}, {"n_val": "10"}, {"mu": 0.0},
    {"mu": -1.0}, {"mu": math.inf}, {"reg": -1e-3}, {"reg": math.nan}, {"noise": -0.1},
    {"mu": True},
])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        quadratic_finite_sum(**{"dim_inner": 4, "dim_outer": 2, "n_train": 10, "n_val": 10,
                                **kwargs})


@pytest.mark.parametrize("batch_size", [0, 2.5, -3])
def test_invalid_batch_size_raises(small, batch_size):
    rng = np.random.default_rng(0)
    for sampler in (small.sample_lower, small.sample_upper):
        with pytest.raises(ValueError, match="batch_size"):
            sampler(batch_size, rng)


def test_catalog_entry():
    p = problems.get("quadratic-finite-sum", dim_inner=5, dim_outer=2, n_train=10, n_val=10)
    assert isinstance(p, BilevelProblem) and (p.n, p.m) == (2, 5)
    assert p.name == "quadratic-finite-sum-5x2"
    rows = {row["name"]: row for row in problems.catalog()}
    assert rows["quadratic-finite-sum"]["kind"] == "bilevel"


# -- short runs ---------------------------------------------------------------------------------


def test_noise_free_soba_reaches_the_stationary_point(medium):
    L = medium.lower_smoothness
    g0 = np.linalg.norm(medium.info["phi_grad"](medium.x0))
    res = optkit.minimize(medium, method="soba", options={"maxiter": 400, "eta": 0.5,
                                                          "alpha": 1 / L, "nu": 1 / L})
    assert res.history["phi_grad_norm"][-1] < 1e-8 * g0
    assert res.lower_nhev == 2 * 400 and res.njev == 400


def test_mini_batch_bo_rep_lowers_the_hypergradient(medium):
    # row-sampled batches of 16: ‖∇Φ‖ falls 20-fold in 1000 normalized steps of length 3e-3
    L = medium.lower_smoothness
    g0 = np.linalg.norm(medium.info["phi_grad"](medium.x0))
    for seed in (0, 1):
        res = optkit.minimize(medium, method="bo-rep", options={
            "maxiter": 1000, "eta": 3e-3, "alpha": 1 / L, "nu": 1 / L, "batch_size": 16,
            "seed": seed})
        g = np.asarray(res.history["phi_grad_norm"])
        assert g[0] == pytest.approx(g0) and np.mean(g[-50:]) < 0.05 * g0
        assert res.lower_njev == 240 + 3 * 500  # the refinement, then 3 steps every 2
