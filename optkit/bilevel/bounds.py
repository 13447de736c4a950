"""Certified bounds for inexact hypergradients (MAID's spec, section 2; Ehrhardt and
Roberts, IMA J. Appl. Math. 89(1), 2024), and estimates of the constants they need: the lower
level's strong convexity, ``‖B‖`` and the Lipschitz constants ``L_B`` and ``L_{A⁻¹}``.

With ``‖ỹ - y*(x)‖ <= ε`` (a certified lower solve) and the linear system solved to residual
``δ``, the hypergradient ``z`` at ``(x, ỹ)`` satisfies ``‖z - ∇Φ(x)‖ <= ω(ε, δ)``
(:func:`error_bound`), and ``Φ(x)`` lies between the bounds of :func:`value_bounds`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

__all__ = ["error_bound", "value_bounds", "estimate_strong_convexity", "mixed_norm",
           "estimate_lipschitz"]


def error_bound(eps: float, delta: float, *, mu: float, B_norm: float, upper_grad_norm: float,
                L_g: float, L_B: float = 0.0, L_Ainv: float = 0.0) -> float:
    r"""``ω(ε, δ)``, a bound on the error of an inexact hypergradient (spec Theorem 2.1):

    .. math::

        \omega = c\,\varepsilon + \frac{\|B\|}{\mu}\,\delta + \frac{L_B L_g}{\mu}\varepsilon^2,
        \qquad c = \frac{L_g \|B\|}{\mu} + L_{A^{-1}} \|\nabla_y F\| \|B\|
        + \frac{L_B \|\nabla_y F\|}{\mu}.

    Parameters
    ----------
    eps : float
        The certified lower-level accuracy ``‖ỹ - y*(x)‖ <= ε``.
    delta : float
        The residual of the linear solve.
    mu : float
        Strong convexity of ``f(x, ·)``.
    B_norm : float
        ``‖∇²_xy f(x, ỹ)‖₂``, the spectral norm of the mixed derivative.
    upper_grad_norm : float
        ``‖∇_y F(x, ỹ)‖``.
    L_g : float
        Lipschitz constant of ``∇_y F(x, ·)``.
    L_B, L_Ainv : float
        Lipschitz constants in ``y`` of ``∇²_xy f`` and of ``(∇²_yy f)⁻¹`` (0 when the lower
        level is quadratic in ``y`` with ``x`` entering linearly).

    Returns
    -------
    float

    Examples
    --------
    >>> error_bound(1e-3, 1e-4, mu=2.0, B_norm=1.0, upper_grad_norm=5.0, L_g=1.0)
    0.00055
    """
    c = L_g * B_norm / mu + L_Ainv * upper_grad_norm * B_norm + L_B * upper_grad_norm / mu
    return c * eps + B_norm / mu * delta + L_B * L_g / mu * eps * eps


def value_bounds(upper_value: float, upper_grad_norm: float, eps: float, L_g: float, *,
                 convex: bool = False) -> tuple[float, float]:
    """Bounds ``(U⁻, U⁺)`` on ``Φ(x) = F(x, y*(x))`` from ``F`` at ``ỹ``, ``‖ỹ - y*‖ <= ε``
    (spec 2.2): ``F(x, ỹ) ∓ ‖∇_y F(x, ỹ)‖ ε ∓ (L_g/2) ε²``; with ``convex`` (``F(x, ·)``
    convex) the lower bound drops its ``ε²`` term.

    Parameters
    ----------
    upper_value : float
        ``F(x, ỹ)``.
    upper_grad_norm : float
        ``‖∇_y F(x, ỹ)‖``.
    eps : float
        The certified lower-level accuracy.
    L_g : float
        Lipschitz constant of ``∇_y F(x, ·)``.
    convex : bool
        Whether ``F(x, ·)`` is convex.

    Returns
    -------
    (lower, upper) : tuple of float

    Examples
    --------
    >>> value_bounds(1.0, 2.0, 0.1, 4.0)
    (0.78, 1.22)
    >>> value_bounds(1.0, 2.0, 0.1, 4.0, convex=True)
    (0.8, 1.22)
    """
    linear = upper_grad_norm * eps
    quadratic = 0.5 * L_g * eps * eps
    lower = upper_value - linear - (0.0 if convex else quadratic)
    return lower, upper_value + linear + quadratic


def estimate_strong_convexity(problem: Any, x: ArrayLike, y: ArrayLike, *, steps: int = 20,
                              seed: int = 0) -> float:
    """An estimate of ``μ = λ_min(∇²_yy f(x, y))`` by a few Lanczos steps on Hessian-vector
    products (ARPACK's :func:`scipy.sparse.linalg.eigsh`).

    The smallest Ritz value approaches ``λ_min`` from above: it is an estimate, not a
    certified lower bound (a certificate ``‖y - y*‖ <= ‖∇f‖/μ`` built on it is optimistic
    by the estimate's error). Methods that use it report it in their result.

    Parameters
    ----------
    problem : BilevelProblem
        Needs ``lower_hvp_yy``.
    x, y : array_like
        Where the Hessian is taken.
    steps : int
        Lanczos vectors (ARPACK's ``ncv``; at most ``m``).
    seed : int
        Seed of the start vector.

    Returns
    -------
    float
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    m = y.shape[0]
    if problem.lower_hvp_yy is None:
        raise TypeError("estimating the strong convexity needs lower_hvp_yy")

    def hvp(v: Any) -> Any:
        return problem.lower_hvp_yy(x, y, np.asarray(v, dtype=float).reshape(-1))

    if m <= max(steps, 3):  # small: the dense Hessian, m products
        H = np.column_stack([hvp(e) for e in np.eye(m)])
        return float(np.linalg.eigvalsh(0.5 * (H + H.T))[0])
    op = spla.LinearOperator((m, m), matvec=hvp, dtype=float)
    v0 = np.random.default_rng(seed).standard_normal(m)
    value = spla.eigsh(op, k=1, which="SA", ncv=steps, v0=v0, tol=1e-3,
                       return_eigenvectors=False, maxiter=10 * m)[0]
    return float(value) if math.isfinite(value) else math.nan


def mixed_norm(problem: Any, x: ArrayLike, y: ArrayLike, *, iters: int = 10, seed: int = 0
               ) -> float:
    """An estimate of ``‖∇²_xy f(x, y)‖₂`` (``‖B‖`` of :func:`error_bound`) by power
    iteration on ``M Mᵀ``, ``M v = lower_hvp_xy(x, y, v)``.

    ``Mᵀ u`` (from ``R^n`` to ``R^m``) is the derivative of ``∇_y f(x + t u, y)`` at
    ``t = 0``, taken by central differences of ``lower_grad_y`` (exact for a lower level
    linear in ``x``). Power iteration approaches the norm from below: ``iters`` (at least 5,
    as MAID's spec asks) pairs of products. When ``n <= iters``, ``Mᵀ`` is built column by
    column instead (``2n`` gradients) and its norm is exact up to the differences' error.

    Parameters
    ----------
    problem : BilevelProblem
        Needs ``lower_grad_y`` and ``lower_hvp_xy``.
    x, y : array_like
    iters : int
        Power iterations.
    seed : int
        Seed of the start vector.

    Returns
    -------
    float
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if iters < 5:
        raise ValueError(f"iters must be at least 5, got {iters}")
    h = 1e-6 * max(1.0, float(np.linalg.norm(x)))

    def transposed(u: Array) -> Array:  # Mᵀu, by central differences
        return (problem.lower_grad_y(x + h * u, y) - problem.lower_grad_y(x - h * u, y)) / (2 * h)

    if x.shape[0] <= iters:  # few columns: Mᵀ itself, at less cost than the iteration
        return float(np.linalg.norm(np.column_stack([transposed(e) for e in np.eye(x.shape[0])]),
                                    2))
    u = np.random.default_rng(seed).standard_normal(x.shape[0])
    u /= np.linalg.norm(u)
    norm = 0.0
    for _ in range(iters):
        v = problem.lower_hvp_xy(x, y, transposed(u))
        norm = float(np.linalg.norm(v))
        if norm == 0.0 or not math.isfinite(norm):
            return math.sqrt(norm)
        u = v / norm
    return math.sqrt(norm)


def estimate_lipschitz(problem: Any, x: ArrayLike, y: ArrayLike, q: ArrayLike, *, radius: float,
                       mu: float, rng: np.random.Generator) -> tuple[float, float]:
    """Local estimates of ``L_B`` and ``L_{A⁻¹}`` of :func:`error_bound`: how fast
    ``B = ∇²_xy f`` and ``A⁻¹ = (∇²_yy f)⁻¹`` change in ``y`` near ``y``, seen along ``q``.

    A point ``y' = y + radius·u`` (``u`` a random unit vector) gives

    - ``L_B ≈ ‖B(y')q - B(y)q‖ / (radius ‖q‖)``;
    - ``L_{A⁻¹} ≈ ‖(A(y') - A(y))q‖ / (radius μ ‖A(y)q‖)``, from
      ``A(y')⁻¹b - A(y)⁻¹b = A(y')⁻¹(A(y) - A(y'))q`` for ``q = A(y)⁻¹b`` and
      ``‖A(y')⁻¹‖ <= 1/μ``: four products and no extra linear solve.

    They are estimates along one direction, not certified bounds; MAID keeps their running
    maxima over a run (as the reference code does with its cruder versions).

    Parameters
    ----------
    problem : BilevelProblem
        Needs ``lower_hvp_yy`` and ``lower_hvp_xy``.
    x, y : array_like
        The point (``y`` the lower iterate, certified within ``radius`` of ``y*(x)``).
    q : array_like
        The linear system's solution (the direction the constants are seen along).
    radius : float
        Distance of the probe point, > 0 (MAID passes the accuracy ``ε``).
    mu : float
        The lower level's strong convexity, > 0.
    rng : numpy.random.Generator
        Draws ``u``.

    Returns
    -------
    L_B, L_Ainv : float
        0 when ``q = 0``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    q = np.asarray(q, dtype=float)
    if not (radius > 0 and mu > 0):
        raise ValueError(f"radius and mu must be > 0, got {radius!r} and {mu!r}")
    q_norm = float(np.linalg.norm(q))
    if q_norm == 0.0:
        return 0.0, 0.0
    u = rng.standard_normal(y.shape[0])
    y_probe = y + radius / float(np.linalg.norm(u)) * u
    dB = problem.lower_hvp_xy(x, y_probe, q) - problem.lower_hvp_xy(x, y, q)
    Aq = problem.lower_hvp_yy(x, y, q)
    dA = problem.lower_hvp_yy(x, y_probe, q) - Aq
    L_B = float(np.linalg.norm(dB)) / (radius * q_norm)
    Aq_norm = float(np.linalg.norm(Aq))
    L_Ainv = float(np.linalg.norm(dA)) / (radius * mu * Aq_norm) if Aq_norm > 0 else 0.0
    return L_B, L_Ainv
