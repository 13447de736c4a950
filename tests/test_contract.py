"""Contract tests run over every registered method (families through their examples).

A method added by any issue is checked here automatically: result fields and types,
``fun == f(x)``, shapes, iteration limits, history length, StopIteration, NaN handling, and
that the result is never worse than the start.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import tiny_problem_for, tiny_smooth
from scipy.optimize import OptimizeResult

import optkit

METHODS = optkit.registry.names(expand_families=True)


def _objective(problem, x):
    """The objective at ``x``; for a bilevel problem its value function ``Φ(x)``, which the
    tiny instance knows in closed form (``info["phi"]``)."""
    if isinstance(problem, optkit.BilevelProblem):
        return problem.info["phi"](x)
    return problem.objective(x) if hasattr(problem, "objective") else problem.value(x)


def _fun_at(problem, res):
    """What ``res.fun`` must equal: the objective at ``res.x``, and for a bilevel problem the
    upper level at the returned pair, ``F(res.x, res.y)``."""
    if isinstance(problem, optkit.BilevelProblem):
        return problem.upper_fun(res.x, res.y)
    return _objective(problem, res.x)


@pytest.fixture(params=METHODS)
def method(request):
    return request.param


def _run(method, problem=None, **options):
    info = optkit.registry.get(method)
    problem = tiny_problem_for(info) if problem is None else problem
    return problem, optkit.minimize(problem, method=method, options=options)


def test_result_fields_and_types(method):
    problem, res = _run(method, maxiter=50)
    assert isinstance(res, OptimizeResult)
    assert isinstance(res.x, np.ndarray) and res.x.dtype == np.float64
    if not isinstance(problem, optkit.ReLUTrainingProblem):  # there, x is the trained network
        assert res.x.shape == problem.x0.shape
    assert isinstance(res.fun, float)
    for name in ("nit", "nfev", "njev", "nhev", "status"):
        assert isinstance(res[name], int) and res[name] >= 0, name
    assert isinstance(res.success, bool) and res.success == (res.status == 0)
    assert isinstance(res.message, str) and res.message
    assert res.method == optkit.registry.get(method).name
    assert isinstance(res.options, dict)
    assert isinstance(res.history, optkit.History)


def test_fun_equals_objective_at_x(method):
    problem, res = _run(method, maxiter=30)
    assert res.fun == _fun_at(problem, res)


def test_nit_within_maxiter_and_history_length(method):
    for maxiter in (1, 4):
        _, res = _run(method, maxiter=maxiter)
        assert res.nit <= maxiter
        assert len(res.history) == res.nit + 1
        np.testing.assert_array_equal(res.history["nit"], np.arange(res.nit + 1))


def test_stopiteration_matches_maxiter(method):
    problem = tiny_problem_for(optkit.registry.get(method))
    k = min(3, optkit.minimize(problem, method=method).nit)  # a one-shot solver has 1
    assert k >= 1

    def stop_at_k(intermediate_result):
        if intermediate_result.nit >= k:
            raise StopIteration

    stopped = optkit.minimize(problem, method=method, callback=stop_at_k)
    limited = optkit.minimize(problem, method=method, options={"maxiter": k})
    assert stopped.status == 99 and not stopped.success
    assert stopped.message == "`callback` raised `StopIteration`."
    assert stopped.nit == limited.nit == k
    np.testing.assert_array_equal(stopped.x, limited.x)
    assert stopped.fun == limited.fun


def test_nan_objective_fails_and_keeps_finite_iterate(method):
    info = optkit.registry.get(method)
    base = tiny_problem_for(info)
    if optkit.Problem not in info.accepts:
        pytest.skip("NaN injection through fun is for methods that call the oracles")
    x0 = base.x0

    def fun(x):
        return base.value(x) if np.array_equal(x, x0) else math.nan

    problem = dataclasses.replace(base, fun=fun, fun_and_grad=None)
    res = optkit.minimize(problem, method=method, options={"maxiter": 20})
    assert not res.success
    assert math.isfinite(res.fun)
    assert res.fun <= base.value(x0)


def test_never_worse_than_start(method):
    problem, res = _run(method, maxiter=200)
    if isinstance(problem, optkit.BilevelProblem):  # res.fun is F at an inexact y
        assert _objective(problem, res.x) <= _objective(problem, problem.x0)
    else:
        assert res.fun <= _objective(problem, problem.x0)


def test_never_worse_than_start_with_an_uphill_gradient(method):
    """A gradient with the wrong sign (a common bug) sends every step uphill; the result is
    still no worse than x0 and consistent (``fun == f(x)``), as with SciPy's methods: the
    best iterate is returned and the message says so (issue 12)."""
    info = optkit.registry.get(method)
    if optkit.Problem not in info.accepts:
        pytest.skip("a wrong gradient is injected through a plain Problem")
    base = tiny_smooth()
    flipped = dataclasses.replace(base, grad=lambda x: -base.gradient(x),
                                  hess=lambda x: -base.hessian(x))
    res = optkit.minimize(flipped, method=method, options={"maxiter": 30})
    f0 = base.value(base.x0)
    assert res.fun <= f0 and res.fun == base.value(res.x)
    if np.any(res.history["fun"][1:] > f0) and res.fun < res.history["fun"][-1]:
        assert "best iterate" in res.message


def test_method_is_case_and_separator_insensitive(method):
    info = optkit.registry.get(method)
    assert optkit.registry.get(method.upper().replace("-", "_")) is info or (
        optkit.registry.get(method.upper().replace("-", "_")).name == info.name
    )


def test_show_options_lists_every_option(method):
    text = optkit.show_options(method, disp=False)
    for field in dataclasses.fields(optkit.registry.get(method).options):
        assert f"\n{field.name} : " in text


def _same_run(a, b):
    """Whether two results of the same method on the same problem are the same run: every
    result array and number, and the history except wall time."""
    assert (a.nit, a.nfev, a.njev, a.nhev, a.status, a.message) == \
        (b.nit, b.nfev, b.njev, b.nhev, b.status, b.message)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.fun == b.fun or (math.isnan(a.fun) and math.isnan(b.fun))
    ha, hb = a.history.to_dict(), b.history.to_dict()
    assert ha.keys() == hb.keys()
    for key in ha.keys() - {"time"}:
        np.testing.assert_array_equal(ha[key], hb[key], err_msg=key)


def test_one_solver_object_runs_twice_and_in_threads(method):
    """A solver holds its options only: the same object gives the same run twice, and in
    two threads at once (the state of a run lives in its states)."""
    from concurrent.futures import ThreadPoolExecutor

    info = optkit.registry.get(method)
    problem = tiny_problem_for(info)
    seed = {"seed": 5} if "seed" in {f.name for f in dataclasses.fields(info.options)} else {}
    solver = info.solver(info.make_options({"maxiter": 12, **seed}))
    first = optkit.minimize(problem, method=solver)
    _same_run(first, optkit.minimize(problem, method=solver))
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: optkit.minimize(problem, method=solver), range(2)))
    for res in runs:
        _same_run(first, res)
    fresh = info.solver(info.make_options({"maxiter": 12, **seed}))
    _same_run(first, optkit.minimize(problem, method=fresh))


def test_a_solver_object_carries_its_options():
    info = optkit.registry.get("gd")
    solver = info.solver(info.make_options({"maxiter": 3}))
    assert optkit.minimize(tiny_smooth(), method=solver).nit == 3
    with pytest.raises(TypeError, match="carries its options"):
        optkit.minimize(tiny_smooth(), method=solver, options={"maxiter": 2})
    with pytest.raises(TypeError, match="carries its options"):
        optkit.minimize(tiny_smooth(), method=solver, tol=1e-3)
    with pytest.raises(TypeError, match="Options instance"):
        info.solver({"maxiter": 3})
