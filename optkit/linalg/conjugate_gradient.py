"""The one conjugate gradient of optkit: :func:`cg`, in the style of :func:`scipy.sparse.linalg.cg`.

Every CG solve in optkit goes through it: the shifted solves of GNS
(:func:`optkit.linalg.solve_shifted` with ``method="cg"``), deflated PCG
(:func:`optkit.linalg.deflated_cg`), the q-system of the convex ReLU ADMM (NumPy or torch, CPU
or GPU) and the Newton steps of the problem zoo's reference solves; new ones (the bilevel
hypergradients) use it too. It takes NumPy arrays of any shape (read as flattened vectors) and
torch tensors on any device, and imports no torch: a tensor is recognized by its methods
(``clone``, ``add_``).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg.blas
import scipy.sparse.linalg as spla

__all__ = ["cg"]


def cg(matvec: Any, b: Any, *, x0: Any = None, rtol: float = 1e-5, atol: float = 0.0,
       maxiter: int | None = None, M: Any = None,
       callback: Callable[[Any], Any] | None = None) -> tuple[Any, int]:
    r"""Solve ``A x = b`` for a symmetric positive definite ``A`` by (preconditioned) conjugate
    gradients.

    The iteration of :func:`scipy.sparse.linalg.cg` (same stopping rule, same iterates up to
    rounding, same ``info``), for NumPy arrays of any shape and for torch tensors on any device.
    With ``z_k = M r_k``:

    .. math::

        \alpha_k = \frac{r_k^\top z_k}{p_k^\top A p_k}, \quad
        x_{k+1} = x_k + \alpha_k p_k, \quad r_{k+1} = r_k - \alpha_k A p_k, \quad
        p_{k+1} = z_{k+1} + \frac{r_{k+1}^\top z_{k+1}}{r_k^\top z_k}\, p_k,

    from ``r_0 = b - A x_0`` and ``p_0 = z_0``.

    Parameters
    ----------
    matvec : callable or object with ``@``
        ``matvec(v) -> A v`` for ``v`` of the shape of ``b``; or anything ``A`` with
        ``A @ v``: a NumPy array, a sparse matrix, a
        :class:`~scipy.sparse.linalg.LinearOperator` (its ``matvec`` is used). For a ``b``
        that is not a vector (a ``(P, d)`` array, a tensor), pass a callable.
    b : ndarray or torch.Tensor
        Right-hand side, of any shape; the system is read on the flattened vectors (inner
        products ``⟨u, v⟩ = Σ u ⊙ v``). Integer arrays are cast to float64. Real only.
    x0 : array of the shape of ``b``, optional
        Start (zeros by default); it is copied, never modified.
    rtol, atol : float
        Stop when ``‖b - A x‖ <= max(rtol ‖b‖, atol)`` (the residual of the recursion, as
        SciPy), checked before the first iteration and after each.
    maxiter : int, optional
        Iteration limit, at least 1 (default ``10 n``, ``n`` the number of entries of ``b``).
    M : callable or object with ``@``, optional
        Preconditioner, an approximation of ``A⁻¹`` (not of ``A``), symmetric positive
        definite: ``M(r) -> M r`` or ``M @ r``. Jacobi is ``lambda r: r / diag``.
    callback : callable, optional
        ``callback(xk)`` after each iteration, with the current iterate. As in SciPy it is the
        working array itself, updated in place by the next iterations: copy it to keep it.

    Returns
    -------
    x : array of the shape of ``b``
        The last iterate (a new array; NumPy in, NumPy out; a tensor in, a tensor out).
    info : int
        ``0``: converged. ``> 0``: not converged after ``maxiter`` iterations; the value is
        ``maxiter``. ``< 0``: breakdown in iteration ``k = -info`` (1-based), before its
        update: a curvature ``pᵀAp`` that is not positive (``A`` is not positive definite),
        a ``rᵀMr`` that is not positive (``M`` is not positive definite), or a non-finite
        value; ``x`` is then the last iterate before it.

    Raises
    ------
    ValueError
        When ``rtol`` or ``atol`` is negative or not a number, ``maxiter`` is not a positive
        integer, ``x0`` does not have the shape of ``b``, or ``matvec`` returns another
        shape.
    TypeError
        When ``matvec`` or ``M`` is neither callable nor has ``@``, or ``b`` is complex.

    See Also
    --------
    scipy.sparse.linalg.cg, deflated_cg

    Notes
    -----
    ``b = 0`` returns zeros and ``info = 0`` at once. For a 1-D float32 or float64 NumPy
    ``b`` the updates are the BLAS ``axpy``/``scal``/``dot`` on the solver's own arrays,
    without allocating anything per iteration besides what ``matvec`` and ``M`` return; for
    other NumPy shapes the same with :func:`numpy.vdot` and one buffer; for a torch tensor
    the in-place tensor methods, with one host synchronization per scalar (``pᵀAp``,
    ``‖r‖``, and ``rᵀMr`` with a preconditioner).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> x, info = cg(A, np.array([1.0, 2.0]), rtol=1e-12)
    >>> info, np.allclose(A @ x, [1.0, 2.0])
    (0, True)

    A matrix unknown, with the operator as a callable and a Jacobi preconditioner:

    >>> D = np.array([1.0, 10.0, 100.0])
    >>> B = np.ones((3, 2))
    >>> X, info = cg(lambda V: D[:, None] * V, B, M=lambda R: R / D[:, None], rtol=1e-12)
    >>> info, np.allclose(X, B / D[:, None])
    (0, True)
    """
    apply_a = _as_apply(matvec, "matvec")
    apply_m = None if M is None else _as_apply(M, "M")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(value, (int, float, np.floating, np.integer)) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    tensor = hasattr(b, "clone") and hasattr(b, "add_")
    if tensor:
        if b.is_complex():
            raise TypeError("cg solves real systems, got a complex b")
        shape, n = b.shape, b.numel()
        dot, axpy, xpby = _tensor_dot, _tensor_axpy, _tensor_xpby
        if x0 is None:
            x, r = b.new_zeros(shape), b.clone()
        else:
            x = x0.to(dtype=b.dtype, device=b.device, copy=True)
    else:
        b = np.asarray(b)
        if b.dtype.kind == "c":
            raise TypeError("cg solves real systems, got a complex b")
        dtype = b.dtype if b.dtype.kind == "f" else np.dtype(np.float64)
        shape, n = b.shape, b.size
        if b.ndim == 1 and dtype in (np.float32, np.float64):
            dot, axpy, scal = scipy.linalg.blas.get_blas_funcs(("dot", "axpy", "scal"),
                                                               dtype=dtype)
            xpby = functools.partial(_blas_xpby, axpy, scal)
        else:
            buffer = np.empty(shape, dtype=dtype)
            dot, axpy, xpby = np.vdot, functools.partial(_numpy_axpy, buffer), _numpy_xpby
        if x0 is None:
            x, r = np.zeros(shape, dtype=dtype), np.array(b, dtype=dtype)
        else:
            x = np.array(x0, dtype=dtype)
    if x0 is not None and tuple(x.shape) != tuple(shape):
        raise ValueError(f"x0 has shape {tuple(x.shape)}, expected {tuple(shape)} (that of b)")
    if maxiter is None:
        maxiter = 10 * n
    elif isinstance(maxiter, bool) or int(maxiter) != maxiter or maxiter < 1:
        raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
    bnorm = math.sqrt(float(dot(b, b)))
    if bnorm == 0.0:
        return (b.new_zeros(shape) if tensor else np.zeros(shape, dtype=dtype)), 0
    if x0 is not None:
        r = b - _checked(apply_a(x), shape)
        if not tensor:
            r = np.ascontiguousarray(r, dtype=dtype)
    target = max(float(rtol) * bnorm, float(atol))
    rr = float(dot(r, r))
    if math.sqrt(rr) <= target:
        return x, 0
    z = r if apply_m is None else apply_m(r)
    rz = rr if apply_m is None else float(dot(r, z))
    p = z.clone() if tensor else np.array(z, dtype=dtype)
    for k in range(1, int(maxiter) + 1):
        if not 0.0 < rz < math.inf:
            return x, -k
        q = _checked(apply_a(p), shape) if k == 1 else apply_a(p)
        pq = float(dot(p, q))
        if not 0.0 < pq < math.inf:
            return x, -k
        alpha = rz / pq
        x = axpy(p, x, a=alpha)
        r = axpy(q, r, a=-alpha)
        if callback is not None:
            callback(x)
        rr = float(dot(r, r))
        if math.sqrt(rr) <= target:
            return x, 0
        if apply_m is None:
            z, rz_new = r, rr
        else:
            z = apply_m(r)
            rz_new = float(dot(r, z))
        p = xpby(z, p, rz_new / rz)
        rz = rz_new
    return x, int(maxiter)


def _as_apply(A: Any, name: str) -> Callable[[Any], Any]:
    """``v -> A v`` for a callable, a LinearOperator or anything with ``@``."""
    if isinstance(A, spla.LinearOperator):
        return A.matvec
    if isinstance(A, np.matrix):
        A = np.asarray(A)
    if callable(A):
        return A
    if hasattr(A, "__matmul__"):
        return functools.partial(operator.matmul, A)
    raise TypeError(f"{name} must be a callable v -> A v or have @, got {type(A).__name__}")


def _checked(q: Any, shape: Any) -> Any:
    if tuple(q.shape) != tuple(shape):
        raise ValueError(f"matvec returned shape {tuple(q.shape)} for a vector of shape "
                         f"{tuple(shape)}")
    return q


# The three kernels: dot(u, v) -> scalar, axpy(u, y, a) -> y + a u (in place on y, returned)
# and xpby(z, p, beta) -> z + beta p (in place on p, returned), for 1-D NumPy (BLAS), NumPy of
# any shape, and torch tensors.

def _blas_xpby(axpy: Any, scal: Any, z: Any, p: Any, beta: float) -> Any:
    return axpy(z, scal(beta, p))


def _numpy_axpy(buffer: Any, u: Any, y: Any, a: float) -> Any:
    np.multiply(u, a, out=buffer)
    y += buffer
    return y


def _numpy_xpby(z: Any, p: Any, beta: float) -> Any:
    p *= beta
    p += z
    return p


def _tensor_dot(u: Any, v: Any) -> Any:
    return (u * v).sum()


def _tensor_axpy(u: Any, y: Any, a: float) -> Any:
    return y.add_(u, alpha=a)


def _tensor_xpby(z: Any, p: Any, beta: float) -> Any:
    return p.mul_(beta).add_(z)
