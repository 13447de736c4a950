"""Polyak's heavy-ball method: gradient descent with momentum."""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optkit.problem import Problem
from optkit.registry import register
from optkit.solvers.base import NON_NEGATIVE, POSITIVE, Interval, Options, Solver, State, option


@dataclass(frozen=True, kw_only=True)
class HeavyBallOptions(Options):
    """Options of ``method="heavy-ball"``."""

    maxiter: int = option(10_000, "Maximum number of iterations.")
    gtol: float = option(1e-5, "Stop when the gradient's max-norm is at most gtol.",
                         check=NON_NEGATIVE)
    step_size: float = option(1e-2, "The step alpha.", check=POSITIVE)
    momentum: float = option(0.9, "The momentum beta.",
                             check=Interval(0, 1, closed="left"))


@dataclass(frozen=True)
class HeavyBallState(State):
    """The iterate with its value and gradient (from State), and the previous iterate."""

    x_prev: NDArray[np.float64] | None = None

    def record(self) -> dict:  # the history column: the length of the last step
        return {"step_norm": float(np.linalg.norm(self.x - self.x_prev))}


@register("heavy-ball", options=HeavyBallOptions, needs=("grad",), tol=("gtol",),
          flagship=("quadratic",), peers=("gd", "nesterov"), aliases=("polyak",))
class HeavyBall(Solver):
    r"""Polyak's heavy-ball method (gradient descent with momentum).

    :math:`x_{k+1} = x_k - \alpha \nabla f(x_k) + \beta (x_k - x_{k-1})` with
    :math:`\alpha` = ``step_size`` and :math:`\beta` = ``momentum``.

    Status codes: 0 (``gtol`` reached), 1, 3, 4, 99.

    References
    ----------
    B. T. Polyak, USSR Comput. Math. Math. Phys. 4(5), 1-17, 1964.
    """

    def init(self, problem: Problem, x0: NDArray[np.float64]) -> HeavyBallState:
        f, g = problem.value_and_grad(x0)
        return HeavyBallState(x0, f, g, x_prev=x0)

    def step(self, problem: Problem, state: HeavyBallState) -> HeavyBallState:
        opts = self.options
        x = state.x - opts.step_size * state.grad + opts.momentum * (state.x - state.x_prev)
        f, g = problem.value_and_grad(x)
        return HeavyBallState(x, f, g, x_prev=state.x)
