"""Activation patterns of a two-layer ReLU network (spec sections 1.4 and 4).

A pattern is the 0/1 vector ``d = 1[X a >= 0]`` of a gate ``a``: which samples a neuron with
weights along ``a`` is active on. The convex program of Pilanci and Ergen has one pair of
weight blocks per pattern; with a sample of ``P`` patterns it is an upper bound on the
network's training problem that tightens as ``P`` grows (scenario bound, Theorem 2.2 of Bai,
Gautam and Sojoudi).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["sample_patterns", "robust_patterns"]

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]


def _check_data(X: ArrayLike) -> Array:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite")
    return X


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class _Distinct:
    """Columns kept in order of first appearance, each at most once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[bytes] = set()
        self.patterns: list[Mask] = []
        self.gates: list[Array] = []

    @property
    def full(self) -> bool:
        return len(self.patterns) >= self.limit

    def add(self, pattern: Mask, gate: Array) -> None:
        key = np.packbits(pattern).tobytes()
        if key not in self.seen and not self.full:
            self.seen.add(key)
            self.patterns.append(pattern)
            self.gates.append(gate)

    def result(self, n: int, d: int) -> tuple[Mask, Array]:
        if not self.patterns:
            return np.zeros((n, 0), dtype=bool), np.zeros((d, 0))
        return np.column_stack(self.patterns), np.column_stack(self.gates)


def sample_patterns(
    X: ArrayLike,
    n_patterns: int,
    rng: Any = None,
    *,
    ensure_distinct: bool = True,
    max_draws: int = 100,
) -> tuple[Mask, Array]:
    """Sample distinct activation patterns ``d_h = 1[X a_h >= 0]`` with Gaussian gates ``a_h``.

    Parameters
    ----------
    X : (n, d) array_like
        The training inputs (with the ones column of a bias, if any: the patterns are then
        those of affine hyperplanes).
    n_patterns : int
        How many patterns ``P`` to return.
    rng : None, int or numpy.random.Generator
        The random source of the gates ``a_h ~ N(0, I_d)``.
    ensure_distinct : bool, default True
        Keep drawing batches of ``n_patterns`` gates until ``n_patterns`` distinct patterns
        are found (at most ``max_draws`` batches). When False, one batch is drawn and its
        duplicates dropped, so fewer than ``n_patterns`` may come back (the reference code).
    max_draws : int, default 100
        The cap on batches; a small ``X`` may have fewer than ``n_patterns`` patterns at all
        (at most ``2 r (e (n-1) / r)^r`` for ``rank X = r``), and then fewer are returned.

    Returns
    -------
    D : (n, P) ndarray of bool
        The patterns as columns, distinct, in the order they were drawn.
    gates : (d, P) ndarray
        The gate ``a_h`` that produced each pattern (pyscnn calls them gate vectors).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((50, 5))
    >>> D, gates = sample_patterns(X, 20, rng=1)
    >>> D.shape, gates.shape, len({col.tobytes() for col in D.T})
    ((50, 20), (5, 20), 20)
    >>> bool(np.array_equal(D, X @ gates >= 0))
    True
    """
    X = _check_data(X)
    P = _check_count("n_patterns", n_patterns)
    draws = _check_count("max_draws", max_draws)
    gen = np.random.default_rng(rng)
    n, d = X.shape
    keep = _Distinct(P)
    for _ in range(draws if ensure_distinct else 1):
        gates = gen.standard_normal((d, P))
        D = X @ gates >= 0
        for h in range(P):
            keep.add(D[:, h], gates[:, h])
        if keep.full:
            break
    return keep.result(n, d)


def robust_patterns(
    X: ArrayLike,
    n_patterns: int,
    eps: float,
    rng: Any = None,
    *,
    n_perturbations: int = 10,
    max_gates: int = 81920,
    fixed_columns: Any = None,
) -> tuple[Mask, Array]:
    """Sample activation patterns for convex adversarial training (Algorithm 5.1).

    For each Gaussian gate ``a``, the pattern of ``X`` and the patterns of
    ``n_perturbations - 1`` random vertices ``X + eps * sign(R)`` of the ℓ∞ box around the data
    (``R`` standard normal) are kept, duplicates dropped, until ``n_patterns`` distinct ones
    are found or ``max_gates * n_perturbations`` patterns were tried. Patterns seen under
    perturbation are the ones an attacker can switch the network to.

    Parameters
    ----------
    X : (n, d) array_like
    n_patterns : int
        How many distinct patterns ``P`` to return.
    eps : float
        Radius of the ℓ∞ ball (non-negative; ``0`` gives :func:`sample_patterns`' patterns).
    rng : None, int or numpy.random.Generator
    n_perturbations : int, default 10
        Patterns per gate, the unperturbed one included (``S`` in the paper).
    max_gates : int, default 81920
        The cap on gates drawn.
    fixed_columns : sequence of int, optional
        Columns of ``X`` that are not perturbed (the ones column of a bias).

    Returns
    -------
    D : (n, P) ndarray of bool
    gates : (d, P) ndarray
        The gate of each pattern (shared by the patterns of one gate's perturbations).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((30, 3))
    >>> D, gates = robust_patterns(X, 12, eps=0.1, rng=0)
    >>> D.shape, len({col.tobytes() for col in D.T})
    ((30, 12), 12)
    """
    X = _check_data(X)
    P = _check_count("n_patterns", n_patterns)
    S = _check_count("n_perturbations", n_perturbations)
    cap = _check_count("max_gates", max_gates)
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite non-negative number, got {eps!r}")
    gen = np.random.default_rng(rng)
    n, d = X.shape
    free = np.ones(d)
    if fixed_columns is not None:
        free[np.asarray(fixed_columns, dtype=int)] = 0.0
    keep = _Distinct(P)
    for _ in range(cap):
        a = gen.standard_normal(d)
        keep.add(X @ a >= 0, a)
        for _ in range(S - 1):
            if keep.full:
                break
            vertex = X + eps * free * np.sign(gen.standard_normal((n, d)))
            keep.add(vertex @ a >= 0, a)
        if keep.full:
            break
    return keep.result(n, d)
