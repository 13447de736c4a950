r"""Linear support vector machines with one penalty per training sample, as bilevel problems
whose lower level has constraints coupling ``x`` and ``y`` (LV-HBA's experiments, spec
``papers/lv-hba.md`` sections 4.3 and 4.4).

- :func:`svm_per_sample_penalties`: the log-penalties of a squared-hinge linear SVM, one per
  training sample, tuned on a validation set (spec 4.3).
- :func:`svm_hyper_cleaning`: the same model trained on labels of which 40 % are flipped;
  the penalties act as per-sample weights that should shrink on the flipped samples (data
  hyper-cleaning, spec 4.4).

Both come from one builder, on scikit-learn's bundled data sets (no network): the breast
cancer set (569 samples, 30 features; split 300 / 150 / 119) or the digits made binary
(1797 samples, 64 features; digit < 5 is -1, else +1; split 500 / 150 / 1147).

Notation: ``x = c ∈ R^N`` is the upper variable (``N`` training samples), the log-penalties
with per-sample weights ``e^c`` (``penalty="log"``, the spec's) or the weights ``C >= 0``
themselves (``penalty="linear"``, GAM's parametrization); the lower one is
``y = (w, b, ξ) ∈ R^{d + 1 + N}`` (flat), ``F`` the upper objective, ``f`` the lower one; the
constraints are ``g(x, y) <= 0``.

References
----------
.. [1] W. Yao, C. Yu, S. Zeng and J. Zhang, "Constrained bi-level optimization: proximal
   Lagrangian value function approach and Hessian-free algorithm", ICLR 2024.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from optkit.bilevel import affine_constraints
from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only

__all__ = ["svm_per_sample_penalties", "svm_hyper_cleaning"]

Array = NDArray[np.float64]

#: The sizes of the training and validation parts of each data set (the test part is the rest).
SPLITS = {"breast_cancer": (300, 150), "digits": (500, 150)}
#: The slope of the leaky ReLU of the smoothed 0-1 loss for correctly classified samples.
LEAKY_SLOPE = 0.01
#: The sharpness of the smoothed 0-1 loss: ``2σ(-SHARPNESS m) - 1`` of the margin ``m``.
SHARPNESS = 5.0
#: CLARABEL's tolerances for the lower solve (its defaults, 1e-8, leave errors near 1e-6 in
#: the stationarity of ``w`` when some penalties are large).
LOWER_TOLERANCES = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10,
                    "tol_ktratio": 1e-8}
#: The parametrizations of the penalties: ``x = c`` with weights ``e^c``, or the weights.
PENALTIES = ("log", "linear")
#: The default grid of ``grid_search``: one log-penalty shared by every training sample.
DEFAULT_GRID = np.linspace(-8.0, 8.0, 33)
read_only(DEFAULT_GRID)


@functools.lru_cache(maxsize=8)
def _svm_data(dataset: str, seed: int) -> tuple[tuple[Array, Array], ...]:
    """The shuffled train / validation / test parts of ``dataset``: features scaled to
    ``[-1, 1]`` by a min-max scaler fitted on the training part, labels ``±1``."""
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.preprocessing import MinMaxScaler

    if dataset == "breast_cancer":
        X, target = load_breast_cancer(return_X_y=True)
        labels = np.where(target == 1, 1.0, -1.0)  # 1: benign, 0: malignant
    else:
        X, digit = load_digits(return_X_y=True)
        labels = np.where(digit < 5, -1.0, 1.0)
    order = np.random.default_rng(np.random.SeedSequence([seed, 0])).permutation(X.shape[0])
    X, labels = np.asarray(X, dtype=np.float64)[order], labels[order]
    n_train, n_val = SPLITS[dataset]
    scaler = MinMaxScaler(feature_range=(-1.0, 1.0)).fit(X[:n_train])
    parts = tuple((np.ascontiguousarray(scaler.transform(X[lo:hi])), labels[lo:hi].copy())
                  for lo, hi in ((0, n_train), (n_train, n_train + n_val),
                                 (n_train + n_val, X.shape[0])))
    for features, part_labels in parts:
        read_only(features, part_labels)
    return parts


def _smoothed_loss(Z: Array, labels: Array, w: Array, b: float) -> tuple[Array, Array, Array,
                                                                         float]:
    """Per-sample ``LeakyReLU(2σ(-5 m) - 1)`` of the normalized margins
    ``m = labels (Z w + b)/‖w‖``, its derivative in ``m``, the margins ``labels (Z w + b)``
    (unnormalized) and ``‖w‖``."""
    norm = float(np.linalg.norm(w))
    margins = labels * (Z @ w + b)
    t = -np.tanh(0.5 * SHARPNESS * margins / norm)  # 2σ(-5m) - 1 = -tanh(5m/2)
    slope = np.where(t > 0.0, 1.0, LEAKY_SLOPE)
    dloss_dm = slope * (-0.5 * SHARPNESS) * (1.0 - t * t)
    return slope * t, dloss_dm, margins, norm


class _LowerSolver:
    """``weights -> y*``: the lower-level QP ``min ½‖w‖² + ½ Σ weights_i ξ_i²`` subject to
    ``labels_i (z_iᵀw + b) >= 1 - ξ_i``, compiled once by cvxpy with the weights as a
    parameter, solved by CLARABEL."""

    def __init__(self, Z: Array, labels: Array) -> None:
        import cvxpy as cp

        n, d = Z.shape
        self.Z, self.labels = Z, labels
        self.weights = cp.Parameter(n, nonneg=True)
        self.w, self.b, self.xi = cp.Variable(d), cp.Variable(), cp.Variable(n)
        objective = 0.5 * cp.sum_squares(self.w) \
            + 0.5 * cp.sum(cp.multiply(self.weights, cp.square(self.xi)))
        self.problem = cp.Problem(cp.Minimize(objective),
                                  [cp.multiply(labels, Z @ self.w + self.b) >= 1.0 - self.xi])

    def __call__(self, weights: Array) -> Array:
        self.weights.value = weights
        self.problem.solve(solver="CLARABEL", warm_start=True, **LOWER_TOLERANCES)
        if self.problem.status != "optimal" or self.w.value is None:
            raise ValueError(f"the lower-level QP failed: CLARABEL ended with status "
                             f"{self.problem.status!r}")
        w, b = np.array(self.w.value, dtype=np.float64), float(self.b.value)
        # the exact minimizer in ξ for this (w, b): feasible to rounding
        xi = np.maximum(0.0, 1.0 - self.labels * (self.Z @ w + b))
        return np.concatenate([w, [b], xi])


def _linear_svm(dataset: str, seed: int, corruption: float, penalty: str,
                name: str) -> BilevelProblem:
    """The bilevel problem of both entries (their docstrings say what it is)."""
    if dataset not in SPLITS:
        raise ValueError(f"dataset must be one of {sorted(SPLITS)}, got {dataset!r}")
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    log = penalty == "log"
    seed = check_int("seed", seed, 0)
    if not 0.0 <= corruption < 1.0:
        raise ValueError(f"corruption must be in [0, 1), got {corruption!r}")
    (Z, clean), (Z_val, l_val), (Z_te, l_te) = _svm_data(dataset, seed)
    n, d = Z.shape
    c0 = np.random.default_rng(np.random.SeedSequence([seed, 1])).uniform(-6.0, -5.0, n)

    def weights(x: Array) -> Array:
        """The per-sample penalties: ``e^x`` (log), or ``x`` itself (linear)."""
        return np.exp(x) if log else x

    def weights_dx(x: Array) -> Array:
        """Their derivative in ``x`` (elementwise)."""
        return np.exp(x) if log else np.ones(n)
    flipped = np.zeros(n, dtype=bool)
    flip_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    flipped[flip_rng.choice(n, size=round(corruption * n), replace=False)] = True
    labels = np.where(flipped, -clean, clean)
    read_only(flipped, labels)
    splits = {"train": (Z, labels), "val": (Z_val, l_val), "test": (Z_te, l_te)}

    def part(split: str) -> tuple[Array, Array]:
        if split not in splits:
            raise ValueError(f"split must be one of {sorted(splits)}, got {split!r}")
        return splits[split]

    def upper_fun(x: Array, y: Array) -> float:
        return float(np.sum(_smoothed_loss(Z_val, l_val, y[:d], y[d])[0]))

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        w = y[:d]
        _, a, margins, norm = _smoothed_loss(Z_val, l_val, w, y[d])
        # ∂m_j/∂w = l_j z_j/‖w‖ - margin_j w/‖w‖³, ∂m_j/∂b = l_j/‖w‖
        grad_w = Z_val.T @ (a * l_val) / norm - (float(a @ margins) / norm**3) * w
        return np.zeros(n), np.concatenate([grad_w, [float(a @ l_val) / norm], np.zeros(n)])

    def lower_fun(x: Array, y: Array) -> float:
        w, xi = y[:d], y[d + 1:]
        return 0.5 * float(w @ w) + 0.5 * float(weights(x) @ (xi * xi))

    def lower_grad_y(x: Array, y: Array) -> Array:
        return np.concatenate([y[:d], [0.0], weights(x) * y[d + 1:]])

    def lower_grad_x(x: Array, y: Array) -> Array:
        return 0.5 * weights_dx(x) * y[d + 1:] ** 2

    def lower_hvp_yy(x: Array, y: Array, v: Array) -> Array:
        return np.concatenate([v[:d], [0.0], weights(x) * v[d + 1:]])

    def lower_hvp_xy(x: Array, y: Array, v: Array) -> Array:
        return weights_dx(x) * y[d + 1:] * v[d + 1:]

    # g = 1 - ξ - labels (Z w + b) <= 0, i.e. G_y y <= -1 with G_y = [-diag(l) Z, -l, -I]
    G_y = sp.hstack([sp.csr_array(-labels[:, np.newaxis] * Z),
                     sp.csr_array(-labels[:, np.newaxis]), -sp.eye_array(n)], format="csr")
    coupled = affine_constraints(sp.csr_array((n, n)), G_y, -np.ones(n))
    if not log:  # x >= 0 apart from the constraints, which leave x out of their projection
        project = coupled["proj_xy"]

        def proj_xy(x: Array, y: Array) -> tuple[Array, Array]:
            x_same, y_new = project(x, y)
            return np.maximum(x_same, 0.0), y_new

        coupled = {**coupled, "proj_xy": proj_xy,
                   "proj_x": lambda x: np.maximum(np.asarray(x, dtype=np.float64), 0.0)}

    def accuracy(y: Array, split: str = "test") -> float:
        features, part_labels = part(split)
        y = np.asarray(y, dtype=np.float64)
        return float(np.mean(part_labels * (features @ y[:d] + y[d]) > 0.0))

    def loss(y: Array, split: str = "test") -> float:
        features, part_labels = part(split)
        y = np.asarray(y, dtype=np.float64)
        return float(np.mean(_smoothed_loss(features, part_labels, y[:d], y[d])[0]))

    solver: list[_LowerSolver] = []  # compiled at the first solve

    def solve_lower(x: ArrayLike) -> Array:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (n,) or not np.all(np.isfinite(x)):
            raise ValueError(f"x must be a finite vector of length {n}, got shape {x.shape}")
        if not (log or np.all(x >= 0.0)):
            raise ValueError("x must be nonnegative: the penalties are linear")
        if not solver:
            solver.append(_LowerSolver(Z, labels))
        return solver[0](weights(x))

    def lower_value(x: ArrayLike) -> float:
        x = np.asarray(x, dtype=np.float64)
        return lower_fun(x, solve_lower(x))

    def grid_search(grid: ArrayLike | None = None,
                    criterion: str = "accuracy") -> dict[str, Any]:
        grid = DEFAULT_GRID if grid is None else np.atleast_1d(np.asarray(grid, dtype=float))
        if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
            raise ValueError("grid must be a non-empty finite vector of log-penalties")
        if criterion not in ("loss", "accuracy"):
            raise ValueError(f"criterion must be 'loss' or 'accuracy', got {criterion!r}")
        ys = [solve_lower(np.full(n, c if log else np.exp(c))) for c in grid]
        val_loss = np.array([loss(y, "val") for y in ys])
        val_acc = np.array([accuracy(y, "val") for y in ys])
        # the first of the smallest (-accuracy, loss) or loss, in the order of the grid
        best = int(np.lexsort((val_loss, -val_acc))[0] if criterion == "accuracy"
                   else np.argmin(val_loss))
        y = ys[best]
        return {"c": float(grid[best]), "y": y, "val_loss": float(val_loss[best]),
                "val_accuracy": float(val_acc[best]), "test_loss": loss(y, "test"),
                "test_accuracy": accuracy(y, "test"), "grid": grid,
                "val_losses": val_loss, "val_accuracies": val_acc}

    return BilevelProblem(
        upper_fun=upper_fun, upper_grad=upper_grad, lower_fun=lower_fun,
        lower_grad_y=lower_grad_y, lower_grad_x=lower_grad_x, lower_hvp_yy=lower_hvp_yy,
        lower_hvp_xy=lower_hvp_xy, **coupled, x0=c0 if log else np.exp(c0),
        y0=np.concatenate([np.ones(d), [0.0], np.ones(n)]), name=name,
        info={"accuracy": accuracy, "loss": loss, "solve_lower": solve_lower,
              "lower_value": lower_value, "grid_search": grid_search,
              "weights": lambda x: weights(np.asarray(x, dtype=np.float64)),
              "flipped": flipped, "X_train": Z, "labels_train": labels,
              "labels_train_clean": clean, "X_val": Z_val, "labels_val": l_val,
              "X_test": Z_te, "labels_test": l_te})


def _name(base: str, dataset: str, seed: int, extra: str = "") -> str:
    """``base`` for the defaults, else with the data set, seed and ``extra`` appended."""
    if dataset == "breast_cancer" and seed == 0 and not extra:
        return base
    return f"{base}-{dataset.replace('_', '-')}-seed{seed}{extra}"


@entry("svm-per-sample-penalties", "bilevel")
def svm_per_sample_penalties(dataset: str = "breast_cancer", seed: int = 0,
                             penalty: str = "log") -> BilevelProblem:
    r"""One penalty per training sample of a linear SVM, tuned on a validation set (LV-HBA).

    Parameters
    ----------
    dataset : {"breast_cancer", "digits"}, default "breast_cancer"
        scikit-learn's breast cancer set (30 features; split 300 / 150 / 119) or the digits
        made binary (64 features; digit < 5 is -1, else +1; split 500 / 150 / 1147).
    seed : int, default 0
        Seeds the shuffle before the split and the start ``x0`` (independent streams, the
        same for :func:`svm_hyper_cleaning`).
    penalty : {"log", "linear"}, default "log"
        ``x = c``, the log-penalties, with weights ``e^c`` (the spec's), or ``x = C >= 0``,
        the weights themselves (GAM's parametrization). A step on ``c`` scales with ``e^c``
        (about 0.004 at the start): with ``"linear"`` it does not, and a step size for ``x``
        (LV-HBA's ``alpha_x``) does not blow up through the exponential.

    Returns
    -------
    BilevelProblem
        ``x = c ∈ R^N`` (log-penalties, ``N`` training samples), ``y = (w, b, ξ) ∈
        R^{d + 1 + N}`` with, for the normalized margins
        ``m_j = l_j (wᵀz_j + b)/‖w‖`` of the validation samples ``(z_j, l_j)``,

        .. math::

            F(c, y) = \sum_{j \in \mathrm{val}} \mathrm{LeakyReLU}(2\sigma(-5 m_j) - 1),
            \qquad f(c, y) = \tfrac12 \|w\|^2 + \tfrac12 \sum_i e^{c_i} \xi_i^2,

        subject to ``g_i = 1 - ξ_i - l_i (wᵀz_i + b) <= 0`` for every training sample
        (``constraints``, the Jacobian products and ``proj_xy`` from
        :func:`optkit.bilevel.affine_constraints`: a QP on ``(w, b, ξ)``, ``c`` untouched).
        ``σ`` is the logistic function, the leaky ReLU's negative slope 0.01. Start:
        ``c ~ U(-6, -5)`` (seeded), ``w = 1``, ``b = 0``, ``ξ = 1``; ``f_opt`` unknown. With
        ``penalty="linear"``, ``x = C`` replaces ``e^c`` in ``f`` (start ``C = e^c``, the
        same weights), ``proj_xy`` also clips ``C`` at 0 (separately: the constraints do not
        involve ``x``) and ``proj_x`` is that clip. ``info``:

        - ``"accuracy"``, ``"loss"``: ``(y, split="test") ->`` the fraction of samples with
          ``l (wᵀz + b) > 0``, and the MEAN smoothed 0-1 loss (``F = 150 ·
          loss(y, "val")``), on ``"train"``, ``"val"`` or ``"test"``;
        - ``"solve_lower"``: ``x -> y*(x)``, the lower level solved by cvxpy (CLARABEL),
          ``ξ`` then set to ``max(0, 1 - l (Zw + b))`` (feasible to rounding);
          ``"lower_value"``: ``x -> φ(x)``, ``f`` at that point;
        - ``"grid_search"``: ``(grid=linspace(-8, 8, 33), criterion="accuracy") ->`` a
          dict for the best single log-penalty (every ``c_i`` equal, lower level solved
          exactly; a log-penalty for either ``penalty``) by validation accuracy, ties to
          the smaller validation loss (or by validation loss alone,
          ``criterion="loss"``), the first in the grid's order:
          ``"c"``, ``"y"``, ``"val_loss"``, ``"val_accuracy"``, ``"test_loss"``,
          ``"test_accuracy"``, and ``"grid"``, ``"val_losses"``, ``"val_accuracies"`` over
          the grid: the baseline for the learned per-sample penalties;
        - ``"weights"``: ``x -> e^x`` (``x`` with ``"linear"``), the per-sample penalties;
          ``"flipped"``: the mask of flipped training labels (none here);
        - the data (read-only): ``"X_train"``, ``"labels_train"`` (as trained on),
          ``"labels_train_clean"``, ``"X_val"``, ``"labels_val"``, ``"X_test"``,
          ``"labels_test"``.

    Raises
    ------
    ValueError
        For an unknown data set or ``penalty``, or a negative ``seed``; the ``info``
        functions for an unknown split, a grid that is not a non-empty finite vector, an
        unknown criterion, a negative ``x`` with ``"linear"``, or a failed lower solve.

    Notes
    -----
    Spec 4.3 on a CPU-sized substitute of LIBSVM's ``diabetes``: the samples are shuffled,
    split, and the features scaled to ``[-1, 1]`` by scikit-learn's ``MinMaxScaler`` fitted
    on the training part (validation and test features may fall slightly outside). ``F`` is
    the sum over the validation set, as in the paper and its code (a mean would weaken the
    upper level 150 times against the penalized gap ``f - v`` that LV-HBA descends, with its
    schedule ``c_k``); ``F`` does not depend on ``c`` (``∇_c F = 0``) and is undefined at
    ``w = 0``. The lower level is a squared-hinge SVM: at its solution
    ``ξ_i = max(0, 1 - l_i (wᵀz_i + b))`` and ``w = Σ_i e^{c_i} ξ_i l_i z_i``. It is
    strongly convex in ``(w, ξ)`` but not in ``b``, so no strong convexity constant is
    given. Since ``∇_c g = 0``, LV-HBA's step on ``c`` is ``∇_c f(c, y) - ∇_c f(c, θ)`` (with
    ``penalty="log"`` ``½ e^c (ξ² - ξ_θ²)``, with ``"linear"`` ``½ (ξ² - ξ_θ²)``).

    The grid search picks by validation accuracy by default, as one usually tunes an SVM:
    with 40 % flipped labels (:func:`svm_hyper_cleaning`) the smoothed loss of the
    normalized margins often prefers the largest penalty of the grid, with validation and
    test accuracies 5 to 15 points below those of the accuracy's choice.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.svm_bilevel import svm_per_sample_penalties
    >>> p = svm_per_sample_penalties()
    >>> p.n, p.m, p.info["X_test"].shape
    (300, 331, (119, 30))
    >>> y = p.info["solve_lower"](np.zeros(p.n))
    >>> bool(np.max(p.constraints(np.zeros(p.n), y)) <= 1e-12)
    True
    >>> p.info["accuracy"](y, "test") > 0.9
    True
    >>> q = svm_per_sample_penalties(penalty="linear")
    >>> q.name, bool(np.allclose(q.x0, np.exp(p.x0)))
    ('svm-per-sample-penalties-breast-cancer-seed0-linear', True)
    """
    extra = "" if penalty == "log" else f"-{penalty}"
    return _linear_svm(dataset, seed, 0.0, penalty,
                       _name("svm-per-sample-penalties", dataset, seed, extra))


@entry("svm-hyper-cleaning", "bilevel")
def svm_hyper_cleaning(dataset: str = "breast_cancer", seed: int = 0,
                       corruption: float = 0.4, penalty: str = "log") -> BilevelProblem:
    r"""Data hyper-cleaning: per-sample penalties of a linear SVM trained on flipped labels.

    Parameters
    ----------
    dataset : {"breast_cancer", "digits"}, default "breast_cancer"
        As for :func:`svm_per_sample_penalties` (the digits stand in for LIBSVM's
        ``gisette``).
    seed : int, default 0
        Seeds the shuffle, the start and which labels flip (independent streams: the split
        and the start are those of :func:`svm_per_sample_penalties` with this seed).
    corruption : float, default 0.4
        The fraction of training labels flipped, ``round(corruption · N)`` of them, drawn
        without replacement; in ``[0, 1)``.
    penalty : {"log", "linear"}, default "log"
        As for :func:`svm_per_sample_penalties`.

    Returns
    -------
    BilevelProblem
        The problem of :func:`svm_per_sample_penalties` with the flipped training labels in
        ``f``'s constraints (the validation and test labels are clean). ``info`` as there,
        with ``"flipped"`` the mask of flipped samples, ``"labels_train"`` the labels
        trained on and ``"labels_train_clean"`` the true ones; compare the mean of
        ``info["weights"](x)`` over flipped and clean samples.

    Raises
    ------
    ValueError
        As :func:`svm_per_sample_penalties`, and for ``corruption`` outside ``[0, 1)``.

    Notes
    -----
    Spec 4.4: the penalties ``e^{c_i}`` weigh each training sample's slack, so the upper
    level, which sees only clean validation labels, should learn to shrink them on the
    flipped samples. Grid search over one shared penalty (``info["grid_search"]``) cannot
    tell samples apart and is the baseline.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.svm_bilevel import svm_hyper_cleaning
    >>> p = svm_hyper_cleaning()
    >>> flipped = p.info["flipped"]
    >>> int(flipped.sum()), p.n
    (120, 300)
    >>> bool(np.all((p.info["labels_train"] != p.info["labels_train_clean"]) == flipped))
    True
    """
    corruption = float(corruption)
    extra = ("" if corruption == 0.4 else f"-corruption{corruption:g}") + (
        "" if penalty == "log" else f"-{penalty}")
    return _linear_svm(dataset, seed, corruption, penalty,
                       _name("svm-hyper-cleaning", dataset, seed, extra))
