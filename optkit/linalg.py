"""Linear algebra used by the methods, in ``scipy.sparse.linalg`` style.

:class:`LowRank` is how a problem hands a method a Hessian approximation ``U diag(s) Uᵀ`` of
rank ``r << n`` (a Fisher term, say), so that a method can solve ``(H + λB) δ = -g`` by the
Woodbury identity in ``O(n r²)`` instead of factorizing an ``n x n`` matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["LowRank"]


@dataclass(frozen=True, eq=False)
class LowRank:
    """The symmetric matrix ``U diag(s) Uᵀ``.

    Parameters
    ----------
    U : (n, r) array_like
        Factor.
    s : (r,) array_like
        Non-negative weights (so the matrix is positive semidefinite).

    Examples
    --------
    >>> import numpy as np
    >>> H = LowRank(np.array([[1.0], [2.0]]), np.array([3.0]))
    >>> H @ np.array([1.0, 0.0])
    array([3., 6.])
    >>> H.toarray()
    array([[ 3.,  6.],
           [ 6., 12.]])
    """

    U: NDArray[np.float64]
    s: NDArray[np.float64]

    def __post_init__(self) -> None:
        U = np.asarray(self.U, dtype=float)
        if U.ndim == 1:
            U = U[:, None]
        s = np.atleast_1d(np.asarray(self.s, dtype=float))
        if U.ndim != 2 or s.shape != (U.shape[1],):
            raise ValueError(f"U must be (n, r) and s (r,), got {U.shape} and {s.shape}")
        if not (np.all(np.isfinite(U)) and np.all(np.isfinite(s))):
            raise ValueError("U and s must be finite")
        if np.any(s < 0):
            raise ValueError("s must be non-negative (a positive semidefinite matrix)")
        object.__setattr__(self, "U", U)
        object.__setattr__(self, "s", s)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.U.shape[0], self.U.shape[0])

    @property
    def rank(self) -> int:
        """The number of columns of ``U``."""
        return self.U.shape[1]

    def __matmul__(self, v: ArrayLike) -> NDArray[np.float64]:
        v = np.asarray(v, dtype=float)
        return self.U @ (self.s[:, None] * (self.U.T @ v)) if v.ndim == 2 else \
            self.U @ (self.s * (self.U.T @ v))

    def toarray(self) -> NDArray[np.float64]:
        """The dense ``n x n`` matrix."""
        return (self.U * self.s) @ self.U.T
