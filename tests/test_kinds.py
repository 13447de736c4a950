"""The core's per-kind machinery: tiny instances, evaluation counters and ``needs`` declared by
each problem kind, a start for every variable (``y0``), discovery of solver subpackages."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from dataclasses import dataclass, field

import numpy as np
import pytest
from conftest import TINY, tiny_bilevel, tiny_smooth

import optkit
from optkit.registry import make_info, registry
from optkit.result import Status
from optkit.solvers import discover
from optkit.solvers.base import Options, Solver, State

KINDS = [optkit.Problem, optkit.CompositeProblem, optkit.QuadraticProblem, optkit.GLMProblem,
         optkit.BilevelProblem, optkit.LinearSystem, optkit.ReLUTrainingProblem]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_kind_has_a_tiny_instance(kind):
    assert type(TINY[kind]()) is kind


def test_every_public_kind_is_listed():
    public = {obj for name in optkit.__all__ if name.endswith(("Problem", "System"))
              for obj in [getattr(optkit, name)]}
    assert public == set(KINDS)


# -- a small bilevel method, to exercise the core ----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _HGOptions(Options):
    maxiter: int = 50
    step: float = 0.5
    inner: int = 3


@dataclass(frozen=True)
class _HGState(State):
    y: np.ndarray | None = field(default=None, compare=False)


class _Hypergradient(Solver):
    """Hypergradient descent with ``inner`` lower gradient steps and the exact inverse of the
    (known, constant) lower Hessian: a test double, not a method of the library."""

    def init(self, problem, x0, y0):
        return self._state(problem, x0, y0)

    def _state(self, problem, x, y):
        mu = problem.lower_strong_convexity
        for _ in range(self.options.inner):  # each halves the distance to y*(x)
            y = y - problem.lower_grad_y(x, y) / (2 * mu)
        gx, gy = problem.upper_grad(x, y)
        hyper = gx - problem.lower_hvp_xy(x, y, problem.lower_hvp_yy(x, y, gy) / mu**2)
        return _HGState(x, problem.upper_fun(x, y), hyper, y=y)

    def step(self, problem, state):
        return self._state(problem, state.x - self.options.step * state.grad, state.y)

    def postprocess(self, problem, state, status):
        return {"x": state.x, "fun": state.fun, "jac": state.grad, "y": state.y}


_Hypergradient.info = make_info(
    _Hypergradient, "test-hypergradient", options=_HGOptions, accepts=(optkit.BilevelProblem,),
    needs=("lower_hvp_yy", "lower_hvp_xy"), uses=(), tol=(), stochastic=False,
    backends=("numpy",), flagship=(), peers=(), tour_runs={}, long_running=False, aliases=())


def test_bilevel_counters_and_starts():
    problem = tiny_bilevel()
    y0 = np.ones(3)
    seen = []
    res = optkit.minimize(problem, method=_Hypergradient, y0=y0, options={"maxiter": 7},
                          callback=lambda xk: seen.append(xk))
    calls = 1 + res.nit  # init and one state per iteration
    assert res.nfev == res.njev == calls  # upper_fun, upper_grad
    assert res.lower_njev == 3 * calls  # lower_grad_y, 3 inner steps
    assert res.lower_nhev == 2 * calls  # lower_hvp_yy and lower_hvp_xy
    assert res.lower_nfev == res.nhev == res.ncev == res.ncjev == 0
    history = res.history.to_dict()
    np.testing.assert_array_equal(history["lower_njev"], 3 * (1 + np.arange(res.nit + 1)))
    # the run started from the given y0: y*(0) = 0, three halvings from y0 give y0 / 8
    t = np.array([1.0, -1.0, 0.5])
    assert history["fun"][0] == pytest.approx(0.5 * np.sum((y0 / 8 - t) ** 2), rel=1e-14)
    assert res.status == Status.MAXITER and len(seen) == 7
    # the closed form: y*(x) = Bx/(1+mu), Phi(x) = ½‖Bx/(1+mu) - t‖² + 0.05‖x‖²
    B, mu = np.array([[1.0, 0.5], [0.0, 1.0], [-0.5, 2.0]]), 0.5
    Bs = B / (1 + mu)
    x_star = np.linalg.solve(Bs.T @ Bs + 0.1 * np.eye(2), Bs.T @ t)
    res = optkit.minimize(problem, method=_Hypergradient, options={"maxiter": 400})
    np.testing.assert_allclose(res.x, x_star, atol=1e-8)
    np.testing.assert_allclose(res.y, Bs @ x_star, atol=1e-8)


def test_bilevel_y0_is_checked():
    problem = tiny_bilevel()
    with pytest.raises(ValueError, match=r"'y0' has shape \(2,\)"):
        optkit.minimize(problem, method=_Hypergradient, y0=np.zeros(2))
    with pytest.raises(ValueError, match="y0"):
        optkit.minimize(problem, method=_Hypergradient, y0=[np.nan, 0.0, 0.0])
    with pytest.raises(TypeError, match="y0 is the start of a lower-level variable"):
        optkit.minimize(tiny_smooth(), method="gd", y0=np.zeros(3))


def test_missing_needed_oracle_is_named_before_work():
    base = tiny_bilevel()
    calls = []
    problem = optkit.BilevelProblem(
        upper_fun=lambda x, y: calls.append(1) or base.upper_fun(x, y),
        upper_grad=base.upper_grad, lower_fun=base.lower_fun, lower_grad_y=base.lower_grad_y,
        lower_hvp_yy=base.lower_hvp_yy, x0=base.x0, y0=base.y0,
        lower_strong_convexity=1.5)
    with pytest.raises(TypeError, match="needs lower_hvp_xy"):
        optkit.minimize(problem, method=_Hypergradient)
    assert not calls


def test_needs_are_checked_against_the_kinds_vocabulary():
    common = dict(options=_HGOptions, uses=(), tol=(), stochastic=False, backends=("numpy",),
                  flagship=(), peers=(), tour_runs={}, long_running=False, aliases=())
    with pytest.raises(ValueError, match="needs of 'x' must be among"):
        make_info(_Hypergradient, "x", accepts=(optkit.Problem,), needs=("lower_hvp_yy",),
                  **common)
    with pytest.raises(ValueError, match="needs of 'x' must be among"):
        make_info(_Hypergradient, "x", accepts=(optkit.BilevelProblem,), needs=("hess",),
                  **common)


def test_smooth_problem_counters_are_scipys():
    res = optkit.minimize(tiny_smooth(), method="gd", options={"maxiter": 3})
    assert {"nfev", "njev", "nhev"} <= set(res)
    assert not {"lower_nfev", "lower_njev"} & set(res)


# -- discovery ---------------------------------------------------------------------------------


def test_discovery_recurses_into_subpackages(tmp_path, monkeypatch):
    root = tmp_path / "fake_solvers"
    (root / "family" / "_private").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "family" / "__init__.py").write_text("")
    (root / "family" / "_private" / "__init__.py").write_text("raise ImportError('private')")
    (root / "family" / "method.py").write_text(textwrap.dedent("""
        import optkit
        from optkit.solvers.gd import GradientDescent, GDOptions

        @optkit.register("test-discovered", options=GDOptions)
        class Discovered(GradientDescent):
            '''Found by discovery.'''
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_methods", dict(registry._methods))
    try:
        discover([str(root)], "fake_solvers")
        assert "test-discovered" in registry
        assert "fake_solvers.family.method" in sys.modules
    finally:
        for name in [m for m in sys.modules if m.startswith("fake_solvers")]:
            del sys.modules[name]


def test_every_solver_module_is_imported():
    import pkgutil

    import optkit.solvers

    found = {m.name for m in pkgutil.walk_packages(optkit.solvers.__path__, "optkit.solvers.")
             if not any(part.startswith("_") for part in m.name.split("."))}
    assert found <= set(sys.modules)


@pytest.mark.parametrize("oracle, bad, message", [
    ("lower_hvp_xy", lambda x, y, v: np.zeros(3), r"lower_hvp_xy returned shape \(3,\), "
                                                  r"expected \(2,\) \(the shape of x\)"),
    ("lower_grad_y", lambda x, y: np.zeros(2), r"lower_grad_y returned shape \(2,\), "
                                               r"expected \(3,\) \(the shape of y\)"),
    ("upper_grad", lambda x, y: (np.zeros(2), np.zeros(2)), r"upper_grad \(its y part\)"),
    ("upper_fun", lambda x, y: np.zeros(2), r"upper_fun returned shape \(2,\)"),
])
def test_a_wrong_bilevel_oracle_shape_is_named(oracle, bad, message):
    problem = dataclasses.replace(tiny_bilevel(), **{oracle: bad})
    with pytest.raises(ValueError, match=message):
        optkit.minimize(problem, method=_Hypergradient, options={"maxiter": 3})
