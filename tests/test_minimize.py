"""optkit.minimize: the scipy-style call, the driver's hooks, counting, history."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.optimize as so
from scipy.optimize import rosen, rosen_der, rosen_hess

import optkit
from optkit.solvers.base import Options, Solver, State, option


def test_scipy_bfgs_equals_scipy():
    x0 = np.array([-1.2, 1.0, 0.5])
    ours = optkit.minimize(rosen, x0, method="scipy:BFGS", jac=rosen_der)
    theirs = so.minimize(rosen, x0, method="BFGS", jac=rosen_der)
    np.testing.assert_array_equal(ours.x, theirs.x)
    assert ours.fun == theirs.fun
    assert (ours.nit, ours.nfev, ours.njev) == (theirs.nit, theirs.nfev, theirs.njev)
    assert ours.success and ours.message == theirs.message
    assert len(ours.history) == ours.nit + 1


def test_scipy_lbfgsb_history_and_tol():
    x0 = np.zeros(4)
    loose = optkit.minimize(rosen, x0, method="scipy:L-BFGS-B", jac=rosen_der, tol=1e-3)
    tight = optkit.minimize(rosen, x0, method="scipy:L-BFGS-B", jac=rosen_der, tol=1e-12)
    theirs = so.minimize(rosen, x0, method="L-BFGS-B", jac=rosen_der, tol=1e-12)
    np.testing.assert_array_equal(tight.x, theirs.x)
    assert loose.nit < tight.nit
    fun = tight.history["fun"]
    assert fun[0] == rosen(x0) and fun[-1] == tight.fun


def test_scipy_gets_maxiter_so_its_own_default_limit_does_not_stop_it_first():
    # Nelder-Mead's default limits are 200 n iterations and evaluations (1600 here): a
    # larger maxiter must reach SciPy, which then runs exactly as when given it directly
    x0 = np.zeros(8)
    ours = optkit.minimize(rosen, x0, method="scipy:Nelder-Mead", options={"maxiter": 20_000})
    theirs = so.minimize(rosen, x0, method="Nelder-Mead", options={"maxiter": 20_000})
    assert theirs.success and theirs.nfev > 1600
    np.testing.assert_array_equal(ours.x, theirs.x)
    assert ours.success and ours.nfev == theirs.nfev
    # and a smaller one stops SciPy (status 1) at optkit's count
    short = optkit.minimize(rosen, x0, method="scipy:BFGS", jac=rosen_der,
                            options={"maxiter": 5})
    assert short.status == 1 and short.nit == 5


def test_scipy_takes_the_gradient_from_fun_and_grad_when_grad_is_missing():
    # a problem with fun and fun_and_grad but no grad (the catalog's log-sum-exp): SciPy gets
    # fun_and_grad with jac=True, not jac=None (finite differences, or "Jacobian is required")
    problem = optkit.Problem(fun=rosen, fun_and_grad=lambda x: (rosen(x), rosen_der(x)),
                             hessp=lambda x, v: rosen_hess(x) @ v, x0=np.zeros(4))
    theirs = so.minimize(rosen, np.zeros(4), method="L-BFGS-B", jac=rosen_der)
    ours = optkit.minimize(problem, method="scipy:L-BFGS-B")
    np.testing.assert_array_equal(ours.x, theirs.x)
    assert ours.njev == theirs.njev and ours.nfev == theirs.nfev
    newton = optkit.minimize(problem, method="scipy:Newton-CG")
    assert newton.success, newton.message


def test_scipy_limits_by_evaluations_are_iteration_limits():
    # COBYLA's "evaluated MAXFUN times" is a budget, not a loss of precision
    res = optkit.minimize(rosen, np.zeros(3), method="scipy:COBYLA", options={"maxiter": 20})
    assert "MAXFUN" in res.message and res.status == 1


def test_scipy_objective_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"the objective \(fun\) returned shape \(1,\)"):
        optkit.minimize(lambda x: (x - 1.0) ** 2, np.zeros(1), method="scipy:BFGS")


def test_scipy_bounds_given_as_options_are_refused_by_name():
    with pytest.raises(TypeError, match="bounds are arguments of scipy.optimize.minimize"):
        optkit.minimize(rosen, np.zeros(2), method="scipy:L-BFGS-B",
                        options={"bounds": [(0, 1), (0, 1)]})


def test_scipy_unknown_option_and_method():
    with pytest.raises(TypeError, match="Unknown solver options: gtoll"):
        optkit.minimize(rosen, np.zeros(2), method="scipy:BFGS", options={"gtoll": 1e-3})
    with pytest.raises(ValueError, match="scipy.optimize.minimize has no method 'bfgz'"):
        optkit.minimize(rosen, np.zeros(2), method="scipy:bfgz")


def test_scipy_hessian_method_needs_hess():
    with pytest.raises(TypeError, match="needs Hessians"):
        optkit.minimize(rosen, np.zeros(2), method="scipy:trust-ncg", jac=rosen_der)
    res = optkit.minimize(rosen, np.zeros(2), method="scipy:trust-ncg", jac=rosen_der,
                          hess=rosen_hess)
    assert res.success and res.nhev > 0
    np.testing.assert_allclose(res.x, 1.0, atol=1e-3)


def test_jac_true_and_finite_differences_and_args(smooth):
    def fun(x, a):
        return smooth.value(x) * a

    def fun_and_grad(x, a):
        return smooth.value(x) * a, smooth.gradient(x) * a

    x_star = so.minimize(smooth.value, smooth.x0, jac=smooth.gradient, tol=1e-12).x
    exact = optkit.minimize(fun_and_grad, smooth.x0, args=(2.0,), jac=True, method="gd")
    fd = optkit.minimize(fun, smooth.x0, args=2.0, method="gd", tol=1e-4)  # args wrapped
    assert exact.success and fd.success
    np.testing.assert_allclose(exact.x, x_star, atol=1e-5)
    np.testing.assert_allclose(fd.x, x_star, atol=1e-4)
    assert exact.nfev == exact.njev  # one joint evaluation counts once for each
    assert fd.nfev >= 3 * fd.njev  # forward differences: n + 1 values per gradient


def test_counters_count_real_calls():
    calls = {"f": 0, "g": 0}

    def fun(x):
        calls["f"] += 1
        return rosen(x)

    def jac(x):
        calls["g"] += 1
        return rosen_der(x)

    res = optkit.minimize(fun, np.zeros(2), jac=jac, method="gd", options={"maxiter": 50})
    assert (res.nfev, res.njev) == (calls["f"], calls["g"])
    assert res.history[-1]["nfev"] == calls["f"]
    assert res.history["ls_trials"][1:].sum() == calls["f"] - 1


def test_tol_sets_gtol_unless_given(smooth):
    res = optkit.minimize(smooth, method="gd", tol=1e-3)
    assert res.options["gtol"] == 1e-3
    assert res.success and np.max(np.abs(res.jac)) <= 1e-3
    loose = res.nit
    res = optkit.minimize(smooth, method="gd", tol=1e-3, options={"gtol": 1e-7})
    assert res.options["gtol"] == 1e-7
    assert res.success and np.max(np.abs(res.jac)) <= 1e-7 and res.nit > loose


def test_default_method_is_scipy_bfgs(smooth):
    res = optkit.minimize(smooth)
    assert res.method == "scipy:bfgs" and res.success


def test_converged_start_costs_no_iteration(smooth):
    x_star = optkit.minimize(smooth, method="scipy:BFGS", tol=1e-12).x
    res = optkit.minimize(smooth, x_star, method="gd", tol=1e-6)
    assert res.nit == 0 and res.success and len(res.history) == 1


def test_callback_forms():
    seen_new, seen_old = [], []

    def new_style(intermediate_result):
        assert isinstance(intermediate_result, so.OptimizeResult)
        seen_new.append((intermediate_result.nit, intermediate_result.fun,
                         intermediate_result.x))

    res = optkit.minimize(rosen, np.zeros(2), jac=rosen_der, method="gd", callback=new_style,
                          options={"maxiter": 5})
    assert [s[0] for s in seen_new] == [1, 2, 3, 4, 5]
    assert seen_new[-1][1] == res.fun

    res = optkit.minimize(rosen, np.zeros(2), jac=rosen_der, method="gd",
                          callback=seen_old.append, options={"maxiter": 5})
    assert len(seen_old) == 5
    np.testing.assert_array_equal(seen_old[-1], res.x)
    for a in seen_old:  # copies: no two callback arrays share memory, nor with res.x
        assert not np.may_share_memory(a, res.x)
        assert all(not np.may_share_memory(a, b) for b in seen_old if b is not a)


def test_max_time_stops_with_status_4():
    res = optkit.minimize(rosen, np.zeros(2), jac=rosen_der, method="gd",
                          options={"max_time": 1e-9})
    assert res.status == 4 and not res.success and res.nit == 1
    assert res.message == optkit.Status.MAXTIME.message


def test_nonfinite_keeps_last_finite_iterate():
    """A fixed step that overflows: status 3; x is the best finite iterate (here x0: every
    later one is worse), and the message says so."""
    def fun(x):
        with np.errstate(over="ignore"):
            return float(np.sum(x**4))

    def jac(x):
        with np.errstate(over="ignore"):
            return 4 * x**3

    opts = {"linesearch": None, "step_size": 1.0}
    res = optkit.minimize(fun, np.array([2.0]), jac=jac, method="gd", options=opts)
    assert res.status == 3 and not res.success
    assert res.message.startswith("NaN result encountered.") and "best iterate" in res.message
    assert np.all(np.isfinite(res.x)) and res.fun == fun(res.x) <= fun(np.array([2.0]))
    before = optkit.minimize(fun, np.array([2.0]), jac=jac, method="gd",
                             options={**opts, "maxiter": res.nit})
    np.testing.assert_array_equal(res.x, before.x)
    assert len(res.history) == res.nit + 1


def test_history_columns_and_conversions(smooth):
    res = optkit.minimize(smooth, method="gd", options={"maxiter": 10})
    hist = res.history
    for column in ("nit", "time", "fun", "grad_norm", "nfev", "njev", "nhev", "step_size",
                   "ls_trials"):
        assert column in hist.columns
    assert hist[0]["nit"] == 0 and hist[0]["fun"] == smooth.value(smooth.x0)
    assert np.all(np.diff(hist["time"]) >= 0)
    assert np.all(np.diff(hist["fun"]) <= 0)  # Armijo: monotone
    np.testing.assert_allclose(hist["grad_norm"][-1], np.linalg.norm(res.jac))
    table = hist.to_dict()
    assert set(table) == set(hist.columns) and table["fun"].shape == (len(hist),)
    frame = hist.to_pandas()
    assert list(frame.columns) == hist.columns and len(frame) == len(hist)
    with pytest.raises(KeyError, match="no column 'nope'"):
        hist["nope"]


def test_disp_prints_scipy_style_summary(capsys, smooth):
    optkit.minimize(smooth, method="gd", options={"disp": True, "maxiter": 3})
    captured = capsys.readouterr()
    assert "Current function value:" in captured.out and "Iterations: 3" in captured.out
    assert "gd:" in captured.err  # the tqdm progress bar, labelled with the method
    optkit.minimize(smooth, method="gd", options={"maxiter": 3})
    assert capsys.readouterr() == ("", "")  # quiet by default


def test_unused_hess_warns():
    with pytest.warns(RuntimeWarning, match="does not use Hessian information"):
        optkit.minimize(rosen, np.zeros(2), jac=rosen_der, hess=rosen_hess, method="gd",
                        options={"maxiter": 2})


def test_custom_solver_class():
    @dataclass(frozen=True, kw_only=True)
    class HalvingOptions(Options):
        factor: float = option(0.5, "Shrink factor.")

    class Halving(Solver):
        """Moves halfway to the origin each step."""

        Options = HalvingOptions

        def init(self, problem, x0):
            return State(x0, problem.value(x0))

        def step(self, problem, state):
            x = state.x * self.options.factor
            return State(x, problem.value(x))

    res = optkit.minimize(lambda x: float(x @ x), np.ones(2), method=Halving,
                          options={"maxiter": 4, "factor": 0.25})
    np.testing.assert_allclose(res.x, 0.25**4)
    assert res.status == 1 and res.nfev == 5


def test_adam_minibatches_on_stochastic_problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 3))
    b = A @ np.array([1.0, -2.0, 0.5])

    def on_rows(idx):
        def fun_and_grad(x):
            r = A[idx] @ x - b[idx]
            return 0.5 * float(r @ r) / len(idx), A[idx].T @ r / len(idx)
        return fun_and_grad

    def sample(batch_size, rng):
        idx = rng.choice(len(b), batch_size, replace=False)
        return optkit.Problem(fun_and_grad=on_rows(idx))

    problem = optkit.Problem(fun_and_grad=on_rows(np.arange(len(b))), sample=sample,
                             x0=np.zeros(3))
    opts = {"batch_size": 20, "lr": 0.05, "maxiter": 1500, "seed": 1}
    res = optkit.minimize(problem, method="adam", options=opts)
    again = optkit.minimize(problem, method="adam", options=opts)
    np.testing.assert_array_equal(res.x, again.x)  # seeded
    np.testing.assert_allclose(res.x, [1.0, -2.0, 0.5], atol=2e-2)
    assert res.fun == problem.value(res.x)
    # one evaluation at x0, one mini-batch per step, and the full value at the end
    assert res.nfev == res.njev == 1 + 1500 + 1
    assert "grad_norm" not in res.history.columns or np.isnan(res.history["grad_norm"][1])


def test_import_does_not_import_torch_or_matplotlib():
    code = ("import sys, optkit; optkit.minimize(lambda x: float(x @ x), [1.0], method='gd');"
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_problem_replace_keeps_structure():
    Q = np.array([[2.0, 0.0], [0.0, 4.0]])
    q = optkit.QuadraticProblem(Q, np.array([1.0, 1.0]), x0=np.zeros(2))
    res = optkit.minimize(q, method="nesterov", tol=1e-10)
    np.testing.assert_allclose(res.x, [-0.5, -0.25], atol=1e-9)
    assert res.fun == q.value(res.x)
    counted = dataclasses.replace(q, name="renamed")
    assert counted.Q is q.Q
