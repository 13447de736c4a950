"""The pieces of stochastic bilevel methods (BO-REP and its baselines; spec
``papers/bo-rep.md`` sections 2-3): where the oracles come from, SGD on the lower level, the
initialization refinement, the linear-system variable's step and the Neumann series.

Each piece draws its own mini-batches from an :class:`Oracles` (``sample_lower`` and
``sample_upper`` of :class:`optkit.BilevelProblem`, or the full problem when there is no
mini-batch size), so that every estimate uses independent samples, as the algorithms
assume. They work alike on NumPy arrays and on torch tensors on any device (the oracles of a
problem built by ``BilevelProblem.from_torch(..., tensors=True)``), and import no torch: a
tensor is recognized by its methods.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Oracles", "SameSamples", "project_ball", "lower_sgd", "epoch_sgd", "z_step",
           "neumann", "norm", "all_finite", "zeros_like"]

Array = NDArray[np.float64]


def norm(v: Any) -> float:
    """``‖v‖₂`` of an array or a tensor, as a float."""
    return math.sqrt(float((v * v).sum()))


def all_finite(v: Any) -> bool:
    """Whether every entry of an array or a tensor is finite."""
    return bool(v.isfinite().all()) if hasattr(v, "isfinite") else bool(np.isfinite(v).all())


def zeros_like(v: Any) -> Any:
    """Zeros of the shape, dtype (and device) of an array or a tensor."""
    return v.new_zeros(v.shape) if hasattr(v, "new_zeros") else np.zeros_like(v)


class Oracles:
    """The source of a run's oracles: a fresh mini-batch of a level on each draw.

    Parameters
    ----------
    problem : BilevelProblem
    batch_size : int or None
        Mini-batch size passed to ``problem.sample_lower`` / ``sample_upper``. ``None``:
        every draw is the full problem (deterministic oracles).
    rng : numpy.random.Generator
        The run's generator, passed to the samplers.

    Raises
    ------
    TypeError
        With a ``batch_size`` when the problem has neither sampler.

    Notes
    -----
    A level without a sampler is always drawn as the full problem (a deterministic upper
    level over a stochastic lower one, say).
    """

    def __init__(self, problem: Any, batch_size: int | None,
                 rng: np.random.Generator) -> None:
        if batch_size is not None and problem.sample_lower is None \
                and problem.sample_upper is None:
            raise TypeError(f"batch_size needs a stochastic problem (with sample_lower or "
                            f"sample_upper); {problem.name!r} has neither")
        self.problem, self.batch_size, self.rng = problem, batch_size, rng

    def upper(self) -> Any:
        """The upper level on a fresh mini-batch (``upper_fun``, ``upper_grad``)."""
        return self._draw(self.problem.sample_upper)

    def lower(self) -> Any:
        """The lower level on a fresh mini-batch (``lower_grad_y``, the products)."""
        return self._draw(self.problem.sample_lower)

    def _draw(self, sampler: Any) -> Any:
        if self.batch_size is None or sampler is None:
            return self.problem
        return sampler(self.batch_size, self.rng)


class SameSamples:
    """The mini-batches of a first pass, handed out again on a second: the same samples at
    two points, as recursive-momentum (STORM) estimators need.

    Until :meth:`rewind`, ``upper()`` and ``lower()`` draw from ``oracles`` and keep what
    they draw; after it, both hand out the kept draws in the order they were drawn, so that
    code making the same calls in the same order sees the same mini-batches.

    Parameters
    ----------
    oracles : Oracles
    """

    def __init__(self, oracles: Oracles) -> None:
        self.oracles, self.drawn = oracles, []
        self.replay: Any = None

    def upper(self) -> Any:
        """A fresh upper mini-batch (kept), or the next kept draw after :meth:`rewind`."""
        return self._next(self.oracles.upper)

    def lower(self) -> Any:
        """A fresh lower mini-batch (kept), or the next kept draw after :meth:`rewind`."""
        return self._next(self.oracles.lower)

    def rewind(self) -> None:
        """Hand out the kept draws from the first again."""
        self.replay = iter(self.drawn)

    def _next(self, draw: Any) -> Any:
        if self.replay is not None:
            return next(self.replay)
        self.drawn.append(draw())
        return self.drawn[-1]


def project_ball(v: Array, center: Array | float, radius: float | None) -> Array:
    """The Euclidean projection of ``v`` onto the ball of ``radius`` about ``center``
    (``v`` itself when ``radius`` is ``None``)."""
    if radius is None:
        return v
    d = v - center
    length = norm(d)
    return v if length <= radius else center + (radius / length) * d


def lower_sgd(oracles: Oracles, x: Array, y: Array, *, steps: int, lr: float,
              radius: float | None = None, accumulate: bool = False) -> Array:
    """``steps`` SGD steps on the lower level from ``y``, each on a fresh mini-batch,
    projected onto the ball of ``radius`` about the start (BO-REP's Algorithm 2).

    ``accumulate=True`` reproduces the reference code, which never zeroes the gradient
    between steps: step ``k`` uses the sum of the ``k + 1`` gradients drawn so far.
    """
    center, total = y, None
    for _ in range(steps):
        g = oracles.lower().lower_grad_y(x, y)
        if accumulate:
            g = total = g if total is None else total + g
        y = project_ball(y - lr * g, center, radius)
    return y


def epoch_sgd(oracles: Oracles, x: Array, y: Array, *, epochs: int, steps: int, lr: float,
              radius: float | None = None) -> Array:
    """Epoch-SGD (Hazan and Kale, 2014) on the strongly convex lower level at ``x``: BO-REP's
    initialization refinement (Algorithm 3).

    Epoch ``k`` runs ``steps · 2^k`` projected SGD steps with step ``lr / 2^k`` in the ball
    of ``radius / 2^{k/2}`` about its start, and the next epoch starts at their average:
    ``steps (2^epochs - 1)`` lower gradients in all.
    """
    for _ in range(epochs):
        start, total, current = y, zeros_like(y), y
        for _ in range(steps):
            g = oracles.lower().lower_grad_y(x, current)
            current = project_ball(current - lr * g, start, radius)
            total = total + current
        y = total / steps
        lr, steps = lr / 2.0, 2 * steps
        radius = None if radius is None else radius / math.sqrt(2.0)
    return y


def z_step(oracles: Oracles, x: Array, y: Array, z: Array, upper_grad_y: Array, *, lr: float,
           radius: float | None = None) -> Array:
    """One SGD step on ``q(z) = ½ zᵀ ∇²_yy f z - ∇_y Fᵀ z`` (whose minimizer is
    ``(∇²_yy f)⁻¹ ∇_y F``), its Hessian-vector product on a fresh lower mini-batch, projected
    onto the ball of ``radius`` about 0."""
    hz = oracles.lower().lower_hvp_yy(x, y, z)
    return project_ball(z - lr * (hz - upper_grad_y), 0.0, radius)


def neumann(oracles: Oracles, x: Array, y: Array, v: Array, *, step: float, terms: int,
            include_v0: bool = True) -> Array:
    """The truncated Neumann series ``a Σ_{q<Q} (I - a H)^q v ≈ H⁻¹ v``, ``H = ∇²_yy f``, with
    ``a = step``, ``Q = terms`` and each product on a fresh lower mini-batch (``Q - 1``
    products).

    Without noise its error is at most ``(1 - aμ)^Q ‖H⁻¹v‖`` for ``a <= 1/L``.
    ``include_v0=False`` reproduces the reference codes, which sum ``q = 1, ..., Q`` and
    omit ``v`` itself (``Q`` products).
    """
    p = v
    total = v if include_v0 else zeros_like(v)
    for _ in range(terms - 1 if include_v0 else terms):
        p = p - step * oracles.lower().lower_hvp_yy(x, y, p)
        total = total + p
    return step * total
