"""Bad input: each case of DESIGN.md "Errors and bad input" raises a clear exception that
names the argument, what was expected and what was given."""

from __future__ import annotations

import builtins
import importlib
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import rosen, rosen_der

import optkit


def test_unknown_method_lists_close_matches(smooth):
    with pytest.raises(ValueError, match=r"Unknown solver 'nesterv'\. Did you mean 'nesterov'"):
        optkit.minimize(smooth, method="nesterv")
    with pytest.raises(ValueError, match="See optkit.methods()"):
        optkit.minimize(smooth, method="zzzzzz")
    with pytest.raises(TypeError, match="method must be a str or a Solver subclass"):
        optkit.minimize(smooth, method=3)


def test_wrong_problem_kind_names_the_adapter():
    system = optkit.LinearSystem(np.eye(3), np.ones(3))
    with pytest.raises(TypeError, match=r"'gd' solves a Problem, got a LinearSystem\. "
                                        r"Convert it with LinearSystem\.as_quadratic\(\)"):
        optkit.minimize(system, method="gd")
    res = optkit.minimize(system.as_quadratic(), method="gd", tol=1e-10)
    np.testing.assert_allclose(res.x, np.ones(3), atol=1e-9)


def test_kind_without_explicit_method():
    with pytest.raises(TypeError, match="needs an explicit method"):
        optkit.minimize(optkit.LinearSystem(np.eye(2), np.ones(2)))


def test_unknown_option_lists_valid_ones(smooth):
    with pytest.raises(TypeError, match=r"unknown option\(s\) for method 'gd': 'stepsize' "
                                        r"\(did you mean 'step_size'\?\)\. Valid options: "
                                        r"maxiter, max_time"):
        optkit.minimize(smooth, method="gd", options={"stepsize": 0.1})
    with pytest.raises(TypeError, match="options must be a dict"):
        optkit.minimize(smooth, method="gd", options=[("maxiter", 3)])


@pytest.mark.parametrize("options, match", [
    ({"maxiter": -1}, "option 'maxiter' must be an integer >= 0, got -1"),
    ({"maxiter": 2.5}, "option 'maxiter' must be an integer"),
    ({"gtol": -1e-3}, "option 'gtol' must be a number >= 0"),
    ({"step_size": 0.0}, "option 'step_size' must be a number > 0"),
    ({"c1": 1.5}, "option 'c1' must be a number > 0 and <= 1"),
    ({"linesearch": "wolfe"}, "option 'linesearch' must be 'armijo' or None"),
    ({"max_time": 0}, "option 'max_time' must be a number > 0"),
    ({"disp": "yes"}, "option 'disp' must be a bool"),
    ({"seed": 1.5}, "option 'seed' must be an integer or None"),
])
def test_bad_option_values(smooth, options, match):
    with pytest.raises(ValueError, match=match):
        optkit.minimize(smooth, method="gd", options=options)


def test_bad_tol(smooth):
    for tol in (-1.0, float("nan"), "1e-3"):
        with pytest.raises(ValueError, match="tol must be a finite non-negative number"):
            optkit.minimize(smooth, method="gd", tol=tol)


def test_bad_x0(smooth):
    with pytest.raises(ValueError, match="'x0' must only have one dimension."):
        optkit.minimize(rosen, np.zeros((2, 2)), method="gd", jac=rosen_der)
    with pytest.raises(ValueError, match="'x0' must be finite"):
        optkit.minimize(rosen, [0.0, np.nan], method="gd", jac=rosen_der)
    with pytest.raises(ValueError, match=r"'x0' has shape \(2,\) but the problem's variables "
                                         r"have shape \(3,\)"):
        optkit.minimize(smooth, np.zeros(2), method="gd")
    with pytest.raises(ValueError, match="x0 is required"):
        optkit.minimize(rosen, method="gd", jac=rosen_der)
    with pytest.raises(ValueError, match="'x0' must be a real numeric array"):
        optkit.minimize(rosen, ["a", "b"], method="gd", jac=rosen_der)


def test_integer_x0_is_cast_to_float():
    res = optkit.minimize(rosen, [0, 0], method="gd", jac=rosen_der, options={"maxiter": 2})
    assert res.x.dtype == np.float64


@pytest.mark.parametrize("method", ["gd", "adam", "gns-newton", "scipy:BFGS"])
def test_jac_of_wrong_shape(method):
    with pytest.raises(ValueError, match=r"the gradient \(jac\) returned shape \(3,\), "
                                         r"expected \(2,\)"):
        optkit.minimize(rosen, np.zeros(2), method=method, jac=lambda x: np.zeros(3))


def test_fun_returning_an_array():
    with pytest.raises(ValueError, match=r"the objective \(fun\) returned shape \(2,\), "
                                         r"expected \(\)"):
        optkit.minimize(lambda x: x, np.zeros(2), method="gd", jac=lambda x: np.ones(2))


@pytest.mark.parametrize("oracle, method", [("hess", "gns-newton"), ("hessp", "scipy:Newton-CG"),
                                            ("hessp", "gns-newton")])
def test_hessian_oracles_of_wrong_shape(oracle, method):
    bad = {"hess": lambda x: np.eye(3), "hessp": lambda x, p: np.zeros(3)}[oracle]
    options = {"linear_solver": "cg"} if method == "gns-newton" and oracle == "hessp" else {}
    pattern = r"\(3, 3\), expected \(2, 2\)" if oracle == "hess" else r"\(3,\), expected \(2,\)"
    with pytest.raises(ValueError, match=rf"\({oracle}\) returned shape {pattern}"):
        optkit.minimize(rosen, np.zeros(2), method=method, jac=rosen_der, **{oracle: bad},
                        options=options)


def test_bad_jac_argument():
    with pytest.raises(ValueError, match="jac must be a callable, True, False, None or "
                                         "'2-point', got 'cs'"):
        optkit.minimize(rosen, np.zeros(2), method="gd", jac="cs")
    with pytest.raises(TypeError, match="hess must be callable"):
        optkit.minimize(rosen, np.zeros(2), method="gd", hess=np.eye(2))


def test_oracles_with_a_problem_object(smooth):
    with pytest.raises(TypeError, match="jac, hess, hessp and args go with a callable"):
        optkit.minimize(smooth, method="gd", jac=rosen_der)


def test_not_a_problem():
    with pytest.raises(TypeError, match="problem must be a callable fun"):
        optkit.minimize(np.zeros(3), method="gd")


def test_backend_not_available(smooth):
    with pytest.raises(ValueError, match="backend 'torch' is not available for method 'gd'; "
                                         "it has numpy"):
        optkit.minimize(smooth, method="gd", backend="torch")


def test_bad_callback(smooth):
    with pytest.raises(TypeError, match="callback must be callable"):
        optkit.minimize(smooth, method="gd", callback=3)


def test_adam_batch_size_needs_a_stochastic_problem(smooth):
    with pytest.raises(TypeError, match="batch_size needs a stochastic problem"):
        optkit.minimize(smooth, method="adam", options={"batch_size": 4})


def test_torch_missing_gives_install_hint(monkeypatch):
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "optkit.torch", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ImportError, match=r"pip install optkit\[torch\]"):
        importlib.import_module("optkit.torch")


# -- problem types validate their inputs -------------------------------------------------------


def test_problem_needs_an_objective():
    with pytest.raises(TypeError, match="Problem needs fun or fun_and_grad"):
        optkit.Problem(grad=rosen_der)
    with pytest.raises(TypeError, match="grad must be callable, got ndarray"):
        optkit.Problem(fun=rosen, grad=np.zeros(2))
    with pytest.raises(ValueError, match="f_opt must be finite or None"):
        optkit.Problem(fun=rosen, f_opt=float("nan"))
    with pytest.raises(TypeError, match=r"hess_approx\['fisher'\] is required"):
        optkit.Problem(fun=rosen, hess_approx={"fisher": None})


def test_composite_problem_needs_prox():
    with pytest.raises(TypeError, match="prox_g is required"):
        optkit.CompositeProblem(fun=rosen, g_fun=lambda x: 0.0)


def test_quadratic_problem_checks():
    with pytest.raises(ValueError, match="'Q' must be square"):
        optkit.QuadraticProblem(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="'Q' must be symmetric"):
        optkit.QuadraticProblem(np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(2))
    with pytest.raises(ValueError, match=r"'c' has length 3 but Q has shape \(2, 2\)"):
        optkit.QuadraticProblem(np.eye(2), np.ones(3))
    with pytest.raises(ValueError, match="'Q' must be finite"):
        optkit.QuadraticProblem(sp.diags([1.0, np.inf]), np.ones(2))


def test_glm_problem_checks():
    A = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"'b' has length 3 but A has 4 rows"):
        optkit.GLMProblem(A, np.ones(3))
    with pytest.raises(ValueError, match="loss must be one of"):
        optkit.GLMProblem(A, np.ones(4), loss="hinge")
    with pytest.raises(ValueError, match=r"labels in \{-1, \+1\}"):
        optkit.GLMProblem(A, np.array([0.0, 1.0, 1.0, 0.0]), loss="logistic")
    with pytest.raises(ValueError, match="l1 must be finite and non-negative"):
        optkit.GLMProblem(A, np.ones(4), l1=-1.0)


def test_linear_system_checks():
    with pytest.raises(ValueError, match=r"'b' has length 2 but A has shape \(3, 3\)"):
        optkit.LinearSystem(np.eye(3), np.ones(2))
    with pytest.raises(ValueError, match=r"grid_shape \(2, 2\) does not match the 6 unknowns"):
        optkit.LinearSystem(np.eye(6), np.ones(6), grid_shape=(2, 2))
    with pytest.raises(ValueError, match=r"'x_true' has shape \(2,\), expected \(3,\)"):
        optkit.LinearSystem(np.eye(3), np.ones(3), x_true=np.ones(2))


def test_relu_problem_checks():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="beta must be positive"):
        optkit.ReLUTrainingProblem(X, np.ones(4), beta=0.0)
    with pytest.raises(ValueError, match=r"labels in \{0, 1\} for the bce loss"):
        optkit.ReLUTrainingProblem(X, -np.ones(4), loss="bce")
    with pytest.raises(ValueError, match="give both X_test and y_test"):
        optkit.ReLUTrainingProblem(X, np.ones(4), X_test=X)
    with pytest.raises(ValueError, match="'X_test' has 3 features but X has 2"):
        optkit.ReLUTrainingProblem(X, np.ones(4), X_test=np.ones((2, 3)), y_test=np.ones(2))


def test_bilevel_problem_checks():
    def zero(x, y):
        return 0.0

    def grads(x, y):
        return np.zeros_like(x), np.zeros_like(y)

    base = dict(upper_fun=zero, upper_grad=grads, lower_fun=zero,
                lower_grad_y=lambda x, y: np.zeros_like(y), x0=np.zeros(2), y0=np.zeros(3))
    problem = optkit.BilevelProblem(**base)
    assert (problem.n, problem.m) == (2, 3)
    with pytest.raises(TypeError, match="lower_grad_y is required"):
        optkit.BilevelProblem(**{**base, "lower_grad_y": None})
    with pytest.raises(TypeError, match="constraints need constraints_jvp_y"):
        optkit.BilevelProblem(**base, constraints=lambda x, y: np.zeros(1))
    with pytest.raises(ValueError, match="lower_strong_convexity must be positive"):
        optkit.BilevelProblem(**base, lower_strong_convexity=-1.0)


@pytest.mark.parametrize("kwargs", [{"l1": 0.5}, {"nonneg": True}])
def test_smooth_method_refuses_a_nonsmooth_glm(kwargs):
    """A GLM with an L1 term or x >= 0 has a non-smooth part g: a smooth method would
    minimize f alone and report f, so it refuses; the smooth GLM runs."""
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((6, 3)), rng.standard_normal(6)
    with pytest.raises(TypeError, match="'gd' minimizes smooth functions and would ignore"):
        optkit.minimize(optkit.GLMProblem(A, b, x0=np.zeros(3), **kwargs), method="gd")
    assert optkit.minimize(optkit.GLMProblem(A, b, x0=np.zeros(3)), method="gd").success
    res = optkit.minimize(optkit.GLMProblem(A, b, x0=np.zeros(3), **kwargs),
                          method="greedy-bcd", options={"update": "prox_gradient"})
    assert res.success
