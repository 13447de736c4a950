"""The three 1-D non-convex functions of the diffGrad paper (Dubey et al., 2020, Fig. 3).

Each has a global minimum and a local one that Adam can settle in. The derivatives are the
true ones: the authors' notebook codes F2' without the factor 8 on the cosine term, which is
not the derivative of F2. F2's two pieces do not join exactly at -0.9 (0.85 against 0.8353);
the constants are kept as published. Start ``x0 = -1`` as in the paper.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

from optkit.problem import Problem
from problems._catalog import entry

__all__ = ["diffgrad_f1", "diffgrad_f2", "diffgrad_f3"]

Array = NDArray[np.float64]


def _scalar(x: Array) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def _f1(x: Array) -> float:
    t = _scalar(x)
    return (t + 0.3) ** 2 if t <= 0 else (t - 0.2) ** 2 + 0.05


def _f1_grad(x: Array) -> Array:
    t = _scalar(x)
    return np.array([2 * t + 0.6 if t <= 0 else 2 * t - 0.4])


def _f2(x: Array) -> float:
    t = _scalar(x)
    return -40 * t - 35.15 if t <= -0.9 else t**3 + t * np.sin(8 * t) + 0.85


def _f2_grad(x: Array) -> Array:
    t = _scalar(x)
    if t <= -0.9:
        return np.array([-40.0])
    return np.array([3 * t**2 + np.sin(8 * t) + 8 * t * np.cos(8 * t)])


def _f3(x: Array) -> float:
    t = _scalar(x)
    if t <= -0.5 or t > 0.5:
        return t**2
    if t <= -0.4:
        return 0.75 + t
    if t <= 0.0:
        return -7 * t / 8
    if t <= 0.4:
        return 7 * t / 8
    return 0.75 - t


def _f3_grad(x: Array) -> Array:
    t = _scalar(x)
    if t <= -0.5 or t > 0.5:
        return np.array([2 * t])
    if t <= -0.4:
        return np.array([1.0])
    if t <= 0.0:
        return np.array([-7 / 8])
    if t <= 0.4:
        return np.array([7 / 8])
    return np.array([-1.0])


@functools.cache
def _f2_opt() -> float:
    """F2's global minimum (at x ≈ -0.6429), to 1e-12 by bounded Brent on [-0.9, -0.4]."""
    res = minimize_scalar(lambda t: _f2(np.array([t])), bounds=(-0.9, -0.4), method="bounded",
                          options={"xatol": 1e-12})
    return float(res.fun)


@entry("diffgrad-f1", "toy")
def diffgrad_f1() -> Problem:
    """diffGrad's F1: a parabola with a step; global minimum -0.3 (f = 0), local 0.2 (0.05)."""
    return Problem(fun=_f1, grad=_f1_grad, x0=np.array([-1.0]), f_opt=0.0, name="diffgrad-F1")


@entry("diffgrad-f2", "toy")
def diffgrad_f2() -> Problem:
    """diffGrad's F2: x³ + x sin(8x) + 0.85 after a linear wall; global minimum near -0.643."""
    return Problem(fun=_f2, grad=_f2_grad, x0=np.array([-1.0]), f_opt=_f2_opt(),
                   name="diffgrad-F2")


@entry("diffgrad-f3", "toy")
def diffgrad_f3() -> Problem:
    """diffGrad's F3: a parabola with a V-shaped dip; global minimum 0, kinks at ±0.5."""
    return Problem(fun=_f3, grad=_f3_grad, x0=np.array([-1.0]), f_opt=0.0, name="diffgrad-F3")
