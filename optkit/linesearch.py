"""The backtracking line search, written once for every method that takes a step along a
direction and wants sufficient decrease (``gd``'s Armijo search, greedy BCD's Newton and
two-metric-projection updates)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from optkit.stopping import at_most

__all__ = ["LineSearchResult", "backtracking"]

Array = NDArray[np.float64]


class LineSearchResult(NamedTuple):
    """Outcome of :func:`backtracking`.

    Attributes
    ----------
    ok : bool
        Whether a trial passed the test.
    step : float
        The accepted step (or the last one tried).
    x : ndarray
        The accepted point; the start ``x`` itself when no trial passed.
    fun : float
        Its value (``f0`` when no trial passed).
    trials : int
        Values computed.
    nan : bool
        Whether the search stopped at a NaN trial value.
    """

    ok: bool
    step: float
    x: Array
    fun: float
    trials: int
    nan: bool = False


def backtracking(
    value: Callable[[Array], float],
    x: Array,
    f0: float,
    direction: Array,
    slope: float,
    *,
    step: float = 1.0,
    c1: float = 1e-4,
    shrink: float = 0.5,
    interpolate: bool = False,
    project: Callable[[Array], Array] | None = None,
    max_trials: int = 50,
) -> LineSearchResult:
    """Backtrack from ``step`` until ``f(P(x + t d)) <= f0 + c1 t slope``.

    The test holds up to the rounding of ``f`` (:func:`optkit.stopping.at_most`).

    Parameters
    ----------
    value : callable
        ``value(y) -> f(y)``, one evaluation per trial.
    x : ndarray
        The start.
    f0 : float
        ``f(x)``.
    direction : ndarray
        The search direction ``d``.
    slope : float
        The directional derivative ``∇f(x)ᵀd`` (negative for a descent direction; for a
        projected search, the slope along the projected step).
    step : float
        The first trial step.
    c1 : float
        The sufficient-decrease constant.
    shrink : float
        The factor of each rejected step, without ``interpolate``.
    interpolate : bool
        Choose each new step by interpolation instead: a quadratic through ``f0``, the slope
        and the first trial, then cubics through the last two trials, clamped to
        ``[0.01 t, 0.5 t]`` (halving where the interpolant cannot be formed).
    project : callable, optional
        ``P``, a projection applied to every trial point (default: none).
    max_trials : int
        The most values computed.

    Returns
    -------
    LineSearchResult
        An infinite trial value is rejected (the step shrinks); a NaN ends the search with
        ``ok=False, nan=True``.

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda y: float(y @ y)
    >>> x = np.array([1.0, 0.0])
    >>> res = backtracking(f, x, f(x), -2 * x, slope=-4.0, step=1.0)
    >>> res.ok, res.step, res.x
    (True, 0.5, array([0., 0.]))
    """
    prev = None
    for trial in range(1, max_trials + 1):
        x_new = x + step * direction
        if project is not None:
            x_new = project(x_new)
        f_new = value(x_new)
        if f_new != f_new:
            return LineSearchResult(False, step, x, f0, trial, nan=True)
        if at_most(f_new, f0 + c1 * step * slope, f0):
            return LineSearchResult(True, step, x_new, f_new, trial)
        if interpolate:
            step, prev = _interpolated(step, f_new - f0 - step * slope, slope, prev)
        else:
            step *= shrink
    return LineSearchResult(False, step, x, f0, max_trials)


def _interpolated(alpha: float, z: float, slope: float, prev: tuple[float, float] | None
                  ) -> tuple[float, tuple[float, float]]:
    """The next step after a rejected ``alpha`` (``z = f(alpha) - f0 - alpha·slope``): the
    minimizer of the quadratic, or of the cubic through the last two trials, clamped."""
    if prev is None or not math.isfinite(z):
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
    if not math.isfinite(new):
        new = 0.5 * alpha
    return min(max(new, 0.01 * alpha), 0.5 * alpha), (alpha, z)
