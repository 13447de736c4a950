"""Declarative constraints on option values (in the spirit of scikit-learn's
``_parameter_constraints``).

A constraint says which values an option accepts, and renders itself twice: for the error
message (:meth:`Constraint.describe`: ``"a number > 0"``) and for the documentation
(:meth:`Constraint.doc`: ``"> 0"``, what :func:`optkit.show_options` prints after the
default). :func:`optkit.solvers.base.option` takes one as ``check=``; a tuple of them means
"any of these", where ``None`` stands for the value ``None`` and a type ``T`` for
``InstanceOf(T)``::

    gtol: float = option(1e-5, "...", check=Interval(0, None, closed="left"))
    batch_size: int | None = option(None, "...",
                                    check=(Interval(1, None, closed="left", integer=True), None))
    norm: str = option("l2", "...", check=OneOf("l2", "l1_code"))

:meth:`Constraint.validate` raises ``ValueError("<name> must be <describe>, got <value!r>")``.
"""

from __future__ import annotations

import abc
import math
import numbers
from typing import Any

import numpy as np

__all__ = ["Constraint", "Interval", "OneOf", "Bool", "IsCallable", "InstanceOf", "Matrix",
           "AnyOf", "make_constraint", "POSITIVE", "NON_NEGATIVE", "POSITIVE_INT"]

_CLOSED = ("neither", "left", "right", "both")


class Constraint(abc.ABC):
    """A set of accepted values, with its description for messages and docs."""

    @abc.abstractmethod
    def ok(self, value: Any) -> bool:
        """Whether ``value`` is accepted."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The accepted values, for an error message (``"a number > 0"``)."""

    def doc(self) -> str:
        """The accepted values, for the documentation (``"> 0"``; empty when the option's
        type already says it all)."""
        return self.describe()

    def message(self, value: Any) -> str:
        """What ``value`` should have been (by default :meth:`describe`)."""
        return self.describe()

    def validate(self, value: Any, name: str) -> None:
        """Raise ``ValueError("<name> must be ..., got <value!r>")`` unless ``value`` is ok."""
        if not self.ok(value):
            raise ValueError(f"{name} must be {self.message(value)}, got {value!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.doc() or self.describe()!r})"


class Interval(Constraint):
    """A real number (or an integer with ``integer=True``) between ``low`` and ``high``.

    ``None`` for a bound means no bound (``inf`` then passes the check, as ``max_time=inf``
    should); ``closed`` says which bounds belong to the interval. Booleans are not numbers
    here, and NaN is never inside.
    """

    def __init__(self, low: float | None = None, high: float | None = None, *,
                 closed: str = "both", integer: bool = False) -> None:
        if closed not in _CLOSED:
            raise ValueError(f"closed must be one of {_CLOSED}, got {closed!r}")
        if low is not None and high is not None and low > high:
            raise ValueError(f"Interval needs low <= high, got {low} > {high}")
        self.low, self.high, self.closed, self.integer = low, high, closed, integer

    @property
    def left_closed(self) -> bool:
        return self.closed in ("left", "both")

    @property
    def right_closed(self) -> bool:
        return self.closed in ("right", "both")

    def kind_ok(self, value: Any) -> bool:
        """Whether ``value`` is of the right kind (an integer, or a real number), bounds aside."""
        kind = numbers.Integral if self.integer else numbers.Real
        return isinstance(value, kind) and not isinstance(value, (bool, np.bool_))

    def ok(self, value: Any) -> bool:
        if not self.kind_ok(value) or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.low is not None and not (value >= self.low if self.left_closed
                                         else value > self.low):
            return False
        return self.high is None or (value <= self.high if self.right_closed
                                     else value < self.high)

    def _bounds(self) -> str:
        low, high = self.low, self.high
        if (low is not None and high is not None and math.isfinite(low)
                and math.isfinite(high) and not self.right_closed):
            return f"in {'[' if self.left_closed else '('}{low:g}, {high:g})"
        parts = []
        if low is not None:
            parts.append(f"{'>=' if self.left_closed else '>'} {low:g}")
        if high is not None:
            parts.append(f"{'<=' if self.right_closed else '<'} {high:g}")
        return " and ".join(parts)

    def describe(self) -> str:
        bounds = self._bounds()
        kind = "an integer" if self.integer else "a number"
        if bounds.startswith("in ") and not self.integer:
            return bounds  # "in [0, 1)"
        return f"{kind} {bounds}".rstrip()

    def doc(self) -> str:
        return self._bounds()


class OneOf(Constraint):
    """One of the given values (compared with ``==``)."""

    def __init__(self, *choices: Any) -> None:
        if not choices:
            raise ValueError("OneOf needs at least one choice")
        self.choices = choices

    def ok(self, value: Any) -> bool:
        try:
            return value in self.choices
        except (TypeError, ValueError):  # an array compared with the choices
            return False

    def describe(self) -> str:
        if len(self.choices) == 1:
            return repr(self.choices[0])
        return f"one of {self.choices!r}"

    def doc(self) -> str:
        return "{" + ", ".join(map(repr, self.choices)) + "}"


class Bool(Constraint):
    """``True`` or ``False`` (a Python or NumPy bool)."""

    def ok(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "a bool"

    def doc(self) -> str:
        return ""  # the option's type, bool, says it


class IsCallable(Constraint):
    """A callable."""

    def ok(self, value: Any) -> bool:
        return callable(value)

    def describe(self) -> str:
        return "a callable"


class InstanceOf(Constraint):
    """An instance of one of the given types; ``what`` names them in messages."""

    def __init__(self, *types: type, what: str | None = None) -> None:
        self.types = types
        names = [t.__name__ for t in types]
        self.what = what or " or ".join(
            f"{'an' if n[0].lower() in 'aeiou' else 'a'} {n}" for n in names)

    def ok(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def describe(self) -> str:
        return self.what


class Matrix(Constraint):
    """A matrix (anything but a string: it is converted and checked where it is used)."""

    def ok(self, value: Any) -> bool:
        return not isinstance(value, str)

    def describe(self) -> str:
        return "a matrix"


class _IsNone(Constraint):
    """The value ``None`` (written ``None`` in a tuple of alternatives)."""

    def ok(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"

    def __repr__(self) -> str:
        return "None"


class AnyOf(Constraint):
    """Any of the alternatives (what a tuple given as ``check=`` becomes)."""

    def __init__(self, *alternatives: Any) -> None:
        self.alternatives = tuple(make_constraint(a) for a in alternatives)

    def ok(self, value: Any) -> bool:
        return any(a.ok(value) for a in self.alternatives)

    def describe(self) -> str:
        return _join([a.describe() for a in self.alternatives])

    def message(self, value: Any) -> str:
        # a number of the right kind that is out of range: its interval says what is wrong
        for a in self.alternatives:
            if isinstance(a, Interval) and a.kind_ok(value):
                return a.describe()
        return self.describe()

    def doc(self) -> str:
        parts = [a.doc() for a in self.alternatives]
        if all(not p or p == "None" for p in parts):
            return ""  # e.g. any integer or None: the option's type says it
        return _join([p for p in parts if p])

    def __repr__(self) -> str:
        return repr(self.alternatives)


#: The common intervals: x > 0, x >= 0, and an integer >= 1.
POSITIVE = Interval(0, None, closed="neither")
NON_NEGATIVE = Interval(0, None)
POSITIVE_INT = Interval(1, None, integer=True)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"


def make_constraint(spec: Any) -> Constraint:
    """The constraint ``spec`` stands for: itself, ``None`` (the value None), a type
    (:class:`InstanceOf`), or a tuple of these (:class:`AnyOf`)."""
    if isinstance(spec, Constraint):
        return spec
    if spec is None:
        return _IsNone()
    if isinstance(spec, type):
        return InstanceOf(spec)
    if isinstance(spec, tuple):
        return AnyOf(*spec)
    raise TypeError(f"a check must be a Constraint, None, a type or a tuple of them, "
                    f"got {spec!r}")


def _shape_error(oracle: str, got: tuple, expected: tuple, what: str) -> ValueError:
    return ValueError(f"{oracle} returned shape {got}, expected {expected} ({what})")


def check_scalar(oracle: str, value: Any) -> None:
    """``ValueError`` naming ``oracle`` unless ``value`` is a scalar."""
    if np.ndim(value) != 0:
        raise _shape_error(oracle, np.shape(value), (), "the objective must return a scalar")


def check_like(oracle: str, value: Any, x: Any, what: str) -> None:
    """``ValueError`` naming ``oracle`` unless ``value`` has the shape of ``x``."""
    if np.shape(value) != np.shape(x):
        raise _shape_error(oracle, np.shape(value), np.shape(x), what)
