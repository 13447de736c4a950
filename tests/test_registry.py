"""The registry: registration rules, lookup, tables."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import optkit
from optkit.registry import Registry
from optkit.solvers.base import Options, Solver, State, option


@dataclass(frozen=True, kw_only=True)
class _Opts(Options):
    """Options of a test method."""

    rate: float = option(0.1, "A rate.")


class _Method(Solver):
    """A test method."""

    def init(self, problem, x0):
        return State(x0, problem.value(x0))

    def step(self, problem, state):
        return state


def test_register_and_lookup_rules():
    reg = Registry()
    reg.register("My_Method", options=_Opts, aliases=("mm",))(_Method)
    info = reg.get("MY-METHOD")
    assert info.name == "my-method" and reg.get("mm") is info and _Method.info is info
    assert list(reg) == ["my-method"] and len(reg) == 1
    assert "Options\n-------" in _Opts.__doc__ and "rate : float, default 0.1" in _Opts.__doc__
    with pytest.raises(ValueError, match="'my-method' is already registered"):
        reg.register("my_method", options=_Opts)(_Method)
    with pytest.raises(ValueError, match="'mm' is already registered"):
        reg.register("other", options=_Opts, aliases=("MM",))(_Method)
    with pytest.raises(ValueError, match="Did you mean 'my-method'"):
        reg.get("my-methd")


def test_register_checks_its_arguments():
    reg = Registry()
    with pytest.raises(TypeError, match="must be an Options subclass"):
        reg.register("a", options=dict)(_Method)
    with pytest.raises(ValueError, match=r"needs of 'a' must be among \('grad', 'hess'\)"):
        reg.register("a", options=_Opts, needs=("hessian",))(_Method)
    with pytest.raises(ValueError, match=r"tol of 'a' names unknown options \['gtol'\]"):
        reg.register("a", options=_Opts, tol=("gtol",))(_Method)
    with pytest.raises(ValueError, match="backends of 'a' must start with 'numpy'"):
        reg.register("a", options=_Opts, backends=("torch",))(_Method)
    with pytest.raises(TypeError, match="must define init\\(\\) and step\\(\\)"):
        reg.register("a", options=_Opts)(type("Bare", (Solver,), {}))
    with pytest.raises(TypeError, match="is not a Solver subclass"):
        reg.register("a", options=_Opts)(object)
    with pytest.raises(TypeError, match="option defaults must be immutable"):
        option([1], "a list")


def test_methods_table_lists_every_method():
    table = optkit.methods()
    names = [row["name"] for row in table]
    assert set(optkit.registry.names()) <= set(names) and "scipy:<METHOD>" in names
    text = str(table)
    for name in optkit.registry.names():
        assert name in text
    assert table.to_markdown().startswith("| name | problems |")


def test_show_options_prints(capsys):
    assert optkit.show_options("gd") is None
    out = capsys.readouterr().out
    assert "step_size : float, default 1.0" in out and "``tol`` sets: gtol." in out


def test_every_registered_flagship_is_in_the_catalog():
    import problems

    names = {row["name"] for row in problems.catalog()}
    for name in optkit.registry.names(expand_families=True):
        info = optkit.registry.get(name)
        assert set(info.flagship) <= names, name
        for peer in info.peers:
            optkit.registry.get(peer)
        for method, options in info.tour_runs.values():
            optkit.registry.get(method).make_options(options)  # runs the tour can make


def test_tour_reference_must_name_a_tour_run():
    from optkit.registry import make_info
    from optkit.solvers.base import Options, Solver

    class Probe(Solver):
        def solve(self, problem, x0, driver):  # pragma: no cover - never run
            raise AssertionError

    with pytest.raises(ValueError, match="tour_reference of 'probe' must be a label"):
        make_info(Probe, "probe", options=Options, accepts=(optkit.Problem,), needs=(),
                  uses=(), tol=(), stochastic=False, backends=("numpy",), flagship=(),
                  peers=(), tour_runs={"a": ("gd", {})}, tour_plot={}, tour_reference="b",
                  long_running=False, aliases=())
