"""``method="convex-relu-scp"``: a two-layer ReLU network by the sampled convex program.

Random unit hidden weights are fixed and only the output layer is trained, by the ℓ1-penalized
program (4.2) of Bai, Gautam and Sojoudi (:mod:`optkit.convex_relu.scp`). Like the other
``convex-relu-*`` methods, ``x`` is the trained network packed as
:meth:`ReLUTrainingProblem.pack <optkit.ReLUTrainingProblem.pack>` does (rows ``[u_j, α_j]``)
and ``fun`` its objective (2.1). The network is the *balanced* one of
:func:`~optkit.convex_relu.scp.scp_network`, whose objective (2.1) equals the objective of
(4.2): the two coincide up to rounding, and the history's ``fun`` and ``convex_objective``
columns are (4.2)'s value, which costs nothing extra per iteration.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, POSITIVE_INT, Bool, Interval
from optkit.convex_relu.model import predict_labels
from optkit.convex_relu.problem import ReLUTrainingProblem
from optkit.convex_relu.scp import (
    FistaStep,
    _check_loss,
    _hoeffding,
    iterative_sampling,
    lasso_fista,
    relu_features,
    sample_hidden,
    scp_network,
)
from optkit.registry import register
from optkit.result import Status
from optkit.solvers.base import Options, Solver, State, option

__all__ = ["ConvexReLUSCP", "SCPOptions", "SCPState"]

Array = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class SCPOptions(Options):
    """Options of ``method="convex-relu-scp"``."""

    maxiter: int = option(10_000, "Maximum number of FISTA iterations, over all sampling "
                                  "rounds.")
    seed: int | None = option(0, "Seed of the sampling of hidden weights; fixed by default so "
                                 "that runs are reproducible.")
    n_hidden: int = option(100, "How many random unit hidden weights N to sample (with "
                                "iterative=True: the first round's).", check=POSITIVE_INT)
    tol: float = option(1e-8, "Stop FISTA when the duality gap, an upper bound on the "
                              "distance to the optimum of (4.2), is at most tol times the "
                              "objective, or when the objective reaches its rounding floor "
                              "(which usually comes first for tol < 1e-6: the gap bound is "
                              "pessimistic; res.gap reports it).", check=NON_NEGATIVE)
    iterative: bool = option(False, "Grow the set of hidden weights by iterative sampling "
                                    "(Algorithm 4.1) until a Hoeffding test says a fresh "
                                    "neuron improves the fit with probability at most psi.",
                             check=Bool())
    n_new: int | None = option(None, "Fresh hidden weights N_t drawn per round of iterative "
                                     "sampling. None: the smallest N_t whose Hoeffding term "
                                     "sqrt(log(1/xi)/(2 N_t)) is at most psi/2 (461 for "
                                     "psi = xi = 0.1); it must be below psi.",
                               check=(POSITIVE_INT, None))
    psi: float = option(0.1, "Iterative sampling: the target probability that a fresh "
                             "neuron would still improve the fit, in (0, 1).",
                        check=Interval(0, 1, closed="neither"))
    xi: float = option(0.1, "Iterative sampling: the confidence level of the test (it holds "
                            "with probability at least 1 - xi), in (0, 1).",
                       check=Interval(0, 1, closed="neither"))
    max_hidden: int | None = option(None, "Iterative sampling: the cap on hidden weights. "
                                          "None: the scenario bound (n + 1)/(psi xi) - 1 of "
                                          "Theorem 4.1 (the features take n times that many "
                                          "floats).", check=(POSITIVE_INT, None))

    def __post_init__(self) -> None:
        super().__post_init__()
        # constraints between fields: the cap is at least the first round's n_hidden, and
        # n_new must let the Hoeffding test pass for the given psi and xi
        if self.max_hidden is not None:
            Interval(self.n_hidden, None, integer=True).validate(self.max_hidden,
                                                                 "option 'max_hidden'")
        if self.iterative and self.n_new is not None and \
                _hoeffding(self.n_new, self.xi) >= self.psi:
            raise ValueError(
                f"option 'n_new'={self.n_new} is too small for the stopping test to ever pass "
                f"with psi={self.psi}, xi={self.xi}: it needs n_new > "
                f"{math.log(1 / self.xi) / (2 * self.psi ** 2):.1f}")


@dataclass(frozen=True)
class SCPState(State):
    """The balanced network (``x``) of a FISTA iterate and its figures."""

    convex_objective: float = math.nan
    gap: float = math.nan
    width: int = 0
    n_hidden: int = 0
    restarts: int = 0
    step_size: float = math.nan
    test_accuracy: float = math.nan
    #: The run's sampled hidden weights, output weights of the convex program and sampling
    #: rounds, set on the final state.
    hidden: Array | None = field(default=None, repr=False, compare=False)
    coef: Array | None = field(default=None, repr=False, compare=False)
    rounds: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def record(self) -> dict:
        return {"convex_objective": self.convex_objective, "gap": self.gap,
                "width": self.width, "n_hidden": self.n_hidden, "restarts": self.restarts,
                "step_size": self.step_size, "test_accuracy": self.test_accuracy}


class _Monitor:
    """Turns FISTA steps into driver iterations (the start is record 0; a later round's
    warm start is no iteration) and remembers the last accepted one."""

    def __init__(self, problem: ReLUTrainingProblem, driver: Any, maxiter: int | None) -> None:
        self.problem, self.driver, self.maxiter = problem, driver, maxiter
        self.started = False
        self.stop: Status | None = None
        self.state: SCPState | None = None
        self.step: FistaStep | None = None
        self.hidden: Array | None = None
        self._test: tuple[int, Array] | None = None

    def _accuracy(self, hidden: Array, coef: Array) -> float:
        p = self.problem
        if p.X_test is None:
            return math.nan
        if self._test is None or self._test[0] != len(hidden):  # the set only grows
            self._test = (len(hidden), relu_features(p.X_test, hidden))
        labels = predict_labels(self._test[1] @ coef, p.loss)
        return float(np.mean(labels == p.y_test))

    def __call__(self, step: FistaStep, hidden: Array) -> bool:
        if step.iteration == 0 and self.started:
            return False  # the warm start of a new sampling round: no iteration
        U, alpha = scp_network(hidden, step.alpha)
        state = SCPState(self.problem.pack(U, alpha), step.objective,
                         convex_objective=step.objective, gap=step.rel_gap,
                         width=len(alpha), n_hidden=len(hidden), restarts=step.restarts,
                         step_size=step.step_size,
                         test_accuracy=self._accuracy(hidden, step.alpha))
        if not self.started:
            self.started = True
            self.driver.record(state)
            self._keep(state, step, hidden)
            if self.maxiter == 0:
                self.stop = Status.MAXITER
                return True
            return False
        status = self.driver.observe(state)
        if status is not Status.NONFINITE:
            self._keep(state, step, hidden)
        if status is not None:
            self.stop = status
            return True
        return False

    def _keep(self, state: SCPState, step: FistaStep, hidden: Array) -> None:
        self.state, self.step, self.hidden = state, step, hidden


@register("convex-relu-scp", options=SCPOptions, accepts=(ReLUTrainingProblem,), needs=(),
          uses=(), tol=("tol",), flagship=(), peers=())
class ConvexReLUSCP(Solver):
    r"""Sampled convex program: a fixed random hidden layer, the ℓ1-penalized output layer by FISTA.

    Bai, Gautam and Sojoudi, SIMODS 2023, section 4.

    Samples ``n_hidden`` hidden weights ``u_i`` uniformly on the unit sphere, forms
    ``H = [(X u_1)_+ … (X u_N)_+]`` and solves

    .. math::

        \min_\alpha\ \ell(H\alpha, y) + \beta\lVert\alpha\rVert_1

    by FISTA with adaptive backtracking and function-value restart
    (:func:`~optkit.convex_relu.scp.lasso_fista`); an iteration is a FISTA iteration. It
    stops when the duality gap is at most ``tol`` times the objective, or when the objective
    stops decreasing at its rounding floor (then the message says so and ``res.gap`` is the
    certified bound, which lags far behind the actual error). With
    ``iterative=True`` it then adds fresh hidden weights that violate the dual constraint and
    re-solves (Algorithm 4.1, :func:`~optkit.convex_relu.scp.iterative_sampling`) until
    the violation rate passes a Hoeffding test at level ``psi`` with confidence ``1 - xi``.

    For the ``squared`` and ``bce`` losses; the hinge loss is not smooth (use
    ``"convex-relu-cvxpy"``). The run starts from ``α = 0`` (the empty network,
    ``problem.x0``).

    Result fields besides SciPy's: ``U`` and ``alpha``, the trained network
    (``relu_outputs(X, U, alpha)`` are its predictions; the balanced form of the neurons
    with nonzero output weight), ``hidden`` (all sampled unit hidden weights, ``(N, d)``),
    ``coef`` (the solution of (4.2) on them, ``(N,)``, so ``H @ coef`` are the same
    predictions), ``convex_objective`` (the objective of (4.2)), ``gap`` (its final relative
    duality gap) and ``rounds`` (with ``iterative=True``: one record per sampling round, see
    :func:`~optkit.convex_relu.scp.iterative_sampling`; else ``None``). History columns:
    ``convex_objective``, ``gap``, ``width`` (neurons in use), ``n_hidden``, ``restarts``,
    ``step_size``, ``test_accuracy`` (``NaN`` without test data).

    Status codes: 0 (``tol`` or the rounding floor reached; with ``iterative=True``, the
    sampling test passed or the scenario bound was reached), 1 (``maxiter``, or
    ``max_hidden`` reached before the sampling test passed), 4, 99.

    References
    ----------
    Y. Bai, T. Gautam and S. Sojoudi, "Efficient global optimization of two-layer ReLU
    networks: quadratic-time algorithms and adversarial training", SIAM J. Math. Data Sci. 5
    (2023); arXiv:2201.01965.

    Examples
    --------
    >>> import numpy as np
    >>> import optkit
    >>> from optkit.convex_relu import relu_outputs
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.standard_normal((60, 2)), np.ones(60)])
    >>> y = np.sign(X[:, 0] * X[:, 1])
    >>> problem = optkit.ReLUTrainingProblem(X, y, beta=0.1)
    >>> res = optkit.minimize(problem, method="convex-relu-scp", options={"n_hidden": 50})
    >>> bool(res.success), bool(len(res.alpha) == res.history["width"][-1] <= 50)
    (True, True)
    >>> bool(np.allclose(relu_outputs(X, res.U, res.alpha), relu_outputs(X, res.hidden,
    ...                                                                    res.coef)))
    True
    >>> bool(np.isclose(res.fun, res.convex_objective))
    True
    """

    may_return_best = False  # the result is the convex program's solution, read from the run

    def solve(self, problem: ReLUTrainingProblem, x0: Any, driver: Any
              ) -> tuple[State, Status | None]:
        opts = self.options
        loss = _check_loss(problem.loss)
        X, y, beta = problem.X, problem.y, problem.beta
        if x0 is not None and np.size(x0) > 0:
            raise ValueError("convex-relu-scp samples its own hidden layer and cannot start "
                             "from a given network: leave x0 empty")
        monitor = _Monitor(problem, driver, opts.maxiter)
        maxiter = sys.maxsize if opts.maxiter is None else opts.maxiter
        rng = self.generator()
        rounds: list[dict[str, Any]] | None = None
        if opts.iterative:
            _, _, rounds = iterative_sampling(
                X, y, beta, loss, opts.n_hidden, opts.n_new, opts.psi, opts.xi, rng,
                opts.max_hidden, tol=opts.tol, maxiter=maxiter, callback=monitor)
        else:
            hidden = sample_hidden(problem.d, opts.n_hidden, rng)
            lasso_fista(relu_features(X, hidden), y, beta, loss, tol=opts.tol,
                        maxiter=maxiter, callback=lambda step: monitor(step, hidden))
        state, step = monitor.state, monitor.step
        assert state is not None and step is not None  # the start is always reported
        state = dataclasses.replace(state, hidden=monitor.hidden, coef=step.alpha,
                                    rounds=rounds)
        converged = step.gap <= opts.tol * abs(step.objective)
        stop = monitor.stop
        if stop is not None:
            if stop in (Status.MAXITER, Status.MAXTIME) and converged and not opts.iterative:
                return state, Status.SUCCESS
            return state, stop
        if not opts.iterative:
            if not converged:
                state = dataclasses.replace(state, message=(
                    f"FISTA reached the rounding floor of the objective; the duality gap "
                    f"bounds its relative error by {state.gap:.1e}."))
            return state, Status.SUCCESS
        assert rounds is not None
        if rounds[-1]["stop"] == "max_total":
            state = dataclasses.replace(state, message=(
                f"Iterative sampling reached max_hidden={opts.max_hidden} hidden weights "
                f"before its stopping test passed."))
            return state, Status.MAXITER
        return state, Status.SUCCESS

    def postprocess(self, problem: ReLUTrainingProblem, state: SCPState,
                    status: Status) -> dict[str, Any]:
        U, alpha = problem.unpack(state.x)
        return {"x": state.x, "fun": problem.objective(state.x), "jac": None, "U": U,
                "alpha": alpha, "hidden": state.hidden, "coef": state.coef,
                "convex_objective": state.convex_objective, "gap": state.gap,
                "rounds": state.rounds}

