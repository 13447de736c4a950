"""Fixed partitions of the variables into blocks (spec section 2)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Index = NDArray[np.intp]

PARTITIONS = ("order", "random", "sort", "avg")


def make_partition(kind: str, L: NDArray[np.float64], block_size: int,
                   rng: np.random.Generator) -> list[Index]:
    """Blocks of ``block_size`` consecutive entries of a permutation of ``0..n-1`` (the last
    block may be smaller).

    Parameters
    ----------
    kind : {"order", "random", "sort", "avg"}
        ``order``: the natural order; ``random``: a seeded permutation; ``sort``: ascending
        ``L_i``, so each block holds coordinates of similar Lipschitz constants; ``avg``: the
        smallest and largest ``L_i`` interleaved, so each block has a similar average.
    L : (n,) ndarray
        Coordinate Lipschitz constants.
    block_size : int
    rng : numpy.random.Generator
    """
    n = L.shape[0]
    if kind == "order":
        perm = np.arange(n)
    elif kind == "random":
        perm = rng.permutation(n)
    elif kind == "sort":
        perm = np.argsort(L, kind="stable")
    elif kind == "avg":
        idx = np.argsort(L, kind="stable")
        perm = np.empty(n, dtype=np.intp)
        half = n // 2
        perm[0:2 * half:2] = idx[:half]
        perm[1:2 * half:2] = idx[::-1][:half]
        if n % 2:
            perm[-1] = idx[half]
    else:
        raise ValueError(f"partition must be one of {PARTITIONS}, got {kind!r}")
    return [perm[i:i + block_size] for i in range(0, n, block_size)]
