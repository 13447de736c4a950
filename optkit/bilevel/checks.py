"""Check the oracles of a :class:`optkit.BilevelProblem` against central finite differences.

Every derivative oracle a problem gives is compared, along seeded random directions, with a
central difference of the function it is the derivative of:

- ``upper_grad``: both parts against ``upper_fun`` (reported as ``"upper_grad[x]"`` and
  ``"upper_grad[y]"``);
- ``lower_grad_y`` and ``lower_grad_x`` against ``lower_fun``;
- ``lower_hvp_yy`` against differences of ``lower_grad_y`` in ``y`` (a vector comparison;
  so a wrong ``lower_grad_y`` makes both products fail too);
- ``lower_hvp_xy`` against differences of ``lower_grad_y`` in ``x``, through
  ``⟨lower_hvp_xy(x, y, v), u⟩ = d/dt ⟨∇_y f(x + t u, y), v⟩`` (which a transposed product
  fails);
- ``constraints_jvp_x`` and ``constraints_jvp_y`` against differences of ``⟨constraints, λ⟩``.

Output shapes are checked first, and a wrong one raises at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["check_derivatives"]

Array = NDArray[np.float64]

#: Rounding of a function value, in units of machine epsilon times its size, that a finite
#: difference is allowed before it counts as disagreement (so that a zero derivative passes).
_ROUNDING = 100.0


def check_derivatives(
    problem: Any,
    x: ArrayLike | None = None,
    y: ArrayLike | None = None,
    *,
    h: float = 1e-6,
    rtol: float = 1e-4,
    rng: int | np.random.Generator | None = None,
    raise_on_error: bool = True,
) -> dict[str, float]:
    """Compare every derivative oracle of a bilevel problem with central finite differences.

    Each oracle is checked along random directions (unit Gaussian, from ``rng``), so a check
    costs a few evaluations whatever the dimensions. The relative error of a directional
    derivative ``⟨g, u⟩`` is taken against ``‖g‖ ‖u‖``; that of a Hessian-vector product is
    the relative error of the vector. The estimated rounding error of the difference is
    subtracted first, so an oracle that is exactly zero where the function is flat passes.

    Parameters
    ----------
    problem : BilevelProblem
        The problem; its given oracles are checked, the missing ones skipped.
    x : (n,) array_like, optional
        Upper point (default ``problem.x0``).
    y : (m,) array_like, optional
        Lower point (default ``problem.y0``).
    h : float
        Step of the differences, relative to ``max(1, max|x|)`` (``max|y|`` for steps in y).
    rtol : float
        The largest relative error accepted.
    rng : int or numpy.random.Generator, optional
        Seed or generator of the directions (default seed 0, so that checks repeat).
    raise_on_error : bool
        Raise when an error exceeds ``rtol`` (else only return the errors).

    Returns
    -------
    dict of str to float
        The relative error of each checked oracle, by name (``upper_grad`` as its two parts
        ``"upper_grad[x]"`` and ``"upper_grad[y]"``).

    Raises
    ------
    ValueError
        When an oracle returns an array of the wrong shape (naming it and both shapes, always
        raised), or, with ``raise_on_error``, when errors exceed ``rtol`` (naming each such
        oracle and its error). A non-finite value counts as an infinite error.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit import BilevelProblem
    >>> from optkit.bilevel import check_derivatives
    >>> problem = BilevelProblem(
    ...     upper_fun=lambda x, y: 0.5 * float(y @ y),
    ...     upper_grad=lambda x, y: (np.zeros_like(x), y),
    ...     lower_fun=lambda x, y: 0.5 * float((y - x) @ (y - x)),
    ...     lower_grad_y=lambda x, y: y - x,
    ...     lower_hvp_xy=lambda x, y, v: v,  # wrong: it is -v
    ...     x0=[1.0, 2.0], y0=[0.5, 0.0])
    >>> check_derivatives(problem)
    Traceback (most recent call last):
    ...
    ValueError: derivative check failed (rtol=0.0001): lower_hvp_xy (relative error ...)
    >>> errors = check_derivatives(problem, raise_on_error=False)
    >>> sorted(errors)
    ['lower_grad_y', 'lower_hvp_xy', 'upper_grad[x]', 'upper_grad[y]']
    """
    x = np.asarray(problem.x0 if x is None else x, dtype=float)
    y = np.asarray(problem.y0 if y is None else y, dtype=float)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"x and y must be 1-D, got shapes {x.shape} and {y.shape}")
    if not (h > 0 and np.isfinite(h)):
        raise ValueError(f"h must be positive and finite, got {h!r}")
    rng = np.random.default_rng(0 if rng is None else rng)
    n, m = x.shape[0], y.shape[0]
    tx = h * max(1.0, float(np.max(np.abs(x), initial=0.0)))
    ty = h * max(1.0, float(np.max(np.abs(y), initial=0.0)))
    errors: dict[str, float] = {}

    def direction(size: int) -> Array:
        d = rng.standard_normal(size)
        norm = np.linalg.norm(d)
        return d / norm if norm > 0 else d

    def along_x(fun: Callable[..., Any], u: Array, *rest: Any) -> tuple[Any, Any]:
        return fun(x + tx * u, y, *rest), fun(x - tx * u, y, *rest)

    def along_y(fun: Callable[..., Any], w: Array, *rest: Any) -> tuple[Any, Any]:
        return fun(x, y + ty * w, *rest), fun(x, y - ty * w, *rest)

    upper_fun = _scalar("upper_fun", problem.upper_fun)
    lower_fun = _scalar("lower_fun", problem.lower_fun)
    upper_fun(x, y)
    lower_fun(x, y)

    # -- the upper gradient, both parts against upper_fun
    pair = problem.upper_grad(x, y)
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ValueError("upper_grad must return a pair (∇_x F, ∇_y F), got "
                         f"{type(pair).__name__}")
    gx = _vector("upper_grad[x]", pair[0], (n,))
    gy = _vector("upper_grad[y]", pair[1], (m,))
    u, w = direction(n), direction(m)
    errors["upper_grad[x]"] = _directional(gx, u, along_x(upper_fun, u), tx)
    errors["upper_grad[y]"] = _directional(gy, w, along_y(upper_fun, w), ty)

    # -- the lower gradients against lower_fun
    lower_grad_y = _vector_oracle("lower_grad_y", problem.lower_grad_y, (m,))
    w = direction(m)
    errors["lower_grad_y"] = _directional(lower_grad_y(x, y), w, along_y(lower_fun, w), ty)
    if problem.lower_grad_x is not None:
        lower_grad_x = _vector_oracle("lower_grad_x", problem.lower_grad_x, (n,))
        u = direction(n)
        errors["lower_grad_x"] = _directional(lower_grad_x(x, y), u, along_x(lower_fun, u),
                                              tx)

    # -- the lower Hessian-vector products against differences of lower_grad_y
    if problem.lower_hvp_yy is not None:
        hvp = _vector_oracle("lower_hvp_yy", problem.lower_hvp_yy, (m,))
        v = direction(m)
        errors["lower_hvp_yy"] = _vector_error(hvp(x, y, v), along_y(lower_grad_y, v), ty)
    if problem.lower_hvp_xy is not None:
        hvp = _vector_oracle("lower_hvp_xy", problem.lower_hvp_xy, (n,))
        v, u = direction(m), direction(n)
        plus, minus = along_x(lower_grad_y, u)
        errors["lower_hvp_xy"] = _directional(hvp(x, y, v), u, (plus @ v, minus @ v), tx)

    # -- the constraints' Jacobian-transpose products against differences of ⟨g, λ⟩
    if problem.constraints is not None:
        g0 = np.asarray(problem.constraints(x, y), dtype=float)
        if g0.ndim != 1:
            raise ValueError(f"constraints returned shape {g0.shape}, expected a 1-D array")
        constraints = _vector_oracle("constraints", problem.constraints, g0.shape)
        lam = rng.standard_normal(g0.shape[0])

        def weighted(xx: Array, yy: Array) -> float:
            return float(constraints(xx, yy) @ lam)

        for name, size, along, t in (("constraints_jvp_x", n, along_x, tx),
                                     ("constraints_jvp_y", m, along_y, ty)):
            oracle = getattr(problem, name)
            if oracle is None:
                continue
            d = direction(size)
            jvp = _vector(name, oracle(x, y, lam), (size,))
            errors[name] = _directional(jvp, d, along(weighted, d), t)

    bad = {name: err for name, err in errors.items() if not err <= rtol}
    if bad and raise_on_error:
        listed = ", ".join(f"{name} (relative error {err:.3g})" for name, err in bad.items())
        if "lower_grad_y" in bad and bad.keys() & {"lower_hvp_yy", "lower_hvp_xy"}:
            listed += ("; the Hessian-vector products are checked against lower_grad_y, "
                       "which is wrong itself")
        raise ValueError(f"derivative check failed (rtol={rtol:g}): {listed}")
    return errors


def _scalar(name: str, fun: Callable[[Array, Array], Any]) -> Callable[[Array, Array], float]:
    """``fun`` checked to return a scalar."""

    def checked(x: Array, y: Array) -> float:
        value = np.asarray(fun(x, y), dtype=float)
        if value.ndim != 0:
            raise ValueError(f"{name} returned shape {value.shape}, expected a scalar ()")
        return float(value)

    return checked


def _vector(name: str, value: Any, shape: tuple[int, ...]) -> Array:
    arr = np.asarray(value, dtype=float)
    if arr.shape != shape:
        raise ValueError(f"{name} returned shape {arr.shape}, expected {shape}")
    return arr


def _vector_oracle(name: str, fun: Callable[..., Any],
                   shape: tuple[int, ...]) -> Callable[..., Array]:
    """``fun`` checked to return an array of ``shape``."""

    def checked(*args: Any) -> Array:
        return _vector(name, fun(*args), shape)

    return checked


def _finite(err: float) -> float:
    return float(err) if np.isfinite(err) else float("inf")


def _directional(g: Array, d: Array, values: tuple[Any, Any], t: float) -> float:
    """Relative error of ``⟨g, d⟩`` against the central difference of ``values``
    (``φ(t)``, ``φ(-t)``), taken against ``‖g‖ ‖d‖``, less the difference's rounding."""
    plus, minus = float(values[0]), float(values[1])
    fd = (plus - minus) / (2 * t)
    exact = float(g @ d)
    rounding = _ROUNDING * np.finfo(float).eps * (abs(plus) + abs(minus)) / (2 * t)
    scale = max(float(np.linalg.norm(g) * np.linalg.norm(d)), abs(fd), np.finfo(float).tiny)
    return _finite(max(abs(fd - exact) - rounding, 0.0) / scale)


def _vector_error(exact: Array, values: tuple[Array, Array], t: float) -> float:
    """Relative error of the vector ``exact`` against the central difference of ``values``,
    less the difference's rounding."""
    plus, minus = values
    fd = (plus - minus) / (2 * t)
    rounding = (_ROUNDING * np.finfo(float).eps
                * (np.linalg.norm(plus) + np.linalg.norm(minus)) / (2 * t))
    scale = max(float(np.linalg.norm(exact)), float(np.linalg.norm(fd)), np.finfo(float).tiny)
    return _finite(max(float(np.linalg.norm(fd - exact)) - rounding, 0.0) / scale)
