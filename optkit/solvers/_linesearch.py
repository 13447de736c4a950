"""Backtracking line search shared by the first-order methods."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from optkit.problem import Problem
from optkit.stopping import at_most


class LineSearchResult(NamedTuple):
    """Outcome of :func:`armijo`: the accepted step and the new point, or ``ok=False``
    (with ``nan=True`` when a trial value was NaN: the search stops there)."""

    ok: bool
    step: float
    x: NDArray[np.float64]
    fun: float
    grad: NDArray[np.float64] | None
    trials: int
    nan: bool = False


def armijo(
    problem: Problem,
    x: NDArray[np.float64],
    fun: float,
    slope: float,
    direction: NDArray[np.float64],
    step: float,
    *,
    c1: float,
    shrink: float,
    max_trials: int,
) -> LineSearchResult:
    """Backtrack from ``step`` until ``f(x + t d) <= f(x) + c1 t slope`` (up to the rounding
    of ``f``: :func:`optkit.stopping.at_most`).

    ``slope`` is the directional derivative ``∇f(x)ᵀd`` (negative for a descent direction).
    Each trial costs one evaluation of ``f``; the gradient at the accepted point is
    evaluated with it when the problem computes both together (``fun_and_grad``), and once
    afterwards otherwise. An infinite trial value is rejected (the step shrinks); a NaN
    ends the search with ``ok=False, nan=True``.
    """
    joint = problem.fun_and_grad is not None and problem.fun is None
    for trial in range(1, max_trials + 1):
        x_new = x + step * direction
        if joint:
            f_new, g_new = problem.value_and_grad(x_new)
        else:
            f_new, g_new = problem.value(x_new), None
        if f_new != f_new:
            return LineSearchResult(False, step, x, fun, None, trial, nan=True)
        if at_most(f_new, fun + c1 * step * slope, fun):
            if g_new is None:
                g_new = problem.gradient(x_new)
            return LineSearchResult(True, step, x_new, f_new, g_new, trial)
        step *= shrink
    return LineSearchResult(False, step, x, fun, None, max_trials)
