"""Block update rules (spec sections 4 and 6): the new ``x_b`` for a selected block.

Each rule is a small strategy object (:class:`Update`) called with the run's workspace
(:class:`~optkit.solvers.bcd.run.BCDRun`) and the block; :data:`UPDATES` holds them by name,
and the option ``update`` picks one.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from optkit.linalg import forest_order, tree_solve
from optkit.linesearch import backtracking
from optkit.prox import prox_l1
from optkit.stopping import at_most

Array = NDArray[np.float64]
Index = NDArray[np.intp]


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


# -- the rules ---------------------------------------------------------------------------------


class Update(abc.ABC):
    """An update rule: ``rule(run, b) -> (x_b_new, trials)``, the block's new values and the
    objective values a line search computed (1 without one)."""

    #: The value of the ``update`` option that picks it.
    name: ClassVar[str]
    #: Whether it handles the non-smooth ``g`` of a GLM with ``l1`` or ``nonneg``.
    prox: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        """The new ``x_b`` and the number of values a line search computed."""


class ExactTree(Update):
    """``x_b - Q_bb⁻¹ g_b`` by message passing on a forest block (the elimination order is
    cached for fixed blocks)."""

    name = "exact_tree"

    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        m = run.model
        gb = m.grad[b]
        Qbb = m.Q[b][:, b]
        if run.forests is None:
            return m.x[b] + tree_solve(Qbb, -gb), 1
        key = ("order", b.tobytes())
        if key not in run.cache:
            run.cache[key] = forest_order(Qbb)
        return m.x[b] + tree_solve(Qbb, -gb, order=run.cache[key], check=False), 1


class Gradient(Update):
    """``x_b - g_b / L_b``."""

    name = "gradient"

    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        return run.model.x[b] - run.model.grad[b] / run.block_L(b), 1


class Matrix(Update):
    """``x_b - H_b⁻¹ g_b`` with the uniform Hessian bound (exact block minimization for
    quadratics and the squared loss); a fixed block's factor is computed once."""

    name = "matrix"

    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        m = run.model
        xb, gb = m.x[b], m.grad[b]
        if run.fixed is None and run.forests is None:
            return xb - spd_solve(m.hessian_bound_block(b), gb), 1
        key = ("factor", b.tobytes())
        if key not in run.cache:
            run.cache[key] = cho_factor_or_none(m.hessian_bound_block(b))
        factor = run.cache[key]
        if factor is None:
            return xb - spd_solve(m.hessian_bound_block(b), gb), 1
        return xb - scipy.linalg.cho_solve(factor, gb), 1


class ExactDense(Matrix):
    """The matrix update on the blocks of ``selection="general"``."""

    name = "exact_dense"


class LipschitzSearch(Update):
    """``x_b - g_b / L`` with ``L = max_{i∈b} L̂_i`` doubled until the decrease
    ``‖g_b‖²/(2L)`` holds (spec section 4.4); the estimates ``L̂`` persist."""

    name = "lipschitz_search"

    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        m = run.model
        xb, gb = m.x[b], m.grad[b]
        L = float(run.L_hat[b].max())
        f0 = m.smooth_value()
        for trials in range(1, 60):  # noqa: B007 - read after the loop
            step = gb / L
            cand = xb - step
            decrease = 0.5 * float(gb @ step)  # ‖g_b‖²/(2L), without overflowing ‖g_b‖²
            if at_most(m.trial_value(b, cand), f0 - decrease, f0):
                break
            L *= 2.0
        else:  # no trial passed: the block stays where it is
            cand = xb
        run.L_hat[b] = L
        return cand, trials


class Newton(Update):
    """The exact block Newton direction and the reference code's line search."""

    name = "newton"

    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        m = run.model
        xb, gb = m.x[b], m.grad[b]
        d = -spd_solve(m.hessian_block(b), gb)
        return _search(run, b, m.smooth_value(), xb, d, float(gb @ d))


class ProxGradient(Update):
    """``prox_{g/L_b}(x_b - g_b / L_b)``."""

    name = "prox_gradient"
    prox = True

    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        m = run.model
        p = m.problem
        Lb = run.block_L(b)
        step = 1.0 / Lb
        return prox_l1(m.x[b] - m.grad[b] / Lb, step * p.l1, nonneg=p.nonneg), 1


class ProxNewton(Update):
    """Exact minimization of the block's quadratic model plus ``g``: a non-negative QP (for
    L1 without sign constraints, over ``y = y⁺ - y⁻``)."""

    name = "prox_newton"
    prox = True

    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        m = run.model
        p = m.problem
        xb, gb = m.x[b], m.grad[b]
        H = m.hessian_block(b)
        q = gb - H @ xb  # model in y = x_b: ½ yᵀHy + (g_b - H x_b)ᵀ y + l1 Σ|y|
        if p.nonneg:
            return nonneg_qp(H, q + p.l1, y0=xb), 1
        H2 = np.block([[H, -H], [-H, H]])
        q2 = np.concatenate([q + p.l1, -q + p.l1])
        y = nonneg_qp(H2, q2, y0=np.concatenate([np.maximum(xb, 0), np.maximum(-xb, 0)]))
        return y[:b.size] - y[b.size:], 1


class TwoMetricProjection(Update):
    """Two-metric projection (Bertsekas) on x >= 0: scaled gradient on the active set,
    Newton on the rest, then a projected line search."""

    name = "two_metric_projection"
    prox = True

    def __call__(self, run: Any, b: Index) -> tuple[Array, int]:
        m = run.model
        xb = m.x[b]
        g_full = m.grad[b] + m.problem.l1
        active = (xb < 1e-4) & (g_full > 0)
        d = np.zeros_like(xb)
        if active.any():
            d[active] = -g_full[active] / run.L[b][active].sum()
        work = ~active
        if work.any():
            H = m.hessian_block(b)[np.ix_(work, work)]
            d[work] = -spd_solve(H, g_full[work])
        # the slope along the projected step: the active variables the projection holds at
        # zero do not count (with the unprojected slope the Armijo test asks for a decrease
        # they can never give, and the search stalls)
        slope = float(g_full @ (np.maximum(xb + d, 0.0) - xb))
        return _search(run, b, m.value(), xb, d, slope, project=lambda y: np.maximum(y, 0.0))


def _search(run: Any, b: Index, f0: float, xb: Array, d: Array, slope: float,
            project: Any = None) -> tuple[Array, int]:
    new, _, trials = line_search(lambda y: run.model.trial_value(b, y), f0, xb, d, slope,
                                 project)
    return new, trials


def line_search(value: Any, f0: float, x: Array, d: Array, slope: float,
                project: Any = None) -> tuple[Array, float, int]:
    """The reference code's backtracking: ``α = 1``, ``c = 1e-10``, interpolated steps
    clamped to ``[0.01α, 0.5α]``, at most 51 values (:func:`optkit.linesearch.backtracking`).

    Returns
    -------
    (x_new, f_new, trials)
        ``x_new`` is ``x`` itself (the block stays where it is) when no trial passed.
    """
    ls = backtracking(value, x, f0, d, slope, c1=1e-10, interpolate=True, project=project,
                      max_trials=51)
    return ls.x, ls.fun, ls.trials


#: Every update rule, by the name the ``update`` option takes.
UPDATES: dict[str, Update] = {rule.name: rule for rule in (
    Gradient(), Matrix(), Newton(), LipschitzSearch(), ExactDense(), ExactTree(),
    ProxGradient(), ProxNewton(), TwoMetricProjection())}
SMOOTH_UPDATES = tuple(name for name, rule in UPDATES.items() if not rule.prox)
PROX_UPDATES = tuple(name for name, rule in UPDATES.items() if rule.prox)
