"""The problem type of two-layer ReLU training: :class:`ReLUTrainingProblem`.

It lives next to its maths (:mod:`optkit.convex_relu.model`: the losses, their label checks
and the network's objective); ``import optkit`` gives it as :class:`optkit.ReLUTrainingProblem`
and the ``convex-relu-*`` methods of :func:`optkit.minimize` accept it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from optkit.convex_relu.model import check_loss, check_targets, network_objective
from optkit.problem import _as_matrix, _set, as_vector

__all__ = ["ReLUTrainingProblem"]

Array = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ReLUTrainingProblem:
    """Training a two-layer ReLU network ``ŷ(X) = Σ_j (X u_j)_+ α_j`` with weight decay ``β``.

    Parameters
    ----------
    X : (n, d) array_like
        Training inputs (append a ones column for a bias).
    y : (n,) array_like
        Targets: ``±1`` or real values (``"squared"``), ``{0, 1}`` (``"bce"``), ``±1``
        (``"hinge"``).
    loss : {"squared", "bce", "hinge"}
    beta : float
        Weight-decay strength (positive).
    X_test, y_test : array_like, optional
        Held-out data for test-accuracy histories.
    name : str
    """

    X: ArrayLike
    y: ArrayLike
    loss: str = "squared"
    beta: float = 1e-3
    X_test: ArrayLike | None = None
    y_test: ArrayLike | None = None
    name: str = "relu-training"

    def __post_init__(self) -> None:
        X, y = self._check_data("X", "y", self.X, self.y)
        check_loss(self.loss)
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta must be positive and finite, got {self.beta!r}")
        check_targets(y, self.loss)
        _set(self, "X", X)
        _set(self, "y", y)
        if (self.X_test is None) != (self.y_test is None):
            raise ValueError("give both X_test and y_test, or neither")
        if self.X_test is not None:
            X_test, y_test = self._check_data("X_test", "y_test", self.X_test, self.y_test)
            if X_test.shape[1] != X.shape[1]:
                raise ValueError(
                    f"'X_test' has {X_test.shape[1]} features but X has {X.shape[1]}"
                )
            _set(self, "X_test", X_test)
            _set(self, "y_test", y_test)

    @staticmethod
    def _check_data(xname: str, yname: str, X: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
        X = _as_matrix(xname, X)
        if sp.issparse(X):
            X = X.toarray()
        y = as_vector(yname, y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"'{yname}' has length {y.shape[0]} but {xname} has {X.shape[0]} rows")
        return X, y

    @property
    def n(self) -> int:
        """Number of training samples."""
        return self.X.shape[0]

    @property
    def d(self) -> int:
        """Number of features."""
        return self.X.shape[1]

    @property
    def x0(self) -> Array:
        """The empty network (no neuron), whose objective is the loss of predicting 0."""
        return np.zeros(0)

    def pack(self, U: ArrayLike, alpha: ArrayLike) -> Array:
        """A network ``ŷ = Σ_j (X u_j)_+ α_j`` as one vector: the rows ``[u_j, α_j]`` of a
        ``(m, d + 1)`` array, flattened (the ``x`` of the ``convex-relu-*`` methods)."""
        U = np.asarray(U, dtype=float).reshape(-1, self.d)
        alpha = np.asarray(alpha, dtype=float).reshape(-1)
        if alpha.shape[0] != U.shape[0]:
            raise ValueError(f"U has {U.shape[0]} neurons but alpha has {alpha.shape[0]}")
        return np.column_stack([U, alpha]).reshape(-1)

    def unpack(self, x: ArrayLike) -> tuple[Array, Array]:
        """The hidden weights ``U`` (``(m, d)``) and output weights ``alpha`` (``(m,)``) of a
        packed network (:meth:`pack`)."""
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.size % (self.d + 1):
            raise ValueError(f"a packed network has a multiple of d + 1 = {self.d + 1} "
                             f"entries, got {x.size}")
        rows = x.reshape(-1, self.d + 1)
        return rows[:, :-1], rows[:, -1]

    def objective(self, x: ArrayLike) -> float:
        """The network's training objective (2.1), ``ℓ(ŷ(X), y) + (β/2) Σ_j (‖u_j‖² + α_j²)``,
        for a packed network ``x``."""
        U, alpha = self.unpack(x)
        return network_objective(self.X, self.y, U, alpha, self.beta, self.loss)
