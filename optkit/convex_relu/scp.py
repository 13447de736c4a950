r"""The sampled convex program (SCP) of a two-layer ReLU network (spec section 3).

Fix ``N`` random unit hidden weights ``u_i`` and train only the output layer: with the
features :math:`H = [(X u_1)_+ \dots (X u_N)_+] \in \mathbb{R}^{n\times N}` the problem is the
Lasso-type program (4.2) of Bai, Gautam and Sojoudi,

.. math::

    \min_{\alpha \in \mathbb{R}^N}\ \ell(H\alpha, y) + \beta \lVert\alpha\rVert_1,

solved here by FISTA (:func:`lasso_fista`). The network is ``ŷ = Σ_i (X u_i)_+ α_i``; its
width is the number of nonzero ``α_i``. :func:`iterative_sampling` (Algorithm 4.1) grows the
set of hidden weights with the fresh samples that violate the dual constraint
``|vᵀ(X u)_+| <= β`` until a Hoeffding bound certifies that few would.

The program is written with ``β Σ|α_i|`` as in (4.2) (the paper's (4.1) has ``β/2``). Since
the ReLU is positively homogeneous, a neuron ``(u, α)`` with ``‖u‖ = 1`` and the rescaled
neuron ``(c u, α / c)``, ``c = sqrt|α|``, predict the same, and the latter's weight decay
``(β/2)(‖c u‖² + (α/c)²)`` is ``β|α|``: the objective of (4.2) is the objective (2.1) of the
*balanced* network that :func:`scp_network` returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import xlogy

from optkit.convex_relu.model import (
    SMOOTH_LOSSES,
    check_loss,
    check_targets,
    loss_gradient,
    loss_value,
)
from optkit.prox import soft_threshold
from optkit.stopping import at_most

__all__ = [
    "FistaStep",
    "relu_features",
    "sample_hidden",
    "lasso_fista",
    "iterative_sampling",
    "scenario_bound",
    "default_new",
    "scp_network",
]

Array = NDArray[np.float64]

#: Each FISTA iteration first tries ``L`` this much smaller (then backtracks): the curvature
#: along a step is often far below ``‖H‖₂²``, most of all for bce once predictions saturate.
#: Measured on breast_cancer (N = 50...2000): 1.5x to 30x fewer iterations than a fixed ``L``.
_SHRINK = 0.9


def _check_loss(loss: str) -> str:
    if loss == "hinge":
        raise ValueError("the SCP solver needs a smooth loss ('squared' or 'bce'); for the "
                         "hinge loss use method 'convex-relu-cvxpy'")
    return check_loss(loss, SMOOTH_LOSSES)


def _check_matrix(name: str, A: ArrayLike) -> Array:
    A = np.asarray(A, dtype=float)
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} must be finite")
    return A


def _check_count(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_targets(y: ArrayLike, n: int, loss: str) -> Array:
    y = np.asarray(y, dtype=float)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite")
    return check_targets(y, loss, soft=True)


def _check_beta(beta: Any) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating, np.integer)) \
            or not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    return float(beta)


def relu_features(X: ArrayLike, hidden: ArrayLike) -> Array:
    """The features ``H = (X hiddenᵀ)_+`` of fixed hidden weights: column ``i`` is the
    output ``(X u_i)_+`` of neuron ``i``.

    Parameters
    ----------
    X : (n, d) array_like
        The inputs (with a ones column for a bias).
    hidden : (N, d) array_like
        The hidden weights ``u_i`` as rows.

    Returns
    -------
    H : (n, N) ndarray

    Examples
    --------
    >>> import numpy as np
    >>> relu_features([[1.0, 2.0], [-1.0, 0.5]], [[1.0, 0.0], [0.0, -1.0]])
    array([[1., 0.],
           [0., 0.]])
    """
    X, hidden = np.asarray(X, dtype=float), np.asarray(hidden, dtype=float)
    if X.ndim != 2 or hidden.ndim != 2 or X.shape[1] != hidden.shape[1]:
        raise ValueError(f"X (n, d) and hidden (N, d) must share d, got shapes {X.shape} "
                         f"and {hidden.shape}")
    return np.maximum(X @ hidden.T, 0.0)


def sample_hidden(d: int, N: int, rng: Any = None) -> Array:
    """Draw ``N`` hidden weights uniformly on the unit sphere of ``R^d``.

    Each is ``u_i = a_i / ‖a_i‖`` with ``a_i ~ N(0, I_d)``. The rows come from one
    ``(N, d)`` draw, so the first ``N`` rows of a larger draw from the same seed are the
    ``N`` rows of a smaller one.

    Parameters
    ----------
    d : int
        The dimension (the number of columns of ``X``).
    N : int
        How many to draw (``0`` gives an empty ``(0, d)`` array).
    rng : None, int or numpy.random.Generator
        The random source.

    Returns
    -------
    hidden : (N, d) ndarray
        Unit rows.

    Examples
    --------
    >>> import numpy as np
    >>> U = sample_hidden(3, 5, rng=0)
    >>> U.shape, np.allclose(np.linalg.norm(U, axis=1), 1.0)
    ((5, 3), True)
    >>> bool(np.array_equal(sample_hidden(3, 8, rng=0)[:5], U))
    True
    """
    d = _check_count("d", d)
    N = _check_count("N", N, low=0)
    gen = np.random.default_rng(rng)
    A = gen.standard_normal((N, d))
    norms = np.linalg.norm(A, axis=1)
    while np.any(norms == 0):  # probability zero; redraw rather than divide by 0
        bad = norms == 0
        A[bad] = gen.standard_normal((int(bad.sum()), d))
        norms = np.linalg.norm(A, axis=1)
    return A / norms[:, None]


def scp_network(hidden: ArrayLike, coef: ArrayLike) -> tuple[Array, Array]:
    r"""The balanced ReLU network of an SCP solution: its neurons with ``coef_i != 0``.

    Neuron ``i`` becomes :math:`u = \sqrt{|c_i|}\, u_i`, :math:`\alpha = \mathrm{sign}(c_i)
    \sqrt{|c_i|}`: the same output ``(X u_i)_+ c_i``, and weight decay
    ``(β/2)(‖u‖² + α²) = β |c_i|`` for unit ``u_i``, so the objective (2.1) of the network
    equals the objective (4.2) of ``coef``.

    Parameters
    ----------
    hidden : (N, d) array_like
        The hidden weights (unit rows for the identity above).
    coef : (N,) array_like
        The output weights of (4.2).

    Returns
    -------
    U : (m, d) ndarray
        Hidden weights of the kept neurons, ``m = nnz(coef)``, in their order in ``hidden``.
    alpha : (m,) ndarray
        Their output weights.

    Examples
    --------
    >>> U, alpha = scp_network([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], [4.0, 0.0, -0.25])
    >>> U
    array([[2. , 0. ],
           [0.3, 0.4]])
    >>> alpha
    array([ 2. , -0.5])
    """
    hidden, coef = np.asarray(hidden, dtype=float), np.asarray(coef, dtype=float)
    if hidden.ndim != 2 or coef.shape != (hidden.shape[0],):
        raise ValueError(f"hidden (N, d) and coef (N,) must match, got shapes {hidden.shape} "
                         f"and {coef.shape}")
    keep = coef != 0
    root = np.sqrt(np.abs(coef[keep]))
    return hidden[keep] * root[:, None], np.sign(coef[keep]) * root


def scenario_bound(n: int, psi: float, xi: float) -> int:
    """The number of sampled neurons after which Theorem 4.1 holds: ``(n + 1)/(ψ ξ) - 1``.

    With at least this many i.i.d. unit hidden weights, with probability at least ``1 - ξ``
    a fresh one lowers the optimum of (4.2) with probability at most ``ψ``.

    Examples
    --------
    >>> scenario_bound(569, 0.1, 0.1)
    56999
    """
    return max(1, math.ceil((n + 1) / (psi * xi) - 1 - 1e-9))


# -- FISTA -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FistaStep:
    """One accepted FISTA iterate, as :func:`lasso_fista` hands it to its callback.

    Attributes
    ----------
    iteration : int
        ``0`` for the starting point, then ``1, 2, ...``.
    alpha : ndarray
        The iterate (do not modify it).
    objective : float
        ``ℓ(Hα, y) + β‖α‖₁``.
    gap : float
        The duality gap of ``α`` and the scaled dual point (an upper bound on
        ``objective - optimum``).
    step_size : float
        The step ``1/L`` in use.
    restarts : int
        How many momentum restarts so far.
    """

    iteration: int
    alpha: Array
    objective: float
    gap: float
    step_size: float
    restarts: int

    @property
    def rel_gap(self) -> float:
        """``gap / |objective|`` (``0`` when both are ``0``)."""
        if self.objective == 0:
            return 0.0 if self.gap <= 0 else math.inf
        return self.gap / abs(self.objective)


def _lipschitz(H: Array, iters: int = 100, rtol: float = 1e-6) -> float:
    """``‖H‖₂²`` by power iteration on ``HᵀH`` from the ones vector (``H >= 0`` entrywise, so
    the top singular vector is non-negative and never orthogonal to it). A lower estimate;
    FISTA's backtracking covers the rest."""
    N = H.shape[1]
    v = np.full(N, 1.0 / math.sqrt(N))
    lam = 0.0
    for _ in range(iters):
        w = H.T @ (H @ v)
        new = float(np.linalg.norm(w))
        if new == 0.0:
            return 0.0
        v = w / new
        if abs(new - lam) <= rtol * new:
            return new
        lam = new
    return lam


def _dual_value(v: Array, c: Array, y: Array, beta: float, loss: str) -> float:
    """The dual objective at the feasible point ``θ = s v``, ``s = min(1, β/‖c‖∞)``, where
    ``c = Hᵀv``; ``-inf`` outside the dual's domain.

    The dual of (4.2) is ``max_θ -ℓ*(-θ)`` s.t. ``‖Hᵀθ‖∞ <= β``. ``squared``:
    ``-ℓ*(-θ) = θᵀy - ½‖θ‖²``; ``bce``: ``-Σ_k φ(y_k - θ_k/2)``,
    ``φ(u) = u log u + (1-u) log(1-u)`` on ``[0, 1]``.
    """
    top = float(np.max(np.abs(c), initial=0.0))
    s = 1.0 if top <= beta else beta / top
    theta = s * v
    if loss == "squared":
        return float(theta @ y) - 0.5 * float(theta @ theta)
    u = y - 0.5 * theta
    if np.any(u < -1e-12) or np.any(u > 1 + 1e-12):
        return -math.inf
    u = np.clip(u, 0.0, 1.0)
    return -float(np.sum(xlogy(u, u) + xlogy(1.0 - u, 1.0 - u)))


def _fista(H: Array, y: Array, beta: float, loss: str, alpha0: Array) -> Iterator[FistaStep]:
    """FISTA with backtracking and function-value restart; yields the start, then every
    accepted iterate, and returns when even a plain proximal step cannot lower the objective
    (the floating-point floor)."""
    squared = loss == "squared"
    L = _lipschitz(H) or 1.0
    L_floor = L * 1e-6

    def smooth(Hx: Array) -> tuple[float, Array]:
        return loss_value(Hx, y, loss), loss_gradient(Hx, y, loss)

    x = alpha0
    Hx = H @ x
    fx, dx = smooth(Hx)
    gx = H.T @ dx
    Fx = fx + beta * float(np.sum(np.abs(x)))
    restarts = k = 0
    best = _dual_value(-dx, -gx, y, beta, loss)  # every dual value is a lower bound: keep the best
    yield FistaStep(0, x, Fx, Fx - best, 1.0 / L, restarts)
    x_prev, Hx_prev, gx_prev = x, Hx, gx
    t = 1.0
    while True:
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        theta = (t - 1.0) / t_next
        if theta > 0:
            yv = x + theta * (x - x_prev)
            Hy = Hx + theta * (Hx - Hx_prev)
            if squared:  # the gradient is affine in α: no product with Hᵀ needed
                fy = loss_value(Hy, y, loss)
                gy = gx + theta * (gx - gx_prev)
            else:
                fy, dy = smooth(Hy)
                gy = H.T @ dy
        else:
            yv, Hy, fy, gy = x, Hx, fx, gx
        L = max(L * _SHRINK, L_floor)
        while True:  # backtracking: double L until the quadratic upper model holds
            z = soft_threshold(yv - gy / L, beta / L)
            dz = z - yv
            Hz = H @ z
            fz = loss_value(Hz, y, loss)
            gd, dd = float(gy @ dz), 0.5 * L * float(dz @ dz)
            if at_most(fz, fy + gd + dd, fy, gd, dd) or not np.any(dz):
                break
            L *= 2.0
        Fz = fz + beta * float(np.sum(np.abs(z)))
        if Fz > Fx:
            if theta > 0:  # momentum overshot: restart from x with a plain step
                restarts += 1
                t = 1.0
                x_prev, Hx_prev, gx_prev = x, Hx, gx
                continue
            return  # a proximal step from x does not descend: rounding floor reached
        dz_out = loss_gradient(Hz, y, loss)
        gz = H.T @ dz_out
        k += 1
        x_prev, Hx_prev, gx_prev = x, Hx, gx
        x, Hx, fx, gx, Fx = z, Hz, fz, gz, Fz
        t = t_next
        best = max(best, _dual_value(-dz_out, -gz, y, beta, loss))
        yield FistaStep(k, x, Fx, Fx - best, 1.0 / L, restarts)


def lasso_fista(
    H: ArrayLike,
    y: ArrayLike,
    beta: float,
    loss: str = "squared",
    alpha0: ArrayLike | None = None,
    *,
    tol: float = 1e-10,
    maxiter: int = 10_000,
    callback: Callable[[FistaStep], bool | None] | None = None,
) -> tuple[Array, float, int]:
    r"""Minimize ``ℓ(Hα, y) + β‖α‖₁`` (program (4.2)) by FISTA.

    Each iteration is a proximal-gradient step (soft-thresholding) from the extrapolated
    point :math:`y_k = \alpha_k + \frac{t_{k-1} - 1}{t_k}(\alpha_k - \alpha_{k-1})`,

    .. math::

        \alpha_{k+1} = \mathrm{soft}\big(y_k - \tfrac1L H^\top\nabla\ell(H y_k),\
        \tfrac{\beta}{L}\big),\qquad \mathrm{soft}(x, \tau) = \mathrm{sign}(x)\max(|x|-\tau, 0),

    with ``L`` started at ``‖H‖₂²`` (power iteration), which bounds the curvature of both
    losses (the bce loss's second derivative is ``4σ(2ŷ)(1-σ(2ŷ)) <= 1``). Each iteration
    first tries ``0.9 L`` and doubles it until the quadratic upper model holds at the step
    (backtracking): the curvature along the steps is often far smaller. When a step raises
    the objective, the momentum is reset and a plain step taken instead (function-value
    restart, O'Donoghue and Candès), so the objective never increases.

    The run stops when the duality gap certifies ``objective - optimum <= tol · objective``
    (the scaled residual ``θ = s v``, ``v = -∇ℓ(Hα)``, ``s = min(1, β/‖Hᵀv‖∞)``, is dual
    feasible, and the gap is ``objective + ℓ*(-θ)``, with the best dual value so far), or
    when the objective has reached its rounding floor: a proximal-gradient step from the
    iterate no longer lowers it. The gap of such a dual point shrinks only like the square
    root of the primal error (a dual-constraint overshoot ``ε`` costs about ``ε‖α‖₁``), so
    for a small ``tol`` the floor usually comes first; there the objective agreed with
    CLARABEL's optimum to 2e-9 relative or better in our runs (breast_cancer, N = 50 to 500,
    β = 1e-4 to 10, both losses), while the certified gap read 1e-7 to 1.5e-3.

    Parameters
    ----------
    H : (n, N) array_like
        The features (:func:`relu_features`; any real matrix works).
    y : (n,) array_like
        Targets (labels ``{0, 1}`` for ``bce``).
    beta : float
        The ℓ1 weight (positive).
    loss : {"squared", "bce"}
        ``½‖Hα - y‖²`` or ``Σ_k log(1 + e^{2ŷ_k}) - 2 y_k ŷ_k`` (sums, as
        :func:`~optkit.convex_relu.loss_value`).
    alpha0 : (N,) array_like, optional
        Starting point (zeros by default).
    tol : float, default 1e-10
        Relative duality gap to stop at (``0``: run to the rounding floor or ``maxiter``).
    maxiter : int, default 10000
        Maximum number of iterations.
    callback : callable, optional
        ``callback(step)`` with a :class:`FistaStep` for the start (``iteration == 0``) and
        each iteration; returning ``True`` stops the run.

    Returns
    -------
    alpha : (N,) ndarray
        The solution (exact zeros outside its support).
    objective : float
        Its objective.
    iterations : int
        Iterations taken.

    Raises
    ------
    ValueError
        For ``loss="hinge"`` (not smooth: use method ``"convex-relu-cvxpy"``), shapes that do
        not match, non-finite data, ``beta <= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> H = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> y = np.array([1.0, 2.0, 2.0])
    >>> alpha, objective, iterations = lasso_fista(H, y, beta=0.1)
    >>> np.round(alpha, 6), round(objective, 8)
    (array([0.955556, 0.988889]), 0.19722222)

    The optimality (KKT) conditions: ``Hᵀ(y - Hα) = β sign(α)`` on the support.

    >>> np.round(H.T @ (y - H @ alpha), 6)
    array([0.1, 0.1])
    """
    H = _check_matrix("H", H)
    n, N = H.shape
    if n == 0 or N == 0:
        raise ValueError(f"H must have at least one row and one column, got shape {H.shape}")
    loss = _check_loss(loss)
    y = _check_targets(y, n, loss)
    beta = _check_beta(beta)
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    maxiter = _check_count("maxiter", maxiter, low=0)
    if alpha0 is None:
        x0 = np.zeros(N)
    else:
        x0 = np.array(alpha0, dtype=float)
        if x0.shape != (N,) or not np.all(np.isfinite(x0)):
            raise ValueError(f"alpha0 must be a finite array of shape ({N},), got {x0.shape}")
    last = None
    for step in _fista(H, y, beta, loss, x0):
        last = step
        if callback is not None and callback(step):
            break
        if step.gap <= tol * abs(step.objective) or step.iteration >= maxiter:
            break
    assert last is not None  # the generator always yields the start
    return last.alpha.copy(), last.objective, last.iteration


# -- Algorithm 4.1 -----------------------------------------------------------------------------


def _hoeffding(Nt: int, xi: float) -> float:
    return math.sqrt(math.log(1.0 / xi) / (2.0 * Nt))


def default_new(psi: float, xi: float) -> int:
    """The default number of fresh samples per round: the smallest ``N_t`` whose Hoeffding
    term ``sqrt(log(1/ξ)/(2 N_t))`` is at most ``ψ/2``, so the test can pass with a violation
    rate up to ``ψ/2``.

    Examples
    --------
    >>> default_new(0.1, 0.1)
    461
    """
    return math.ceil(2.0 * math.log(1.0 / xi) / (psi * psi) - 1e-9)


def iterative_sampling(
    X: ArrayLike,
    y: ArrayLike,
    beta: float,
    loss: str = "squared",
    N0: int = 100,
    Nt: int | None = None,
    psi: float = 0.1,
    xi: float = 0.1,
    rng: Any = None,
    max_total: int | None = None,
    *,
    tol: float = 1e-10,
    maxiter: int = 10_000,
    callback: Callable[[FistaStep, Array], bool | None] | None = None,
) -> tuple[Array, Array, list[dict[str, Any]]]:
    r"""Iterative sampling of hidden weights (Algorithm 4.1): grow the SCP until a fresh
    neuron is unlikely to improve it.

    Round ``t``: solve (4.2) on the current hidden weights (:func:`lasso_fista`, warm
    started); form the dual point ``v = -∇ℓ(Hα)`` (``y - Hα`` for the squared loss); draw
    ``N_t`` fresh unit hidden weights ``ū`` and count the set ``E_t`` of those with
    ``|vᵀ(Xū)_+| > β``, which violate the dual constraint (adding one would lower the
    optimum). Stop when

    .. math::

        \frac{|E_t|}{N_t} + \sqrt{\frac{\log(1/\xi)}{2 N_t}} \le \psi

    (Hoeffding: then with probability at least ``1 - ξ`` a fresh neuron violates with
    probability at most ``ψ``), or when the set has reached ``(n + 1)/(ψ ξ) - 1`` neurons
    (the scenario bound, Theorem 4.1), or ``max_total``. Otherwise append ``E_t`` and
    re-solve. The returned solution is the one the last test was made on: the violators of
    the final round are counted, not appended.

    Parameters
    ----------
    X : (n, d) array_like
        Inputs (with a ones column for a bias).
    y : (n,) array_like
        Targets (labels ``{0, 1}`` for ``bce``).
    beta : float
        The ℓ1 weight of (4.2).
    loss : {"squared", "bce"}
    N0 : int, default 100
        Initial number of hidden weights.
    Nt : int, optional
        Fresh samples per round; default :func:`default_new` ``(psi, xi)``. It must make the
        Hoeffding term smaller than ``psi``, or the test could never pass.
    psi, xi : float, default 0.1
        Target violation probability and confidence (both in ``(0, 1)``).
    rng : None, int or numpy.random.Generator
    max_total : int, optional
        Cap on the number of hidden weights (default: the scenario bound, or ``N0`` if
        larger). The last round appends only the strongest violators that fit.
    tol, maxiter : float, int
        Passed to each :func:`lasso_fista` solve.
    callback : callable, optional
        ``callback(step, hidden)`` for every FISTA step (:class:`FistaStep`) with the hidden
        weights of the current round; returning ``True`` stops everything.

    Returns
    -------
    hidden : (N, d) ndarray
        The final hidden weights.
    alpha : (N,) ndarray
        Their output weights, the solution of (4.2).
    rounds : list of dict
        One record per solve: ``round``, ``n_hidden``, ``iterations``, ``objective``,
        ``gap`` (relative duality gap), ``width`` (``nnz(alpha)``), ``n_new`` and
        ``violators`` (the test after the solve; ``None`` when none was made), ``bound``
        (``|E_t|/N_t`` plus the Hoeffding term), ``added``, and ``stop``: ``""`` or, on the
        last record, why the run ended: ``"test"``, ``"scenario-bound"``, ``"max_total"``
        or ``"callback"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.standard_normal((40, 2)), np.ones(40)])
    >>> y = np.sin(2 * X[:, 0]) + X[:, 1]
    >>> hidden, alpha, rounds = iterative_sampling(X, y, beta=0.1, N0=20, psi=0.2, xi=0.1,
    ...                                            rng=1)
    >>> rounds[-1]["stop"], rounds[-1]["bound"] <= 0.2
    ('test', True)
    >>> len(hidden) == rounds[-1]["n_hidden"] > 20
    True
    """
    X = _check_matrix("X", X)
    n, d = X.shape
    loss = _check_loss(loss)
    y = _check_targets(y, n, loss)
    beta = _check_beta(beta)
    N0 = _check_count("N0", N0)
    for name, value in (("psi", psi), ("xi", xi)):
        if not (isinstance(value, (int, float)) and 0 < value < 1):
            raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    Nt = default_new(psi, xi) if Nt is None else _check_count("Nt", Nt)
    if _hoeffding(Nt, xi) >= psi:
        raise ValueError(
            f"Nt={Nt} fresh samples can never pass the stopping test: the Hoeffding term "
            f"sqrt(log(1/xi)/(2 Nt)) = {_hoeffding(Nt, xi):.3g} is not below psi={psi}; "
            f"use Nt > {math.log(1 / xi) / (2 * psi * psi):.1f}")
    bound_total = scenario_bound(n, psi, xi)
    if max_total is not None:
        max_total = _check_count("max_total", max_total)
    gen = np.random.default_rng(rng)

    hidden = sample_hidden(d, N0, gen)
    if max_total is None:
        max_total = max(bound_total, N0)
    elif max_total < N0:
        raise ValueError(f"max_total={max_total} is below the initial number of hidden "
                         f"weights N0={N0}")
    H = relu_features(X, hidden)
    stopped = [False]
    last: list[FistaStep] = []

    def relay(step: FistaStep) -> bool:
        last[:] = [step]
        if callback is not None and callback(step, hidden):
            stopped[0] = True
            return True
        return False

    rounds: list[dict[str, Any]] = []
    alpha = None
    for t in range(max_total + 1):  # each round adds >= 1 neuron, so this is never reached
        alpha, objective, iterations = lasso_fista(H, y, beta, loss, alpha, tol=tol,
                                                   maxiter=maxiter, callback=relay)
        v = -loss_gradient(H @ alpha, y, loss)
        record: dict[str, Any] = {
            "round": t, "n_hidden": len(hidden), "iterations": iterations,
            "objective": objective, "gap": last[0].rel_gap,
            "width": int(np.count_nonzero(alpha)), "n_new": 0, "violators": None,
            "bound": math.nan, "added": 0, "stop": ""}
        rounds.append(record)
        if stopped[0]:
            record["stop"] = "callback"
            break
        if len(hidden) >= bound_total:
            record["stop"] = "scenario-bound"
            break
        if len(hidden) >= max_total:
            record["stop"] = "max_total"
            break
        fresh = sample_hidden(d, Nt, gen)
        H_new = relu_features(X, fresh)
        score = np.abs(H_new.T @ v)
        violators = np.flatnonzero(score > beta)
        bound = len(violators) / Nt + _hoeffding(Nt, xi)
        record.update(n_new=Nt, violators=len(violators), bound=bound)
        if bound <= psi:
            record["stop"] = "test"
            break
        room = max_total - len(hidden)
        if len(violators) > room:  # keep the strongest violators that fit
            violators = violators[np.argsort(-score[violators], kind="stable")[:room]]
            violators.sort()
        record["added"] = len(violators)
        hidden = np.vstack([hidden, fresh[violators]])
        H = np.hstack([H, H_new[:, violators]])
        alpha = np.concatenate([alpha, np.zeros(len(violators))])
    return hidden, alpha, rounds
