"""Block update rules (spec sections 4 and 6): the new ``x_b`` for a selected block."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from optkit.stopping import at_most

Array = NDArray[np.float64]

SMOOTH_UPDATES = ("gradient", "matrix", "newton", "lipschitz_search", "exact_dense",
                  "exact_tree")
PROX_UPDATES = ("prox_gradient", "prox_newton", "two_metric_projection")


def cho_factor_or_none(H: Array) -> tuple | None:
    """The Cholesky factor of ``H``, or ``None`` when ``H`` is not positive definite."""
    try:
        return scipy.linalg.cho_factor(H)
    except np.linalg.LinAlgError:
        return None


def spd_solve(H: Array, rhs: Array) -> Array:
    """``H⁻¹ rhs`` by Cholesky, least squares when ``H`` is singular."""
    factor = cho_factor_or_none(H)
    if factor is None:
        return np.linalg.lstsq(H, rhs, rcond=None)[0]
    return scipy.linalg.cho_solve(factor, rhs)


def line_search(value: Callable[[Array], float], f0: float, x: Array, d: Array, slope: float,
                project: Callable[[Array], Array] | None = None, *, c: float = 1e-10,
                max_backtracks: int = 50) -> tuple[Array, float, int]:
    """The reference code's backtracking: ``α = 1``, accept when
    ``F(P(x + αd)) <= F(x) + c α ⟨g, d⟩`` (up to rounding: :func:`optkit.stopping.at_most`);
    the first backtrack interpolates a quadratic, the later ones a cubic through the last two
    trials; optkit clamps each new ``α`` to ``[0.01α, 0.5α]`` and stops after
    ``max_backtracks``.

    Returns
    -------
    (x_new, f_new, trials)
        ``x_new`` is ``x`` itself when no step was accepted; ``trials`` counts the values
        computed.
    """
    project = project or (lambda y: y)
    alpha, prev = 1.0, None
    for trials in range(1, max_backtracks + 2):
        x_new = project(x + alpha * d)
        f_new = value(x_new)
        if at_most(f_new, f0 + c * alpha * slope, f0):
            return x_new, f_new, trials
        z = f_new - f0 - alpha * slope
        if prev is None or not math.isfinite(f_new):
            new = -slope * alpha**2 / (2.0 * z) if math.isfinite(z) and z > 0 else 0.5 * alpha
        else:
            a_old, z_old = prev
            denom = (alpha - a_old) * a_old**2 * alpha**2
            new = 0.5 * alpha  # where the cubic cannot be formed (its terms underflow)
            if denom != 0.0:
                a = (a_old**2 * z - alpha**2 * z_old) / denom
                b = (-a_old**3 * z + alpha**3 * z_old) / denom
                disc = b * b - 3.0 * a * slope
                if a != 0 and disc >= 0:
                    new = (-b + math.sqrt(disc)) / (3.0 * a)
        prev = (alpha, z)
        if not math.isfinite(new):
            new = 0.5 * alpha
        alpha = min(max(new, 0.01 * alpha), 0.5 * alpha)
    return x, f0, max_backtracks + 1


def nonneg_qp(H: Array, q: Array, y0: Array | None = None, tol: float = 1e-12,
              max_iter: int = 500) -> Array:
    """``argmin_{y >= 0} ½ yᵀHy + qᵀy`` for a small PSD ``H``, by a primal active-set method
    (Lawson-Hanson's NNLS scheme for a quadratic): exact in finitely many steps."""
    n = q.size
    y = np.zeros(n) if y0 is None else np.maximum(y0, 0.0)
    free = y > 0
    for _ in range(max_iter):
        if free.any():
            z = np.zeros(n)
            idx = np.flatnonzero(free)
            z[idx] = spd_solve(H[np.ix_(idx, idx)], -q[idx])
            if np.all(z[idx] > tol):
                y = z
            else:  # step towards z until a free variable hits zero, and release it
                neg = idx[z[idx] <= tol]
                ratio = y[neg] / np.maximum(y[neg] - z[neg], 1e-300)
                alpha = float(np.min(ratio)) if ratio.size else 1.0
                y = y + alpha * (z - y)
                free &= y > tol
                y[~free] = 0.0
                continue
        w = -(H @ y + q)
        w[free] = -np.inf
        j = int(np.argmax(w))
        if w[j] <= tol * max(1.0, np.abs(q).max()):
            return y
        free[j] = True
    return y
