"""The structure block methods exploit: an incrementally updated gradient and block Hessians.

:class:`BlockModel` wraps a :class:`~optkit.QuadraticProblem` or a
:class:`~optkit.GLMProblem` and keeps ``Qx`` (quadratics) or the margins ``Ax`` and the loss
derivative (GLMs) up to date after each block update, so that the full gradient costs only
the columns (quadratics) or the rows (GLMs) the block touches instead of a full evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from optkit.problem import GLMProblem, QuadraticProblem

Array = NDArray[np.float64]
Index = NDArray[np.intp]


def _csc(M: Any) -> Any:
    return sp.csc_array(M) if sp.issparse(M) else np.asarray(M, dtype=float)


def _csr(M: Any) -> Any:
    return sp.csr_array(M) if sp.issparse(M) else np.asarray(M, dtype=float)


class BlockModel:
    """Incremental oracle of a structured problem.

    Parameters
    ----------
    problem : QuadraticProblem or GLMProblem
    x0 : ndarray
        Starting point (copied).
    incremental : bool
        Update the gradient incrementally (the default); ``False`` recomputes ``Ax`` (or
        ``Qx``) and the full gradient after every block update, the reference code's way
        (kept to measure and to check the incremental path).
    bohning_k : {"global", "block"}
        The softmax bound of a block: Böhning's with ``k`` classes, or with
        ``min(k, classes in the block + 1)`` (the bound of that many classes, tighter).
    gram : bool
        For the squared loss: form the Gram matrix ``AᵀA`` once (``n x n``, dense), so that
        a block update changes the gradient in ``O(n τ)`` instead of one product with ``Aᵀ``.
    """

    def __init__(self, problem: Any, x0: Array, incremental: bool = True,
                 gram: bool = False, bohning_k: str = "global") -> None:
        self.incremental = incremental
        self.bohning_k = bohning_k
        self.problem = problem
        self.x = np.array(x0, dtype=float)
        self.n = self.x.shape[0]
        self.quadratic = isinstance(problem, QuadraticProblem)
        if not (self.quadratic or isinstance(problem, GLMProblem)):
            raise TypeError("block methods need a QuadraticProblem or a GLMProblem")
        if self.quadratic:
            self.Q = _csc(problem.Q)
            self.Qx = problem.Q @ self.x
        else:
            self.softmax = problem.loss == "softmax"
            self.k = problem.n_classes if self.softmax else 1
            self.A_cols = _csc(problem.A)
            self.A_rows = _csr(problem.A)
            self.z = problem.margins(self.x)
            self.r = problem.loss_derivative(self.z)
            self.G = None
            if gram and problem.loss == "squared" and incremental:
                G = problem.A.T @ problem.A
                self.G = np.asarray(G.toarray() if sp.issparse(G) else G, dtype=float)
        self._grad = self._full_gradient()

    # -- values and gradients -------------------------------------------------------------------

    def _full_gradient(self) -> Array:
        p = self.problem
        if self.quadratic:
            return self.Qx + p.c
        return (p.A.T @ self.r).reshape(-1) + p.l2 * self.x

    @property
    def grad(self) -> Array:
        """``∇f(x)`` of the smooth part, kept up to date."""
        return self._grad

    def smooth_value(self) -> float:
        """``f(x)`` (the smooth part) from the maintained quantities."""
        p = self.problem
        if self.quadratic:
            return 0.5 * float(self.x @ self.Qx) + float(p.c @ self.x) + p.const
        return p.loss_value(self.z) + 0.5 * p.l2 * float(self.x @ self.x)

    def value(self) -> float:
        """The full objective ``F(x) = f(x) + g(x)``."""
        if self.quadratic:
            return self.smooth_value()
        return self.smooth_value() + self.problem.g_fun(self.x)

    def fresh_value(self, x: Array) -> float:
        """``F(x)`` computed afresh from ``Q`` or ``A`` (not from the maintained ``Qx`` or
        margins), without calling the problem's oracles: a bookkeeping evaluation that the
        run's ``nfev`` and ``njev`` do not count."""
        p = self.problem
        if self.quadratic:
            return 0.5 * float(x @ (p.Q @ x)) + float(p.c @ x) + p.const
        return p.loss_value(p.margins(x)) + 0.5 * p.l2 * float(x @ x) + p.g_fun(x)

    def block_gradient(self, b: Index) -> Array:
        """``∇_b f(x)``."""
        return self._grad[b]

    # -- updates --------------------------------------------------------------------------------

    def trial_value(self, b: Index, xb: Array) -> float:
        """``F`` with ``x_b`` replaced; the model is left exactly as it was.

        The maintained quantities are saved and put back, not reverted arithmetically:
        ``Qx + Δ - Δ`` leaves rounding behind, which over a line search's trials swamps ``f``
        when ``Δ`` is large.
        """
        names = ("Qx",) if self.quadratic else ("z", "r")
        saved = [self.x[b].copy(), self._grad.copy(), *(getattr(self, k).copy() for k in names)]
        self.set_block(b, xb)
        value = self.value()
        self.x[b] = saved[0]
        self._grad = saved[1]
        for name, array in zip(names, saved[2:], strict=True):
            setattr(self, name, array)
        return value

    def set_block(self, b: Index, xb: Array) -> None:
        """``x_b ← xb``, updating the maintained quantities and the gradient incrementally."""
        delta = xb - self.x[b]
        self.x[b] = xb
        p = self.problem
        if not self.incremental:
            if self.quadratic:
                self.Qx = p.Q @ self.x
            else:
                self.z = p.margins(self.x)
                self.r = p.loss_derivative(self.z)
            self._grad = self._full_gradient()
            return
        if self.quadratic:
            dq = self.Q[:, b] @ delta
            self.Qx += dq
            self._grad += dq
            return
        if self.softmax:
            features, classes = np.divmod(b, self.k)
            dZ = np.zeros((self.A_rows.shape[0], self.k))
            for f in np.unique(features):
                col = self.A_cols[:, [f]]
                col = col.toarray().ravel() if sp.issparse(col) else col.ravel()
                sel = features == f
                dZ[:, classes[sel]] += np.outer(col, delta[sel])
            rows = np.flatnonzero(np.any(dZ != 0.0, axis=1))
            self.z[rows] += dZ[rows]
        else:
            dz = self.A_cols[:, b] @ delta
            rows = np.flatnonzero(dz)
            self.z[rows] += dz[rows]
            if self.G is not None:  # squared loss: Δg = (AᵀA)[:, b] δ + l2 δ_b
                self.r[rows] = self.z[rows] - p.b[rows]
                self._grad += self.G[:, b] @ delta
                self._grad[b] += p.l2 * delta
                return
        new_r = p.loss_derivative(self.z[rows], rows)
        dr = new_r - self.r[rows]
        self.r[rows] = new_r
        if rows.size > self.z.shape[0] // 4:  # most rows: one product, no row copies
            full = np.zeros_like(self.r)
            full[rows] = dr
            self._grad += (p.A.T @ full).reshape(-1)
        else:
            self._grad += (self.A_rows[rows].T @ dr).reshape(-1)
        self._grad[b] += p.l2 * delta

    # -- curvature ------------------------------------------------------------------------------

    def coordinate_lipschitz(self) -> Array:
        """``L_i``: the diagonal of a uniform Hessian bound (quadratics: ``Q_ii``; squared loss
        ``‖A_i‖²``; logistic ``¼‖A_i‖²``; softmax ``¼‖A_f‖²`` for each class of feature f)."""
        p = self.problem
        if self.quadratic:
            return np.asarray(self.Q.diagonal(), dtype=float).copy()
        A = self.A_cols
        sq = np.asarray((A.multiply(A)).sum(axis=0)).ravel() if sp.issparse(A) else \
            np.einsum("ij,ij->j", A, A)
        scale = {"squared": 1.0, "logistic": 0.25, "softmax": 0.25}[p.loss]
        L = scale * sq
        if self.softmax:
            L = np.repeat(L, self.k)
        return L + p.l2

    def hessian_bound_block(self, b: Index) -> Array:
        """A uniform bound ``H_b ⪰ ∇²_bb f(x)`` for all x (exact for quadratic and squared)."""
        p = self.problem
        if self.quadratic:
            Qb = self.Q[b][:, b]
            return Qb.toarray() if sp.issparse(Qb) else np.asarray(Qb, dtype=float)
        if self.softmax:
            features, classes = np.divmod(b, self.k)
            Af = self._dense_cols(features)
            gram = Af.T @ Af
            same = classes[:, None] == classes[None, :]
            k_eff = self.k if self.bohning_k == "global" else \
                min(self.k, np.unique(classes).size + 1)
            H = np.where(same, 0.5 * (1.0 - 1.0 / k_eff), -0.5 / k_eff) * gram
            return H + p.l2 * np.eye(b.size)
        Ab = self._dense_cols(b)
        scale = 1.0 if p.loss == "squared" else 0.25
        return scale * (Ab.T @ Ab) + p.l2 * np.eye(b.size)

    def hessian_block(self, b: Index) -> Array:
        """The exact ``∇²_bb f(x)``."""
        p = self.problem
        if self.quadratic or p.loss == "squared":
            return self.hessian_bound_block(b)
        if self.softmax:
            features, classes = np.divmod(b, self.k)
            Af = self._dense_cols(features)
            z = self.z
            P = np.exp(z - z.max(axis=1, keepdims=True))
            P /= P.sum(axis=1, keepdims=True)
            pc = P[:, classes]
            W = np.where(classes[:, None] == classes[None, :], 1.0, 0.0)
            # ∇²_{(f1,c1),(f2,c2)} = Σ_i a_if1 a_if2 p_ic1 (δ_c1c2 - p_ic2)
            H = (Af * pc).T @ Af * W - (Af * pc).T @ (Af * pc)
            return H + p.l2 * np.eye(b.size)
        Ab = self._dense_cols(b)
        s = 1.0 / (1.0 + np.exp(-p.b * self.z))
        w = s * (1.0 - s)
        return (Ab * w[:, None]).T @ Ab + p.l2 * np.eye(b.size)

    def _dense_cols(self, cols: Index) -> Array:
        Ab = self.A_cols[:, cols]
        return Ab.toarray() if sp.issparse(Ab) else np.asarray(Ab)

    def full_hessian_bound(self) -> Array:
        """The dense ``n x n`` uniform Hessian bound (for IHT and Gershgorin on small n)."""
        return self.hessian_bound_block(np.arange(self.n))

    def gershgorin(self) -> Array:
        """``d_i = Σ_j |H_ij|`` of the uniform Hessian bound (``diag(d_b) ⪰ H_b`` for every
        block b): ``problem.info["gershgorin"]`` when the problem provides it (forming the
        ``n x n`` bound of a large GLM is expensive), else computed."""
        known = self.problem.info.get("gershgorin")
        if known is not None:
            return np.asarray(known, dtype=float)
        if self.quadratic and sp.issparse(self.Q):
            return np.asarray(abs(self.Q).sum(axis=0)).ravel()
        return np.abs(self.full_hessian_bound()).sum(axis=0)

