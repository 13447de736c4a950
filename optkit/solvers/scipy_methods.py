"""``method="scipy:<METHOD>"``: any :func:`scipy.optimize.minimize` method, as a baseline.

The run goes through SciPy unchanged (same iterates, same result); optkit adds the history
(recorded by a SciPy callback), evaluation counting, ``max_time``, the non-finite guard and
its status codes. Options are SciPy's own for that method and are passed through; an
option SciPy does not know raises ``TypeError`` (SciPy itself only warns).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize as so
from numpy.typing import NDArray

from optkit._checks import check_scalar
from optkit.problem import Problem
from optkit.registry import MethodInfo, make_info, normalize, registry
from optkit.result import Status, nan_trial_message
from optkit.solvers.base import Options, Solver, State, option

#: SciPy methods that use no derivatives, and those that use Hessians.
_DERIVATIVE_FREE = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})
_HESSIAN = frozenset({"newton-cg", "dogleg", "trust-ncg", "trust-exact", "trust-krylov",
                      "trust-constr"})
_NEEDS_HESSIAN = frozenset({"dogleg", "trust-ncg", "trust-exact", "trust-krylov"})


@dataclass(frozen=True, kw_only=True)
class ScipyOptions(Options):
    """Options of ``method="scipy:<METHOD>"``: optkit's ``max_time`` and ``seed``, and any
    option of the SciPy method (see ``scipy.optimize.show_options("minimize", METHOD)``)."""

    maxiter: int | None = option(
        None, "Maximum number of iterations, counted as optkit counts them (one per SciPy "
              "callback) and enforced by optkit; SciPy's own maxiter (when the method has "
              "one) is set one above it, so SciPy's default limit cannot stop it first; "
              "None leaves SciPy's own limit alone."
    )
    tol: float | None = option(None, "SciPy's ``tol`` argument of minimize.")
    scipy_options: tuple[tuple[str, Any], ...] = option(
        (), "The SciPy method's own options, passed through (given as ordinary options)."
    )


class ScipyMethodInfo(MethodInfo):
    """Registry entry of one SciPy method: options pass through to SciPy."""

    def make_options(self, given: dict[str, Any]) -> Options:
        own = {f.name for f in dataclasses.fields(Options)} - {"maxiter"} | {"tol"}
        ours = {k: v for k, v in given.items() if k in own}
        theirs = {k: v for k, v in given.items() if k not in own}
        if "maxiter" in theirs:
            ours["maxiter"] = theirs.pop("maxiter")
        if "scipy_options" in theirs:
            raise TypeError("give SciPy's options as ordinary options, not as scipy_options")
        constrained = sorted({"bounds", "constraints"} & theirs.keys())
        if constrained:
            raise TypeError(f"{' and '.join(constrained)} are arguments of "
                            f"scipy.optimize.minimize, not options: the scipy: methods run "
                            f"unconstrained here; call scipy.optimize.minimize for a "
                            f"constrained problem")
        return ScipyOptions(**ours, scipy_options=tuple(sorted(theirs.items())))


class ScipyMinimize(Solver):
    """Any scipy.optimize.minimize method, with optkit's history and limits."""

    scipy_method = "BFGS"

    def solve(self, problem: Problem, x0: NDArray[np.float64], driver) -> tuple[State, Status]:
        kwargs: dict[str, Any] = {}
        if self.scipy_method.lower() not in _DERIVATIVE_FREE:
            if problem.fun_and_grad is not None and (problem.fun is None or problem.grad is None):
                fun, kwargs["jac"] = problem.fun_and_grad, True  # the gradient comes with f
            else:
                fun = problem.value
                kwargs["jac"] = problem.grad if problem.grad is not None else None
        else:
            fun = problem.value
        if self.scipy_method.lower() in _HESSIAN:  # hessp only where hess is missing
            kwargs["hess"] = problem.hess
            kwargs["hessp"] = problem.hessp if problem.hess is None else None
        options = dict(self.options.scipy_options)
        if self.options.maxiter is not None and _takes_maxiter(self.scipy_method):
            # SciPy's own limit (200 n for BFGS, CG, Nelder-Mead) must not stop it before
            # optkit's count does (Nelder-Mead counts one iteration more than it calls back)
            options.setdefault("maxiter", self.options.maxiter + 1)
        raw = driver.raw_problem
        value = raw.value(x0)
        check_scalar("the objective (fun)", value)
        start = State(x0, float(value))
        driver.record(start)
        if self.options.maxiter == 0:  # SciPy would still take a step
            return start, Status.MAXITER
        stop: list[Status] = []
        #: The last values SciPy computed: NaNs among them (SciPy reports a NaN met in its
        #: line search as precision loss), and ``res.fun`` checked without a new call.
        recent: deque[tuple[bytes, float]] = deque(maxlen=8)
        nan_seen = False

        def watched(fn):
            def call(x, *args):
                nonlocal nan_seen
                out = fn(x, *args)
                value = out[0] if isinstance(out, tuple) else out
                nan_seen = nan_seen or value != value
                recent.append((np.asarray(x, dtype=float).tobytes(), value))
                return out
            return call

        fun = watched(fun)

        def callback(intermediate_result):
            if isinstance(intermediate_result, np.ndarray):  # methods with the old form
                x = np.array(intermediate_result)
                state = State(x, float(raw.value(x)))
            else:
                state = State(np.array(intermediate_result.x), float(intermediate_result.fun))
            status = driver.observe(state)
            if status is not None:
                stop.append(status)
                raise StopIteration

        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="Unknown solver options",
                                    category=so.OptimizeWarning)
            try:
                res = so.minimize(fun, x0, method=self.scipy_method, callback=callback,
                                  tol=self.options.tol, options=options, **kwargs)
            except so.OptimizeWarning as err:
                raise TypeError(
                    f"{err}. See scipy.optimize.show_options('minimize', "
                    f"{self.scipy_method!r}) for the valid options"
                ) from None
        if (stop and stop[0] is Status.NONFINITE) or not math.isfinite(res.fun):
            return driver.last, Status.NONFINITE
        x = np.asarray(res.x, dtype=float)
        key = x.tobytes()
        fun_x = next((float(v) for k, v in reversed(recent) if k == key), None)
        if fun_x is None:
            fun_x = float(raw.value(x))
        if not math.isfinite(fun_x):
            return driver.last, Status.NONFINITE
        # L-BFGS-B can report another point's f (and gradient): keep neither then
        grad = res.get("jac") if fun_x == float(res.fun) else None
        status = stop[0] if stop else _status(res)
        message = None if stop else str(res.message)
        if nan_seen and status in (Status.PRECISION_LOSS, Status.MAXITER, Status.MAXTIME):
            status, message = Status.NONFINITE, nan_trial_message(
                f"SciPy {self.scipy_method} search")
        return State(x, fun_x, None if grad is None else np.asarray(grad, dtype=float),
                     message=message), status


def _status(res: so.OptimizeResult) -> Status:
    if res.success:
        return Status.SUCCESS
    message = str(res.message).lower()
    if "nan" in message or not math.isfinite(res.fun):
        return Status.NONFINITE
    if any(word in message for word in ("iteration", "evaluations", "maxfun")):
        return Status.MAXITER
    return Status.PRECISION_LOSS


#: Trust-region methods whose ``show_options`` text omits the ``maxiter`` they all take.
_TRUST_REGION = frozenset({"dogleg", "trust-ncg", "trust-krylov", "trust-exact"})


@functools.cache
def _takes_maxiter(method: str) -> bool:
    """Whether the SciPy method has a ``maxiter`` option (TNC has only ``maxfun``)."""
    text = so.show_options("minimize", method, disp=False) or ""
    return method.lower() in _TRUST_REGION or re.search(r"^\s*maxiter\b[^\n]*:", text,
                                                         re.MULTILINE) is not None


def _scipy_info(member: str) -> MethodInfo:
    """The registry entry of ``scipy:<member>`` (one per method, names normalized)."""
    return _scipy_info_cached(normalize(member))


@functools.cache
def _scipy_info_cached(key: str) -> MethodInfo:
    try:
        so.show_options("minimize", key, disp=False)
    except ValueError:
        raise ValueError(f"Unknown solver 'scipy:{key}': scipy.optimize.minimize has no "
                         f"method {key!r}") from None
    solver = type(f"Scipy_{key}", (ScipyMinimize,), {"scipy_method": key,
                                                     "__doc__": ScipyMinimize.__doc__})
    uses = () if key in _DERIVATIVE_FREE else ("jac", "hess", "hessp") if key in _HESSIAN \
        else ("jac",)
    needs = ("hess",) if key in _NEEDS_HESSIAN else ()
    info = make_info(solver, f"scipy:{key}", info_cls=ScipyMethodInfo, options=ScipyOptions,
                     accepts=(Problem,), needs=needs, uses=uses, tol=("tol",),
                     stochastic=False, backends=("numpy",), flagship=("rosen",),
                     peers=("gd", "nesterov"), tour_runs={}, long_running=False,
                     aliases=())
    solver.info = info
    return info


registry.register_family("scipy", _scipy_info, examples=("BFGS", "L-BFGS-B", "CG",
                                                         "Nelder-Mead"))
