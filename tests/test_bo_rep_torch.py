"""BO-REP and its baselines on torch (``backend="torch"``): the NumPy runs' iterates on CPU,
tensors from start to end, and problems from torch functions with data (mini-batch
samplers)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import optkit
from problems.stochastic_bilevel import stochastic_quadratic, with_noise

torch = pytest.importorskip("torch")


def torch_quadratic(numpy_problem, sigma):
    """BO-REP's E2 from torch functions (oracles on tensors), the data of ``numpy_problem``."""
    info = numpy_problem.info
    H, B, c, D = (torch.tensor(info[k]) for k in ("H", "B", "c", "D"))
    problem = optkit.BilevelProblem.from_torch(
        upper=lambda x, y: 0.5 * ((y - c) ** 2).sum() + 0.5 * ((D @ x) ** 2).sum(),
        lower=lambda x, y: 0.5 * y @ H @ y - y @ (B @ x),
        x0=numpy_problem.x0, y0=numpy_problem.y0, tensors=True,
        lower_strong_convexity=numpy_problem.lower_strong_convexity,
        info={"phi_grad": info["phi_grad"]}, name="stochastic-quadratic-torch")
    return with_noise(problem, sigma)


@pytest.mark.parametrize("method, options", [
    ("bo-rep", {"eta": 0.05, "nu": 0.2, "alpha": 0.2}),
    ("ma-soba", {"eta": 0.05}),
    ("stocbio", {"eta": 0.05, "alpha": 0.2}),
    ("sustain", {"eta": 0.05, "alpha": 0.2}),
])
def test_torch_backend_repeats_the_numpy_run(method, options):
    # the issue: same seed, same samples, float64 on CPU: the iterates agree to 1e-10
    numpy_problem = stochastic_quadratic(sigma=0.5)
    torch_problem = torch_quadratic(numpy_problem, sigma=0.5)
    opts = {"maxiter": 60, "batch_size": 1, "seed": 3, **options}
    if method == "bo-rep":
        opts["refine_epochs"] = 2  # 48 refinement steps, not 240: a faster test
    paths = {}
    for backend, problem in (("numpy", numpy_problem), ("torch", torch_problem)):
        path = []
        res = optkit.minimize(problem, method=method, options=opts, backend=backend,
                              callback=path.append)
        paths[backend] = (np.array(path), res)
    (xs_np, res_np), (xs_t, res_t) = paths["numpy"], paths["torch"]
    assert xs_np.shape == (60, numpy_problem.n) and isinstance(xs_t, np.ndarray)
    np.testing.assert_allclose(xs_t, xs_np, rtol=0, atol=1e-10)
    assert isinstance(res_t.x, np.ndarray) and isinstance(res_t.y, np.ndarray)
    np.testing.assert_allclose(res_t.y, res_np.y, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res_t.history["phi_grad_norm"], res_np.history["phi_grad_norm"],
                               rtol=1e-9)
    assert res_t.lower_nhev == res_np.lower_nhev and res_t.njev == res_np.njev


def test_the_torch_loop_keeps_tensors():
    # every oracle of a torch run sees tensors, never arrays (no round trip inside the loop)
    numpy_problem = stochastic_quadratic(sigma=0.0)
    problem = torch_quadratic(numpy_problem, sigma=0.0)
    seen = set()

    def watch(fun):
        def oracle(*args):
            seen.update(type(a).__name__ for a in args)
            return fun(*args)
        return oracle

    watched = dataclasses.replace(problem, **{name: watch(getattr(problem, name)) for name in (
        "upper_grad", "lower_grad_y", "lower_hvp_yy", "lower_hvp_xy")})
    optkit.minimize(watched, method="bo-rep", backend="torch", options={"maxiter": 5})
    assert seen == {"Tensor"}


def test_torch_backend_needs_a_tensor_problem():
    with pytest.raises(TypeError, match="tensors=True"):
        optkit.minimize(stochastic_quadratic(), method="bo-rep", backend="torch")


def test_data_samplers_draw_mini_batches():
    # least squares with data: a mini-batch's oracles are the formulas on its rows, and
    # their mean over all batches of size 1 is the full oracle
    rng = np.random.default_rng(0)
    X, t = torch.as_tensor(rng.standard_normal((30, 3))), torch.as_tensor(rng.standard_normal(30))
    Xv, tv = torch.as_tensor(rng.standard_normal((20, 3))), torch.as_tensor(rng.standard_normal(20))
    problem = optkit.BilevelProblem.from_torch(
        upper=lambda x, y, A, b: 0.5 * ((A @ y - b) ** 2).mean(),
        lower=lambda x, y, A, b: 0.5 * ((A @ y - b) ** 2).mean() + 0.5 * (x.exp() * y**2).sum(),
        x0=np.zeros(3), y0=np.zeros(3), upper_data=(Xv, tv), lower_data=(X, t),
        lower_strong_convexity=0.1)
    x, y = np.full(3, -1.0), np.ones(3)
    full = problem.lower_grad_y(x, y)
    expected = X.numpy().T @ (X.numpy() @ y - t.numpy()) / 30 + np.exp(x) * y
    np.testing.assert_allclose(full, expected, rtol=1e-12)
    batch = problem.sample_lower(30, np.random.default_rng(1))  # all rows, another order
    np.testing.assert_allclose(batch.lower_grad_y(x, y), full, rtol=1e-12)
    assert batch.sample_lower is None and batch.sample_upper is None
    one = problem.sample_lower(1, np.random.default_rng(2))
    i = int(np.random.default_rng(2).choice(30, size=1, replace=False)[0])
    row, target = X.numpy()[i], t.numpy()[i]
    np.testing.assert_allclose(one.lower_grad_y(x, y), row * (row @ y - target) + np.exp(x) * y,
                               rtol=1e-12)
    assert one.upper_fun(x, y) == problem.upper_fun(x, y)  # the other level unchanged
    with pytest.raises(ValueError, match="batch_size"):
        problem.sample_upper(21, np.random.default_rng(0))
    with pytest.raises(ValueError, match="differ in length"):
        optkit.BilevelProblem.from_torch(
            upper=lambda x, y, A, b: (A @ y - b).sum(), lower=lambda x, y: (y**2).sum(),
            x0=np.zeros(3), y0=np.zeros(3), upper_data=(Xv, t))
    # a stochastic run on the samplers
    res = optkit.minimize(problem, method="soba", options={"maxiter": 200, "batch_size": 8,
                                                           "eta": 0.05, "alpha": 0.3,
                                                           "nu": 0.3, "seed": 0})
    assert res.fun < problem.upper_fun(problem.x0, problem.y0)


def test_data_are_cast_to_the_problems_dtype():
    # float64 inputs with dtype float32: the data follow (labels and indices keep their dtype)
    A = torch.ones((6, 2), dtype=torch.float64)
    labels = torch.arange(6)
    problem = optkit.BilevelProblem.from_torch(
        upper=lambda x, y: (y**2).sum(),
        lower=lambda x, y, A, k: ((A @ y - k.to(y.dtype)) ** 2).mean() + (x * y).sum(),
        x0=np.zeros(2), y0=np.zeros(2), lower_data=(A, labels), tensors=True,
        dtype=torch.float32)
    g = problem.lower_grad_y(problem.info["tensor"](np.ones(2)), problem.info["tensor"](np.ones(2)))
    assert g.dtype == torch.float32
    batch = problem.sample_lower(3, np.random.default_rng(0))
    assert batch.lower_hvp_xy(np.ones(2), np.ones(2), np.ones(2)).dtype == torch.float32


def test_derived_products_are_the_blocks_of_the_hessian():
    # spec oracle 1: on a random small lower level, the derived lower_hvp_yy and lower_hvp_xy
    # (double backward) are the yy and xy blocks of torch's Hessian of f on (x, y), float64
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)

    def lower(x, y):
        return torch.log1p(torch.exp(W @ y * x[:1] + b)).sum() + (x[1:] * y**2).sum() \
            + 0.1 * (y**4).sum()

    problem = optkit.BilevelProblem.from_torch(
        upper=lambda x, y: (y**2).sum(), lower=lower, x0=np.ones(4), y0=np.zeros(3),
        tensors=True)
    x = torch.tensor([0.7, 0.3, -0.2, 1.1], dtype=torch.float64)
    y = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    H = torch.autograd.functional.hessian(lambda xy: lower(xy[:4], xy[4:]), torch.cat([x, y]))
    for v in torch.eye(3, dtype=torch.float64):
        torch.testing.assert_close(problem.lower_hvp_yy(x, y, v), H[4:, 4:] @ v,
                                   rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(problem.lower_hvp_xy(x, y, v), H[:4, 4:] @ v,
                                   rtol=1e-10, atol=1e-12)
