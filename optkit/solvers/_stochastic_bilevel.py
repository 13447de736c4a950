"""What the stochastic bilevel methods share (BO-REP and its baselines, in ``bo_rep.py`` and
``stocbio.py``): their state, made at each iterate, and the end of a diverging run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit.bilevel.stochastic import Oracles
from optkit.problem import BilevelProblem
from optkit.result import Status
from optkit.solvers.base import State

__all__ = ["StochasticState", "stochastic_state", "diverged"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class StochasticState(State):
    """``x`` with ``fun = F(x, y)`` (the full upper loss), the lower iterate ``y``, the
    linear-system variable ``z`` (single-loop methods), the step direction ``m`` (the
    momentum, or the hypergradient estimate) and the iteration counter ``t``."""

    y: Array | None = None
    z: Array | None = None
    m: Array | None = None
    t: int = 0
    direction_norm: float = math.nan
    phi_grad_norm: float = math.nan
    #: The run's oracle source (it owns the run's random generator).
    oracles: Oracles | None = dataclasses.field(default=None, repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        return {"upper_loss": self.fun, "direction_norm": self.direction_norm,
                "phi_grad_norm": self.phi_grad_norm}


def stochastic_state(problem: BilevelProblem, x: Array, **fields: Any) -> StochasticState:
    """The state at ``x``: the full upper loss at ``(x, y)`` and, when the problem's ``info``
    has ``"phi_grad"`` (a closed form of ``∇Φ``), its norm for the history."""
    phi_grad = problem.info.get("phi_grad")
    return StochasticState(
        x, float(problem.upper_fun(x, fields["y"])),
        phi_grad_norm=(float(np.linalg.norm(phi_grad(x))) if phi_grad is not None
                       else math.nan), **fields)


def diverged(state: StochasticState) -> StochasticState:
    """The run's end at ``state`` when the next iterate (or the upper loss there) is not
    finite: status 3, the last finite iterate kept."""
    return dataclasses.replace(state, status=Status.NONFINITE, message=(
        f"the iterates diverged after iteration {state.t} (a non-finite iterate or upper "
        f"loss): the step size is too large for this problem"))
