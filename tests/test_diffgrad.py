"""diffGrad (NumPy method): the oracles of the spec, section 6."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

import optkit
import problems
from optkit.solvers._adaptive import adaptive_update
from optkit.solvers.diffgrad import PAPER_SYNTHETIC


def _trajectory(name, method="diffgrad", **options):
    """A run of the paper's synthetic setting, with its iterates x_0, x_1, ... as ``xs``."""
    problem = problems.get(name)
    xs = [float(problem.x0[0])]

    def callback(intermediate_result):
        xs.append(float(intermediate_result.x[0]))

    res = optkit.minimize(problem, method=method, callback=callback,
                          options={**PAPER_SYNTHETIC, **options})
    res["xs"] = np.array(xs)
    return res


def test_paper_synthetic_trajectories():
    """Spec 6.3: the 1-D experiments of the paper, true derivatives, eps_mode="torch"."""
    f1 = _trajectory("diffgrad-f1")
    np.testing.assert_allclose(f1.xs[1:6], [-0.919782, -0.865961, -0.813661, -0.761727,
                                            -0.710206], atol=1e-5)
    np.testing.assert_allclose(f1.xs[299], -0.300071, atol=1e-5)
    np.testing.assert_allclose(_trajectory("diffgrad-f2").xs[299], -0.642963, atol=1e-5)
    f3 = _trajectory("diffgrad-f3")
    np.testing.assert_allclose(f3.xs[299], 0.013565, atol=1e-5)
    assert 0.005 < np.std(f3.xs[-50:]) < 0.03  # oscillates around 0 (spec: std about 0.017)


@pytest.mark.parametrize("name, local", [("diffgrad-f1", 0.200115), ("diffgrad-f2", 0.000090)])
def test_adam_settles_in_the_local_minimum(name, local):
    """The paper's claim: Adam ends in a local minimum where diffGrad reaches the global one."""
    res = _trajectory(name, method="adam")
    np.testing.assert_allclose(res.x, local, atol=1e-5)


def test_constant_gradient_is_adam_with_half_the_step():
    """Spec 6.1: with f = c x, xi = 1/2 from t = 2 on, so each step is Adam's at lr / 2."""
    c = np.array([0.3, -2.0, 5.0])
    problem = optkit.Problem(fun=lambda x: float(c @ x), grad=lambda x: c.copy(),
                             x0=np.zeros(3))
    opts = {"lr": 0.01, "maxiter": 20, "gtol": 0.0, "eps": 0.0}
    dg = optkit.minimize(problem, method="diffgrad", options={**opts, "eps_mode": "paper"})
    adam = optkit.minimize(problem, method="adam", options={**opts, "lr": 0.005})
    np.testing.assert_allclose(dg.history["xi_mean"][1], np.mean(expit(np.abs(c))))
    np.testing.assert_array_equal(dg.history["xi_mean"][2:], 0.5)
    # with eps = 0 and a constant gradient every Adam step is lr * sign(c); diffGrad's first
    # is sigmoid(|c|) times that, the 19 others are Adam's at lr / 2
    np.testing.assert_allclose(adam.x, -20 * 0.005 * np.sign(c), rtol=1e-12)
    first = 0.01 * expit(np.abs(c)) * np.sign(c)
    np.testing.assert_allclose(dg.x, -first - 19 * 0.005 * np.sign(c), rtol=1e-12)


def test_friction_range_and_first_step():
    """Spec 6.2: 1/2 <= xi < 1 elementwise; xi_1 = sigmoid(|g_1|)."""
    rng = np.random.default_rng(0)
    x, m, v = rng.standard_normal(50), np.zeros(50), np.zeros(50)
    g_prev = np.zeros(50)
    for t in range(1, 30):
        g = rng.standard_normal(50) * 10.0 ** rng.integers(-3, 1)  # |dg| < 36: xi < 1 in fp
        out = adaptive_update(x, g, m, v, None, g_prev, t, lr=1e-2, beta1=0.9, beta2=0.999,
                              eps=1e-8)
        assert np.all(out.xi >= 0.5) and np.all(out.xi < 1.0)
        if t == 1:
            np.testing.assert_allclose(out.xi, expit(np.abs(g)))
        x, m, v, g_prev = out.x, out.m, out.v, out.g


def test_no_aliasing_of_the_callers_gradient():
    """Spec 6.5: mutating the caller's gradient array after a step leaves g_prev alone."""
    g = np.array([1.0, -2.0])
    out = adaptive_update(np.zeros(2), g, np.zeros(2), np.zeros(2), None, np.zeros(2), 1,
                          lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    g[:] = 100.0
    np.testing.assert_array_equal(out.g, [1.0, -2.0])


def test_peer_example_with_coupled_weight_decay():
    """Spec 6.4's example, computed by the NumPy method: theta_50 of the 2-D quadratic."""
    A = np.array([[3.0, 0.5], [0.5, 1.0]])
    b = np.array([1.0, -2.0])
    problem = optkit.Problem(fun=lambda t: 0.5 * t @ A @ t - b @ t, grad=lambda t: A @ t - b,
                             x0=np.array([1.0, 1.0]))
    res = optkit.minimize(problem, method="diffgrad",
                          options={"lr": 0.01, "weight_decay": 0.1, "maxiter": 50, "gtol": 0.0})
    np.testing.assert_allclose(res.x, [0.75586842, 0.74779811], atol=1e-8)


def test_convex_sanity():
    """Spec 6.6: a strongly convex quadratic in 10 dimensions, lr 1e-2, 5000 iterations."""
    problem = problems.get("quadratic", n=10, cond=10.0)
    res = optkit.minimize(problem, method="diffgrad",
                          options={"lr": 1e-2, "maxiter": 5000, "gtol": 0.0})
    x_star = np.linalg.solve(problem.Q, -problem.c)
    assert np.linalg.norm(res.x - x_star) < 1e-3


@pytest.mark.parametrize("options, match", [
    ({"lr": 0.0}, "option 'lr' must be a number > 0"),
    ({"eps": -1e-8}, "option 'eps' must be a number >= 0"),
    ({"beta1": 1.0}, r"option 'beta1' must be in \[0, 1\)"),
    ({"beta2": -0.1}, r"option 'beta2' must be in \[0, 1\)"),
    ({"weight_decay": -1.0}, "option 'weight_decay' must be a number >= 0"),
    ({"friction": "tanh"}, "option 'friction' must be one of"),
    ({"eps_mode": "tf"}, "option 'eps_mode' must be one of"),
])
def test_invalid_hyperparameters(options, match):
    """Spec 6.7."""
    with pytest.raises(ValueError, match=match):
        optkit.minimize(problems.get("diffgrad-f1"), method="diffgrad", options=options)


def test_friction_none_is_adam():
    problem = problems.get("logistic-breast-cancer")
    opts = {"lr": 1e-2, "maxiter": 50}
    dg = optkit.minimize(problem, method="diffgrad",
                         options={**opts, "friction": "none", "eps_mode": "paper"})
    adam = optkit.minimize(problem, method="adam", options=opts)
    np.testing.assert_array_equal(dg.x, adam.x)


@pytest.mark.parametrize("name", ["diffgrad-f1", "diffgrad-f2", "diffgrad-f3"])
def test_eps_modes_agree_to_1e7_on_the_paper_problems(name):
    """'torch' is 'paper' with eps replaced by eps / sqrt(1 - beta2^t): spec section 2 measures
    differences of at most 1e-7 on these problems."""
    torch_form = _trajectory(name)
    paper_form = _trajectory(name, eps_mode="paper")
    np.testing.assert_allclose(torch_form.xs, paper_form.xs, rtol=0, atol=1e-7)
    assert not np.array_equal(torch_form.xs, paper_form.xs)


def test_minibatch_training_reduces_the_loss():
    problem = problems.get("logistic-breast-cancer")
    res = optkit.minimize(problem, method="diffgrad",
                          options={"lr": 1e-2, "batch_size": 32, "maxiter": 500, "seed": 0})
    assert res.fun < 0.5 * problem.value(problem.x0)
    assert res.fun == problem.value(res.x)


@pytest.mark.parametrize("variant", [{"amsgrad": True}, {"rectify": True},
                                     {"decoupled_weight_decay": True, "weight_decay": 1e-2},
                                     {"friction": "sigmoid"}])
def test_variants_converge_on_logistic_regression(variant):
    problem = problems.get("logistic-breast-cancer")
    res = optkit.minimize(problem, method="diffgrad",
                          options={"lr": 1e-2, "maxiter": 3000, **variant})
    assert res.fun - problem.f_opt < 1e-2 * (problem.value(problem.x0) - problem.f_opt)


@pytest.mark.parametrize("name", ["diffgrad-f1", "diffgrad-f2", "diffgrad-f3"])
def test_paper_functions_have_true_derivatives(name):
    """Central differences away from the kinks (F2's notebook derivative is wrong; ours must
    not be)."""
    problem = problems.get(name)
    kinks = np.array([-0.9, -0.5, -0.4, 0.0, 0.4, 0.5])
    for t in np.linspace(-1.5, 1.5, 61):
        if np.min(np.abs(kinks - t)) < 1e-3:
            continue
        x, h = np.array([t]), 1e-6
        fd = (problem.value(x + h) - problem.value(x - h)) / (2 * h)
        np.testing.assert_allclose(problem.gradient(x), fd, rtol=1e-6, atol=1e-6)


def test_paper_functions_optima():
    f2 = problems.get("diffgrad-f2")
    np.testing.assert_allclose(f2.f_opt, 1.2e-4, atol=1e-5)
    assert f2.value(np.array([-0.6429])) - f2.f_opt < 1e-6
    assert problems.get("diffgrad-f1").value(np.array([-0.3])) == 0.0
    assert problems.get("diffgrad-f3").value(np.array([0.0])) == 0.0
