"""BO-REP, bilevel optimization under unbounded smoothness (Hao, Gong and Liu, ICLR 2024), and
the single-loop methods it extends: SOBA (Dagréou et al. 2022) and MA-SOBA (Chen et al. 2023).

Spec: ``papers/bo-rep.md``. All three keep a lower iterate ``y``, a linear-system variable
``z ≈ (∇²_yy f)⁻¹ ∇_y F`` updated by one SGD step per iteration, and step ``x`` along the
hypergradient estimate ``h = ∇_x F - ∇²_xy f z``. BO-REP averages ``h`` into a momentum ``m``
and steps a fixed length ``η`` along it (normalized), and updates ``y`` only every ``I``
iterations (``N`` SGD steps) after an initial Epoch-SGD refinement; MA-SOBA steps ``η m``,
SOBA ``η h``, and both take one lower SGD step per iteration.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Bool, Interval
from optkit.bilevel.stochastic import (
    Oracles,
    all_finite,
    epoch_sgd,
    lower_sgd,
    norm,
    z_step,
    zeros_like,
)
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

__all__ = ["SingleLoop", "SOBA", "MASOBA", "BOREP"]

Array = NDArray[np.float64]

_POSITIVE_OR_NONE = (POSITIVE, None)


@dataclass(frozen=True, kw_only=True)
class SOBAOptions(StochasticOptions):
    """Options of ``method="soba"``."""

    maxiter: int = option(1000, "Outer iterations T.")
    nu: float = option(1e-2, "Step size ν of the z update (converges for ν < 2/L).",
                       check=POSITIVE)
    z_radius: float | None = option(None, "Radius of the ball about 0 that z is projected "
                                          "onto (theory: l_f0/μ); None: no projection.",
                                    check=_POSITIVE_OR_NONE)


@dataclass(frozen=True, kw_only=True)
class MASOBAOptions(SOBAOptions):
    """Options of ``method="ma-soba"``."""

    eta: float = option(5e-2, "Upper step size η.")
    alpha: float = option(1e-1, "Lower SGD step size α.")
    nu: float = option(1e-1, "Step size ν of the z update.")
    beta: float = option(0.9, "Momentum weight β on the old average: m = βm + (1-β)h.",
                         check=Interval(0, 1, closed="left"))


@dataclass(frozen=True, kw_only=True)
class BOREPOptions(MASOBAOptions):
    """Options of ``method="bo-rep"``."""

    eta: float = option(1e-2, "Length η of every (normalized) upper step.")
    alpha: float = option(5e-2, "Lower SGD step size α.")
    nu: float = option(1e-2, "Step size ν of the z update.")
    interval: int = option(2, "The lower level is updated when t % interval == 0 (I).",
                           check=POSITIVE_INT)
    lower_steps: int = option(3, "SGD steps of each periodic lower update (N).",
                              check=POSITIVE_INT)
    y_radius: float | None = option(None, "Radius of the ball about the period's start that "
                                          "the lower steps are projected onto; None: none.",
                                    check=_POSITIVE_OR_NONE)
    refine_epochs: int = option(4, "Epochs of the Epoch-SGD refinement of y0 (0: none, as "
                                   "the reference code).",
                                check=Interval(0, None, integer=True))
    refine_steps: int = option(16, "Steps of the refinement's first epoch (doubled each "
                                   "epoch).", check=POSITIVE_INT)
    refine_lr: float | None = option(None, "Step of the refinement's first epoch (halved "
                                           "each epoch); None: alpha.", check=_POSITIVE_OR_NONE)
    normalize: bool = option(True, "Step η m/‖m‖ (BO-REP); False steps η m (MA-SOBA with "
                                   "periodic lower updates).", check=Bool())
    eps_norm: float = option(1e-10, "Added to ‖m‖ before dividing.", check=NON_NEGATIVE)
    accumulate_lower_grads: bool = option(False, "Lower step k uses the sum of the period's "
                                                 "gradients so far (the reference code, which "
                                                 "never zeroes them).", check=Bool())


@dataclass(frozen=True)
class _Rule:
    """What distinguishes the single-loop methods."""

    interval: int = 1
    lower_steps: int = 1
    beta: float = 0.0
    normalize: bool = False
    eps_norm: float = 0.0
    y_radius: float | None = None
    accumulate: bool = False


class SingleLoop(Solver):
    """The shared loop of SOBA, MA-SOBA and BO-REP (see the module docstring): iteration
    ``t`` updates ``y`` (when ``t % I == 0``), then ``z`` by one SGD step at ``(x_t, y_t)``,
    then forms ``h_t = ∇_x F - ∇²_xy f z_{t+1}``, ``m_t = β m_{t-1} + (1-β) h_t`` and steps
    ``x``. The upper gradient, the z step's Hessian-vector product and the mixed product
    each use an independent mini-batch."""

    may_return_best = False  # a stochastic method: the last iterate is the answer

    def rule(self) -> _Rule:
        return _Rule()

    def init(self, problem: BilevelProblem, x0: Array, y0: Array) -> StochasticState:
        x0, y0, oracles = start(self, problem, x0, y0)
        first = stochastic_state(problem, x0, y=y0, z=zeros_like(y0), m=zeros_like(x0), t=0,
                                 oracles=oracles)
        with np.errstate(over="ignore", invalid="ignore"):
            y = self.refine(oracles, x0, y0)
            if y is y0:
                return first
            state = stochastic_state(problem, x0, y=y, z=zeros_like(y), m=zeros_like(x0), t=0,
                                     oracles=oracles)
        if math.isfinite(state.fun) and all_finite(y):
            return state
        # the run ends at once, at the finite start
        return dataclasses.replace(first, status=Status.NONFINITE, message=(
            "the upper loss at the refined lower start is not finite: the refinement of y0 "
            "diverged (its step refine_lr, or alpha, is too large), or the upper oracle failed"))

    def terminate(self, problem: BilevelProblem, state: StochasticState) -> tuple[bool, Status]:
        if state.status is not None:  # set by init: the refinement diverged
            return True, state.status
        return super().terminate(problem, state)

    def refine(self, oracles: Oracles, x0: Array, y0: Array) -> Array:
        """The lower start the loop begins from (BO-REP refines it)."""
        return y0

    def step(self, problem: BilevelProblem, state: StochasticState) -> StochasticState:
        opts, rule, oracles, t = self.options, self.rule(), state.oracles, state.t
        x, y, z = state.x, state.y, state.z
        with np.errstate(over="ignore", invalid="ignore"):
            if t % rule.interval == 0:
                y = lower_sgd(oracles, x, y, steps=rule.lower_steps, lr=opts.alpha,
                              radius=rule.y_radius, accumulate=rule.accumulate)
            gx, gy, fun = upper_batch(oracles, x, y, opts.upper_loss)
            z = z_step(oracles, x, y, z, gy, lr=opts.nu, radius=opts.z_radius)
            h = gx - oracles.lower().lower_hvp_xy(x, y, z)
            m = rule.beta * state.m + (1.0 - rule.beta) * h if rule.beta else h
            m_norm, eta = norm(m), step_size(opts, t)
            x_new = x - (eta / (m_norm + rule.eps_norm)) * m if rule.normalize else x - eta * m
            new = stochastic_state(problem, x_new, fun, y=y, z=z, m=m, t=t + 1,
                                   direction_norm=m_norm, oracles=oracles)
        return conclude(state, new, (x_new, y, z, m), opts.gtol, "the step direction's norm")

    def postprocess(self, problem: BilevelProblem, state: StochasticState,
                    status: Status) -> dict[str, Any]:
        return result(problem, state, self.options.upper_loss, z=state.z, momentum=state.m)


_COMMON = {"accepts": (BilevelProblem,), "needs": ("lower_hvp_yy", "lower_hvp_xy"),
           "uses": (), "tol": ("gtol",), "stochastic": True, "backends": ("numpy", "torch")}


@register("soba", options=SOBAOptions, peers=("bo-rep", "ma-soba"), **_COMMON)
class SOBA(SingleLoop):
    r"""SOBA: simultaneous SGD steps on y, z and x (Dagréou, Ablin, Vaiter and Moreau).

    ``y`` the lower variable, ``z`` the linear-system variable, ``x`` along
    ``h = ∇_x F - ∇²_xy f z``.

    One lower SGD step (step ``α``), one ``z`` step (``ν``) and ``x ← x - η h`` per
    iteration; each oracle on its own mini-batch when ``batch_size`` is given (the problem's
    ``sample_lower`` / ``sample_upper``). The order within an iteration is BO-REP's: ``y``,
    then ``z``, then ``x`` with the new ``z``.

    The history adds ``upper_loss`` (``F`` on the full problem; with ``upper_loss="batch"``,
    on the iteration's upper mini-batch, and ``res.fun`` the full ``F`` at the end),
    ``direction_norm`` (``‖h‖``) and ``phi_grad_norm`` (``‖∇Φ(x)‖`` when
    ``problem.info["phi_grad"]`` gives it); the result adds ``y``, ``z`` and ``momentum``
    (the last ``h``).

    Status codes: 0 (``‖h‖ <= gtol``), 1, 3 (the iterates diverged), 4, 99.

    References
    ----------
    M. Dagréou, P. Ablin, S. Vaiter and T. Moreau, "A framework for bilevel optimization
    that enables stochastic and global variance reduction algorithms", NeurIPS 2022.
    """


@register("ma-soba", options=MASOBAOptions, peers=("bo-rep", "soba"), **_COMMON)
class MASOBA(SingleLoop):
    r"""MA-SOBA: SOBA along a moving average of its estimates (Chen, Xu and Zhang).

    The step direction is ``m = βm + (1-β)h``, the step ``x ← x - η m``.

    The history and result are SOBA's, with ``direction_norm = ‖m‖``.

    Status codes: 0 (``‖m‖ <= gtol``), 1, 3 (the iterates diverged), 4, 99.

    References
    ----------
    X. Chen, T. Xu and Y. Zhang, "Optimal algorithms for stochastic bilevel optimization
    under relaxed smoothness conditions", JMLR 2024 (arXiv:2306.12067, 2023).
    """

    def rule(self) -> _Rule:
        return _Rule(beta=self.options.beta)


@register("bo-rep", options=BOREPOptions, peers=("ma-soba", "soba", "stocbio", "ttsa"),
          flagship=("unbounded-smoothness-toy",),
          tour_runs={"BO-REP (η = 0.05)": ("bo-rep", {"maxiter": 300, "eta": 0.05, "nu": 0.5,
                                                      "alpha": 0.5, "batch_size": 1,
                                                      "seed": 0}),
                     "MA-SOBA (η = 1e-3)": ("ma-soba", {"maxiter": 300, "eta": 1e-3,
                                                        "nu": 0.5, "alpha": 0.5,
                                                        "batch_size": 1, "seed": 0}),
                     "SOBA (η = 1e-3)": ("soba", {"maxiter": 300, "eta": 1e-3, "nu": 0.5,
                                                  "alpha": 0.5, "batch_size": 1, "seed": 0})},
          tour_plot={"x": "nit", "y": "phi_grad_norm", "logy": True},
          tour_caption="‖∇Φ(x)‖ against iterations on an upper level whose smoothness grows "
                       "with its gradient (mini-batches of 1, 300 iterations): BO-REP's "
                       "normalized steps take η = 0.05 and keep descending; SOBA and MA-SOBA, "
                       "which overflow at steps of 0.1, run at η = 1e-3 and level off near "
                       "5.", **_COMMON)
class BOREP(SingleLoop):
    r"""BO-REP: normalized momentum with periodic lower updates (Hao, Gong and Liu).

    For upper levels whose smoothness grows with the gradient.

    ``y0`` is first refined by Epoch-SGD (``refine_epochs`` epochs, ``refine_steps ·
    (2^epochs - 1)`` lower gradients); then iteration ``t`` runs ``lower_steps`` SGD steps
    on ``y`` when ``t % interval == 0`` (projected onto the ball of ``y_radius`` about the
    period's start), one step on ``z``, ``h = ∇_x F - ∇²_xy f z``,
    ``m = βm + (1-β)h`` and ``x ← x - η m/(‖m‖ + eps_norm)``: every upper step has length
    ``η``, so a steep region of ``Φ`` (``(L0, L1)``-smoothness, the gradients of recurrent
    networks) cannot throw the iterate away, and ``y*(x)`` moves at most ``(L/μ)Iη`` per
    period, which the periodic lower steps follow.

    With ``normalize=False``, ``interval=1``, ``lower_steps=1`` and ``refine_epochs=0`` it
    is MA-SOBA. The history and result are MA-SOBA's.

    Status codes: 0 (``‖m‖ <= gtol``), 1, 3 (the iterates diverged), 4, 99.

    References
    ----------
    J. Hao, X. Gong and M. Liu, "Bilevel optimization under unbounded smoothness: a new
    algorithm and convergence analysis", ICLR 2024; arXiv:2401.09587.
    """

    def rule(self) -> _Rule:
        opts = self.options
        return _Rule(interval=opts.interval, lower_steps=opts.lower_steps, beta=opts.beta,
                     normalize=opts.normalize, eps_norm=opts.eps_norm, y_radius=opts.y_radius,
                     accumulate=opts.accumulate_lower_grads)

    def refine(self, oracles: Oracles, x0: Array, y0: Array) -> Array:
        opts = self.options
        if opts.refine_epochs == 0:
            return y0
        return epoch_sgd(oracles, x0, y0, epochs=opts.refine_epochs, steps=opts.refine_steps,
                         lr=opts.alpha if opts.refine_lr is None else opts.refine_lr)
