"""Conjugate-direction solvers for symmetric positive definite systems: DCDM, deflated PCG, IC(0).

:func:`dcdm` is the deep conjugate direction method (Kaneda et al., ICML 2023): a conjugate
direction method whose raw search direction is ``model(r / ‖r‖)``, A-orthogonalized against
the last ``n_orth`` directions and followed by an exact line search. With ``model`` the
identity it is conjugate gradients; with ``r ↦ M r`` for an SPD ``M`` it is preconditioned CG;
with a network trained to approximate ``A⁻¹`` up to scale it is DCDM. It follows the
conventions of :mod:`scipy.sparse.linalg` (``(x, info)``, ``rtol``/``atol``, ``callback``).

:func:`ichol0` is the zero fill-in incomplete Cholesky preconditioner (SciPy has none),
:func:`deflated_cg` is PCG (:func:`optkit.linalg.cg`) with a deflation space, and
:func:`lanczos_ritz` gives one. All are re-exported by :mod:`optkit.linalg`.

Which DCDM networks ship with optkit is known here, without torch (:func:`pretrained_dims`,
:func:`pretrained_file`); loading one is the one step that needs torch, and
:func:`default_model` reaches it through :func:`importlib.import_module`, so that this module
imports no torch module.
"""

from __future__ import annotations

import importlib
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

from optkit._grid import check_grid_shape
from optkit.linalg.conjugate_gradient import cg

__all__ = ["dcdm", "DCDMIteration", "active_unknowns", "default_model", "pretrained_dims",
           "pretrained_file", "ichol0", "lanczos_ritz", "deflated_cg"]

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


def pretrained_file(dim: int) -> importlib.resources.abc.Traversable:
    """Where the DCDM network for ``dim``-D grids ships: ``optkit/torch/models/dcdm_<dim>d.pt``
    (it may not exist: see :func:`pretrained_dims`; open it with
    :func:`importlib.resources.as_file`). Looking does not import torch."""
    return importlib.resources.files("optkit") / "torch" / "models" / f"dcdm_{int(dim)}d.pt"


def pretrained_dims() -> tuple[int, ...]:
    """The grid dimensions (2, 3) for which a trained DCDM network ships with optkit (the files
    of :func:`pretrained_file`; looking does not import torch)."""
    return tuple(dim for dim in (2, 3) if pretrained_file(dim).is_file())


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
    try:  # the one step that needs torch, imported only here
        dcdm_net = importlib.import_module("optkit.torch.dcdm_net")
    except ImportError as err:
        raise ImportError("the pretrained DCDM model needs PyTorch: pip install optkit[torch]"
                          " (or pass a model, e.g. model=lambda r: r for plain CG)") from err
    return dcdm_net.DCDMModel.pretrained(grid_shape)


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
    if grid_shape is not None:
        try:
            grid_shape = check_grid_shape(grid_shape, dims=(2, 3), size=n)
        except (TypeError, ValueError) as err:
            raise ValueError(f"grid_shape must be 2 or 3 positive integers with product {n} "
                             f"(the number of unknowns), got {grid_shape!r}: {err}") from None
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
    r"""Deflated preconditioned conjugate gradients (Saad, Yeung, Erhel and Guyomarc'h, 2000).

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
        As in :func:`optkit.linalg.cg` (``maxiter`` default ``10 n``); ``callback`` gets a
        copy of the iterate.

    Returns
    -------
    x : ndarray
    info : int
        0 converged, ``> 0`` iterations done without converging, ``< 0`` breakdown (as
        :func:`optkit.linalg.cg`).

    Notes
    -----
    With :math:`E = W^\top A W` and the projection :math:`P = I - W E^{-1} (AW)^\top`,
    deflated PCG starts from :math:`x_0 = W E^{-1} W^\top b` (so :math:`W^\top r_0 = 0`) and
    runs PCG with the directions :math:`p_0 = P M r_0`,
    :math:`p_{k+1} = P M r_{k+1} + \beta_k p_k`,
    :math:`\beta_k = r_{k+1}^\top M r_{k+1} / r_k^\top M r_k`. Every direction satisfies
    :math:`(AW)^\top p_k = 0`, hence :math:`W^\top r_k = 0` for all :math:`k`, and then
    :math:`r^\top P M r = r^\top M r - (W^\top r)^\top E^{-1} (AW)^\top M r = r^\top M r`:
    it is exactly PCG (:func:`optkit.linalg.cg`) from :math:`x_0` with the preconditioner
    :math:`P M`, which is how it is computed (the same iterates, up to the rounding of
    :math:`W^\top r \approx 0`).
    """
    Aop = spla.aslinearoperator(A)
    n = Aop.shape[0]
    b = np.asarray(b, dtype=float).reshape(-1)
    W = np.asarray(W, dtype=float).reshape(n, -1)
    apply_m = None if M is None else spla.aslinearoperator(M).matvec
    AW = np.column_stack([Aop @ W[:, j] for j in range(W.shape[1])])
    factor = scipy.linalg.cho_factor(W.T @ AW)

    def deflated_preconditioner(r: Array) -> Array:
        z = r if apply_m is None else apply_m(r)
        return z - W @ scipy.linalg.cho_solve(factor, AW.T @ z)

    x0 = W @ scipy.linalg.cho_solve(factor, W.T @ b)
    return cg(Aop.matvec, b, x0=x0, rtol=rtol, atol=atol, maxiter=maxiter,
              M=deflated_preconditioner,
              callback=None if callback is None else lambda xk: callback(xk.copy()))
