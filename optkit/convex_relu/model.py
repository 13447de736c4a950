r"""The convex model of a two-layer ReLU network, its losses, and weight recovery.

With patterns ``D`` (``(n, P)`` bool) and weight blocks ``V, W`` (``(P, d)``), the convex model
predicts :math:`\hat y = \sum_h D_h X (v_h - w_h)` and is trained by the program (2.5) of Bai,
Gautam and Sojoudi,

.. math::

    \min_{V, W}\ \ell(\hat y, y) + \beta \sum_h (\lVert v_h\rVert_2 + \lVert w_h\rVert_2)
    \quad\text{s.t.}\quad (2D_h - I) X v_h \ge 0,\ (2D_h - I) X w_h \ge 0.

:func:`recover_weights` turns a solution into a ReLU network ``ŷ = Σ_j (X u_j)_+ α_j`` with the
same predictions and the same regularized objective whenever the cone constraints hold.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "LOSSES",
    "SMOOTH_LOSSES",
    "convex_outputs",
    "relu_outputs",
    "softplus",
    "loss_terms",
    "loss_value",
    "loss_gradient",
    "check_loss",
    "check_targets",
    "encode_labels",
    "convex_objective",
    "convex_figures",
    "network_objective",
    "cone_violation",
    "recover_weights",
    "predict_labels",
]

Array = NDArray[np.float64]

#: The losses of the spec (section 1.2): sums for ``squared`` and ``bce``, a mean for ``hinge``.
LOSSES = ("squared", "bce", "hinge")

#: The losses with a gradient (:func:`loss_gradient`): the ones ADMM and FISTA minimize; the
#: hinge loss needs a conic solver.
SMOOTH_LOSSES = ("squared", "bce")


def check_loss(loss: str, losses: tuple[str, ...] = LOSSES) -> str:
    """``loss`` if it is one of ``losses`` (default :data:`LOSSES`); ``ValueError`` otherwise."""
    if loss not in losses:
        raise ValueError(f"loss must be one of {losses}, got {loss!r}")
    return loss


def check_targets(y: ArrayLike, loss: str, *, name: str = "y", soft: bool = False) -> Array:
    """``y`` as a float array if it holds targets of ``loss``; ``ValueError`` naming it
    otherwise.

    ``squared`` takes any real targets, ``bce`` labels in {0, 1} and ``hinge`` labels ±1.

    Parameters
    ----------
    y : array_like
        The targets.
    loss : {"squared", "bce", "hinge"}
    name : str, default "y"
        How the message calls ``y``.
    soft : bool, default False
        Also accept ``bce`` targets anywhere in ``[0, 1]`` (probabilities; the loss is
        defined there), not only the classes 0 and 1.

    Examples
    --------
    >>> check_targets([0.0, 1.0], "bce")
    array([0., 1.])
    >>> check_targets([0.0, 1.0], "hinge")
    Traceback (most recent call last):
    ...
    ValueError: 'y' must hold labels in {-1, +1} for the hinge loss
    """
    y = np.asarray(y, dtype=float)
    if loss == "bce":
        if soft and not np.all((y >= 0) & (y <= 1)):
            raise ValueError(f"the bce loss needs labels {name} in [0, 1] (classes {{0, 1}})")
        if not soft and not np.all(np.isin(y, (0.0, 1.0))):
            raise ValueError(f"'{name}' must hold labels in {{0, 1}} for the bce loss")
    elif loss == "hinge" and not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError(f"'{name}' must hold labels in {{-1, +1}} for the hinge loss")
    return y


def encode_labels(positive: ArrayLike, loss: str = "squared") -> Array:
    """The targets of two classes in the convention of ``loss``: ``1`` where ``positive``,
    else ``0`` for ``bce`` and ``-1`` for ``squared`` and ``hinge`` (the inverse of
    :func:`predict_labels`).

    Examples
    --------
    >>> encode_labels([True, False], "bce"), encode_labels([True, False], "hinge")
    (array([1., 0.]), array([ 1., -1.]))
    """
    return np.where(positive, 1.0, 0.0 if check_loss(loss) == "bce" else -1.0)


def convex_outputs(X: ArrayLike, D: ArrayLike, V: ArrayLike, W: ArrayLike) -> Array:
    """The convex model's predictions ``Σ_h D_h X (v_h - w_h)``, shape ``(n,)``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    >>> D = np.array([[True], [False]])
    >>> convex_outputs(X, D, [[1.0, 0.0]], [[0.0, 0.0]])
    array([1., 0.])
    """
    X, D = np.asarray(X, dtype=float), np.asarray(D)
    return np.einsum("np,np->n", D, X @ (np.asarray(V) - np.asarray(W)).T)


def relu_outputs(X: ArrayLike, U: ArrayLike, alpha: ArrayLike) -> Array:
    """The network's predictions ``Σ_j (X u_j)_+ α_j`` for hidden weights ``U`` (``(m, d)``)
    and output weights ``alpha`` (``(m,)``)."""
    X = np.asarray(X, dtype=float)
    return np.maximum(X @ np.asarray(U, dtype=float).T, 0.0) @ np.asarray(alpha, dtype=float)


def softplus(z: ArrayLike) -> Array:
    r"""``log(1 + e^z)`` elementwise, without overflow (``np.logaddexp(0, z)``).

    The bce loss of an output ``ŷ`` is ``softplus(2ŷ) - 2yŷ``, and
    :math:`\log\sigma(z) = -\mathrm{softplus}(-z)`.

    Examples
    --------
    >>> softplus([0.0, 1000.0])
    array([6.93147181e-01, 1.00000000e+03])
    """
    return np.logaddexp(0.0, z)


def loss_terms(yhat: ArrayLike, y: ArrayLike, loss: str = "squared") -> Array:
    r"""The loss of each sample, shape ``(n,)``: ``squared`` :math:`\tfrac12(\hat y_k - y_k)^2`;
    ``bce`` (labels {0, 1}) :math:`\log(1 + e^{2\hat y_k}) - 2 y_k\hat y_k`; ``hinge``
    (labels ±1) :math:`(1 - y_k\hat y_k)_+`. :func:`loss_value` is their sum (``squared``,
    ``bce``) or their mean (``hinge``).

    Examples
    --------
    >>> loss_terms([2.0, -1.0], [1.0, 1.0], "hinge")
    array([0., 2.])
    """
    yhat, y = np.asarray(yhat, dtype=float), np.asarray(y, dtype=float)
    loss = check_loss(loss)
    if loss == "squared":
        return 0.5 * (yhat - y) ** 2
    if loss == "bce":
        return softplus(2.0 * yhat) - 2.0 * y * yhat
    return np.maximum(1.0 - y * yhat, 0.0)


def loss_value(yhat: ArrayLike, y: ArrayLike, loss: str = "squared") -> float:
    r"""The training loss of predictions ``yhat`` (spec section 1.2).

    ``squared``: :math:`\tfrac12\lVert\hat y - y\rVert^2`; ``bce`` (labels in {0, 1}, a tanh
    output, ``p = σ(2ŷ)``): :math:`\sum_k -2\hat y_k y_k + \log(1 + e^{2\hat y_k})`; ``hinge``
    (labels ±1): :math:`\frac1n\sum_k (1 - y_k\hat y_k)_+`. The sum or mean of
    :func:`loss_terms`.
    """
    loss = check_loss(loss)
    if loss == "squared":  # one dot product, the hot path of the solvers
        r = np.asarray(yhat, dtype=float) - np.asarray(y, dtype=float)
        return 0.5 * float(r @ r)
    terms = loss_terms(yhat, y, loss)
    return float(np.sum(terms) if loss == "bce" else np.mean(terms))


def loss_gradient(yhat: ArrayLike, y: ArrayLike, loss: str = "squared") -> Array:
    """The gradient of :func:`loss_value` in ``yhat`` (``squared`` and ``bce``; the hinge loss
    is not differentiable)."""
    yhat, y = np.asarray(yhat, dtype=float), np.asarray(y, dtype=float)
    loss = check_loss(loss)
    if loss == "squared":
        return yhat - y
    if loss == "bce":
        return 2.0 / (1.0 + np.exp(-2.0 * yhat)) - 2.0 * y
    raise ValueError("the hinge loss has no gradient; use 'squared' or 'bce'")


def _block_products(X: ArrayLike, V: ArrayLike, W: ArrayLike) -> tuple[Array, Array, Array,
                                                                      Array]:
    """``V``, ``W`` as arrays and ``X Vᵀ``, ``X Wᵀ`` from one matrix product."""
    V, W = np.asarray(V, dtype=float), np.asarray(W, dtype=float)
    XB = np.asarray(X, dtype=float) @ np.concatenate([V, W]).T
    return V, W, XB[:, :len(V)], XB[:, len(V):]


def _objective(y: ArrayLike, D: ArrayLike, V: Array, W: Array, XV: Array, XW: Array,
               beta: float, loss: str) -> float:
    penalty = np.linalg.norm(V, axis=1).sum() + np.linalg.norm(W, axis=1).sum()
    yhat = np.einsum("np,np->n", np.asarray(D), XV - XW)
    return loss_value(yhat, y, loss) + beta * float(penalty)


def _violation(D: ArrayLike, XV: Array, XW: Array) -> float:
    D = np.asarray(D, dtype=bool)
    worst = min(np.where(D, XV, -XV).min(initial=0.0), np.where(D, XW, -XW).min(initial=0.0))
    return -float(worst)


def convex_objective(X: ArrayLike, y: ArrayLike, D: ArrayLike, V: ArrayLike, W: ArrayLike,
                     beta: float, loss: str = "squared") -> float:
    """The objective of the convex program (2.5): loss plus ``β Σ_h (‖v_h‖ + ‖w_h‖)``."""
    V, W, XV, XW = _block_products(X, V, W)
    return _objective(y, D, V, W, XV, XW, beta, loss)


def network_objective(X: ArrayLike, y: ArrayLike, U: ArrayLike, alpha: ArrayLike, beta: float,
                      loss: str = "squared") -> float:
    """The objective of the network (2.1): loss plus ``(β/2) Σ_j (‖u_j‖² + α_j²)``."""
    U, alpha = np.asarray(U, dtype=float), np.asarray(alpha, dtype=float)
    decay = 0.5 * beta * float(np.sum(U * U) + alpha @ alpha)
    return loss_value(relu_outputs(X, U, alpha), y, loss) + decay


def cone_violation(X: ArrayLike, D: ArrayLike, V: ArrayLike, W: ArrayLike) -> float:
    """The largest violation ``max(0, -min_h min((2d_h - 1) ⊙ X v_h))`` over ``V`` and ``W``:
    zero when every block satisfies its cone constraint."""
    _, _, XV, XW = _block_products(X, V, W)
    return _violation(D, XV, XW)


def convex_figures(X: ArrayLike, y: ArrayLike, D: ArrayLike, V: ArrayLike, W: ArrayLike,
                   beta: float, loss: str = "squared") -> tuple[float, float]:
    """:func:`convex_objective` and :func:`cone_violation` together, from one product with
    ``X`` (what a solver records every iteration)."""
    V, W, XV, XW = _block_products(X, V, W)
    return _objective(y, D, V, W, XV, XW, beta, loss), _violation(D, XV, XW)


def recover_weights(V: ArrayLike, W: ArrayLike, rtol: float = 1e-10) -> tuple[Array, Array]:
    r"""The ReLU network of a convex solution (spec 1.3, equation (2.4)).

    Each block ``v_h`` with ``‖v_h‖ > rtol · max_h ‖v_h‖, ‖w_h‖`` becomes a neuron
    :math:`u = v_h / \sqrt{\lVert v_h\rVert}`, :math:`\alpha = \sqrt{\lVert v_h\rVert}`, and each
    such ``w_h`` a neuron with :math:`\alpha = -\sqrt{\lVert w_h\rVert}`. Then
    ``(X u)_+ α = D_h X v_h`` exactly when ``(2D_h - I) X v_h >= 0``, and
    ``(β/2)(‖u‖² + α²) = β ‖v_h‖``.

    Parameters
    ----------
    V, W : (P, d) array_like
        The weight blocks of the convex model.
    rtol : float, default 1e-10
        Blocks smaller than this fraction of the largest are dropped (iterative solvers leave
        tiny nonzeros; the reference code drops exact zeros only).

    Returns
    -------
    U : (m, d) ndarray
        Hidden weights, ``m <= 2P``: the kept ``v`` blocks first, then the ``w`` blocks.
    alpha : (m,) ndarray
        Output weights.

    Examples
    --------
    >>> import numpy as np
    >>> U, alpha = recover_weights([[3.0, 4.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]])
    >>> U
    array([[1.34164079, 1.78885438],
           [0.        , 1.        ]])
    >>> alpha
    array([ 2.23606798, -1.        ])
    """
    V, W = np.asarray(V, dtype=float), np.asarray(W, dtype=float)
    if V.shape != W.shape or V.ndim != 2:
        raise ValueError(f"V and W must be (P, d) arrays of one shape, got {V.shape}, {W.shape}")
    norms = np.concatenate([np.linalg.norm(V, axis=1), np.linalg.norm(W, axis=1)])
    blocks = np.concatenate([V, W])
    signs = np.concatenate([np.ones(len(V)), -np.ones(len(W))])
    top = norms.max(initial=0.0)
    keep = norms > rtol * top if top > 0 else np.zeros(norms.shape, dtype=bool)
    root = np.sqrt(norms[keep])
    return blocks[keep] / root[:, None], signs[keep] * root


def predict_labels(yhat: ArrayLike, loss: str = "squared") -> Array:
    """Class labels from the network's output: ``1[ŷ >= 0]`` for ``bce`` (labels {0, 1}),
    ``sign(ŷ)`` with ties to ``+1`` for ``squared`` and ``hinge`` (labels ±1)."""
    yhat = np.asarray(yhat, dtype=float)
    if check_loss(loss) == "bce":
        return (yhat >= 0).astype(float)
    return np.where(yhat >= 0, 1.0, -1.0)
