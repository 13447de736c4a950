"""StocBiO (Ji, Yang and Liang, 2021) and TTSA (Hong, Wai, Wang and Yang, 2023): stochastic
bilevel methods whose hypergradient inverts the lower Hessian by a truncated Neumann series,
BO-REP's baselines (spec ``papers/bo-rep.md`` sections 3 and 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import POSITIVE, POSITIVE_INT, Bool
from optkit.bilevel.stochastic import lower_sgd, neumann, norm
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

__all__ = ["StocBiO", "TTSA"]

Array = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class StocBiOOptions(StochasticOptions):
    """Options of ``method="stocbio"``."""

    inner_steps: int = option(3, "Lower SGD steps per iteration (warm-started).",
                              check=POSITIVE_INT)
    neumann_lr: float = option(1e-2, "Step a of the Neumann series a Σ (I - aH)^q v "
                                     "(a <= 1/L for convergence).", check=POSITIVE)
    neumann_terms: int = option(3, "Terms Q of the Neumann series.", check=POSITIVE_INT)
    neumann_include_v0: bool = option(True, "Sum q = 0..Q-1 (standard); False sums "
                                            "q = 1..Q, omitting v (the reference codes).",
                                      check=Bool())

@dataclass(frozen=True, kw_only=True)
class TTSAOptions(StocBiOOptions):
    """Options of ``method="ttsa"``."""

    eta: float = option(1e-1, "Upper step size η (the slower time scale).")
    inner_steps: int = option(1, "Lower SGD steps per iteration.")


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
            gx, gy, fun = upper_batch(oracles, x, y, opts.upper_loss)
            v = neumann(oracles, x, y, gy, step=opts.neumann_lr, terms=opts.neumann_terms,
                        include_v0=opts.neumann_include_v0)
            h = gx - oracles.lower().lower_hvp_xy(x, y, v)
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
