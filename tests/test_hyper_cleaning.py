"""Tests of data hyper-cleaning on the digits (``problems.hyper_cleaning``, BO-REP's E3): the
splits, the stored corruption, the objectives against an independent NumPy evaluation, the
derived oracles against finite differences, the mini-batch samplers, the frozen variant's
strong convexity, the helpers in ``info``, bad arguments, and a short BO-REP run that cleans."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optkit  # noqa: E402
import problems  # noqa: E402
from problems.hyper_cleaning import digits_hyper_cleaning  # noqa: E402

SMALL = {"hidden": 4, "dtype": "float64"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small():
    return {model: digits_hyper_cleaning(model=model, **SMALL) for model in ("rnn", "frozen")}


def numpy_of(t) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# -- the data ------------------------------------------------------------------------------------


def test_splits_are_stratified_sequences_of_rows_of_all_digits():
    from sklearn.datasets import load_digits

    p = digits_hyper_cleaning(model="frozen", hidden=2)
    info = p.info
    X = {"train": info["X_train"], "val": info["X_val"], "test": info["X_test"]}
    labels = {"train": info["clean_labels"], "val": info["labels_val"],
              "test": info["labels_test"]}
    assert {k: v.shape for k, v in X.items()} == {
        "train": (1000, 8, 8), "val": (300, 8, 8), "test": (497, 8, 8)}
    # together they are the digits, each image its 8 rows of 8 pixels / 16, once
    data, target = load_digits(return_X_y=True)
    stacked = np.concatenate([X[k].reshape(-1, 64) * 16 for k in X])
    stacked_labels = np.concatenate([labels[k] for k in X])
    order, expected = np.lexsort(stacked.T), np.lexsort(data.T)
    np.testing.assert_array_equal(stacked[order], data[expected])
    np.testing.assert_array_equal(stacked_labels[order], target[expected])
    # stratified: each class within one example of its share in every split
    share = np.bincount(target) / len(target)
    for k in X:
        counts = np.bincount(labels[k], minlength=10)
        assert np.all(np.abs(counts - share * len(labels[k])) <= 1.0), k
    # fixed whatever the seed
    np.testing.assert_array_equal(
        digits_hyper_cleaning(model="frozen", hidden=2, seed=5).info["X_val"], X["val"])


def test_the_corruption_is_drawn_once_and_stored():
    p, q = (digits_hyper_cleaning(model="frozen", hidden=2, noise=0.37, seed=3) for _ in "pq")
    mask, noisy, clean = (p.info[k] for k in ("corrupted", "noisy_labels", "clean_labels"))
    assert mask.dtype == bool and mask.shape == (1000,) and mask.sum() == 370
    np.testing.assert_array_equal(q.info["corrupted"], mask)
    np.testing.assert_array_equal(q.info["noisy_labels"], noisy)
    assert np.all(noisy[mask] != clean[mask]) and np.all(noisy[~mask] == clean[~mask])
    assert set(np.unique(noisy)) <= set(range(10))
    for arr in (mask, noisy, clean):
        assert not arr.flags.writeable
    other = digits_hyper_cleaning(model="frozen", hidden=2, noise=0.37, seed=4).info
    assert not np.array_equal(other["corrupted"], mask)
    assert digits_hyper_cleaning(model="frozen", hidden=2, noise=0.2).info["corrupted"].sum() \
        == 200
    # each corrupted label goes to another class uniformly: all 9 shifts appear, evenly
    big = digits_hyper_cleaning(model="frozen", hidden=2, noise=1.0).info
    shifts = np.bincount((big["noisy_labels"] - big["clean_labels"]) % 10, minlength=10)
    assert shifts[0] == 0 and shifts[1:].min() > 70


# -- the objectives --------------------------------------------------------------------------------


def numpy_rnn_logits(y: np.ndarray, shapes: dict, A: np.ndarray) -> np.ndarray:
    """The RNN's logits by hand: ``h_t = tanh(W_ih a_t + b_ih + W_hh h_{t-1} + b_hh)``, the
    head on ``h_8``."""
    params, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        params[name] = y[start:start + size].reshape(shape)
        start += size
    assert start == y.shape[0]
    h = np.zeros((A.shape[0], params["rnn.weight_hh_l0"].shape[0]))
    for t in range(A.shape[1]):
        h = np.tanh(A[:, t] @ params["rnn.weight_ih_l0"].T + params["rnn.bias_ih_l0"]
                    + h @ params["rnn.weight_hh_l0"].T + params["rnn.bias_hh_l0"])
    return h @ params["head.weight"].T + params["head.bias"]


@pytest.mark.parametrize("model", ["rnn", "frozen"])
def test_the_objectives_are_the_weighted_and_the_validation_cross_entropy(small, model):
    p = small[model]
    info, t = p.info, p.info["tensor"]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(1000), p.y0 + 0.3 * rng.standard_normal(p.m)
    if model == "rnn":
        assert list(info["param_shapes"]) == ["rnn.weight_ih_l0", "rnn.weight_hh_l0",
                                              "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                                              "head.weight", "head.bias"]
        np.testing.assert_allclose(info["logits"](y, "train"),
                                   numpy_rnn_logits(y, info["param_shapes"], info["X_train"]),
                                   rtol=1e-12, atol=1e-12)
    else:
        assert info["param_shapes"] == {"head.weight": (10, 32), "head.bias": (10,)}
        bias_only = np.concatenate([np.zeros(320), np.arange(10.0)])
        np.testing.assert_array_equal(info["logits"](bias_only, "val"),
                                      np.tile(np.arange(10.0), (300, 1)))
    ce_train = cross_entropy(info["logits"](y, "train"), info["noisy_labels"])
    expected = np.mean(sigmoid(x) * ce_train) + 0.5e-3 * y @ y
    assert p.lower_fun(t(x), t(y)) == pytest.approx(expected, rel=1e-12)
    ce_val = cross_entropy(info["logits"](y, "val"), info["labels_val"])
    assert p.upper_fun(t(x), t(y)) == pytest.approx(ce_val.mean(), rel=1e-12)
    gx, gy = p.upper_grad(t(x), t(y))
    assert torch.count_nonzero(gx) == 0 and gy.shape == (p.m,)
    acc = info["accuracy"](y)
    assert acc == np.mean(info["logits"](y).argmax(axis=1) == info["labels_test"])
    assert info["val_accuracy"](y) == info["accuracy"](y, "val")
    with pytest.raises(ValueError, match="split"):
        info["accuracy"](y, "validation")


@pytest.mark.parametrize("model", ["rnn", "frozen"])
def test_oracles_match_finite_differences(small, model):
    p = small[model]
    t = p.info["tensor"]
    rng = np.random.default_rng(1)
    batch = p.sample_lower(20, rng)
    x, y = t(rng.standard_normal(p.n)), t(p.y0 + 0.3 * rng.standard_normal(p.m))
    u, v = t(rng.standard_normal(p.n)), t(rng.standard_normal(p.m))
    h = 1e-5
    g = batch.lower_grad_y(x, y)
    assert g.dtype == torch.float64 and g.shape == (p.m,)
    fd = (batch.lower_fun(x, y + h * v) - batch.lower_fun(x, y - h * v)) / (2 * h)
    assert float(g @ v) == pytest.approx(fd, rel=1e-7)
    gx = batch.lower_grad_x(x, y)
    fd = (batch.lower_fun(x + h * u, y) - batch.lower_fun(x - h * u, y)) / (2 * h)
    assert float(gx @ u) == pytest.approx(fd, rel=1e-7)
    fd_yy = (batch.lower_grad_y(x, y + h * v) - batch.lower_grad_y(x, y - h * v)) / (2 * h)
    hv = batch.lower_hvp_yy(x, y, v)
    assert float(torch.linalg.norm(hv - fd_yy) / torch.linalg.norm(hv)) < 1e-7
    fd_xy = (batch.lower_grad_y(x + h * u, y) - batch.lower_grad_y(x - h * u, y)) / (2 * h)
    jv = batch.lower_hvp_xy(x, y, v)
    assert float(jv @ u) == pytest.approx(float(fd_xy @ v), rel=1e-7)
    # only the batch's 20 weights enter: the mixed product vanishes elsewhere
    assert torch.count_nonzero(jv) == 20
    up = p.sample_upper(30, rng)
    fd = (up.upper_fun(x, y + h * v) - up.upper_fun(x, y - h * v)) / (2 * h)
    assert float(up.upper_grad(x, y)[1] @ v) == pytest.approx(fd, rel=1e-7)


def test_samplers_draw_proper_subsets_without_replacement(small):
    p = small["frozen"]
    t = p.info["tensor"]
    rng = np.random.default_rng(2)
    x, y = t(rng.standard_normal(p.n)), t(p.y0)
    full = numpy_of(p.lower_grad_x(x, y))  # σ'(x_i) CE_i / 1000: all nonzero
    assert np.count_nonzero(full) == 1000
    seen = []
    for _ in range(3):
        part = numpy_of(p.sample_lower(100, rng).lower_grad_x(x, y))
        idx = np.flatnonzero(part)
        assert idx.shape == (100,)  # 100 distinct examples of the 1000
        np.testing.assert_allclose(part[idx] * 100, full[idx] * 1000, rtol=1e-12)
        seen.append(frozenset(idx))
    assert len(set(seen)) == 3  # fresh draws
    # an upper batch: the validation loss on the examples the run's generator picks
    i = np.random.default_rng(7).choice(300, size=50, replace=False)
    up = p.sample_upper(50, np.random.default_rng(7))
    ce = cross_entropy(p.info["logits"](p.y0, "val"), p.info["labels_val"])
    assert up.upper_fun(x, y) == pytest.approx(ce[i].mean(), rel=1e-12)
    assert up.upper_fun(x, y) != pytest.approx(ce.mean(), rel=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        p.sample_upper(301, rng)


def test_the_frozen_lower_level_is_strongly_convex_with_modulus_mu_reg():
    mu = 0.01
    p = digits_hyper_cleaning(model="frozen", hidden=1, mu_reg=mu, dtype="float64")
    assert p.m == 90 and p.lower_strong_convexity == mu
    t = p.info["tensor"]
    rng = np.random.default_rng(3)
    x, y = t(2 * rng.standard_normal(p.n)), t(rng.standard_normal(p.m))
    H = torch.stack([p.lower_hvp_yy(x, y, e) for e in torch.eye(p.m, dtype=torch.float64)])
    H = H.numpy()
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    eigs = np.linalg.eigvalsh(H)
    # >= mu, attained along shifting every logit alike (the cross-entropy ignores it)
    assert eigs[0] >= mu * (1 - 1e-9) and eigs[0] == pytest.approx(mu, rel=1e-9)
    assert eigs[-1] <= p.lower_smoothness
    assert digits_hyper_cleaning(model="frozen", hidden=1, mu_reg=0).lower_strong_convexity \
        is None
    rnn = digits_hyper_cleaning(model="rnn", hidden=2)  # nonconvex: no constants claimed
    assert rnn.lower_strong_convexity is None and rnn.lower_smoothness is None


# -- info helpers --------------------------------------------------------------------------------


def test_auc_weights_and_the_noisy_baseline():
    p = digits_hyper_cleaning(model="frozen")
    info = p.info
    mask = info["corrupted"]
    assert info["auc"](np.where(mask, -1.0, 1.0)) == 1.0  # corrupted get the small logits
    assert info["auc"](np.where(mask, 1.0, -1.0)) == 0.0
    assert info["auc"](info["tensor"](p.x0)) == 0.5
    np.testing.assert_allclose(info["weights"](np.array([0.0, np.log(3.0)])), [0.5, 0.75])
    y = info["train_noisy"](epochs=3, batch_size=100, lr=0.5, seed=0)
    assert isinstance(y, np.ndarray) and y.shape == (p.m,)
    np.testing.assert_array_equal(y, info["train_noisy"](3, 100, 0.5, 0))
    assert info["accuracy"](p.y0) < 0.3 < 0.7 < info["accuracy"](y)
    np.testing.assert_allclose(info["train_noisy"](epochs=0), p.y0, rtol=1e-6)  # float32
    with pytest.raises(ValueError, match="corrupted and clean"):
        digits_hyper_cleaning(model="frozen", hidden=2, noise=0.0).info["auc"](p.x0)


def test_numpy_oracles_and_the_catalog():
    p = problems.get("digits-hyper-cleaning", model="frozen", hidden=2, tensors=False)
    g = p.lower_grad_y(p.x0, p.y0)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == (p.m,)
    assert "tensor" not in p.info
    rows = {row["name"]: row for row in problems.catalog()}
    row = rows["digits-hyper-cleaning"]
    assert row["kind"] == "bilevel" and row["summary"]
    default = problems.get("digits-hyper-cleaning")
    assert default.name == "digits-hyper-cleaning" and (default.n, default.m) == (1000, 1674)
    assert default.info["tensor"](default.x0).dtype == torch.float32


@pytest.mark.parametrize("kwargs", [{"noise": 1.5}, {"model": "lstm"}, {"hidden": 0},
                                    {"mu_reg": -1.0}, {"seed": -1}, {"dtype": "int64"}])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        digits_hyper_cleaning(**kwargs)


def test_missing_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    with pytest.raises(ImportError, match=r"pip install optkit\[torch\]"):
        digits_hyper_cleaning()


def test_importing_the_module_imports_no_torch():
    code = "import sys, problems.hyper_cleaning; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- BO-REP cleans the data ----------------------------------------------------------------------


def test_a_short_bo_rep_run_down_weights_the_corrupted_examples():
    p = digits_hyper_cleaning(model="frozen")
    res = optkit.minimize(p, method="bo-rep", backend="torch", options={
        "maxiter": 50, "batch_size": 100, "eta": 1.0, "alpha": 0.3, "nu": 0.5,
        "refine_epochs": 1, "seed": 0})
    assert res.nit == 50 and res.x.shape == (1000,)
    weight, mask = p.info["weights"](res.x), p.info["corrupted"]
    assert weight[mask].mean() < weight[~mask].mean() - 0.1
    assert p.info["auc"](res.x) > 0.8
