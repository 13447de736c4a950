"""Central finite differences for the gradient and Hessian checks of the problem tests."""

from __future__ import annotations

import numpy as np


def _steps(x: np.ndarray, rel: float) -> np.ndarray:
    return rel * np.maximum(1.0, np.abs(x))


def central_grad(fun, x: np.ndarray) -> np.ndarray:
    """Central-difference gradient (error O(h²), so ill-conditioned quadratics pass too)."""
    g = np.empty_like(x)
    for i, h in enumerate(_steps(x, 6e-6)):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


def central_jac(grad, x: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of ``grad`` (the Hessian), column by column."""
    cols = []
    for i, h in enumerate(_steps(x, 6e-6)):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((grad(x + e) - grad(x - e)) / (2 * h))
    return np.column_stack(cols)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))
