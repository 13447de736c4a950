"""The one check of a grid's shape (lattice graphs, Poisson flags, linear systems, DCDM).

NumPy only (no torch), so that every module that takes a grid can call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["check_grid_shape"]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_grid_shape(
    shape: Sequence[int] | int,
    *,
    dims: int | Sequence[int] | None = None,
    size: int | None = None,
    min_side: int = 1,
    name: str = "grid_shape",
    sides: Sequence[str] | None = None,
) -> tuple[int, ...]:
    """``shape`` as a tuple of ints, after checking it describes a grid.

    Parameters
    ----------
    shape : sequence of int, or int
        The number of cells along each axis. One int ``s`` stands for the square (cube, ...)
        grid ``(s,) * k``, with ``k`` the (first) number of sides allowed by ``dims``.
    dims : int or sequence of int, optional
        The allowed numbers of sides (``2``, or ``(2, 3)``); any number when omitted.
    size : int, optional
        The number of cells the grid must have (the product of its sides).
    min_side : int, default 1
        The smallest allowed side.
    name : str, default "grid_shape"
        How the messages call ``shape``.
    sides : sequence of str, optional
        How the messages call each side (``("nrows", "ncols")``); by default
        ``name[0]``, ``name[1]``, ...

    Returns
    -------
    tuple of int

    Raises
    ------
    TypeError
        If ``shape`` is not a sequence of ints (``bool`` and ``float`` sides included).
    ValueError
        If it has a number of sides not in ``dims``, a side below ``min_side``, or a product
        other than ``size``; the message names the side and shows the shape.

    Examples
    --------
    >>> check_grid_shape((4, 3), dims=(2, 3), size=12)
    (4, 3)
    >>> check_grid_shape(8, dims=3)
    (8, 8, 8)
    >>> check_grid_shape((4, 0))
    Traceback (most recent call last):
    ...
    ValueError: grid_shape[1] must be at least 1, got 0 (grid_shape=(4, 0))
    >>> check_grid_shape((2.0, 3), sides=("nrows", "ncols"))
    Traceback (most recent call last):
    ...
    TypeError: nrows must be an int, got float
    >>> check_grid_shape((2, 2), size=6)
    Traceback (most recent call last):
    ...
    ValueError: grid_shape (2, 2) does not match the 6 unknowns (its product is 4)
    """
    allowed = None if dims is None else (
        (int(dims),) if _is_int(dims) else tuple(int(k) for k in dims))
    if _is_int(shape):
        shape = (shape,) * (allowed[0] if allowed else 1)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of ints, got {shape!r}")
    given = tuple(shape)
    if allowed is not None and len(given) not in allowed:
        counts = " or ".join(str(k) for k in allowed)
        grids = " or ".join(f"{k}-D" for k in allowed)
        raise ValueError(f"{name} must have {counts} sides (a {grids} grid), got {shape!r}")
    if sides is None:
        labels = [f"{name}[{k}]" for k in range(len(given))]
        context = f" ({name}={shape!r})"
    else:
        labels, context = list(sides), ""
    for label, side in zip(labels, given, strict=True):
        if not _is_int(side):
            raise TypeError(f"{label} must be an int, got {type(side).__name__}{context}")
        if side < min_side:
            raise ValueError(f"{label} must be at least {min_side}, got {side}{context}")
    result = tuple(int(s) for s in given)
    if size is not None and math.prod(result) != size:
        raise ValueError(f"{name} {result} does not match the {size} unknowns (its product is "
                         f"{math.prod(result)})")
    return result
