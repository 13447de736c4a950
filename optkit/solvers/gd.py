"""Gradient descent with a fixed step or Armijo backtracking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Interval, OneOf
from optkit.linesearch import backtracking
from optkit.problem import Problem
from optkit.registry import register
from optkit.result import Status, nan_trial_message
from optkit.solvers.base import Options, Solver, State, option


@dataclass(frozen=True, kw_only=True)
class GDOptions(Options):
    """Options of ``method="gd"``."""

    maxiter: int = option(10_000, "Maximum number of iterations.")
    gtol: float = option(1e-5, "Stop when the gradient's max-norm is at most gtol.",
                         check=NON_NEGATIVE)
    step_size: float = option(
        1.0, "The fixed step (linesearch=None), or the first trial step of the line search.",
        check=POSITIVE
    )
    linesearch: str | None = option(
        "armijo", "'armijo' for backtracking until sufficient decrease, None for a fixed step.",
        check=(OneOf("armijo"), None)
    )
    c1: float = option(1e-4, "Sufficient-decrease constant of the Armijo test.",
                       check=Interval(0, 1, closed="right"))
    shrink: float = option(0.5, "Factor applied to the trial step after each failed test.",
                           check=Interval(0, 1, closed="right"))
    grow: float = option(
        2.0, "Each iteration's first trial step is the last accepted step times grow "
             "(1.0: the same step again).", check=Interval(1, None)
    )
    max_ls: int = option(60, "Maximum number of trials per line search.",
                         check=POSITIVE_INT)


@dataclass(frozen=True)
class GDState(State):
    """Gradient descent state: the last accepted step and the line-search trials it took."""

    step_size: float = np.nan
    ls_trials: int = 0

    def record(self) -> dict:
        return {"step_size": self.step_size, "ls_trials": self.ls_trials}


@register("gd", options=GDOptions, needs=("grad",), tol=("gtol",),
          flagship=("quadratic", "rosen"), peers=("nesterov", "adam", "scipy:L-BFGS-B"),
          tour_runs={"gd": ("gd", {"maxiter": 20_000}), "nesterov": ("nesterov", {}),
                     "adam": ("adam", {}), "scipy:L-BFGS-B": ("scipy:L-BFGS-B", {})},
          tour_caption="f - f* against iterations: Armijo steps converge linearly on the "
                       "quadratic (condition number 1000) and crawl along Rosenbrock's valley "
                       "(about 12,000 iterations); Nesterov and L-BFGS-B need 10 to 340 times "
                       "fewer; Adam at its default step oscillates or creeps until its "
                       "iteration limit.",
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
        value, last_grad = _trial_values(problem)
        ls = backtracking(value, state.x, state.fun, -g, -state.grad_norm * state.grad_norm,
                          step=state.step_size * opts.grow, c1=opts.c1, shrink=opts.shrink,
                          max_trials=opts.max_ls)
        if not ls.ok:
            status, message = ((Status.NONFINITE, nan_trial_message("line search")) if ls.nan
                               else (Status.PRECISION_LOSS, None))
            return GDState(state.x, state.fun, g, status=status, message=message,
                           step_size=ls.step, ls_trials=ls.trials)
        g_new = last_grad[0] if last_grad else problem.gradient(ls.x)
        return GDState(ls.x, ls.fun, g_new, step_size=ls.step, ls_trials=ls.trials)


def _trial_values(problem: Problem) -> tuple[Callable[[NDArray[np.float64]], float], list]:
    """The line search's ``value``, and a list that holds the gradient of the last trial when
    the problem computes it with the value (``fun_and_grad``): the accepted point's gradient
    then costs nothing more."""
    if problem.fun is not None or problem.fun_and_grad is None:
        return problem.value, []
    last: list = [None]

    def value(y: NDArray[np.float64]) -> float:
        f, last[0] = problem.value_and_grad(y)
        return f
    return value, last
