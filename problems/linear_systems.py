r"""Poisson linear systems on regular grids of fluid, solid and air cells (pressure projection).

The test problems of the Deep Conjugate Direction Method paper (Kaneda et al., ICML 2023): the
finite-difference pressure Poisson equation of an incompressible fluid solver on a 2-D or 3-D
grid, assembled at full grid size as the reference code does. Every builder returns an
:class:`optkit.LinearSystem` with ``grid_shape`` set and ``x0 = 0``; the catalog entries have
kind ``"linear-system"``: ``poisson-2d`` (64 x 64), ``poisson-2d-obstacles`` (64 x 64, six random
obstacles) and ``poisson-3d`` (32³).

**Cells.** A grid of cell flags (an ``int8`` array of 2 or 3 dimensions): :data:`FLUID` ``= 0``
(an unknown pressure), :data:`SOLID` ``= 1`` (a wall or obstacle: closed faces, Neumann) and
:data:`AIR` ``= 2`` (empty space: pressure ``0``, Dirichlet). What lies *outside* the grid is not
stored in the flags: it is the ``outside`` argument of the assembly, :data:`SOLID` (a closed box,
the default) or :data:`AIR` (an open boundary). :func:`flags_box` marks the top layer (index 0
along axis 0, the top row of a 2-D array as printed or shown by ``imshow``) as air or not.

**The matrix** (positive-definite sign convention, ``A = -Laplacian · h²``): for each fluid cell
``i`` and each of its ``2d`` axis neighbours ``j`` (a cell outside the grid has the flag
``outside``)::

    SOLID  -> nothing                      (the face is closed)
    AIR    -> A[i, i] += 1                 (the ghost pressure is 0)
    FLUID  -> A[i, i] += 1, A[i, j] = -1

Unknown ``i`` is the cell ``np.unravel_index(i, shape)`` (C order). Rows and columns of non-fluid
cells are all zero (full-grid storage, ``n = prod(shape)``); :func:`fluid_block` extracts the
fluid-only matrix ``A[fluid][:, fluid]`` for direct solvers, incomplete Cholesky or AMG.
:func:`poisson_matrix` assembles the sparse matrix, :func:`poisson_operator` applies the same
stencil matrix-free.

**Definiteness.** The full-grid ``A`` is symmetric positive *semi*-definite and singular as soon as
the grid has a non-fluid cell (its row and column are zero); ``b`` is zero there, so the system
is consistent and those entries of a solution are arbitrary (zero for CG from ``x0 = 0``). On the
fluid cells, ``A`` is positive definite on every connected fluid component that touches air (or
the open outside); a component that touches no air (a closed box, a pocket sealed by
obstacles) has the constants in its null space. :func:`rhs` then removes the mean of ``b`` over
that component, so the system stays consistent; :func:`fill_pockets` instead turns such
components solid. The two recipes of the paper:

- smoke in a box: ``flags_box(shape)`` (top layer air) with ``outside=SOLID``: the fluid block is
  positive definite (after :func:`fill_pockets` when there are obstacles);
- closed box: ``flags_box(shape, top="fluid")`` with ``outside=SOLID``: one singular component,
  ``b`` de-meaned.

References
----------
.. [1] A. Kaneda, O. Akar, J. Chen, V. A. Trevino Kala, D. Hyde, J. Teran, "A Deep Conjugate
   Direction Method for Iteratively Solving Linear Systems", ICML 2023, PMLR 202.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components

from optkit.poisson import AIR, FLUID, SOLID, check_flags, flag, poisson_matrix, stencil
from optkit.problem import LinearSystem
from problems._catalog import entry
from problems._common import check_int

__all__ = [
    "FLUID",
    "SOLID",
    "AIR",
    "flags_box",
    "random_obstacles",
    "fill_pockets",
    "poisson_matrix",
    "poisson_operator",
    "fluid_block",
    "rhs",
    "poisson_flags",
    "poisson_system",
    "poisson_2d",
    "poisson_3d",
]

Array = NDArray[np.float64]

_RHS_KINDS = ("gaussian", "smooth", "solution")


# -- input checks ------------------------------------------------------------------------------


def _check_shape(shape: Any) -> tuple[int, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"shape must be a tuple of 2 or 3 integers, got {shape!r}") from None
    if len(dims) not in (2, 3):
        raise ValueError(f"shape must have 2 or 3 entries, got {shape!r}")
    return tuple(check_int("every entry of shape", s, 2) for s in dims)


def _check_kind(kind: Any) -> str:
    if kind not in _RHS_KINDS:
        raise ValueError(f"rhs kind must be one of {_RHS_KINDS}, got {kind!r}")
    return kind


# -- grids of flags ----------------------------------------------------------------------------


def flags_box(shape: tuple[int, ...], *, top: int | str = "air") -> NDArray[np.int8]:
    """The flags of a box of fluid whose top layer is air (or fluid, or solid).

    Parameters
    ----------
    shape : tuple of 2 or 3 int
        The grid, each side at least 2.
    top : {"air", "fluid", "solid"} or flag value, default "air"
        The flag of the top layer, ``flags[0]`` (index 0 along axis 0). ``"air"`` gives the
        smoke-in-a-box problem (with ``outside=SOLID`` in the assembly, the fluid block is
        positive definite); ``"fluid"`` a box with no air (closed when ``outside=SOLID``: the
        constants are in the null space and :func:`rhs` de-means ``b``).

    Returns
    -------
    ndarray of int8
        ``FLUID`` everywhere except the top layer. The walls are not cells: the ``outside``
        argument of :func:`poisson_matrix` says whether they are closed or open.

    Examples
    --------
    >>> from problems.linear_systems import flags_box
    >>> flags_box((3, 4))
    array([[2, 2, 2, 2],
           [0, 0, 0, 0],
           [0, 0, 0, 0]], dtype=int8)
    """
    shape = _check_shape(shape)
    flags = np.full(shape, FLUID, dtype=np.int8)
    flags[0] = flag("top", top, (FLUID, SOLID, AIR))
    return flags


def random_obstacles(
    flags: ArrayLike,
    n_obstacles: int,
    rng: Any = None,
    radius: tuple[float, float] | None = None,
) -> NDArray[np.int8]:
    """``flags`` with random discs and squares (2-D) or spheres and boxes (3-D) made solid.

    Parameters
    ----------
    flags : array_like of int
        A 2-D or 3-D grid of flags (not modified).
    n_obstacles : int
        Number of obstacles (0 or more).
    rng : None, int, Generator or anything :func:`numpy.random.default_rng` accepts
        The random source (an int is a seed).
    radius : (float, float), optional
        Bounds of the radius (half-side of a square or box), in cells. Default
        ``(N/16, N/8)`` with ``N = min(shape)``.

    Returns
    -------
    ndarray of int8
        A copy of ``flags`` where the fluid cells whose centre lies in an obstacle are
        ``SOLID``; air and solid cells are kept.

    Notes
    -----
    Cell ``k`` along an axis has its centre at ``k + 0.5``. For each obstacle in turn the
    generator draws its centre uniformly in the grid (``rng.uniform(0, shape)``), its radius
    ``r`` uniformly between the bounds, and its shape (``rng.integers(2)``: 0 is a disc or
    sphere, ``‖x - c‖₂ ≤ r``, 1 a square or box, ``‖x - c‖_∞ ≤ r``). Obstacles may overlap each
    other and the walls; fluid cells they enclose stay fluid (see :func:`fill_pockets`).

    Examples
    --------
    >>> from problems.linear_systems import SOLID, flags_box, random_obstacles
    >>> flags = random_obstacles(flags_box((32, 32)), 3, rng=0)
    >>> int((flags == SOLID).sum())
    91
    """
    grid = check_flags(flags).copy()
    n_obstacles = check_int("n_obstacles", n_obstacles, 0)
    if radius is None:
        size = min(grid.shape)
        radius = (size / 16, size / 8)
    try:
        r_lo, r_hi = (float(r) for r in radius)
    except (TypeError, ValueError):
        raise ValueError(f"radius must be a pair of numbers, got {radius!r}") from None
    if not (0 < r_lo <= r_hi < math.inf):
        raise ValueError(f"radius must satisfy 0 < low <= high < inf, got {radius!r}")
    gen = np.random.default_rng(rng)
    centres = np.ogrid[tuple(slice(0, s) for s in grid.shape)]
    centres = [c + 0.5 for c in centres]
    fluid = grid == FLUID
    for _ in range(n_obstacles):
        c = gen.uniform(0.0, grid.shape)
        r = gen.uniform(r_lo, r_hi)
        if gen.integers(2) == 0:
            inside = sum((x - ci) ** 2 for x, ci in zip(centres, c, strict=True)) <= r * r
        else:
            inside = np.ones(grid.shape, dtype=bool)
            for x, ci in zip(centres, c, strict=True):
                inside = inside & (np.abs(x - ci) <= r)
        grid[inside & fluid] = SOLID
    return grid


def fill_pockets(flags: ArrayLike, outside: int | str = SOLID) -> NDArray[np.int8]:
    """``flags`` with every fluid component that touches no air made solid.

    Parameters
    ----------
    flags : array_like of int
        A 2-D or 3-D grid of flags (not modified).
    outside : {SOLID, AIR} or {"solid", "air"}, default SOLID
        What lies outside the grid (a closed box or an open boundary).

    Returns
    -------
    ndarray of int8
        A copy of ``flags``. When at least one connected fluid component (axis neighbours)
        has an air neighbour, or an open face to the outside, the fluid cells of the other
        components are ``SOLID``: the fluid block of :func:`poisson_matrix` is then positive
        definite. When none has (a closed box), ``flags`` is returned unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.linear_systems import fill_pockets
    >>> flags = np.array([[2, 2, 2], [0, 1, 0], [1, 0, 1]])   # the bottom cell is sealed
    >>> fill_pockets(flags)
    array([[2, 2, 2],
           [0, 1, 0],
           [1, 1, 1]], dtype=int8)
    """
    grid = check_flags(flags).copy()
    outside = flag("outside", outside, (SOLID, AIR))
    A = poisson_matrix(grid, outside)
    cells = np.flatnonzero(grid.ravel() == FLUID)
    labels, grounded = _fluid_components(A, cells)
    if grounded.any():
        grid.ravel()[cells[~grounded[labels]]] = SOLID
    return grid


# -- assembly ----------------------------------------------------------------------------------


def poisson_operator(flags: ArrayLike, outside: int | str = SOLID) -> spla.LinearOperator:
    """The matrix of :func:`poisson_matrix` as a matrix-free ``LinearOperator``.

    Parameters
    ----------
    flags : array_like of int
        A 2-D or 3-D grid of ``FLUID``, ``SOLID`` and ``AIR`` cells.
    outside : {SOLID, AIR} or {"solid", "air"}, default SOLID
        The flag of the cells outside the grid.

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        ``(n, n)``, float64, symmetric (``rmatvec`` is ``matvec``); applies the stencil to a
        vector or to the columns of a matrix reshaped to the grid (C order), with masks and
        slices (no copies of shifted grids).

    Notes
    -----
    Each row adds its terms in the order of the columns of the CSR matrix (the neighbours
    before the cell, the cell, the neighbours after), so the two agree to the last bit in
    IEEE arithmetic without fused multiply-adds, and exactly for integer-valued vectors
    wherever the arithmetic is exact. Give finite vectors: a masked-out term is multiplied by
    zero, so an ``inf`` or ``NaN`` in a vector spreads further than with the sparse matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.linear_systems import flags_box, poisson_matrix, poisson_operator
    >>> flags = flags_box((5, 6))
    >>> x = np.arange(30.0)
    >>> bool(np.array_equal(poisson_operator(flags) @ x, poisson_matrix(flags) @ x))
    True
    """
    grid = check_flags(flags)
    outside = flag("outside", outside, (SOLID, AIR))
    shape, n = grid.shape, grid.size
    diag, pairs = stencil(grid, outside)
    diag = diag[..., None]
    links = [(lo, hi, np.where(both, -1.0, 0.0)[..., None]) for lo, hi, both in pairs]

    def matmat(X: Array) -> Array:
        X = np.asarray(X, dtype=np.float64)
        G = X.reshape(shape + (-1,))
        Y = np.zeros_like(G)
        for lo, hi, neg in links:  # neighbours before the cell, farthest first
            Y[hi] += neg * G[lo]
        Y += diag * G
        for lo, hi, neg in reversed(links):  # neighbours after the cell, nearest first
            Y[lo] += neg * G[hi]
        return Y.reshape(n, -1)

    def matvec(x: Array) -> Array:
        return matmat(np.reshape(x, (n, 1))).reshape(-1)

    return spla.LinearOperator(
        (n, n), matvec=matvec, rmatvec=matvec, matmat=matmat, rmatmat=matmat, dtype=np.float64
    )


def fluid_block(A: Any, flags: ArrayLike) -> tuple[Any, NDArray[np.intp]]:
    """The fluid-only block ``A[fluid][:, fluid]`` of a full-grid matrix, and its cells.

    Parameters
    ----------
    A : (n, n) sparse matrix or array
        A full-grid matrix, e.g. from :func:`poisson_matrix` or the ``A`` of a catalog system.
    flags : array_like of int
        The grid of flags, ``flags.size == n``.

    Returns
    -------
    A_fluid : sparse matrix
        CSR (of the class of ``A`` when sparse), ``(m, m)`` with ``m`` the number of fluid
        cells: what direct solvers, incomplete Cholesky and AMG need.
    cells : ndarray of int
        The unknowns of the fluid cells, ascending: ``x_full[cells] = x_fluid`` lifts a
        solution back to the grid (zero elsewhere).

    Examples
    --------
    >>> from problems.linear_systems import fluid_block, flags_box, poisson_matrix
    >>> flags = flags_box((4, 4))
    >>> A_fluid, cells = fluid_block(poisson_matrix(flags), flags)
    >>> A_fluid.shape, cells[:3]
    ((12, 12), array([4, 5, 6]))
    """
    if isinstance(A, spla.LinearOperator):
        raise TypeError("fluid_block needs A as a sparse or dense matrix, not a LinearOperator")
    grid = check_flags(flags)
    mat = A.tocsr() if sp.issparse(A) else sp.csr_matrix(np.asarray(A, dtype=float))
    if mat.shape != (grid.size, grid.size):
        raise ValueError(f"A has shape {mat.shape} but flags has {grid.size} cells")
    cells = np.flatnonzero(grid.ravel() == FLUID)
    return mat[cells][:, cells], cells


def _fluid_components(A: Any, cells: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray]:
    """Component labels of the fluid cells ``cells`` (connected through the off-diagonal
    entries of ``A``) and, per component, whether it touches air (a positive row sum)."""
    A_fluid = A.tocsr()[cells][:, cells]
    n_comp, labels = connected_components(A_fluid, directed=False)
    row_sums = np.asarray(A_fluid.sum(axis=1)).reshape(-1)
    grounded = np.bincount(labels, weights=row_sums, minlength=n_comp) > 0.5
    return labels, grounded


def _demean(v: Array, labels: NDArray[np.intp], singular: NDArray) -> Array:
    """``v`` minus its mean over each component ``c`` with ``singular[c]``."""
    counts = np.bincount(labels, minlength=singular.size)
    means = np.bincount(labels, weights=v, minlength=singular.size) / np.maximum(counts, 1)
    return v - np.where(singular, means, 0.0)[labels]


def _smooth_field(shape: tuple[int, ...], rng: np.random.Generator, terms: int = 4) -> Array:
    """A sum of ``terms`` products of low-frequency sines over the grid (cell centres in
    ``(0, 1)`` along each axis)."""
    axes = np.ogrid[tuple(slice(0, s) for s in shape)]
    coords = [(x + 0.5) / s for x, s in zip(axes, shape, strict=True)]
    field = np.zeros(shape)
    for _ in range(terms):
        amplitude = rng.standard_normal()
        freqs = rng.integers(1, 4, size=len(shape))
        phases = rng.uniform(0.0, 2 * np.pi, size=len(shape))
        term = amplitude
        for t, f, phi in zip(coords, freqs, phases, strict=True):
            term = term * np.sin(np.pi * f * t + phi)
        field += term
    return field


def rhs(
    flags: ArrayLike,
    kind: str = "gaussian",
    rng: Any = None,
    *,
    outside: int | str = SOLID,
) -> tuple[Array, Array | None]:
    """A right-hand side for the Poisson system of ``flags``, of unit 2-norm.

    Parameters
    ----------
    flags : array_like of int
        A 2-D or 3-D grid of flags.
    kind : {"gaussian", "smooth", "solution"}, default "gaussian"
        ``"gaussian"``: i.i.d. standard normal on the fluid cells. ``"smooth"``: a sum of four
        products of low-frequency sines (integer frequencies 1 to 3 over the grid, random
        phases and Gaussian amplitudes), like a divergence field. ``"solution"``:
        ``b = A x_true`` for a random ``x_true`` (standard normal on the fluid cells), which
        gives an error oracle.
    rng : None, int, Generator or anything :func:`numpy.random.default_rng` accepts
        The random source.
    outside : {SOLID, AIR} or {"solid", "air"}, default SOLID
        What lies outside the grid (as in :func:`poisson_matrix`).

    Returns
    -------
    b : ndarray, shape (n,)
        Zero at the non-fluid cells, ``‖b‖₂ = 1``, and zero mean over every fluid component
        that touches no air (``b`` is orthogonal to the null space: the system is consistent).
    x_true : ndarray, shape (n,), or None
        For ``"solution"``: the solution ``A x_true = b`` (to rounding) with zero at the
        non-fluid cells and zero mean over the components that touch no air, i.e. the
        minimum-norm solution ``A⁺b``, which CG from ``x0 = 0`` converges to. ``None``
        otherwise.

    Raises
    ------
    ValueError
        If ``b`` would be zero (no fluid cell, or only isolated ones).

    Examples
    --------
    >>> import numpy as np
    >>> from problems.linear_systems import flags_box, poisson_matrix, rhs
    >>> flags = flags_box((8, 8), top="fluid")            # a closed box: A is singular
    >>> b, _ = rhs(flags, "smooth", rng=0)
    >>> round(float(np.linalg.norm(b)), 12), abs(float(b.sum())) < 1e-12
    (1.0, True)
    """
    grid = check_flags(flags)
    kind = _check_kind(kind)
    outside = flag("outside", outside, (SOLID, AIR))
    gen = np.random.default_rng(rng)
    A = poisson_matrix(grid, outside)
    cells = np.flatnonzero(grid.ravel() == FLUID)
    labels, grounded = _fluid_components(A, cells)
    singular = ~grounded
    x_true = None
    if kind == "solution":
        x_true = np.zeros(grid.size)
        x_true[cells] = _demean(gen.standard_normal(cells.size), labels, singular)
        b = A @ x_true
    else:
        if kind == "gaussian":
            values = gen.standard_normal(cells.size)
        else:
            values = _smooth_field(grid.shape, gen).ravel()[cells]
        b = np.zeros(grid.size)
        b[cells] = _demean(values, labels, singular)
    norm = float(np.linalg.norm(b))
    if not norm > 1e-12 * math.sqrt(max(cells.size, 1)):
        raise ValueError("the right-hand side is zero: the grid has no fluid cell that a "
                         "right-hand side can act on")
    b /= norm
    if x_true is not None:
        x_true /= norm
    return b, x_true


_rhs = rhs  # the builders' argument ``rhs`` shadows the function


# -- systems and catalog builders ---------------------------------------------------------------


def poisson_flags(
    shape: tuple[int, ...],
    *,
    obstacles: int = 0,
    top: int | str = "air",
    outside: int | str = "solid",
    seed: Any = 0,
    pockets: str = "fill",
) -> NDArray[np.int8]:
    """The flags of the catalog systems: a box, random obstacles, sealed pockets filled.

    Parameters
    ----------
    shape : tuple of 2 or 3 int
        The grid.
    obstacles : int, default 0
        Number of random obstacles (:func:`random_obstacles`, default radii).
    top : {"air", "fluid", "solid"}, default "air"
        The top layer (:func:`flags_box`).
    outside : {"solid", "air"}, default "solid"
        What lies outside the grid.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` for the obstacles.
    pockets : {"fill", "keep"}, default "fill"
        ``"fill"`` applies :func:`fill_pockets` (fluid regions sealed by obstacles become
        solid, so the fluid block is positive definite when the box has air); ``"keep"``
        keeps them (singular components, ``b`` de-meaned on each).

    Returns
    -------
    ndarray of int8
        ``flags_box(shape, top=top)``, then ``random_obstacles(..., obstacles, rng)``, then
        ``fill_pockets(..., outside)`` when ``pockets="fill"``.
    """
    if pockets not in ("fill", "keep"):
        raise ValueError(f"pockets must be 'fill' or 'keep', got {pockets!r}")
    outside = flag("outside", outside, (SOLID, AIR))
    flags = flags_box(shape, top=top)
    flags = random_obstacles(flags, obstacles, np.random.default_rng(seed))
    return fill_pockets(flags, outside) if pockets == "fill" else flags


def poisson_system(
    flags: ArrayLike,
    *,
    outside: int | str = SOLID,
    rhs: str = "gaussian",
    rng: Any = None,
    matrix_free: bool = False,
    name: str = "poisson",
) -> LinearSystem:
    """The Poisson system of a grid of flags, as an :class:`optkit.LinearSystem`.

    Parameters
    ----------
    flags : array_like of int
        A 2-D or 3-D grid of flags.
    outside : {SOLID, AIR} or {"solid", "air"}, default SOLID
        What lies outside the grid.
    rhs : {"gaussian", "smooth", "solution"}, default "gaussian"
        The kind of right-hand side (:func:`rhs`).
    rng : None, int, Generator or anything :func:`numpy.random.default_rng` accepts
        The random source of the right-hand side.
    matrix_free : bool, default False
        ``A`` is the :func:`poisson_operator` instead of the sparse :func:`poisson_matrix`.
    name : str, default "poisson"

    Returns
    -------
    LinearSystem
        ``A`` at full grid size (singular when there are non-fluid cells; see the module
        notes), ``b`` from :func:`rhs`, ``grid_shape = flags.shape``, ``x0 = 0`` and, for
        ``rhs="solution"``, ``x_true``.
    """
    grid = check_flags(flags)
    outside = flag("outside", outside, (SOLID, AIR))
    b, x_true = _rhs(grid, rhs, rng, outside=outside)
    A = poisson_operator(grid, outside) if matrix_free else poisson_matrix(grid, outside)
    return LinearSystem(A, b, grid_shape=grid.shape, x_true=x_true, x0=np.zeros(grid.size),
                        name=name)


def _grid_problem(d: int, n: int, obstacles: int, top: Any, outside: Any, rhs: str, seed: Any,
                  matrix_free: bool) -> LinearSystem:
    n = check_int("n", n, 4)
    obstacles = check_int("obstacles", obstacles, 0)
    _check_kind(rhs)
    flags = poisson_flags((n,) * d, obstacles=obstacles, top=top, outside=outside, seed=seed)
    name = f"poisson-{d}d-{n}" + (f"-obstacles{obstacles}" if obstacles else "")
    return poisson_system(flags, outside=outside, rhs=rhs, rng=np.random.default_rng([seed, 1]),
                          matrix_free=matrix_free, name=name)


@entry("poisson-2d-obstacles", "linear-system", obstacles=6)
@entry("poisson-2d", "linear-system")
def poisson_2d(
    n: int = 64,
    obstacles: int = 0,
    top: str = "air",
    outside: str = "solid",
    rhs: str = "gaussian",
    seed: int = 0,
    matrix_free: bool = False,
) -> LinearSystem:
    """The 2-D pressure Poisson equation (5-point stencil) of smoke in an ``n x n`` box.

    Parameters
    ----------
    n : int, default 64
        Side of the grid (at least 4); ``n * n`` unknowns.
    obstacles : int, default 0
        Number of random solid discs and squares of radius ``n/16`` to ``n/8``; fluid regions
        they seal off become solid too (:func:`poisson_flags`).
    top : {"air", "fluid", "solid"}, default "air"
        The top row (:func:`flags_box`): air gives a positive definite fluid block; ``"fluid"``
        with ``outside="solid"`` a closed box (singular, ``b`` de-meaned).
    outside : {"solid", "air"}, default "solid"
        The walls: closed (Neumann) or open (Dirichlet).
    rhs : {"gaussian", "smooth", "solution"}, default "gaussian"
        The right-hand side (:func:`rhs`); ``"solution"`` also sets ``x_true``.
    seed : int, default 0
        The obstacles are drawn by ``numpy.random.default_rng(seed)``, the right-hand side by
        ``numpy.random.default_rng([seed, 1])``.
    matrix_free : bool, default False
        ``A`` as a :func:`poisson_operator` instead of a sparse matrix.

    Returns
    -------
    LinearSystem
        Full-grid ``A`` (``n² x n²``; rows and columns of the air and solid cells are zero, so
        ``A`` is only positive semidefinite), unit-norm ``b`` zero off the fluid,
        ``grid_shape = (n, n)``, ``x0 = 0``. The flags are
        ``poisson_flags((n, n), obstacles=obstacles, top=top, outside=outside, seed=seed)``;
        :func:`fluid_block` gives the fluid-only matrix.

    Notes
    -----
    Catalog: ``poisson-2d`` (64 x 64, 4032 fluid cells under a row of air) and
    ``poisson-2d-obstacles`` (the same with six obstacles).

    Examples
    --------
    >>> from problems.linear_systems import poisson_2d
    >>> system = poisson_2d(16)
    >>> system.n, system.grid_shape, round(float(system.b @ system.b), 12)
    (256, (16, 16), 1.0)
    """
    return _grid_problem(2, n, obstacles, top, outside, rhs, seed, matrix_free)


@entry("poisson-3d", "linear-system")
def poisson_3d(
    n: int = 32,
    obstacles: int = 0,
    top: str = "air",
    outside: str = "solid",
    rhs: str = "gaussian",
    seed: int = 0,
    matrix_free: bool = False,
) -> LinearSystem:
    """The 3-D pressure Poisson equation (7-point stencil) of smoke in an ``n³`` box.

    Parameters
    ----------
    n : int, default 32
        Side of the grid (at least 4); ``n³`` unknowns.
    obstacles : int, default 0
        Number of random solid spheres and boxes of radius ``n/16`` to ``n/8``; fluid regions
        they seal off become solid too (:func:`poisson_flags`).
    top : {"air", "fluid", "solid"}, default "air"
        The top layer ``flags[0]`` (:func:`flags_box`).
    outside : {"solid", "air"}, default "solid"
        The walls: closed (Neumann) or open (Dirichlet).
    rhs : {"gaussian", "smooth", "solution"}, default "gaussian"
        The right-hand side (:func:`rhs`); ``"solution"`` also sets ``x_true``.
    seed : int, default 0
        The obstacles are drawn by ``numpy.random.default_rng(seed)``, the right-hand side by
        ``numpy.random.default_rng([seed, 1])``.
    matrix_free : bool, default False
        ``A`` as a :func:`poisson_operator` instead of a sparse matrix.

    Returns
    -------
    LinearSystem
        As :func:`poisson_2d`, with ``grid_shape = (n, n, n)``.

    Notes
    -----
    Catalog: ``poisson-3d`` (32³, 31 744 fluid cells under a layer of air).
    """
    return _grid_problem(3, n, obstacles, top, outside, rhs, seed, matrix_free)
