"""Shifted solves ``(H + λB) δ = -g`` and the matrices they take, in ``scipy.sparse.linalg`` style.

:class:`LowRank` is how a problem hands a method a Hessian approximation ``U diag(s) Uᵀ`` of
rank ``r << n`` (a Fisher term, say), so that a method can solve ``(H + λB) δ = -g`` by the
Woodbury identity in ``O(n r²)`` instead of factorizing an ``n x n`` matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray

from optkit.linalg.conjugate_gradient import cg

__all__ = ["LowRank", "Metric", "ShiftedSolve", "fd_hessian_operator", "solve_shifted"]


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


class Metric:
    """A fixed SPD matrix ``B`` defining ``‖h‖ = √⟨Bh, h⟩`` and ``‖g‖_* = √⟨g, B⁻¹g⟩``.

    ``B = None`` is the identity. A dense ``B`` is factorized (Cholesky) once.

    Parameters
    ----------
    B : (n, n) array_like or None
        Symmetric positive definite.

    Raises
    ------
    ValueError
        When ``B`` is not square, symmetric and positive definite.
    """

    def __init__(self, B: ArrayLike | None = None) -> None:
        self.B = None if B is None else np.asarray(B, dtype=float)
        self._factor = None
        if self.B is not None:
            if self.B.ndim != 2 or self.B.shape[0] != self.B.shape[1]:
                raise ValueError(f"the metric B must be a square matrix, got {self.B.shape}")
            if not np.allclose(self.B, self.B.T, rtol=1e-10, atol=1e-12):
                raise ValueError("the metric B must be symmetric")
            try:
                self._factor = scipy.linalg.cho_factor(self.B)
            except np.linalg.LinAlgError as err:
                raise ValueError("the metric B must be positive definite") from err

    def solve(self, v: NDArray[np.float64]) -> NDArray[np.float64]:
        """``B⁻¹ v`` (``v`` may be a matrix)."""
        return v if self._factor is None else scipy.linalg.cho_solve(self._factor, v)

    def apply(self, h: NDArray[np.float64]) -> NDArray[np.float64]:
        """``B h``."""
        return h if self.B is None else self.B @ h

    def norm(self, h: NDArray[np.float64]) -> float:
        """``‖h‖ = √⟨Bh, h⟩`` (rescaled where ``⟨Bh, h⟩`` overflows)."""
        return _root_form(h, self.apply)

    def dual_norm(self, g: NDArray[np.float64]) -> float:
        """``‖g‖_* = √⟨g, B⁻¹g⟩`` (rescaled where ``⟨g, B⁻¹g⟩`` overflows)."""
        return _root_form(g, self.solve)

    def shifted(self, H: NDArray[np.float64], lam: float) -> NDArray[np.float64]:
        """The dense matrix ``H + λB``."""
        if self.B is None:
            out = np.array(H, dtype=float, copy=True)
            out[np.diag_indices_from(out)] += lam
            return out
        return H + lam * self.B


def _root_form(v: NDArray[np.float64], op: Callable) -> float:
    """``√⟨v, op(v)⟩`` for a linear SPD ``op``; entries past ``1e154`` would overflow the
    square, so then the form is taken of ``v / max|v|`` and scaled back."""
    value = float(v @ op(v))
    if value == math.inf and np.all(np.isfinite(v)):
        scale = float(np.max(np.abs(v)))
        u = v / scale
        return scale * math.sqrt(max(float(u @ op(u)), 0.0))
    return math.sqrt(max(value, 0.0))


def fd_hessian_operator(grad: Callable[[NDArray[np.float64]], NDArray[np.float64]],
                        x: NDArray[np.float64], g: NDArray[np.float64]
                        ) -> spla.LinearOperator:
    """``∇²f(x)`` as a :class:`~scipy.sparse.linalg.LinearOperator` of forward differences
    of the gradient, ``H v ≈ (∇f(x + h v) - ∇f(x)) / h`` with
    ``h = √ε (1 + ‖x‖) / ‖v‖`` (one gradient a product, as SciPy's Newton-CG does without
    ``hess`` or ``hessp``).

    Parameters
    ----------
    grad : callable
        ``grad(x) -> ndarray``, counted by the caller's problem.
    x, g : ndarray
        The point and the gradient there.
    """
    scale = math.sqrt(np.finfo(float).eps) * (1.0 + float(np.linalg.norm(x)))

    def matvec(v: NDArray[np.float64]) -> NDArray[np.float64]:
        v = np.ravel(v)
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            return np.zeros_like(x)
        h = scale / norm
        return (grad(x + h * v) - g) / h

    n = x.shape[0]
    return spla.LinearOperator((n, n), matvec=matvec, dtype=float)


class ShiftedSolve(NamedTuple):
    """What :func:`solve_shifted` returns."""

    delta: NDArray[np.float64] | None
    """The solution, or ``None`` when ``H + λB`` was not positive definite."""
    iterations: int
    """Linear solves, or CG iterations."""


def solve_shifted(H: Any, lam: float, g: NDArray[np.float64], metric: Metric, *,
                  method: str = "auto", rtol: float = 1e-10,
                  maxiter: int | None = None) -> ShiftedSolve:
    """Solve ``(H + λB) δ = -g``, choosing the way by the form of ``H``.

    Parameters
    ----------
    H : None, ndarray, LowRank, sparse matrix or LinearOperator
        ``None`` is the zero matrix; a 1-D array is a diagonal. A :class:`LowRank` is solved
        by the Woodbury identity (Sherman-Morrison at rank one) in ``O(n r²)`` plus solves
        with ``B``; a dense matrix by Cholesky; a sparse matrix or an operator by CG.
    lam : float
        The shift ``λ > 0``.
    g : (n,) ndarray
        Right-hand side (the gradient).
    metric : Metric
        ``B``.
    method : {"auto", "cholesky", "woodbury", "cg"}
        Force a way: ``"cg"`` works for every form, ``"cholesky"`` makes a :class:`LowRank`
        dense, ``"woodbury"`` needs a :class:`LowRank`.
    rtol : float
        CG's relative tolerance.
    maxiter : int, optional
        CG's iteration limit (default ``10 n``).

    Returns
    -------
    ShiftedSolve
        ``delta`` is ``None`` when Cholesky finds ``H + λB`` not positive definite (or not
        finite), when ``λ`` is not a positive finite number, or when CG breaks down.
    """
    n = g.shape[0]
    if not 0.0 < lam < math.inf:
        return ShiftedSolve(None, 0)
    if method == "cg" or (method == "auto" and (sp.issparse(H) or isinstance(
            H, spla.LinearOperator))):
        return _cg(H, lam, g, metric, rtol, maxiter)
    if method == "woodbury" and not isinstance(H, LowRank):
        raise TypeError(f"the Woodbury solve needs a LowRank matrix, got {type(H).__name__}")
    if isinstance(H, LowRank) and method == "cholesky":
        H = H.toarray()
    if H is None:
        return ShiftedSolve(-metric.solve(g) / lam, 1)
    if isinstance(H, LowRank):
        s = -metric.solve(g) / lam
        Q = metric.solve(H.U) / lam
        small = np.eye(H.rank) + H.s[:, None] * (H.U.T @ Q)
        return ShiftedSolve(s - Q @ np.linalg.solve(small, H.s * (H.U.T @ s)), 1)
    H = np.asarray(H, dtype=float)
    if H.ndim == 1:
        if metric.B is None:
            denom = H + lam
            return ShiftedSolve(-g / denom, 1) if np.all(denom > 0) else ShiftedSolve(None, 1)
        H = np.diag(H)
    if H.shape != (n, n):
        raise ValueError(f"the Hessian approximation has shape {H.shape}, expected {(n, n)}")
    try:
        factor = scipy.linalg.cho_factor(metric.shifted(H, lam))
    except (np.linalg.LinAlgError, ValueError):  # not positive definite, or overflowed
        return ShiftedSolve(None, 1)
    return ShiftedSolve(scipy.linalg.cho_solve(factor, -g), 1)


def _cg(H: Any, lam: float, g: NDArray[np.float64], metric: Metric, rtol: float,
        maxiter: int | None) -> ShiftedSolve:
    """:func:`~optkit.linalg.cg` on ``H + λB`` (``rtol``, ``atol = 0``, ``maxiter`` default
    ``10 n``); ``iterations`` counts its iterations, and ``delta`` is ``None`` when it breaks
    down (``H + λB`` not positive definite) or ends on a non-finite iterate."""
    n = g.shape[0]
    if isinstance(H, np.ndarray) and H.ndim == 1:
        def matvec(v):
            return H * v + lam * metric.apply(v)
    elif H is None:
        def matvec(v):
            return lam * metric.apply(v)
    else:
        def matvec(v):
            return H @ v + lam * metric.apply(v)
    count = [0]

    def callback(xk):
        count[0] += 1

    delta, info = cg(matvec, -g, rtol=rtol, atol=0.0, maxiter=maxiter or 10 * n,
                     callback=callback)
    if info < 0 or not np.all(np.isfinite(delta)):
        return ShiftedSolve(None, count[0])
    return ShiftedSolve(delta, count[0])
