"""Conjugate-direction solvers for symmetric positive definite systems: DCDM and IC(0).

:func:`dcdm` is the deep conjugate direction method (Kaneda et al., ICML 2023): a conjugate
direction method whose raw search direction is ``model(r / ‖r‖)``, A-orthogonalized against
the last ``n_orth`` directions and followed by an exact line search. With ``model`` the
identity it is conjugate gradients; with ``r ↦ M r`` for an SPD ``M`` it is preconditioned CG;
with a network trained to approximate ``A⁻¹`` up to scale it is DCDM. It follows the
conventions of :mod:`scipy.sparse.linalg` (``(x, info)``, ``rtol``/``atol``, ``callback``).

:func:`ichol0` is the zero fill-in incomplete Cholesky preconditioner (SciPy has none).
Both are re-exported by :mod:`optkit.linalg`.
"""

from __future__ import annotations

import importlib.resources
import math
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray

__all__ = ["dcdm", "DCDMIteration", "active_unknowns", "default_model", "pretrained_dims", "ichol0",
           "lanczos_ritz", "deflated_cg"]

Array = NDArray[np.float64]


class DCDMIteration:
    """The state of a DCDM run, one :meth:`step` at a time (used by :func:`dcdm` and by
    ``method="dcdm"``).

    Parameters
    ----------
    A : LinearOperator
        The system matrix.
    b : (n,) ndarray
        Right-hand side.
    x0 : (n,) ndarray
        Start (copied).
    model : callable
        ``model(r) -> direction`` for a unit-norm residual ``r``.
    n_orth : int
        How many previous directions each new one is A-orthogonalized against.
    true_residual : bool
        Recompute ``r = b - A x`` every step (the reference code; one more product) instead
        of the recursion ``r -= α A q``.
    mask : (n,) bool ndarray, optional
        The unknowns the directions may touch; the model's output is zeroed elsewhere
        (see :func:`active_unknowns`).
    """

    def __init__(self, A: spla.LinearOperator, b: Array, x0: Array,
                 model: Callable[[Array], Any], n_orth: int = 2,
                 true_residual: bool = True, mask: NDArray[np.bool_] | None = None) -> None:
        self.A, self.b, self.model, self.mask = A, b, model, mask
        self.x = np.array(x0, dtype=float)
        self.r = b - A @ self.x if np.any(self.x) else b.copy()
        self.directions: deque[tuple[Array, Array, float]] = deque(maxlen=max(n_orth, 0))
        self.true_residual = true_residual
        self.breakdown = False

    @property
    def residual_norm(self) -> float:
        return float(np.linalg.norm(self.r))

    def direction(self) -> Array:
        """The next search direction: the model's output, A-orthogonalized (modified
        Gram-Schmidt) against the stored directions."""
        norm = self.residual_norm
        q = np.asarray(self.model(self.r / norm), dtype=float).reshape(self.r.shape)
        if self.mask is not None:
            q = np.where(self.mask, q, 0.0)
        for p, Ap, pAp in self.directions:
            q = q - (float(q @ Ap) / pAp) * p
        return q

    def step(self) -> None:
        """One conjugate-direction step with the exact line search."""
        q = self.direction()
        Aq = self.A @ q
        qAq = float(q @ Aq)
        if not (qAq > 0 and math.isfinite(qAq)):
            self.breakdown = True
            return
        alpha = float(q @ self.r) / qAq
        self.x = self.x + alpha * q
        self.r = self.b - self.A @ self.x if self.true_residual else self.r - alpha * Aq
        if self.directions.maxlen:
            self.directions.append((q, Aq, qAq))


def active_unknowns(A: Any) -> NDArray[np.bool_] | None:
    """The unknowns where ``A`` has a nonzero diagonal entry, or ``None`` when that is all of
    them (or ``A`` is a ``LinearOperator``, whose diagonal is not known).

    In a symmetric positive semidefinite matrix a zero diagonal entry means a zero row and
    column (:math:`a_{ij}^2 \\le a_{ii} a_{jj}`): that unknown is decoupled, ``b`` is zero
    there, and a direction's value there changes ``x`` but never the residual. :func:`dcdm`
    zeroes the model's output on such unknowns, the solid and air cells of a full-grid Poisson
    matrix, so the solution stays zero there, as CG's from ``x0 = 0`` does.

    Examples
    --------
    >>> import numpy as np
    >>> active_unknowns(np.diag([2.0, 0.0, 1.0]))
    array([ True, False,  True])
    """
    if isinstance(A, spla.LinearOperator):
        return None
    d = A.diagonal() if sp.issparse(A) else np.diagonal(np.asarray(A))
    mask = np.asarray(d != 0)
    return None if mask.all() else mask


def pretrained_dims() -> tuple[int, ...]:
    """The grid dimensions (2, 3) for which a trained DCDM network ships with optkit (files
    ``optkit/torch/models/dcdm_<dim>d.pt``; looking does not import torch)."""
    folder = importlib.resources.files("optkit") / "torch" / "models"
    return tuple(dim for dim in (2, 3) if (folder / f"dcdm_{dim}d.pt").is_file())


def default_model(grid_shape: tuple[int, ...] | None) -> Callable[[Array], Any]:
    """The model ``dcdm`` uses when none is given: the network that ships with optkit for the
    dimension of ``grid_shape`` (:meth:`optkit.torch.DCDMModel.pretrained`), or the identity
    (which makes DCDM conjugate gradients) when there is no grid or no network for its
    dimension (:func:`pretrained_dims`).

    Raises
    ------
    ImportError
        For a grid with a shipped network when PyTorch is not installed.
    """
    if grid_shape is None or len(grid_shape) not in pretrained_dims():
        return _identity
    try:
        from optkit.torch.dcdm_net import DCDMModel
    except ImportError as err:
        raise ImportError("the pretrained DCDM model needs PyTorch: pip install optkit[torch]"
                          " (or pass a model, e.g. model=lambda r: r for plain CG)") from err
    return DCDMModel.pretrained(grid_shape)


def _identity(r: Array) -> Array:
    return r


def dcdm(
    A: Any,
    b: ArrayLike,
    x0: ArrayLike | None = None,
    *,
    rtol: float = 1e-4,
    atol: float = 0.0,
    maxiter: int = 100,
    model: Callable[[Array], Any] | None = None,
    grid_shape: tuple[int, ...] | None = None,
    n_orth: int = 2,
    callback: Callable[[Array], Any] | None = None,
    true_residual: bool = True,
) -> tuple[Array, int]:
    r"""Solve ``A x = b`` with the deep conjugate direction method.

    Each iteration takes the raw direction ``q = model(r / ‖r‖)``, A-orthogonalizes it
    against the last ``n_orth`` directions, and moves by the exact line search
    :math:`\alpha = q^\top r / q^\top A q` on the energy ``½ xᵀAx - bᵀx``. The energy norm of
    the error never increases; the residual 2-norm need not decrease monotonically.

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator
        Symmetric positive definite (or semidefinite with a compatible ``b``). The model's
        output is zeroed where ``A``'s diagonal is zero (:func:`active_unknowns`).
    b : (n,) or (n, 1) array_like
        Right-hand side.
    x0 : (n,) array_like, optional
        Start (zeros by default); it is not modified.
    rtol, atol : float
        Stop when ``‖b - A x‖ <= max(rtol ‖b‖, atol)`` (SciPy's test; for ``x0 = 0`` it is
        the reference code's ``‖r_k‖ < rtol ‖r_0‖``).
    maxiter : int
        Iteration limit (default 100, the reference's).
    model : callable, optional
        ``model(r) -> direction`` on a unit-norm residual: a trained network
        (:class:`optkit.torch.DCDMModel`), any approximate inverse of ``A`` up to scale
        (``lambda r: r`` makes DCDM conjugate gradients). Its output's scale does not matter.
        Default: :func:`default_model` of ``grid_shape``.
    grid_shape : tuple of int, optional
        The 2-D or 3-D grid the unknowns live on (C order). With ``model=None`` it selects the
        pretrained network for that grid's dimension (:func:`default_model`); without it,
        ``model=None`` is the identity.
    n_orth : int
        How many previous directions to A-orthogonalize against (2 in the paper).
    callback : callable, optional
        ``callback(xk)`` after each iteration.
    true_residual : bool
        Recompute ``b - A x`` each step (the reference code) rather than update it.

    Returns
    -------
    x : ndarray
        The solution.
    info : int
        0: converged; ``> 0``: the number of iterations done without converging; ``< 0``:
        breakdown (a direction with ``qᵀAq <= 0``), minus the iteration at which it happened.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    >>> b = np.ones(50)
    >>> x, info = dcdm(A, b, model=lambda r: sp.linalg.spsolve(A.tocsc(), r))
    >>> info, bool(np.linalg.norm(A @ x - b) < 1e-8)
    (0, True)
    """
    Aop = spla.aslinearoperator(A)
    n = Aop.shape[0]
    if Aop.shape != (n, n):
        raise ValueError(f"A must be square, got shape {Aop.shape}")
    b = np.asarray(b, dtype=float).reshape(-1)
    if b.shape != (n,):
        raise ValueError(f"b has {b.size} entries but A has shape {Aop.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("b must be finite")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    if int(maxiter) != maxiter or maxiter < 0:
        raise ValueError(f"maxiter must be a non-negative integer, got {maxiter!r}")
    if int(n_orth) != n_orth or n_orth < 0:
        raise ValueError(f"n_orth must be a non-negative integer, got {n_orth!r}")
    grid_shape = check_grid_shape(grid_shape, n)
    x0 = np.zeros(n) if x0 is None else np.asarray(x0, dtype=float).reshape(-1)
    if x0.shape != (n,):
        raise ValueError(f"x0 has {x0.size} entries, expected {n}")
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0:
        return np.zeros(n), 0
    model = default_model(grid_shape) if model is None else model
    it = DCDMIteration(Aop, b, x0, model, n_orth=n_orth, true_residual=true_residual,
                       mask=active_unknowns(A))
    target = max(rtol * bnorm, atol)
    if it.residual_norm <= target:
        return it.x, 0
    for k in range(1, maxiter + 1):
        it.step()
        if it.breakdown:
            return it.x, -k
        if callback is not None:
            callback(it.x.copy())
        if it.residual_norm <= target:
            return it.x, 0
    return it.x, maxiter


def check_grid_shape(grid_shape: Any, n: int) -> tuple[int, ...] | None:
    """``grid_shape`` as a tuple of 2 or 3 positive ints whose product is ``n`` (or None)."""
    if grid_shape is None:
        return None
    shape = tuple(grid_shape)
    if (len(shape) not in (2, 3) or any(isinstance(s, bool) or int(s) != s or s < 1
                                         for s in shape) or math.prod(shape) != n):
        raise ValueError(f"grid_shape must be 2 or 3 positive integers with product {n} "
                         f"(the number of unknowns), got {grid_shape!r}")
    return tuple(int(s) for s in shape)


def ichol0(A: Any) -> spla.LinearOperator:
    """Zero fill-in incomplete Cholesky preconditioner: ``M ≈ A⁻¹`` as a ``LinearOperator``.

    The factor ``A ≈ L D Lᵀ`` keeps the sparsity pattern of ``A``'s lower triangle (IC(0));
    ``M r`` applies two sparse triangular solves. Pass it as ``M`` to
    :func:`scipy.sparse.linalg.cg`, or as ``model`` to :func:`dcdm` (then DCDM is IC(0)-PCG).

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite.

    Returns
    -------
    LinearOperator

    Raises
    ------
    ValueError
        When a pivot is not positive (IC(0) can break down for matrices that are not
        M-matrices; Poisson matrices are M-matrices).
    """
    A = sp.csr_array(A, dtype=float)
    n = A.shape[0]
    if A.shape != (n, n):
        raise ValueError(f"A must be square, got shape {A.shape}")
    lower = sp.tril(A, format="csr")
    lower.sort_indices()
    indptr, indices, data = lower.indptr, lower.indices, lower.data.copy()
    diag = np.zeros(n)
    # row-oriented LDLᵀ restricted to the pattern: for row i, for k < i in the pattern,
    # l_ik = (a_ik - Σ_{j<k} l_ij d_j l_kj) / d_k, then d_i = a_ii - Σ_k l_ik² d_k
    rows = [dict(zip(indices[indptr[i]:indptr[i + 1]].tolist(),
                     range(indptr[i], indptr[i + 1]), strict=True)) for i in range(n)]
    for i in range(n):
        start, stop = indptr[i], indptr[i + 1]
        for pos in range(start, stop):
            k = indices[pos]
            if k == i:
                break
            value = data[pos]
            row_k = rows[k]
            for pos_j in range(start, pos):
                j = indices[pos_j]
                pos_kj = row_k.get(j)
                if pos_kj is not None:
                    value -= data[pos_j] * diag[j] * data[pos_kj]
            data[pos] = value / diag[k]
        pivot = A[i, i] - sum(data[p] ** 2 * diag[indices[p]]
                              for p in range(start, stop) if indices[p] < i)
        if not pivot > 0:
            raise ValueError(f"incomplete Cholesky broke down at row {i} (pivot {pivot:.3g})")
        diag[i] = pivot
    strict = sp.csr_array((data, indices, indptr), shape=(n, n))
    strict.setdiag(0.0)
    strict.eliminate_zeros()
    L = (strict + sp.eye_array(n, format="csr")).tocsr()
    Lt = L.T.tocsr()

    def apply(r: Array) -> Array:
        y = spla.spsolve_triangular(L, np.asarray(r, dtype=float).reshape(-1), lower=True,
                                    unit_diagonal=True)
        return spla.spsolve_triangular(Lt, y / diag, lower=False, unit_diagonal=True)

    return spla.LinearOperator((n, n), matvec=apply, dtype=float)


def lanczos_ritz(A: Any, v0: ArrayLike, steps: int) -> tuple[Array, Array]:
    """Ritz pairs of ``A`` from ``steps`` Lanczos steps with full re-orthogonalization.

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator
        Symmetric.
    v0 : (n,) array_like
        Start vector.
    steps : int
        Number of Lanczos steps (at most ``n``); stops early on an invariant subspace.

    Returns
    -------
    values : (k,) ndarray
        Ritz values, ascending.
    vectors : (n, k) ndarray
        Orthonormal Ritz vectors, in the same order.
    """
    Aop = spla.aslinearoperator(A)
    n = Aop.shape[0]
    v = np.asarray(v0, dtype=float).reshape(-1)
    V = np.zeros((n, min(steps, n)))
    alphas, betas = [], []
    v = v / np.linalg.norm(v)
    for j in range(V.shape[1]):
        V[:, j] = v
        w = Aop @ v
        alphas.append(float(v @ w))
        w = w - V[:, :j + 1] @ (V[:, :j + 1].T @ w)  # full re-orthogonalization (twice)
        w = w - V[:, :j + 1] @ (V[:, :j + 1].T @ w)
        beta = float(np.linalg.norm(w))
        if j + 1 == V.shape[1] or beta <= 1e-12 * max(abs(alphas[-1]), 1.0):
            break
        betas.append(beta)
        v = w / beta
    k = len(alphas)
    values, S = scipy.linalg.eigh_tridiagonal(np.array(alphas), np.array(betas[:k - 1]))
    return values, V[:, :k] @ S


def deflated_cg(A: Any, b: ArrayLike, W: ArrayLike, *, M: Any = None, rtol: float = 1e-5,
                atol: float = 0.0, maxiter: int | None = None,
                callback: Callable[[Array], Any] | None = None) -> tuple[Array, int]:
    """Deflated preconditioned conjugate gradients (Saad, Yeung, Erhel and Guyomarc'h, 2000).

    The columns of ``W`` (approximate eigenvectors of the smallest eigenvalues, e.g. Ritz
    vectors from :func:`lanczos_ritz`) are removed from the Krylov space, so CG converges at
    the rate of the remaining spectrum.

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator
        Symmetric positive definite.
    b : (n,) array_like
    W : (n, k) array_like
        Deflation space (full column rank).
    M : LinearOperator, optional
        Preconditioner ``≈ A⁻¹`` (e.g. Jacobi).
    rtol, atol, maxiter, callback
        As in :func:`scipy.sparse.linalg.cg` (``maxiter`` default ``10 n``).

    Returns
    -------
    x : ndarray
    info : int
        0 converged, ``> 0`` iterations done without converging.
    """
    Aop = spla.aslinearoperator(A)
    n = Aop.shape[0]
    b = np.asarray(b, dtype=float).reshape(-1)
    W = np.asarray(W, dtype=float).reshape(n, -1)
    apply_m = (lambda r: r) if M is None else spla.aslinearoperator(M).matvec
    AW = np.column_stack([Aop @ W[:, j] for j in range(W.shape[1])])
    factor = scipy.linalg.cho_factor(W.T @ AW)

    def deflate(z: Array) -> Array:
        return z - W @ scipy.linalg.cho_solve(factor, AW.T @ z)

    target = max(rtol * float(np.linalg.norm(b)), atol)
    x = W @ scipy.linalg.cho_solve(factor, W.T @ b)
    r = b - Aop @ x
    if np.linalg.norm(r) <= target:
        return x, 0
    z = apply_m(r)
    p = deflate(z)
    rz = float(r @ z)
    maxiter = 10 * n if maxiter is None else maxiter
    for _ in range(maxiter):
        Ap = Aop @ p
        alpha = rz / float(p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        if callback is not None:
            callback(x.copy())
        if np.linalg.norm(r) <= target:
            return x, 0
        z = apply_m(r)
        rz_new = float(r @ z)
        p = deflate(z) + (rz_new / rz) * p
        rz = rz_new
    return x, maxiter
