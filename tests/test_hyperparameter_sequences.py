"""Tests of the ridge weight of an RNN on noisy sums (``problems.hyperparameter_sequences``,
BO-REP's E5): the stored seeded data and its label rule, the objectives against an
independent NumPy evaluation, the derived oracles against finite differences and closed forms,
the mini-batch samplers, ``fit_lower``, the interior optimum of the regularization path, and
bad arguments."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import problems  # noqa: E402
from problems.hyperparameter_sequences import noisy_sum_hyperparameter  # noqa: E402

SMALL = {"hidden": 4, "dtype": "float64"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small():
    return noisy_sum_hyperparameter(**SMALL)


def numpy_of(t) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]


def numpy_logits(y: np.ndarray, shapes: dict, U: np.ndarray) -> np.ndarray:
    """The network by hand: ``h_t = tanh(W_ih u_t + b_ih + W_hh h_{t-1} + b_hh)``, the head
    on the mean of ``h_1..h_20``."""
    params, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        params[name] = y[start:start + size].reshape(shape)
        start += size
    assert start == y.shape[0]
    h = np.zeros((U.shape[0], params["rnn.weight_hh_l0"].shape[0]))
    total = np.zeros_like(h)
    for t in range(U.shape[1]):
        h = np.tanh(U[:, t:t + 1] @ params["rnn.weight_ih_l0"].T + params["rnn.bias_ih_l0"]
                    + h @ params["rnn.weight_hh_l0"].T + params["rnn.bias_hh_l0"])
        total += h
    return (total / U.shape[1]) @ params["head.weight"].T + params["head.bias"]


# -- the data ------------------------------------------------------------------------------------


def test_the_data_are_drawn_once_seeded_and_follow_the_sign_rule():
    p, q = (noisy_sum_hyperparameter(hidden=2, noise=0.15, seed=3) for _ in "pq")
    sizes = {"train": 100, "val": 500, "test": 2000}
    for split, n in sizes.items():
        U, labels, flipped = (p.info[f"{k}_{split}"] for k in ("X", "labels", "flipped"))
        assert U.shape == (n, 20) and labels.shape == (n,) and flipped.dtype == bool
        assert flipped.sum() == round(0.15 * n)
        # the label is the sign of the sum, except on the flipped ones
        np.testing.assert_array_equal(labels[~flipped], U[~flipped].sum(axis=1) > 0)
        np.testing.assert_array_equal(labels[flipped], U[flipped].sum(axis=1) <= 0)
        for key in (f"X_{split}", f"labels_{split}", f"flipped_{split}"):
            assert not p.info[key].flags.writeable
            np.testing.assert_array_equal(p.info[key], q.info[key])  # a rebuild: the same
        # the inputs are standard normal; about half the clean labels are 1
        assert abs(U.mean()) < 0.1 and abs(U.std() - 1) < 0.1
        assert 0.4 < labels[~flipped].mean() < 0.6
    # the same arrays on every access; another seed draws others
    assert p.info["X_val"] is p.info["X_val"]
    other = noisy_sum_hyperparameter(hidden=2, noise=0.15, seed=4).info
    assert not np.array_equal(other["X_train"], p.info["X_train"])
    assert not np.array_equal(other["flipped_test"], p.info["flipped_test"])
    # a split does not depend on the size of another; n_train sets the training size
    bigger = noisy_sum_hyperparameter(hidden=2, noise=0.15, seed=3, n_train=40).info
    assert bigger["X_train"].shape == (40, 20)
    np.testing.assert_array_equal(bigger["X_val"], p.info["X_val"])
    np.testing.assert_array_equal(bigger["X_test"], p.info["X_test"])
    assert noisy_sum_hyperparameter(hidden=2, noise=0.0).info["flipped_val"].sum() == 0


# -- the objectives --------------------------------------------------------------------------------


def test_the_objectives_are_the_ridge_training_and_the_validation_cross_entropy(small):
    p, info = small, small.info
    t = info["tensor"]
    assert list(info["param_shapes"]) == ["rnn.weight_ih_l0", "rnn.weight_hh_l0",
                                          "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                                          "head.weight", "head.bias"]
    assert p.n == 1 and p.m == 4 * 7 + 10 and p.x0.tolist() == [-8.0]
    rng = np.random.default_rng(0)
    y, rho = p.y0 + 0.3 * rng.standard_normal(p.m), -1.3
    ce = {k: cross_entropy(numpy_logits(y, info["param_shapes"], info[f"X_{k}"]),
                           info[f"labels_{k}"]).mean() for k in ("train", "val", "test")}
    assert p.lower_fun(t([rho]), t(y)) == pytest.approx(
        ce["train"] + 0.5 * np.exp(rho) * y @ y, rel=1e-12)
    assert p.upper_fun(t([rho]), t(y)) == pytest.approx(ce["val"], rel=1e-12)
    for split, value in ce.items():
        assert info["loss"](y, split) == pytest.approx(value, rel=1e-12)
    logits = numpy_logits(y, info["param_shapes"], info["X_test"])
    assert info["accuracy"](y) == np.mean(logits.argmax(axis=1) == info["labels_test"])
    assert info["loss"](y) == info["loss"](y, "val")
    with pytest.raises(ValueError, match="split"):
        info["loss"](y, "validation")
    with pytest.raises(ValueError, match="split"):
        info["accuracy"](y, "dev")


def test_oracles_match_finite_differences_and_closed_forms(small):
    p = small
    t = p.info["tensor"]
    rng = np.random.default_rng(1)
    rho = -0.7
    x, y = t([rho]), t(p.y0 + 0.3 * rng.standard_normal(p.m))
    v = t(rng.standard_normal(p.m))
    h = 1e-5
    # upper: F does not depend on rho; its y-gradient
    gx, gy = p.upper_grad(x, y)
    assert gx.dtype == torch.float64 and gx.shape == (1,) and float(gx[0]) == 0.0
    fd = (p.upper_fun(x, y + h * v) - p.upper_fun(x, y - h * v)) / (2 * h)
    assert float(gy @ v) == pytest.approx(fd, rel=1e-7)
    # lower gradients
    g = p.lower_grad_y(x, y)
    fd = (p.lower_fun(x, y + h * v) - p.lower_fun(x, y - h * v)) / (2 * h)
    assert float(g @ v) == pytest.approx(fd, rel=1e-7)
    gx = p.lower_grad_x(x, y)
    assert float(gx[0]) == pytest.approx(0.5 * np.exp(rho) * float(y @ y), rel=1e-14)
    fd = (p.lower_fun(x + h, y) - p.lower_fun(x - h, y)) / (2 * h)
    assert float(gx[0]) == pytest.approx(fd, rel=1e-8)
    # Hessian-vector products: yy against differences of the gradient, xy in closed form
    hv = p.lower_hvp_yy(x, y, v)
    fd_yy = (p.lower_grad_y(x, y + h * v) - p.lower_grad_y(x, y - h * v)) / (2 * h)
    assert float(torch.linalg.norm(hv - fd_yy) / torch.linalg.norm(hv)) < 1e-7
    jv = p.lower_hvp_xy(x, y, v)
    assert jv.shape == (1,)
    assert float(jv[0]) == pytest.approx(np.exp(rho) * float(y @ v), rel=1e-14)
    fd_xy = (p.lower_grad_y(x + h, y) - p.lower_grad_y(x - h, y)) / (2 * h)
    assert float(jv[0]) == pytest.approx(float(fd_xy @ v), rel=1e-7)


def test_samplers_draw_batches_of_their_own_split(small):
    p, info = small, small.info
    t = info["tensor"]
    x, y = t([-2.0]), t(p.y0)
    ce_train = cross_entropy(numpy_logits(p.y0, info["param_shapes"], info["X_train"]),
                             info["labels_train"])
    ridge = 0.5 * np.exp(-2.0) * p.y0 @ p.y0
    seen = set()
    for seed in range(3):
        i = np.random.default_rng(seed).choice(100, size=20, replace=False)
        batch = p.sample_lower(20, np.random.default_rng(seed))
        assert batch.lower_fun(x, y) == pytest.approx(ce_train[i].mean() + ridge, rel=1e-12)
        # the ridge term's derivative does not depend on the batch
        assert float(batch.lower_grad_x(x, y)[0]) == pytest.approx(ridge, rel=1e-14)
        seen.add(frozenset(i))
    assert len(seen) == 3
    ce_val = cross_entropy(numpy_logits(p.y0, info["param_shapes"], info["X_val"]),
                           info["labels_val"])
    i = np.random.default_rng(7).choice(500, size=50, replace=False)
    up = p.sample_upper(50, np.random.default_rng(7))
    assert up.upper_fun(x, y) == pytest.approx(ce_val[i].mean(), rel=1e-12)
    assert up.upper_fun(x, y) != pytest.approx(ce_val.mean(), rel=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        p.sample_lower(101, np.random.default_rng(0))


# -- fit_lower and the regularization path ---------------------------------------------------------


def test_fit_lower_reaches_a_stationary_point_at_a_fixed_rho(small):
    p, fit = small, small.info["fit_lower"]
    t = p.info["tensor"]
    rho = -3.0
    # a small step: with 0.1 and more, full-batch descent on this RNN oscillates at a
    # gradient norm of 0.3 instead of converging (measured)
    y = fit(rho, steps=2000, lr=0.05)
    assert isinstance(y, np.ndarray) and y.shape == (p.m,)
    start = float(torch.linalg.norm(p.lower_grad_y(t([rho]), t(p.y0))))
    grad = float(torch.linalg.norm(p.lower_grad_y(t([rho]), t(y))))
    assert grad < 0.01 < 0.1 < start  # measured 0.004 from 0.2
    # not the collapsed network y = 0 (training loss 0.68 there): it reads the sums
    assert p.info["loss"](y, "train") < 0.6 and y @ y > 1.0
    np.testing.assert_array_equal(fit(rho, steps=0), p.y0)
    np.testing.assert_array_equal(fit(rho, 30, 0.5), fit(rho, steps=30, lr=0.5))
    # mini-batches, drawn by the seed
    a, b = fit(rho, 30, 0.5, batch_size=20, seed=1), fit(rho, 30, 0.5, batch_size=20, seed=2)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, fit(rho, 30, 0.5, batch_size=20, seed=1))
    for kwargs, match in (({"steps": -1}, "steps"), ({"lr": 0.0}, "lr"),
                          ({"batch_size": 101}, "batch_size"), ({"rho": np.inf}, "rho")):
        with pytest.raises(ValueError, match=match):
            fit(**{"rho": rho, **kwargs})


def test_the_regularization_path_has_an_interior_optimum():
    """The default problem (seed 0), each rho trained by 700 gradient steps of 0.2: a weak
    ridge overfits and a strong one collapses the network to 0 (measured validation loss 0.80
    at rho = -10, 0.57 at -4, 0.70 at -2)."""
    p = noisy_sum_hyperparameter()
    fit, loss = p.info["fit_lower"], p.info["loss"]
    val = {rho: loss(fit(rho, steps=700, lr=0.2), "val") for rho in (-10.0, -4.0, -2.0)}
    assert val[-4.0] < min(val[-10.0], val[-2.0]) - 0.05
    assert val[-2.0] == pytest.approx(np.log(2), abs=0.02)


# -- arguments and the catalog ---------------------------------------------------------------------


def test_numpy_oracles_and_the_catalog():
    p = problems.get("noisy-sum-hyperparameter", hidden=2, tensors=False)
    g = p.lower_grad_y(p.x0, p.y0)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == (p.m,)
    assert "tensor" not in p.info
    rows = {row["name"]: row for row in problems.catalog()}
    row = rows["noisy-sum-hyperparameter"]
    assert row["kind"] == "bilevel" and row["summary"]
    default = problems.get("noisy-sum-hyperparameter")
    assert default.name == "noisy-sum-hyperparameter" and (default.n, default.m) == (1, 1186)
    assert default.lower_strong_convexity is None
    assert default.info["tensor"](default.x0).dtype == torch.float32
    assert p.name == "noisy-sum-hyperparameter-rnn2-noise0.2-n100"


@pytest.mark.parametrize("kwargs", [{"noise": 0.5}, {"noise": -0.1}, {"hidden": 0},
                                    {"hidden": 2.5}, {"n_train": 0}, {"seed": -1},
                                    {"dtype": "int64"}])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        noisy_sum_hyperparameter(**kwargs)


def test_missing_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    with pytest.raises(ImportError, match=r"pip install optkit\[torch\]"):
        noisy_sum_hyperparameter()


def test_importing_the_module_imports_no_torch():
    code = "import sys, problems.hyperparameter_sequences; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
