"""The Poisson systems of ``problems.linear_systems``: assembly (against a slow loop), the DCDM
spec's oracle 7 (symmetry, row sums, definiteness, matrix-free == sparse), right-hand sides,
the singular closed box, obstacles and the catalog entries."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import problems
from optkit import LinearSystem
from problems.linear_systems import (
    AIR,
    FLUID,
    SOLID,
    fill_pockets,
    flags_box,
    fluid_block,
    poisson_2d,
    poisson_3d,
    poisson_flags,
    poisson_matrix,
    poisson_operator,
    poisson_system,
    random_obstacles,
    rhs,
)

CATALOG = ["poisson-2d", "poisson-2d-obstacles", "poisson-3d"]


def random_flags(shape, seed, p=(0.7, 0.2, 0.1)):
    """Flags drawn cell by cell (fluid, solid, air with probabilities ``p``): every case of
    neighbours, air inside the grid included."""
    return np.random.default_rng(seed).choice([FLUID, SOLID, AIR], size=shape, p=p).astype(
        np.int8)


def reference_matrix(flags, outside):
    """The spec's assembly loop, cell by cell, dense."""
    shape, n = flags.shape, flags.size
    A = np.zeros((n, n))
    for cell in np.ndindex(shape):
        if flags[cell] != FLUID:
            continue
        i = np.ravel_multi_index(cell, shape)
        for axis in range(flags.ndim):
            for step in (-1, 1):
                nb = list(cell)
                nb[axis] += step
                if 0 <= nb[axis] < shape[axis]:
                    flag, j = flags[tuple(nb)], np.ravel_multi_index(nb, shape)
                else:
                    flag, j = outside, None
                if flag == SOLID:
                    continue
                A[i, i] += 1
                if flag == FLUID:
                    A[i, j] = -1
    return A


def air_neighbours(flags, outside):
    """For each cell, its number of air neighbours (faces to the outside count as ``outside``)."""
    padded = np.pad(flags, 1, constant_values=outside)
    count = np.zeros(flags.shape, dtype=int)
    for axis in range(flags.ndim):
        for step in (-1, 1):
            window = [slice(1, s + 1) for s in flags.shape]
            window[axis] = slice(1 + step, flags.shape[axis] + 1 + step)
            count += padded[tuple(window)] == AIR
    return count.ravel()


#: Small grids of every kind: random flags, boxes, obstacles; 2-D and 3-D.
GRIDS = {
    "random-2d": random_flags((7, 6), 0),
    "random-3d": random_flags((5, 4, 6), 1),
    "box-2d": flags_box((6, 5)),
    "closed-3d": flags_box((4, 5, 3), top="fluid"),
    "obstacles-2d": random_obstacles(flags_box((24, 20)), 4, rng=2),
    "obstacles-3d": random_obstacles(flags_box((10, 12, 9)), 3, rng=3),
}
SMALL = ["random-2d", "random-3d", "box-2d", "closed-3d"]


# -- assembly ----------------------------------------------------------------------------------


@pytest.mark.parametrize("outside", [SOLID, AIR])
@pytest.mark.parametrize("grid", SMALL)
def test_vectorized_assembly_equals_the_reference_loop(grid, outside):
    flags = GRIDS[grid]
    A = poisson_matrix(flags, outside)
    assert isinstance(A, sp.csr_matrix) and A.dtype == np.float64
    assert A.shape == (flags.size, flags.size) and A.has_sorted_indices
    np.testing.assert_array_equal(A.toarray(), reference_matrix(flags, outside))
    assert np.all(A.data != 0)  # no explicit zeros


@pytest.mark.parametrize("outside", [SOLID, AIR, "solid", "air"])
@pytest.mark.parametrize("grid", list(GRIDS))
def test_symmetric_row_sums_and_empty_non_fluid_rows(grid, outside):
    """Oracle 7: symmetric; a fluid row sums to its number of air neighbours (0 without);
    rows and columns of non-fluid cells are empty."""
    flags = GRIDS[grid]
    A = poisson_matrix(flags, outside)
    assert abs(A - A.T).max() == 0
    flag_out = SOLID if outside in (SOLID, "solid") else AIR
    fluid = flags.ravel() == FLUID
    row_sums = np.asarray(A.sum(axis=1)).ravel()
    np.testing.assert_array_equal(row_sums[fluid], air_neighbours(flags, flag_out)[fluid])
    non_fluid = np.flatnonzero(~fluid)
    assert A[non_fluid].nnz == 0 and A[:, non_fluid].nnz == 0
    # the diagonal dominates: the off-diagonals are -1 between fluid neighbours only
    off = A - sp.diags(A.diagonal())
    assert set(np.unique(off.data)) <= {-1.0}
    assert np.all(np.asarray(abs(off).sum(axis=1)).ravel() <= A.diagonal())


@pytest.mark.parametrize("shape", [(12, 12), (9, 14), (6, 6, 6), (5, 7, 4)])
def test_fluid_block_is_positive_definite_with_air_on_top(shape):
    """Oracle 7: with the top layer air (closed walls), Cholesky of the fluid block succeeds."""
    flags = flags_box(shape)
    A_fluid, cells = fluid_block(poisson_matrix(flags), flags)
    assert A_fluid.shape == (flags.size - flags[0].size,) * 2
    np.testing.assert_array_equal(cells, np.flatnonzero(flags.ravel() == FLUID))
    scipy.linalg.cholesky(A_fluid.toarray())  # raises LinAlgError unless positive definite
    assert np.linalg.eigvalsh(A_fluid.toarray()).min() > 1e-6


@pytest.mark.parametrize("grid", ["obstacles-2d", "obstacles-3d", "random-2d", "random-3d"])
def test_fluid_block_is_positive_definite_once_pockets_are_filled(grid):
    flags = fill_pockets(GRIDS[grid])
    A_fluid, _ = fluid_block(poisson_matrix(flags), flags)
    scipy.linalg.cholesky(A_fluid.toarray())


def test_fluid_block_keeps_the_matrix_class_and_checks_its_input():
    flags = flags_box((5, 5))
    A = poisson_matrix(flags)
    assert isinstance(fluid_block(sp.csr_array(A), flags)[0], sp.csr_array)
    np.testing.assert_array_equal(fluid_block(A.toarray(), flags)[0].toarray(),
                                  fluid_block(A, flags)[0].toarray())
    with pytest.raises(TypeError, match="LinearOperator"):
        fluid_block(poisson_operator(flags), flags)
    with pytest.raises(ValueError, match="25 cells"):
        fluid_block(poisson_matrix(flags_box((4, 4))), flags)


# -- matrix-free -------------------------------------------------------------------------------


@pytest.mark.parametrize("outside", [SOLID, AIR])
@pytest.mark.parametrize("grid", list(GRIDS))
def test_matrix_free_equals_sparse(grid, outside):
    """Oracle 7: matrix-free == sparse, exactly on integer vectors (exact arithmetic) and to
    rounding on Gaussian ones; matmat and rmatvec too."""
    flags = GRIDS[grid]
    A = poisson_matrix(flags, outside)
    op = poisson_operator(flags, outside)
    assert isinstance(op, spla.LinearOperator)
    assert op.shape == A.shape and op.dtype == np.float64
    rng = np.random.default_rng(4)
    n = flags.size
    for _ in range(3):
        x = rng.integers(-1000, 1000, size=n).astype(float)
        np.testing.assert_array_equal(op @ x, A @ x)
        np.testing.assert_array_equal(op.rmatvec(x), A @ x)
    x = rng.standard_normal(n)
    np.testing.assert_allclose(op @ x, A @ x, rtol=0, atol=1e-13)
    X = rng.standard_normal((n, 3))
    np.testing.assert_allclose(op @ X, A @ X, rtol=0, atol=1e-13)
    np.testing.assert_allclose(op.matvec(x[:, None]), (A @ x)[:, None], rtol=0, atol=1e-13)
    assert (op @ np.arange(n)).dtype == np.float64  # integer input, float output


# -- right-hand sides --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gaussian", "smooth", "solution"])
@pytest.mark.parametrize("grid", list(GRIDS))
def test_rhs_is_unit_norm_and_zero_off_the_fluid(grid, kind):
    flags = GRIDS[grid]
    b, x_true = rhs(flags, kind, rng=5)
    assert b.shape == (flags.size,)
    assert np.linalg.norm(b) == pytest.approx(1.0, abs=1e-12)
    assert np.all(b[flags.ravel() != FLUID] == 0)
    again, _ = rhs(flags, kind, rng=5)
    np.testing.assert_array_equal(b, again)  # seeded
    assert not np.array_equal(b, rhs(flags, kind, rng=6)[0])
    if kind == "solution":
        assert np.all(x_true[flags.ravel() != FLUID] == 0)
        np.testing.assert_allclose(poisson_matrix(flags) @ x_true, b, atol=1e-14)
    else:
        assert x_true is None


def test_smooth_rhs_is_smoother_than_gaussian():
    flags = flags_box((48, 48))
    def roughness(b):
        g = b.reshape(flags.shape)[1:]
        return np.abs(np.diff(g, axis=0)).sum() + np.abs(np.diff(g, axis=1)).sum()

    smooth, _ = rhs(flags, "smooth", rng=0)
    noise, _ = rhs(flags, "gaussian", rng=0)
    assert roughness(smooth) < 0.2 * roughness(noise)


def _split_box():
    """A closed 3-D box cut in two by a solid wall, plus a sealed single fluid cell: three
    singular fluid components."""
    flags = flags_box((6, 8, 7), top="fluid")
    flags[:, 3, :] = SOLID
    flags[2, 5, 2:5] = SOLID
    flags[2, 6, 2:5:2] = SOLID
    flags[2, 7, 3] = SOLID
    flags[1, 6, 3] = SOLID
    flags[3, 6, 3] = SOLID  # cell (2, 6, 3) is isolated
    return flags


@pytest.mark.parametrize("kind", ["gaussian", "smooth", "solution"])
@pytest.mark.parametrize("flags", [flags_box((10, 12), top="fluid"), _split_box()],
                         ids=["closed-2d", "split-3d"])
def test_closed_box_rhs_is_orthogonal_to_the_null_space(flags, kind):
    """All walls solid, no air: the fluid block is singular with the constants of each
    component in its null space; b is orthogonal to them and CG converges."""
    from scipy.sparse.csgraph import connected_components

    A = poisson_matrix(flags)
    A_fluid, cells = fluid_block(A, flags)
    n_comp, labels = connected_components(A_fluid, directed=False)
    assert n_comp == (1 if flags.ndim == 2 else 3)
    for c in range(n_comp):
        ones = (labels == c).astype(float)
        np.testing.assert_array_equal(A_fluid @ ones, 0)
    assert np.linalg.eigvalsh(A_fluid.toarray()).min() < 1e-10
    b, x_true = rhs(flags, kind, rng=7)
    for c in range(n_comp):
        assert abs(b[cells][labels == c].sum()) < 1e-13
    x, info = spla.cg(A, b, rtol=1e-10, maxiter=2000)
    assert info == 0
    assert np.linalg.norm(A @ x - b) < 1e-9
    if kind == "solution":  # CG from 0 finds the minimum-norm solution, x_true
        np.testing.assert_allclose(x, x_true, atol=1e-7)


def test_rhs_demeans_only_components_without_air():
    flags = flags_box((10, 10))
    flags[5, :] = SOLID  # the lower half is sealed from the air
    b, _ = rhs(flags, "gaussian", rng=0)
    grid = b.reshape(flags.shape)
    assert abs(grid[6:].sum()) < 1e-13
    assert abs(grid[1:5].sum()) > 1e-3


# -- obstacles and flags -----------------------------------------------------------------------


def test_flags_box():
    flags = flags_box((4, 5, 6))
    assert flags.dtype == np.int8 and flags.shape == (4, 5, 6)
    assert np.all(flags[0] == AIR) and np.all(flags[1:] == FLUID)
    assert np.all(flags_box((3, 3), top="fluid") == FLUID)
    assert np.all(flags_box((3, 3), top=SOLID)[0] == SOLID)
    assert (FLUID, SOLID, AIR) == (0, 1, 2)


def test_random_obstacles_are_seeded_and_only_cover_fluid():
    base = flags_box((32, 32))
    before = base.copy()
    a = random_obstacles(base, 5, rng=11)
    np.testing.assert_array_equal(base, before)  # not modified
    np.testing.assert_array_equal(a, random_obstacles(base, 5, rng=11))
    np.testing.assert_array_equal(a, random_obstacles(base, 5, rng=np.random.default_rng(11)))
    assert not np.array_equal(a, random_obstacles(base, 5, rng=12))
    assert np.all(a[0] == AIR)  # air is kept
    assert set(np.unique(a[1:])) == {FLUID, SOLID}
    np.testing.assert_array_equal(random_obstacles(base, 0, rng=1), base)
    a3 = random_obstacles(flags_box((16, 16, 16)), 3, rng=1)
    assert a3.shape == (16, 16, 16) and (a3 == SOLID).sum() > 0


@pytest.mark.parametrize("shape", [(40, 30), (20, 24, 18)])
def test_random_obstacles_follow_the_documented_draws(shape):
    """One obstacle per seed: the solid cells are exactly the documented disc/square (sphere/
    box), and they fit in a box of side 2 r + 1 with r within the radius bounds."""
    radius = (2.0, 5.0)
    centres = [c + 0.5 for c in np.ogrid[tuple(slice(0, s) for s in shape)]]
    shapes_seen = set()
    for seed in range(12):
        flags = random_obstacles(np.zeros(shape, dtype=np.int8), 1, rng=seed, radius=radius)
        gen = np.random.default_rng(seed)
        c, r, kind = gen.uniform(0.0, shape), gen.uniform(*radius), int(gen.integers(2))
        assert np.all((0 <= c) & (c < shape)) and radius[0] <= r <= radius[1]
        if kind == 0:
            inside = sum((x - ci) ** 2 for x, ci in zip(centres, c, strict=True)) <= r * r
        else:
            near = [np.abs(x - ci) <= r for x, ci in zip(centres, c, strict=True)]
            inside = np.all(np.broadcast_arrays(*near), axis=0)
        np.testing.assert_array_equal(flags == SOLID, inside)
        solid = np.argwhere(flags == SOLID)
        if solid.size:
            assert np.all(solid.max(axis=0) - solid.min(axis=0) + 1 <= 2 * radius[1] + 1)
        shapes_seen.add(kind)
    assert shapes_seen == {0, 1}


def test_fill_pockets():
    flags = flags_box((10, 10))
    flags[5, :] = SOLID
    filled = fill_pockets(flags)
    assert np.all(filled[6:] == SOLID) and np.all(filled[1:5] == FLUID)
    np.testing.assert_array_equal(fill_pockets(flags, outside=AIR), flags)  # open walls
    closed = flags_box((6, 6), top="fluid")
    np.testing.assert_array_equal(fill_pockets(closed), closed)  # no air at all: unchanged


def test_input_checks():
    with pytest.raises(ValueError, match="flags must hold only"):
        poisson_matrix(np.full((3, 3), 3))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        poisson_matrix(np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="integer"):
        poisson_matrix(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="outside must be one of"):
        poisson_matrix(flags_box((3, 3)), outside=FLUID)
    with pytest.raises(ValueError, match="outside must be one of"):
        poisson_operator(flags_box((3, 3)), outside="wall")
    with pytest.raises(ValueError, match="rhs kind"):
        rhs(flags_box((3, 3)), "noise")
    with pytest.raises(ValueError, match="zero"):
        rhs(np.full((4, 4), SOLID), rng=0)
    with pytest.raises(ValueError, match="shape"):
        flags_box((3, 3, 3, 3))
    with pytest.raises(ValueError, match="top"):
        flags_box((3, 3), top="smoke")
    with pytest.raises(ValueError, match="radius"):
        random_obstacles(flags_box((8, 8)), 1, rng=0, radius=(3, 2))
    with pytest.raises(ValueError, match="n_obstacles"):
        random_obstacles(flags_box((8, 8)), -1)
    with pytest.raises(ValueError, match="pockets"):
        poisson_flags((8, 8), pockets="drain")
    with pytest.raises(ValueError, match="n must be"):
        poisson_2d(n=2)


# -- systems and the catalog -------------------------------------------------------------------


@pytest.mark.parametrize("name", CATALOG)
def test_catalog_entries_build(name):
    rows = {row["name"]: row for row in problems.catalog()}
    assert rows[name]["kind"] == "linear-system" and rows[name]["summary"]
    system = problems.get(name)
    assert isinstance(system, LinearSystem)
    d = 3 if name.endswith("3d") else 2
    side = 32 if d == 3 else 64
    flags = poisson_flags((side,) * d, obstacles=6 if "obstacles" in name else 0)
    assert system.grid_shape == flags.shape == (side,) * d
    assert system.n == flags.size and np.all(system.x0 == 0)
    assert (system.A != poisson_matrix(flags)).nnz == 0
    assert np.linalg.norm(system.b) == pytest.approx(1.0)
    assert np.all(system.b[flags.ravel() != FLUID] == 0)
    if "obstacles" in name:
        assert 0 < (flags == SOLID).sum() < flags.size // 4
    A_fluid, _ = fluid_block(system.A, flags)
    assert A_fluid.diagonal().min() > 0
    assert np.asarray(A_fluid.sum(axis=1)).max() > 0  # touches air


def test_cg_solves_the_catalog_2d_system():
    system = problems.get("poisson-2d-obstacles")
    x, info = spla.cg(system.A, system.b, rtol=1e-8, maxiter=2000)
    assert info == 0 and np.linalg.norm(system.A @ x - system.b) < 1e-7


def test_builders_options():
    s = poisson_2d(16, obstacles=2, rhs="solution", seed=3)
    assert s.x_true is not None and s.grid_shape == (16, 16)
    np.testing.assert_allclose(s.A @ s.x_true, s.b, atol=1e-14)
    again = poisson_2d(16, obstacles=2, rhs="solution", seed=3)
    np.testing.assert_array_equal(s.b, again.b)
    free = poisson_3d(6, rhs="smooth", matrix_free=True)
    assert isinstance(free.A, spla.LinearOperator) and free.grid_shape == (6, 6, 6)
    sparse = poisson_3d(6, rhs="smooth")
    np.testing.assert_array_equal(free.b, sparse.b)
    x = np.random.default_rng(0).integers(-9, 9, 216).astype(float)
    np.testing.assert_array_equal(free.A @ x, sparse.A @ x)
    closed = poisson_2d(12, top="fluid")  # singular: b de-meaned
    assert abs(closed.b.sum()) < 1e-13
    open_walls = poisson_system(flags_box((8, 8), top="fluid"), outside="air", rng=0)
    A_fluid, _ = fluid_block(open_walls.A, np.zeros((8, 8), dtype=int))
    scipy.linalg.cholesky(A_fluid.toarray())
    assert s.name == "poisson-2d-16-obstacles2" and sparse.name == "poisson-3d-6"
    assert s.as_quadratic().n == 256
