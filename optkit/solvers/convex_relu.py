"""``method="convex-relu-admm"`` and ``method="convex-relu-cvxpy"``: convex training of a
two-layer ReLU network on a :class:`~optkit.ReLUTrainingProblem`.

Both solve the convex program (2.5) over sampled activation patterns and return the ReLU
network recovered from its solution. ``x`` is that network, packed as
:meth:`ReLUTrainingProblem.pack <optkit.ReLUTrainingProblem.pack>` does (rows ``[u_j, α_j]``),
and ``fun`` its objective (2.1); the convex objective is the history column
``convex_objective``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, POSITIVE_INT, Interval, OneOf
from optkit.convex_relu._admm_checks import ADMM_CHECKS
from optkit.convex_relu.admm import ADMM
from optkit.convex_relu.model import (
    convex_figures,
    predict_labels,
    recover_weights,
    relu_outputs,
)
from optkit.convex_relu.patterns import robust_patterns, sample_patterns
from optkit.convex_relu.problem import ReLUTrainingProblem
from optkit.registry import register
from optkit.result import Status
from optkit.solvers.base import Options, Solver, State, option

Array = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class PatternOptions(Options):
    """Options shared by the methods that sample activation patterns."""

    n_patterns: int = option(20, "How many distinct activation patterns P to sample (the "
                                 "network has at most 2P neurons).", check=POSITIVE_INT)
    patterns: Any = option(None, "Activation patterns to use instead of sampling: a (n, P) "
                                 "bool array D, or the pair (D, gates) that "
                                 "optkit.convex_relu.sample_patterns returns.")
    seed: int | None = option(0, "Seed of the pattern sampling (and of RBCD's block choice); "
                                 "fixed by default so that runs are reproducible.")


def _patterns(opts: PatternOptions, problem: ReLUTrainingProblem, rng: np.random.Generator,
              eps: float = 0.0, fixed_columns: Any = None
              ) -> tuple[NDArray[np.bool_], Array | None]:
    given = opts.patterns
    if given is None:
        if eps > 0:
            return robust_patterns(problem.X, opts.n_patterns, eps, rng,
                                   fixed_columns=fixed_columns)
        return sample_patterns(problem.X, opts.n_patterns, rng)
    D, gates = given if isinstance(given, tuple) else (given, None)
    D = np.asarray(D)
    if D.ndim != 2 or D.shape[0] != problem.n or D.shape[1] == 0:
        raise ValueError(f"option 'patterns' must be a ({problem.n}, P) bool array, got "
                         f"shape {D.shape}")
    if not np.all((D == 0) | (D == 1)):
        raise ValueError("option 'patterns' must hold only 0/1 (bool) entries")
    return D.astype(bool), None if gates is None else np.asarray(gates, dtype=float)


@dataclass(frozen=True)
class ConvexReLUState(State):
    """The recovered network (``x``, ``fun``) and the convex iterate's figures."""

    convex_objective: float = math.nan
    r_pri: float = math.nan
    r_dual: float = math.nan
    cone_violation: float = math.nan
    test_accuracy: float = math.nan
    inner_steps: int = 0
    #: The run's workspace: ``(D, gates, admm)`` with the ADMM iteration (advanced in
    #: place) for ``convex-relu-admm``, ``(D, gates, V, W)`` for ``convex-relu-cvxpy``.
    work: tuple = field(default=(), repr=False, compare=False)

    def record(self) -> dict:
        return {"convex_objective": self.convex_objective, "r_pri": self.r_pri,
                "r_dual": self.r_dual, "cone_violation": self.cone_violation,
                "test_accuracy": self.test_accuracy, "inner_steps": self.inner_steps}


def _state(problem: ReLUTrainingProblem, D: NDArray[np.bool_], V: Array, W: Array,
           rtol: float = 1e-10, **extra: Any) -> ConvexReLUState:
    """The state of a convex iterate ``(V, W)``: its recovered network (blocks below ``rtol``
    times the largest dropped) and objectives."""
    U, alpha = recover_weights(V, W, rtol)
    x = problem.pack(U, alpha)
    accuracy = math.nan
    if problem.X_test is not None:
        labels = predict_labels(relu_outputs(problem.X_test, U, alpha), problem.loss)
        accuracy = float(np.mean(labels == problem.y_test))
    objective, violation = convex_figures(problem.X, problem.y, D, V, W, problem.beta,
                                          problem.loss)
    return ConvexReLUState(x, problem.objective(x), convex_objective=objective,
                           cone_violation=violation, test_accuracy=accuracy, **extra)


def _result(problem: ReLUTrainingProblem, state: ConvexReLUState, D: NDArray[np.bool_],
            gates: Array | None, V: Array, W: Array) -> dict[str, Any]:
    U, alpha = problem.unpack(state.x)
    return {"x": state.x, "fun": state.fun, "jac": None, "U": U, "alpha": alpha, "V": V,
            "W": W, "D": D, "gates": gates, "convex_objective": state.convex_objective}


@dataclass(frozen=True, kw_only=True)
class ADMMOptions(PatternOptions):
    """Options of ``method="convex-relu-admm"``."""

    rho: float = option(0.1, "ADMM penalty ρ. Tune it relative to beta and the scale of X: "
                             "on standardized data ρ in [β/3, β] converged fastest in our "
                             "runs, ρ >> β can be 10x slower (see the method's docs page).",
                        check=ADMM_CHECKS["rho"])
    dual_step: float = option(1.0, "Dual step η on the scaled duals (1: textbook ADMM; the "
                                   "paper's γ_a is η·ρ).", check=ADMM_CHECKS["dual_step"])
    relaxation: float = option(1.0, "Over-relaxation α in (0, 2) (Boyd et al. 3.4.3): 1 is "
                                    "the paper's ADMM; 1.5-1.8 is often faster.",
                               check=ADMM_CHECKS["relaxation"])
    rho_update: str = option("fixed", "'fixed' (the paper) or 'balance': residual balancing "
                                      "(ρ doubled or halved every 10 iterations when one "
                                      "relative residual is 10x the other; each change "
                                      "refactorizes the dP x dP system).",
                             check=OneOf("fixed", "balance"))
    tol: float = option(1e-4, "Stop when the primal and dual residuals are below tol "
                              "relative to the iterates (Boyd et al., section 3.3).",
                        check=NON_NEGATIVE)
    u_solver: str = option("mm", "Inexact u-step for the bce loss: 'mm' (majorize-minimize "
                                 "steps reusing the factorization; deterministic) or 'rbcd' "
                                 "(randomized block coordinate descent, Algorithm 3.2).",
                           check=ADMM_CHECKS["u_solver"])
    u_steps: int = option(3, "Majorize-minimize steps per iteration (u_solver='mm').",
                          check=ADMM_CHECKS["u_steps"])
    rbcd: Any = option(None, "RBCD settings, a dict with any of block (1), step0 (2e-4), "
                             "thresh (1.3e-3), decay (0.96), max_steps (1000).",
                       check=(dict, None))
    device: str = option("auto", "Torch backend: 'auto', 'cpu' or 'cuda'.")
    dtype: str = option("float64", "Torch backend: 'float64' or 'float32'.",
                        check=OneOf("float64", "float32"))
    u_system: str = option("auto", "How the dP x dP part of the u-step is solved: "
                                   "'cholesky', 'cg' (Jacobi-preconditioned, torch only) or "
                                   "'auto' (CG when dP > max_factor on torch).",
                           check=ADMM_CHECKS["u_system"])
    max_factor: int = option(10_000, "The dP above which u_system='auto' uses CG.",
                             check=ADMM_CHECKS["max_factor"])


@register("convex-relu-admm", options=ADMMOptions, accepts=(ReLUTrainingProblem,), needs=(),
          uses=(), tol=("tol",), backends=("numpy", "torch"), flagship=("relu-synthetic",),
          peers=(), tour_runs={
              "ADMM (ρ = 0.1)": ("convex-relu-admm", {"maxiter": 6000}),
              "ADMM, over-relaxed (α = 1.6)": ("convex-relu-admm",
                                               {"maxiter": 6000, "relaxation": 1.6}),
              "cvxpy (CLARABEL)": ("convex-relu-cvxpy", {})},
          tour_reference="cvxpy (CLARABEL)",
          tour_caption="f - f* against iterations, f* the interior-point solution of the "
                       "same convex program by cvxpy: ADMM reaches its tolerance in a few "
                       "thousand iterations, over-relaxation (α = 1.6) about a third sooner.")
class ConvexReLUADMM(Solver):
    r"""ADMM on the convex program of a two-layer ReLU network (Bai, Gautam, Sojoudi 2023).

    Algorithms 2.1, 3.1 and 3.2 of the paper.

    Samples ``n_patterns`` activation patterns, factorizes the u-step's matrix once, and
    iterates the u-step (a linear solve: exact for the squared loss, ``u_solver`` for bce), the
    group soft-threshold, the projection of the slacks, and the dual step; each iteration costs
    ``O(n d P + (d P)²)``. Every iteration recovers the ReLU network of the v-iterate
    (:func:`~optkit.convex_relu.recover_weights`): ``x``/``fun`` are that network and its
    objective (2.1); the history adds ``convex_objective`` (the objective of (2.5) at the
    v-iterate), ``r_pri``, ``r_dual``, ``cone_violation`` (a large gap between ``fun`` and
    ``convex_objective`` means the cone constraints do not hold yet: raise ``rho``),
    ``test_accuracy`` (``NaN`` without test data) and ``inner_steps``. With
    ``backend="torch"`` the same iteration runs on torch tensors (``device``, ``dtype``).
    The result is the last iterate with its residuals, not the best one seen: ADMM does not
    decrease ``fun`` monotonically, and a run stopped after a few iterations can end above
    the empty network it starts from.

    Status codes: 0 (``tol``), 1, 4, 99.

    References
    ----------
    Y. Bai, T. Gautam and S. Sojoudi, "Efficient global optimization of two-layer ReLU
    networks: quadratic-time algorithms and adversarial training", SIAM J. Math. Data Sci. 5
    (2023); arXiv:2201.01965.
    """

    may_return_best = False  # the result is the convex program's solution, read from the run

    def init(self, problem: ReLUTrainingProblem, x0: Any) -> ConvexReLUState:
        opts = self.options
        rng = self.generator()
        D, gates = _patterns(opts, problem, rng)
        admm = ADMM(problem.X, problem.y, D, problem.beta, opts.rho,
                    dual_step=opts.dual_step, loss=problem.loss, u_solver=opts.u_solver,
                    u_steps=opts.u_steps, rbcd=opts.rbcd, rng=rng,
                    backend=self.backend, device=opts.device, dtype=opts.dtype,
                    u_system=opts.u_system, max_factor=opts.max_factor,
                    relaxation=opts.relaxation, balance=opts.rho_update == "balance")
        return self._state(problem, (D, gates, admm))

    @staticmethod
    def _state(problem: ReLUTrainingProblem, work: tuple) -> ConvexReLUState:
        D, _, admm = work
        V, W = admm.weights()
        return _state(problem, D, V, W, r_pri=admm.r_pri, r_dual=admm.r_dual,
                      inner_steps=admm.inner_steps, work=work)

    def step(self, problem: ReLUTrainingProblem, state: ConvexReLUState) -> ConvexReLUState:
        state.work[2].step()
        return self._state(problem, state.work)

    def terminate(self, problem: ReLUTrainingProblem, state: ConvexReLUState
                  ) -> tuple[bool, Status]:
        return state.work[2].converged(self.options.tol), Status.SUCCESS

    def postprocess(self, problem: ReLUTrainingProblem, state: ConvexReLUState,
                    status: Status) -> dict[str, Any]:
        D, gates, admm = state.work
        V, W = admm.weights()
        return {**_result(problem, state, D, gates, V, W), "rho": admm.rho}


@dataclass(frozen=True, kw_only=True)
class CvxpyOptions(PatternOptions):
    """Options of ``method="convex-relu-cvxpy"``."""

    eps: float = option(0.0, "Radius of the l-infinity attack to train against (0: the "
                             "standard program; > 0: the robust program of section 5, with "
                             "robust pattern sampling, Algorithm 5.1).",
                        check=Interval(0, math.inf, closed="left"))
    fixed_columns: Any = option(None, "Columns of X an attacker cannot change (a bias's "
                                      "ones column): not perturbed, not in the l1 norms.")
    solver: str = option("CLARABEL", "The cvxpy solver (CLARABEL, ECOS, SCS, ...).")
    solver_options: Any = option(None, "A dict of keyword arguments for cvxpy's "
                                       "Problem.solve.", check=(dict, None))


@register("convex-relu-cvxpy", options=CvxpyOptions, accepts=(ReLUTrainingProblem,),
          needs=(), uses=(), tol=(), flagship=(), peers=())
class ConvexReLUCvxpy(Solver):
    r"""The convex program of a two-layer ReLU network, or its robust version, by cvxpy.

    Program (2.5), or with ``eps > 0`` its adversarially robust version, solved by
    :func:`optkit.convex_relu.solve_cvxpy`: the reference the other ``convex-relu-*``
    methods are checked against, and the only one for the hinge loss and for adversarial
    training.

    One iteration: sample the patterns, solve, recover the network (blocks smaller than
    ``1e-6`` times the largest are dropped: interior-point solutions carry ~1e-9 noise in
    every block). ``x``/``fun`` are the
    network and its objective (2.1) (for ``eps > 0`` the objective on the clean data); the
    history has the same columns as ``convex-relu-admm``'s.

    Status codes: 0, 1 (``maxiter=0``), 99.
    """

    may_return_best = False  # the result is the convex program's solution, read from the run

    def solve(self, problem: ReLUTrainingProblem, x0: Any, driver: Any
              ) -> tuple[State, Status | None]:
        from optkit.convex_relu.cvx import solve_cvxpy

        opts = self.options
        D, gates = _patterns(opts, problem, self.generator(), opts.eps, opts.fixed_columns)
        P, d = D.shape[1], problem.d
        zero = np.zeros((P, d))
        start = _state(problem, D, zero, zero, work=(D, gates, zero, zero))
        driver.record(start)
        if opts.maxiter == 0:
            return start, Status.MAXITER
        V, W, _ = solve_cvxpy(problem.X, problem.y, D, problem.beta, problem.loss,
                              eps=opts.eps, fixed_columns=opts.fixed_columns,
                              solver=opts.solver, **(opts.solver_options or {}))
        state = _state(problem, D, V, W, rtol=1e-6,  # interior-point noise is ~1e-9
                       work=(D, gates, V, W))
        if state.fun > start.fun:  # the optimum is the empty network, up to cvxpy's tolerance
            state = start
        stop = driver.observe(state)
        if stop is Status.NONFINITE:
            return start, stop
        return state, Status.SUCCESS if stop is None or stop is Status.MAXITER else stop

    def postprocess(self, problem: ReLUTrainingProblem, state: ConvexReLUState,
                    status: Status) -> dict[str, Any]:
        D, gates, V, W = state.work
        return _result(problem, state, D, gates, V, W)
