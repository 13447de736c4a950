"""Machine-learning test problems: L2-regularized logistic and softmax regression.

The objectives are means over the samples (plus an L2 term), so a mini-batch drawn with
``problem.sample(batch_size, rng)`` is an unbiased estimate of the full objective. Datasets are
bundled with scikit-learn (no network access) or drawn by :func:`make_classification`.

Each problem carries ``f_opt``, computed once per data-defining arguments with a Newton-type
method to a gradient norm of ``1e-10`` and cached in memory; the minimizer itself is available
from :func:`logistic_regression_optimum` and :func:`softmax_regression_optimum`. Both carry the
Hessian approximations ``"fisher"`` (equal to the exact Hessian for these canonical-link
models) and ``"empirical-fisher"`` in ``hess_approx``.

:func:`mlp_classification` is a non-convex one: a one-hidden-layer network on the digits
(``f_opt`` unknown), with :func:`mlp_digits_split` and :func:`mlp_accuracy` to score it on the
held-out part.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logsumexp

from optkit.problem import Problem
from problems._catalog import entry
from problems._common import check_int, read_only, reference_minimize

__all__ = [
    "make_classification",
    "logistic_regression",
    "logistic_regression_optimum",
    "softmax_regression",
    "softmax_regression_optimum",
    "mlp_classification",
    "mlp_digits_split",
    "mlp_predict",
    "mlp_accuracy",
]

Array = NDArray[np.float64]

#: Gradient-norm target of the reference solve that gives ``f_opt``.

_LOGISTIC_DATASETS = ("breast_cancer", "synthetic")
_SOFTMAX_DATASETS = ("digits", "synthetic")


def _check_positive(name: str, value: float, minimum: float = 0.0, strict: bool = True) -> float:
    value = float(value)
    ok = value > minimum if strict else value >= minimum
    if not (math.isfinite(value) and ok):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be finite and {op} {minimum:g}, got {value!r}")
    return value


# -- synthetic data ----------------------------------------------------------------------------


def make_classification(
    n: int = 1000, d: int = 20, cond: float = 10.0, n_classes: int = 2, seed: int = 0
) -> tuple[Array, NDArray[np.int64]]:
    r"""Seeded synthetic classification data from a planted linear (softmax) model.

    Parameters
    ----------
    n : int, default 1000
        Number of samples.
    d : int, default 20
        Number of features.
    cond : float, default 10.0
        Condition number (at least 1) of the features' covariance ``Σ``.
    n_classes : int, default 2
        Number of classes (at least 2).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same arguments give the same data.

    Returns
    -------
    X : (n, d) ndarray
        Zero-mean Gaussian features with covariance ``Σ``.
    y : (n,) ndarray of int
        Labels in ``0, ..., n_classes - 1``.

    Notes
    -----
    ``Σ = U diag(σ) Uᵀ`` with ``σ`` log-spaced from 1 down to ``1 / cond`` and ``U`` a random
    orthogonal matrix (QR of a Gaussian matrix, signs fixed), so ``cond(Σ) = cond`` exactly
    (the sample covariance is close to it for ``n ≫ d``). The labels are

    .. math:: y_i = \operatorname{argmax}_c\, (x_i^T w_c + g_{ic}),

    with Gumbel noise :math:`g_{ic}` and Gaussian weights :math:`w_c` scaled so that each score
    :math:`x^T w_c` has standard deviation 2. By the Gumbel-max trick this is exactly sampling
    ``y`` from the softmax model :math:`P(y = c \mid x) \propto \exp(x^T w_c)`; with two
    classes it is the logistic model with weights ``w_1 - w_0``.

    Examples
    --------
    >>> from problems.ml import make_classification
    >>> X, y = make_classification(n=200, d=5, n_classes=3)
    >>> X.shape, sorted(set(y.tolist()))
    ((200, 5), [0, 1, 2])
    """
    n = check_int("n", n, 1)
    d = check_int("d", d, 1)
    n_classes = check_int("n_classes", n_classes, 2)
    cond = _check_positive("cond", cond, 1.0, strict=False)
    rng = np.random.default_rng(seed)
    sigma = np.geomspace(1.0, 1.0 / cond, d)
    U, R = np.linalg.qr(rng.standard_normal((d, d)))
    U = U * np.where(np.diag(R) < 0, -1.0, 1.0)
    X = (rng.standard_normal((n, d)) * np.sqrt(sigma)) @ U.T
    W = rng.standard_normal((d, n_classes))
    score_var = np.einsum("dc,d->c", (U.T @ W) ** 2, sigma)  # wᵀΣw for each class
    W *= 2.0 / np.sqrt(score_var)
    scores = X @ W + rng.gumbel(size=(n, n_classes))
    return X, np.argmax(scores, axis=1).astype(np.int64)


def _standardize(X: Array) -> Array:
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit_transform(X)


def _with_bias(X: Array) -> Array:
    return np.hstack([X, np.ones((X.shape[0], 1))])


# -- logistic regression -----------------------------------------------------------------------


class _Logistic:
    """``mean_i log(1 + exp(-b_i a_iᵀw)) + (l2/2)‖w‖²`` on the rows of ``A``."""

    def __init__(self, A: Array, b: Array, l2: float):
        self.A, self.b, self.l2 = A, b, l2
        self._last: tuple[Array, Array] | None = None  # (w, curvature) of the last hessp

    def fun_and_grad(self, w: Array) -> tuple[float, Array]:
        m = self.A.shape[0]
        bz = self.b * (self.A @ w)
        f = float(np.mean(np.logaddexp(0.0, -bz))) + 0.5 * self.l2 * float(w @ w)
        g = self.A.T @ (-self.b * expit(-bz)) / m + self.l2 * w
        return f, g

    def _curvature(self, w: Array) -> Array:
        """``σ(z_i)(1 - σ(z_i)) / m`` at the margins ``z = A w`` (cached for the last ``w``)."""
        last = self._last  # read once: another thread may replace it
        if last is not None and np.array_equal(last[0], w):
            return last[1]
        z = self.A @ w
        curv = expit(z) * expit(-z) / self.A.shape[0]
        self._last = (np.array(w, copy=True), curv)
        return curv

    def hessp(self, w: Array, v: Array) -> Array:
        return self.A.T @ (self._curvature(w) * (self.A @ v)) + self.l2 * v

    def hess(self, w: Array) -> Array:
        H = (self.A.T * self._curvature(w)) @ self.A
        H[np.diag_indices_from(H)] += self.l2
        return H

    def empirical_fisher(self, w: Array) -> Array:
        """``(1/m) Σ_i ∇ℓ_i ∇ℓ_iᵀ + l2 I`` with ``∇ℓ_i = -b_i σ(-b_i a_iᵀw) a_i``."""
        r = -self.b * expit(-self.b * (self.A @ w))
        return _gram_plus(self.A * r[:, None], self.l2)

    def problem(self, x0: Array, name: str, f_opt: float | None = None) -> Problem:
        def sample(batch_size: int, rng: np.random.Generator) -> Problem:
            idx = _batch_indices(self.A.shape[0], batch_size, rng)
            batch = _Logistic(self.A[idx], self.b[idx], self.l2)
            return batch.problem(x0, f"{name}-batch{batch_size}")

        return Problem(
            fun_and_grad=self.fun_and_grad,
            hess=self.hess,
            hessp=self.hessp,
            # canonical link: the Fisher information is the Hessian itself
            hess_approx={"fisher": self.hess, "empirical-fisher": self.empirical_fisher},
            sample=sample,
            x0=x0,
            f_opt=f_opt,
            name=name,
        )


def _gram_plus(M: Array, l2: float) -> Array:
    """``MᵀM / m + l2 I`` for the ``m`` per-sample gradients in the rows of ``M``."""
    F = M.T @ M  # exactly symmetric
    F /= M.shape[0]
    F[np.diag_indices_from(F)] += l2
    return F


def _batch_indices(m: int, batch_size: int, rng: Any) -> NDArray[np.intp]:
    batch_size = check_int("batch_size", batch_size, 1)
    if batch_size > m:
        raise ValueError(f"batch_size must be at most the number of samples {m}, got {batch_size}")
    rng = np.random.default_rng(rng)
    return rng.choice(m, size=batch_size, replace=False)


def _data_key(dataset: str, n: int, d: int, cond: float, seed: int, real: tuple[str, ...]) -> tuple:
    """The arguments that define the data: only ``dataset`` for a bundled one."""
    if dataset not in real + ("synthetic",):
        raise ValueError(f"dataset must be one of {real + ('synthetic',)}, got {dataset!r}")
    if dataset != "synthetic":
        return (dataset,)
    n = check_int("n", n, 1)
    d = check_int("d", d, 1)
    cond = _check_positive("cond", cond, 1.0, strict=False)
    return (dataset, n, d, cond, int(seed))


@functools.lru_cache(maxsize=16)
def _logistic_data(key: tuple) -> tuple[Array, Array]:
    """``(A, b)``: standardized features with a ones column, labels in ``{-1, +1}``."""
    if key[0] == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
    else:
        _, n, d, cond, seed = key
        X, y = make_classification(n=n, d=d, cond=cond, n_classes=2, seed=seed)
    A = _with_bias(_standardize(X))
    b = np.where(y == 1, 1.0, -1.0)
    read_only(A, b)
    return A, b


def _reference_minimize(obj: Any, n_vars: int) -> tuple[Array, float]:
    """Minimize a strongly convex ``obj`` to ``‖∇f‖₂ ≤ 1e-10`` (see
    :func:`problems._common.reference_minimize` and the Notes of
    :func:`logistic_regression`)."""
    x, f, _ = reference_minimize(obj.fun_and_grad, obj.hessp, n_vars)
    return x, f


@functools.lru_cache(maxsize=32)
def _logistic_optimum(key: tuple, l2: float) -> tuple[Array, float]:
    A, b = _logistic_data(key)
    return _reference_minimize(_Logistic(A, b, l2), A.shape[1])


def logistic_regression_optimum(
    dataset: str = "breast_cancer",
    l2: float = 1e-3,
    n: int = 1000,
    d: int = 20,
    cond: float = 10.0,
    seed: int = 0,
) -> tuple[Array, float]:
    """The minimizer and the optimal value of :func:`logistic_regression` with these arguments.

    Computed once per data-defining arguments and cached in memory (see
    :func:`logistic_regression`, Notes). The returned array is read-only.

    Parameters
    ----------
    dataset : {"breast_cancer", "synthetic"}, default "breast_cancer"
        As in :func:`logistic_regression`.
    l2 : float, default 1e-3
        As in :func:`logistic_regression`.
    n, d : int, default 1000, 20
        As in :func:`logistic_regression`.
    cond : float, default 10.0
        As in :func:`logistic_regression`.
    seed : int, default 0
        As in :func:`logistic_regression`.

    Returns
    -------
    w_opt : (p,) ndarray
        The minimizer (``p`` features plus the bias).
    f_opt : float
        ``f(w_opt)``.
    """
    key = _data_key(dataset, n, d, cond, seed, ("breast_cancer",))
    return _logistic_optimum(key, _check_positive("l2", l2))


@entry("logistic-synthetic", "ml", dataset="synthetic")
@entry("logistic-breast-cancer", "ml", dataset="breast_cancer")
def logistic_regression(
    dataset: str = "breast_cancer",
    l2: float = 1e-3,
    n: int = 1000,
    d: int = 20,
    cond: float = 10.0,
    seed: int = 0,
) -> Problem:
    r"""L2-regularized binary logistic regression (mean loss), with an exact Hessian.

    Parameters
    ----------
    dataset : {"breast_cancer", "synthetic"}, default "breast_cancer"
        ``"breast_cancer"``: scikit-learn's bundled Wisconsin breast cancer data (569 samples,
        30 features; label 1, benign, is ``+1``). ``"synthetic"``: :func:`make_classification`
        with ``n``, ``d``, ``cond``, ``seed`` and two classes (label 1 is ``+1``).
    l2 : float, default 1e-3
        L2 regularization weight (positive, so the minimizer exists and is unique).
    n, d : int, default 1000, 20
        Number of samples and of features of the synthetic data.
    cond : float, default 10.0
        Condition number of the synthetic features' covariance.
    seed : int, default 0
        Seed of the synthetic data. ``n``, ``d``, ``cond`` and ``seed`` are ignored for
        ``"breast_cancer"``.

    Returns
    -------
    Problem
        With ``fun_and_grad``, ``hessp``, ``hess`` (dense ``p x p``), ``hess_approx``
        (``"fisher"`` and ``"empirical-fisher"``, dense ``p x p``), ``sample``, ``x0 = 0``
        and ``f_opt``; ``p`` is the number of features plus one.

    Notes
    -----
    The features are standardized (:class:`sklearn.preprocessing.StandardScaler`, fit on the
    whole dataset) and a column of ones is appended for the bias, giving rows
    :math:`a_i \in \mathbb{R}^p`; the labels are :math:`y_i \in \{-1, +1\}`. Then

    .. math:: f(w) = \frac1m \sum_{i=1}^m \log(1 + e^{-y_i a_i^T w})
              + \frac{\ell_2}{2} \|w\|^2,

    where the bias (last weight) is regularized like the others. The loss uses
    ``np.logaddexp`` and ``scipy.special.expit``, so it neither overflows nor loses the tiny
    terms. The Hessian is :math:`\frac1m A^T D A + \ell_2 I` with
    :math:`D = \operatorname{diag}(\sigma(z_i)\,\sigma(-z_i))`, :math:`z = Aw`.

    Hessian approximations (``hess_approx``, for methods such as ``gns-newton``):
    ``"fisher"`` is the Fisher information of the model plus ``l2 I``,
    :math:`\frac1m \sum_i \sigma(z_i)\sigma(-z_i) a_i a_i^T + \ell_2 I`, which for this
    canonical-link model *is* the exact Hessian (the same matrix as ``hess``);
    ``"empirical-fisher"`` is :math:`\frac1m \sum_i \nabla\ell_i \nabla\ell_i^T + \ell_2 I`
    with the per-sample loss gradients :math:`\nabla\ell_i = -y_i \sigma(-y_i z_i) a_i`
    (positive semidefinite plus ``l2 I``; it differs from the Hessian away from a perfect
    fit).

    ``sample(batch_size, rng)`` draws ``batch_size`` distinct rows with
    ``rng.choice(m, batch_size, replace=False)`` (``rng`` is a ``numpy.random.Generator``, or a
    seed) and returns the same formula (mean loss over the batch plus the same L2 term) as a
    :class:`~optkit.Problem`; ``batch_size = m`` gives the full objective.

    ``f_opt`` is computed on first use for each ``(dataset, l2)`` (plus ``n, d, cond, seed``
    for synthetic data) and cached in memory: ``scipy.optimize.minimize`` with
    ``method="trust-ncg"``, ``jac=True``, the exact ``hessp``, from ``w = 0``, with
    ``gtol = 1e-10`` (it stops when ``‖∇f(w)‖₂ < 1e-10``). Close to the minimizer the
    decrease of ``f`` can drop below the rounding error of ``f`` and stop trust-ncg early, so
    up to five Newton steps follow, each solving ``∇²f(w) s = -∇f(w)`` by conjugate gradients
    on ``hessp`` (relative residual ``1e-12``) and kept while ``‖∇f‖₂`` decreases, until
    ``‖∇f‖₂ ≤ 1e-10``. ``f_opt`` is ``f`` at the final point (a ``RuntimeError`` is raised if
    ``‖∇f‖₂ > 1e-8`` there). This takes a few milliseconds for the catalog defaults.
    :func:`logistic_regression_optimum` returns that point too.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.ml import logistic_regression
    >>> p = logistic_regression()
    >>> p.x0.shape
    (31,)
    >>> batch = p.sample(32, np.random.default_rng(0))
    >>> bool(np.isclose(batch.value(p.x0), np.log(2)))  # at w = 0, whatever the batch
    True
    """
    key = _data_key(dataset, n, d, cond, seed, ("breast_cancer",))
    l2 = _check_positive("l2", l2)
    A, b = _logistic_data(key)
    f_opt = _logistic_optimum(key, l2)[1]
    name = "logistic-breast-cancer" if dataset == "breast_cancer" else "logistic-synthetic"
    return _Logistic(A, b, l2).problem(np.zeros(A.shape[1]), name, f_opt)


# -- softmax regression ------------------------------------------------------------------------


class _Softmax:
    """``mean_i [logsumexp(a_iᵀW) - a_iᵀw_{y_i}] + (l2/2)‖W‖²`` with ``x = W.ravel()``."""

    def __init__(self, A: Array, y: NDArray[np.int64], k: int, l2: float):
        self.A, self.y, self.k, self.l2 = A, y, k, l2
        self._rows = np.arange(A.shape[0])
        self._last: tuple[Array, Array] | None = None  # (x, probabilities) of the last hessp

    def _weights(self, x: Array) -> Array:
        return np.asarray(x).reshape(self.A.shape[1], self.k)

    def fun_and_grad(self, x: Array) -> tuple[float, Array]:
        W = self._weights(x)
        Z = self.A @ W
        lse = logsumexp(Z, axis=1)
        f = float(np.mean(lse - Z[self._rows, self.y])) + 0.5 * self.l2 * float(x @ x)
        P = np.exp(Z - lse[:, None])
        P[self._rows, self.y] -= 1.0
        G = self.A.T @ P / self.A.shape[0] + self.l2 * W
        return f, G.ravel()

    def _probs(self, x: Array) -> Array:
        """Softmax probabilities at ``x`` (cached for the last ``x``)."""
        last = self._last  # read once: another thread may replace it
        if last is not None and np.array_equal(last[0], x):
            return last[1]
        Z = self.A @ self._weights(x)
        P = np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
        self._last = (np.array(x, copy=True), P)
        return P

    def hessp(self, x: Array, v: Array) -> Array:
        P = self._probs(x)
        V = self._weights(v)
        D = self.A @ V
        R = P * (D - np.sum(P * D, axis=1, keepdims=True))
        return (self.A.T @ R / self.A.shape[0] + self.l2 * V).ravel()

    def hess(self, x: Array) -> Array:
        m, p = self.A.shape
        k = self.k
        P = self._probs(x)
        # (1/m) Σ_i (a_i a_iᵀ) ⊗ (diag(p_i) - p_i p_iᵀ), with index (j, c) -> j * k + c
        H = np.zeros((p, k, p, k))
        for c in range(k):
            H[:, c, :, c] = (self.A.T * P[:, c]) @ self.A
        M = (self.A[:, :, None] * P[:, None, :]).reshape(m, p * k)
        H = H.reshape(p * k, p * k) - M.T @ M
        H /= m
        H[np.diag_indices_from(H)] += self.l2
        return H

    def empirical_fisher(self, x: Array) -> Array:
        """``(1/m) Σ_i g_i g_iᵀ + l2 I`` with ``g_i = vec(a_i (p_i - e_{y_i})ᵀ)`` (row-major)."""
        m, p = self.A.shape
        R = self._probs(x).copy()
        R[self._rows, self.y] -= 1.0
        return _gram_plus((self.A[:, :, None] * R[:, None, :]).reshape(m, p * self.k), self.l2)

    def problem(self, x0: Array, name: str, f_opt: float | None = None) -> Problem:
        def sample(batch_size: int, rng: np.random.Generator) -> Problem:
            idx = _batch_indices(self.A.shape[0], batch_size, rng)
            batch = _Softmax(self.A[idx], self.y[idx], self.k, self.l2)
            return batch.problem(x0, f"{name}-batch{batch_size}")

        return Problem(
            fun_and_grad=self.fun_and_grad,
            hess=self.hess,
            hessp=self.hessp,
            # canonical link: the Fisher information is the Hessian itself
            hess_approx={"fisher": self.hess, "empirical-fisher": self.empirical_fisher},
            sample=sample,
            x0=x0,
            f_opt=f_opt,
            name=name,
        )


@functools.lru_cache(maxsize=16)
def _softmax_data(key: tuple) -> tuple[Array, NDArray[np.int64], int]:
    """``(A, y, k)``: features with a ones column, labels ``0..k-1``, number of classes."""
    if key[0] == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        k = 10
    else:
        _, n, d, cond, seed, k = key
        X, y = make_classification(n=n, d=d, cond=cond, n_classes=k, seed=seed)
        X = _standardize(X)
    A = _with_bias(X)
    y = np.asarray(y, dtype=np.int64)
    read_only(A, y)
    return A, y, k


def _softmax_key(dataset: str, n: int, d: int, n_classes: int, cond: float, seed: int) -> tuple:
    key = _data_key(dataset, n, d, cond, seed, ("digits",))
    if dataset == "synthetic":
        key += (check_int("n_classes", n_classes, 2),)
    return key


@functools.lru_cache(maxsize=32)
def _softmax_optimum(key: tuple, l2: float) -> tuple[Array, float]:
    A, y, k = _softmax_data(key)
    return _reference_minimize(_Softmax(A, y, k, l2), A.shape[1] * k)


def softmax_regression_optimum(
    dataset: str = "digits",
    l2: float = 1e-3,
    n: int = 1000,
    d: int = 20,
    n_classes: int = 5,
    cond: float = 10.0,
    seed: int = 0,
) -> tuple[Array, float]:
    """The minimizer and the optimal value of :func:`softmax_regression` with these arguments.

    Computed once per data-defining arguments and cached in memory (see
    :func:`softmax_regression`, Notes). The returned array is read-only.

    Parameters
    ----------
    dataset : {"digits", "synthetic"}, default "digits"
        As in :func:`softmax_regression`.
    l2 : float, default 1e-3
        As in :func:`softmax_regression`.
    n, d, n_classes : int, default 1000, 20, 5
        As in :func:`softmax_regression`.
    cond : float, default 10.0
        As in :func:`softmax_regression`.
    seed : int, default 0
        As in :func:`softmax_regression`.

    Returns
    -------
    x_opt : ((p + 1) * k,) ndarray
        The minimizing ``W``, flattened row-major.
    f_opt : float
        ``f(x_opt)``.
    """
    key = _softmax_key(dataset, n, d, n_classes, cond, seed)
    return _softmax_optimum(key, _check_positive("l2", l2))


@entry("softmax-synthetic", "ml", dataset="synthetic")
@entry("softmax-digits", "ml", dataset="digits")
def softmax_regression(
    dataset: str = "digits",
    l2: float = 1e-3,
    n: int = 1000,
    d: int = 20,
    n_classes: int = 5,
    cond: float = 10.0,
    seed: int = 0,
) -> Problem:
    r"""L2-regularized multinomial (softmax) logistic regression, mean cross-entropy.

    Parameters
    ----------
    dataset : {"digits", "synthetic"}, default "digits"
        ``"digits"``: scikit-learn's bundled 8x8 handwritten digits (1797 samples, 64 pixel
        features divided by 16 so they lie in ``[0, 1]``, 10 classes). ``"synthetic"``:
        :func:`make_classification` with ``n``, ``d``, ``cond``, ``n_classes``, ``seed``,
        features standardized with :class:`sklearn.preprocessing.StandardScaler`.
    l2 : float, default 1e-3
        L2 regularization weight (positive, so the minimizer exists and is unique).
    n, d, n_classes : int, default 1000, 20, 5
        Number of samples, features and classes of the synthetic data.
    cond : float, default 10.0
        Condition number of the synthetic features' covariance.
    seed : int, default 0
        Seed of the synthetic data. ``n``, ``d``, ``n_classes``, ``cond`` and ``seed`` are
        ignored for ``"digits"``.

    Returns
    -------
    Problem
        Over ``x = W.ravel()`` (row-major), ``W`` of shape ``(p, k)`` with ``p`` the number of
        features plus one (the bias row, last) and ``k`` the number of classes. With
        ``fun_and_grad``, ``hessp``, ``hess`` (dense ``pk x pk``), ``hess_approx``
        (``"fisher"`` and ``"empirical-fisher"``, dense ``pk x pk``), ``sample``, ``x0 = 0``
        and ``f_opt``.

    Notes
    -----
    With rows :math:`a_i \in \mathbb{R}^p` (features and a trailing 1) and labels
    :math:`y_i \in \{0, \dots, k-1\}`,

    .. math:: f(W) = \frac1m \sum_{i=1}^m \Bigl(\log \sum_{c} e^{a_i^T w_c}
              - a_i^T w_{y_i}\Bigr) + \frac{\ell_2}{2} \|W\|_F^2,

    the bias row regularized like the rest. The log-sum-exp is
    ``scipy.special.logsumexp`` (shifted by the row maximum, no overflow). With
    :math:`P = \operatorname{softmax}(AW)` row-wise and :math:`Y` the one-hot labels,
    :math:`\nabla f = \frac1m A^T (P - Y) + \ell_2 W`, and the Hessian-vector product along
    :math:`V` is :math:`\frac1m A^T R + \ell_2 V` with
    :math:`R_{ic} = P_{ic} (D_{ic} - \sum_e P_{ie} D_{ie})`, :math:`D = AV` (the exact
    Hessian, as :math:`\nabla^2 = \frac1m \sum_i a_i a_i^T \otimes (\operatorname{diag}(p_i)
    - p_i p_i^T) + \ell_2 I`).

    Hessian approximations (``hess_approx``): ``"fisher"`` is the Fisher information of the
    multinomial model plus ``l2 I``, which for this canonical-link model equals the exact
    Hessian above (the same matrix as ``hess``); ``"empirical-fisher"`` is
    :math:`\frac1m \sum_i g_i g_i^T + \ell_2 I` with the per-sample loss gradients
    :math:`g_i = \operatorname{vec}(a_i (p_i - e_{y_i})^T)` (row-major, like ``x``).

    ``sample(batch_size, rng)`` draws ``batch_size`` distinct rows with
    ``rng.choice(m, batch_size, replace=False)`` and returns the same formula on the batch;
    ``batch_size = m`` gives the full objective.

    ``f_opt`` is computed on first use for each ``(dataset, l2)`` (plus ``n, d, n_classes,
    cond, seed`` for synthetic data) and cached in memory: ``scipy.optimize.minimize`` with
    ``method="trust-ncg"``, ``jac=True``, the exact ``hessp``, from ``x = 0``, with
    ``gtol = 1e-10`` (it stops when ``‖∇f(x)‖₂ < 1e-10``). Close to the minimizer the
    decrease of ``f`` can drop below the rounding error of ``f`` and stop trust-ncg early, so
    up to five Newton steps follow, each solving ``∇²f(x) s = -∇f(x)`` by conjugate gradients
    on ``hessp`` (relative residual ``1e-12``) and kept while ``‖∇f‖₂`` decreases, until
    ``‖∇f‖₂ ≤ 1e-10``. ``f_opt`` is ``f`` at the final point (a ``RuntimeError`` is raised if
    ``‖∇f‖₂ > 1e-8`` there). For ``"digits"`` with the default ``l2`` this takes about
    0.2 s.
    :func:`softmax_regression_optimum` returns that point too.

    Examples
    --------
    >>> from problems.ml import softmax_regression
    >>> p = softmax_regression()
    >>> p.x0.shape  # 65 x 10 weights
    (650,)
    """
    key = _softmax_key(dataset, n, d, n_classes, cond, seed)
    l2 = _check_positive("l2", l2)
    A, y, k = _softmax_data(key)
    f_opt = _softmax_optimum(key, l2)[1]
    name = "softmax-digits" if dataset == "digits" else "softmax-synthetic"
    return _Softmax(A, y, k, l2).problem(np.zeros(A.shape[1] * k), name, f_opt)


# -- one-hidden-layer MLP (non-convex) ---------------------------------------------------------

_MLP_DATASETS = ("digits",)
_MLP_ACTIVATIONS = ("relu", "elu", "tanh")


def _mlp_activation(z: Array, activation: str) -> tuple[Array, Array]:
    """The activation ``a(z)`` and its derivative ``a'(z)``, elementwise."""
    if activation == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(z.dtype)
    if activation == "elu":  # alpha = 1: z for z > 0, exp(z) - 1 otherwise
        neg = np.expm1(np.minimum(z, 0.0))
        return np.where(z > 0, z, neg), np.where(z > 0, 1.0, neg + 1.0)
    t = np.tanh(z)
    return t, 1.0 - t * t


def _check_activation(activation: str) -> str:
    if activation not in _MLP_ACTIVATIONS:
        raise ValueError(f"activation must be one of {_MLP_ACTIVATIONS}, got {activation!r}")
    return activation


def _mlp_shapes(n_params: int, d: int, hidden: int) -> int:
    """The number of classes ``k`` of a flat parameter vector of ``n_params`` entries."""
    k, rest = divmod(n_params - (d + 1) * hidden, hidden + 1)
    if rest or k < 1:
        raise ValueError(f"a parameter vector of size {n_params} does not fit an MLP with "
                         f"{d} inputs and {hidden} hidden units")
    return k


def _mlp_unpack(x: Array, d: int, hidden: int, k: int) -> tuple[Array, Array, Array, Array]:
    """Views ``W1 (d, h), b1 (h,), W2 (h, k), b2 (k,)`` into the flat ``x``."""
    x = np.asarray(x)
    i1 = d * hidden
    i2 = i1 + hidden
    i3 = i2 + hidden * k
    return (x[:i1].reshape(d, hidden), x[i1:i2], x[i2:i3].reshape(hidden, k), x[i3:])


class _MLP:
    """``mean_i CE(softmax(a(x_i W1 + b1) W2 + b2), y_i) + (l2/2)(‖W1‖² + ‖W2‖²)``."""

    def __init__(self, X: Array, y: NDArray[np.int64], k: int, hidden: int, activation: str,
                 l2: float):
        self.X, self.y, self.k = X, y, k
        self.hidden, self.activation, self.l2 = hidden, activation, l2
        self._rows = np.arange(X.shape[0])

    def fun_and_grad(self, x: Array) -> tuple[float, Array]:
        m, d = self.X.shape
        W1, b1, W2, b2 = _mlp_unpack(x, d, self.hidden, self.k)
        Z1 = self.X @ W1 + b1
        H, dH_dZ1 = _mlp_activation(Z1, self.activation)
        Z2 = H @ W2 + b2
        lse = logsumexp(Z2, axis=1)
        f = float(np.mean(lse - Z2[self._rows, self.y]))
        f += 0.5 * self.l2 * (float(np.sum(W1 * W1)) + float(np.sum(W2 * W2)))
        dZ2 = np.exp(Z2 - lse[:, None])  # softmax probabilities
        dZ2[self._rows, self.y] -= 1.0
        dZ2 /= m
        gW2 = H.T @ dZ2 + self.l2 * W2
        gb2 = dZ2.sum(axis=0)
        dZ1 = (dZ2 @ W2.T) * dH_dZ1
        gW1 = self.X.T @ dZ1 + self.l2 * W1
        gb1 = dZ1.sum(axis=0)
        return f, np.concatenate([gW1.ravel(), gb1, gW2.ravel(), gb2])

    def problem(self, x0: Array, name: str) -> Problem:
        def sample(batch_size: int, rng: np.random.Generator) -> Problem:
            idx = _batch_indices(self.X.shape[0], batch_size, rng)
            batch = _MLP(self.X[idx], self.y[idx], self.k, self.hidden, self.activation,
                         self.l2)
            return batch.problem(x0, f"{name}-batch{batch_size}")

        return Problem(fun_and_grad=self.fun_and_grad, sample=sample, x0=x0, name=name)


@functools.lru_cache(maxsize=16)
def _digits_split(test_size: float, seed: int) -> tuple[Array, Array, NDArray[np.int64],
                                                          NDArray[np.int64]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    y = np.asarray(y, dtype=np.int64)
    parts = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    parts = tuple(np.ascontiguousarray(a) for a in parts)
    read_only(*parts)
    return parts  # type: ignore[return-value]


def mlp_digits_split(
    test_size: float = 0.25, seed: int = 0
) -> tuple[Array, Array, NDArray[np.int64], NDArray[np.int64]]:
    """The train/test split of scikit-learn's digits used by :func:`mlp_classification`.

    Parameters
    ----------
    test_size : float, default 0.25
        Fraction of the 1797 samples held out for testing, in ``(0, 1)``.
    seed : int, default 0
        ``random_state`` of :func:`sklearn.model_selection.train_test_split` (stratified by
        label).

    Returns
    -------
    X_train, X_test : ndarray
        Pixel features divided by 16 (in ``[0, 1]``), 64 per sample; read-only.
    y_train, y_test : ndarray of int
        Labels ``0, ..., 9``; read-only.

    Examples
    --------
    >>> from problems.ml import mlp_digits_split
    >>> X_train, X_test, y_train, y_test = mlp_digits_split()
    >>> X_train.shape, X_test.shape
    ((1347, 64), (450, 64))
    """
    test_size = float(test_size)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}")
    return _digits_split(test_size, int(seed))


def mlp_predict(x: ArrayLike, X: ArrayLike, hidden: int = 64,
                activation: str = "relu") -> NDArray[np.int64]:
    """Class predictions of the MLP of :func:`mlp_classification` with parameters ``x``.

    Parameters
    ----------
    x : (n_params,) array_like
        Flat parameters ``(W1, b1, W2, b2)``, as in :func:`mlp_classification` (a result's
        ``res.x``); the number of classes is inferred from its size.
    X : (n, d) array_like
        Features (for digits: divided by 16, as :func:`mlp_digits_split` returns them).
    hidden : int, default 64
        Number of hidden units the parameters were built for.
    activation : {"relu", "elu", "tanh"}, default "relu"
        The hidden activation.

    Returns
    -------
    (n,) ndarray of int
        ``argmax`` of the output scores for each row of ``X``.
    """
    X = np.asarray(X, dtype=float)
    x = np.asarray(x, dtype=float)
    hidden = check_int("hidden", hidden, 1)
    activation = _check_activation(activation)
    if X.ndim != 2:
        raise ValueError(f"X must be two-dimensional, got shape {X.shape}")
    k = _mlp_shapes(x.size, X.shape[1], hidden)
    W1, b1, W2, b2 = _mlp_unpack(x, X.shape[1], hidden, k)
    H, _ = _mlp_activation(X @ W1 + b1, activation)
    return np.argmax(H @ W2 + b2, axis=1).astype(np.int64)


def mlp_accuracy(x: ArrayLike, X: ArrayLike, y: ArrayLike, hidden: int = 64,
                 activation: str = "relu") -> float:
    """Fraction of the rows of ``X`` that :func:`mlp_predict` labels as ``y``.

    Examples
    --------
    >>> import optkit
    >>> from problems.ml import mlp_accuracy, mlp_classification, mlp_digits_split
    >>> p = mlp_classification()
    >>> _, X_test, _, y_test = mlp_digits_split()
    >>> res = optkit.minimize(p, method="adam", options={"lr": 1e-2, "batch_size": 64,
    ...                                                  "maxiter": 200, "seed": 0})
    >>> mlp_accuracy(res.x, X_test, y_test) > 0.8
    True
    """
    return float(np.mean(mlp_predict(x, X, hidden, activation) == np.asarray(y)))


@entry("mlp-digits", "ml", dataset="digits")
def mlp_classification(
    dataset: str = "digits",
    hidden: int = 64,
    activation: str = "relu",
    l2: float = 0.0,
    test_size: float = 0.25,
    seed: int = 0,
) -> Problem:
    r"""One-hidden-layer MLP classifier (softmax cross-entropy): a non-convex training problem.

    Parameters
    ----------
    dataset : {"digits"}, default "digits"
        scikit-learn's bundled 8x8 handwritten digits (1797 samples, 64 pixel features divided
        by 16, 10 classes); the objective is on the training part of
        :func:`mlp_digits_split` ``(test_size, seed)``.
    hidden : int, default 64
        Number of hidden units ``h``.
    activation : {"relu", "elu", "tanh"}, default "relu"
        The hidden activation (ELU with ``alpha = 1``).
    l2 : float, default 0.0
        L2 weight on ``W1`` and ``W2`` (the biases are not regularized).
    test_size : float, default 0.25
        Fraction of the samples held out (not in the objective).
    seed : int, default 0
        Seeds both the stratified train/test split and the random initialization ``x0``.

    Returns
    -------
    Problem
        Over ``x = concat(W1.ravel(), b1, W2.ravel(), b2)`` (row-major), ``W1`` of shape
        ``(d, h)``, ``W2`` of shape ``(h, k)``; with ``fun_and_grad``, ``sample`` and a random
        ``x0``. ``f_opt`` is ``None`` (unknown: the problem is non-convex).

    Notes
    -----
    With training rows :math:`x_i \in \mathbb{R}^d` and labels :math:`y_i`,

    .. math:: f(\theta) = \frac1m \sum_{i=1}^m \Bigl(\log \sum_c e^{z_{ic}} - z_{i y_i}\Bigr)
              + \frac{\ell_2}{2} (\|W_1\|_F^2 + \|W_2\|_F^2), \qquad
              z_i = W_2^T a(W_1^T x_i + b_1) + b_2,

    with the activation :math:`a`. The gradient is hand-written backpropagation (vectorized
    over the samples); ReLU's derivative is taken as 0 at 0.

    ``x0``: biases zero; ``W1`` normal with standard deviation :math:`\sqrt{2/d}` (He) for
    ReLU and ELU, :math:`\sqrt{2/(d + h)}` (Glorot) for tanh; ``W2`` normal with standard
    deviation :math:`\sqrt{2/(h + k)}` (Glorot); drawn from ``numpy.random.default_rng(seed)``.

    ``sample(batch_size, rng)`` draws ``batch_size`` distinct training rows with
    ``rng.choice(m, batch_size, replace=False)`` and returns the same formula on the batch;
    ``batch_size = m`` gives the full objective. Use :func:`mlp_digits_split` for the held-out
    part and :func:`mlp_accuracy` (or :func:`mlp_predict`) to score a result's ``x``.

    Examples
    --------
    >>> from problems.ml import mlp_classification
    >>> p = mlp_classification()
    >>> p.x0.shape  # 64*64 + 64 + 64*10 + 10
    (4810,)
    >>> p.f_opt is None
    True
    """
    if dataset not in _MLP_DATASETS:
        raise ValueError(f"dataset must be one of {_MLP_DATASETS}, got {dataset!r}")
    hidden = check_int("hidden", hidden, 1)
    activation = _check_activation(activation)
    l2 = _check_positive("l2", l2, strict=False)
    X, _, y, _ = mlp_digits_split(test_size, seed)
    d, k = X.shape[1], 10
    rng = np.random.default_rng(seed)
    std1 = math.sqrt(2.0 / d) if activation in ("relu", "elu") else math.sqrt(2.0 / (d + hidden))
    W1 = std1 * rng.standard_normal((d, hidden))
    W2 = math.sqrt(2.0 / (hidden + k)) * rng.standard_normal((hidden, k))
    x0 = np.concatenate([W1.ravel(), np.zeros(hidden), W2.ravel(), np.zeros(k)])
    name = "mlp-digits" if activation == "relu" else f"mlp-digits-{activation}"
    return _MLP(X, y, k, hidden, activation, l2).problem(x0, name)
