"""LV-HBA: the proximal Lagrangian value function-based Hessian-free bilevel algorithm (Yao, Yu,
Zeng and Zhang, ICLR 2024), for lower levels with constraints that couple ``x`` and ``y``.

Spec: ``papers/lv-hba.md``. The bilevel problem ``min F(x, y)`` over ``y ∈ S(x) = argmin
{f(x, y') : g(x, y') <= 0, y' ∈ Y}`` is rewritten with the proximal Lagrangian value function

    v_γ(x, y, z) = min_{θ ∈ Y} max_{λ >= 0} f(x, θ) + λᵀg(x, θ) + ‖θ - y‖²/(2γ1)
                                              - ‖λ - z‖²/(2γ2)

as the single-level ``min F(x, y)`` over ``(x, y) ∈ C = {g <= 0}`` and ``z >= 0`` subject to
``f(x, y) - v_γ(x, y, z) <= 0``, and solved by one loop of first-order steps on the
penalized ``F/c_k + f - v_γ``: a gradient descent-ascent step on the saddle variables
``(θ, λ)``, a projected step on ``(x, y)`` and a step on ``z``. No Hessian, no inner solve.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit._checks import NON_NEGATIVE, POSITIVE, Interval, Matrix
from optkit.problem import BilevelProblem
from optkit.registry import register
from optkit.result import Status
from optkit.solvers.base import Options, Solver, State, option

__all__ = ["LVHBA", "LVHBAOptions", "saddle_step"]

Array = NDArray[np.float64]

#: How far a projected start may violate the constraints before ``proj_xy`` is judged wrong.
_FEASIBILITY_TOL = 1e-6


@dataclass(frozen=True, kw_only=True)
class LVHBAOptions(Options):
    """Options of ``method="lv-hba"``."""

    maxiter: int = option(10_000, "Iterations.")
    alpha: float = option(2e-3, "Step size α of the (x, y) step (below 1/L of the penalized "
                                "objective).", check=POSITIVE)
    alpha_x: float | None = option(None, "Step size of x alone, when the upper variable's "
                                         "scale differs from y's (a log-penalty, say); None: "
                                         "alpha (the paper's single step).",
                                   check=(POSITIVE, None))
    beta: float = option(2e-3, "Step size β of the z step.", check=POSITIVE)
    eta: float = option(3e-2, "Step size η of the (θ, λ) descent-ascent step.", check=POSITIVE)
    gamma1: float = option(10.0, "Proximal parameter γ1 on θ.", check=POSITIVE)
    gamma2: float = option(10.0, "Proximal parameter γ2 on λ.", check=POSITIVE)
    r: float = option(1.0, "λ and z live in the box [0, r]^l (inf: no upper bound); a large "
                           "r can make the run diverge.", check=POSITIVE)
    c0: float = option(1.0, "Penalty schedule c_k = c0 (k+1)^p: its scale.", check=POSITIVE)
    p: float = option(0.3, "Penalty schedule c_k = c0 (k+1)^p: its power (the theory: "
                           "0 < p < 1/2).", check=Interval(0, 1))
    theta0: Any = option(None, "Initial θ: a vector, a number (every entry), or None (y0).",
                         check=(Interval(), Matrix(), None))
    lam0: Any = option(1.0, "Initial λ: a vector or a number, then clipped to [0, r].",
                       check=(Interval(), Matrix()))
    z0: Any = option(1.0, "Initial z: a vector or a number, then clipped to [0, r].",
                     check=(Interval(), Matrix()))
    tol: float = option(1e-6, "Stop when ‖Δ(x, y)‖/(α max(1, ‖(x, y)‖)) and ‖Δθ‖/η are both "
                              "at most tol (projected-gradient residuals).", check=NON_NEGATIVE)


@dataclass(frozen=True)
class LVHBAState(State):
    """``x`` with ``fun = F(x, y)``, the lower iterate ``y``, the saddle iterates ``θ``
    (lower-level estimate) and ``λ`` (multipliers), the dual centre ``z``, the iteration
    ``k``, and what the history shows of them."""

    y: Array | None = None
    theta: Array | None = None
    lam: Array | None = None
    z: Array | None = None
    k: int = 0
    penalty: float = math.nan
    xy_residual: float = math.nan
    theta_residual: float = math.nan
    lower_residual: float = math.nan
    constraint_violation: float = math.nan
    x_rel_error: float | None = None

    def record(self) -> dict[str, Any]:
        columns = {"upper_loss": self.fun, "lower_residual": self.lower_residual,
                   "constraint_violation": self.constraint_violation, "penalty": self.penalty,
                   "xy_residual": self.xy_residual, "theta_residual": self.theta_residual}
        if self.x_rel_error is not None:
            columns["x_rel_error"] = self.x_rel_error
        return columns


@register("lv-hba", options=LVHBAOptions, accepts=(BilevelProblem,), needs=("lower_grad_x",),
          uses=(), tol=("tol",), flagship=("coupled-equality-toy",), peers=("gam",),
          tour_runs={"LV-HBA (α = β = 4e-3)": ("lv-hba", {
              "maxiter": 20_000, "alpha": 4e-3, "beta": 4e-3, "tol": 1e-4, "theta0": 1.0,
              "z0": 10.0})},
          tour_plot={"x": "nit", "y": "x_rel_error", "logy": True},
          tour_caption="x's relative error against iterations on the coupled-equality toy "
                       "(a lower level with many solutions): after a first swing through x* "
                       "it falls steadily, to about 2% when the residuals stop the run; F "
                       "ends a little below F* because y is only penalized towards the "
                       "lower-level solutions.")
class LVHBA(Solver):
    r"""LV-HBA: single-loop, Hessian-free steps on the proximal Lagrangian value function
    reformulation of a bilevel problem with coupled lower-level constraints.

    Iteration ``k``, with ``c_k = c0 (k+1)^p`` (spec section 2):

    1. ``θ ← Proj_Y(θ - η d_θ)``, ``λ ← clip(λ - η d_λ, 0, r)`` with
       ``d_θ = ∇_y f(x, θ) + ∇_y g(x, θ)ᵀλ + (θ - y)/γ1`` and
       ``d_λ = -g(x, θ) + (λ - z)/γ2`` (both at the old ``θ, λ``);
    2. ``(x, y) ← Proj_C((x, y) - α (d_x, d_y))`` (``alpha_x`` for ``x`` when given) with
       ``d_x = ∇_x F/c_k + ∇_x f(x, y) - ∇_x f(x, θ) - ∇_x g(x, θ)ᵀλ`` and
       ``d_y = ∇_y F/c_k + ∇_y f(x, y) - (y - θ)/γ1`` (at the new ``θ, λ``);
    3. ``z ← clip(z + β (λ - z)/γ2, 0, r)``.

    ``Proj_C`` is the problem's ``proj_xy`` (:func:`optkit.bilevel.affine_constraints`
    builds it for affine constraints); without constraints, ``proj_x`` and ``proj_y``
    (each the identity when not given), and then ``d_y`` is the gradient of ``f`` minus
    that of its Moreau envelope. ``Proj_Y`` is ``proj_y`` or the identity.

    The history adds ``upper_loss`` (``F(x, y)``), ``lower_residual`` (``f(x, y) - v̂``,
    ``v̂`` the proximal Lagrangian at ``(θ, λ)``, an estimate of ``v_γ``: it goes to 0 as
    ``y`` solves the lower level), ``constraint_violation`` (``max(g(x, y), 0)``),
    ``penalty`` (``c_k``), ``xy_residual`` and ``theta_residual`` (the stopping test's
    quantities) and, when ``problem.info["x_star"]`` is known, ``x_rel_error``
    (``‖x - x*‖/‖x*‖``). The result adds ``y``, ``theta``, ``lam``, ``z``,
    ``constraint_violation`` and ``lower_residual``.

    Status codes: 0 (both residuals at most ``tol``), 1, 3 (the iterates diverged: the last
    finite one is returned), 4, 99.

    Raises
    ------
    TypeError
        Before iterating: constraints without ``proj_xy`` or without ``constraints_jvp_x``.
    ValueError
        Before iterating: a ``proj_xy`` that returns the wrong shapes or a point that still
        violates the constraints, a start the projection cannot handle (an empty feasible
        set), or ``theta0``, ``lam0``, ``z0`` of the wrong length.

    References
    ----------
    W. Yao, C. Yu, S. Zeng and J. Zhang, "Constrained bi-level optimization: proximal
    Lagrangian value function approach and Hessian-free algorithm", ICLR 2024;
    arXiv:2401.16164.
    """

    may_return_best = False  # the penalized problem changes with k: the last iterate counts

    def init(self, problem: BilevelProblem, x0: Array, y0: Array) -> LVHBAState:
        opts = self.options
        if problem.constraints is not None:
            if problem.proj_xy is None:
                raise TypeError(
                    f"LV-HBA projects every iterate onto the coupled feasible set C = "
                    f"{{g(x, y) <= 0}}: give the problem proj_xy (for affine constraints, "
                    f"optkit.bilevel.affine_constraints(G_x, G_y, h) builds it); "
                    f"{problem.name!r} has constraints but no proj_xy")
            if problem.constraints_jvp_x is None:
                raise TypeError(f"LV-HBA needs constraints_jvp_x, the products ∇_x g(x, y)ᵀλ; "
                                f"{problem.name!r} has constraints without it")
        x, y = self._project_start(problem, x0, y0)
        n_constraints = (0 if problem.constraints is None
                         else int(np.size(problem.constraints(x, y))))
        theta = _start("theta0", y if opts.theta0 is None else opts.theta0, y.shape[0])
        if problem.proj_y is not None:
            theta = np.asarray(problem.proj_y(theta), dtype=np.float64)
        lam = np.clip(_start("lam0", opts.lam0, n_constraints), 0.0, opts.r)
        z = np.clip(_start("z0", opts.z0, n_constraints), 0.0, opts.r)
        return self._state(problem, x, y, theta, lam, z, k=0)

    def _project_start(self, problem: BilevelProblem, x0: Array,
                       y0: Array) -> tuple[Array, Array]:
        """``Proj_C(x0, y0)``, checked: the right shapes, finite, feasible."""
        out = self._project(problem, x0, y0)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ValueError(f"proj_xy must return a pair (x, y), got {type(out).__name__}")
        x, y = (np.asarray(v, dtype=np.float64) for v in out)
        if x.shape != x0.shape or y.shape != y0.shape:
            raise ValueError(f"proj_xy must return x of shape {x0.shape} and y of shape "
                             f"{y0.shape}, got {x.shape} and {y.shape}")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("the projection of the start (x0, y0) onto the feasible set is "
                             "not finite")
        if problem.constraints is not None:
            g = np.asarray(problem.constraints(x, y), dtype=np.float64)
            scale = 1.0 + float(np.max(np.abs(np.concatenate([x, y]))))
            if g.size and float(np.max(g)) > _FEASIBILITY_TOL * scale:
                raise ValueError(f"proj_xy does not project onto C = {{g(x, y) <= 0}}: at the "
                                 f"projected start max g = {float(np.max(g)):.3g}")
        return x, y

    @staticmethod
    def _project(problem: BilevelProblem, x: Array, y: Array) -> Any:
        if problem.proj_xy is not None:
            return problem.proj_xy(x, y)
        return (x if problem.proj_x is None else problem.proj_x(x),
                y if problem.proj_y is None else problem.proj_y(y))

    def step(self, problem: BilevelProblem, state: LVHBAState) -> LVHBAState:
        opts, k = self.options, state.k
        x, y, theta, lam, z = state.x, state.y, state.theta, state.lam, state.z
        c = opts.c0 * (k + 1) ** opts.p
        constrained = problem.constraints is not None
        with np.errstate(over="ignore", invalid="ignore"):
            # 1. descent-ascent on the proximal Lagrangian, both at (θ^k, λ^k)
            theta_new, lam_new = saddle_step(problem, x, y, theta, lam, z, opts)
            # 2. the projected step on F/c_k + f - v_γ, at the new (θ, λ)
            gFx, gFy = problem.upper_grad(x, y)
            d_x = gFx / c + problem.lower_grad_x(x, y) - problem.lower_grad_x(x, theta_new)
            if constrained:
                d_x = d_x - problem.constraints_jvp_x(x, theta_new, lam_new)
            d_y = gFy / c + problem.lower_grad_y(x, y) - (y - theta_new) / opts.gamma1
            if not _finite(d_x, d_y, theta_new, lam_new):
                return _diverged(state)
            alpha_x = opts.alpha if opts.alpha_x is None else opts.alpha_x
            x_new, y_new = (np.asarray(v, dtype=np.float64) for v in self._project(
                problem, x - alpha_x * d_x, y - opts.alpha * d_y))
            # 3. the dual centre
            z_new = np.clip(z + opts.beta * (lam_new - z) / opts.gamma2, 0.0, opts.r)
            new = self._state(problem, x_new, y_new, theta_new, lam_new, z_new, k + 1,
                              penalty=c, previous=state)
        if not (math.isfinite(new.fun) and _finite(x_new, y_new)):
            return _diverged(state)
        if new.xy_residual <= opts.tol and new.theta_residual <= opts.tol:
            return dataclasses.replace(new, status=Status.SUCCESS, message=(
                f"the (x, y) and θ residuals {new.xy_residual:.3g}, {new.theta_residual:.3g} are "
                f"at most tol"))
        return new

    def _state(self, problem: BilevelProblem, x: Array, y: Array, theta: Array, lam: Array,
               z: Array, k: int, penalty: float = math.nan,
               previous: LVHBAState | None = None) -> LVHBAState:
        opts = self.options
        residuals: dict[str, float] = {}
        if previous is not None:
            moved = math.sqrt(float(np.sum((x - previous.x) ** 2) + np.sum((y - previous.y) ** 2)))
            size = math.sqrt(float(previous.x @ previous.x + previous.y @ previous.y))
            residuals = {"xy_residual": moved / (opts.alpha * max(1.0, size)),
                         "theta_residual": float(np.linalg.norm(theta - previous.theta)) / opts.eta}
        lower_residual, violation = _lower_residual(problem, x, y, theta, lam, z, opts)
        x_star = problem.info.get("x_star")
        if x_star is not None:
            residuals["x_rel_error"] = float(np.linalg.norm(x - x_star) / np.linalg.norm(x_star))
        return LVHBAState(x, float(problem.upper_fun(x, y)), y=y, theta=theta, lam=lam, z=z, k=k,
                          penalty=penalty, lower_residual=lower_residual,
                          constraint_violation=violation, **residuals)

    def postprocess(self, problem: BilevelProblem, state: LVHBAState,
                    status: Status) -> dict[str, Any]:
        return {"x": state.x, "fun": state.fun, "jac": None, "y": state.y,
                "theta": state.theta, "lam": state.lam, "z": state.z,
                "constraint_violation": state.constraint_violation,
                "lower_residual": state.lower_residual}


def saddle_step(problem: BilevelProblem, x: Array, y: Array, theta: Array, lam: Array, z: Array,
                opts: LVHBAOptions) -> tuple[Array, Array]:
    """One projected gradient descent-ascent step on the proximal Lagrangian
    ``L(θ, λ) = f(x, θ) + λᵀg(x, θ) + ‖θ - y‖²/(2γ1) - ‖λ - z‖²/(2γ2)`` with step ``η``, both
    directions at ``(θ, λ)``: the new ``(θ, λ)``, ``θ`` projected onto ``Y`` (``proj_y``) and
    ``λ`` clipped to ``[0, r]``. Repeated at fixed ``(x, y, z)`` it converges to the saddle
    point of ``L`` (strongly convex in ``θ``, strongly concave in ``λ``) for small ``η``."""
    d_theta = problem.lower_grad_y(x, theta) + (theta - y) / opts.gamma1
    lam_new = lam
    if problem.constraints is not None:
        d_theta = d_theta + problem.constraints_jvp_y(x, theta, lam)
        d_lam = -problem.constraints(x, theta) + (lam - z) / opts.gamma2
        lam_new = np.clip(lam - opts.eta * d_lam, 0.0, opts.r)
    theta_new = theta - opts.eta * d_theta
    if problem.proj_y is not None:
        theta_new = np.asarray(problem.proj_y(theta_new), dtype=np.float64)
    return theta_new, lam_new


def _finite(*arrays: Array) -> bool:
    return all(bool(np.all(np.isfinite(a))) for a in arrays)


def _diverged(state: LVHBAState) -> LVHBAState:
    """The end of the run at the last finite iterate ``state``: status 3."""
    return dataclasses.replace(state, status=Status.NONFINITE, message=(
        f"the iterates diverged after iteration {state.k} (a non-finite step or upper loss): "
        f"a step size (alpha, eta, beta) or r is too large for this problem"))


def _start(name: str, value: Any, size: int) -> Array:
    """An initial vector of length ``size`` from a number or a vector."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(size, float(arr))
    if arr.shape != (size,):
        raise ValueError(f"option {name!r} must be a number or a vector of length {size}, "
                         f"got shape {arr.shape}")
    return arr.copy()


def _lower_residual(problem: BilevelProblem, x: Array, y: Array, theta: Array, lam: Array,
                    z: Array, opts: LVHBAOptions) -> tuple[float, float]:
    """``f(x, y) - v̂`` with ``v̂ = f(x, θ) + λᵀg(x, θ) + ‖θ - y‖²/(2γ1) - ‖λ - z‖²/(2γ2)``,
    and the constraint violation ``max(g(x, y), 0)`` (0 without constraints)."""
    v_hat = problem.lower_fun(x, theta) + float((theta - y) @ (theta - y)) / (2 * opts.gamma1)
    violation = 0.0
    if problem.constraints is not None:
        v_hat += float(lam @ problem.constraints(x, theta)) \
            - float((lam - z) @ (lam - z)) / (2 * opts.gamma2)
        g = problem.constraints(x, y)
        violation = max(float(np.max(g)), 0.0) if np.size(g) else 0.0
    return float(problem.lower_fun(x, y)) - float(v_hat), violation

