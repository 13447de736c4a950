"""The baseline methods reach the known optimum of each classic problem (optax-style table)."""

from __future__ import annotations

import numpy as np
import pytest

import optkit
import problems

BASELINES = [("gd", {}), ("nesterov", {}), ("adam", {"lr": 0.1})]
CLASSICS = ["rosen", "himmelblau", "matyas", "beale", "zakharov", "quadratic"]
MINIMIZERS = {"rosen": [1.0, 1.0], "matyas": [0.0, 0.0], "beale": [3.0, 0.5],
              "zakharov": [0.0, 0.0]}


@pytest.mark.parametrize("name", CLASSICS)
@pytest.mark.parametrize("method, options", BASELINES, ids=[m for m, _ in BASELINES])
def test_reaches_known_optimum(method, options, name):
    problem = problems.get(name)
    res = optkit.minimize(problem, method=method, options={"maxiter": 20_000, **options})
    assert res.success, res.message
    assert res.fun - problem.f_opt <= 1e-8 * max(1.0, abs(problem.f_opt))
    if name in MINIMIZERS:  # |x - x*| <= gtol / lambda_min; matyas' lambda_min is 0.04
        np.testing.assert_allclose(res.x, MINIMIZERS[name], atol=5e-4)


def test_nesterov_is_faster_than_gd_on_an_ill_conditioned_quadratic():
    """Acceleration: about sqrt(cond) instead of cond iterations (cond = 1e3 here)."""
    problem = problems.get("quadratic")
    gd = optkit.minimize(problem, method="gd")
    agd = optkit.minimize(problem, method="nesterov")
    assert gd.success and agd.success
    assert agd.nit * 5 < gd.nit


def test_gd_fixed_step_is_the_textbook_recursion():
    problem = problems.get("quadratic", n=5, cond=10.0)
    res = optkit.minimize(problem, method="gd",
                          options={"linesearch": None, "step_size": 0.1, "maxiter": 7})
    x = problem.x0
    for _ in range(7):
        x = x - 0.1 * (problem.Q @ x + problem.c)
    np.testing.assert_allclose(res.x, x, rtol=1e-14)
    assert res.nfev == res.njev == 8


def test_nesterov_without_momentum_restart_matches_fista_sequence():
    """With a fixed step and mu > 0 set to L, the momentum is zero: plain gradient steps."""
    problem = problems.get("quadratic", n=5, cond=10.0)
    agd = optkit.minimize(problem, method="nesterov",
                          options={"step_size": 0.1, "mu": 10.0, "maxiter": 6})
    gd = optkit.minimize(problem, method="gd",
                         options={"linesearch": None, "step_size": 0.1, "maxiter": 6})
    np.testing.assert_allclose(agd.x, gd.x, rtol=1e-14)


def test_adam_first_step_is_lr_times_sign_of_gradient():
    """After bias correction Adam's first step is lr * g / (|g| + eps) elementwise."""
    problem = problems.get("quadratic", n=5, cond=10.0)
    res = optkit.minimize(problem, method="adam", options={"lr": 0.01, "maxiter": 1,
                                                           "eps": 0.0})
    g = problem.gradient(problem.x0)
    np.testing.assert_allclose(res.x, problem.x0 - 0.01 * np.sign(g), rtol=1e-12)
