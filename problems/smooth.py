"""Smooth unconstrained test problems: Rosenbrock, random quadratics, classic 2-D functions and a
log-sum-exp ("soft maximum") of random affine functions.

Every builder returns an :class:`optkit.Problem` (or :class:`optkit.problem.QuadraticProblem`)
with an analytic gradient and Hessian, a default start ``x0`` and the known optimal value
``f_opt``. They are registered in the catalog with kind ``"smooth"``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import rosen as _rosen
from scipy.optimize import rosen_der, rosen_hess, rosen_hess_prod
from scipy.special import logsumexp, softmax

from optkit.problem import Problem, QuadraticProblem
from problems._catalog import entry
from problems._common import check_int

__all__ = ["rosen", "quadratic", "himmelblau", "matyas", "beale", "zakharov", "log_sum_exp"]

Array = NDArray[np.float64]


# -- Rosenbrock --------------------------------------------------------------------------------


@entry("rosen", "smooth")
def rosen(n: int = 2) -> Problem:
    r"""The Rosenbrock function in ``n`` dimensions (SciPy's ``rosen``), from the classic start.

    Parameters
    ----------
    n : int, default 2
        Number of variables (at least 2).

    Returns
    -------
    Problem
        ``fun``, ``grad``, ``hess`` and ``hessp`` are :func:`scipy.optimize.rosen`,
        ``rosen_der``, ``rosen_hess`` and ``rosen_hess_prod``; ``x0`` is ``-1.2`` at the even
        indices ``0, 2, ...`` and ``1.0`` at the odd ones; ``f_opt = 0``.

    Notes
    -----
    .. math:: f(x) = \sum_{i=1}^{n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,

    minimized at ``x = (1, ..., 1)``.

    References
    ----------
    .. [1] H. H. Rosenbrock, "An automatic method for finding the greatest or least value of a
       function", The Computer Journal 3(3), 175-184, 1960.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.smooth import rosen
    >>> p = rosen(4)
    >>> p.x0
    array([-1.2,  1. , -1.2,  1. ])
    >>> float(p.value(np.ones(4)))
    0.0
    """
    n = check_int("n", n, 2)
    x0 = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)
    return Problem(
        fun=_rosen,
        grad=rosen_der,
        hess=rosen_hess,
        hessp=rosen_hess_prod,
        x0=x0,
        f_opt=0.0,
        name="rosen" if n == 2 else f"rosen-{n}",
    )


# -- random quadratics -------------------------------------------------------------------------


def _random_orthogonal(n: int, rng: np.random.Generator) -> Array:
    """A Haar-distributed orthogonal matrix: QR of a Gaussian matrix with the signs fixed."""
    U, R = np.linalg.qr(rng.standard_normal((n, n)))
    return U * np.where(np.diag(R) < 0, -1.0, 1.0)


@entry("quadratic-ill", "smooth", n=100, cond=1e6)
@entry("quadratic", "smooth", n=100, cond=1e3)
def quadratic(
    n: int = 100, cond: float = 1e3, seed: int = 0, diagonal: bool = False
) -> QuadraticProblem:
    r"""A strongly convex quadratic ``½ xᵀQx + cᵀx`` whose ``Q`` has condition number ``cond``.

    Parameters
    ----------
    n : int, default 100
        Number of variables (at least 2).
    cond : float, default 1e3
        Condition number of ``Q`` (at least 1): its eigenvalues are log-spaced from 1 to
        ``cond``, both ends included.
    seed : int, default 0
        Seed of the random ``c`` and of the random eigenvectors.
    diagonal : bool, default False
        If ``False``, ``Q = U diag(λ) Uᵀ`` is dense with a random orthogonal ``U`` (building it
        costs ``O(n³)`` time and ``O(n²)`` memory). If ``True``, ``Q = diag(λ)`` is a sparse
        diagonal matrix (``O(n)`` time and memory; ``n = 10**6`` builds in a fraction of a
        second).

    Returns
    -------
    QuadraticProblem
        With ``x0 = 0`` and the exact ``f_opt``.

    Notes
    -----
    ``c`` is drawn first from ``numpy.random.default_rng(seed)`` (standard normal), then, when
    ``diagonal=False``, ``U`` is the Q factor of an ``n x n`` standard normal matrix with the
    signs of its columns fixed so that ``R`` has a positive diagonal (a Haar-distributed
    orthogonal matrix). So the same ``seed`` gives the same ``c`` and the same eigenvalues for
    both forms. The optimal value is computed in closed form from the eigendecomposition,

    .. math:: f^\star = -\tfrac12 c^T Q^{-1} c = -\tfrac12 \sum_i (U^T c)_i^2 / \lambda_i,

    with ``U = I`` in the diagonal case.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.smooth import quadratic
    >>> p = quadratic(n=50, cond=1e4)
    >>> round(float(np.linalg.cond(p.Q)))
    10000
    """
    n = check_int("n", n, 2)
    cond = float(cond)
    if not (math.isfinite(cond) and cond >= 1.0):
        raise ValueError(f"cond must be finite and >= 1, got {cond!r}")
    rng = np.random.default_rng(seed)
    lam = np.geomspace(1.0, cond, n)
    c = rng.standard_normal(n)
    if diagonal:
        Q = sp.diags(lam, format="csr")
        c_eig = c
    else:
        U = _random_orthogonal(n, rng)
        Q = (U * lam) @ U.T
        Q = 0.5 * (Q + Q.T)  # exactly symmetric
        c_eig = U.T @ c
    f_opt = -0.5 * float(np.sum(c_eig**2 / lam))
    name = f"quadratic-n{n}-cond{cond:g}" + ("-diag" if diagonal else "")
    return QuadraticProblem(Q, c, x0=np.zeros(n), f_opt=f_opt, name=name)


# -- classic 2-D functions ---------------------------------------------------------------------


def _as_2d(x: Array) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    if x.shape != (2,):
        raise ValueError(f"this function takes 2 variables, got x of shape {x.shape}")
    return float(x[0]), float(x[1])


def _himmelblau_fun(x: Array) -> float:
    a, b = _as_2d(x)
    return (a * a + b - 11.0) ** 2 + (a + b * b - 7.0) ** 2


def _himmelblau_grad(x: Array) -> Array:
    a, b = _as_2d(x)
    u, v = a * a + b - 11.0, a + b * b - 7.0
    return np.array([4.0 * a * u + 2.0 * v, 2.0 * u + 4.0 * b * v])


def _himmelblau_hess(x: Array) -> Array:
    a, b = _as_2d(x)
    u, v = a * a + b - 11.0, a + b * b - 7.0
    off = 4.0 * (a + b)
    return np.array([[4.0 * u + 8.0 * a * a + 2.0, off], [off, 4.0 * v + 8.0 * b * b + 2.0]])


@entry("himmelblau", "smooth")
def himmelblau() -> Problem:
    r"""The Himmelblau function, with four global minima of value 0.

    Returns
    -------
    Problem
        ``fun``, ``grad``, ``hess`` analytic; ``x0 = (0, 0)``; ``f_opt = 0``.

    Notes
    -----
    .. math:: f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2.

    The minima are ``(3, 2)``, ``(-2.805118, 3.131312)``, ``(-3.779310, -3.283186)`` and
    ``(3.584428, -1.848126)`` (to six decimals); it also has a local maximum and four saddles.

    References
    ----------
    .. [1] D. M. Himmelblau, "Applied Nonlinear Programming", McGraw-Hill, 1972.
    """
    return Problem(
        fun=_himmelblau_fun,
        grad=_himmelblau_grad,
        hess=_himmelblau_hess,
        x0=np.zeros(2),
        f_opt=0.0,
        name="himmelblau",
    )


@entry("matyas", "smooth")
def matyas() -> QuadraticProblem:
    r"""The Matyas function, a convex quadratic with condition number 25 and minimum 0 at 0.

    Returns
    -------
    QuadraticProblem
        ``f(x) = ½ xᵀQx`` with ``Q = [[0.52, -0.48], [-0.48, 0.52]]``; ``x0 = (1, -0.5)``;
        ``f_opt = 0``.

    Notes
    -----
    .. math:: f(x, y) = 0.26 (x^2 + y^2) - 0.48 x y.

    ``Q`` has eigenvalues 0.04 (along ``(1, 1)``) and 1 (along ``(1, -1)``); the start has a
    component along both.
    """
    Q = np.array([[0.52, -0.48], [-0.48, 0.52]])
    return QuadraticProblem(Q, np.zeros(2), x0=np.array([1.0, -0.5]), f_opt=0.0, name="matyas")


_BEALE_Y = (1.5, 2.25, 2.625)


def _beale_parts(x: Array) -> tuple[Array, Array, float, float]:
    """Residuals ``r_k = y_k - a + a b^k`` (k = 1, 2, 3) and their Jacobian, at ``x = (a, b)``."""
    a, b = _as_2d(x)
    r = np.array([y - a + a * b**k for k, y in enumerate(_BEALE_Y, start=1)])
    J = np.array([[b**k - 1.0, k * a * b ** (k - 1)] for k in (1, 2, 3)])
    return r, J, a, b


def _beale_fun(x: Array) -> float:
    r = _beale_parts(x)[0]
    return float(r @ r)


def _beale_grad(x: Array) -> Array:
    r, J, _, _ = _beale_parts(x)
    return 2.0 * J.T @ r


def _beale_hess(x: Array) -> Array:
    r, J, a, b = _beale_parts(x)
    H = 2.0 * J.T @ J
    for k in (1, 2, 3):
        # second derivatives of r_k = y_k - a + a b^k
        rab = k * b ** (k - 1)
        rbb = k * (k - 1) * a * b ** (k - 2) if k >= 2 else 0.0
        H += 2.0 * r[k - 1] * np.array([[0.0, rab], [rab, rbb]])
    return H


@entry("beale", "smooth")
def beale() -> Problem:
    r"""The Beale function, with a narrow curved valley and the minimum 0 at ``(3, 0.5)``.

    Returns
    -------
    Problem
        ``fun``, ``grad``, ``hess`` analytic; ``x0 = (1, 1)``; ``f_opt = 0``.

    Notes
    -----
    .. math:: f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2.

    References
    ----------
    .. [1] E. M. L. Beale, "On an iterative method for finding a local minimum of a function of
       more than one variable", Technical Report 25, Statistical Techniques Research Group,
       Princeton University, 1958.
    """
    return Problem(
        fun=_beale_fun,
        grad=_beale_grad,
        hess=_beale_hess,
        x0=np.ones(2),
        f_opt=0.0,
        name="beale",
    )


@entry("zakharov", "smooth")
def zakharov(n: int = 2) -> Problem:
    r"""The Zakharov function in ``n`` dimensions, convex with the minimum 0 at 0.

    Parameters
    ----------
    n : int, default 2
        Number of variables (at least 1).

    Returns
    -------
    Problem
        ``fun``, ``grad``, ``hess``, ``hessp`` analytic; ``x0 = (1, ..., 1)``; ``f_opt = 0``.

    Notes
    -----
    With weights :math:`a_i = i / 2` (``i = 1..n``) and :math:`s = a^T x`,

    .. math:: f(x) = \|x\|^2 + s^2 + s^4, \qquad
              \nabla f = 2x + (2s + 4s^3)\, a, \qquad
              \nabla^2 f = 2I + (2 + 12 s^2)\, a a^T.
    """
    n = check_int("n", n, 1)
    a = 0.5 * np.arange(1, n + 1)

    def fun(x: Array) -> float:
        s = float(a @ x)
        return float(x @ x) + s * s + s**4

    def grad(x: Array) -> Array:
        s = float(a @ x)
        return 2.0 * x + (2.0 * s + 4.0 * s**3) * a

    def hess(x: Array) -> Array:
        s = float(a @ x)
        return 2.0 * np.eye(n) + (2.0 + 12.0 * s * s) * np.outer(a, a)

    def hessp(x: Array, v: Array) -> Array:
        s = float(a @ x)
        return 2.0 * v + (2.0 + 12.0 * s * s) * float(a @ v) * a

    return Problem(
        fun=fun,
        grad=grad,
        hess=hess,
        hessp=hessp,
        x0=np.ones(n),
        f_opt=0.0,
        name="zakharov" if n == 2 else f"zakharov-{n}",
    )


# -- log-sum-exp -------------------------------------------------------------------------------


@entry("log-sum-exp", "smooth")
def log_sum_exp(n: int = 200, m: int = 200, mu: float = 1.0, seed: int = 3124) -> Problem:
    r"""A smoothed maximum of ``m`` random affine functions, shifted so that the minimizer is 0.

    Parameters
    ----------
    n : int, default 200
        Number of variables.
    m : int, default 200
        Number of affine terms.
    mu : float, default 1.0
        Smoothing parameter (positive): ``f`` tends to ``max_i (<a_i, x> - b_i)`` as ``mu -> 0``.
    seed : int, default 3124
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    Problem
        ``fun``, ``fun_and_grad``, ``hess`` (dense ``n x n``), ``hessp`` analytic;
        ``hess_approx = {"weighted-gauss-newton": ...}`` (dense); ``x0 = (1, ..., 1)``;
        ``f_opt = f(0)``; ``info["metric"]`` (the SPD Gram matrix of the unshifted data),
        ``info["x_opt"] = 0`` and ``info["A"]``, ``info["b"]`` (the shifted design and the
        offsets).

    Notes
    -----
    ``Araw`` (``n x m``) then ``b`` (``m``) are drawn uniformly from ``[-1, 1]`` by
    ``numpy.random.default_rng(seed)``; the reference code (epfml/grad-norm-smooth) uses
    ``np.random.seed(3124)`` with the same distributions, so the numbers differ from it (the
    paper runs ``n = m = 1000``; 200 is the CPU-sized default). With the design ``A`` (rows
    :math:`a_i \in \mathbb{R}^n`, ``m x n``),

    .. math:: f(x) = \mu \log \sum_{i=1}^m \exp\Bigl(\frac{a_i^T x - b_i}{\mu}\Bigr),
              \qquad \nabla f = A^T \pi, \qquad
              \nabla^2 f = \frac1\mu A^T \bigl(\operatorname{Diag}(\pi) - \pi\pi^T\bigr) A
              = \frac1\mu A^T \operatorname{Diag}(\pi) A - \frac1\mu \nabla f \nabla f^T,

    with :math:`\pi = \operatorname{softmax}((Ax - b)/\mu)` (``scipy.special.logsumexp``
    and ``softmax``: no overflow). ``"weighted-gauss-newton"`` is
    :math:`\frac1\mu A^T \operatorname{Diag}(\pi) A`, the Hessian without the rank-one
    negative term (so it dominates the Hessian).

    The "zero oracle" trick of the reference: starting from ``A = Arawᵀ``, the gradient at 0,
    :math:`g_0 = A^T \pi(0)`, is subtracted from every row, :math:`A \leftarrow A - 1 g_0^T`.
    At 0 the softmax weights do not change (``A 0 = 0``) and sum to 1, so the new gradient
    is :math:`A^T\pi - g_0 \sum_i \pi_i = 0`: ``x = 0`` is the minimizer (``f`` is convex)
    and ``f_opt = f(0) = \mu \log \sum_i e^{-b_i/\mu}``.

    ``info["metric"]`` is :math:`A_{raw} A_{raw}^T` (``n x n``, the Gram matrix of the
    *unshifted* data, the paper's ``B``), positive definite almost surely for ``m ≥ n``;
    for ``m < n`` it is singular and ``1e-8 I`` is added.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.smooth import log_sum_exp
    >>> p = log_sum_exp(n=30, m=30)
    >>> bool(np.abs(p.gradient(np.zeros(30))).max() < 1e-12), p.f_opt == p.value(np.zeros(30))
    (True, True)
    """
    n = check_int("n", n, 1)
    m = check_int("m", m, 1)
    mu = float(mu)
    if not (math.isfinite(mu) and mu > 0):
        raise ValueError(f"mu must be finite and positive, got {mu!r}")
    rng = np.random.default_rng(seed)
    A_raw = rng.uniform(-1.0, 1.0, size=(n, m))
    b = rng.uniform(-1.0, 1.0, size=m)
    A = A_raw.T.copy()
    A -= softmax(-b / mu) @ A  # subtract ∇f(0) from every row ("zero oracle")
    metric = A_raw @ A_raw.T
    if m < n:
        metric[np.diag_indices(n)] += 1e-8
    x_opt = np.zeros(n)
    for arr in (A, b, metric, x_opt):
        arr.flags.writeable = False

    def fun(x: Array) -> float:
        return mu * float(logsumexp((A @ x - b) / mu))

    def fun_and_grad(x: Array) -> tuple[float, Array]:
        z = (A @ x - b) / mu
        lse = float(logsumexp(z))
        pi = np.exp(z - lse)
        return mu * lse, A.T @ pi

    def weights(x: Array) -> Array:
        return softmax((A @ x - b) / mu)

    def weighted_gauss_newton(x: Array) -> Array:
        W = A * np.sqrt(weights(x))[:, None]
        return W.T @ W / mu  # WᵀW: exactly symmetric

    def hess(x: Array) -> Array:
        pi = weights(x)
        W = A * np.sqrt(pi)[:, None]
        g = A.T @ pi
        return (W.T @ W - np.outer(g, g)) / mu

    def hessp(x: Array, v: Array) -> Array:
        pi = weights(x)
        Av = A @ v
        return A.T @ (pi * (Av - float(pi @ Av))) / mu

    name = "log-sum-exp" if (n, m, mu) == (200, 200, 1.0) else f"log-sum-exp-n{n}-m{m}-mu{mu:g}"
    return Problem(
        fun=fun,
        fun_and_grad=fun_and_grad,
        hess=hess,
        hessp=hessp,
        hess_approx={"weighted-gauss-newton": weighted_gauss_newton},
        x0=np.ones(n),
        f_opt=fun(x_opt),
        name=name,
        info={"metric": metric, "x_opt": x_opt, "A": A, "b": b},
    )
