"""StocBiO (Ji, Yang and Liang, 2021), TTSA (Hong, Wai, Wang and Yang, 2023) and SUSTAIN
(Khanduri, Zeng, Hong, Wai, Wang and Yang, 2021): stochastic bilevel methods whose
hypergradient inverts the lower Hessian by a truncated Neumann series, BO-REP's baselines
(spec ``papers/bo-rep.md`` sections 3 and 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import POSITIVE, POSITIVE_INT, Bool, Interval
from optkit.bilevel.stochastic import SameSamples, lower_sgd, neumann, norm
from optkit.problem import BilevelProblem
from optkit.registry import register
from optkit.result import Status
from optkit.solvers._stochastic_bilevel import (
    StochasticOptions,
    StochasticState,
    conclude,
    result,
    start,
    step_size,
    stochastic_state,
    upper_batch,
)
from optkit.solvers.base import Solver, option

__all__ = ["StocBiO", "TTSA", "SUSTAIN"]

Array = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class NeumannOptions(StochasticOptions):
    """The Neumann series' options."""

    neumann_lr: float = option(1e-2, "Step a of the Neumann series a Σ (I - aH)^q v "
                                     "(a <= 1/L for convergence).", check=POSITIVE)
    neumann_terms: int = option(3, "Terms Q of the Neumann series.", check=POSITIVE_INT)
    neumann_include_v0: bool = option(True, "Sum q = 0..Q-1 (standard); False sums "
                                            "q = 1..Q, omitting v (the reference codes).",
                                      check=Bool())


@dataclass(frozen=True, kw_only=True)
class StocBiOOptions(NeumannOptions):
    """Options of ``method="stocbio"``."""

    inner_steps: int = option(3, "Lower SGD steps per iteration (warm-started).",
                              check=POSITIVE_INT)


@dataclass(frozen=True, kw_only=True)
class TTSAOptions(StocBiOOptions):
    """Options of ``method="ttsa"``."""

    eta: float = option(1e-1, "Upper step size η (the slower time scale).")
    inner_steps: int = option(1, "Lower SGD steps per iteration.")


@dataclass(frozen=True, kw_only=True)
class SUSTAINOptions(NeumannOptions):
    """Options of ``method="sustain"``."""

    beta: float = option(0.9, "Weight β of the upper direction's correction: "
                              "d ← h(x_t) + β (d - h(x_{t-1})), both on one sample "
                              "(0: SGD; STORM's 1 - a).", check=Interval(0, 1))
    beta_lower: float = option(0.9, "The same weight for the lower direction.",
                               check=Interval(0, 1))


def neumann_hypergradient(oracles: Any, x: Any, y: Any, options: NeumannOptions,
                          upper_loss: str) -> tuple[Any, float | None]:
    """``h = ∇_x F - ∇²_xy f v`` with ``v`` the Neumann series' ``(∇²_yy f)⁻¹ ∇_y F``, on
    mini-batches from ``oracles`` (one upper, ``Q - 1`` and one lower); and ``F`` on the
    upper one (``upper_loss="batch"``; ``None`` otherwise)."""
    gx, gy, fun = upper_batch(oracles, x, y, upper_loss)
    v = neumann(oracles, x, y, gy, step=options.neumann_lr, terms=options.neumann_terms,
                include_v0=options.neumann_include_v0)
    return gx - oracles.lower().lower_hvp_xy(x, y, v), fun


class _NeumannMethod(Solver):
    """Iteration ``t``: ``inner_steps`` SGD steps on ``y``; ``v ≈ (∇²_yy f)⁻¹ ∇_y F`` by the
    Neumann series (one fresh lower mini-batch per product); ``h = ∇_x F - ∇²_xy f v``;
    ``x ← x - η h``."""

    may_return_best = False  # a stochastic method: the last iterate is the answer

    def init(self, problem: BilevelProblem, x0: Array, y0: Array) -> StochasticState:
        x0, y0, oracles = start(self, problem, x0, y0)
        return stochastic_state(problem, x0, y=y0, t=0, oracles=oracles)

    def step(self, problem: BilevelProblem, state: StochasticState) -> StochasticState:
        opts, oracles, t = self.options, state.oracles, state.t
        x = state.x
        with np.errstate(over="ignore", invalid="ignore"):
            y = lower_sgd(oracles, x, state.y, steps=opts.inner_steps, lr=opts.alpha)
            h, fun = neumann_hypergradient(oracles, x, y, opts, opts.upper_loss)
            x_new = x - step_size(opts, t) * h
            new = stochastic_state(problem, x_new, fun, y=y, m=h, t=t + 1,
                                   direction_norm=norm(h), oracles=oracles)
        return conclude(state, new, (x_new, y), opts.gtol, "the hypergradient estimate's norm")

    def postprocess(self, problem: BilevelProblem, state: StochasticState,
                    status: Status) -> dict[str, Any]:
        return result(problem, state, self.options.upper_loss, hypergradient=state.m)


_COMMON = {"accepts": (BilevelProblem,), "needs": ("lower_hvp_yy", "lower_hvp_xy"),
           "uses": (), "tol": ("gtol",), "stochastic": True, "backends": ("numpy", "torch")}


@register("stocbio", options=StocBiOOptions, peers=("bo-rep", "ttsa"), **_COMMON)
class StocBiO(_NeumannMethod):
    r"""StocBiO: lower SGD steps and a Neumann-series hypergradient (Ji, Yang and Liang).

    A few warm-started SGD steps on ``y``, then an SGD step on ``x``.

    Iteration ``t`` runs ``inner_steps`` lower SGD steps (step ``α``), approximates
    ``v = (∇²_yy f)⁻¹ ∇_y F`` by ``a Σ_{q<Q} (I - a∇²_yy f)^q ∇_y F`` (``a = neumann_lr``,
    ``Q = neumann_terms``, each product on a fresh mini-batch) and steps
    ``x ← x - η (∇_x F - ∇²_xy f v)``. The series' bias decays like ``(1 - aμ)^Q``.

    The history adds ``upper_loss`` (``F`` on the full problem; with ``upper_loss="batch"``,
    on the iteration's upper mini-batch, and ``res.fun`` the full ``F`` at the end),
    ``direction_norm`` (``‖h‖``) and ``phi_grad_norm`` (``‖∇Φ(x)‖`` when
    ``problem.info["phi_grad"]`` gives it); the result adds ``y`` and ``hypergradient``
    (the last ``h``).

    Status codes: 0 (``‖h‖ <= gtol``), 1, 3 (the iterates diverged), 4, 99.

    References
    ----------
    K. Ji, J. Yang and Y. Liang, "Bilevel optimization: convergence analysis and enhanced
    design", ICML 2021.
    """


@register("ttsa", options=TTSAOptions, peers=("bo-rep", "stocbio"), **_COMMON)
class TTSA(_NeumannMethod):
    r"""TTSA: two-timescale stochastic approximation (Hong, Wai, Wang and Yang).

    One lower SGD step and one upper step along a Neumann-series hypergradient per
    iteration.

    StocBiO's iteration with ``inner_steps = 1`` and the upper step ``η`` on the slower time
    scale (reference-code defaults ``α = 5e-2``, ``η = 1e-1``; ``eta_schedule="sqrt"``
    decays it). The history and result are StocBiO's.

    Status codes: 0, 1, 3 (the iterates diverged), 4, 99.

    References
    ----------
    M. Hong, H.-T. Wai, Z. Wang and Z. Yang, "A two-timescale stochastic algorithm framework
    for bilevel optimization: complexity analysis and application to actor-critic", SIAM J.
    Optim. 33(1), 2023.
    """


@register("sustain", options=SUSTAINOptions, peers=("bo-rep", "stocbio", "ma-soba"),
          **_COMMON)
class SUSTAIN(Solver):
    r"""SUSTAIN: recursive-momentum (STORM) directions on both levels (Khanduri et al.).

    Simultaneous steps ``x ← x - η d``, ``y ← y - α e`` along variance-reduced directions.

    The upper direction ``d`` tracks the Neumann hypergradient ``h`` (StocBiO's) and the
    lower one ``e`` the lower gradient ``∇_y f``: at the new point,
    ``d ← h(x_{t+1}, y_{t+1}; ξ) + β (d - h(x_t, y_t; ξ))`` and
    ``e ← ∇_y f(x_{t+1}, y_{t+1}; ζ) + β_lower (e - ∇_y f(x_t, y_t; ζ))``, each difference
    on one sample at both points (:class:`~optkit.bilevel.stochastic.SameSamples`), so that
    the sample's noise cancels in it; ``β = 0`` is SGD on both levels. An iteration costs
    twice a StocBiO iteration with one lower step (``2(Q + 2)`` oracle calls; ``Q + 2`` when
    ``β = β_lower = 0``), the first directions ``Q + 2`` more. The paper's steps decay like
    ``t^{-1/3}`` with weights ``1 - c α_t²``, for its rate; here they are constant
    (``eta_schedule="sqrt"`` decays ``η``). With exact oracles the corrections vanish and
    the iterates are gradient descent on both levels with the Neumann hypergradient.

    The history adds ``upper_loss`` (``F`` on the full problem; with ``upper_loss="batch"``,
    on the iteration's upper mini-batch at the new iterate, and ``res.fun`` the full ``F`` at
    the end), ``direction_norm`` (``‖d‖``) and ``phi_grad_norm`` (``‖∇Φ(x)‖`` when
    ``problem.info["phi_grad"]`` gives it); the result adds ``y`` and ``hypergradient``
    (the last ``d``).

    Status codes: 0 (``‖d‖ <= gtol``), 1, 3 (the iterates diverged), 4, 99.

    References
    ----------
    P. Khanduri, S. Zeng, M. Hong, H.-T. Wai, Z. Wang and Z. Yang, "A near-optimal algorithm
    for stochastic bilevel optimization via double-momentum", NeurIPS 2021.
    """

    may_return_best = False  # a stochastic method: the last iterate is the answer

    def directions(self, oracles: Any, x: Any, y: Any, upper_loss: str) -> tuple[Any, ...]:
        """``h(x, y)``, ``∇_y f(x, y)`` and the batch's ``F`` on mini-batches from
        ``oracles``."""
        e = oracles.lower().lower_grad_y(x, y)
        h, fun = neumann_hypergradient(oracles, x, y, self.options, upper_loss)
        return h, e, fun

    def init(self, problem: BilevelProblem, x0: Array, y0: Array) -> StochasticState:
        x0, y0, oracles = start(self, problem, x0, y0)
        with np.errstate(over="ignore", invalid="ignore"):
            d, e, _ = self.directions(oracles, x0, y0, "full")
        return stochastic_state(problem, x0, y=y0, m=d, e=e, t=0, direction_norm=norm(d),
                                oracles=oracles)

    def step(self, problem: BilevelProblem, state: StochasticState) -> StochasticState:
        opts, t = self.options, state.t
        x, y, d, e = state.x, state.y, state.m, state.e
        with np.errstate(over="ignore", invalid="ignore"):
            x_new, y_new = x - step_size(opts, t) * d, y - opts.alpha * e
            samples = SameSamples(state.oracles)
            h, g, fun = self.directions(samples, x_new, y_new, opts.upper_loss)
            if opts.beta or opts.beta_lower:
                samples.rewind()
                h_old, g_old, _ = self.directions(samples, x, y, "full")
                h, g = h + opts.beta * (d - h_old), g + opts.beta_lower * (e - g_old)
            new = stochastic_state(problem, x_new, fun, y=y_new, m=h, e=g, t=t + 1,
                                   direction_norm=norm(h), oracles=state.oracles)
        return conclude(state, new, (x_new, y_new, h, g), opts.gtol,
                        "the upper direction's norm")

    def postprocess(self, problem: BilevelProblem, state: StochasticState,
                    status: Status) -> dict[str, Any]:
        return result(problem, state, self.options.upper_loss, hypergradient=state.m)
