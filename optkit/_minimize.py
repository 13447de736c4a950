"""``optkit.minimize``: input checks and dispatch through the registry.

Everything after the checks (the loop, limits, history, callback, counting, the result) is
the shared driver's, :mod:`optkit._driver`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeResult, approx_fprime

from optkit._driver import Counter, Driver, counted, counted_call, counter_names
from optkit.problem import CompositeProblem, Problem, as_vector
from optkit.registry import MethodInfo, make_info, registry
from optkit.solvers.base import Solver

__all__ = ["minimize"]

#: Used when ``method`` is omitted for a smooth problem (SciPy's unconstrained default).
DEFAULT_METHOD = "scipy:BFGS"


def minimize(
    problem: Any,
    x0: ArrayLike | None = None,
    *,
    y0: ArrayLike | None = None,
    args: tuple = (),
    method: str | type[Solver] | Solver | None = None,
    jac: Callable | bool | str | None = None,
    hess: Callable | None = None,
    hessp: Callable | None = None,
    tol: float | None = None,
    callback: Callable | None = None,
    options: Mapping[str, Any] | None = None,
    backend: str | None = None,
) -> OptimizeResult:
    """Minimize a problem with any registered method.

    Parameters
    ----------
    problem : Problem, other problem kind, or callable
        What to solve: a :class:`~optkit.Problem` (or a structured kind such as
        :class:`~optkit.QuadraticProblem`, :class:`~optkit.BilevelProblem`,
        :class:`~optkit.LinearSystem`), or, as in :func:`scipy.optimize.minimize`, the
        objective ``fun(x, *args) -> float``.
    x0 : array_like, shape (n,), optional
        Starting point. Required with a callable; defaults to ``problem.x0`` otherwise.
    y0 : array_like, shape (m,), optional
        Starting point of the lower-level variable ``y`` of a
        :class:`~optkit.BilevelProblem` (default ``problem.y0``); kinds with one variable
        take none.
    args : tuple, optional
        Extra arguments passed to ``fun``, ``jac``, ``hess`` and ``hessp`` (callable form).
    method : str, Solver subclass or Solver, optional
        A registered name (case-insensitive, ``-`` and ``_`` alike; see :func:`optkit.methods`),
        ``"scipy:<METHOD>"`` for any :func:`scipy.optimize.minimize` method, a
        :class:`~optkit.Solver` subclass, or a solver object, which carries its options (then
        ``options`` and ``tol`` are not given; one solver object runs any number of times,
        in any number of threads, alike). Default: ``"scipy:BFGS"`` for a smooth
        :class:`~optkit.Problem`; other kinds need an explicit method.
    jac : callable, bool or "2-point", optional
        Gradient ``jac(x, *args)``; ``True`` if ``fun`` returns ``(f, g)``; ``None``,
        ``False`` or ``"2-point"``: forward differences (:func:`scipy.optimize.approx_fprime`)
        for the methods that need a gradient. Callable form only.
    hess : callable, optional
        Hessian ``hess(x, *args)`` (matrix, sparse matrix or ``LinearOperator``).
    hessp : callable, optional
        Hessian-vector product ``hessp(x, p, *args)``.
    tol : float, optional
        Tolerance; sets the method's own tolerance options (``show_options`` names them)
        unless they are given in ``options``.
    callback : callable, optional
        Called once per iteration, either as ``callback(intermediate_result)`` (when that is
        its only parameter's name) with an :class:`~scipy.optimize.OptimizeResult` (``x``,
        ``fun``, ``nit``, ``jac`` when the method has it, and a bilevel method's lower
        iterate ``y``), or as ``callback(xk)`` with a copy of the iterate. Raising
        :class:`StopIteration` ends the run with status 99.
    options : dict, optional
        Method options (see :func:`optkit.show_options`). Every method takes ``maxiter``,
        ``max_time``, ``disp`` and ``seed``. An unknown option raises ``TypeError``.
    backend : {"numpy", "torch"}, optional
        The implementation to run, for methods that have several (default ``"numpy"``).

    Returns
    -------
    res : scipy.optimize.OptimizeResult
        SciPy's fields ``x, fun, jac, nit, nfev, njev, nhev, status, success, message`` plus
        ``method``, ``options`` (as used, defaults filled), ``history`` (a
        :class:`~optkit.History`) and method-specific fields. ``nfev``, ``njev`` and ``nhev``
        count calls of the oracles. Status codes: see :class:`~optkit.Status`.

    Raises
    ------
    ValueError
        Unknown method name (with close matches), bad ``x0``, negative ``tol``, bad option
        values, unsupported ``backend``, an oracle returning the wrong shape (the message
        names the oracle and both shapes).
    TypeError
        A method that cannot take the problem kind, an unknown option, a missing required
        oracle.

    Notes
    -----
    ``minimize`` never raises because a run did not converge: it reports it through
    ``res.status``, ``res.success`` and ``res.message``. A NaN or infinite value or gradient
    ends the run with status 3 and the last finite iterate in ``res.x``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import rosen, rosen_der
    >>> import optkit
    >>> res = optkit.minimize(rosen, np.zeros(3), method="gd", jac=rosen_der,
    ...                       options={"maxiter": 20000})
    >>> bool(res.success), np.round(res.x, 3)
    (True, array([1., 1., 1.]))
    """
    problem = _as_problem(problem, args, jac, hess, hessp)
    info = _method_info(problem, method)
    _check_kind(info, problem)
    _warn_unused(info, jac, hess, hessp)
    x0, starts = _starting_points(problem, x0, y0)
    if isinstance(method, Solver):
        solver = _check_solver(method, tol, options, backend)
    else:
        solver = info.solver(_options(info, tol, options), backend=_check_backend(info, backend))
    counter = Counter(counter_names(problem))
    counted_problem = _prepare_oracles(info, problem, counter)
    driver = Driver(info, solver.options, counted_problem, callback, counter,
                    raw_problem=problem)
    return driver.run(solver, x0, **starts)


# -- input checks ------------------------------------------------------------------------------


def _as_problem(problem: Any, args: tuple, jac: Any, hess: Any, hessp: Any) -> Any:
    """A problem object from the arguments (SciPy's callable form is wrapped)."""
    if not isinstance(args, tuple):
        args = (args,)
    if not callable(problem) or isinstance(problem, type):
        if jac is not None or hess is not None or hessp is not None or args:
            raise TypeError(
                "jac, hess, hessp and args go with a callable objective; "
                f"a {type(problem).__name__} carries its own oracles"
            )
        if not hasattr(problem, "__dataclass_fields__"):
            raise TypeError(
                "problem must be a callable fun(x) or an optkit problem object, "
                f"got {type(problem).__name__}"
            )
        return problem

    def bind(fn: Callable | None) -> Callable | None:
        if fn is None or not args:
            return fn
        return lambda *xs: fn(*xs, *args)

    for name, value in (("hess", hess), ("hessp", hessp)):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    fields: dict[str, Any] = {"hess": bind(hess), "hessp": bind(hessp)}
    if jac is True:
        fields["fun_and_grad"] = bind(problem)
    elif callable(jac):
        fields.update(fun=bind(problem), grad=bind(jac))
    elif jac in (None, False, "2-point"):
        fields["fun"] = bind(problem)
    else:
        raise ValueError(
            f"jac must be a callable, True, False, None or '2-point', got {jac!r}"
        )
    return Problem(**fields, name=getattr(problem, "__name__", "fun"))


def _method_info(problem: Any, method: Any) -> MethodInfo:
    if method is None:
        if type(problem) is not Problem:
            raise TypeError(
                f"a {type(problem).__name__} needs an explicit method; see optkit.methods()"
            )
        method = DEFAULT_METHOD
    if isinstance(method, Solver):
        method = type(method)
    if isinstance(method, type) and issubclass(method, Solver):
        if "info" in method.__dict__:
            return method.info
        options = getattr(method, "Options", None)
        if options is None:
            raise TypeError(f"{method.__name__} is not registered and has no Options attribute")
        return make_info(method, method.__name__, options=options, accepts=(Problem,),
                         needs=("grad",), uses=("jac",), tol=(), stochastic=False,
                         backends=("numpy",), flagship=(), peers=(), tour_runs={},
                         long_running=False, aliases=())
    return registry.get(method)


def _check_kind(info: MethodInfo, problem: Any) -> None:
    if isinstance(problem, info.accepts):
        if getattr(problem, "nonsmooth", False) and not any(
                issubclass(kind, CompositeProblem) for kind in info.accepts):
            raise TypeError(
                f"method {info.name!r} minimizes smooth functions and would ignore the "
                f"non-smooth part g of this {type(problem).__name__} (l1 > 0 or nonneg); "
                f"use a method for composite problems (see optkit.methods())")
        return
    kinds = " or ".join(k.__name__ for k in info.accepts)
    hint = ""
    adapters = getattr(type(problem), "adapters", {})
    for kind in info.accepts:
        if kind in adapters:
            hint = f" Convert it with {adapters[kind]}."
            break
    raise TypeError(
        f"method {info.name!r} solves a {kinds}, got a {type(problem).__name__}.{hint}"
    )


def _warn_unused(info: MethodInfo, jac: Any, hess: Any, hessp: Any) -> None:
    for name, value, label in (("jac", jac, "gradient information"),
                               ("hess", hess, "Hessian information"),
                               ("hessp", hessp, "Hessian information")):
        if value not in (None, False) and name not in info.uses:
            warnings.warn(f"Method {info.name} does not use {label} ({name}).",
                          RuntimeWarning, stacklevel=3)


def _starting_point(problem: Any, x0: ArrayLike | None, name: str = "x0"
                    ) -> NDArray[np.float64] | None:
    default = getattr(problem, name, None)
    if x0 is None:
        if default is None and isinstance(problem, Problem):
            raise ValueError("x0 is required: the problem has no default starting point")
        return None if default is None else default.copy()
    x0 = as_vector(name, x0)
    if default is not None and x0.shape != default.shape:
        raise ValueError(
            f"{name!r} has shape {x0.shape} but the problem's variables have shape "
            f"{default.shape}"
        )
    return x0


def _starting_points(problem: Any, x0: ArrayLike | None, y0: ArrayLike | None
                     ) -> tuple[NDArray[np.float64] | None, dict[str, Any]]:
    """``x0`` and the starts of the problem kind's other variables (``y0`` for a bilevel
    problem), given or the problem's defaults, checked."""
    variables = getattr(type(problem), "variables", ("x",))
    if y0 is not None and "y" not in variables:
        raise TypeError(f"y0 is the start of a lower-level variable; a "
                        f"{type(problem).__name__} has none")
    starts = {"y0": _starting_point(problem, y0, "y0")} if "y" in variables else {}
    return _starting_point(problem, x0), starts


def _check_solver(solver: Solver, tol: Any, options: Any, backend: str | None) -> Solver:
    """A solver object passed as ``method``: it carries its options and backend."""
    if tol is not None or options is not None:
        raise TypeError("a solver object carries its options: give tol and options when "
                        "building it, or pass the method's name")
    if backend is not None and backend != solver.backend:
        raise ValueError(f"backend {backend!r} differs from the solver object's "
                         f"{solver.backend!r}")
    return solver


def _options(info: MethodInfo, tol: float | None, options: Mapping[str, Any] | None) -> Any:
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    opts = dict(options or {})
    if tol is not None:
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"tol must be a finite non-negative number, got {tol!r}")
        for name in info.tol:
            opts.setdefault(name, tol)
    return info.make_options(opts)


def _check_backend(info: MethodInfo, backend: str | None) -> str:
    backend = info.backends[0] if backend is None else backend
    if backend not in info.backends:
        raise ValueError(
            f"backend {backend!r} is not available for method {info.name!r}; "
            f"it has {', '.join(info.backends)}"
        )
    return backend


# -- oracles ---------------------------------------------------------------------------------


def _prepare_oracles(info: MethodInfo, problem: Any, counter: Counter) -> Any:
    """The problem with counted oracles; ``TypeError`` naming an oracle the method needs and
    the problem lacks, except a gradient, which finite differences provide."""
    for need in sorted(info.needs):
        if need in getattr(problem, "oracle_needs", ()) and not problem.provides(need):
            if need == "grad" and isinstance(problem, Problem):
                continue
            raise TypeError(f"method {info.name!r} needs {_NEED_TEXT.get(need, need)}; "
                            f"problem {getattr(problem, 'name', '')!r} has none")
    problem = counted(problem, counter)
    if "grad" in info.needs and isinstance(problem, Problem) and not problem.has_grad:
        value = problem.value
        fd = counted_call(lambda x: approx_fprime(x, value), counter, ("njev",))
        object.__setattr__(problem, "grad", fd)  # on the run's own copy
    return problem


#: How an error names a missing oracle, where its field name alone would not say it.
_NEED_TEXT = {"hess": "Hessians: give hess or hessp"}
