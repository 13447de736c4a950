"""The shared driver: the loop, limits, history, callback, evaluation counting and the result.

Every method runs through :class:`Driver`, in this order: ``state = init``; ``terminate`` (a
converged start gives ``nit = 0``); then loop {``step``; non-finite guard; history; callback;
``terminate``; ``maxiter``; ``max_time``}; ``postprocess``; the
:class:`scipy.optimize.OptimizeResult`. Solvers see the driver only through the
:class:`~optkit.solvers.base.Run` protocol.

Evaluation counting is declared by each problem kind: its ``counted_oracles`` name the
oracle fields and the counter each call increments (``nfev``, ``njev``, ``nhev`` for a
:class:`~optkit.Problem`; the lower-level counters of a :class:`~optkit.BilevelProblem`).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from optkit._checks import _shape_error, check_like, check_scalar
from optkit.result import History, Status
from optkit.solvers.base import Solver, State

__all__ = ["Driver", "Counter", "counted", "counted_call"]

#: The counters every result has (SciPy's), whatever the problem kind.
SCIPY_COUNTERS = ("nfev", "njev", "nhev")


# -- evaluation counting -----------------------------------------------------------------------


class Counter:
    """Evaluation counters, incremented by the wrapped oracles: SciPy's ``nfev``, ``njev``
    and ``nhev`` (slots: the hot path of every run), and in ``extra`` those a problem kind
    adds (:func:`counter_names`)."""

    __slots__ = ("nfev", "njev", "nhev", "extra")

    def __init__(self, names: Iterable[str] = SCIPY_COUNTERS) -> None:
        self.nfev = self.njev = self.nhev = 0
        self.extra = {name: 0 for name in names if name not in SCIPY_COUNTERS}

    def as_dict(self) -> dict[str, int]:
        """Every counter by name, SciPy's first."""
        return {"nfev": self.nfev, "njev": self.njev, "nhev": self.nhev, **self.extra}


def counter_names(problem: Any) -> tuple[str, ...]:
    """The counters of a problem kind: SciPy's, then those its ``counted_oracles`` name."""
    names = dict.fromkeys(SCIPY_COUNTERS)
    for keys in getattr(problem, "counted_oracles", {}).values():
        names.update(dict.fromkeys(keys))
    return tuple(names)


def counted_call(fn: Callable, counter: Counter, keys: tuple[str, ...]) -> Callable:
    """``fn``, incrementing the counters ``keys`` at each call (the common cases without a
    loop: the wrapper runs at every evaluation)."""
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
    elif keys == ("nfev", "njev"):
        def wrapped(*a):
            counter.nfev += 1
            counter.njev += 1
            return fn(*a)
    else:
        scipy_keys = [k for k in keys if k in SCIPY_COUNTERS]
        extra_keys = [k for k in keys if k not in SCIPY_COUNTERS]
        extra = counter.extra

        def wrapped(*a):
            for key in scipy_keys:
                setattr(counter, key, getattr(counter, key) + 1)
            for key in extra_keys:
                extra[key] += 1
            return fn(*a)
    return wrapped


def counted(problem: Any, counter: Counter) -> Any:
    """``problem`` with every oracle its kind counts wrapped by a counter, mini-batches from
    its samplers included, and the shape of each oracle's first answer checked.

    A shallow copy with the oracle fields swapped: the problem was checked when it was built,
    and checking again (a symmetry test of a large ``Q``, say) would cost every run. Kinds
    without counted oracles (a :class:`~optkit.LinearSystem`) are returned as they are.
    """
    oracles = getattr(problem, "counted_oracles", {})
    if not oracles:
        return problem
    copied = copy.copy(problem)
    for name, keys in oracles.items():
        fn = getattr(problem, name)
        if fn is not None:
            object.__setattr__(copied, name,
                               _checked_once(copied, name, counted_call(fn, counter, keys)))
    approx = getattr(problem, "hess_approx", None)
    if approx:
        object.__setattr__(copied, "hess_approx", {
            name: counted_call(fn, counter, ("nhev",)) for name, fn in approx.items()})
    for name in getattr(problem, "samplers", ()):
        sample = getattr(problem, name)
        if sample is not None:
            object.__setattr__(copied, name, _counted_sampler(sample, counter))
    return copied


def _counted_sampler(sample: Callable, counter: Counter) -> Callable:
    return lambda batch_size, rng: counted(sample(batch_size, rng), counter)


#: Bilevel oracles whose answer has the shape of one argument: its position.
_LIKE_ARGUMENT = {"lower_grad_y": 1, "lower_grad_x": 0, "lower_hvp_yy": 1, "lower_hvp_xy": 0,
                  "constraints_jvp_x": 0, "constraints_jvp_y": 1}


def _check_oracle(name: str, out: Any, args: tuple) -> None:
    """Raise ``ValueError`` naming the oracle and both shapes when ``out`` has the wrong
    shape (NumPy's convention for shape mismatches)."""
    x = args[0]
    if name in _LIKE_ARGUMENT:
        which = _LIKE_ARGUMENT[name]
        check_like(name, out, args[which], f"the shape of {'xy'[which]}")
    elif name in ("upper_fun", "lower_fun"):
        check_scalar(name, out)
    elif name == "upper_grad":
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"upper_grad must return a pair (grad_x F, grad_y F), got "
                            f"{type(out).__name__}")
        check_like("upper_grad (its x part)", out[0], args[0], "the shape of x")
        check_like("upper_grad (its y part)", out[1], args[1], "the shape of y")
    elif name == "fun":
        check_scalar("the objective (fun)", out)
    elif name == "grad":
        check_like("the gradient (jac)", out, x, "the shape of x")
    elif name == "fun_and_grad":
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"fun_and_grad (jac=True) must return a pair (f, g), got "
                            f"{type(out).__name__}")
        check_scalar("the objective (fun)", out[0])
        check_like("the gradient (jac)", out[1], x, "the shape of x")
    elif name == "hessp":
        check_like("the Hessian-vector product (hessp)", out, x, "the shape of x")
    elif name == "hess" and np.shape(out) != (x.size, x.size):
        raise _shape_error("the Hessian (hess)", np.shape(out), (x.size, x.size),
                           "n x n for x of size n")


def _checked_once(counted_problem: Any, name: str, fn: Callable) -> Callable:
    """``fn``, whose first call checks the shape of what it returned and then puts ``fn``
    itself in the field (no check on the hot path)."""
    def first(*args):
        out = fn(*args)
        _check_oracle(name, out, args)
        object.__setattr__(counted_problem, name, fn)
        return out
    return first


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
            res = OptimizeResult(x=_copy(state.x), fun=state.fun, nit=nit)
            if state.grad is not None:
                res["jac"] = _copy(state.grad)
            if getattr(state, "y", None) is not None:  # a bilevel method's lower iterate
                res["y"] = _copy(state.y)
            callback(intermediate_result=res)
    else:
        def call(state: State, nit: int) -> None:
            callback(_copy(state.x))
    return call


def _copy(x: Any) -> np.ndarray:
    """A NumPy copy of an iterate: an array, or a torch tensor on any device (the torch
    backends' iterates)."""
    return x.detach().cpu().numpy().copy() if hasattr(x, "detach") else np.copy(x)


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

    One driver per run; it implements :class:`~optkit.solvers.base.Run`, what a solver sees.
    Methods that override :meth:`~optkit.solvers.base.Solver.solve` call :meth:`observe`
    once per iteration and stop when it returns a status.

    Parameters
    ----------
    info : MethodInfo
        The method's registry entry.
    options : Options
        The run's options.
    problem : problem object
        The problem with counted oracles (:func:`counted`).
    callback : callable or None
        The user's callback, in either SciPy form.
    counter : Counter
        The counters the problem's oracles increment.
    raw_problem : problem object, optional
        The problem with uncounted oracles, for bookkeeping evaluations that are not the
        method's (e.g. the starting value of a wrapped external solver's history).
    """

    def __init__(self, info: Any, options: Any, problem: Any,
                 callback: Callable | None, counter: Counter, raw_problem: Any = None) -> None:
        self.info = info
        self.options = options
        self.problem = problem
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

    # The Run protocol.

    def record(self, state: State, now: float | None = None) -> None:
        """Append ``state`` to the history as iteration ``self.nit``."""
        c = self.counter
        if now is None:
            now = time.perf_counter()
        row = {"nit": self.nit, "time": now - self.start, "fun": state.fun,
               "grad_norm": state.grad_norm, "nfev": c.nfev, "njev": c.njev, "nhev": c.nhev}
        if c.extra:
            row.update(c.extra)
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

    def iterate(self, solver: Solver, problem: Any, x0: Any,
                **starts: Any) -> tuple[State, Status | None]:
        """The step loop: ``init``, then ``step`` until a test or a limit ends it."""
        state = solver.init(problem, x0, **starts)
        self._check_first(state)
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

    def run(self, solver: Solver, x0: Any, **starts: Any) -> OptimizeResult:
        """Run ``solver`` from ``x0`` (and the other variables' ``starts``) and build the
        result."""
        opts = self.options
        show = opts.disp or self.info.long_running
        if show:
            from tqdm.auto import tqdm

            self.progress = tqdm(total=opts.maxiter, desc=self.info.name, leave=False)
        self.maxiter = math.inf if opts.maxiter is None else opts.maxiter
        self.start = time.perf_counter()
        self.deadline = self.start + opts.max_time
        try:
            state, status = solver.solve(self.problem, x0, self, **starts)
        finally:
            if self.progress is not None:
                self.progress.close()
        if status is None:
            status = Status.MAXITER
        return self._result(solver, state, Status(status))

    def _check_first(self, state: State) -> None:
        """Check what the user's oracles returned at the starting point."""
        check_scalar("the objective (fun)", state.fun)
        object.__setattr__(state, "fun", float(state.fun))
        if state.grad is not None:
            check_like("the gradient (jac)", state.grad, state.x, "the shape of x")

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
        res = OptimizeResult(
            fields,
            nit=self.nit,
            **self.counter.as_dict(),
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
