r"""Stochastic bilevel test problems (BO-REP's experiments E1 and E2, spec
``papers/bo-rep.md`` section 7): closed-form hyperobjectives whose oracles come with additive
Gaussian noise through ``sample_upper`` and ``sample_lower``.

- :func:`unbounded_smoothness_toy`: an upper level of ``cosh`` terms, whose curvature grows
  with its gradient (``(L0, L1)``-smooth, not smooth), over a quadratic lower level.
- :func:`stochastic_quadratic`: quadratics in both levels (bounded smoothness).

Notation: ``x`` is the upper variable, ``y`` the lower one, ``F`` the upper objective and
``f`` the lower one (BO-REP's ``f`` and ``g``).

References
----------
.. [1] J. Hao, X. Gong and M. Liu, "Bilevel optimization under unbounded smoothness: a new
   algorithm and convergence analysis", ICLR 2024.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only

__all__ = ["unbounded_smoothness_toy", "stochastic_quadratic", "with_noise"]

Array = NDArray[np.float64]

_LOWER = ("lower_grad_y", "lower_grad_x", "lower_hvp_yy", "lower_hvp_xy")


def with_noise(problem: BilevelProblem, sigma: float) -> BilevelProblem:
    """``problem`` with ``sample_upper`` and ``sample_lower``: ``sample(batch_size, rng)``
    returns the problem whose gradients and Hessian-vector products add ``N(0, σ²/batch_size)``
    noise to every entry (the mean of ``batch_size`` noisy oracles), drawn from a generator
    seeded from ``rng``; values are exact. The noise belongs to the sample, as a mini-batch's
    data do: each oracle of one sample draws it at its first call and adds the same noise at
    every point (so a method that evaluates one sample at two points, SUSTAIN, sees the same
    sample there); fresh samples are independent. Oracles that return tensors get the same
    noise, as tensors on their device."""
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")

    def plus(value: Any, noise: Array) -> Any:
        # a tensor (a problem of BilevelProblem.from_torch(..., tensors=True)) on its device
        return value + (value.new_tensor(noise) if hasattr(value, "new_tensor") else noise)

    def noisy(fun: Callable[..., Any], scale: float, rng: np.random.Generator):
        drawn: list[Array] = []  # the sample's noise of this oracle, drawn at the first call

        def oracle(*args: Array) -> Any:
            value = fun(*args)
            values = value if isinstance(value, tuple) else (value,)  # upper_grad: a pair
            if not drawn:
                drawn.extend(scale * rng.standard_normal(tuple(v.shape)) for v in values)
            out = tuple(plus(v, n) for v, n in zip(values, drawn, strict=True))
            return out if isinstance(value, tuple) else out[0]
        return oracle

    def sampler(names: tuple[str, ...]):
        def sample(batch_size: int, rng: np.random.Generator) -> BilevelProblem:
            noise = np.random.default_rng(rng.integers(2**63))
            scale = sigma / math.sqrt(batch_size)
            return dataclasses.replace(
                problem, sample_upper=None, sample_lower=None,
                **{name: noisy(getattr(problem, name), scale, noise) for name in names})
        return sample

    return dataclasses.replace(problem, sample_upper=sampler(("upper_grad",)),
                               sample_lower=sampler(_LOWER))


@entry("unbounded-smoothness-toy", "bilevel")
def unbounded_smoothness_toy(dim: int = 3, sigma: float = 0.1, seed: int = 0) -> BilevelProblem:
    r"""BO-REP's toy whose upper level is not smooth: ``cosh`` terms over a quadratic lower
    level, with a closed-form hypergradient (E1).

    Parameters
    ----------
    dim : int, default 3
        Dimension of ``x`` and of ``y``.
    sigma : float, default 0.1
        Standard deviation of the additive noise of the sampled oracles (:func:`with_noise`).
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` (draws ``C`` then ``b``).

    Returns
    -------
    BilevelProblem
        ``x0 = (8, -7, 6)`` (for ``dim = 3``; else alternating ``±(8 - j)``), ``y0 = 0``,
        ``lower_strong_convexity = lower_smoothness = 1``, samplers of noise ``sigma``.
        ``info``: ``"C"``, ``"b"``, ``"y_star"``, ``"phi"``, ``"phi_grad"`` (closed forms),
        ``"x_opt"`` (``∇Φ(x_opt) ≈ 0`` by Newton's method) and ``"sigma"``.

    Notes
    -----
    With ``C = 0.5 · randn(d, d)`` and ``b = randn(d)``:

    .. math::

        F(x, y) = \sum_i \cosh x_i + \sum_j \sqrt{1 + (y_j - b_j)^2}, \qquad
        f(x, y) = \tfrac12 \|y - Cx\|^2,

    so ``y*(x) = Cx`` and ``∇Φ(x) = sinh(x) + Cᵀ r/sqrt(1 + r²)`` with ``r = Cx - b``
    (elementwise). ``cosh`` is ``(L0, L1)``-smooth with ``L0 = L1 = 1``: its curvature
    ``cosh x_i`` is about ``1500`` at ``x0``, where a fixed step ``0.5`` overflows.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.stochastic_bilevel import unbounded_smoothness_toy
    >>> p = unbounded_smoothness_toy()
    >>> p.x0
    array([ 8., -7.,  6.])
    >>> bool(np.linalg.norm(p.info["phi_grad"](p.info["x_opt"])) < 1e-10)
    True
    """
    d = check_int("dim", dim, 1)
    rng = np.random.default_rng(seed)
    C = 0.5 * rng.standard_normal((d, d))
    b = rng.standard_normal(d)
    read_only(C, b)

    def upper_fun(x: Array, y: Array) -> float:
        return float(np.sum(np.cosh(x)) + np.sum(np.sqrt(1.0 + (y - b) ** 2)))

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        r = y - b
        return np.sinh(x), r / np.sqrt(1.0 + r * r)

    def phi(x: Array) -> float:
        return upper_fun(x, C @ x)

    def phi_grad(x: Array) -> Array:
        r = C @ x - b
        return np.sinh(x) + C.T @ (r / np.sqrt(1.0 + r * r))

    x_opt = np.zeros(d)  # Φ is strongly convex (cosh'' >= 1): Newton from 0
    for _ in range(50):
        r = C @ x_opt - b
        H = np.diag(np.cosh(x_opt)) + C.T @ (C / (1.0 + r * r)[:, None] ** 1.5)
        x_opt = x_opt - np.linalg.solve(H, phi_grad(x_opt))
    read_only(x_opt)
    x0 = np.array([8.0, -7.0, 6.0]) if d == 3 else \
        np.array([(8.0 - j) * (-1) ** j for j in range(d)])
    problem = BilevelProblem(
        upper_fun=upper_fun, upper_grad=upper_grad,
        lower_fun=lambda x, y: 0.5 * float(np.sum((y - C @ x) ** 2)),
        lower_grad_y=lambda x, y: y - C @ x,
        lower_grad_x=lambda x, y: C.T @ (C @ x - y),
        lower_hvp_yy=lambda x, y, v: np.array(v, dtype=float),
        lower_hvp_xy=lambda x, y, v: -(C.T @ v),
        x0=x0, y0=np.zeros(d), lower_strong_convexity=1.0, lower_smoothness=1.0,
        f_opt=phi(x_opt),
        name="unbounded-smoothness-toy" if d == 3 else f"unbounded-smoothness-toy-{d}",
        info={"C": C, "b": b, "y_star": lambda x: C @ x, "phi": phi, "phi_grad": phi_grad,
              "x_opt": x_opt, "sigma": sigma})
    return with_noise(problem, sigma)


@entry("stochastic-quadratic", "bilevel")
def stochastic_quadratic(dx: int = 5, dy: int = 4, sigma: float = 0.5,
                         seed: int = 0) -> BilevelProblem:
    r"""Quadratics in both levels with noisy sampled oracles (BO-REP's E2).

    Parameters
    ----------
    dx, dy : int, default 5 and 4
        Dimensions of ``x`` and ``y``.
    sigma : float, default 0.5
        Standard deviation of the sampled oracles' additive noise (:func:`with_noise`).
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` (draws ``A``, ``B``, ``c``, ``D``, then ``x0``).

    Returns
    -------
    BilevelProblem
        ``x0`` standard normal, ``y0 = 0``; ``μ`` and ``L`` the extreme eigenvalues of
        ``H``. ``info``: ``"H"``, ``"B"``, ``"c"``, ``"D"``, ``"y_star"``, ``"z_star"``
        (``x -> H⁻¹(y*(x) - c)``), ``"phi"``, ``"phi_grad"``, ``"x_opt"``, ``"sigma"``.

    Notes
    -----
    With ``H = AAᵀ + I`` (``A`` of shape ``(dy, dy)``, entries ``N(0, 1/dy)``), ``B`` of shape
    ``(dy, dx)`` and ``D`` of shape ``(dx, dx)`` (entries ``N(0, 1/dx)``, plus ``I`` for
    ``D``) and ``c ~ N(0, I)``:

    .. math::

        f(x, y) = \tfrac12 y^\top H y - y^\top B x, \qquad
        F(x, y) = \tfrac12 \|y - c\|^2 + \tfrac12 \|Dx\|^2,

    ``y*(x) = H⁻¹Bx`` and ``∇Φ(x) = DᵀDx + BᵀH⁻¹(y*(x) - c)``; ``Φ`` is a strongly convex
    quadratic (``DᵀD ⪰`` its smallest singular value squared), minimized at ``x_opt``.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.stochastic_bilevel import stochastic_quadratic
    >>> p = stochastic_quadratic()
    >>> p.n, p.m
    (5, 4)
    >>> bool(np.linalg.norm(p.info["phi_grad"](p.info["x_opt"])) < 1e-12)
    True
    """
    dx = check_int("dx", dx, 1)
    dy = check_int("dy", dy, 1)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((dy, dy)) / math.sqrt(dy)
    H = A @ A.T + np.eye(dy)
    B = rng.standard_normal((dy, dx)) / math.sqrt(dy)
    c = rng.standard_normal(dy)
    D = np.eye(dx) + rng.standard_normal((dx, dx)) / math.sqrt(dx)
    x0 = rng.standard_normal(dx)
    Hinv_B = np.linalg.solve(H, B)
    # Φ(x) = ½‖H⁻¹Bx - c‖² + ½‖Dx‖²: normal equations
    x_opt = np.linalg.solve(Hinv_B.T @ Hinv_B + D.T @ D, Hinv_B.T @ c)
    eigs = np.linalg.eigvalsh(H)
    read_only(H, B, c, D, x_opt)

    def y_star(x: Array) -> Array:
        return Hinv_B @ x

    def phi(x: Array) -> float:
        return 0.5 * float(np.sum((y_star(x) - c) ** 2) + np.sum((D @ x) ** 2))

    def phi_grad(x: Array) -> Array:
        return D.T @ (D @ x) + B.T @ np.linalg.solve(H, y_star(x) - c)

    problem = BilevelProblem(
        upper_fun=lambda x, y: 0.5 * float(np.sum((y - c) ** 2) + np.sum((D @ x) ** 2)),
        upper_grad=lambda x, y: (D.T @ (D @ x), y - c),
        lower_fun=lambda x, y: float(0.5 * y @ H @ y - y @ B @ x),
        lower_grad_y=lambda x, y: H @ y - B @ x,
        lower_grad_x=lambda x, y: -(B.T @ y),
        lower_hvp_yy=lambda x, y, v: H @ v,
        lower_hvp_xy=lambda x, y, v: -(B.T @ v),
        x0=x0, y0=np.zeros(dy), lower_strong_convexity=float(eigs[0]),
        lower_smoothness=float(eigs[-1]), f_opt=phi(x_opt),
        name="stochastic-quadratic" if (dx, dy) == (5, 4) else f"stochastic-quadratic-{dx}x{dy}",
        info={"H": H, "B": B, "c": c, "D": D, "y_star": y_star,
              "z_star": lambda x: np.linalg.solve(H, y_star(x) - c), "phi": phi,
              "phi_grad": phi_grad, "x_opt": x_opt, "sigma": sigma})
    return with_noise(problem, sigma)
