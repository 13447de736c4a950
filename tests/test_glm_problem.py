"""GLMProblem: the losses' gradients and Hessian products, the proximal operators."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from finite_differences import central_grad, central_jac, rel_err

import optkit


def _glm(loss, sparse=False, **kw):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 6))
    if sparse:
        A = sp.csr_array(A * (rng.random(A.shape) < 0.5))
    b = {"squared": rng.standard_normal(30), "logistic": rng.choice([-1.0, 1.0], 30),
         "softmax": rng.integers(0, 3, 30).astype(float)}[loss]
    return optkit.GLMProblem(A, b, loss=loss, **kw), rng


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("loss", ["squared", "logistic", "softmax"])
def test_gradient_and_hessian_products(loss, sparse):
    problem, rng = _glm(loss, sparse, l2=0.3)
    x = rng.standard_normal(problem.n)
    assert rel_err(problem.gradient(x), central_grad(problem.value, x)) < 1e-7
    H = central_jac(problem.gradient, x)
    v = rng.standard_normal(problem.n)
    assert rel_err(problem.hess_vec(x, v), H @ v) < 1e-6


def test_softmax_layout_and_value():
    """x is W (features x classes) flattened row-major; f is the summed cross-entropy."""
    problem, rng = _glm("softmax")
    assert problem.n_classes == 3 and problem.n == 18
    W = rng.standard_normal((6, 3))
    Z = problem.A @ W
    expected = np.sum(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(30), problem.b.astype(int)])
    assert problem.value(W.ravel()) == pytest.approx(expected, rel=1e-12)


def test_proximal_operators():
    lasso, _ = _glm("squared", l1=2.0)
    x = np.array([3.0, -0.5, 1.0, -4.0, 0.2, 0.0])
    np.testing.assert_allclose(lasso.prox_g(x, 0.5), [2.0, 0.0, 0.0, -3.0, 0.0, 0.0])
    assert lasso.objective(x) == pytest.approx(lasso.value(x) + 2.0 * np.abs(x).sum())
    nonneg, _ = _glm("squared", l1=2.0, nonneg=True)
    np.testing.assert_allclose(nonneg.prox_g(x, 0.5), [2.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert nonneg.g_fun(np.abs(x)) == pytest.approx(2.0 * np.abs(x).sum())
    assert nonneg.g_fun(x) == np.inf


def test_bad_softmax_labels():
    with pytest.raises(ValueError, match="class indices"):
        optkit.GLMProblem(np.ones((3, 2)), [0.0, 1.5, 2.0], loss="softmax")
