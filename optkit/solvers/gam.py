"""GAM, the gradient approximation method for bilevel problems with lower-level constraints (Xu
and Zhu, AAAI 2023): LV-HBA's baseline (spec ``papers/lv-hba.md`` section 4.5).

Each iteration solves the lower level exactly, differentiates its KKT conditions restricted
to the ε-active constraints to get the hypergradient, and takes a gradient step on ``x``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, POSITIVE, POSITIVE_INT, IsCallable
from optkit.problem import BilevelProblem
from optkit.registry import register
from optkit.result import Status
from optkit.solvers.base import Options, Solver, State, option

__all__ = ["GAM", "GAMOptions", "implicit_hypergradient"]

Array = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class GAMOptions(Options):
    """Options of ``method="gam"``."""

    maxiter: int = option(100, "Iterations (exact lower solves).")
    alpha: float = option(3e-2, "Step size of the upper gradient step.", check=POSITIVE)
    eps_active: float = option(5e-3, "A constraint with g_i(x, y*) >= -eps_active is active "
                                     "in the implicit differentiation.", check=NON_NEGATIVE)
    lower_solve: Callable[[Array, Array], Array] | None = option(
        None, "The exact lower solver, (x, y_start) -> y*(x) (a cvxpy model of your lower "
              "level, say); None: SciPy's SLSQP on the problem's oracles, from the last y*.",
        check=(IsCallable(), None))
    lower_tol: float = option(1e-10, "Tolerance of the SLSQP lower solve.", check=POSITIVE)
    lower_maxiter: int = option(500, "Iteration limit of the SLSQP lower solve.",
                                check=POSITIVE_INT)
    gtol: float = option(1e-6, "Stop when the hypergradient's largest entry is at most gtol.",
                         check=NON_NEGATIVE)


@dataclass(frozen=True)
class GAMState(State):
    """``x`` with ``fun = F(x, y*(x))``, ``grad`` the hypergradient, the exact lower solution
    ``y`` and the number of active constraints."""

    y: Array | None = None
    n_active: int = 0

    def record(self) -> dict[str, Any]:
        return {"upper_loss": self.fun, "n_active": self.n_active}


def _dense(apply: Callable[[Array], Array], size: int) -> Array:
    """The matrix whose ``j``-th row is ``apply(e_j)`` (``size`` rows)."""
    eye = np.eye(size)
    return np.array([apply(eye[j]) for j in range(size)], dtype=np.float64)


def implicit_hypergradient(problem: BilevelProblem, x: Array, y: Array,
                           eps_active: float) -> tuple[Array, int]:
    r"""``∇Φ(x)`` at the exact lower solution ``y = y*(x)``, by the implicit function theorem on
    the KKT conditions of the ε-active constraints ``A = {i : g_i(x, y) >= -eps_active}``.

    With ``H = ∇²_yy f`` (``m`` Hessian-vector products), ``J = ∇_y g_A`` (``|A|`` Jacobian
    products) and the adjoint ``(p, q)`` solving

    .. math::

        \begin{pmatrix} H & J^\top \\ J & 0 \end{pmatrix}
        \begin{pmatrix} p \\ q \end{pmatrix} =
        \begin{pmatrix} \nabla_y F \\ 0 \end{pmatrix},

    ``∇Φ = ∇_x F - ∇²_xy f p - ∇_x g_Aᵀ q`` (one mixed product and one Jacobian product). The
    constraints' curvature is left out: exact for affine constraints. ``H`` may be singular
    (a lower level flat in a direction the active constraints pin down): the system is solved
    by a symmetric LU factorization, and in the least-squares sense when that is singular or
    ill-conditioned.

    Returns
    -------
    (hypergradient, number of active constraints)
    """
    gFx, gFy = problem.upper_grad(x, y)
    m = y.shape[0]
    H = _dense(lambda v: problem.lower_hvp_yy(x, y, v), m)
    g = np.zeros(0) if problem.constraints is None else np.asarray(problem.constraints(x, y))
    active = np.flatnonzero(g >= -eps_active)
    unit = np.eye(g.size)
    J = np.array([problem.constraints_jvp_y(x, y, unit[i]) for i in active],
                 dtype=np.float64).reshape(active.size, m)
    K = np.block([[0.5 * (H + H.T), J.T], [J, np.zeros((active.size, active.size))]])
    rhs = np.concatenate([gFy, np.zeros(active.size)])
    with warnings.catch_warnings():  # an ill-conditioned K: least squares instead
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            sol = scipy.linalg.solve(K, rhs, assume_a="sym")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
            sol = scipy.linalg.lstsq(K, rhs, lapack_driver="gelsy")[0]
    p, q = sol[:m], sol[m:]
    grad = gFx - problem.lower_hvp_xy(x, y, p)
    if active.size:
        lam = np.zeros(g.size)
        lam[active] = q
        grad = grad - problem.constraints_jvp_x(x, y, lam)
    return np.asarray(grad, dtype=np.float64), int(active.size)


@register("gam", options=GAMOptions, accepts=(BilevelProblem,),
          needs=("lower_hvp_yy", "lower_hvp_xy"), uses=(), tol=("gtol",), peers=("lv-hba",))
class GAM(Solver):
    r"""GAM: gradient steps on ``x`` along the implicit hypergradient at the exact lower
    solution, from the KKT conditions of the ε-active constraints (Xu and Zhu).

    Iteration ``k``: ``y_k = y*(x_k)`` by an exact lower solve (the ``lower_solve`` option,
    or SciPy's SLSQP on the oracles warm-started from ``y_{k-1}``), the hypergradient
    :func:`implicit_hypergradient` with the constraints ``g_i(x_k, y_k) >= -eps_active``
    active, and ``x_{k+1} = x_k - α ∇Φ(x_k)`` (projected by ``proj_x`` when given).

    Each iteration costs one exact lower solve, ``m`` Hessian-vector products (the lower
    Hessian as a dense matrix) and a dense ``(m + |A|)``-square solve: GAM suits lower
    levels of a few hundred variables. The history adds ``upper_loss`` and ``n_active``; the
    result adds ``y``.

    Status codes: 0 (``‖∇Φ‖∞ <= gtol``), 1, 3 (a non-finite iterate), 4, 5 (the lower
    solve failed), 99.

    References
    ----------
    M. Xu and J. Zhu, "Efficient gradient approximation method for constrained bilevel
    optimization", AAAI 2023.
    """

    may_return_best = False

    def init(self, problem: BilevelProblem, x0: Array, y0: Array) -> GAMState:
        return self._state(problem, x0, y0)

    def terminate(self, problem: BilevelProblem, state: GAMState) -> tuple[bool, Status]:
        if state.status is not None:  # set by init: the first lower solve failed
            return True, state.status
        return super().terminate(problem, state)

    def _state(self, problem: BilevelProblem, x: Array, y_start: Array) -> GAMState:
        y, failure = self._lower(problem, x, y_start)
        if failure is not None:
            return GAMState(x, float(problem.upper_fun(x, y_start)), y=y_start,
                            status=Status.INNER_SOLVE_FAILED,
                            message=f"the exact lower solve failed: {failure}")
        grad, n_active = implicit_hypergradient(problem, x, y, self.options.eps_active)
        return GAMState(x, float(problem.upper_fun(x, y)), grad, y=y, n_active=n_active)

    def _lower(self, problem: BilevelProblem, x: Array, y0: Array) -> tuple[Array, str | None]:
        """``y*(x)`` and ``None``, or the start and why the solve failed."""
        opts = self.options
        if opts.lower_solve is not None:
            y = np.asarray(opts.lower_solve(x, y0), dtype=np.float64)
            if y.shape != y0.shape or not np.all(np.isfinite(y)):
                return y0, (f"lower_solve returned {y.shape} (finite: "
                            f"{bool(np.all(np.isfinite(y)))}), expected a finite {y0.shape}")
            return y, None
        constraints = []
        jacobian = None
        if problem.constraints is not None:
            l_all = int(np.size(problem.constraints(x, y0)))
            unit = np.eye(l_all)

            def jacobian(y: Array) -> Array:
                return np.array([problem.constraints_jvp_y(x, y, unit[i])
                                 for i in range(l_all)]).reshape(l_all, y.size)

            constraints = [{"type": "ineq",
                            "fun": lambda y: -np.asarray(problem.constraints(x, y)),
                            "jac": lambda y: -jacobian(y)}]
        out = scipy.optimize.minimize(
            lambda y: problem.lower_fun(x, y), y0, jac=lambda y: problem.lower_grad_y(x, y),
            method="SLSQP", constraints=constraints,
            options={"ftol": opts.lower_tol, "maxiter": opts.lower_maxiter})
        y = np.asarray(out.x, dtype=np.float64)
        # SLSQP's line search can fail at a solution it cannot improve on in floating point
        # ("Positive directional derivative", mode 8): a KKT point is accepted all the same.
        if not out.success and not (out.status == 8 and self._is_kkt(problem, x, y, jacobian)):
            return y0, f"SLSQP: {out.message}"
        return y, None

    def _is_kkt(self, problem: BilevelProblem, x: Array, y: Array,
                jacobian: Callable[[Array], Array] | None) -> bool:
        """Whether ``y`` is feasible and stationary to ``sqrt(lower_tol)`` (relative to the
        lower gradient), with nonnegative multipliers on the ε-active constraints (NNLS)."""
        if not np.all(np.isfinite(y)):
            return False
        grad = np.asarray(problem.lower_grad_y(x, y), dtype=np.float64)
        tol = np.sqrt(self.options.lower_tol) * max(1.0, float(np.linalg.norm(grad)))
        residual = float(np.linalg.norm(grad))
        if jacobian is not None:
            g = np.asarray(problem.constraints(x, y), dtype=np.float64).ravel()
            if np.max(g, initial=-np.inf) > tol:
                return False
            active = np.flatnonzero(g >= -self.options.eps_active)
            if active.size:
                residual = scipy.optimize.nnls(jacobian(y)[active].T, -grad)[1]
        return residual <= tol

    def step(self, problem: BilevelProblem, state: GAMState) -> GAMState:
        x = state.x - self.options.alpha * state.grad
        if problem.proj_x is not None:
            x = np.asarray(problem.proj_x(x), dtype=np.float64)
        if not np.all(np.isfinite(x)):
            return GAMState(state.x, state.fun, state.grad, y=state.y, n_active=state.n_active,
                            status=Status.NONFINITE, message="the upper step is not finite: "
                            "alpha is too large for this problem")
        with np.errstate(over="ignore", invalid="ignore"):
            new = self._state(problem, x, state.y)
        if new.status is not None:  # keep the last good iterate
            return GAMState(state.x, state.fun, state.grad, y=state.y, n_active=state.n_active,
                            status=new.status, message=new.message)
        return new

    def postprocess(self, problem: BilevelProblem, state: GAMState,
                    status: Status) -> dict[str, Any]:
        return {"x": state.x, "fun": state.fun, "jac": state.grad, "y": state.y}
