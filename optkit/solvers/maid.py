"""MAID, the method of adaptive inexact descent for bilevel problems (Salehi, Mukherjee,
Roberts and Ehrhardt), and its fixed-accuracy baseline.

Spec: ``papers/maid-bilevel.md``. In its notation the upper variable is ``θ`` (optkit's ``x``),
the lower one ``x`` (optkit's ``y``), the upper loss ``g`` (optkit's ``F``) and the lower one
``h`` (optkit's ``f``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Bool, Interval, OneOf
from optkit.bilevel import (
    LOWER_SOLVERS,
    error_bound,
    estimate_lipschitz,
    estimate_strong_convexity,
    hypergradient,
    mixed_norm,
    solve_lower,
    value_bounds,
)
from optkit.problem import BilevelProblem
from optkit.registry import register
from optkit.result import Status, nan_trial_message
from optkit.solvers.base import Options, Solver, State, option

Array = NDArray[np.float64]

_UNIT = Interval(0, 1, closed="neither")
_ABOVE_ONE = Interval(1, None, closed="neither")


@dataclass(frozen=True, kw_only=True)
class MAIDOptions(Options):
    """Options of ``method="maid"``."""

    maxiter: int = option(100, "Outer iterations (upper-level steps).")
    eps0: float = option(1e-1, "Initial lower-level accuracy ε₀ (‖ỹ - y*‖ <= ε certified).",
                         check=POSITIVE)
    delta0: float | None = option(None, "Initial residual tolerance δ₀ of the linear solve "
                                        "(None: eps0).", check=(POSITIVE, None))
    alpha0: float = option(1e-2, "Initial step size α₀.", check=POSITIVE)
    rho: float = option(0.5, "Step shrink factor ρ of the backtracking.", check=_UNIT)
    rho_bar: float = option(10 / 9, "Step growth ρ̄ after an accepted step.",
                            check=_ABOVE_ONE)
    nu: float = option(0.5, "Accuracy shrink factor ν (ε and δ after a failure).", check=_UNIT)
    nu_bar: float = option(1.05, "Accuracy relaxation ν̄ after an accepted step.",
                           check=_ABOVE_ONE)
    eta: float = option(1e-4, "Descent margin η: accept a hypergradient when ω <= (1 - η)‖z‖.",
                        check=_UNIT)
    c_armijo: float | None = option(None, "Sufficient-decrease constant (None: η², the "
                                          "reference code's).", check=(_UNIT, None))
    max_bt: int = option(10, "Backtracking budget of the first line search of an iteration; "
                             "retry j gets max_bt + j.", check=POSITIVE_INT)
    max_refine: int = option(3, "Accuracy refinements (line-search retries) per iteration.",
                             check=POSITIVE_INT)
    max_grad_refine: int = option(40, "Most tightenings of (ε, δ) inside one hypergradient "
                                      "evaluation.", check=POSITIVE_INT)
    eps_min: float = option(1e-14, "Floor of ε and δ.", check=POSITIVE)
    lower_solver: str = option("fista", "Lower-level solver: 'fista' or 'gd'.",
                               check=OneOf(*LOWER_SOLVERS))
    max_ll_iter: int = option(2000, "Cap of one lower solve (gradient evaluations).",
                              check=POSITIVE_INT)
    max_cg_iter: int = option(2000, "Cap of one CG solve.", check=POSITIVE_INT)
    ll_budget: int | None = option(None, "Total lower-level cost (lower iterations + CG "
                                         "iterations) after which the run stops.",
                                   check=(POSITIVE_INT, None))
    gtol: float = option(0.0, "Stop when ‖z‖ <= gtol and ω <= gtol.", check=NON_NEGATIVE)
    upper_convex: bool = option(True, "Whether F(x, ·) is convex (the line search then uses "
                                      "the tighter lower bound of spec 2.2).", check=Bool())
    eps_plus: str = option("relaxed", "Accuracy the trial point's upper bound is taken at: "
                                      "'relaxed' ν̄ε (the paper) or 'same' ε (the reference "
                                      "code).", check=OneOf("relaxed", "same"))
    B_norm: float | None = option(None, "‖∇²_xy f‖₂ (None: estimated at each iteration by "
                                        "power iteration).", check=(POSITIVE, None))
    L_B: float | str = option(0.0, "Lipschitz constant in y of ∇²_xy f (0: f quadratic in y "
                                   "with x entering linearly), or 'estimate': the running "
                                   "maximum of local estimates (optkit.bilevel."
                                   "estimate_lipschitz), as the reference code does.",
                              check=(NON_NEGATIVE, OneOf("estimate")))
    L_Ainv: float | str = option(0.0, "Lipschitz constant in y of (∇²_yy f)⁻¹, or "
                                      "'estimate' (see L_B).",
                                 check=(NON_NEGATIVE, OneOf("estimate")))
    adaptive: bool = option(True, "Adapt ε and δ (MAID); False keeps them fixed (the "
                                  "fixed-accuracy baseline).", check=Bool())


@dataclass(frozen=True, kw_only=True)
class FixedAccuracyOptions(MAIDOptions):
    """Options of ``method="maid-fixed"``: MAID's line search at a fixed accuracy."""

    adaptive: bool = option(False, "Adapt ε and δ (False: the fixed-accuracy baseline).",
                            check=Bool())
    max_bt: int = option(5, "Backtracking budget (the reference code's 5).",
                         check=POSITIVE_INT)


@dataclass(frozen=True)
class MAIDState(State):
    """The upper iterate ``x`` with ``fun = F(x, ỹ)``, the lower iterate ``ỹ``, the accuracies
    and the cumulative lower-level cost."""

    y: Array | None = None
    eps: float = math.nan
    delta: float = math.nan
    alpha: float = math.nan
    step: float = 0.0
    omega: float = math.nan
    z_norm: float = math.nan
    z: Array | None = None
    ls_fail: int = 0
    lower_iters: int = 0
    cg_iters: int = 0
    #: The run's constants (μ, or its estimate; the Armijo constant), shared by its states.
    work: Any = field(default=None, repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        return {"upper_loss": self.fun, "eps": self.eps, "delta": self.delta,
                "omega": self.omega, "z_norm": self.z_norm, "step": self.step,
                "ls_fail": self.ls_fail, "lower_iters": self.lower_iters,
                "cg_iters": self.cg_iters, "cost": self.lower_iters + self.cg_iters}


class _Run:
    """One run's constants and counters (the state holds the iterates)."""

    def __init__(self, solver: MAID, problem: BilevelProblem, x: Array, y: Array) -> None:
        opts = solver.options
        self.problem, self.opts = problem, opts
        self.mu_estimated = problem.lower_strong_convexity is None
        if problem.lower_smoothness is None:
            raise ValueError("maid needs the lower level's smoothness L "
                             "(BilevelProblem.lower_smoothness) for its lower solver")
        if problem.upper_smoothness is None:
            raise ValueError("maid needs upper_smoothness (L_g, a Lipschitz constant of "
                             "∇_y F) for its error bound")
        self.mu_estimate = (estimate_strong_convexity(problem, x, y)
                            if self.mu_estimated else None)
        self.c_armijo = opts.eta**2 if opts.c_armijo is None else opts.c_armijo
        self.estimated = tuple(name for name in ("L_B", "L_Ainv")
                               if getattr(opts, name) == "estimate")
        #: L_B and L_Ainv: the options' values, or running maxima of estimates from 0.
        self.lipschitz = {name: 0.0 if name in self.estimated else float(getattr(opts, name))
                          for name in ("L_B", "L_Ainv")}
        self.rng = solver.generator() if self.estimated else None

    def constants(self, x: Array, y: Array, q: Array, eps: float, mu: float) -> dict[str, float]:
        """``L_B`` and ``L_Ainv`` for the bound at ``(x, ỹ)``: the running maxima updated by
        an estimate at distance ``ε`` (at least ``1e-8 (1 + ‖ỹ‖)``, above rounding) when the
        options ask for estimates."""
        if self.estimated:
            radius = max(eps, 1e-8 * (1.0 + float(np.linalg.norm(y))))
            found = dict(zip(("L_B", "L_Ainv"), estimate_lipschitz(
                self.problem, x, y, q, radius=radius, mu=mu, rng=self.rng), strict=True))
            for name in self.estimated:
                if math.isfinite(found[name]):
                    self.lipschitz[name] = max(self.lipschitz[name], found[name])
        return self.lipschitz

    def mu(self, x: Array) -> float:
        if self.mu_estimated:
            return self.mu_estimate
        return self.problem.constant("lower_strong_convexity", x)

    def lower(self, x: Array, y: Array, eps: float):
        """The certified lower solve at ``x``; ``None`` when a constant at ``x`` is not
        finite (a diverging ``x``: the run ends with status 3)."""
        mu, L = self.mu(x), self.problem.constant("lower_smoothness", x)
        if not (math.isfinite(mu) and math.isfinite(L) and 0 < mu <= L):
            return None
        return solve_lower(self.problem, x, y, eps=eps, method=self.opts.lower_solver,
                           mu=mu, L=L, maxiter=self.opts.max_ll_iter)


@register("maid", options=MAIDOptions, accepts=(BilevelProblem,),
          needs=("lower_hvp_yy", "lower_hvp_xy"), uses=(), tol=("gtol",),
          flagship=("tv-denoising-1d",), peers=("hoag", "maid-fixed"),
          tour_runs={"MAID (ε₀ = 0.1)": ("maid", {"maxiter": 300, "gtol": 1e-3}),
                     "fixed accuracy (ε = 1e-3)": ("maid-fixed", {"maxiter": 100,
                                                                  "eps0": 1e-3}),
                     "HOAG (geometric)": ("hoag", {"maxiter": 100})},
          tour_plot={"x": "cost", "y": "upper_loss", "logx": True},
          tour_caption="Upper loss against lower-level cost (log scale) on 1-D TV denoising: "
                       "MAID's certified steps descend without a rise and stop once ‖z‖ and "
                       "its error bound are below 1e-3; HOAG reaches the plateau at a similar "
                       "cost, with jumps where its steps are rejected; the fixed accuracy "
                       "ε = 1e-3 makes no progress.")
class MAID(Solver):
    r"""MAID: inexact hypergradient descent whose accuracies adapt to certified bounds
    (Salehi, Mukherjee, Roberts and Ehrhardt).

    Each iteration computes an inexact hypergradient ``z`` at ``x_k`` (lower solve certified to
    ``ε``, CG to residual ``δ``), tightening ``(ε, δ)`` by ``ν`` until the a-posteriori bound
    ``ω(ε, δ) <= (1 - η)‖z‖`` makes ``-z`` a descent direction of the exact ``Φ``; then an
    inexact backtracking line search accepts ``α`` when
    ``U⁺(x_k - αz) - U⁻(x_k) + c α ‖z‖² <= 0`` (upper and lower bounds on ``Φ``), which
    guarantees the exact decrease ``Φ(x_{k+1}) <= Φ(x_k) - c α ‖z‖²``. A failed search
    tightens ``(ε, δ)`` and retries (``max_refine``); a success grows ``α`` by ``ρ̄`` and
    relaxes ``(ε, δ)`` by ``ν̄``. With ``adaptive=False`` (``method="maid-fixed"``) ``ε`` and
    ``δ`` never change.

    Needs ``lower_hvp_yy``, ``lower_hvp_xy``, ``lower_smoothness`` and ``upper_smoothness``;
    ``lower_strong_convexity`` is estimated (a few Lanczos steps) when not given, and the
    estimate reported as ``res.mu``. ``L_B`` and ``L_Ainv`` (0 by default, exact for a lower
    level quadratic in ``y`` with ``x`` entering linearly) may be ``"estimate"``: running
    maxima of local estimates, reported as ``res.L_B`` and ``res.L_Ainv``. The history adds
    ``upper_loss``, ``eps``, ``delta``, ``omega``, ``z_norm``, ``step``, ``ls_fail`` and the
    cumulative ``lower_iters``, ``cg_iters`` and ``cost`` (their sum, the paper's x-axis);
    the result adds ``y``, the last hypergradient ``hypergradient``, ``eps`` and ``delta``.

    Status codes: 0 (``‖z‖`` and ``ω`` below ``gtol``, or the accuracy floor ``eps_min``
    reached with the line search still failing), 1 (``maxiter`` or ``ll_budget``), 3, 4, 99.

    References
    ----------
    M. S. Salehi, S. Mukherjee, L. Roberts and M. J. Ehrhardt, "An adaptively inexact
    first-order method for bilevel optimization with application to hyperparameter learning",
    SIAM J. Math. Data Sci. (2025); arXiv:2308.10098.
    """

    may_return_best = False  # fun is F at an inexact y: values at different accuracies

    def init(self, problem: BilevelProblem, x0: Array, y0: Array) -> MAIDState:
        opts = self.options
        run = _Run(self, problem, x0, y0)
        eps = opts.eps0
        lower = run.lower(x0, y0, eps)
        if lower is None:
            raise ValueError(f"the lower level's constants at x0 are not finite or not "
                             f"0 < mu <= L: mu = {run.mu(x0)!r}, "
                             f"L = {problem.constant('lower_smoothness', x0)!r}")
        y = lower.y
        return MAIDState(x0, float(problem.upper_fun(x0, y)), y=y, eps=eps,
                         delta=opts.eps0 if opts.delta0 is None else opts.delta0,
                         alpha=opts.alpha0, lower_iters=lower.iterations, work=run)

    def step(self, problem: BilevelProblem, state: MAIDState) -> MAIDState:
        opts, run = self.options, state.work
        budget = opts.ll_budget
        if budget is not None and state.lower_iters + state.cg_iters >= budget:
            return _stop(state, Status.MAXITER, f"the lower-level budget ll_budget={budget} "
                                                f"is spent")
        x, y, eps, delta = state.x, state.y, state.eps, state.delta
        counts = [state.lower_iters, state.cg_iters]
        failures = 0
        for j in range(opts.max_refine):
            grad = self._inexact_gradient(problem, run, x, y, eps, delta, counts)
            if grad is None:
                return _stop(state, Status.NONFINITE, nan_trial_message("hypergradient"))
            z, y, eps, delta, omega, F, gy_norm = grad
            z_norm = float(np.linalg.norm(z))
            if z_norm <= opts.gtol and omega <= opts.gtol:
                return _stop(state, Status.SUCCESS, f"the hypergradient ‖z‖ = {z_norm:.3g} "
                                                    f"and its error bound are below gtol")
            found = self._line_search(problem, run, x, z, z_norm, y, F, gy_norm, eps,
                                      state.alpha, opts.max_bt + j, counts)
            if found == "nan":
                return _stop(state, Status.NONFINITE, nan_trial_message("line search"))
            if found is not None:
                alpha, x_new, y_new, F_new = found
                grow = opts.nu_bar if opts.adaptive else 1.0
                return MAIDState(x_new, F_new, y=y_new, eps=eps * grow, delta=delta * grow,
                                 alpha=opts.rho_bar * alpha, step=alpha, omega=omega,
                                 z_norm=z_norm, z=z, ls_fail=failures,
                                 lower_iters=counts[0], cg_iters=counts[1], work=run)
            failures += 1
            if not opts.adaptive:
                continue
            if eps <= opts.eps_min and delta <= opts.eps_min:
                return _stop(state, Status.SUCCESS, "accuracy floor reached: the line search "
                                                    "fails at eps = delta = eps_min (near a "
                                                    "stationary point)")
            eps, delta = max(opts.nu * eps, opts.eps_min), max(opts.nu * delta, opts.eps_min)
        # every retry failed: the iteration keeps x (as the reference code) with tighter
        # accuracies
        return MAIDState(x.copy(), F, y=y, eps=eps, delta=delta, alpha=state.alpha,
                         step=0.0, omega=omega, z_norm=z_norm, z=z, ls_fail=failures,
                         lower_iters=counts[0], cg_iters=counts[1], work=run)

    def _inexact_gradient(self, problem: BilevelProblem, run: _Run, x: Array, y: Array,
                          eps: float, delta: float, counts: list[int]):
        """Spec 3.1: ``(z, ỹ, ε, δ, ω, F(x, ỹ), ‖∇_y F‖)``, tightening ``(ε, δ)`` until the
        descent test holds (or the refinement cap); ``None`` at a non-finite value."""
        opts = self.options
        mu = run.mu(x)
        L_g = problem.constant("upper_smoothness", x)
        for _ in range(opts.max_grad_refine):
            lower = run.lower(x, y, eps)
            if lower is None:
                return None
            counts[0] += lower.iterations
            y = lower.y
            z, info = hypergradient(problem, x, y, rtol=0.0, atol=delta,
                                    maxiter=opts.max_cg_iter)
            counts[1] += info.iterations
            F = float(problem.upper_fun(x, y))
            if not (math.isfinite(F) and np.all(np.isfinite(z))):
                return None
            gy_norm = float(np.linalg.norm(info.upper_grad_y))
            B = opts.B_norm if opts.B_norm is not None else mixed_norm(problem, x, y)
            omega = error_bound(eps, info.residual, mu=mu, B_norm=B, upper_grad_norm=gy_norm,
                                L_g=L_g, **run.constants(x, y, info.q, eps, mu))
            if (not opts.adaptive or omega <= (1.0 - opts.eta) * float(np.linalg.norm(z))
                    or (eps <= opts.eps_min and delta <= opts.eps_min)):
                break
            eps, delta = max(opts.nu * eps, opts.eps_min), max(opts.nu * delta, opts.eps_min)
        return z, y, eps, delta, omega, F, gy_norm

    def _line_search(self, problem: BilevelProblem, run: _Run, x: Array, z: Array,
                     z_norm: float, y: Array, F: float, gy_norm: float, eps: float,
                     alpha: float, tries: int, counts: list[int]):
        """Spec 3.2: the first ``α = alpha ρ^i`` with ``ψ(α) <= 0``, as
        ``(α, x⁺, ỹ⁺, F(x⁺, ỹ⁺))``; ``None`` when every trial fails, ``"nan"`` at a NaN."""
        opts = self.options
        L_g = problem.constant("upper_smoothness", x)
        lower_bound = value_bounds(F, gy_norm, eps, L_g, convex=opts.upper_convex)[0]
        eps_plus = eps * (opts.nu_bar if opts.eps_plus == "relaxed" and opts.adaptive else 1.0)
        for i in range(tries):
            a = alpha * opts.rho**i
            x_new = x - a * z
            lower = run.lower(x_new, y, eps)
            if lower is None:
                return "nan"
            counts[0] += lower.iterations
            y_new = lower.y
            F_new = float(problem.upper_fun(x_new, y_new))
            gy_new = problem.upper_grad(x_new, y_new)[1]
            if F_new != F_new:
                return "nan"
            upper = value_bounds(F_new, float(np.linalg.norm(gy_new)), eps_plus,
                                 problem.constant("upper_smoothness", x_new))[1]
            if upper - lower_bound + run.c_armijo * a * z_norm**2 <= 0.0:
                return a, x_new, y_new, F_new
        return None

    def postprocess(self, problem: BilevelProblem, state: MAIDState,
                    status: Status) -> dict[str, Any]:
        run = state.work
        fields = {"x": state.x, "fun": state.fun, "jac": None, "y": state.y,
                  "hypergradient": state.z, "eps": state.eps, "delta": state.delta,
                  "lower_iters": state.lower_iters, "cg_iters": state.cg_iters}
        if run.mu_estimated:
            fields["mu"] = run.mu_estimate
        for name in run.estimated:
            fields[name] = run.lipschitz[name]
        return fields


@register("maid-fixed", options=FixedAccuracyOptions, accepts=(BilevelProblem,),
          needs=("lower_hvp_yy", "lower_hvp_xy"), uses=(), tol=("gtol",), flagship=(),
          peers=(), aliases=("fixed-accuracy",))
class FixedAccuracy(MAID):
    """MAID's line search at a fixed accuracy ``(ε, δ) = (eps0, delta0)``: the paper's
    fixed-accuracy baseline.

    Status codes: 0, 1, 3, 4, 99.
    """


def _stop(state: MAIDState, status: Status, message: str) -> MAIDState:
    """The state that ends the run at ``state`` (the iterate does not move)."""
    return dataclasses.replace(state, status=status, message=message)
