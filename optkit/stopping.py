"""Shared convergence tests, reused by every method (never rewritten per method)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["gradient_small", "small_change"]


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
