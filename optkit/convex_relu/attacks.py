r"""ℓ∞ attacks on a two-layer ReLU network, to evaluate adversarial training (spec section 4).

The network is ``ŷ(x) = Σ_j (x·u_j)_+ α_j`` with hidden weights ``U`` (``(m, d)``) and output
weights ``alpha`` (``(m,)``), as :func:`~optkit.convex_relu.recover_weights` returns them. Its
input gradient is piecewise constant,

.. math:: \nabla_x \hat y(x) = \sum_{j:\ x\cdot u_j \ge 0} \alpha_j u_j,

so the attacks need no automatic differentiation. :func:`fgsm` takes one signed step of
length ``eps``; :func:`pgd` takes many short signed steps and projects back on the box
``[x - eps, x + eps]`` after each; :func:`attack_accuracy` scores the labels of the attacked
inputs. Every attack can leave some columns alone (``fixed_columns``): the ones column of a
bias, say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optkit.convex_relu.model import (
    check_loss,
    loss_gradient,
    loss_terms,
    predict_labels,
    relu_outputs,
)
from optkit.prox import project_box

__all__ = ["ATTACKS", "per_sample_loss", "input_gradient", "fgsm", "pgd", "attack_accuracy"]

Array = NDArray[np.float64]

#: The names :func:`attack_accuracy` accepts.
ATTACKS = ("clean", "fgsm", "pgd")


# -- checks ------------------------------------------------------------------------------------


def _check_network(X: ArrayLike, y: ArrayLike, U: ArrayLike, alpha: ArrayLike,
                   loss: str) -> tuple[Array, Array, Array, Array]:
    check_loss(loss)
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    U, alpha = np.asarray(U, dtype=float), np.asarray(alpha, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
    if U.ndim != 2 or U.shape[1] != X.shape[1] or alpha.shape != (U.shape[0],):
        raise ValueError(f"U must be (m, d) with d = {X.shape[1]} and alpha (m,), got "
                         f"{U.shape} and {alpha.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(U)) and np.all(np.isfinite(alpha))):
        raise ValueError("X, U and alpha must be finite")
    return X, y, U, alpha


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite non-negative number, got {eps!r}")
    return eps


def _free_mask(d: int, fixed_columns: Sequence[int] | ArrayLike | None) -> Array:
    """1.0 for the columns an attack may change, 0.0 for ``fixed_columns``."""
    free = np.ones(d)
    if fixed_columns is None:
        return free
    cols = np.asarray(fixed_columns)
    if cols.size == 0:
        return free
    if cols.ndim > 1 or not np.issubdtype(cols.dtype, np.integer):
        raise ValueError(f"fixed_columns must be a sequence of column indices, "
                         f"got {fixed_columns!r}")
    if np.any(cols < -d) or np.any(cols >= d):
        raise ValueError(f"fixed_columns must be indices of the {d} columns of X, "
                         f"got {cols.tolist()}")
    free[cols] = 0.0
    return free


# -- losses and gradients ----------------------------------------------------------------------


def per_sample_loss(X: ArrayLike, y: ArrayLike, U: ArrayLike, alpha: ArrayLike,
                    loss: str = "squared") -> Array:
    r"""The loss of each sample, shape ``(n,)``.

    ``squared``: :math:`\tfrac12(\hat y_k - y_k)^2`; ``bce`` (labels {0, 1}):
    :math:`\log(1 + e^{2\hat y_k}) - 2 y_k\hat y_k`; ``hinge`` (labels ±1):
    :math:`(1 - y_k\hat y_k)_+` (:func:`~optkit.convex_relu.loss_terms` of the network's
    output). Their sum is :func:`~optkit.convex_relu.loss_value` for ``squared`` and ``bce``,
    their mean for ``hinge``.

    Examples
    --------
    >>> import numpy as np
    >>> U, alpha = np.array([[1.0, 0.0]]), np.array([2.0])
    >>> per_sample_loss([[1.0, 5.0], [-1.0, 5.0]], [1.0, 1.0], U, alpha, "hinge")
    array([0., 1.])
    """
    X, y, U, alpha = _check_network(X, y, U, alpha, loss)
    return loss_terms(relu_outputs(X, U, alpha), y, loss)


def _attack_objective(X: Array, y: Array, U: Array, alpha: Array, loss: str) -> Array:
    """What the attacks raise: the per-sample loss, or ``1 - y ŷ`` (the leaky hinge)."""
    if loss == "hinge":
        return 1.0 - y * relu_outputs(X, U, alpha)
    return per_sample_loss(X, y, U, alpha, loss)


def input_gradient(
    X: ArrayLike,
    y: ArrayLike,
    U: ArrayLike,
    alpha: ArrayLike,
    loss: str = "squared",
    *,
    fixed_columns: Sequence[int] | ArrayLike | None = None,
) -> Array:
    r"""The gradient of each sample's loss in its own input row, shape ``(n, d)``.

    With :math:`J_k = \sum_{j:\ x_k\cdot u_j \ge 0} \alpha_j u_j` (the gradient of
    :math:`\hat y` at :math:`x_k`), row ``k`` is

    - ``squared``: :math:`(\hat y_k - y_k) J_k`;
    - ``bce``: :math:`(2\sigma(2\hat y_k) - 2y_k) J_k`;
    - ``hinge``: :math:`-y_k J_k` everywhere, also where :math:`(1 - y_k\hat y_k)_+` is flat
      (the "leaky hinge" of the spec: the gradient of :math:`1 - y_k\hat y_k`, so that
      correctly classified points are still pushed towards the decision boundary).

    Parameters
    ----------
    X : (n, d) array_like
        The inputs.
    y : (n,) array_like
        The targets: ±1 or real (``squared``), {0, 1} (``bce``), ±1 (``hinge``).
    U : (m, d) array_like
        The hidden weights.
    alpha : (m,) array_like
        The output weights.
    loss : {"squared", "bce", "hinge"}, default "squared"
        The loss (per sample; :func:`per_sample_loss`).
    fixed_columns : sequence of int, optional
        Columns whose gradient is set to zero (inputs an attacker cannot change, such as the
        ones column of a bias).

    Returns
    -------
    (n, d) ndarray
        Row ``k`` is the gradient of sample ``k``'s loss in ``x_k``. Where ``x_k·u_j = 0``
        the neuron counts as active (the convention of the patterns ``1[X a >= 0]``).

    Examples
    --------
    >>> import numpy as np
    >>> U, alpha = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([2.0, -1.0])
    >>> X = np.array([[1.0, 1.0], [1.0, -1.0]])
    >>> input_gradient(X, [1.0, 1.0], U, alpha, "hinge")  # only active neurons count
    array([[-2.,  1.],
           [-2., -0.]])
    """
    X, y, U, alpha = _check_network(X, y, U, alpha, loss)
    free = _free_mask(X.shape[1], fixed_columns)
    pre = X @ U.T
    J = ((pre >= 0) * alpha) @ U  # ∇ŷ(x_k), row by row
    if loss == "hinge":
        scale = -y
    else:  # the derivative of the loss in ŷ_k
        scale = loss_gradient(np.maximum(pre, 0.0) @ alpha, y, loss)
    return scale[:, None] * J * free


# -- attacks -----------------------------------------------------------------------------------


def fgsm(
    X: ArrayLike,
    y: ArrayLike,
    U: ArrayLike,
    alpha: ArrayLike,
    eps: float,
    loss: str = "squared",
    *,
    fixed_columns: Sequence[int] | ArrayLike | None = None,
) -> Array:
    r"""The fast gradient sign attack :math:`\tilde x_k = x_k + \epsilon\,\mathrm{sign}(g_k)`.

    ``g_k`` is :func:`input_gradient` (the leaky hinge direction for ``hinge``).

    Parameters
    ----------
    X : (n, d) array_like
        The inputs.
    y : (n,) array_like
        The targets.
    U : (m, d) array_like
        The hidden weights.
    alpha : (m,) array_like
        The output weights.
    eps : float
        Radius of the ℓ∞ ball (non-negative).
    loss : {"squared", "bce", "hinge"}, default "squared"
        The loss the attack raises.
    fixed_columns : sequence of int, optional
        Columns left unchanged (their gradient sign counts as 0).

    Returns
    -------
    (n, d) ndarray
        The attacked inputs, each within ``eps`` of its row of ``X`` in every coordinate.

    Examples
    --------
    >>> import numpy as np
    >>> U, alpha = np.array([[1.0, 0.0]]), np.array([1.0])
    >>> fgsm([[0.5, 1.0]], [1.0], U, alpha, 0.1, "hinge", fixed_columns=[1])
    array([[0.4, 1. ]])
    """
    X, y, U, alpha = _check_network(X, y, U, alpha, loss)
    eps = _check_eps(eps)
    g = input_gradient(X, y, U, alpha, loss, fixed_columns=fixed_columns)
    return X + eps * np.sign(g)


def pgd(
    X: ArrayLike,
    y: ArrayLike,
    U: ArrayLike,
    alpha: ArrayLike,
    eps: float,
    loss: str = "squared",
    *,
    steps: int = 40,
    step_size: float | None = None,
    rng: Any = None,
    keep_best: bool = True,
    fixed_columns: Sequence[int] | ArrayLike | None = None,
) -> Array:
    r"""Projected gradient ascent in the ℓ∞ ball (the ``sign`` version of Madry et al.).

    From :math:`x^0 = x` (or a uniform random point of the box when ``rng`` is given), each
    step is

    .. math:: x^{t+1} = \mathrm{clip}\bigl(x^t + \eta\,\mathrm{sign}(g(x^t)),\
              x - \epsilon,\ x + \epsilon\bigr),

    with ``g`` from :func:`input_gradient` and :math:`\eta` = ``step_size``. The spec's
    evaluation uses 40 steps of ``eps/30`` from ``x``, the defaults.

    Parameters
    ----------
    X : (n, d) array_like
        The inputs.
    y : (n,) array_like
        The targets.
    U : (m, d) array_like
        The hidden weights.
    alpha : (m,) array_like
        The output weights.
    eps : float
        Radius of the ℓ∞ ball (non-negative).
    loss : {"squared", "bce", "hinge"}, default "squared"
        The loss the attack raises.
    steps : int, default 40
        Number of steps (0 returns the start).
    step_size : float, optional
        The step ``η`` (positive); default ``eps / 30``.
    rng : None, int or numpy.random.Generator, optional
        When given, start at a uniform random point of the box instead of at ``X``.
    keep_best : bool, default True
        Return, for each sample, the iterate (start included) with the largest loss (for
        ``hinge``, the largest ``1 - y ŷ``) instead of the last iterate. It is never a weaker
        attack, and the attacked loss is never below that of the start.
    fixed_columns : sequence of int, optional
        Columns left unchanged (for a random start too).

    Returns
    -------
    (n, d) ndarray
        The attacked inputs, within ``eps`` of ``X`` in every coordinate.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.convex_relu import relu_outputs
    >>> rng = np.random.default_rng(0)
    >>> X, U = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    >>> alpha = rng.standard_normal(4)
    >>> y = np.sign(relu_outputs(X, U, alpha) + 0.1)
    >>> X_adv = pgd(X, y, U, alpha, 0.2, "hinge")
    >>> bool(np.abs(X_adv - X).max() <= 0.2 + 1e-12)
    True
    >>> bool(np.all(y * relu_outputs(X_adv, U, alpha) <= y * relu_outputs(X, U, alpha)))
    True
    """
    X, y, U, alpha = _check_network(X, y, U, alpha, loss)
    eps = _check_eps(eps)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    eta = eps / 30.0 if step_size is None else float(step_size)
    if not (np.isfinite(eta) and (eta > 0 or (step_size is None and eps == 0))):
        raise ValueError(f"step_size must be positive and finite, got {step_size!r}")
    free = _free_mask(X.shape[1], fixed_columns)
    lower, upper = X - eps * free, X + eps * free
    if rng is None:
        current = X.copy()
    else:
        gen = np.random.default_rng(rng)
        current = X + eps * free * gen.uniform(-1.0, 1.0, size=X.shape)
    best, best_value = current.copy(), _attack_objective(current, y, U, alpha, loss)
    for _ in range(int(steps)):
        g = input_gradient(current, y, U, alpha, loss, fixed_columns=fixed_columns)
        current = project_box(current + eta * np.sign(g), lower, upper)
        if keep_best:
            value = _attack_objective(current, y, U, alpha, loss)
            better = value > best_value
            best[better], best_value[better] = current[better], value[better]
    return best if keep_best else current


def attack_accuracy(
    X: ArrayLike,
    y: ArrayLike,
    U: ArrayLike,
    alpha: ArrayLike,
    eps: float,
    loss: str = "squared",
    attack: str = "pgd",
    *,
    fixed_columns: Sequence[int] | ArrayLike | None = None,
    **attack_options: Any,
) -> float:
    """The fraction of samples the network still labels correctly under an attack.

    Labels are :func:`~optkit.convex_relu.predict_labels` of the network's output at the
    attacked inputs: ``sign(ŷ)`` for ``squared`` and ``hinge`` (labels ±1), ``1[ŷ >= 0]``
    for ``bce`` (labels {0, 1}).

    Parameters
    ----------
    X : (n, d) array_like
        The inputs.
    y : (n,) array_like
        The labels.
    U : (m, d) array_like
        The hidden weights.
    alpha : (m,) array_like
        The output weights.
    eps : float
        Radius of the ℓ∞ ball (ignored by ``"clean"``).
    loss : {"squared", "bce", "hinge"}, default "squared"
        The loss the attack raises; it also fixes the label convention.
    attack : {"clean", "fgsm", "pgd"}, default "pgd"
        No attack, :func:`fgsm` or :func:`pgd`.
    fixed_columns : sequence of int, optional
        Columns the attack leaves unchanged.
    **attack_options
        Passed to :func:`pgd` (``steps``, ``step_size``, ``rng``, ``keep_best``).

    Returns
    -------
    float
        The accuracy, in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> U, alpha = np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, -1.0])  # ŷ = x₁
    >>> X, y = np.array([[0.05, 1.0], [0.5, 1.0], [-0.3, 1.0]]), np.array([1.0, 1.0, -1.0])
    >>> attack_accuracy(X, y, U, alpha, 0.1, "hinge", "clean")
    1.0
    >>> attack_accuracy(X, y, U, alpha, 0.1, "hinge", "pgd", fixed_columns=[1])
    0.6666666666666666
    """
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")
    X, y, U, alpha = _check_network(X, y, U, alpha, loss)
    if attack != "pgd" and attack_options:
        raise TypeError(f"options {sorted(attack_options)} are for attack='pgd' only")
    if attack == "clean":
        _free_mask(X.shape[1], fixed_columns)
        X_adv = X
    elif attack == "fgsm":
        X_adv = fgsm(X, y, U, alpha, eps, loss, fixed_columns=fixed_columns)
    else:
        X_adv = pgd(X, y, U, alpha, eps, loss, fixed_columns=fixed_columns, **attack_options)
    labels = predict_labels(relu_outputs(X_adv, U, alpha), loss)
    return float(np.mean(labels == y))
