r"""The convex programs of two-layer ReLU training in cvxpy: the reference solutions.

:func:`solve_cvxpy` builds program (2.5) of Bai, Gautam and Sojoudi for given activation
patterns, or with ``eps > 0`` its adversarially robust version (section 5: robust cone
constraints and the closed-form worst case of an ℓ∞ attack of radius ``eps``), and solves it
with an open-source conic solver (CLARABEL by default). Every other solver in optkit is checked
against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optkit.convex_relu.model import check_loss

__all__ = ["solve_cvxpy"]

Array = NDArray[np.float64]


def solve_cvxpy(
    X: ArrayLike,
    y: ArrayLike,
    D: ArrayLike,
    beta: float,
    loss: str = "squared",
    *,
    eps: float = 0.0,
    fixed_columns: Any = None,
    solver: str = "CLARABEL",
    **solver_options: Any,
) -> tuple[Array, Array, float]:
    r"""Solve the convex program of a two-layer ReLU network with cvxpy.

    With ``C = D (V - W)`` (row ``c_k = Σ_h d_hk (v_h - w_h)``, the effective weights of sample
    ``k``) and ``f_k = x_kᵀ c_k`` (the prediction), the program is

    .. math::

        \min_{V, W}\ L(f, C) + \beta \sum_h (\lVert v_h\rVert_2 + \lVert w_h\rVert_2)
        \quad\text{s.t.}\quad (2D_h - I) X v_h \ge \epsilon \lVert v_h\rVert_1,\
        (2D_h - I) X w_h \ge \epsilon \lVert w_h\rVert_1,

    where ``L`` is the worst-case loss over ``‖δ_k‖∞ <= eps``:

    - ``squared``: :math:`\tfrac12 \sum_k (|f_k - y_k| + \epsilon\lVert c_k\rVert_1)^2`;
    - ``bce`` (labels {0, 1}): :math:`\sum_k \log(1 + e^{2 g_k})`,
      :math:`g_k = \epsilon\lVert c_k\rVert_1 - (2y_k - 1) f_k`;
    - ``hinge`` (labels ±1): :math:`\frac1n \sum_k (1 - y_k f_k + \epsilon\lVert c_k\rVert_1)_+`.

    With ``eps = 0`` these are the losses of :func:`~optkit.convex_relu.loss_value` and the
    program is (2.5) itself.

    Parameters
    ----------
    X : (n, d) array_like
    y : (n,) array_like
    D : (n, P) array_like of bool
        The activation patterns (:func:`~optkit.convex_relu.sample_patterns`, or
        :func:`~optkit.convex_relu.robust_patterns` for ``eps > 0``).
    beta : float
        The weight decay (positive).
    loss : {"squared", "bce", "hinge"}
    eps : float, default 0
        Radius of the ℓ∞ attack the model is trained against.
    fixed_columns : sequence of int, optional
        Columns of ``X`` the attacker cannot change (the ones column of a bias): they are
        left out of the ℓ1 norms above.
    solver : str, default "CLARABEL"
        A cvxpy solver that handles second-order and exponential cones (CLARABEL, ECOS, SCS).
    **solver_options
        Passed to :meth:`cvxpy.Problem.solve`.

    Returns
    -------
    V, W : (P, d) ndarray
        The solution.
    value : float
        The optimal value.

    Raises
    ------
    RuntimeError
        When the solver does not report an optimal solution.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.convex_relu import convex_objective, sample_patterns
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    >>> D, _ = sample_patterns(X, 6, rng=0)
    >>> V, W, value = solve_cvxpy(X, y, D, beta=0.1)
    >>> bool(abs(convex_objective(X, y, D, V, W, 0.1) - value) < 1e-6 * value)
    True
    """
    import cvxpy as cp

    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    Dm = np.asarray(D, dtype=float)
    check_loss(loss)
    if X.ndim != 2 or y.shape != (X.shape[0],) or Dm.ndim != 2 or Dm.shape[0] != X.shape[0]:
        raise ValueError(f"X (n, d), y (n,) and D (n, P) do not fit: {X.shape}, {y.shape}, "
                         f"{Dm.shape}")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be positive, got {beta!r}")
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite non-negative number, got {eps!r}")
    n, d = X.shape
    P = Dm.shape[1]
    free = np.ones(d, dtype=bool)
    if fixed_columns is not None:
        free[np.asarray(fixed_columns, dtype=int)] = False
    sign = 2.0 * Dm - 1.0
    V, W = cp.Variable((P, d)), cp.Variable((P, d))
    f = cp.sum(cp.multiply(Dm, X @ (V - W).T), axis=1)
    constraints = []
    for B in (V, W):
        margin = cp.multiply(sign, X @ B.T)
        if eps > 0:
            margin = margin - eps * cp.reshape(cp.norm(B[:, free], 1, axis=1), (1, P),
                                               order="C")
        constraints.append(margin >= 0)
    if eps > 0:
        spread = eps * cp.norm(Dm @ (V - W)[:, free], 1, axis=1)  # ε ‖c_k‖₁
    else:
        spread = 0.0
    if loss == "squared":
        z = cp.Variable(n) if eps > 0 else None
        if z is None:
            data = 0.5 * cp.sum_squares(f - y)
        else:
            constraints += [z >= cp.abs(f - y) + spread]
            data = 0.5 * cp.sum_squares(z)
    elif loss == "bce":
        data = cp.sum(cp.logistic(2.0 * (spread - cp.multiply(2.0 * y - 1.0, f))))
    else:
        data = cp.sum(cp.pos(1.0 - cp.multiply(y, f) + spread)) / n
    penalty = cp.sum(cp.norm(V, 2, axis=1)) + cp.sum(cp.norm(W, 2, axis=1))
    problem = cp.Problem(cp.Minimize(data + beta * penalty), constraints)
    problem.solve(solver=solver, **solver_options)
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or V.value is None:
        raise RuntimeError(f"cvxpy ({solver}) did not solve the program: {problem.status}")
    return np.asarray(V.value), np.asarray(W.value), float(problem.value)
