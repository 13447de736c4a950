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
import math
import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from optkit.result import Status
from optkit.stopping import gradient_small

if TYPE_CHECKING:
    from optkit._minimize import Driver
    from optkit.problem import Problem
    from optkit.registry import MethodInfo

__all__ = ["Options", "State", "Solver", "option"]

_GO_ON = (False, Status.SUCCESS)


def option(default: Any, doc: str) -> Any:
    """A field of an :class:`Options` dataclass: its default and a one-paragraph description.

    The description is what :func:`optkit.show_options` prints and what the docs show.
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError("option defaults must be immutable (use a tuple)")
    return field(default=default, metadata={"doc": doc})


def check_option(options: Options, name: str, *, low: float = 0.0, strict: bool = True,
                 high: float = math.inf, integer: bool = False, none: bool = False) -> None:
    """Raise ``ValueError`` naming the option unless ``low < value <= high`` (``<=`` when not
    ``strict``), an integer when ``integer``, or ``None`` when ``none`` allows it."""
    value = getattr(options, name)
    if value is None and none:
        return
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))
    if ok:
        ok = (value > low if strict else value >= low) and value <= high
    if not ok:
        what = "an integer" if integer else "a number"
        bound = f"> {low:g}" if strict else f">= {low:g}"
        if high < math.inf:
            bound += f" and <= {high:g}"
        raise ValueError(f"option {name!r} must be {what} {bound}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Options:
    """Options every method accepts. Subclass it (as a frozen, keyword-only dataclass) to add a
    method's own options, and override a default by redeclaring the field."""

    maxiter: int = option(1000, "Maximum number of iterations.")
    max_time: float = option(math.inf, "Wall-clock limit in seconds; the run then stops with "
                                       "status 4.")
    disp: bool = option(False, "Print a summary at the end and show a progress bar.")
    seed: int | None = option(None, "Seed of the random generator the method draws from.")

    def __post_init__(self) -> None:
        check_option(self, "maxiter", strict=False, integer=True, none=True)
        check_option(self, "max_time")
        if not isinstance(self.disp, (bool, np.bool_)):
            raise ValueError(f"option 'disp' must be a bool, got {self.disp!r}")
        if self.seed is not None and not isinstance(self.seed, numbers.Integral):
            raise ValueError(f"option 'seed' must be an integer or None, got {self.seed!r}")

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


class Solver:
    """Base class of every method.

    The driver builds one solver per run with the checked options and a seeded generator,
    then calls ``init`` once and ``step`` until ``terminate`` says so or a limit is hit.

    Parameters
    ----------
    options : Options
        The method's options, checked, defaults filled in.
    rng : numpy.random.Generator
        The run's random generator (seeded by ``options.seed``).
    backend : str
        ``"numpy"`` or, for methods that have one, ``"torch"``.

    Notes
    -----
    A subclass defines

    - ``init(problem, x0) -> State``: the state at the starting point;
    - ``step(problem, state) -> State``: one accepted iteration (line-search trials and
      inner solves stay inside it and show up as history columns);

    and may override :meth:`terminate` and :meth:`postprocess`. A method whose natural form
    is not a step loop (a wrapped external solver, a training phase) overrides :meth:`solve`
    instead and reports every iteration to ``driver.observe(state)``, so that history,
    callback and limits behave the same.
    """

    #: Set by :func:`optkit.registry.register`.
    info: ClassVar[MethodInfo]

    #: Whether the driver may return the best iterate of a run when the last one is worse
    #: (see :meth:`returns_best`). Methods whose result is more than the iterate (the
    #: solution of a convex program with its certificate, read from the solver's run) set
    #: it to ``False``.
    may_return_best: ClassVar[bool] = True

    def __init__(self, options: Options, rng: np.random.Generator, backend: str = "numpy"):
        self.options = options
        self.rng = rng
        self.backend = backend
        self._gtol = getattr(options, "gtol", None)

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

    def solve(self, problem: Problem, x0: NDArray[np.float64] | None,
              driver: Driver) -> tuple[State, Status | None]:
        """Run the method: by default the driver's step loop over ``init`` and ``step``.

        Returns the final state and the status the method ended with (``None`` when the
        driver's limits decided).
        """
        return driver.iterate(self, problem, x0)
