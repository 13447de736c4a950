r"""Systems of equations solved as ``min_x f(x) = (1/p) ‖u(x)‖^p``: linear and nonlinear.

The test problems of the gradient-normalized smoothness paper (Semenov, Jaggi, Doikov, 2025):
random underdetermined linear equations, the Rosenbrock residuals and Nesterov's
Chebyshev-Rosenbrock chain, each raised to a power ``p ≥ 2``. Every builder returns an
:class:`optkit.Problem` with the exact gradient, Hessian and Hessian-vector product, and named
Hessian approximations in ``hess_approx``:

- ``"fisher-term"``: the rank-one part :math:`(p-2)\|u\|^{p-4} (J^T u)(J^T u)^T`, as an
  :class:`optkit.linalg.LowRank` of rank one;
- ``"gauss-newton"`` (nonlinear residuals only): the Hessian without the second-derivative
  term :math:`\|u\|^{p-2} \sum_i u_i \nabla^2 u_i`.

All share one implementation of the power of the norm (:class:`_PowerNorm`), fed with the
residual ``u``, its Jacobian ``J`` and the second-derivative term. They are registered in the
catalog with kind ``"equations"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from optkit.linalg import LowRank
from optkit.problem import Problem
from problems._catalog import entry
from problems._common import check_int

__all__ = ["power_linear_equations", "rosenbrock_equations", "chebyshev_chain"]

Array = NDArray[np.float64]


def _check_power(p: float) -> float:
    if isinstance(p, bool):
        raise ValueError(f"p must be a finite number >= 2, got {p!r}")
    value = float(p)
    if not (math.isfinite(value) and value >= 2.0):
        raise ValueError(f"p must be a finite number >= 2, got {p!r}")
    return value


# -- the shared machinery: f = (1/p) ‖u(x)‖^p ---------------------------------------------------


class _PowerNorm:
    r"""``f(x) = (1/p) ‖u(x)‖^p`` from the residual ``u``, its Jacobian and curvature term.

    With :math:`w = J^T u` and :math:`\nu = \|u\|`,

    .. math:: \nabla f = \nu^{p-2} w, \qquad
              \nabla^2 f = \nu^{p-2} (J^T J + S) + \alpha\, w w^T, \quad
              \alpha = (p-2) \nu^{p-4}, \quad S = \sum_i u_i \nabla^2 u_i.

    ``α = 0`` when ``p = 2``, and also where ``u = 0`` (there ``w = 0``, so the term vanishes
    for every ``p ≥ 2``).

    Parameters
    ----------
    p : float
        The power, ``p ≥ 2``.
    u : callable
        ``u(x) -> (m,)`` residual.
    jac : callable
        ``jac(x) -> (m, n)`` dense Jacobian of ``u``.
    second : callable, optional
        ``second(x, u) -> (n, n)`` dense ``S = Σ_i u_i ∇²u_i`` at ``x`` (``u = u(x)``); ``None``
        for a linear ``u`` (``S = 0``).
    """

    def __init__(self, p: float, u: Callable[[Array], Array], jac: Callable[[Array], Array],
                 second: Callable[[Array, Array], Array] | None = None):
        self.p, self.u, self.jac, self.second = p, u, jac, second

    def _parts(self, x: Array) -> tuple[Array, Array, float, Array]:
        """``(u, J, ‖u‖, Jᵀu)`` at ``x``."""
        u = self.u(x)
        J = self.jac(x)
        return u, J, float(np.linalg.norm(u)), J.T @ u

    def _alpha(self, nu: float) -> float:
        """``(p - 2) ‖u‖^{p-4}``, taken as 0 when ``p = 2`` or ``u = 0``."""
        if self.p == 2.0 or nu == 0.0:
            return 0.0
        return (self.p - 2.0) * nu ** (self.p - 4.0)

    def fun(self, x: Array) -> float:
        return float(np.linalg.norm(self.u(x))) ** self.p / self.p

    def fun_and_grad(self, x: Array) -> tuple[float, Array]:
        _, _, nu, w = self._parts(x)
        return nu**self.p / self.p, nu ** (self.p - 2.0) * w

    def grad(self, x: Array) -> Array:
        return self.fun_and_grad(x)[1]

    def gauss_newton(self, x: Array) -> Array:
        """``‖u‖^{p-2} JᵀJ + α (Jᵀu)(Jᵀu)ᵀ``: the Hessian without ``‖u‖^{p-2} S``."""
        _, J, nu, w = self._parts(x)
        return nu ** (self.p - 2.0) * (J.T @ J) + self._alpha(nu) * np.outer(w, w)

    def hess(self, x: Array) -> Array:
        u, J, nu, w = self._parts(x)
        JtJ = J.T @ J
        if self.second is not None:
            JtJ = JtJ + self.second(x, u)
        return nu ** (self.p - 2.0) * JtJ + self._alpha(nu) * np.outer(w, w)

    def hessp(self, x: Array, v: Array) -> Array:
        u, J, nu, w = self._parts(x)
        Hv = J.T @ (J @ v)
        if self.second is not None:
            Hv = Hv + self.second(x, u) @ v
        return nu ** (self.p - 2.0) * Hv + self._alpha(nu) * float(w @ v) * w

    def fisher_term(self, x: Array) -> LowRank:
        """``α (Jᵀu)(Jᵀu)ᵀ = (p-2)/‖u‖^p ∇f ∇fᵀ`` as a rank-one :class:`LowRank`."""
        _, _, nu, w = self._parts(x)
        return LowRank(w[:, None], np.array([self._alpha(nu)]))

    def problem(self, x0: Array, name: str, f_opt: float, info: dict) -> Problem:
        approx: dict[str, Callable[[Array], object]] = {"fisher-term": self.fisher_term}
        if self.second is not None:
            approx = {"gauss-newton": self.gauss_newton, **approx}
        return Problem(
            fun=self.fun,
            fun_and_grad=self.fun_and_grad,
            grad=self.grad,
            hess=self.hess,
            hessp=self.hessp,
            hess_approx=approx,
            x0=x0,
            f_opt=f_opt,
            name=name,
            info=info,
        )


def _name(base: str, p: float, default: float) -> str:
    return base if p == default else f"{base}-p{p:g}"


# -- linear equations --------------------------------------------------------------------------


@entry("power-equations", "equations")
def power_linear_equations(p: float = 4, m: int = 100, n: int = 200, seed: int = 3124) -> Problem:
    r"""Random linear equations ``Ax = b`` as ``f(x) = (1/p) ‖Ax - b‖^p`` (convex).

    Parameters
    ----------
    p : float, default 4
        The power, at least 2 (``p = 2`` is least squares).
    m : int, default 100
        Number of equations (rows of ``A``).
    n : int, default 200
        Number of unknowns.
    seed : int, default 3124
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    Problem
        ``fun``, ``grad``, ``fun_and_grad``, ``hess`` (dense ``n x n``), ``hessp`` analytic;
        ``hess_approx = {"fisher-term": ...}`` (a rank-one :class:`~optkit.linalg.LowRank`);
        ``x0 = (1, ..., 1)``; ``f_opt`` (0 when ``m ≤ n``); ``info["metric"] = AᵀA + 1e-8 I``,
        ``info["x_opt"]`` the minimum-norm minimizer ``A⁺b`` and ``info["A"]``, ``info["b"]``.

    Notes
    -----
    ``A`` (``m x n``) then ``b`` (``m``) are drawn uniformly from ``[-1, 1]`` by
    ``numpy.random.default_rng(seed)`` — the reference code (epfml/grad-norm-smooth) uses
    ``np.random.seed(3124)`` with the same distributions, so the numbers differ from it. With
    :math:`u = Ax - b` and :math:`w = A^T u`,

    .. math:: \nabla f = \|u\|^{p-2} w, \qquad
              \nabla^2 f = \|u\|^{p-2} A^T A + (p-2) \|u\|^{p-4} w w^T.

    The second term is the "Fisher term" of the paper, of rank one and equal to
    :math:`(p-2) \|u\|^{-p} \nabla f \nabla f^T`; its weight is 0 when ``p = 2``.

    For ``m ≤ n`` the random ``A`` has full row rank (almost surely), the system is solvable
    and ``f_opt = 0``; for ``m > n``, ``f_opt = (1/p) ‖A x_{ls} - b‖^p`` at the least-squares
    solution. The metric ``AᵀA + 1e-8 I`` (the data Gram matrix, regularized since ``AᵀA``
    is singular for ``m < n``) is the paper's choice of ``B``.

    Examples
    --------
    >>> from problems.equations import power_linear_equations
    >>> p = power_linear_equations(m=10, n=20)
    >>> p.f_opt, p.x0.shape
    (0.0, (20,))
    >>> p.hess_approx["fisher-term"](p.x0).rank
    1
    """
    pw = _check_power(p)
    m = check_int("m", m, 1)
    n = check_int("n", n, 1)
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1.0, 1.0, size=(m, n))
    b = rng.uniform(-1.0, 1.0, size=m)
    x_opt = np.linalg.lstsq(A, b, rcond=None)[0]
    f_opt = 0.0 if m <= n else float(np.linalg.norm(A @ x_opt - b)) ** pw / pw
    metric = A.T @ A + 1e-8 * np.eye(n)
    for arr in (A, b, x_opt, metric):
        arr.flags.writeable = False
    obj = _PowerNorm(pw, lambda x: A @ x - b, lambda x: A)
    info = {"metric": metric, "x_opt": x_opt, "A": A, "b": b}
    return obj.problem(np.ones(n), _name("power-equations", pw, 4.0), f_opt, info)


# -- Rosenbrock residuals ----------------------------------------------------------------------


def _rosen_u(x: Array) -> Array:
    return np.array([1.0 - x[0], 10.0 * (x[1] - x[0] ** 2)])


def _rosen_jac(x: Array) -> Array:
    return np.array([[-1.0, 0.0], [-20.0 * x[0], 10.0]])


def _rosen_second(x: Array, u: Array) -> Array:
    # ∇²u_1 = 0, ∇²u_2 = [[-20, 0], [0, 0]]
    return np.array([[-20.0 * u[1], 0.0], [0.0, 0.0]])


def _as_2(x: Array) -> Array:
    x = np.asarray(x, dtype=float)
    if x.shape != (2,):
        raise ValueError(f"this function takes 2 variables, got x of shape {x.shape}")
    return x


@entry("rosenbrock-equations", "equations")
def rosenbrock_equations(p: float = 5) -> Problem:
    r"""The Rosenbrock residuals ``u = (1 - x₁, 10 (x₂ - x₁²))`` as ``f = (1/p) ‖u‖^p``.

    Parameters
    ----------
    p : float, default 5
        The power, at least 2 (``p = 2`` gives half the classic Rosenbrock function).

    Returns
    -------
    Problem
        ``fun``, ``grad``, ``fun_and_grad``, ``hess``, ``hessp`` analytic;
        ``hess_approx = {"gauss-newton": ..., "fisher-term": ...}``; ``x0 = (-2, 2)``;
        ``f_opt = 0``; ``info["x_opt"] = (1, 1)``.

    Notes
    -----
    With :math:`J` the Jacobian of ``u`` and :math:`w = J^T u`,

    .. math:: \nabla^2 f = \|u\|^{p-2} J^T J + (p-2) \|u\|^{p-4} w w^T
              + \|u\|^{p-2} \sum_i u_i \nabla^2 u_i,

    where only :math:`\nabla^2 u_2 = \begin{pmatrix} -20 & 0 \\ 0 & 0 \end{pmatrix}` is
    nonzero. ``"gauss-newton"`` is the Hessian without the last term (the paper's "inexact
    Hessian"; positive semidefinite); ``"fisher-term"`` is the rank-one middle term alone (an
    optkit extension here: the paper uses it for linear ``u``). The unique minimizer is
    ``(1, 1)``, where ``u = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.equations import rosenbrock_equations
    >>> p = rosenbrock_equations()
    >>> float(p.value(np.ones(2)))
    0.0
    """
    pw = _check_power(p)
    obj = _PowerNorm(pw, lambda x: _rosen_u(_as_2(x)), _rosen_jac, _rosen_second)
    info = {"x_opt": np.ones(2)}
    return obj.problem(np.array([-2.0, 2.0]), _name("rosenbrock-equations", pw, 5.0), 0.0, info)


# -- Chebyshev-Rosenbrock chain ----------------------------------------------------------------


@entry("chebyshev-chain", "equations")
def chebyshev_chain(n: int = 100, p: float = 4, seed: int = 3124) -> Problem:
    r"""Nesterov's Chebyshev-Rosenbrock chain of residuals as ``f = (1/p) ‖u‖^p`` (non-convex).

    Parameters
    ----------
    n : int, default 100
        Number of variables (at least 2); the paper's reference notebook uses 1000.
    p : float, default 4
        The power, at least 2.
    seed : int, default 3124
        Seed of ``numpy.random.default_rng`` for the start ``x0``.

    Returns
    -------
    Problem
        ``fun``, ``grad``, ``fun_and_grad``, ``hess`` (dense ``n x n``: tridiagonal plus
        rank one), ``hessp`` analytic; ``hess_approx = {"gauss-newton": ..., "fisher-term": ...}``;
        ``x0`` uniform on ``[0, 1]^n``; ``f_opt = 0``; ``info["x_opt"] = (1, ..., 1)``.

    Notes
    -----
    .. math:: u_1 = \tfrac12 (1 - x_1), \qquad u_i = x_i - (2 x_{i-1}^2 - 1), \quad
              i = 2, \dots, n,

    so :math:`u = 0` only at :math:`x^\star = (1, \dots, 1)` (each ``x_i`` is the Chebyshev
    polynomial :math:`T_{2^{i-1}}(x_1)` on the zero set of ``u_2, ..., u_n``, a very curved
    path). With ``p = 2`` this is half of Nesterov's smooth Chebyshev-Rosenbrock function.
    The Jacobian is lower bidiagonal (``∂u_i/∂x_{i-1} = -4 x_{i-1}``), and
    :math:`\nabla^2 u_i = -4 e_{i-1} e_{i-1}^T`, so the second-derivative term of

    .. math:: \nabla^2 f = \|u\|^{p-2} J^T J + (p-2) \|u\|^{p-4} w w^T
              + \|u\|^{p-2} \sum_i u_i \nabla^2 u_i, \qquad w = J^T u,

    is diagonal: :math:`\sum_i u_i \nabla^2 u_i = \operatorname{diag}(-4 u_2, \dots, -4 u_n,
    0)`. So the Hessian is tridiagonal plus the rank-one middle term (tridiagonal for
    ``p = 2``); it is returned as a dense matrix. The second-derivative term is scaled by
    :math:`\|u\|^{p-2}` (the reference code's generic ``NonlinearEquationsOracle`` scales
    it by :math:`p / \|u\|^2` instead, which is not the Hessian). ``"gauss-newton"`` drops
    that term; ``"fisher-term"`` is the rank-one middle term alone (an optkit extension for
    nonlinear ``u``).

    ``x0`` is ``numpy.random.default_rng(seed).uniform(0, 1, n)``; the reference notebook
    draws it with ``np.random.seed(3124)``, so the numbers differ from it.

    References
    ----------
    .. [1] F. Jarre, "On Nesterov's smooth Chebyshev-Rosenbrock function", Optimization
       Methods and Software 28(3), 478-500, 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.equations import chebyshev_chain
    >>> p = chebyshev_chain(n=10)
    >>> float(p.value(np.ones(10)))
    0.0
    """
    n = check_int("n", n, 2)
    pw = _check_power(p)
    x0 = np.random.default_rng(seed).uniform(0.0, 1.0, n)
    rows = np.arange(1, n)

    def u(x: Array) -> Array:
        x = np.asarray(x, dtype=float)
        if x.shape != (n,):
            raise ValueError(f"x must have shape ({n},), got {x.shape}")
        return np.concatenate([[0.5 * (1.0 - x[0])], x[1:] - (2.0 * x[:-1] ** 2 - 1.0)])

    def jac(x: Array) -> Array:
        J = np.eye(n)
        J[0, 0] = -0.5
        J[rows, rows - 1] = -4.0 * x[:-1]
        return J

    def second(x: Array, u: Array) -> Array:
        return np.diag(np.append(-4.0 * u[1:], 0.0))

    obj = _PowerNorm(pw, u, jac, second)
    info = {"x_opt": np.ones(n)}
    name = "chebyshev-chain" if (n, pw) == (100, 4.0) else f"chebyshev-chain-n{n}-p{pw:g}"
    return obj.problem(x0, name, 0.0, info)
