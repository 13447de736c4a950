"""optkit.prox against the definitions: each proximal operator is the minimizer of its
objective (checked entry by entry by a 1-D minimization: a fine grid, then
scipy.optimize.minimize_scalar), each projection the nearest point of its set."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from optkit.prox import project_box, project_nonneg, prox_l1, soft_threshold

POINTS = np.array([-3.0, -1.2, -1.0, -0.4, 0.0, 0.3, 0.999, 1.0, 1.7, 5.0])


def _prox_objective(z, x, t, nonneg):
    """``t |z| + (z - x)² / 2`` (``+ inf`` for ``z < 0`` with ``nonneg``)."""
    if nonneg and z < 0:
        return np.inf
    return t * abs(z) + 0.5 * (z - x) ** 2


def _brute_prox(x, t, nonneg=False):
    """The minimizer of the 1-D prox objective: the best point of a grid with spacing 1e-3
    around ``x``, refined by a bounded scalar minimization on the grid cell around it."""
    lo = 0.0 if nonneg else x - t - 1.0
    grid = np.linspace(lo, abs(x) + t + 1.0, 20_001)
    values = t * np.abs(grid) + 0.5 * (grid - x) ** 2
    best = grid[np.argmin(values)]
    step = grid[1] - grid[0]
    low = max(best - step, lo)
    res = minimize_scalar(_prox_objective, bounds=(low, best + step), args=(x, t, nonneg),
                          method="bounded", options={"xatol": 1e-12})
    return res.x


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 2.5])
@pytest.mark.parametrize("nonneg", [False, True])
def test_prox_l1_minimizes_its_objective(t, nonneg):
    z = prox_l1(POINTS, t, nonneg=nonneg)
    assert z.shape == POINTS.shape
    for x, zi in zip(POINTS, z, strict=True):
        brute = _brute_prox(x, t, nonneg)
        assert zi == pytest.approx(brute, abs=1e-7)
        # and nothing near it does better
        for dz in (-1e-4, 1e-4):
            assert _prox_objective(zi, x, t, nonneg) <= _prox_objective(zi + dz, x, t, nonneg)


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0, 2.5])
def test_soft_threshold_is_the_prox_of_the_l1_norm(t):
    z = soft_threshold(POINTS, t)
    np.testing.assert_array_equal(z, prox_l1(POINTS, t))
    for x, zi in zip(POINTS, z, strict=True):
        assert zi == pytest.approx(_brute_prox(x, t), abs=1e-7)
    # the closed form: zero inside [-t, t], shifted by t towards 0 outside
    np.testing.assert_array_equal(z[np.abs(POINTS) <= t], 0.0)
    out = np.abs(POINTS) > t
    np.testing.assert_allclose(z[out], POINTS[out] - t * np.sign(POINTS[out]), rtol=0, atol=0)


def test_soft_threshold_broadcasts_an_array_of_thresholds():
    x = np.array([[2.0, -2.0, 0.5], [3.0, 1.0, -4.0]])
    t = np.array([1.0, 3.0, 0.25])  # one threshold per column
    z = soft_threshold(x, t)
    assert z.shape == x.shape
    for (i, j), zij in np.ndenumerate(z):
        assert zij == pytest.approx(_brute_prox(x[i, j], t[j]), abs=1e-7)
    w = prox_l1(x, t, nonneg=True)
    for (i, j), wij in np.ndenumerate(w):
        assert wij == pytest.approx(_brute_prox(x[i, j], t[j], nonneg=True), abs=1e-7)


def test_scalars_and_inputs_left_alone():
    assert float(soft_threshold(-3.0, 1.0)) == -2.0
    assert float(prox_l1(-3.0, 1.0, nonneg=True)) == 0.0
    x = POINTS.copy()
    for out in (soft_threshold(x, 1.0), prox_l1(x, 1.0, nonneg=True), project_nonneg(x),
                project_box(x, -1.0, 1.0)):
        assert not np.shares_memory(out, x)
    np.testing.assert_array_equal(x, POINTS)


def test_project_nonneg_is_the_nearest_nonnegative_point():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    p = project_nonneg(x)
    assert np.all(p >= 0)
    np.testing.assert_array_equal(p[x >= 0], x[x >= 0])  # points of the set stay
    np.testing.assert_array_equal(p[x < 0], 0.0)
    # the definition: no point of the set is nearer (random candidates)
    candidates = np.abs(rng.standard_normal((2000, 50))) * rng.integers(0, 2, (2000, 50))
    dist = np.linalg.norm(candidates - x, axis=1)
    assert np.linalg.norm(p - x) <= dist.min()
    # the variational inequality of a projection: (x - p)·(c - p) <= 0 for c in the set
    assert np.all((candidates - p) @ (x - p) <= 1e-12)


def test_project_box_is_the_nearest_point_of_the_box():
    rng = np.random.default_rng(1)
    x = 3.0 * rng.standard_normal(40)
    lower = rng.uniform(-2.0, 0.0, 40)
    upper = lower + rng.uniform(0.0, 2.0, 40)
    lower[0], upper[1] = -np.inf, np.inf  # open sides
    p = project_box(x, lower, upper)
    assert np.all((lower <= p) & (p <= upper))
    inside = (lower <= x) & (x <= upper)
    np.testing.assert_array_equal(p[inside], x[inside])
    # coordinate by coordinate, the brute-force nearest point of [lower_i, upper_i]
    for i in range(x.size):
        lo = max(lower[i], x[i] - 10.0)
        hi = min(upper[i], x[i] + 10.0)
        grid = np.linspace(lo, hi, 10_001)
        best = grid[np.argmin(np.abs(grid - x[i]))]
        assert p[i] == pytest.approx(best, abs=(hi - lo) / 10_000)
    # the variational inequality over random points of the box
    width = np.where(np.isfinite(upper - lower), upper - lower, 5.0)
    base = np.where(np.isfinite(lower), lower, upper - width)
    candidates = base + width * rng.uniform(size=(2000, 40))
    assert np.all((candidates - p) @ (x - p) <= 1e-12)


def test_project_box_with_scalar_bounds_and_a_degenerate_box():
    x = np.array([-5.0, 0.2, 7.0])
    np.testing.assert_array_equal(project_box(x, -1.0, 1.0), [-1.0, 0.2, 1.0])
    np.testing.assert_array_equal(project_box(x, 0.5, 0.5), [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(project_box(x, -np.inf, np.inf), x)
