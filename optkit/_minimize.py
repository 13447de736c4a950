"""``optkit.minimize``: input checks, dispatch through the registry, and the shared driver.

The driver owns everything that is the same for all methods, in this order: check inputs;
``state = init``; ``terminate`` (a converged ``x0`` gives ``nit = 0``); then loop {``step``;
non-finite guard; history; callback; ``terminate``; ``maxiter``; ``max_time``};
``postprocess``; build the :class:`scipy.optimize.OptimizeResult`.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeResult, approx_fprime

from optkit.problem import CompositeProblem, Problem, as_vector
from optkit.registry import MethodInfo, make_info, registry
from optkit.result import History, Status
from optkit.solvers.base import Solver, State

__all__ = ["minimize"]

#: Used when ``method`` is omitted for a smooth problem (SciPy's unconstrained default).
DEFAULT_METHOD = "scipy:BFGS"


def minimize(
    problem: Any,
    x0: ArrayLike | None = None,
    *,
    args: tuple = (),
    method: str | type[Solver] | None = None,
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
    args : tuple, optional
        Extra arguments passed to ``fun``, ``jac``, ``hess`` and ``hessp`` (callable form).
    method : str or Solver subclass, optional
        A registered name (case-insensitive, ``-`` and ``_`` alike; see :func:`optkit.methods`),
        ``"scipy:<METHOD>"`` for any :func:`scipy.optimize.minimize` method, or a
        :class:`~optkit.solvers.base.Solver` subclass. Default: ``"scipy:BFGS"`` for a
        smooth :class:`~optkit.Problem`; other kinds need an explicit method.
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
        its only parameter's name) with an :class:`~scipy.optimize.OptimizeResult`, or as
        ``callback(xk)`` with a copy of the iterate. Raising :class:`StopIteration` ends the
        run with status 99.
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
    x0 = _starting_point(problem, x0)
    opts = _options(info, tol, options)
    backend = _check_backend(info, backend)
    counter = Counter()
    counted = _prepare_oracles(info, problem, counter)
    rng = np.random.default_rng(opts.seed)
    solver = info.solver(opts, rng=rng, backend=backend)
    driver = Driver(info, opts, counted, callback, counter, raw_problem=problem)
    return driver.run(solver, x0)


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


def _starting_point(problem: Any, x0: ArrayLike | None) -> NDArray[np.float64] | None:
    default = getattr(problem, "x0", None)
    if x0 is None:
        if default is None and isinstance(problem, Problem):
            raise ValueError("x0 is required: the problem has no default starting point")
        return None if default is None else default.copy()
    x0 = as_vector("x0", x0)
    if default is not None and x0.shape != default.shape:
        raise ValueError(
            f"'x0' has shape {x0.shape} but the problem's variables have shape {default.shape}"
        )
    return x0


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


# -- oracles and their counters ----------------------------------------------------------------


class Counter:
    """Evaluation counters, incremented by the wrapped oracles."""

    __slots__ = ("nfev", "njev", "nhev")

    def __init__(self) -> None:
        self.nfev = self.njev = self.nhev = 0


def _counted(fn: Callable, counter: Counter, keys: tuple[str, ...]) -> Callable:
    if keys == ("nfev",):
        def wrapped(*a):
            counter.nfev += 1
            return fn(*a)
    elif keys == ("njev",):
        def wrapped(*a):
            counter.njev += 1
            return fn(*a)
    elif keys == ("nhev",):
        def wrapped(*a):
            counter.nhev += 1
            return fn(*a)
    else:
        def wrapped(*a):
            counter.nfev += 1
            counter.njev += 1
            return fn(*a)
    return wrapped


def _prepare_oracles(info: MethodInfo, problem: Any, counter: Counter) -> Any:
    """The problem with counted oracles, a finite-difference gradient where needed."""
    if not isinstance(problem, Problem):
        return problem
    if "hess" in info.needs and not problem.has_hess:
        raise TypeError(f"method {info.name!r} needs Hessians: give hess or hessp")
    problem = _with_counters(problem, counter)
    if "grad" in info.needs and not problem.has_grad:
        value = problem.value
        fd = _counted(lambda x: approx_fprime(x, value), counter, ("njev",))
        object.__setattr__(problem, "grad", fd)  # on the run's own copy
    return problem


def _shape_error(oracle: str, got: tuple, expected: tuple, what: str) -> ValueError:
    return ValueError(f"{oracle} returned shape {got}, expected {expected} ({what})")


def _check_scalar(oracle: str, value: Any) -> None:
    if np.ndim(value) != 0:
        raise _shape_error(oracle, np.shape(value), (), "the objective must return a scalar")


def _check_like_x(oracle: str, value: Any, x: Any) -> None:
    if np.shape(value) != np.shape(x):
        raise _shape_error(oracle, np.shape(value), np.shape(x), "the shape of x")


def _check_oracle(name: str, out: Any, args: tuple) -> None:
    """Raise ``ValueError`` naming the oracle and both shapes when ``out`` has the wrong
    shape (NumPy's convention for shape mismatches)."""
    x = args[0]
    if name == "fun":
        _check_scalar("the objective (fun)", out)
    elif name == "grad":
        _check_like_x("the gradient (jac)", out, x)
    elif name == "fun_and_grad":
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"fun_and_grad (jac=True) must return a pair (f, g), got "
                            f"{type(out).__name__}")
        _check_scalar("the objective (fun)", out[0])
        _check_like_x("the gradient (jac)", out[1], x)
    elif name == "hessp":
        _check_like_x("the Hessian-vector product (hessp)", out, x)
    elif name == "hess" and np.shape(out) != (x.size, x.size):
        raise _shape_error("the Hessian (hess)", np.shape(out), (x.size, x.size),
                           "n x n for x of size n")


def _checked_once(counted: Problem, name: str, fn: Callable) -> Callable:
    """``fn``, whose first call checks the shape of what it returned and then puts ``fn``
    itself in the field (no check on the hot path)."""
    def first(*args):
        out = fn(*args)
        _check_oracle(name, out, args)
        object.__setattr__(counted, name, fn)
        return out
    return first


def _with_counters(problem: Problem, counter: Counter) -> Problem:
    """``problem`` with every oracle counted, mini-batches from ``sample`` included, and the
    shape of each oracle's first answer checked.

    A shallow copy with the oracle fields swapped: the problem was checked when it was built,
    and checking again (a symmetry test of a large ``Q``, say) would cost every run.
    """
    counted = copy.copy(problem)
    for name, keys in Problem.counted_oracles.items():
        fn = getattr(problem, name)
        if fn is not None:
            object.__setattr__(counted, name,
                               _checked_once(counted, name, _counted(fn, counter, keys)))
    if problem.hess_approx:
        object.__setattr__(counted, "hess_approx", {
            name: _counted(fn, counter, ("nhev",)) for name, fn in problem.hess_approx.items()})
    if problem.sample is not None:
        sample = problem.sample
        object.__setattr__(counted, "sample", lambda batch_size, rng: _with_counters(
            sample(batch_size, rng), counter))
    return counted


# -- the driver --------------------------------------------------------------------------------


def _wrap_callback(callback: Callable | None) -> Callable[[State, int], None] | None:
    """One calling convention for both SciPy callback forms."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    try:
        params = list(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = []
    if params == ["intermediate_result"]:
        def call(state: State, nit: int) -> None:
            res = OptimizeResult(x=state.x.copy(), fun=state.fun, nit=nit)
            if state.grad is not None:
                res["jac"] = state.grad.copy()
            callback(intermediate_result=res)
    else:
        def call(state: State, nit: int) -> None:
            callback(np.copy(state.x))
    return call


_INFINITIES = (math.inf, -math.inf)


def _finite_grad(state: State) -> bool:
    """Whether the state's gradient is finite (a NaN or inf entry makes its norm non-finite;
    an overflowing norm of finite entries is checked entry by entry)."""
    norm = state.grad_norm
    if norm == norm and norm != math.inf:
        return True
    return state.grad is None or bool(np.all(np.isfinite(state.grad)))


class Driver:
    """Runs one solver on one problem: the loop, limits, history, callback and result.

    Methods that override :meth:`~optkit.solvers.base.Solver.solve` call :meth:`observe`
    once per iteration and stop when it returns a status.
    """

    def __init__(self, info: MethodInfo, options: Any, problem: Any,
                 callback: Callable | None, counter: Counter, raw_problem: Any = None) -> None:
        self.info = info
        self.options = options
        self.problem = problem
        #: The problem with uncounted oracles, for bookkeeping evaluations that are not the
        #: method's (e.g. the starting value of a wrapped external solver's history).
        self.raw_problem = problem if raw_problem is None else raw_problem
        self.counter = counter
        self.callback = _wrap_callback(callback)
        self.history = History(f_opt=getattr(problem, "f_opt", None),
                               problem=getattr(problem, "name", ""), method=info.name)
        self.nit = 0
        self.last: State | None = None
        #: The recorded state with the lowest ``fun``, and its iteration.
        self.best: State | None = None
        self.best_nit = 0
        self.start = 0.0
        self.deadline = self.maxiter = math.inf
        self.progress = None

    # Hooks used by every method.

    def record(self, state: State, now: float | None = None) -> None:
        """Append ``state`` to the history as iteration ``self.nit``."""
        c = self.counter
        if now is None:
            now = time.perf_counter()
        row = {"nit": self.nit, "time": now - self.start, "fun": state.fun,
               "grad_norm": state.grad_norm, "nfev": c.nfev, "njev": c.njev, "nhev": c.nhev}
        row.update(state.record())
        self.history.append(row)
        self.last = state
        best = self.best
        if best is None or state.fun < best.fun:
            self.best, self.best_nit = state, self.nit

    def observe(self, state: State) -> Status | None:
        """Account for one accepted iteration; return a status when the run must stop.

        Checks, in order: non-finite value or gradient (the state is dropped and the last
        finite one kept), history, callback (``StopIteration``), ``maxiter``, ``max_time``.
        """
        fun = state.fun
        if fun != fun or fun in _INFINITIES or not _finite_grad(state):
            return Status.NONFINITE
        self.nit += 1
        now = time.perf_counter()
        self.record(state, now)
        if self.progress is not None:
            self.progress.update(1)
            self.progress.set_postfix(fun=f"{fun:.6g}", refresh=False)
        if self.callback is not None:
            try:
                self.callback(state, self.nit)
            except StopIteration:
                return Status.CALLBACK_STOP
        if self.nit >= self.maxiter:
            return Status.MAXITER
        if now >= self.deadline:
            return Status.MAXTIME
        return None

    def iterate(self, solver: Solver, problem: Any, x0: Any) -> tuple[State, Status | None]:
        """The step loop: ``init``, then ``step`` until a test or a limit ends it."""
        state = solver.init(problem, x0)
        self._check_first(state, x0)
        self.record(state)
        if not (math.isfinite(state.fun) and _finite_grad(state)):
            return state, Status.NONFINITE
        done, status = solver.terminate(problem, state)
        if done:
            return state, status
        if self.options.maxiter == 0:
            return state, Status.MAXITER
        step, terminate, observe = solver.step, solver.terminate, self.observe
        while True:
            new = step(problem, state)
            if new.status is not None and new.x is state.x:  # could not move: no iteration
                if new.message is not None:
                    state = dataclasses.replace(state, message=new.message)
                return state, new.status
            stop = observe(new)
            if stop is Status.NONFINITE:
                return state, stop
            state = new
            if stop is Status.CALLBACK_STOP:
                return state, stop
            if state.status is not None:
                return state, state.status
            done, status = terminate(problem, state)
            if done:
                return state, status
            if stop is not None:
                return state, stop

    # The run.

    def run(self, solver: Solver, x0: Any) -> OptimizeResult:
        """Run ``solver`` from ``x0`` and build the result."""
        opts = self.options
        show = opts.disp or self.info.long_running
        if show:
            from tqdm.auto import tqdm

            self.progress = tqdm(total=opts.maxiter, desc=self.info.name, leave=False)
        self.maxiter = math.inf if opts.maxiter is None else opts.maxiter
        self.start = time.perf_counter()
        self.deadline = self.start + opts.max_time
        try:
            state, status = solver.solve(self.problem, x0, self)
        finally:
            if self.progress is not None:
                self.progress.close()
        if status is None:
            status = Status.MAXITER
        return self._result(solver, state, Status(status))

    def _check_first(self, state: State, x0: Any) -> None:
        """Check what the user's oracles returned at the starting point."""
        _check_scalar("the objective (fun)", state.fun)
        object.__setattr__(state, "fun", float(state.fun))
        if state.grad is not None:
            _check_like_x("the gradient (jac)", state.grad, state.x)

    def _result(self, solver: Solver, state: State, status: Status) -> OptimizeResult:
        fields = solver.postprocess(self.problem, state, status)
        note = ""
        best = self.best
        if best is not None and best.fun < state.fun and solver.returns_best():
            # x, fun and jac of the best iterate; the method's other fields describe the run
            fields.update({k: v for k, v in solver.postprocess(self.problem, best, status)
                           .items() if k in ("x", "fun", "jac")})
            note = (f" The last iterate (f = {state.fun:.6g}) is worse than iteration "
                    f"{self.best_nit} (f = {fields['fun']:.6g}): x is that best iterate.")
        c = self.counter
        res = OptimizeResult(
            fields,
            nit=self.nit,
            nfev=c.nfev,
            njev=c.njev,
            nhev=c.nhev,
            status=int(status),
            success=status is Status.SUCCESS,
            message=(fields.pop("message", None) or state.message or status.message) + note,
            method=self.info.name,
            options=self.options.as_dict(),
            history=self.history,
        )
        if self.options.disp:
            print(_disp_summary(res))
        return res


def _disp_summary(res: OptimizeResult) -> str:
    """SciPy's ``disp=True`` summary of a result."""
    return (f"{res.message}\n"
            f"         Current function value: {res.fun:f}\n"
            f"         Iterations: {res.nit:d}\n"
            f"         Function evaluations: {res.nfev:d}\n"
            f"         Gradient evaluations: {res.njev:d}")
