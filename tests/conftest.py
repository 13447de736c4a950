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


def tiny_composite() -> optkit.CompositeProblem:
    """A 4-D lasso ``½‖Ax - b‖² + 0.1‖x‖₁``."""
    from optkit.prox import soft_threshold

    rng = np.random.default_rng(3)
    A, b = rng.standard_normal((8, 4)), rng.standard_normal(8)
    return optkit.CompositeProblem(
        fun=lambda x: 0.5 * float((A @ x - b) @ (A @ x - b)), grad=lambda x: A.T @ (A @ x - b),
        g_fun=lambda x: 0.1 * float(np.abs(x).sum()),
        prox_g=lambda x, step: soft_threshold(x, 0.1 * step), x0=np.zeros(4),
        name="tiny-lasso")


def tiny_glm() -> optkit.GLMProblem:
    """L2-regularized logistic regression on 20 samples of 5 features."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((20, 5))
    b = np.where(A @ [1.0, -1.0, 0.5, 0.0, 2.0] + 0.3 * rng.standard_normal(20) > 0, 1.0, -1.0)
    return optkit.GLMProblem(A, b, loss="logistic", l2=0.1, name="tiny-logistic")


def tiny_bilevel() -> optkit.BilevelProblem:
    """A quadratic bilevel problem with ``x ∈ R²``, ``y ∈ R³`` and a closed-form solution:
    lower ``f(x, y) = ½‖y - Bx‖² + (μ/2)‖y‖²``, so ``y*(x) = Bx / (1 + μ)``; upper
    ``F(x, y) = ½‖y - t‖² + ½ r ‖x‖²``."""
    B = np.array([[1.0, 0.5], [0.0, 1.0], [-0.5, 2.0]])
    t, mu, r = np.array([1.0, -1.0, 0.5]), 0.5, 0.1
    return optkit.BilevelProblem(
        upper_fun=lambda x, y: 0.5 * float((y - t) @ (y - t)) + 0.5 * r * float(x @ x),
        upper_grad=lambda x, y: (r * x, y - t),
        lower_fun=lambda x, y: 0.5 * float((y - B @ x) @ (y - B @ x)) + 0.5 * mu * float(y @ y),
        lower_grad_y=lambda x, y: (1.0 + mu) * y - B @ x,
        lower_grad_x=lambda x, y: -B.T @ (y - B @ x),
        lower_hvp_yy=lambda x, y, v: (1.0 + mu) * v,
        lower_hvp_xy=lambda x, y, v: -B.T @ v,
        x0=np.zeros(2), y0=np.zeros(3), lower_strong_convexity=1.0 + mu,
        lower_smoothness=1.0 + mu, upper_smoothness=1.0, name="tiny-bilevel",
        info={"phi": lambda x: 0.5 * float((B @ x / (1 + mu) - t) @ (B @ x / (1 + mu) - t))
              + 0.5 * r * float(x @ x)})


#: A tiny instance of each problem kind. A method issue that adds a kind adds its builder here,
#: so the contract tests run every registered method (a kind's first match wins: the smooth
#: Problem before its composite subclasses).
TINY = {optkit.Problem: tiny_smooth, optkit.QuadraticProblem: tiny_quadratic,
        optkit.CompositeProblem: tiny_composite, optkit.GLMProblem: tiny_glm,
        optkit.BilevelProblem: tiny_bilevel, optkit.LinearSystem: tiny_linear_system,
        optkit.ReLUTrainingProblem: tiny_relu_training}


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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module's tests: small convolutions and networks run fastest
    that way (two threads contend on a two-core machine); the setting is restored after."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
