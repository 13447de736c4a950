"""HOAG, hyperparameter optimization with approximate gradient (Pedregosa, 2016), as MAID's
reference code runs it (spec ``papers/maid-bilevel.md`` section 4.1): the baseline MAID is
measured against."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import POSITIVE, POSITIVE_INT, OneOf
from optkit.bilevel import LOWER_SOLVERS, estimate_strong_convexity, hypergradient, solve_lower
from optkit.problem import BilevelProblem
from optkit.registry import register
from optkit.result import Status, nan_trial_message
from optkit.solvers.base import Options, Solver, State, option

Array = NDArray[np.float64]

#: How the tolerance ε_k decreases with the iteration k.
SCHEDULES = ("geometric", "quadratic", "cubic", "fixed")


@dataclass(frozen=True, kw_only=True)
class HOAGOptions(Options):
    """Options of ``method="hoag"``."""

    maxiter: int = option(100, "Outer iterations.")
    eps0: float = option(0.1, "Initial tolerance ε₀ of the lower solve and of CG.",
                         check=POSITIVE)
    schedule: str = option("geometric", "ε_k: 'geometric' (0.9^k ε₀), 'quadratic' "
                                        "(ε₀/(k+1)²), 'cubic' (ε₀/(k+1)³) or 'fixed' (ε₀).",
                           check=OneOf(*SCHEDULES))
    eps_min: float = option(1e-12, "Floor of ε_k.", check=POSITIVE)
    bound: float = option(1000.0, "x is clipped to [-bound, bound] after each step.",
                          check=POSITIVE)
    lower_solver: str = option("fista", "Lower-level solver: 'fista' or 'gd'.",
                               check=OneOf(*LOWER_SOLVERS))
    max_ll_iter: int = option(2000, "Cap of one lower solve.", check=POSITIVE_INT)
    max_cg_iter: int = option(2000, "Cap of one CG solve.", check=POSITIVE_INT)
    ll_budget: int | None = option(None, "Total lower-level cost (lower + CG iterations) "
                                         "after which the run stops.",
                                   check=(POSITIVE_INT, None))


@dataclass(frozen=True)
class HOAGState(State):
    """``x`` with ``fun = F(x, ỹ)`` at tolerance ``eps``, the approximate hypergradient
    ``p``, the Lipschitz estimate ``L`` and HOAG's memory."""

    y: Array | None = None
    p: Array | None = None
    eps: float = math.nan
    eps_old: float = math.nan
    factor: float = 1.0
    k: int = 0
    L: float = math.nan
    fun_old: float = math.inf
    x_old: Array | None = None
    rejected: int = 0
    lower_iters: int = 0
    cg_iters: int = 0
    #: The run's strong-convexity constant (given, or estimated at the start).
    work: Any = field(default=None, repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        return {"upper_loss": self.fun, "eps": self.eps, "L": self.L,
                "rejected": self.rejected, "lower_iters": self.lower_iters,
                "cg_iters": self.cg_iters, "cost": self.lower_iters + self.cg_iters}


@register("hoag", options=HOAGOptions, accepts=(BilevelProblem,),
          needs=("lower_hvp_yy", "lower_hvp_xy"), uses=(), tol=(), flagship=(),
          peers=("maid",))
class HOAG(Solver):
    r"""HOAG: approximate hypergradient descent with a decreasing tolerance schedule
    (Pedregosa, 2016), as MAID's reference code runs it.

    Iteration ``k`` solves the lower level and the linear system to tolerance ``ε_k`` (the
    ``schedule``), takes the approximate hypergradient ``p``, and steps with ``1/L``: a
    loss within ``g_old + Cε_k + ε_old(C+1)‖Δ‖ - L‖Δ‖²`` (``C = 1/4``, ``Δ`` the last step)
    shrinks ``L`` by 0.95; a loss above ``1.2 g_old`` rejects the last step: ``x`` returns
    to the point before it (as in Pedregosa's algorithm; MAID's reference code stays at the
    rejected point, where the test then fails forever), ``L`` doubles and ``ε`` halves;
    otherwise the step is taken as it is. ``x`` is clipped to ``[-bound, bound]``.

    Needs ``lower_hvp_yy``, ``lower_hvp_xy`` and ``lower_smoothness``; ``μ`` as MAID. The
    history adds ``upper_loss``, ``eps``, ``L``, ``rejected`` and the cumulative
    ``lower_iters``, ``cg_iters`` and ``cost``; the result adds ``y`` and ``hypergradient``.

    Status codes: 1 (``maxiter`` or ``ll_budget``), 3, 4, 99.

    References
    ----------
    F. Pedregosa, "Hyperparameter optimization with approximate gradient", ICML 2016.
    """

    may_return_best = False  # fun is F at an inexact y, at a decreasing tolerance

    def init(self, problem: BilevelProblem, x0: Array, y0: Array) -> HOAGState:
        if problem.lower_smoothness is None:
            raise ValueError("hoag needs the lower level's smoothness L "
                             "(BilevelProblem.lower_smoothness) for its lower solver")
        mu = (estimate_strong_convexity(problem, x0, y0)
              if problem.lower_strong_convexity is None else None)
        state = self._evaluate(problem, x0, y0, self.options.eps0, HOAGState(
            x0, math.nan, eps=self.options.eps0, work=mu))
        if state.status is not None:
            return state
        p_norm = float(np.linalg.norm(state.p))
        L = p_norm / math.sqrt(x0.size) if p_norm > 1e-3 else 1.0
        return dataclasses.replace(state, L=L)

    def _evaluate(self, problem: BilevelProblem, x: Array, y: Array, eps: float,
                  previous: HOAGState, **fields: Any) -> HOAGState:
        """The state at ``x``: lower solve and CG to ``eps``, ``p`` and ``F(x, ỹ)``."""
        opts = self.options
        mu = previous.work if previous.work is not None else \
            problem.constant("lower_strong_convexity", x)
        L = problem.constant("lower_smoothness", x)
        if not (math.isfinite(mu) and math.isfinite(L) and 0 < mu <= L):  # x diverged
            return dataclasses.replace(previous, status=Status.NONFINITE, message=(
                f"the lower level's constants are not finite at the new x (mu = {mu:.3g}, "
                f"L = {L:.3g}): the upper iterate diverged"))
        lower = solve_lower(problem, x, y, eps=eps, method=opts.lower_solver, mu=mu, L=L,
                            maxiter=opts.max_ll_iter)
        p, info = hypergradient(problem, x, lower.y, rtol=0.0, atol=eps,
                                maxiter=opts.max_cg_iter)
        F = float(problem.upper_fun(x, lower.y))
        counts = {"lower_iters": previous.lower_iters + lower.iterations,
                  "cg_iters": previous.cg_iters + info.iterations}
        if not (math.isfinite(F) and np.all(np.isfinite(p))):
            return dataclasses.replace(previous, status=Status.NONFINITE,
                            message=nan_trial_message("hypergradient"))
        base = {f: getattr(previous, f) for f in ("eps_old", "factor", "k", "L", "fun_old",
                                                  "x_old", "rejected", "work")}
        base.update(counts, **fields)
        return HOAGState(x, F, y=lower.y, p=p, eps=eps, **base)

    def step(self, problem: BilevelProblem, state: HOAGState) -> HOAGState:
        opts = self.options
        budget = opts.ll_budget
        if budget is not None and state.lower_iters + state.cg_iters >= budget:
            return dataclasses.replace(state, status=Status.MAXITER,
                            message=f"the lower-level budget ll_budget={budget} is spent")
        C, L, p = 0.25, state.L, state.p
        incr = float(np.linalg.norm(p)) / L
        eps_old = state.eps_old if math.isfinite(state.eps_old) else state.eps
        factor, fun_old, rejected = state.factor, state.fun_old, state.rejected
        x, x_old = state.x, state.x_old
        if state.fun <= fun_old + C * state.eps + eps_old * (C + 1) * incr - L * incr**2:
            L *= 0.95
            x, x_old, fun_old = x - p / L, x, state.fun
        elif state.fun >= 1.2 * fun_old:  # back to the last accepted point (Pedregosa's
            L *= 2.0                       # Algorithm 1; the reference code stays, and stalls)
            x = x_old
            rejected += 1
            if opts.schedule != "fixed":
                factor /= 2.0
        else:
            x, x_old, fun_old = x - p / L, x, state.fun
        x = np.clip(x, -opts.bound, opts.bound)
        k = state.k + 1
        eps = max(_schedule(opts.schedule, opts.eps0, k) * factor, opts.eps_min)
        return self._evaluate(problem, x, state.y, eps, state, eps_old=state.eps,
                              factor=factor, k=k, L=L, fun_old=fun_old, x_old=x_old,
                              rejected=rejected)

    def postprocess(self, problem: BilevelProblem, state: HOAGState,
                    status: Status) -> dict[str, Any]:
        fields = {"x": state.x, "fun": state.fun, "jac": None, "y": state.y,
                  "hypergradient": state.p, "eps": state.eps,
                  "lower_iters": state.lower_iters, "cg_iters": state.cg_iters}
        if state.work is not None:
            fields["mu"] = state.work
        return fields


def _schedule(kind: str, eps0: float, k: int) -> float:
    if kind == "geometric":
        return eps0 * 0.9**k
    if kind == "quadratic":
        return eps0 / (k + 1) ** 2
    if kind == "cubic":
        return eps0 / (k + 1) ** 3
    return eps0
