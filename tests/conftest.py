"""Shared fixtures: a tiny instance of every problem kind, for the contract tests."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import optkit

matplotlib.use("Agg")


def tiny_smooth() -> optkit.Problem:
    """A strongly convex, non-quadratic 3-D problem with a unique minimizer (gradient zero at
    x* solved numerically in the tests that need it)."""
    A = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 1.0]])
    b = np.array([1.0, -2.0, 0.5])

    def fun(x):
        return 0.5 * x @ A @ x - b @ x + 0.25 * np.sum(x**4)

    def grad(x):
        return A @ x - b + x**3

    def hess(x):
        return A + np.diag(3 * x**2)

    return optkit.Problem(fun=fun, grad=grad, hess=hess, x0=np.array([1.0, 1.0, -1.0]),
                          name="tiny-smooth")


def tiny_quadratic() -> optkit.QuadraticProblem:
    """A 6-dimensional SPD quadratic."""
    rng = np.random.default_rng(1)
    M = rng.standard_normal((6, 6))
    return optkit.QuadraticProblem(M @ M.T + 6 * np.eye(6), rng.standard_normal(6),
                                   x0=np.zeros(6), name="tiny-quadratic")


def tiny_linear_system() -> optkit.LinearSystem:
    """A 1-D Poisson system of 12 unknowns."""
    import scipy.sparse as sp

    A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(12, 12), format="csr")
    x_true = np.linspace(-1.0, 1.0, 12)
    return optkit.LinearSystem(A, A @ x_true, x_true=x_true, name="tiny-poisson")


def tiny_relu_training() -> optkit.ReLUTrainingProblem:
    """Squared-loss training of a two-layer ReLU network on 16 samples of 3 features."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((16, 3))
    return optkit.ReLUTrainingProblem(X, np.tanh(X @ [1.0, -2.0, 0.5]), beta=0.1,
                                      name="tiny-relu")


#: A tiny instance of each problem kind. A method issue that adds a kind adds its builder here,
#: so the contract tests run every registered method.
TINY = {optkit.Problem: tiny_smooth, optkit.QuadraticProblem: tiny_quadratic,
        optkit.LinearSystem: tiny_linear_system, optkit.ReLUTrainingProblem: tiny_relu_training}


def tiny_problem_for(info) -> object:
    """A tiny problem of a kind the method accepts."""
    for kind in info.accepts:
        for known, build in TINY.items():
            if issubclass(known, kind):
                return build()
    raise LookupError(f"no tiny problem for {info.name!r}: add one for {info.accepts} to TINY")


@pytest.fixture
def smooth():
    return tiny_smooth()
