"""Shared convergence tests, reused by every method (never rewritten per method)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["FLOOR_FACTOR", "ROUNDING", "at_most", "at_precision_floor", "floor_message",
           "gradient_small", "small_change"]


def gradient_small(grad: NDArray[np.float64], gtol: float, grad_norm2: float | None = None) -> bool:
    """``‖grad‖∞ <= gtol`` (SciPy's ``gtol`` test with ``norm=inf``).

    Parameters
    ----------
    grad : ndarray
        The gradient.
    gtol : float
        Tolerance.
    grad_norm2 : float, optional
        ``‖grad‖₂`` when already known: since ``‖g‖₂/√n <= ‖g‖∞ <= ‖g‖₂`` the max-norm is only
        computed when the 2-norm cannot decide, which keeps this test off the hot path.
    """
    if grad_norm2 is not None:
        if grad_norm2 <= gtol:
            return True
        if grad_norm2 > gtol * math.sqrt(grad.size):
            return False
    return float(np.max(np.abs(grad), initial=0.0)) <= gtol


def small_change(
    x_prev: NDArray[np.float64],
    x: NDArray[np.float64],
    f_prev: float,
    f: float,
    *,
    rtol: float,
    atol: float,
) -> bool:
    """Cauchy-style test: ``|Δx| <= atol + rtol|x|`` elementwise and
    ``|Δf| <= atol + rtol|f|``."""
    if abs(f - f_prev) > atol + rtol * abs(f):
        return False
    return bool(np.all(np.abs(x - x_prev) <= atol + rtol * np.abs(x)))


#: Relative rounding slack of computed objective values: 4 ulps (``4ε``). Every acceptance
#: test that compares function values (line searches, the searches on ``γ``, ``L`` and ``H``,
#: sufficient-decrease tests) goes through :func:`at_most`, so a test that fails only by this
#: much is decided as passed: its outcome would otherwise depend on the CPU's rounding (other
#: BLAS kernels sum in another order), not on the objective.
ROUNDING = 4.0 * float(np.finfo(float).eps)


def at_most(a: float, b: float, *terms: float) -> bool:
    """``a <= b`` up to rounding: ``a <= b + ROUNDING·max(|a|, |b|, |terms|)``.

    ``terms`` are the summands ``b`` was computed from (``f``, ``⟨g, d⟩``, ``L‖d‖²/2``, ...),
    whose magnitudes bound its rounding error. A NaN or infinite ``a`` is never at most
    anything (a trial point where the objective overflows is rejected, not accepted with an
    infinite slack).
    """
    if not math.isfinite(a):
        return False
    scale = max(abs(a), abs(b), *(abs(t) for t in terms))
    return a <= b + ROUNDING * scale


#: A step's predicted decrease at the precision floor is at most this many rounding units.
FLOOR_FACTOR = 16.0


def at_precision_floor(f_old: float, f_new: float, predicted: float) -> bool:
    """Whether a step shows ``f`` at its precision floor: it changed ``f`` by no more than the
    rounding error (``ROUNDING·|f|``) while its first-order model predicted a decrease
    ``predicted = -⟨∇f, d⟩`` of at most ``FLOOR_FACTOR`` rounding units.

    The gradient is then at the rounding level of ``f``: no step of the method can decrease
    ``f`` by more than rounding hides, so a method whose step sizes are decided by function
    values (the searches on ``γ``, ``L`` and ``H``) cannot make verifiable progress. Such a run
    ends with success and :func:`floor_message`, whatever its gradient tolerance.
    """
    scale = ROUNDING * max(abs(f_old), abs(f_new))
    return abs(f_old - f_new) <= scale and abs(predicted) <= FLOOR_FACTOR * scale


def floor_message(grad_norm: float) -> str:
    """``res.message`` of a run that ended at the precision floor (:func:`at_precision_floor`)."""
    return (f"Optimization terminated successfully: f no longer decreases beyond its rounding "
            f"error, and the gradient (norm {grad_norm:.2e}) is at the rounding level of f; "
            f"the gradient tolerance is tighter than the precision of f allows.")
