r"""Two-layer ReLU training problems: the CPU recipes of the convex ReLU spec (section 7).

Each builder returns an :class:`optkit.ReLUTrainingProblem`: data ``X`` (with a ones column
for the bias where the recipe has one), targets ``y`` in the label convention of the loss (±1
for ``squared`` and ``hinge``, {0, 1} for ``bce``), the weight decay ``beta`` and, for the
classification data, a held-out ``X_test, y_test``. The methods ``convex-relu-admm``,
``convex-relu-scp`` and ``convex-relu-cvxpy`` of :func:`optkit.minimize` solve them.

- ``relu-synthetic``: Gaussian ``X`` and ``y`` (the convergence recipe and oracle 1).
- ``relu-breast-cancer``: scikit-learn's breast cancer data, standardized with the training
  statistics (the substitute for the paper's mammographic masses).
- ``relu-digits-2v8``: digits 2 against 8 (the substitute for MNIST 2 vs 8), with an ``n`` that
  resamples the training set to any size for scaling experiments.
- ``relu-moons``: a 40-point two-moons toy with the hinge loss (adversarial training).

All data come with scikit-learn or are generated; nothing is downloaded.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import NDArray

from optkit.convex_relu.model import check_loss, encode_labels
from optkit.convex_relu.problem import ReLUTrainingProblem
from problems._catalog import entry
from problems._common import check_int, read_only

__all__ = ["relu_synthetic", "relu_breast_cancer", "relu_digits_2v8", "relu_moons"]

Array = NDArray[np.float64]

# -- checks and helpers ------------------------------------------------------------------------


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def _check_nonnegative(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be non-negative and finite, got {value!r}")
    return value


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return value


def _with_ones(X: Array) -> Array:
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _split(X: Array, positive: NDArray[np.bool_], test_size: float,
           seed: int) -> tuple[Array, Array, NDArray[np.bool_], NDArray[np.bool_]]:
    """A stratified train/test split (scikit-learn's, ``random_state=seed``)."""
    from sklearn.model_selection import train_test_split

    X_train, X_test, p_train, p_test = train_test_split(
        X, positive, test_size=test_size, random_state=seed, stratify=positive)
    return X_train, X_test, p_train, p_test


@functools.lru_cache(maxsize=1)
def _breast_cancer() -> tuple[Array, NDArray[np.bool_]]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X, positive = np.asarray(X, dtype=float), np.asarray(y) == 1
    read_only(X, positive)
    return X, positive


@functools.lru_cache(maxsize=1)
def _digits_2v8() -> tuple[Array, NDArray[np.bool_]]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = (y == 2) | (y == 8)
    X, positive = np.asarray(X[keep], dtype=float) / 16.0, y[keep] == 2
    read_only(X, positive)
    return X, positive


# -- the builders ------------------------------------------------------------------------------


@entry("relu-synthetic", "relu-training")
def relu_synthetic(n: int = 50, d: int = 5, beta: float = 0.1,
                   seed: int = 0) -> ReLUTrainingProblem:
    r"""Gaussian regression data for two-layer ReLU training (recipe 1, oracle 1).

    Parameters
    ----------
    n : int, default 50
        Number of samples.
    d : int, default 5
        Number of features (no bias column is appended).
    beta : float, default 0.1
        The weight decay (positive).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; ``X`` is drawn first, then ``y``.

    Returns
    -------
    ReLUTrainingProblem
        ``X`` of shape ``(n, d)`` and ``y`` of shape ``(n,)``, entries i.i.d. ``N(0, 1)``;
        the ``squared`` loss; no test set.

    Notes
    -----
    The spec's convergence recipe: with ``P = 20`` sampled patterns and ``ρ = 0.1``, ADMM
    reaches the cvxpy optimum of the convex program to ``1e-4`` relative in about 1300
    iterations.

    Examples
    --------
    >>> from problems.relu import relu_synthetic
    >>> p = relu_synthetic()
    >>> p.X.shape, p.y.shape, p.loss, p.beta
    ((50, 5), (50,), 'squared', 0.1)
    """
    n = check_int("n", n, 1)
    d = check_int("d", d, 1)
    beta = _check_positive("beta", beta)
    rng = np.random.default_rng(check_int("seed", seed, 0, 2**32 - 1))
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    return ReLUTrainingProblem(X=X, y=y, loss="squared", beta=beta, name="relu-synthetic")


@entry("relu-breast-cancer", "relu-training")
def relu_breast_cancer(loss: str = "squared", beta: float = 1.0, test_size: float = 0.3,
                       seed: int = 0) -> ReLUTrainingProblem:
    r"""Breast cancer classification with a two-layer ReLU network (recipes 2 and 5).

    Parameters
    ----------
    loss : {"squared", "bce", "hinge"}, default "squared"
        The loss; it fixes the labels: benign is ``+1`` and malignant ``-1`` for ``squared``
        and ``hinge``, ``1`` and ``0`` for ``bce``.
    beta : float, default 1.0
        The weight decay (positive).
    test_size : float, default 0.3
        The held-out fraction, in ``(0, 1)``.
    seed : int, default 0
        ``random_state`` of the stratified :func:`sklearn.model_selection.train_test_split`.

    Returns
    -------
    ReLUTrainingProblem
        ``X`` of shape ``(398, 31)`` and ``X_test`` of shape ``(171, 31)`` for the default
        split: 30 standardized features and a ones column.

    Notes
    -----
    The 569 samples of :func:`sklearn.datasets.load_breast_cancer` are split first; each
    feature is then centred and scaled by the mean and the (population) standard deviation
    of the *training* rows only, and the test rows are transformed with the same numbers, so
    nothing about the test set leaks into training. The spec's recipe, 12 sampled patterns
    and ``β = 1`` with the squared loss: cvxpy's optimum is 24.6, 28.6 and 28.5 for the
    seeds 0, 1 and 2 (about 3 s with CLARABEL), with test accuracies 0.95, 0.94 and 0.95.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.relu import relu_breast_cancer
    >>> p = relu_breast_cancer()
    >>> p.X.shape, p.X_test.shape
    ((398, 31), (171, 31))
    >>> sorted(set(p.y.tolist())), bool(np.all(p.X[:, -1] == 1))
    ([-1.0, 1.0], True)
    """
    loss = check_loss(loss)
    beta = _check_positive("beta", beta)
    test_size = _check_fraction("test_size", test_size)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    X, positive = _breast_cancer()
    X_train, X_test, p_train, p_test = _split(X, positive, test_size, seed)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0
    return ReLUTrainingProblem(
        X=_with_ones((X_train - mean) / std), y=encode_labels(p_train, loss), loss=loss, beta=beta,
        X_test=_with_ones((X_test - mean) / std), y_test=encode_labels(p_test, loss),
        name="relu-breast-cancer")


@entry("relu-digits-2v8", "relu-training")
def relu_digits_2v8(loss: str = "squared", beta: float = 1e-3, n: int | None = None,
                    jitter: float = 0.05, test_size: float = 0.3,
                    seed: int = 0) -> ReLUTrainingProblem:
    r"""Handwritten digits 2 against 8 with a two-layer ReLU network (recipes 3, 4 and 6).

    Parameters
    ----------
    loss : {"squared", "bce", "hinge"}, default "squared"
        The loss; it fixes the labels: digit 2 is ``+1`` and digit 8 ``-1`` for ``squared``
        and ``hinge``, ``1`` and ``0`` for ``bce``.
    beta : float, default 1e-3
        The weight decay (positive); the paper's value for MNIST 2 vs 8 with the squared
        loss.
    n : int, optional
        Size of the training set (at least 1). By default the 245 rows of the split; fewer
        gives a seeded subsample, more appends jittered bootstrap copies (Notes).
    jitter : float, default 0.05
        Standard deviation of the Gaussian noise added to the pixels of the bootstrap copies
        (non-negative; pixels are in ``[0, 1]``).
    test_size : float, default 0.3
        The held-out fraction of the 351 images, in ``(0, 1)``.
    seed : int, default 0
        ``random_state`` of the stratified split, and seed of the resampling.

    Returns
    -------
    ReLUTrainingProblem
        ``X`` with 65 columns (64 pixels in ``[0, 1]`` and a ones column); ``X_test`` of shape
        ``(106, 65)`` for the default split (never resampled).

    Notes
    -----
    The images of digits 2 and 8 from :func:`sklearn.datasets.load_digits` (8 x 8 pixels with
    values 0 to 16, divided by 16) are split with
    :func:`sklearn.model_selection.train_test_split` (stratified). With ``n`` above the
    training size ``m``, all ``m`` rows are kept and ``n - m`` rows drawn uniformly with
    replacement are appended, each with ``N(0, jitter²)`` noise on its pixels (clipped to
    ``[0, 1]``; the ones column and the label are copied). With ``n < m``, ``n`` distinct
    rows are drawn without replacement, unchanged. Both use
    ``numpy.random.default_rng(seed)``. This is how the scaling experiments in ``n`` reach a
    few thousand samples from 351 images; the copies add no information, only size.

    The default ``beta`` is the paper's for MNIST 2 vs 8 with the squared loss (Table 2);
    relative to the loss, a sum over far fewer samples here, it is a stronger penalty than
    there. The task is easy: with 12 sampled patterns on the default split, cvxpy's solution
    classifies the 106 test images with an accuracy of 0.97 to 1 for every ``beta`` from
    ``1e-4`` to ``10``, both losses (0.98 with the squared loss and ``beta = 1e-3``, 1.0
    with ``bce``). ADMM's ``rho`` has to be tuned with ``beta`` (spec section 2.3).

    Examples
    --------
    >>> from problems.relu import relu_digits_2v8
    >>> p = relu_digits_2v8()
    >>> p.X.shape, p.X_test.shape
    ((245, 65), (106, 65))
    >>> relu_digits_2v8(n=5000, loss="bce").X.shape
    (5000, 65)
    """
    loss = check_loss(loss)
    beta = _check_positive("beta", beta)
    jitter = _check_nonnegative("jitter", jitter)
    test_size = _check_fraction("test_size", test_size)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    X, positive = _digits_2v8()
    X_train, X_test, p_train, p_test = _split(X, positive, test_size, seed)
    if n is not None:
        n = check_int("n", n, 1)
        rng = np.random.default_rng(seed)
        m = X_train.shape[0]
        if n <= m:
            rows = rng.choice(m, size=n, replace=False)
            X_train, p_train = X_train[rows], p_train[rows]
        else:
            rows = rng.integers(0, m, size=n - m)
            copies = X_train[rows] + jitter * rng.standard_normal((n - m, X_train.shape[1]))
            X_train = np.vstack([X_train, np.clip(copies, 0.0, 1.0)])
            p_train = np.concatenate([p_train, p_train[rows]])
    return ReLUTrainingProblem(
        X=_with_ones(X_train), y=encode_labels(p_train, loss), loss=loss, beta=beta,
        X_test=_with_ones(X_test), y_test=encode_labels(p_test, loss), name="relu-digits-2v8")


@entry("relu-moons", "relu-training")
def relu_moons(n: int = 40, noise: float = 0.1, loss: str = "hinge", beta: float = 1e-4,
               n_test: int = 200, seed: int = 0) -> ReLUTrainingProblem:
    r"""A two-moons toy for adversarial training and its decision boundaries (recipe 6).

    Parameters
    ----------
    n : int, default 40
        Number of training points (at least 2).
    noise : float, default 0.1
        Standard deviation of the Gaussian noise of :func:`sklearn.datasets.make_moons`
        (non-negative).
    loss : {"squared", "bce", "hinge"}, default "hinge"
        The loss; the upper moon (scikit-learn's class 0) is ``-1`` (``0`` for ``bce``), the
        lower moon ``+1``.
    beta : float, default 1e-4
        The weight decay (positive).
    n_test : int, default 200
        Number of held-out points (at least 2), from an independent draw.
    seed : int, default 0
        The training points are ``make_moons(n, noise=noise, random_state=seed)``; the test
        points come from ``numpy.random.RandomState([seed, 1])``.

    Returns
    -------
    ReLUTrainingProblem
        ``X`` of shape ``(n, 3)``: the two coordinates and a ones column.

    Notes
    -----
    The coordinates are not rescaled (they lie in about ``[-1, 2] x [-0.6, 1.1]``), so an
    ℓ∞ radius ``eps`` reads directly in the plot of the moons; the spec uses ``eps = 0.08``.
    With ``noise = 0.1`` the closest points of different moons are typically more than
    ``0.2`` apart in the ℓ∞ norm.

    Examples
    --------
    >>> from problems.relu import relu_moons
    >>> p = relu_moons()
    >>> p.X.shape, p.X_test.shape, p.loss
    ((40, 3), (200, 3), 'hinge')
    """
    from sklearn.datasets import make_moons

    n = check_int("n", n, 2)
    n_test = check_int("n_test", n_test, 2)
    noise = _check_nonnegative("noise", noise)
    loss = check_loss(loss)
    beta = _check_positive("beta", beta)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    X_test, y_test = make_moons(n_samples=n_test, noise=noise,
                                random_state=np.random.RandomState([seed, 1]))
    return ReLUTrainingProblem(
        X=_with_ones(X), y=encode_labels(y == 1, loss), loss=loss, beta=beta,
        X_test=_with_ones(X_test), y_test=encode_labels(y_test == 1, loss), name="relu-moons")
