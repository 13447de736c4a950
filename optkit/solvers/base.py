"""What a method is made of: its :class:`Options`, its :class:`State` and its :class:`Solver`.

A method is a :class:`Solver` subclass with ``init`` and ``step`` (and optionally
``terminate`` and ``postprocess``), a frozen :class:`Options` dataclass whose fields carry the
defaults and their documentation (built with :func:`option`), and a frozen :class:`State`
dataclass. One ``@register(...)`` line (:mod:`optkit.registry`) makes it reachable from
:func:`optkit.minimize`; the shared driver does everything else (iteration limits, time limit,
callback, history, progress bar, seeding, the non-finite guard, evaluation counting).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from optkit._checks import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    Bool,
    Constraint,
    Interval,
    IsCallable,
    OneOf,
    make_constraint,
)
from optkit.result import Status
from optkit.stopping import gradient_small

if TYPE_CHECKING:
    from optkit.problem import Problem
    from optkit.registry import MethodInfo

__all__ = ["Options", "State", "Solver", "Run", "option", "option_checks", "Interval", "OneOf",
           "Bool", "IsCallable", "POSITIVE", "NON_NEGATIVE", "POSITIVE_INT"]

_GO_ON = (False, Status.SUCCESS)


def option(default: Any, doc: str, check: Any = None) -> Any:
    """A field of an :class:`Options` dataclass: its default, a one-paragraph description and
    the values it accepts.

    The description is what :func:`optkit.show_options` prints and what the docs show.
    ``check`` is a constraint (``Interval(0, 1, closed="left")``, ``OneOf("a", "b")``,
    ``Bool()``, ``POSITIVE``, ...; all importable from this module) or a tuple of
    alternatives, where ``None`` stands for the value ``None`` and a type for its instances.
    :class:`Options` checks every field against it when built, and
    :func:`optkit.show_options` prints it after the default. A field redeclared (to change
    its default) without ``check`` keeps its parent's.
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError("option defaults must be immutable (use a tuple)")
    metadata = {"doc": doc}
    if check is not None:
        metadata["check"] = make_constraint(check)
    return field(default=default, metadata=metadata)


@functools.cache
def option_checks(options: type[Options]) -> dict[str, Constraint]:
    """The constraint of each checked field of an :class:`Options` class, by name.

    A field redeclared without ``check`` keeps the one of the nearest parent that has one.
    """
    checks = {}
    for f in dataclasses.fields(options):
        for cls in options.__mro__:
            own = cls.__dict__.get("__dataclass_fields__", {}).get(f.name)
            if own is not None and "check" in own.metadata:
                checks[f.name] = own.metadata["check"]
                break
    return checks


@dataclass(frozen=True, kw_only=True)
class Options:
    """Options every method accepts. Subclass it (as a frozen, keyword-only dataclass) to add a
    method's own options, and override a default by redeclaring the field."""

    maxiter: int = option(1000, "Maximum number of iterations.",
                          check=(Interval(0, None, integer=True), None))
    max_time: float = option(math.inf, "Wall-clock limit in seconds; the run then stops with "
                                       "status 4.", check=POSITIVE)
    disp: bool = option(False, "Print a summary at the end and show a progress bar.",
                        check=Bool())
    seed: int | None = option(None, "Seed of the random generator the method draws from.",
                              check=(Interval(integer=True), None))

    def __post_init__(self) -> None:
        """Check every field against its ``check`` (``ValueError`` naming the option).

        A subclass overrides this only for constraints between fields, after calling
        ``super().__post_init__()``.
        """
        for name, constraint in option_checks(type(self)).items():
            constraint.validate(getattr(self, name), f"option {name!r}")

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain dict (``res.options``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class State:
    """The state of a method after an iteration.

    Methods subclass it (frozen dataclass) with their own fields, and override
    :meth:`record` to put the ones worth plotting into the history. A state is never changed
    in place, and neither are its arrays: ``step`` returns a new state.

    Parameters
    ----------
    x : ndarray
        The current iterate.
    fun : float
        The objective at ``x`` (exactly ``problem.objective(x)`` for deterministic methods).
    grad : ndarray or None
        The gradient at ``x``, when the method has it.
    status : Status or None
        Set by ``step`` to end the run with that status (``None``: go on). A step that
        cannot move returns the previous ``x`` object itself with a status; the driver then
        does not count it as an iteration.
    message : str or None
        With ``status``: why the run ends, when the status's own message does not say it
        (``res.message``).
    """

    x: NDArray[np.float64]
    fun: float
    grad: NDArray[np.float64] | None = None
    status: Status | None = None
    message: str | None = field(default=None, kw_only=True)

    #: ``‖grad‖₂`` (``NaN`` without a gradient), computed once when the state is made.
    grad_norm: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        g = self.grad
        object.__setattr__(self, "grad_norm", math.nan if g is None else math.sqrt(np.dot(g, g)))

    def record(self) -> dict[str, Any]:
        """The method's own history columns for this iteration."""
        return {}


class Run(Protocol):
    """What a solver sees of the driver running it (:class:`optkit._driver.Driver`).

    A step-loop method only meets it in :meth:`Solver.solve`'s default body. A method that
    overrides :meth:`Solver.solve` calls :meth:`record` for its starting state and
    :meth:`observe` once per iteration, and stops when ``observe`` returns a status.
    """

    #: The problem with uncounted oracles, for bookkeeping evaluations that are not the
    #: method's.
    raw_problem: Any
    #: The last state recorded.
    last: State | None
    #: The iteration limit (``math.inf`` without one).
    maxiter: float

    def record(self, state: State) -> None:
        """Append ``state`` to the history (the starting state, iteration 0)."""

    def observe(self, state: State) -> Status | None:
        """Account for one accepted iteration; a status when the run must stop."""

    def iterate(self, solver: Solver, problem: Any, x0: Any,
                **starts: Any) -> tuple[State, Status | None]:
        """The shared step loop over ``solver.init`` and ``solver.step``."""


class Solver:
    """Base class of every method.

    A solver holds its options and nothing else that a run changes: everything a run
    computes lives in its :class:`State` (or in a per-run workspace the state owns), so one
    solver object runs any number of times, or in several threads at once, alike.

    Parameters
    ----------
    options : Options, optional
        The method's options, checked, defaults filled in (default: every default).
    backend : str
        ``"numpy"`` or, for methods that have one, ``"torch"``.

    Notes
    -----
    A subclass defines

    - ``init(problem, x0) -> State``: the state at the starting point (bilevel methods also
      take ``y0``);
    - ``step(problem, state) -> State``: one accepted iteration (line-search trials and
      inner solves stay inside it and show up as history columns);

    and may override :meth:`terminate` and :meth:`postprocess`. A method whose natural form
    is not a step loop (a wrapped external solver, a training phase) overrides :meth:`solve`
    instead and reports every iteration to ``run.observe(state)`` (:class:`Run`), so that
    history, callback and limits behave the same. A method that draws random numbers takes
    one generator per run from :meth:`generator`.
    """

    #: Set by :func:`optkit.registry.register`.
    info: ClassVar[MethodInfo]

    #: Whether the driver may return the best iterate of a run when the last one is worse
    #: (see :meth:`returns_best`). Methods whose result is more than the iterate (the
    #: solution of a convex program with its certificate, read from the solver's run) set
    #: it to ``False``.
    may_return_best: ClassVar[bool] = True

    def __init__(self, options: Options | None = None, backend: str = "numpy"):
        if options is None:
            options = self.info.make_options({})
        if not isinstance(options, Options):
            raise TypeError(f"options must be an Options instance, got "
                            f"{type(options).__name__}")
        self.options = options
        self.backend = backend
        self._gtol = getattr(options, "gtol", None)

    def generator(self) -> np.random.Generator:
        """A new random generator seeded by ``options.seed``: a method that draws random
        numbers takes one per run (in ``init``) and keeps it in its state, so that runs with
        a seed repeat exactly."""
        return np.random.default_rng(self.options.seed)

    def terminate(self, problem: Problem, state: State) -> tuple[bool, Status]:
        """Whether the method's own convergence test holds.

        The default is the shared gradient test :func:`optkit.stopping.gradient_small`:
        ``‖grad‖∞ <= gtol`` when the options have a ``gtol`` and the state a gradient.
        """
        gtol = self._gtol
        if gtol is None or state.grad is None:
            return _GO_ON
        return gradient_small(state.grad, gtol, state.grad_norm), Status.SUCCESS

    def returns_best(self) -> bool:
        """Whether the driver returns the best iterate of the run when the last one is worse.

        ``True`` for full-gradient runs (``res.fun <= f(x0)`` then holds for every method);
        stochastic runs, whose ``state.fun`` is a mini-batch loss, keep the last iterate.
        """
        return self.may_return_best and getattr(self.options, "batch_size", None) is None

    def postprocess(self, problem: Problem, state: State, status: Status) -> dict[str, Any]:
        """Result fields from the final state: ``x``, ``fun``, ``jac`` by default."""
        return {"x": state.x, "fun": state.fun, "jac": state.grad}

    def solve(self, problem: Problem, x0: NDArray[np.float64] | None, run: Run,
              **starts: Any) -> tuple[State, Status | None]:
        """Run the method: by default the driver's step loop over ``init`` and ``step``.

        Returns the final state and the status the method ended with (``None`` when the
        driver's limits decided).
        """
        return run.iterate(self, problem, x0, **starts)
