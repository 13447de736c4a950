"""Gradient descent with a fixed step or Armijo backtracking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optkit.problem import Problem
from optkit.registry import register
from optkit.result import Status, nan_trial_message
from optkit.solvers._linesearch import armijo
from optkit.solvers.base import Options, Solver, State, check_option, option


@dataclass(frozen=True, kw_only=True)
class GDOptions(Options):
    """Options of ``method="gd"``."""

    maxiter: int = option(10_000, "Maximum number of iterations.")
    gtol: float = option(1e-5, "Stop when the gradient's max-norm is at most gtol.")
    step_size: float = option(
        1.0, "The fixed step (linesearch=None), or the first trial step of the line search."
    )
    linesearch: str | None = option(
        "armijo", "'armijo' for backtracking until sufficient decrease, None for a fixed step."
    )
    c1: float = option(1e-4, "Sufficient-decrease constant of the Armijo test.")
    shrink: float = option(0.5, "Factor applied to the trial step after each failed test.")
    grow: float = option(
        2.0, "Each iteration's first trial step is the last accepted step times grow "
             "(1.0: the same step again)."
    )
    max_ls: int = option(60, "Maximum number of trials per line search.")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_option(self, "gtol", strict=False)
        check_option(self, "step_size")
        check_option(self, "c1", high=1.0)
        check_option(self, "shrink", high=1.0)
        check_option(self, "grow", low=1.0, strict=False)
        check_option(self, "max_ls", low=1, strict=False, integer=True)
        if self.linesearch not in ("armijo", None):
            raise ValueError(f"option 'linesearch' must be 'armijo' or None, got "
                             f"{self.linesearch!r}")


@dataclass(frozen=True)
class GDState(State):
    """Gradient descent state: the last accepted step and the line-search trials it took."""

    step_size: float = np.nan
    ls_trials: int = 0

    def record(self) -> dict:
        return {"step_size": self.step_size, "ls_trials": self.ls_trials}


@register("gd", options=GDOptions, needs=("grad",), tol=("gtol",),
          flagship=("quadratic", "rosen"), peers=("nesterov", "adam", "scipy:L-BFGS-B"),
          aliases=("gradient-descent",))
class GradientDescent(Solver):
    r"""Gradient descent, with a fixed step or Armijo backtracking.

    .. math::

        x_{k+1} = x_k - t_k \nabla f(x_k),

    with ``t_k = step_size`` (``linesearch=None``) or, with ``linesearch="armijo"``, the
    first of ``grow·t_{k-1}, shrink·grow·t_{k-1}, ...`` (``step_size`` at ``k = 0``) with
    :math:`f(x_{k+1}) \le f(x_k) - c_1 t_k \|\nabla f(x_k)\|^2`.

    Status codes: 0 (``gtol`` reached), 1, 2 (no step passed the line search within
    ``max_ls`` trials), 3 (also: a NaN objective at a line-search trial), 4, 99.
    """

    def init(self, problem: Problem, x0: NDArray[np.float64]) -> GDState:
        f, g = problem.value_and_grad(x0)
        return GDState(x0, f, g, step_size=self.options.step_size / self.options.grow)

    def step(self, problem: Problem, state: GDState) -> GDState:
        opts = self.options
        g = state.grad
        if opts.linesearch is None:
            x = state.x - opts.step_size * g
            f, g_new = problem.value_and_grad(x)
            return GDState(x, f, g_new, step_size=opts.step_size, ls_trials=1)
        ls = armijo(problem, state.x, state.fun, -state.grad_norm * state.grad_norm, -g,
                    state.step_size * opts.grow, c1=opts.c1, shrink=opts.shrink,
                    max_trials=opts.max_ls)
        if not ls.ok:
            status, message = ((Status.NONFINITE, nan_trial_message("line search")) if ls.nan
                               else (Status.PRECISION_LOSS, None))
            return GDState(state.x, state.fun, g, status=status, message=message,
                           step_size=ls.step, ls_trials=ls.trials)
        return GDState(ls.x, ls.fun, ls.grad, step_size=ls.step, ls_trials=ls.trials)
