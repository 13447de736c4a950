"""Gradient-normalized smoothness (Semenov, Jaggi and Doikov, 2025) and its companions.

``gns-newton`` is the gradient-regularized Newton method with an adaptive search on the
radius ``γ`` (Algorithm 1 of the paper, as in the authors' code); ``gns-gradient`` is the same
search without curvature. The companions of the paper's comparisons are here too, on the same
metric ``B`` and the same Hessian approximations: the super-universal Newton method, cubic
Newton, and the gradient and fast gradient methods with a backtracking search on ``L``.

Every method takes ``metric`` (``B``: ``None`` for the identity, an SPD matrix, or
``"problem"`` for ``problem.info["metric"]``), and stops when ``‖∇f‖_* <= gtol`` in the dual
norm of ``B``. The second-order ones take ``hess_approx``: ``"exact"``, the name of one of the
problem's ``hess_approx`` entries, or a callable ``x -> H``; and two optkit extensions,
``"diagonal"`` (the diagonal of the exact Hessian) and ``hess_every`` (recompute the
approximation every k iterations: a stale Hessian).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from optkit._checks import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    InstanceOf,
    IsCallable,
    Matrix,
    OneOf,
)
from optkit.linalg import Metric, fd_hessian_operator, solve_shifted
from optkit.problem import Problem
from optkit.registry import register
from optkit.result import Status, nan_trial_message
from optkit.solvers.base import Options, Solver, State, option
from optkit.stopping import at_most, at_precision_floor, floor_message

Array = NDArray[np.float64]

def _stalled(exhausted: bool, f_old: float, f_new: float) -> Status | None:
    """PRECISION_LOSS when the search ran out and f no longer changes beyond rounding: no
    trial could be verified by its function value (an inconsistent gradient, say)."""
    if exhausted and at_precision_floor(f_old, f_new, 0.0):
        return Status.PRECISION_LOSS
    return None


def _end(solver: MetricSolver, state: MetricState, x: Array, f: float, g: Array,
         g_dual: float, exhausted: bool) -> tuple[Status | None, str | None]:
    """The status a step to ``(x, f, g)`` ends the run with, and its message: success at the
    precision floor (:func:`optkit.stopping.at_precision_floor`) unless the gradient test
    passes anyway, PRECISION_LOSS when the search ran out with f unchanged, else none."""
    if not exhausted and g_dual > solver.options.gtol and at_precision_floor(
            state.fun, f, float(state.grad @ (state.x - x))):
        return Status.SUCCESS, floor_message(g_dual)
    return _stalled(exhausted, state.fun, f), None


def _nan_trial(state: MetricState, **fields: Any) -> MetricState:
    """The state that ends the run at a NaN trial value or a non-finite trial gradient (the
    iterate does not move)."""
    return type(state)(state.x, state.fun, state.grad, status=Status.NONFINITE,
                       message=nan_trial_message("search"), grad_dual=state.grad_dual,
                       metric=state.metric, **fields)


_PEERS = ("gns-newton", "gns-gradient", "super-newton", "cubic-newton", "gm-backtracking",
          "fast-gradient")


# -- options shared by the family ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MetricOptions(Options):
    """Options every method of this module takes."""

    maxiter: int = option(1000, "Maximum number of iterations.")
    gtol: float = option(1e-8, "Stop when the dual norm of the gradient ‖∇f‖_* is at most gtol.",
                         check=NON_NEGATIVE)
    metric: Any = option(
        None, "The matrix B of the norms: None (identity), an SPD matrix, or 'problem' for "
              "problem.info['metric'].", check=(None, Matrix(), OneOf("problem"))
    )
    max_search: int = option(40, "Maximum number of trials per iteration.",
                             check=POSITIVE_INT)


@dataclass(frozen=True, kw_only=True)
class SecondOrderOptions(MetricOptions):
    """Options of the methods that use a Hessian approximation."""

    hess_approx: Any = option(
        "exact", "'exact', 'diagonal' (optkit extension), the name of one of the problem's "
                 "hess_approx entries, or a callable x -> H (matrix, LowRank, operator).",
        check=(InstanceOf(str, what="a name"), IsCallable())
    )
    hess_every: int = option(
        1, "Recompute the Hessian approximation every hess_every iterations (optkit "
           "extension: a stale Hessian when > 1).", check=POSITIVE_INT
    )
    linear_solver: str = option(
        "auto", "'auto' (Woodbury for LowRank, Cholesky for dense, CG for operators), "
                "'cholesky', 'woodbury' or 'cg' (matrix-free, with Hessian-vector products).",
        check=OneOf("auto", "cholesky", "woodbury", "cg")
    )
    cg_rtol: float = option(1e-10, "Relative tolerance of the CG solves.", check=POSITIVE)


@dataclass(frozen=True)
class MetricState(State):
    """Iterate, the dual norm of its gradient, and the search's bookkeeping."""

    grad_dual: float = math.nan
    ls_trials: int = 0
    rejected: int = 0
    linsolve_iters: int = 0
    search_exhausted: int = 0
    H: Any = None
    H_age: int = 0
    #: The metric ``B`` of the run (the norms, ``B^{-1}``), built once in ``init``.
    metric: Metric | None = field(default=None, repr=False, compare=False)


class MetricSolver(Solver):
    """Plumbing of the family: the metric, the dual-norm test, the Hessian approximation."""

    def init(self, problem: Problem, x0: Array) -> MetricState:
        metric = self.options.metric
        if isinstance(metric, str):
            if "metric" not in problem.info:
                raise TypeError(f"metric='problem' needs problem.info['metric']; "
                                f"{problem.name!r} has none")
            metric = problem.info["metric"]
        metric = Metric(metric)
        self.check_hessian(problem)
        f, g = problem.value_and_grad(x0)
        return type(self).State(x0, f, g, grad_dual=metric.dual_norm(g), metric=metric)

    #: Whether the method needs the Hessian as a matrix (no Hessian-vector products).
    needs_matrix = False

    def check_hessian(self, problem: Problem) -> None:
        """Raise ``TypeError`` before the first iteration when ``hess_approx`` cannot be had
        from the problem. ``"exact"`` without ``hess`` or ``hessp`` falls back to forward
        differences of the gradient (counted in ``njev``) for methods that work from
        Hessian-vector products."""
        approx = getattr(self.options, "hess_approx", None)
        if not isinstance(approx, str) or approx in problem.hess_approx:
            return
        if approx not in ("exact", "diagonal"):
            known = ["exact", "diagonal", *problem.hess_approx]
            raise TypeError(f"unknown hess_approx {approx!r} for problem {problem.name!r}; "
                            f"it has {known}")
        if approx == "diagonal" and getattr(self.options, "linear_solver", "") == "cg":
            raise TypeError("hess_approx='diagonal' is a matrix: it needs a linear_solver "
                            "other than 'cg'")
        if problem.hess is None and (approx == "diagonal" or self.needs_matrix):
            what = "hess_approx='diagonal'" if approx == "diagonal" else self.info.name
            raise TypeError(f"{what} needs the Hessian as a matrix: give hess (hessp or "
                            f"finite differences serve only Hessian-vector products)")

    def terminate(self, problem: Problem, state: MetricState) -> tuple[bool, Status]:
        return state.grad_dual <= self.options.gtol, Status.SUCCESS

    def postprocess(self, problem: Problem, state: MetricState, status: Status) -> dict:
        fields = super().postprocess(problem, state, status)
        fields["nit_search_exhausted"] = state.search_exhausted
        return fields

    # Hessian approximations.

    def hessian(self, problem: Problem, state: MetricState) -> tuple[Any, int]:
        """``H(x)`` (reused while younger than ``hess_every``) and its age."""
        if state.H is not None and state.H_age + 1 < self.options.hess_every:
            return state.H, state.H_age + 1
        return self._evaluate_hessian(problem, state.x, state.grad), 0

    def _evaluate_hessian(self, problem: Problem, x: Array, g: Array) -> Any:
        """The approximation at ``x`` (``g``: the gradient there, for finite differences);
        :meth:`check_hessian` has vetted the choice."""
        approx = self.options.hess_approx
        if callable(approx):
            return approx(x)
        if approx in problem.hess_approx:
            return problem.hess_approx[approx](x)
        if not problem.has_hess:
            return fd_hessian_operator(problem.gradient, x, g)
        if problem.hess is None or (self.options.linear_solver == "cg" and approx == "exact"):
            n = x.shape[0]
            return spla.LinearOperator((n, n), matvec=lambda v: problem.hess_vec(x, v),
                                       dtype=float)
        H = problem.hessian(x)
        H = H.toarray() if hasattr(H, "toarray") else np.asarray(H, dtype=float)
        return np.diag(H).copy() if approx == "diagonal" else H

    def linsolve(self, H: Any, lam: float, g: Array, metric: Metric):
        """``(H + λB) δ = -g`` with the chosen linear solver."""
        return solve_shifted(H, lam, g, metric, method=self.options.linear_solver,
                             rtol=self.options.cg_rtol)


# -- Algorithm 1 and the normalized gradient method ---------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GNSOptions(SecondOrderOptions):
    """Options of ``method="gns-newton"``."""

    gamma0: float = option(1.0, "Initial radius γ₀.", check=POSITIVE)
    gamma_min: float = option(1e-9, "Lower bound of γ after an accepted step.",
                              check=NON_NEGATIVE)
    eps: float = option(1e-8, "Added to γ in λ = ‖g‖_* / (γ + eps).", check=NON_NEGATIVE)
    adaptive_search: bool = option(
        True, "Search on γ (halve on rejection, double on acceptance); False takes every "
              "first trial with a fixed γ."
    )


@dataclass(frozen=True)
class GNSState(MetricState):
    """Adds the radius γ and the regularization λ of the last accepted trial."""

    gamma: float = 1.0
    lam: float = math.nan

    def record(self) -> dict:
        return {"gamma": self.gamma, "lam": self.lam, "ls_trials": self.ls_trials,
                "rejected": self.rejected, "linsolve_iters": self.linsolve_iters}


class _GammaSearch(MetricSolver):
    """The adaptive search on γ shared by gns-newton and gns-gradient."""

    State = GNSState

    def init(self, problem: Problem, x0: Array) -> GNSState:
        state = super().init(problem, x0)
        return GNSState(state.x, state.fun, state.grad, grad_dual=state.grad_dual,
                        gamma=self.options.gamma0, metric=state.metric)

    def curvature(self, problem: Problem, state: GNSState) -> tuple[Any, int]:
        """The matrix ``H_k`` of this iteration and its age."""
        return self.hessian(problem, state)

    def step(self, problem: Problem, state: GNSState) -> GNSState:
        opts = self.options
        H, age = self.curvature(problem, state)
        gamma, g_dual = state.gamma, state.grad_dual
        rejected = linsolves = 0
        trial = None
        accepted = False
        for _ in range(opts.max_search):
            lam = g_dual / (gamma + opts.eps)
            solved = self.linsolve(H, lam, state.grad, state.metric)
            linsolves += solved.iterations
            if solved.delta is None:  # H + λB not positive definite: more regularization
                gamma /= 2.0
                rejected += 1
                continue
            x = state.x + solved.delta
            f, g = problem.value_and_grad(x)
            g_new_dual = state.metric.dual_norm(g)
            if f != f or g_new_dual != g_new_dual:
                return _nan_trial(state, gamma=gamma, search_exhausted=state.search_exhausted)
            trial = (x, f, g, lam)
            if not opts.adaptive_search:
                accepted = True
                break
            required = g_new_dual * (g_new_dual / (8.0 * lam))
            if at_most(f + required, state.fun, f):
                gamma = max(2.0 * gamma, opts.gamma_min)
                accepted = True
                break
            gamma /= 2.0
            rejected += 1
        # after max_search rejections the last trial is taken anyway (and reported)
        exhausted = state.search_exhausted + (not accepted)
        if trial is None:
            return GNSState(state.x, state.fun, state.grad, status=Status.PRECISION_LOSS,
                            grad_dual=g_dual, gamma=gamma, search_exhausted=exhausted,
                            metric=state.metric)
        x, f, g, lam = trial
        g_dual = state.metric.dual_norm(g)
        status, message = _end(self, state, x, f, g, g_dual, not accepted)
        return GNSState(x, f, g, status=status, message=message, grad_dual=g_dual,
                        gamma=gamma, lam=lam, ls_trials=min(rejected + 1, opts.max_search),
                        rejected=rejected, linsolve_iters=linsolves,
                        search_exhausted=exhausted, H=H, H_age=age, metric=state.metric)


@register("gns-newton", options=GNSOptions, needs=("grad",), uses=("jac", "hess", "hessp"),
          tol=("gtol",), flagship=("log-sum-exp",), peers=("gm-backtracking",),
          tour_runs={
              "gns-newton (exact Hessian)": ("gns-newton", {"hess_approx": "exact"}),
              "gns-newton (weighted Gauss-Newton)": ("gns-newton",
                                                     {"hess_approx": "weighted-gauss-newton"}),
              "gradient method, B = AAᵀ": ("gm-backtracking", {"metric": "problem"}),
              "gradient method": ("gm-backtracking", {}),
          },
          tour_plot={"logx": True},
          tour_caption="f - f* against iterations (log scale) on log-sum-exp: gns-newton, with "
                       "the exact Hessian or the weighted Gauss-Newton model, converges in a "
                       "few dozen iterations; the gradient method needs about a hundred in "
                       "the metric B = AAᵀ and stalls near 1e-5 after 10,000 without it.")
class GNSNewton(_GammaSearch):
    r"""Gradient-regularized Newton with an adaptive search on the radius γ (Algorithm 1 of
    Semenov, Jaggi and Doikov, 2025).

    .. math::

        \lambda_k &= \frac{\|\nabla f(x_k)\|_*}{\gamma + \epsilon}, \qquad
        x^+ = x_k - (H_k + \lambda_k B)^{-1} \nabla f(x_k), \\
        &\text{accept if } f(x_k) - f(x^+) \ge \frac{\|\nabla f(x^+)\|_*^2}{8 \lambda_k}
        \;(\gamma \leftarrow \max(2\gamma, \gamma_{\min})),
        \text{ else } \gamma \leftarrow \gamma / 2,

    with ``H_k = hess_approx(x_k)`` computed once per iteration. ``γ`` estimates the radius on
    which the linearization of the gradient is accurate relative to ``‖∇f‖_*`` (the
    gradient-normalized smoothness); with the exact Hessian and ``γ → ∞`` the step is
    Newton's. After ``max_search`` rejections the last trial is taken anyway and counted in
    ``res.nit_search_exhausted``. Where ``H_k + λB`` is not positive definite, ``γ`` is
    halved and the trial repeated. The history adds ``gamma``, ``lam``, ``ls_trials``,
    ``rejected`` and ``linsolve_iters``.

    Status codes: 0 (``‖∇f‖_* <= gtol``), 1, 2 (no trial could be solved, or the search ran
    out while ``f`` no longer changes beyond rounding: ``gtol`` is below what the precision of
    ``f`` allows), 3, 4, 99.

    References
    ----------
    Semenov, Jaggi and Doikov, "Gradient-normalized smoothness for optimization with
    approximate Hessians", arXiv:2506.13710, 2025.
    """


@dataclass(frozen=True, kw_only=True)
class GNSGradientOptions(MetricOptions):
    """Options of ``method="gns-gradient"``."""

    gamma0: float = option(1.0, "Initial radius γ₀.", check=POSITIVE)
    gamma_min: float = option(1e-9, "Lower bound of γ after an accepted step.",
                              check=NON_NEGATIVE)
    eps: float = option(1e-8, "Added to γ in λ = ‖g‖_* / (γ + eps).", check=NON_NEGATIVE)
    adaptive_search: bool = option(True, "Search on γ; False keeps γ fixed.")


@register("gns-gradient", options=GNSGradientOptions, needs=("grad",), tol=("gtol",),
          flagship=(), peers=())
class GNSGradient(_GammaSearch):
    r"""The normalized gradient method with the adaptive search on γ: ``gns-newton`` with
    ``H ≡ 0``, so ``x⁺ = x_k - B^{-1} ∇f(x_k) / λ_k`` with ``λ_k = ‖∇f(x_k)‖_* / (γ + ε)``: a
    step of length about ``γ`` in the norm of ``B``.

    Status codes: 0, 1, 3, 4, 99.
    """

    def curvature(self, problem: Problem, state: GNSState) -> tuple[Any, int]:
        return None, 0

    def linsolve(self, H: Any, lam: float, g: Array, metric: Metric):
        return solve_shifted(None, lam, g, metric)


# -- super-universal Newton and cubic Newton ----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SuperNewtonOptions(SecondOrderOptions):
    """Options of ``method="super-newton"``."""

    alpha: float = option(1.0, "Power of the gradient norm in λ = H ‖g‖_*^alpha.",
                          check=NON_NEGATIVE)
    H0: float = option(1.0, "Initial constant H.", check=POSITIVE)
    H_min: float = option(1e-5, "Lower bound of H.", check=POSITIVE)


@dataclass(frozen=True)
class ConstantState(MetricState):
    """Adds the method's adaptive constant (H of super-universal or cubic Newton, L of the
    gradient methods)."""

    constant: float = 1.0

    def record(self) -> dict:
        return {"constant": self.constant, "ls_trials": self.ls_trials,
                "rejected": self.rejected, "linsolve_iters": self.linsolve_iters}


class _ConstantSearch(MetricSolver):
    """A search that multiplies a constant up on rejection and down on acceptance.

    Subclasses define ``trial(problem, state, H, c) -> (point, solves, accepted)``: the trial
    point ``(x, f, g)`` for the constant ``c`` (``None`` when its linear solve failed), the
    number of linear solves, and whether the method's test accepts it.
    """

    State = ConstantState
    up = 2.0
    down = 2.0
    floor_option = "H_min"
    start_option = "H0"

    def init(self, problem: Problem, x0: Array) -> ConstantState:
        state = super().init(problem, x0)
        return ConstantState(state.x, state.fun, state.grad, grad_dual=state.grad_dual,
                             constant=getattr(self.options, self.start_option), metric=state.metric)

    def curvature(self, problem: Problem, state: ConstantState) -> tuple[Any, int]:
        return self.hessian(problem, state)

    def step(self, problem: Problem, state: ConstantState) -> ConstantState:
        opts = self.options
        H, age = self.curvature(problem, state)
        c = state.constant
        rejected = linsolves = 0
        point = None
        accepted = False
        for _ in range(opts.max_search):
            new_point, solves, accepted = self.trial(problem, state, H, c)
            linsolves += solves
            if new_point is not None:
                if new_point[1] != new_point[1] or not np.all(np.isfinite(new_point[2])):
                    return _nan_trial(state, constant=c,
                                      search_exhausted=state.search_exhausted)
                point = new_point
            if accepted:
                c = max(c / self.down, getattr(opts, self.floor_option))
                break
            c *= self.up
            rejected += 1
        exhausted = state.search_exhausted + (not accepted)
        if point is None:
            return ConstantState(state.x, state.fun, state.grad, status=Status.PRECISION_LOSS,
                                 grad_dual=state.grad_dual, constant=c,
                                 search_exhausted=exhausted, metric=state.metric)
        x, f, g = point
        g_dual = state.metric.dual_norm(g)
        status, message = _end(self, state, x, f, g, g_dual, not accepted)
        return ConstantState(x, f, g, status=status, message=message, grad_dual=g_dual,
                             constant=c, ls_trials=min(rejected + 1, opts.max_search),
                             rejected=rejected, linsolve_iters=linsolves,
                             search_exhausted=exhausted, H=H, H_age=age, metric=state.metric)


@register("super-newton", options=SuperNewtonOptions, needs=("grad",),
          uses=("jac", "hess", "hessp"), tol=("gtol",), flagship=(), peers=())
class SuperNewton(_ConstantSearch):
    r"""The super-universal Newton method (Doikov, Mishchenko and Nesterov, 2024):
    ``x⁺ = x - (H_k + λB)^{-1} ∇f(x)`` with ``λ = H ‖∇f(x)‖_*^α``; accepted when
    :math:`\langle \nabla f(x^+), -\delta\rangle \ge \|\nabla f(x^+)\|_*^2 / (4\lambda)`,
    then ``H ← max(H/4, H_min)``; otherwise ``H ← 4H``.

    Status codes: 0, 1, 2, 3, 4, 99.
    """

    up = 4.0
    down = 4.0

    def trial(self, problem: Problem, state: ConstantState, H: Any, c: float):
        lam = c * float(np.power(state.grad_dual, self.options.alpha))  # inf, not an error
        solved = self.linsolve(H, lam, state.grad, state.metric)
        if solved.delta is None:
            return None, solved.iterations, False
        x = state.x + solved.delta
        f, g = problem.value_and_grad(x)
        g_dual = state.metric.dual_norm(g)
        accepted = float(g @ -solved.delta) >= g_dual * (g_dual / (4.0 * lam))
        return (x, f, g), solved.iterations, accepted


@dataclass(frozen=True, kw_only=True)
class CubicNewtonOptions(MetricOptions):
    """Options of ``method="cubic-newton"``."""

    hess_approx: Any = option(
        "exact", "'exact', the name of one of the problem's hess_approx entries, or a "
                 "callable x -> H (made dense)."
    )
    H0: float = option(1.0, "Initial estimate H of the Hessian's Lipschitz constant.",
                       check=POSITIVE)
    H_min: float = option(1e-5, "Lower bound of H.", check=POSITIVE)
    hess_every: int = option(1, "Recompute H every hess_every iterations.",
                             check=POSITIVE_INT)
    linear_solver: str = option("auto", "Unused: the subproblem is solved by eigenvalues.")


@register("cubic-newton", options=CubicNewtonOptions, needs=("grad",),
          uses=("jac", "hess", "hessp"), tol=("gtol",), flagship=(), peers=())
class CubicNewton(_ConstantSearch):
    r"""Cubic-regularized Newton (Nesterov and Polyak, 2006) with a search on ``H``:

    .. math::

        h = \arg\min_h \langle \nabla f, h\rangle + \tfrac12 \langle H_k h, h\rangle
        + \tfrac{H}{6}\|h\|^3,

    solved through the eigendecomposition of ``H_k`` in the metric ``B`` and a 1-D root of
    ``r = ‖h(r)‖`` (Brent's method); accepted when ``f(x + h)`` is below the model, then
    ``H ← max(H/2, H_min)``, else ``H ← 2H``. The eigendecomposition costs ``O(n³)`` once per
    iteration: for small and medium ``n``.

    Status codes: 0, 1, 2, 3, 4, 99.
    """

    needs_matrix = True

    def curvature(self, problem: Problem, state: ConstantState) -> tuple[Any, int]:
        if state.H is not None and state.H_age + 1 < self.options.hess_every:
            return state.H, state.H_age + 1
        H = self._evaluate_hessian(problem, state.x, state.grad)
        if isinstance(H, spla.LinearOperator):
            raise TypeError("cubic-newton needs the Hessian as a matrix")
        H = H.toarray() if hasattr(H, "toarray") else np.asarray(H, dtype=float)
        H = np.diag(H) if H.ndim == 1 else H
        B = state.metric.B
        lam, V = scipy.linalg.eigh(H) if B is None else scipy.linalg.eigh(H, B)
        return (lam, V), 0

    def trial(self, problem: Problem, state: ConstantState, H: Any, c: float):
        lam, V = H
        coef = V.T @ state.grad
        shift_min = max(0.0, -2.0 * float(lam[0]) / c)

        def gap(r: float) -> float:
            return r - math.sqrt(float(np.sum((coef / (lam + 0.5 * c * r)) ** 2)))

        lo = shift_min * (1.0 + 1e-12) + 1e-300
        hi = max(1.0, 2.0 * shift_min)
        while gap(hi) < 0:
            hi *= 2.0
        if gap(lo) >= 0:
            r = lo
        else:
            r = scipy.optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=1e-12, maxiter=200)
        y = -coef / (lam + 0.5 * c * r)
        h = V @ y
        model = float(coef @ y) + 0.5 * float(lam @ y**2) + c / 6.0 * r * r * r
        x = state.x + h
        f, g = problem.value_and_grad(x)
        accepted = math.isfinite(model) and at_most(f, state.fun + model, state.fun, model)
        return (x, f, g), 1, accepted


@dataclass(frozen=True, kw_only=True)
class LipschitzSearchOptions(MetricOptions):
    """Options of ``method="gm-backtracking"`` and ``method="fast-gradient"``."""

    maxiter: int = option(10_000, "Maximum number of iterations.")
    max_search: int = option(30, "Maximum number of doublings of L per iteration.")
    L0: float = option(1.0, "Initial estimate of the gradient's Lipschitz constant.",
                       check=POSITIVE)
    L_min: float = option(1e-5, "Lower bound of L.", check=POSITIVE)


def _upper_model_holds(metric: Metric, f_new: float, f: float, g: Array, d: Array,
                       L: float) -> bool:
    """``f(x + d) <= f(x) + ⟨g, d⟩ + (L/2)‖d‖²`` in the metric, up to the rounding error of
    ``f`` (without that slack, steps whose decrease is below ``eps |f|`` near the optimum fail
    the test and ``L`` grows without bound)."""
    norm = metric.norm(d)
    gd, dd = float(g @ d), 0.5 * L * norm * norm
    return at_most(f_new, f + gd + dd, f, gd, dd)


@register("gm-backtracking", options=LipschitzSearchOptions, needs=("grad",), tol=("gtol",),
          flagship=(), peers=(), aliases=("gradient-method",))
class GradientMethodLSearch(_ConstantSearch):
    r"""The gradient method in the metric ``B`` with a backtracking search on ``L``:
    ``x⁺ = x - B^{-1} ∇f(x) / L``, accepted when
    :math:`f(x^+) \le f(x) + \langle \nabla f(x), x^+ - x\rangle + \tfrac L2 \|x^+ - x\|^2`,
    then ``L ← max(L/2, L_min)``, else ``L ← 2L``. With ``B = AᵀA`` (a data Gram matrix) the
    paper's plots call it "Gauss-Newton".

    Status codes: 0, 1, 2 (L could not be raised enough in ``max_search`` doublings), 3, 4,
    99.
    """

    floor_option = "L_min"
    start_option = "L0"

    def curvature(self, problem: Problem, state: ConstantState) -> tuple[Any, int]:
        return state.metric.solve(state.grad), 0

    def trial(self, problem: Problem, state: ConstantState, H: Any, c: float):
        d = -H / c
        x = state.x + d
        f, g = problem.value_and_grad(x)
        return (x, f, g), 0, _upper_model_holds(state.metric, f, state.fun, state.grad, d, c)


@dataclass(frozen=True)
class FastGradientState(ConstantState):
    """Adds the similar-triangles sequences: the weight sum ``A`` and the point ``v``."""

    A: float = 0.0
    v: Array | None = None


@register("fast-gradient", options=LipschitzSearchOptions, needs=("grad",), tol=("gtol",),
          flagship=(), peers=(), aliases=("fgm",))
class FastGradient(MetricSolver):
    r"""Nesterov's fast gradient method (the similar-triangles form) in the metric ``B``, with
    the same search on ``L`` as ``gm-backtracking``:

    .. math::

        a &= \frac{1 + \sqrt{1 + 4 A L}}{2L}, \quad y = \frac{A x + a v}{A + a}, \quad
        x^+ = y - \frac{B^{-1}\nabla f(y)}{L}, \quad v^+ = v - a B^{-1}\nabla f(y),

    accepted when the upper model at ``y`` holds at ``x⁺``.

    Status codes: 0, 1, 2, 3, 4, 99.
    """

    State = FastGradientState

    def init(self, problem: Problem, x0: Array) -> FastGradientState:
        state = super().init(problem, x0)
        return FastGradientState(state.x, state.fun, state.grad, grad_dual=state.grad_dual,
                                 constant=self.options.L0, v=state.x, metric=state.metric)

    def step(self, problem: Problem, state: FastGradientState) -> FastGradientState:
        opts = self.options
        L = state.constant
        for trials in range(1, opts.max_search + 1):
            a = (1.0 + math.sqrt(1.0 + 4.0 * state.A * L)) / (2.0 * L)
            A = state.A + a
            y = (state.A * state.x + a * state.v) / A
            fy, gy = problem.value_and_grad(y)
            direction = state.metric.solve(gy)
            x = y - direction / L
            f, g = problem.value_and_grad(x)
            if f != f or not np.all(np.isfinite(g)):
                return _nan_trial(state, constant=L, A=state.A, v=state.v,
                                  search_exhausted=state.search_exhausted)
            if _upper_model_holds(state.metric, f, fy, gy, x - y, L):
                return FastGradientState(
                    x, f, g, grad_dual=state.metric.dual_norm(g),
                    constant=max(L / 2.0, opts.L_min), ls_trials=trials, rejected=trials - 1,
                    A=A, v=state.v - a * direction, search_exhausted=state.search_exhausted,
                    metric=state.metric)
            L *= 2.0
        return FastGradientState(state.x, state.fun, state.grad, status=Status.PRECISION_LOSS,
                                 grad_dual=state.grad_dual, constant=L, A=state.A, v=state.v,
                                 search_exhausted=state.search_exhausted + 1, metric=state.metric)
