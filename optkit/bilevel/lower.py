"""Warm-started solvers of a strongly convex lower level, with a certified accuracy.

For ``f(x, ·)`` ``μ``-strongly convex, ``‖y - y*(x)‖ <= ‖∇_y f(x, y)‖ / μ``: a solver that
stops when ``‖∇_y f(x, y)‖ <= μ ε`` certifies ``‖y - y*(x)‖ <= ε``. Both solvers here stop
that way (MAID's spec, section 3.6); every gradient evaluation is one lower-level iteration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["LowerSolve", "solve_lower", "LOWER_SOLVERS"]

Array = NDArray[np.float64]


class LowerSolve(NamedTuple):
    """The result of :func:`solve_lower`.

    Attributes
    ----------
    y : ndarray, shape (m,)
        The approximate lower solution.
    iterations : int
        Gradient evaluations of the lower level (the cost measure of bilevel methods).
    grad_norm : float
        The gradient norm ``‖∇_y f‖`` that certified ``bound``: at the returned ``y`` for
        ``"gd"``, at the point one gradient step before it for ``"fista"``.
    bound : float
        The certified distance ``‖∇_y f(x, y)‖ / μ >= ‖y - y*(x)‖``.
    converged : bool
        Whether ``bound <= eps`` (else ``maxiter`` ended the solve, or a value went
        non-finite).
    """

    y: Array
    iterations: int
    grad_norm: float
    bound: float
    converged: bool


def _gradient_descent(grad: Callable[[Array], Array], y: Array, eps: float, mu: float,
                      L: float, maxiter: int) -> LowerSolve:
    g = grad(y)
    calls = 1
    while True:
        norm = float(np.linalg.norm(g))
        if norm <= mu * eps or calls >= maxiter or not math.isfinite(norm):
            return LowerSolve(y, calls, norm, norm / mu, norm <= mu * eps)
        y = y - g / L
        g = grad(y)
        calls += 1


def _fista(grad: Callable[[Array], Array], y: Array, eps: float, mu: float, L: float,
           maxiter: int) -> LowerSolve:
    """FISTA for strongly convex smooth functions (spec 3.6): ``q = μ/L``, ``t_0 = 0``,
    ``t_{k+1} = (1 - q t_k² + sqrt((1 - q t_k²)² + 4 t_k²)) / 2``,
    ``β_k = (t_k - 1)(1 - t_{k+1} q) / (t_{k+1}(1 - q))``, ``z_k = y_k + β_k (y_k - y_{k-1})``,
    ``y_{k+1} = z_k - ∇f(z_k)/L``. It stops when ``‖∇f(z_k)‖ <= μ ε`` and returns
    ``z_k - ∇f(z_k)/L``: a gradient step of length ``1/L`` contracts the distance to the
    minimizer by ``1 - μ/L``, so ``‖∇f(z_k)‖/μ`` still bounds it."""
    q = mu / L
    t, y_prev = 0.0, y
    calls = 0
    while True:
        a = 1.0 - q * t * t
        t_next = 0.5 * (a + math.sqrt(a * a + 4.0 * t * t))
        beta = (t - 1.0) * (1.0 - t_next * q) / (t_next * (1.0 - q)) if q < 1.0 else 0.0
        z = y + beta * (y - y_prev)
        g = grad(z)
        calls += 1
        norm = float(np.linalg.norm(g))
        step = z - g / L
        if norm <= mu * eps or calls >= maxiter or not math.isfinite(norm):
            return LowerSolve(step, calls, norm, norm / mu, norm <= mu * eps)
        y_prev, y, t = y, step, t_next


#: The lower-level solvers, by name.
LOWER_SOLVERS = {"gd": _gradient_descent, "fista": _fista}


def solve_lower(problem: Any, x: ArrayLike, y0: ArrayLike, *, eps: float,
                method: str = "fista", mu: float | None = None, L: float | None = None,
                maxiter: int = 2000) -> LowerSolve:
    """Solve the lower level at ``x`` from ``y0`` until ``‖y - y*(x)‖ <= eps`` is certified.

    Parameters
    ----------
    problem : BilevelProblem
        Needs ``lower_grad_y``.
    x : array_like, shape (n,)
    y0 : array_like, shape (m,)
        The warm start (the last solution).
    eps : float
        The accuracy to certify: the solve stops when ``‖∇_y f(x, y)‖ <= μ eps``.
    method : {"fista", "gd"}
        FISTA for strongly convex functions (step ``1/L``, momentum from ``μ/L``) or
        gradient descent with step ``1/L``.
    mu, L : float, optional
        Strong convexity and smoothness constants of ``f(x, ·)`` (default: the problem's
        ``lower_strong_convexity`` and ``lower_smoothness``). A ``mu`` above the true one
        voids the certificate.
    maxiter : int
        The most gradient evaluations.

    Returns
    -------
    LowerSolve

    Examples
    --------
    >>> import numpy as np
    >>> import optkit
    >>> from optkit.bilevel import solve_lower
    >>> problem = optkit.BilevelProblem(
    ...     upper_fun=lambda x, y: 0.0, upper_grad=lambda x, y: (0 * x, 0 * y),
    ...     lower_fun=lambda x, y: np.sum((y - x) ** 2),
    ...     lower_grad_y=lambda x, y: 2 * (y - x), x0=np.zeros(3), y0=np.zeros(3),
    ...     lower_strong_convexity=2.0, lower_smoothness=2.0)
    >>> res = solve_lower(problem, np.ones(3), np.zeros(3), eps=1e-8, method="gd")
    >>> res.y, res.iterations, res.converged
    (array([1., 1., 1.]), 2, True)
    """
    if method not in LOWER_SOLVERS:
        raise ValueError(f"method must be one of {tuple(LOWER_SOLVERS)}, got {method!r}")
    x = np.asarray(x, dtype=float)
    mu = problem.constant("lower_strong_convexity", x) if mu is None else mu
    L = problem.constant("lower_smoothness", x) if L is None else L
    for name, value in (("mu", mu), ("L", L)):
        if value is None:
            raise ValueError(f"{name} is needed: give it, or the problem's "
                             f"{'lower_strong_convexity' if name == 'mu' else 'lower_smoothness'}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if mu > L:
        raise ValueError(f"mu = {mu:g} exceeds L = {L:g}: no function is both")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    if not (isinstance(maxiter, int) and maxiter >= 1):
        raise ValueError(f"maxiter must be an integer >= 1, got {maxiter!r}")
    y0 = np.array(y0, dtype=float)
    return LOWER_SOLVERS[method](lambda y: problem.lower_grad_y(x, y), y0, eps, mu, L, maxiter)
