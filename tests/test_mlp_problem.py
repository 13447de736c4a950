"""Tests of the one-hidden-layer MLP problem ``problems.ml.mlp_classification`` ("mlp-digits")."""

from __future__ import annotations

import numpy as np
import pytest

import optkit
import problems
from optkit.problem import Problem
from problems import ml

ACTIVATIONS = ["relu", "elu", "tanh"]


@pytest.fixture(scope="module", params=ACTIVATIONS)
def small(request) -> Problem:
    """A small MLP (8 hidden units, mild L2) so that the finite differences are cheap."""
    return ml.mlp_classification(hidden=8, activation=request.param, l2=1e-2)


def central_grad(fun, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b)))


def test_shapes_and_start(small):
    d, h, k = 64, 8, 10
    assert small.x0.shape == ((d + 1) * h + (h + 1) * k,)
    assert small.f_opt is None
    assert np.all(np.isfinite(small.x0)) and np.any(small.x0 != 0)
    # at a small random init the outputs are near uniform: loss close to log(10)
    assert abs(small.value(small.x0) - np.log(10)) < 0.5


def test_gradient_at_x0_and_a_random_point(small):
    """Every coordinate by central differences on a 64-sample batch (the same code path), and
    the full objective along random directions."""
    rng = np.random.default_rng(3)
    x_rand = small.x0 + 0.3 * rng.standard_normal(small.x0.size)
    batch = small.sample(64, np.random.default_rng(4))
    for x in (small.x0, x_rand):
        # ReLU's kinks: at these points no pre-activation lies within 1e-6 of 0 (almost
        # surely), so the central differences are those of a smooth function.
        g = batch.gradient(x)
        assert g.shape == x.shape
        assert rel_err(g, central_grad(batch.value, x)) < 1e-6
        f, g = small.value_and_grad(x)
        for _ in range(3):
            u = rng.standard_normal(x.size)
            h = 1e-6
            fd = (small.value(x + h * u) - small.value(x - h * u)) / (2 * h)
            assert fd == pytest.approx(g @ u, rel=1e-6, abs=1e-9)


def test_full_batch_sample_is_the_objective(small):
    m = ml.mlp_digits_split()[0].shape[0]
    batch = small.sample(m, np.random.default_rng(0))
    x = small.x0 + 0.1
    f, g = small.value_and_grad(x)
    fb, gb = batch.value_and_grad(x)
    assert fb == pytest.approx(f, rel=1e-12)
    np.testing.assert_allclose(gb, g, rtol=1e-10, atol=1e-14)


def test_minibatch_gradients_average_to_the_full_gradient(monkeypatch):
    """Gradients of the batches of a partition of the training set, weighted by their sizes,
    give the full gradient (the objective is a mean over samples); random batches are
    unbiased."""
    p = ml.mlp_classification(hidden=16, activation="elu", l2=1e-3)
    m = ml.mlp_digits_split()[0].shape[0]
    x = p.x0
    g = p.gradient(x)
    rng = np.random.default_rng(1)
    mean = np.mean([p.sample(64, rng).gradient(x) for _ in range(400)], axis=0)
    assert rel_err(mean, g) < 0.1

    # consecutive slices of one permutation instead of random batches: a partition
    order = iter(np.array_split(np.random.default_rng(0).permutation(m), range(64, m, 64)))
    monkeypatch.setattr(ml, "_batch_indices", lambda n, size, rng: next(order))
    sizes = [64] * (m // 64) + [m % 64]
    total = sum(size * p.sample(size, None).gradient(x) for size in sizes)
    np.testing.assert_allclose(total / m, g, rtol=1e-9, atol=1e-13)


def test_sample_draws_distinct_rows_and_checks_the_size():
    p = ml.mlp_classification(hidden=4)
    m = ml.mlp_digits_split()[0].shape[0]
    with pytest.raises(ValueError, match="batch_size"):
        p.sample(m + 1, np.random.default_rng(0))
    a = p.sample(32, np.random.default_rng(5)).value(p.x0)
    b = p.sample(32, np.random.default_rng(5)).value(p.x0)
    assert a == b


def test_split_is_stratified_seeded_and_read_only():
    X_tr, X_te, y_tr, y_te = ml.mlp_digits_split()
    assert X_tr.shape == (1347, 64) and X_te.shape == (450, 64)
    assert X_tr.min() >= 0.0 and X_tr.max() <= 1.0
    counts_tr = np.bincount(y_tr, minlength=10) / y_tr.size
    counts_te = np.bincount(y_te, minlength=10) / y_te.size
    assert np.max(np.abs(counts_tr - counts_te)) < 0.01
    assert not X_tr.flags.writeable
    again = ml.mlp_digits_split(0.25, 0)
    assert all(np.array_equal(a, b) for a, b in zip((X_tr, X_te, y_tr, y_te), again, strict=True))
    other = ml.mlp_digits_split(0.25, 1)
    assert not np.array_equal(y_te, other[3])


def test_seed_changes_the_initialization():
    a, b = ml.mlp_classification(seed=0), ml.mlp_classification(seed=1)
    assert not np.array_equal(a.x0, b.x0)
    np.testing.assert_array_equal(a.x0, ml.mlp_classification(seed=0).x0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="activation"):
        ml.mlp_classification(activation="sigmoid")
    with pytest.raises(ValueError, match="dataset"):
        ml.mlp_classification(dataset="mnist")
    with pytest.raises(ValueError, match="hidden"):
        ml.mlp_classification(hidden=0)
    with pytest.raises(ValueError, match="l2"):
        ml.mlp_classification(l2=-1.0)
    with pytest.raises(ValueError, match="test_size"):
        ml.mlp_digits_split(test_size=1.5)
    with pytest.raises(ValueError, match="does not fit"):
        ml.mlp_predict(np.zeros(10), np.zeros((3, 64)))


def test_predict_matches_the_loss_model():
    """At the start, the predicted class is the argmax of the probabilities the loss uses."""
    p = ml.mlp_classification(hidden=8, activation="tanh")
    X = ml.mlp_digits_split()[0][:50]
    pred = ml.mlp_predict(p.x0, X, hidden=8, activation="tanh")
    W1, b1, W2, b2 = ml._mlp_unpack(p.x0, 64, 8, 10)
    np.testing.assert_array_equal(pred, np.argmax(np.tanh(X @ W1 + b1) @ W2 + b2, axis=1))


def test_catalog_entry_builds():
    rows = {row["name"]: row for row in problems.catalog()}
    assert rows["mlp-digits"]["kind"] == "ml"
    p = problems.get("mlp-digits")
    assert isinstance(p, Problem) and p.name == "mlp-digits"
    assert p.x0.shape == (4810,) and p.f_opt is None
    assert problems.get("mlp-digits", activation="elu", hidden=4).x0.shape == (310,)


def test_diffgrad_trains_the_network():
    """Measured: 2.444 -> 0.058 training loss, test accuracy 0.973 (450 held-out digits)."""
    p = problems.get("mlp-digits")
    f0 = p.value(p.x0)
    res = optkit.minimize(p, method="diffgrad",
                          options={"lr": 1e-2, "batch_size": 64, "maxiter": 300, "seed": 0})
    assert res.nit == 300
    assert res.fun < 0.1 * f0
    _, X_te, _, y_te = ml.mlp_digits_split()
    assert ml.mlp_accuracy(res.x, X_te, y_te) > 0.95
