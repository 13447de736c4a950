"""``method="dcdm"``: the deep conjugate direction method on a :class:`~optkit.LinearSystem`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, Interval, IsCallable, OneOf
from optkit.linalg import (
    DCDMIteration,
    active_unknowns,
    default_model,
    ichol0,
    pretrained_dims,
)
from optkit.problem import LinearSystem
from optkit.registry import register
from optkit.result import Status
from optkit.solvers.base import Options, Solver, State, option

Array = NDArray[np.float64]

#: The named values of the ``model`` option.
MODELS = ("pretrained", "identity", "ichol0", "amg")


@dataclass(frozen=True, kw_only=True)
class DCDMOptions(Options):
    """Options of ``method="dcdm"``."""

    maxiter: int = option(100, "Maximum number of iterations (the reference's 100).")
    rtol: float = option(1e-4, "Stop when ‖b - Ax‖ <= max(rtol ‖b‖, atol).",
                         check=NON_NEGATIVE)
    atol: float = option(0.0, "Absolute residual tolerance.", check=NON_NEGATIVE)
    model: Any = option(
        None, "The raw search direction for a unit-norm residual: a callable model(r) (a "
              "trained network, any approximate inverse up to scale), or 'pretrained' (the "
              "network shipped for the dimension of the system's grid_shape), 'identity' "
              "(DCDM is then conjugate gradients), 'ichol0' (IC(0)-PCG) or 'amg' (pyamg smoothed-"
              "aggregation PCG; both need a sparse A). None: 'pretrained' when a network "
              "ships for the dimension of the system's grid_shape, 'identity' otherwise.",
        check=(IsCallable(), None, OneOf(*MODELS))
    )
    n_orth: int = option(2, "How many previous directions each new one is A-orthogonalized "
                            "against.", check=Interval(0, None, integer=True))
    true_residual: bool = option(
        True, "Recompute b - Ax each step (the reference) instead of the recursion.")


def resolve_model(model: Any, problem: LinearSystem) -> tuple[Callable[[Array], Any], str]:
    """The callable for the ``model`` option on ``problem``, and its name for the result."""
    if callable(model):
        return model, getattr(model, "__name__", type(model).__name__)
    grid = problem.grid_shape
    if model is None:
        model = "pretrained" if grid is not None and len(grid) in pretrained_dims() else "identity"
    if model == "identity":
        return default_model(None), model
    if model == "pretrained":
        if grid is None or len(grid) not in pretrained_dims():
            raise ValueError(f"model='pretrained' needs a LinearSystem whose grid_shape has "
                             f"a dimension in {pretrained_dims()}, got {grid}")
        return default_model(grid), model
    if not (sp.issparse(problem.A) or isinstance(problem.A, np.ndarray)):
        raise ValueError(f"model={model!r} needs A as a matrix, not a LinearOperator")
    A = sp.csr_matrix(problem.A)
    active = active_unknowns(A)
    cells = np.arange(A.shape[0]) if active is None else np.flatnonzero(active)
    block = A[cells][:, cells]
    if model == "ichol0":
        inner = ichol0(block).matvec
    else:
        import pyamg

        inner = pyamg.smoothed_aggregation_solver(block.tocsr()).aspreconditioner(cycle="V")
        inner = inner.matvec

    def preconditioner(r: Array) -> Array:
        out = np.zeros_like(r)
        out[cells] = inner(r[cells])
        return out

    return preconditioner, model


@dataclass(frozen=True, eq=False)
class DCDMRun:
    """What one run of ``method="dcdm"`` keeps besides its iterate: the DCDM iteration (its
    ``x``, ``r`` and stored directions, advanced in place by :meth:`DCDM.step`; the states
    hold copies of ``x``), the name of the model and ``‖b‖``."""

    it: DCDMIteration
    model_name: str
    bnorm: float


@dataclass(frozen=True)
class DCDMState(State):
    """The iterate, with ``grad = Ax - b`` (so ``grad_norm`` is the residual norm)."""

    relative_residual: float = math.nan
    error_A: float = math.nan
    #: The run's workspace, shared by the states of one run (see :class:`DCDMRun`).
    run: DCDMRun | None = field(default=None, repr=False, compare=False)

    def record(self) -> dict:
        return {"relative_residual": self.relative_residual, "error_A": self.error_A}


@register("dcdm", options=DCDMOptions, accepts=(LinearSystem,), needs=(), uses=(),
          tol=("rtol",), flagship=("poisson-2d-obstacles",), peers=(),
          tour_runs={"DCDM (pretrained network)": ("dcdm", {"maxiter": 1000}),
                     "CG": ("dcdm", {"model": "identity", "maxiter": 1000}),
                     "IC(0)-PCG": ("dcdm", {"model": "ichol0", "maxiter": 1000})},
          tour_plot={"y": "relative_residual", "logy": True},
          tour_caption="Relative residual against iterations on a 64 x 64 Poisson problem "
                       "with obstacles: the pretrained network's directions need about 10 "
                       "times fewer iterations than CG and 3 times fewer than IC(0)-PCG (each "
                       "iteration runs the network, so it is slower per iteration).")
class DCDM(Solver):
    r"""The deep conjugate direction method (Kaneda et al., ICML 2023) on ``A x = b``.

    The raw direction ``model(r/‖r‖)`` is A-orthogonalized against the last ``n_orth``
    directions, then :math:`x \leftarrow x + \alpha q` with
    :math:`\alpha = q^\top r / q^\top A q` (see :func:`optkit.linalg.dcdm`). ``fun`` is the
    energy ``½ xᵀAx - bᵀx``; the history adds ``relative_residual`` and, when the system
    knows ``x_true``, ``error_A = ‖x - x*‖_A``, which never increases. The model's output is
    zeroed where ``A``'s diagonal is zero (the solid and air cells of a full-grid Poisson
    matrix). By default a system with a ``grid_shape`` gets the network that ships with optkit
    (:meth:`optkit.torch.DCDMModel.pretrained`); the ``model`` option also gives the baselines
    in the same iteration: ``"identity"`` (CG), ``"ichol0"`` (IC(0)-PCG), ``"amg"`` (pyamg
    PCG). The result's ``model`` names the model used.

    Status codes: 0 (``rtol``), 1, 2 (breakdown: ``qᵀAq <= 0``), 3, 4, 99.

    References
    ----------
    Kaneda, Akar, Chen, Trevino Kala, Hyde and Teran, "A deep conjugate direction method for
    iteratively solving linear systems", ICML 2023; arXiv:2205.10763.
    """

    def init(self, problem: LinearSystem, x0: Array | None) -> DCDMState:
        opts = self.options
        x0 = np.zeros(problem.n) if x0 is None else x0
        model, model_name = resolve_model(opts.model, problem)
        it = DCDMIteration(spla.aslinearoperator(problem.A), problem.b, x0, model,
                           n_orth=opts.n_orth, true_residual=opts.true_residual,
                           mask=active_unknowns(problem.A))
        run = DCDMRun(it, model_name, float(np.linalg.norm(problem.b)))
        return self._state(problem, run)

    def _state(self, problem: LinearSystem, run: DCDMRun) -> DCDMState:
        it = run.it
        x, r = it.x.copy(), it.r
        error = math.nan
        if problem.x_true is not None:
            e = x - problem.x_true
            error = math.sqrt(max(float(e @ (it.A @ e)), 0.0))
        return DCDMState(x, -0.5 * float(x @ (problem.b + r)), -r,
                         relative_residual=it.residual_norm / (run.bnorm or 1.0),
                         error_A=error, run=run)

    def step(self, problem: LinearSystem, state: DCDMState) -> DCDMState:
        run = state.run
        run.it.step()
        if run.it.breakdown:
            return DCDMState(state.x, state.fun, state.grad, status=Status.PRECISION_LOSS,
                             relative_residual=state.relative_residual,
                             error_A=state.error_A, run=run)
        return self._state(problem, run)

    def terminate(self, problem: LinearSystem, state: DCDMState) -> tuple[bool, Status]:
        target = max(self.options.rtol * state.run.bnorm, self.options.atol)
        return state.grad_norm <= target, Status.SUCCESS

    def postprocess(self, problem: LinearSystem, state: DCDMState, status: Status) -> dict:
        return {"x": state.x, "fun": problem.objective(state.x), "jac": state.grad,
                "model": state.run.model_name}
