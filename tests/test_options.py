"""Options validated from each field's ``check``: every registered method refuses a bad value
of every constrained option with a ValueError naming it, accepts its defaults, and
``show_options`` prints each constraint."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import optkit
from optkit._checks import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    AnyOf,
    Bool,
    Constraint,
    InstanceOf,
    Interval,
    IsCallable,
    Matrix,
    OneOf,
    make_constraint,
)
from optkit.convex_relu._admm_checks import ADMM_CHECKS
from optkit.convex_relu.admm import ADMM
from optkit.registry import MethodInfo
from optkit.solvers.base import Options, Solver, option, option_checks

METHODS = optkit.registry.names(expand_families=True)


def _bad_values(c: Constraint) -> list[Any]:
    """Values that ``c`` refuses, made from its own description of what it accepts."""
    if isinstance(c, AnyOf):
        values = [v for a in c.alternatives for v in _bad_values(a)]
    elif isinstance(c, Interval):
        values = ["1", True, None]
        if not c.integer:
            values.append(math.nan)
        for bound, step in ((c.low, -1), (c.high, 1)):
            if bound is not None and math.isfinite(bound):
                values += [bound + step, bound]  # outside; the bound itself when open
            elif bound is not None:
                values.append(bound)  # an open infinite bound: inf itself is outside
        if c.integer:
            values.append((c.low if c.low is not None and math.isfinite(c.low) else 0) + 1.5)
    elif isinstance(c, OneOf):
        values = ["no such choice", None]
    elif isinstance(c, Bool):
        values = ["yes", 1, None]
    elif isinstance(c, (IsCallable, InstanceOf)):
        values = [3, "x", None]
    elif isinstance(c, Matrix):
        values = ["not a matrix"]
    else:
        values = [object(), "x", 1, None]
    return [v for v in values if not c.ok(v)]


def _constrained() -> list[tuple[str, str, Constraint]]:
    return [(method, name, check) for method in METHODS
            for name, check in option_checks(optkit.registry.get(method).options).items()]


CONSTRAINED = _constrained()


def test_every_method_has_checked_options():
    for method in METHODS:
        names = option_checks(optkit.registry.get(method).options)
        assert {"maxiter", "max_time", "disp", "seed"} <= set(names), method


@pytest.mark.parametrize("method, name, check", CONSTRAINED,
                         ids=[f"{m}-{n}" for m, n, _ in CONSTRAINED])
def test_bad_value_is_refused_naming_the_option(method, name, check):
    info = optkit.registry.get(method)
    bad = _bad_values(check)
    assert bad, f"no value is refused by {check!r}"
    for value in bad:
        with pytest.raises(ValueError, match=re.escape(f"option {name!r} must be ")) as err:
            info.make_options({name: value})
        assert str(err.value).endswith(f", got {value!r}")


@pytest.mark.parametrize("method", METHODS)
def test_defaults_are_accepted_and_satisfy_their_checks(method):
    info = optkit.registry.get(method)
    opts = info.make_options({})
    for name, check in option_checks(info.options).items():
        assert check.ok(getattr(opts, name)), (method, name)


@pytest.mark.parametrize("method", METHODS)
def test_show_options_shows_each_constraint(method):
    info = optkit.registry.get(method)
    lines = optkit.show_options(method, disp=False).splitlines()
    for name, check in option_checks(info.options).items():
        (line,) = [ln for ln in lines if ln.startswith(f"{name} : ")]
        if check.doc():
            assert line.endswith(f", {check.doc()}"), line
        else:
            assert line.endswith(f"default {getattr(info.make_options({}), name)!r}"), line


def test_messages_keep_the_wording_of_the_former_checks():
    assert POSITIVE.describe() == "a number > 0"
    assert NON_NEGATIVE.describe() == "a number >= 0"
    assert POSITIVE_INT.describe() == "an integer >= 1"
    assert Interval(0, 1, closed="right").describe() == "a number > 0 and <= 1"
    assert Interval(0, 1, closed="left").describe() == "in [0, 1)"
    assert Interval(0, math.inf, closed="left").describe() == "a number >= 0 and < inf"
    assert Interval(integer=True).describe() == "an integer"
    assert OneOf("armijo").describe() == "'armijo'"
    assert OneOf("l2", "l1_code").describe() == "one of ('l2', 'l1_code')"
    assert OneOf("l2", "l1_code").doc() == "{'l2', 'l1_code'}"
    with pytest.raises(ValueError, match=r"^option 'c1' must be a number > 0 and <= 1, "
                                         r"got 1\.5$"):
        Interval(0, 1, closed="right").validate(1.5, "option 'c1'")


def test_alternatives():
    c = make_constraint((Interval(0, None, integer=True), None))
    assert c.ok(None) and c.ok(0) and not c.ok(-1) and not c.ok(2.5) and not c.ok(True)
    assert c.doc() == ">= 0 or None"
    # a number of the right kind out of range: its interval alone says what is wrong
    assert c.message(-1) == "an integer >= 0"
    assert c.message(2.5) == c.message("a") == "an integer >= 0 or None"
    assert make_constraint((Interval(integer=True), None)).doc() == ""  # int | None says it
    assert make_constraint((dict, None)).describe() == "a dict or None"
    assert make_constraint((IsCallable(), None, OneOf("a", "b"))).describe() == \
        "a callable, None or one of ('a', 'b')"
    with pytest.raises(TypeError, match="a check must be"):
        make_constraint("a")


def test_intervals():
    assert POSITIVE.ok(math.inf) and not POSITIVE.ok(math.nan) and not POSITIVE.ok(0)
    assert POSITIVE.ok(np.float32(1.0)) and POSITIVE_INT.ok(np.int64(3))
    assert not POSITIVE_INT.ok(np.bool_(True)) and not POSITIVE.ok(True)
    assert not Interval(0, math.inf, closed="left").ok(math.inf)
    assert Interval(0, 1, closed="both").ok(1) and not Interval(0, 1, closed="neither").ok(0)
    with pytest.raises(ValueError, match="closed must be one of"):
        Interval(0, 1, closed="open")
    with pytest.raises(ValueError, match="low <= high"):
        Interval(2, 1)


def test_a_redeclared_field_keeps_its_parents_check_unless_it_gives_one():
    @dataclass(frozen=True, kw_only=True)
    class Mine(Options):
        maxiter: int = option(5, "Fewer iterations.")
        rate: float = option(0.1, "A rate.", check=POSITIVE)
        seed: int | None = option(0, "A seed.", check=Interval(0, None, integer=True))

    checks = option_checks(Mine)
    assert checks["maxiter"] is option_checks(Options)["maxiter"]
    assert checks["rate"] is POSITIVE and checks["seed"] is not option_checks(Options)["seed"]
    with pytest.raises(ValueError, match="option 'maxiter' must be an integer >= 0, got -1"):
        Mine(maxiter=-1)
    with pytest.raises(ValueError, match="option 'rate' must be a number > 0, got 0"):
        Mine(rate=0)
    with pytest.raises(ValueError, match="option 'seed' must be an integer >= 0, got -1"):
        Mine(seed=-1)
    doc = MethodInfo(name="mine", solver=Solver, options=Mine).options_doc()
    assert "rate : float, default 0.1, > 0\n" in doc
    assert "maxiter : int, default 5, >= 0 or None\n" in doc


def test_cross_field_checks_still_run():
    scp = optkit.registry.get("convex-relu-scp")
    with pytest.raises(ValueError, match="option 'max_hidden' must be an integer >= 100, "
                                         "got 10"):
        scp.make_options({"max_hidden": 10})
    with pytest.raises(ValueError, match="option 'n_new'=10 is too small"):
        scp.make_options({"iterative": True, "n_new": 10})


def test_admm_kernel_and_its_options_share_one_definition():
    options = optkit.registry.get("convex-relu-admm").options
    checks = option_checks(options)
    for name, constraint in ADMM_CHECKS.items():
        assert checks[name] is constraint
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 2)), rng.standard_normal(8)
    D = np.ones((8, 1), dtype=bool)
    for name, value in (("rho", 0.0), ("dual_step", 3.0), ("relaxation", 0.0),
                        ("u_solver", "sgd"), ("u_steps", 0), ("u_system", "lu"),
                        ("max_factor", 0.5)):
        kwargs = {"rho": 0.1, name: value}
        with pytest.raises(ValueError, match=f"^{name} must be .*, got {value!r}$"):
            ADMM(X, y, D, 0.1, **kwargs)
    with pytest.raises(ValueError, match="convex-relu-cvxpy"):
        ADMM(X, y, D, 0.1, 0.1, loss="hinge")
