"""Tests of the two-layer ReLU training problems of the catalog (``problems.relu``)."""

from __future__ import annotations

import numpy as np
import pytest

import problems
from optkit import ReLUTrainingProblem
from problems.relu import relu_breast_cancer, relu_digits_2v8, relu_moons, relu_synthetic

NAMES = ["relu-synthetic", "relu-breast-cancer", "relu-digits-2v8", "relu-moons"]
LABELS = {"squared": {-1.0, 1.0}, "hinge": {-1.0, 1.0}, "bce": {0.0, 1.0}}


def test_catalog_lists_the_relu_problems():
    rows = {row["name"]: row for row in problems.catalog()}
    for name in NAMES:
        assert rows[name]["kind"] == "relu-training"
        assert rows[name]["summary"]


@pytest.mark.parametrize("name", NAMES)
def test_get_builds_a_relu_training_problem(name):
    p = problems.get(name)
    assert isinstance(p, ReLUTrainingProblem)
    assert p.name == name
    assert np.all(np.isfinite(p.X)) and p.y.shape == (p.n,)
    if name != "relu-synthetic":
        assert np.all(p.X[:, -1] == 1.0) and np.all(p.X_test[:, -1] == 1.0)
        assert p.X_test.shape[1] == p.d and p.y_test.shape == (p.X_test.shape[0],)
        assert set(p.y.tolist()) == LABELS[p.loss] == set(p.y_test.tolist())


# -- relu-synthetic ----------------------------------------------------------------------------


def test_synthetic_is_gaussian_and_seeded():
    p = problems.get("relu-synthetic")
    assert p.X.shape == (50, 5) and p.y.shape == (50,)
    assert p.loss == "squared" and p.beta == 0.1 and p.X_test is None
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(p.X, rng.standard_normal((50, 5)))
    np.testing.assert_array_equal(p.y, rng.standard_normal(50))
    np.testing.assert_array_equal(relu_synthetic(seed=0).X, p.X)
    assert not np.array_equal(relu_synthetic(seed=1).X, p.X)
    q = relu_synthetic(n=7, d=3, beta=2.0)
    assert q.X.shape == (7, 3) and q.beta == 2.0


# -- relu-breast-cancer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def breast_cancer_raw():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


@pytest.mark.parametrize("loss", ["squared", "bce", "hinge"])
def test_breast_cancer_split_and_labels(loss, breast_cancer_raw):
    p = relu_breast_cancer(loss=loss)
    assert p.X.shape == (398, 31) and p.X_test.shape == (171, 31)
    assert p.loss == loss and p.beta == 1.0
    assert set(p.y.tolist()) == LABELS[loss]
    # stratified: the share of benign (positive) samples is that of the whole set
    share = np.mean(breast_cancer_raw[1] == 1)
    for labels in (p.y, p.y_test):
        assert np.mean(labels == 1.0) == pytest.approx(share, abs=0.01)
    # the features do not depend on the loss
    np.testing.assert_array_equal(p.X, relu_breast_cancer(loss="squared").X)


def test_breast_cancer_is_standardized_with_training_statistics(breast_cancer_raw):
    from sklearn.model_selection import train_test_split

    p = relu_breast_cancer(seed=3)
    features, test_features = p.X[:, :-1], p.X_test[:, :-1]
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(features.std(axis=0), 1.0, rtol=1e-12)
    # the test rows are not standardized on their own
    assert np.abs(test_features.mean(axis=0)).max() > 0.05
    assert np.abs(test_features.std(axis=0) - 1.0).max() > 0.05
    # and they are transformed with the training mean and standard deviation
    X, y = breast_cancer_raw
    X_train, X_test, _, _ = train_test_split(X, y == 1, test_size=0.3, random_state=3,
                                             stratify=y == 1)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    np.testing.assert_allclose(test_features, (X_test - mean) / std, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(features, (X_train - mean) / std, rtol=1e-12, atol=1e-12)


def test_breast_cancer_split_options():
    p = relu_breast_cancer(test_size=0.5, seed=1)
    assert p.X.shape[0] + p.X_test.shape[0] == 569
    assert p.X_test.shape[0] == 285
    assert not np.array_equal(relu_breast_cancer(seed=1).X, relu_breast_cancer(seed=2).X)
    np.testing.assert_array_equal(relu_breast_cancer(seed=1).X, relu_breast_cancer(seed=1).X)


# -- relu-digits-2v8 ---------------------------------------------------------------------------


def test_digits_split_pixels_and_labels():
    p = problems.get("relu-digits-2v8")
    assert p.X.shape == (245, 65) and p.X_test.shape == (106, 65)
    assert p.loss == "squared" and p.beta == 1e-3
    pixels = np.vstack([p.X, p.X_test])[:, :-1]
    assert pixels.min() == 0.0 and pixels.max() == 1.0
    # 177 twos and 174 eights; stratified
    assert np.sum(p.y == 1) + np.sum(p.y_test == 1) == 177
    assert np.mean(p.y == 1) == pytest.approx(177 / 351, abs=0.01)
    q = relu_digits_2v8(loss="bce")
    np.testing.assert_array_equal(q.X, p.X)
    np.testing.assert_array_equal(q.y, (p.y + 1) / 2)


def test_digits_labels_follow_the_digit():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    twos = {row.tobytes() for row in X[y == 2] / 16.0}
    eights = {row.tobytes() for row in X[y == 8] / 16.0}
    p = relu_digits_2v8()
    for row, label in zip(np.vstack([p.X, p.X_test])[:, :-1],
                          np.concatenate([p.y, p.y_test]), strict=True):
        assert row.tobytes() in (twos if label == 1.0 else eights)


def test_digits_scale_up_by_jittered_bootstrap():
    base = relu_digits_2v8()
    p = relu_digits_2v8(n=5000)
    assert p.X.shape == (5000, 65) and p.y.shape == (5000,)
    np.testing.assert_array_equal(p.X[:245], base.X)  # the originals come first
    np.testing.assert_array_equal(p.y[:245], base.y)
    np.testing.assert_array_equal(p.X_test, base.X_test)  # the test set is never resampled
    copies = p.X[245:, :-1]
    assert copies.min() >= 0.0 and copies.max() <= 1.0 and np.all(p.X[:, -1] == 1.0)
    assert np.mean(p.y == 1) == pytest.approx(np.mean(base.y == 1), abs=0.03)
    # jitter 0.05 (before clipping at 0 and 1): each copy is close to an original image
    clean = relu_digits_2v8(n=5000, jitter=0.0)
    originals = {row.tobytes(): label for row, label in zip(base.X, base.y, strict=True)}
    for row, label in zip(clean.X[245:], clean.y[245:], strict=True):
        assert originals[row.tobytes()] == label
    noise = p.X[245:] - clean.X[245:]
    assert 0.02 < noise.std() < 0.05
    # seeded
    np.testing.assert_array_equal(relu_digits_2v8(n=5000).X, p.X)
    assert not np.array_equal(relu_digits_2v8(n=5000, seed=1).X[300:], p.X[300:])


def test_digits_subsample():
    base = relu_digits_2v8()
    p = relu_digits_2v8(n=100, loss="hinge")
    assert p.X.shape == (100, 65) and p.loss == "hinge"
    rows = [row.tobytes() for row in p.X]
    assert len(set(rows)) == len(rows)  # without replacement
    lookup = {row.tobytes(): label for row, label in zip(base.X, base.y, strict=True)}
    assert all(lookup[row.tobytes()] == label for row, label in zip(p.X, p.y, strict=True))
    assert relu_digits_2v8(n=245).X.shape == (245, 65)


# -- relu-moons --------------------------------------------------------------------------------


def test_moons():
    from sklearn.datasets import make_moons

    p = problems.get("relu-moons")
    assert p.X.shape == (40, 3) and p.X_test.shape == (200, 3)
    assert p.loss == "hinge" and p.beta == 1e-4
    X, y = make_moons(n_samples=40, noise=0.1, random_state=0)
    np.testing.assert_array_equal(p.X[:, :2], X)
    np.testing.assert_array_equal(p.y, np.where(y == 1, 1.0, -1.0))
    assert not np.any(np.isin(p.X_test[:, 0], p.X[:, 0]))  # an independent draw
    q = relu_moons(n=60, n_test=10, noise=0.0, loss="bce", seed=2)
    assert q.X.shape == (60, 3) and q.X_test.shape == (10, 3)
    assert set(q.y.tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(relu_moons(seed=2).X, relu_moons(seed=2).X)
    assert not np.array_equal(relu_moons(seed=2).X_test, relu_moons(seed=3).X_test)


# -- bad arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("relu-synthetic", {"n": 0}, "n must be"),
        ("relu-synthetic", {"d": 2.5}, "d must be"),
        ("relu-synthetic", {"beta": 0.0}, "beta"),
        ("relu-synthetic", {"seed": -1}, "seed"),
        ("relu-breast-cancer", {"loss": "logistic"}, "loss"),
        ("relu-breast-cancer", {"beta": -1.0}, "beta"),
        ("relu-breast-cancer", {"test_size": 1.0}, "test_size"),
        ("relu-breast-cancer", {"test_size": 0.0}, "test_size"),
        ("relu-digits-2v8", {"n": 0}, "n must be"),
        ("relu-digits-2v8", {"n": True}, "n must be"),
        ("relu-digits-2v8", {"jitter": -0.1}, "jitter"),
        ("relu-digits-2v8", {"beta": float("nan")}, "beta"),
        ("relu-digits-2v8", {"loss": "mse"}, "loss"),
        ("relu-moons", {"n": 1}, "n must be"),
        ("relu-moons", {"n_test": 0}, "n_test"),
        ("relu-moons", {"noise": -0.1}, "noise"),
        ("relu-moons", {"loss": "l1"}, "loss"),
        ("relu-moons", {"seed": 2**32}, "seed"),
    ],
)
def test_bad_arguments_raise(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        problems.get(name, **kwargs)
