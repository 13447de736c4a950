"""The hypergradient of a bilevel problem by the implicit function theorem.

For ``Φ(x) = F(x, y*(x))`` with ``y*(x) = argmin_y f(x, y)`` and ``f(x, ·)`` strongly convex,

.. math::

    \\nabla \\Phi(x) = \\nabla_x F - \\nabla^2_{xy} f \\, q, \\qquad
    \\nabla^2_{yy} f \\, q = \\nabla_y F,

both evaluated at ``(x, y*(x))``. :func:`hypergradient` evaluates it at a given ``(x, y)``
(an approximation of ``y*(x)``), with the linear system solved by conjugate gradients on
Hessian-vector products, a truncated Neumann series, or a dense solve.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from optkit.linalg import cg

__all__ = ["hypergradient", "HypergradientInfo", "LINSOLVES"]

Array = NDArray[np.float64]

#: The ways :func:`hypergradient` solves for ``q``.
LINSOLVES = ("cg", "neumann", "exact")


class HypergradientInfo(NamedTuple):
    """How the linear system of :func:`hypergradient` was solved.

    Attributes
    ----------
    q : ndarray, shape (m,)
        The solution of ``(∇²_yy f + ridge I) q = ∇_y F`` (warm start of the next solve).
    iterations : int
        CG iterations, Neumann terms, or ``m`` (the Hessian-vector products that formed the
        dense Hessian).
    residual : float
        ``‖(∇²_yy f + ridge I) q - ∇_y F‖``, computed with one more Hessian-vector product.
    status : int
        ``0``: solved to the tolerance; ``1``: ``maxiter`` reached first; ``-1``: the Hessian
        is not positive definite (CG breakdown or a failed Cholesky factorization).
    upper_grad_y : ndarray, shape (m,)
        ``∇_y F(x, y)``, the right-hand side (for the error bounds).
    """

    q: Array
    iterations: int
    residual: float
    status: int
    upper_grad_y: Array


def hypergradient(problem: Any, x: ArrayLike, y: ArrayLike, *, linsolve: str = "cg",
                  rtol: float = 1e-10, atol: float = 0.0, maxiter: int | None = None,
                  q0: ArrayLike | None = None, ridge: float = 0.0, step: float | None = None,
                  ) -> tuple[Array, HypergradientInfo]:
    r"""The implicit-function hypergradient ``∇_x F - ∇²_xy f q`` at ``(x, y)``.

    Parameters
    ----------
    problem : BilevelProblem
        Needs ``upper_grad``, ``lower_hvp_yy`` and ``lower_hvp_xy``.
    x : array_like, shape (n,)
        The upper variable.
    y : array_like, shape (m,)
        The lower variable, ``y*(x)`` or an approximation of it.
    linsolve : {"cg", "neumann", "exact"}
        How ``(∇²_yy f + ridge I) q = ∇_y F`` is solved:

        - ``"cg"``: conjugate gradients (:func:`optkit.linalg.cg`) on Hessian-vector
          products, from ``q0``, until ``‖r‖ <= max(rtol ‖∇_y F‖, atol)`` or ``maxiter``
          iterations (default ``10 m``). Never CG on the normal equations: the Hessian is
          symmetric positive definite.
        - ``"neumann"``: the truncated Neumann series
          :math:`q = \eta \sum_{k=0}^{K-1} (I - \eta H)^k \nabla_y F` with ``K = maxiter``
          terms (default 100) and ``η = step`` (default ``1 / (L + ridge)``, ``L`` the
          problem's ``lower_smoothness``); it converges for ``0 < η < 2/λ_max(H)``, with
          error ``(1 - ημ)^K``. It stops early when a term's norm falls below
          ``max(rtol ‖∇_y F‖, atol)`` times ``η``.
        - ``"exact"``: the dense Hessian from ``m`` Hessian-vector products and a Cholesky
          solve; for small ``m`` (tests, references).
    rtol, atol : float
        Tolerances of the linear solve (see ``linsolve``).
    maxiter : int, optional
        CG iterations or Neumann terms.
    q0 : array_like, shape (m,), optional
        Warm start of CG (``info.q`` of the previous call).
    ridge : float
        A shift ``ridge · I`` added to the Hessian (regularizes an ill-conditioned lower
        level; 0 for the exact hypergradient).
    step : float, optional
        ``η`` of the Neumann series.

    Returns
    -------
    g : ndarray, shape (n,)
        The hypergradient.
    info : HypergradientInfo
        ``q``, iterations, residual and status of the linear solve.

    Raises
    ------
    TypeError
        When the problem lacks one of the oracles.
    ValueError
        For an unknown ``linsolve``, a bad tolerance, ``ridge`` or ``step``, or a ``q0`` of
        the wrong shape; ``"neumann"`` without ``step`` nor ``problem.lower_smoothness``.

    Examples
    --------
    A lower level ``f = ½‖y - x‖² + ½‖y‖²`` (``y* = x/2``) and ``F = ½‖y - 1‖²``, so
    ``Φ(x) = ½‖x/2 - 1‖²`` and ``∇Φ(x) = (x/2 - 1)/2``:

    >>> import numpy as np
    >>> import optkit
    >>> from optkit.bilevel import hypergradient
    >>> problem = optkit.BilevelProblem(
    ...     upper_fun=lambda x, y: 0.5 * np.sum((y - 1) ** 2),
    ...     upper_grad=lambda x, y: (np.zeros_like(x), y - 1),
    ...     lower_fun=lambda x, y: 0.5 * np.sum((y - x) ** 2) + 0.5 * np.sum(y**2),
    ...     lower_grad_y=lambda x, y: 2 * y - x,
    ...     lower_hvp_yy=lambda x, y, v: 2 * v, lower_hvp_xy=lambda x, y, v: -v,
    ...     x0=np.zeros(2), y0=np.zeros(2))
    >>> x = np.array([1.0, 4.0])
    >>> g, info = hypergradient(problem, x, x / 2)
    >>> g, info.iterations
    (array([-0.25,  0.5 ]), 1)
    """
    for name in ("upper_grad", "lower_hvp_yy", "lower_hvp_xy"):
        if getattr(problem, name, None) is None:
            raise TypeError(f"the hypergradient needs the oracle {name}; the problem has none")
    if linsolve not in LINSOLVES:
        raise ValueError(f"linsolve must be one of {LINSOLVES}, got {linsolve!r}")
    for name, value in (("rtol", rtol), ("atol", atol), ("ridge", ridge)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    gx, gy = problem.upper_grad(x, y)
    gx, gy = np.asarray(gx, dtype=float), np.asarray(gy, dtype=float)
    if gx.shape != x.shape or gy.shape != y.shape:
        raise ValueError(f"upper_grad returned shapes {gx.shape} and {gy.shape}, expected "
                         f"{x.shape} (the gradient in x) and {y.shape} (in y)")

    def hvp(v: Array) -> Array:
        out = problem.lower_hvp_yy(x, y, v)
        return out + ridge * v if ridge else out

    target = max(rtol * float(np.linalg.norm(gy)), atol)
    if linsolve == "cg":
        q, iterations, status = _cg(hvp, gy, q0, rtol, atol, maxiter)
    elif linsolve == "neumann":
        if step is None:
            L = problem.constant("lower_smoothness", x)
            if L is None:
                raise ValueError("linsolve='neumann' needs step, or the problem's "
                                 "lower_smoothness (step = 1/L)")
            step = 1.0 / (L + ridge)
        q, iterations, status = _neumann(hvp, gy, target, maxiter, step)
    else:
        q, iterations, status = _dense(hvp, gy)
    residual = float(np.linalg.norm(hvp(q) - gy))
    mixed = np.asarray(problem.lower_hvp_xy(x, y, q), dtype=float)
    if mixed.shape != x.shape:
        raise ValueError(f"lower_hvp_xy returned shape {mixed.shape}, expected {x.shape}")
    return gx - mixed, HypergradientInfo(q, iterations, residual, status, gy)


def _cg(hvp: Any, b: Array, q0: ArrayLike | None, rtol: float, atol: float,
        maxiter: int | None) -> tuple[Array, int, int]:
    if q0 is not None:
        q0 = np.asarray(q0, dtype=float)
        if q0.shape != b.shape:
            raise ValueError(f"q0 has shape {q0.shape}, expected {b.shape}")
    count = [0]

    def callback(_: Array) -> None:
        count[0] += 1

    q, info = cg(hvp, b, x0=q0, rtol=rtol, atol=atol, maxiter=maxiter, callback=callback)
    return q, count[0], (0 if info == 0 else 1 if info > 0 else -1)


def _neumann(hvp: Any, b: Array, target: float, maxiter: int | None,
             step: float) -> tuple[Array, int, int]:
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be a finite number > 0, got {step!r}")
    terms = 100 if maxiter is None else int(maxiter)
    term = step * b
    q = term.copy()
    for k in range(1, terms):
        if float(np.linalg.norm(term)) <= step * target:
            return q, k, 0
        term = term - step * hvp(term)
        q += term
    return q, terms, 0 if float(np.linalg.norm(term)) <= step * target else 1


def _dense(hvp: Any, b: Array) -> tuple[Array, int, int]:
    m = b.shape[0]
    H = np.column_stack([hvp(e) for e in np.eye(m)])
    H = 0.5 * (H + H.T)
    try:
        factor = scipy.linalg.cho_factor(H)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(H, b, rcond=None)[0], m, -1
    return scipy.linalg.cho_solve(factor, b), m, 0
