"""Pressure Poisson matrices on grids of cells (the systems DCDM solves).

Cells are ``FLUID`` (unknowns), ``SOLID`` (closed faces: Neumann) or ``AIR`` (pressure 0:
Dirichlet). :func:`poisson_matrix` assembles the 5-point (2-D) or 7-point (3-D) stencil with
the positive-definite sign convention (``A = -Laplacian · h²``) at full grid size, rows and
columns of non-fluid cells empty. The problem builders (``problems.linear_systems``) and the
DCDM training code (:mod:`optkit.torch.dcdm_net`) both build their matrices here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from optkit._grid import check_grid_shape

__all__ = ["FLUID", "SOLID", "AIR", "flag", "check_flags", "stencil", "poisson_matrix"]

Array = NDArray[np.float64]

#: Flag of a fluid cell (an unknown).
FLUID = 0
#: Flag of a solid cell (closed faces: Neumann condition).
SOLID = 1
#: Flag of an air cell (pressure 0: Dirichlet condition).
AIR = 2

_FLAG_NAMES = {"fluid": FLUID, "solid": SOLID, "air": AIR}


def flag(name: str, value: Any, allowed: tuple[int, ...]) -> int:
    """A flag given by value (``SOLID``) or by name (``"solid"``), checked against ``allowed``."""
    if isinstance(value, str) and value.lower() in _FLAG_NAMES:
        result = _FLAG_NAMES[value.lower()]
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        result = int(value)
    else:
        result = -1
    if result not in allowed:
        names = [k for k, v in _FLAG_NAMES.items() if v in allowed]
        raise ValueError(f"{name} must be one of {names} (or the flag values {list(allowed)}), "
                         f"got {value!r}")
    return result


def check_flags(flags: ArrayLike) -> NDArray[np.int8]:
    """``flags`` as an int8 grid; ``ValueError`` unless it is a non-empty 2-D or 3-D integer
    array of ``FLUID``, ``SOLID`` and ``AIR``."""
    arr = np.asarray(flags)
    check_grid_shape(arr.shape, dims=(2, 3), name="flags.shape")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"flags must be an integer array, got dtype {arr.dtype}")
    if not np.all((arr == FLUID) | (arr == SOLID) | (arr == AIR)):
        raise ValueError("flags must hold only FLUID (0), SOLID (1) and AIR (2)")
    return arr.astype(np.int8, copy=False)


def stencil(flags: NDArray[np.int8], outside: int) -> tuple[Array, list[tuple[Any, Any, Any]]]:
    """The diagonal of ``A`` on the grid, and for each axis the slices ``lo``, ``hi`` of the
    cell pairs ``(k, k + e_axis)`` and the mask of the pairs that are both fluid."""
    shape = flags.shape
    fluid = flags == FLUID
    padded = np.pad(flags, 1, constant_values=outside)
    inner = [slice(1, s + 1) for s in shape]
    diag = np.zeros(shape)
    pairs = []
    for axis, size in enumerate(shape):
        for step in (-1, 1):
            window = list(inner)
            window[axis] = slice(1 + step, size + 1 + step)
            diag += fluid & (padded[tuple(window)] != SOLID)
        lo = tuple(slice(0, -1) if k == axis else slice(None) for k in range(len(shape)))
        hi = tuple(slice(1, None) if k == axis else slice(None) for k in range(len(shape)))
        pairs.append((lo, hi, fluid[lo] & fluid[hi]))
    return diag, pairs


def poisson_matrix(flags: ArrayLike, outside: int | str = SOLID) -> sp.csr_matrix:
    """The Poisson matrix of a grid of flags at full grid size, as a sparse CSR matrix.

    Parameters
    ----------
    flags : array_like of int
        A 2-D or 3-D grid of ``FLUID``, ``SOLID`` and ``AIR`` cells.
    outside : {SOLID, AIR} or {"solid", "air"}, default SOLID
        The flag of the cells outside the grid: a closed box or an open boundary.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n, n)`` with ``n = flags.size``, float64 with integer entries, symmetric positive
        semidefinite, sorted indices; unknown ``i`` is cell ``np.unravel_index(i, shape)``.
        Rows and columns of non-fluid cells are empty (no stored entries).

    Notes
    -----
    The 5-point (2-D) or 7-point (3-D) stencil with the positive-definite sign convention (see
    the module notes): the diagonal of a fluid cell counts its fluid and air neighbours, an
    off-diagonal ``-1`` links two fluid neighbours. So the row sum of a fluid cell is its
    number of air neighbours (faces to an open outside included). Assembled without loops over
    cells: the neighbours are slices of the flags padded with ``outside``, and the matrix is
    one ``csr_matrix((vals, (rows, cols)))``.

    Examples
    --------
    >>> import numpy as np
    >>> flags = np.array([[2, 2], [0, 0], [0, 0]])    # air on top of a 2 x 2 block of fluid
    >>> A = poisson_matrix(flags)
    >>> A.toarray()[2:, 2:]
    array([[ 3., -1., -1.,  0.],
           [-1.,  3.,  0., -1.],
           [-1.,  0.,  2., -1.],
           [ 0., -1., -1.,  2.]])
    """
    grid = check_flags(flags)
    outside = flag("outside", outside, (SOLID, AIR))
    shape, n = grid.shape, grid.size
    diag, pairs = stencil(grid, outside)
    index = np.arange(n).reshape(shape)
    on = np.flatnonzero(diag)
    rows, cols, vals = [on], [on], [diag.ravel()[on]]
    for lo, hi, both in pairs:
        i, j = index[lo][both], index[hi][both]
        rows += [i, j]
        cols += [j, i]
        vals += [np.full(2 * i.size, -1.0)]
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    A.sum_duplicates()  # also sorts the indices
    return A
