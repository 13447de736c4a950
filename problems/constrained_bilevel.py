r"""Bilevel problems whose lower level has constraints coupling ``x`` and ``y`` (LV-HBA's toys,
spec ``papers/lv-hba.md`` sections 4.1 and 4.2): affine constraints given as matrices, their
projections from :func:`optkit.bilevel.affine_constraints`.

- :func:`coupled_equality_toy` (toy A): a merely convex lower level whose solution set is not
  a singleton, one coupled equality, and a known bilevel solution.
- :func:`coupled_affine_toy` (toy B): a nonconvex upper level, a strongly convex lower level
  under coupled affine equalities, and an upper-level equality on ``x``.

Notation: ``x`` is the upper variable, ``y`` the lower one, ``F`` the upper objective and
``f`` the lower one; the constraints are ``g(x, y) <= 0``.

References
----------
.. [1] W. Yao, C. Yu, S. Zeng and J. Zhang, "Constrained bi-level optimization: proximal
   Lagrangian value function approach and Hessian-free algorithm", ICLR 2024.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from optkit.bilevel import affine_constraints, affine_projection
from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only

__all__ = ["coupled_equality_toy", "coupled_affine_toy"]

Array = NDArray[np.float64]


@entry("coupled-equality-toy", "bilevel")
def coupled_equality_toy(n: int = 100) -> BilevelProblem:
    r"""LV-HBA's toy A: a convex lower level with many solutions under one coupled equality.

    Parameters
    ----------
    n : int, default 100
        Dimension of ``x`` (``y`` has ``2n`` entries); the problem is symmetric under
        permuting coordinates, so every ``n`` behaves alike.

    Returns
    -------
    BilevelProblem
        ``x ∈ R^n``, ``y = (y1, y2) ∈ R^{2n}``, with

        .. math::

            F(x, y) = \tfrac12 \|x - y_2\|^2 + \tfrac12 \|y_1 - \mathbf 1\|^2, \qquad
            f(x, y) = \tfrac12 \|y_1\|^2 - x^\top y_1 + \mathbf 1^\top y_2,

        subject to ``1ᵀx + 1ᵀy1 + 1ᵀy2 = 0``, written as the two inequalities ``s <= 0`` and
        ``-s <= 0`` (``constraints`` returns both; ``proj_xy`` subtracts the mean of
        ``(x, y)`` from every coordinate). Start ``x0 = y0 = 10·1``; ``f_opt = 0.05 n``.
        ``info``: ``"x_star"`` (``-0.3·1``), ``"y_star"`` (``(0.7·1, -0.4·1)``, read-only)
        and ``"lower_value"`` (``x -> φ(x)``, the lower level's optimal value).

    Raises
    ------
    ValueError
        For ``n`` not a positive integer.

    Notes
    -----
    ``f(x, ·)`` is convex but not strongly convex (linear in ``y2``), so
    ``S(x) = {(x + 1, y2) : 1ᵀy2 = -2·1ᵀx - n}``, with value
    ``φ(x) = -½‖x‖² - 2·1ᵀx - n/2``. On ``S(x)`` the upper level is smallest when
    ``y2 = x + t·1`` for the ``t`` that meets the constraint, which gives
    ``x* = -0.3·1``, ``y1* = 0.7·1``, ``y2* = -0.4·1`` and ``F* = 0.05 n``. The lower level's
    Hessian in ``y`` is singular, so hypergradient methods that invert it do not apply;
    ``lower_hvp_yy`` and ``lower_hvp_xy`` are given all the same (for checks).

    Examples
    --------
    >>> import numpy as np
    >>> from problems.constrained_bilevel import coupled_equality_toy
    >>> p = coupled_equality_toy(n=4)
    >>> x, y = p.info["x_star"], p.info["y_star"]
    >>> round(float(p.upper_fun(x, y)), 12), p.f_opt
    (0.2, 0.2)
    >>> bool(np.abs(p.constraints(x, y)).max() < 1e-12)
    True
    """
    n = check_int("n", n, 1)
    ones_n = np.ones(n)

    def upper_fun(x: Array, y: Array) -> float:
        y1, y2 = y[:n], y[n:]
        return 0.5 * float((x - y2) @ (x - y2)) + 0.5 * float((y1 - 1.0) @ (y1 - 1.0))

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        y1, y2 = y[:n], y[n:]
        return x - y2, np.concatenate([y1 - 1.0, y2 - x])

    def lower_fun(x: Array, y: Array) -> float:
        y1, y2 = y[:n], y[n:]
        return 0.5 * float(y1 @ y1) - float(x @ y1) + float(y2.sum())

    def lower_grad_y(x: Array, y: Array) -> Array:
        return np.concatenate([y[:n] - x, ones_n])

    def lower_grad_x(x: Array, y: Array) -> Array:
        return -y[:n]

    def lower_hvp_yy(x: Array, y: Array, v: Array) -> Array:
        return np.concatenate([v[:n], np.zeros(n)])

    def lower_hvp_xy(x: Array, y: Array, v: Array) -> Array:
        return -v[:n]

    def lower_value(x: Array) -> float:
        x = np.asarray(x, dtype=np.float64)
        return -0.5 * float(x @ x) - 2.0 * float(x.sum()) - 0.5 * n

    x_star = np.full(n, -0.3)
    y_star = np.concatenate([np.full(n, 0.7), np.full(n, -0.4)])
    read_only(x_star, y_star)
    coupled = affine_constraints(np.ones((1, n)), np.ones((1, 2 * n)), [0.0], equality=True)
    return BilevelProblem(
        upper_fun=upper_fun, upper_grad=upper_grad, lower_fun=lower_fun,
        lower_grad_y=lower_grad_y, lower_grad_x=lower_grad_x, lower_hvp_yy=lower_hvp_yy,
        lower_hvp_xy=lower_hvp_xy, **coupled, x0=np.full(n, 10.0), y0=np.full(2 * n, 10.0),
        f_opt=0.05 * n, name="coupled-equality-toy" if n == 100 else f"coupled-equality-toy-n{n}",
        info={"x_star": x_star, "y_star": y_star, "lower_value": lower_value})


@entry("coupled-affine-toy", "bilevel")
def coupled_affine_toy(n: int = 20, n_lower: int = 18, n_upper: int = 9,
                       seed: int = 0) -> BilevelProblem:
    r"""LV-HBA's toy B: a nonconvex upper level over a strongly convex lower level with coupled
    affine equalities.

    Parameters
    ----------
    n : int, default 20
        Dimension of ``x`` and of ``y`` (the paper: 100).
    n_lower : int, default 18
        Rows of the lower-level equalities ``A y + H x = 0`` (the paper: 90), at most ``n``.
    n_upper : int, default 9
        Nonzero rows of the upper-level equalities ``B x = 0`` (the paper: 45 of 90 rows,
        the rest zero), less than ``n``.
    seed : int, default 0
        Seeds the data: ``A``, ``H``, ``B``, ``c``, ``d`` uniform in ``[0, 1)``.

    Returns
    -------
    BilevelProblem
        ``x, y ∈ R^n`` with

        .. math::

            F(x, y) = \sin(c^\top x + d^\top y) + \ln(\|x + y\|^2 + 1), \qquad
            f(x, y) = \tfrac12 \|x - y\|^2,

        subject to ``A y + H x = 0`` (``constraints``, as ``2 n_lower`` inequalities), and
        ``B x = 0`` on the upper level: ``proj_xy`` projects onto
        ``{(x, y) : H x + A y = 0, B x = 0}`` (a pseudo-inverse computed once). Start
        ``x0 = y0 = 0`` (feasible); ``lower_strong_convexity = lower_smoothness = 1``.
        ``info``: ``"y_star"`` (``x -> y*(x) = x - A⁺(A + H) x``, the lower solution), and
        ``"A"``, ``"H"``, ``"B"``, ``"c"``, ``"d"`` (read-only).

    Raises
    ------
    ValueError
        For sizes that are not positive integers, ``n_lower > n`` or ``n_upper >= n``, or a
        negative ``seed``.

    Notes
    -----
    The lower level is the projection of ``x`` onto the affine set ``{y : A y = -H x}``
    (``A`` has full row rank with probability one), so ``y*(x) = x - A⁺(A x + H x)``. The
    upper level is nonconvex, and no closed-form solution is known: the figures of merit
    are ``F`` and ``‖y - y*(x)‖``.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.constrained_bilevel import coupled_affine_toy
    >>> p = coupled_affine_toy(n=6, n_lower=4, n_upper=2)
    >>> x = np.arange(6.0)
    >>> xp, yp = p.proj_xy(x, x)
    >>> bool(np.abs(p.constraints(xp, yp)).max() < 1e-10)
    True
    >>> bool(np.abs(p.constraints(xp, p.info["y_star"](xp))).max() < 1e-10)
    True
    """
    n = check_int("n", n, 1)
    n_lower = check_int("n_lower", n_lower, 1, n)
    n_upper = check_int("n_upper", n_upper, 1, n - 1)
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    A, H = rng.random((n_lower, n)), rng.random((n_lower, n))
    B = np.vstack([rng.random((n_upper, n)), np.zeros((n_upper, n))])
    c, d = rng.random(n), rng.random(n)
    read_only(A, H, B, c, d)
    A_pinv = np.linalg.pinv(A)
    lower_map = np.eye(n) - A_pinv @ (A + H)  # y*(x) = lower_map @ x

    def upper_fun(x: Array, y: Array) -> float:
        s = x + y
        return float(np.sin(c @ x + d @ y) + np.log(s @ s + 1.0))

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        s = x + y
        common = (2.0 / (s @ s + 1.0)) * s
        cos = np.cos(c @ x + d @ y)
        return cos * c + common, cos * d + common

    def lower_fun(x: Array, y: Array) -> float:
        return 0.5 * float((x - y) @ (x - y))

    coupled = affine_constraints(H, A, np.zeros(n_lower), equality=True)
    joint = affine_projection(np.block([[H, A], [B, np.zeros_like(B)]]),
                              np.zeros(n_lower + 2 * n_upper), equality=True)

    def proj_xy(x: Array, y: Array) -> tuple[Array, Array]:
        w = joint(np.concatenate([x, y]))
        return w[:n], w[n:]

    return BilevelProblem(
        upper_fun=upper_fun, upper_grad=upper_grad, lower_fun=lower_fun,
        lower_grad_y=lambda x, y: y - x, lower_grad_x=lambda x, y: x - y,
        lower_hvp_yy=lambda x, y, v: v.copy(), lower_hvp_xy=lambda x, y, v: -v,
        constraints=coupled["constraints"], constraints_jvp_x=coupled["constraints_jvp_x"],
        constraints_jvp_y=coupled["constraints_jvp_y"], proj_xy=proj_xy,
        x0=np.zeros(n), y0=np.zeros(n), lower_strong_convexity=1.0, lower_smoothness=1.0,
        name="coupled-affine-toy" if (n, n_lower, n_upper, seed) == (20, 18, 9, 0)
        else f"coupled-affine-toy-n{n}-{n_lower}-{n_upper}-seed{seed}",
        info={"y_star": lambda x: lower_map @ np.asarray(x, dtype=np.float64),
              "A": A, "H": H, "B": B, "c": c, "d": d})
