"""What the stochastic bilevel methods share (BO-REP and its baselines, in ``bo_rep.py`` and
``stocbio.py``): the start on either backend, their state, made at each iterate, the end of a
diverging run, and the result's arrays.

With ``backend="torch"`` the iterates are tensors on the problem's device (a problem from
``BilevelProblem.from_torch(..., tensors=True)``) from start to end; only the result and a
closed-form ``∇Φ`` for the history see NumPy copies.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, POSITIVE, POSITIVE_INT, OneOf
from optkit.bilevel.stochastic import Oracles, all_finite
from optkit.problem import BilevelProblem
from optkit.result import Status
from optkit.solvers.base import Options, State, option

__all__ = ["StochasticOptions", "StochasticState", "start", "step_size", "upper_batch",
           "stochastic_state", "conclude", "diverged", "result", "host"]

Array = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class StochasticOptions(Options):
    """The options every stochastic bilevel method takes."""

    maxiter: int = option(1000, "Outer iterations.")
    eta: float = option(1e-2, "Upper step size η.", check=POSITIVE)
    eta_schedule: str = option("constant", "η_t: 'constant' (η) or 'sqrt' (η/sqrt(t+1)).",
                               check=OneOf("constant", "sqrt"))
    alpha: float = option(5e-2, "Lower SGD step size α.", check=POSITIVE)
    batch_size: int | None = option(None, "Mini-batch size of every draw from "
                                          "sample_lower / sample_upper; None: full oracles.",
                                    check=(POSITIVE_INT, None))
    upper_loss: str = option("full", "The history's upper loss: 'full' (F on all the data "
                                     "at each new iterate, one extra pass) or 'batch' (F on "
                                     "the iteration's upper mini-batch, at the iterate the "
                                     "iteration started from: free, as in training logs).",
                             check=OneOf("full", "batch"))
    gtol: float = option(0.0, "Stop when the step direction's norm (the momentum's or the "
                              "hypergradient estimate's) is at most gtol.", check=NON_NEGATIVE)


@dataclass(frozen=True)
class StochasticState(State):
    """``x`` with ``fun = F(x, y)`` (the full upper loss), the lower iterate ``y``, the
    linear-system variable ``z`` (single-loop methods), the step direction ``m`` (the
    momentum, or the hypergradient estimate), the lower step direction ``e`` (SUSTAIN's
    recursive momentum) and the iteration counter ``t``."""

    y: Array | None = None
    z: Array | None = None
    m: Array | None = None
    e: Array | None = None
    t: int = 0
    direction_norm: float = math.nan
    phi_grad_norm: float = math.nan
    #: The run's oracle source (it owns the run's random generator).
    oracles: Oracles | None = dataclasses.field(default=None, repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        return {"upper_loss": self.fun, "direction_norm": self.direction_norm,
                "phi_grad_norm": self.phi_grad_norm}


def stochastic_state(problem: BilevelProblem, x: Array, fun: float | None = None,
                     **fields: Any) -> StochasticState:
    """The state at ``x`` with ``fun`` (default: the full upper loss at ``(x, y)``) and, when
    the problem's ``info`` has ``"phi_grad"`` (a closed form of ``∇Φ``), its norm for the
    history."""
    phi_grad = problem.info.get("phi_grad")
    return StochasticState(
        x, float(problem.upper_fun(x, fields["y"])) if fun is None else fun,
        phi_grad_norm=(float(np.linalg.norm(phi_grad(host(x)))) if phi_grad is not None
                       else math.nan), **fields)


def diverged(state: StochasticState) -> StochasticState:
    """The run's end at ``state`` when the next iterate (or the upper loss there) is not
    finite: status 3, the last finite iterate kept."""
    return dataclasses.replace(state, status=Status.NONFINITE, message=(
        f"the iterates diverged after iteration {state.t} (a non-finite iterate or upper "
        f"loss): the step size is too large for this problem"))


def start(solver: Any, problem: BilevelProblem, x0: Array,
          y0: Array) -> tuple[Any, Any, Oracles]:
    """The starting point on the solver's backend (tensors for ``"torch"``), and the run's
    oracle source with its own generator.

    Raises
    ------
    TypeError
        For ``backend="torch"`` on a problem whose oracles take NumPy arrays.
    """
    if solver.backend == "torch":
        tensor = problem.info.get("tensor")
        if tensor is None:
            raise TypeError(f"backend='torch' needs a problem whose oracles take tensors "
                            f"(BilevelProblem.from_torch(..., tensors=True)); "
                            f"{problem.name!r} takes NumPy arrays")
        x0, y0 = tensor(x0), tensor(y0)
    return x0, y0, Oracles(problem, solver.options.batch_size, solver.generator())


def step_size(options: Any, t: int) -> float:
    """The upper step ``η_t`` of iteration ``t``: ``η``, or ``η/sqrt(t+1)``."""
    return options.eta / math.sqrt(t + 1) if options.eta_schedule == "sqrt" else options.eta


def upper_batch(oracles: Oracles, x: Any, y: Any, upper_loss: str) -> tuple[Any, Any, float | None]:
    """``∇_x F`` and ``∇_y F`` on a fresh upper mini-batch, and ``F`` on it when the history
    records the batch's loss (``upper_loss="batch"``; ``None`` otherwise)."""
    upper = oracles.upper()
    gx, gy = upper.upper_grad(x, y)
    return gx, gy, float(upper.upper_fun(x, y)) if upper_loss == "batch" else None


def conclude(state: StochasticState, new: StochasticState, arrays: tuple[Any, ...], gtol: float,
             direction: str) -> StochasticState:
    """The iteration's outcome: the end of a diverging run at ``state`` when ``new``'s upper
    loss or one of ``arrays`` is not finite; ``new`` with status 0 when its step direction's
    norm is at most ``gtol``; ``new`` otherwise."""
    if not (math.isfinite(new.fun) and all(all_finite(a) for a in arrays)):
        return diverged(state)
    if new.direction_norm <= gtol:
        return dataclasses.replace(new, status=Status.SUCCESS, message=(
            f"{direction} {new.direction_norm:.3g} is at most gtol"))
    return new


def result(problem: BilevelProblem, state: StochasticState, upper_loss: str,
           **arrays: Any) -> dict[str, Any]:
    """The result's fields: NumPy copies of ``x``, ``y`` and ``arrays``, and the full upper
    loss as ``fun`` (computed at the end when the history recorded batch losses)."""
    fun = state.fun if upper_loss == "full" else float(problem.upper_fun(state.x, state.y))
    return {"x": host(state.x), "fun": fun, "jac": None, "y": host(state.y),
            **{name: host(value) for name, value in arrays.items()}}


def host(v: Any) -> Any:
    """A NumPy copy of a tensor (on any device); an array or ``None`` as it is."""
    return v.detach().cpu().numpy() if hasattr(v, "detach") else v
