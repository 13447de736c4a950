r"""A simulated quadratic bilevel problem with finite sums in both levels, whose mini-batch
oracles sample data rows (not additive noise): the simulated quadratic of the public bilevel
benchmarks (inner dimension 100, outer 10, inner strong convexity 0.1, thousands of samples),
so that stochastic bilevel methods (BO-REP, SOBA, MA-SOBA, StocBiO, TTSA, SUSTAIN; spec
``papers/bo-rep.md``) can be compared on the same footing as there.

Notation: ``x`` is the upper variable, ``y`` the lower one, ``F`` the upper objective and
``f`` the lower one (BO-REP's ``f`` and ``g``).

References
----------
.. [1] M. Dagréou, P. Ablin, S. Vaiter and T. Moreau, "A framework for bilevel optimization
   that enables stochastic and global variance reduction algorithms", NeurIPS 2022.
.. [2] J. Hao, X. Gong and M. Liu, "Bilevel optimization under unbounded smoothness: a new
   algorithm and convergence analysis", ICLR 2024.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only

__all__ = ["quadratic_finite_sum"]

Array = NDArray[np.float64]


def _check_number(name: str, value: Any, strict: bool) -> float:
    """``value`` as a finite float, ``> 0`` (``strict``) or ``>= 0``; else ``ValueError``."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    number = float(value) if ok else math.nan
    if not (math.isfinite(number) and (number > 0 if strict else number >= 0)):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} 0, got {value!r}")
    return number


def _lower_oracles(A: Array, B: Array, mu: float) -> dict[str, Callable[..., Any]]:
    """The lower oracles of ``f(x, y) = mean_i [½ (a_iᵀy)² - (a_iᵀy)(b_iᵀx)] + (μ/2)‖y‖²``
    over the rows of ``A`` and ``B`` (all of them, or a mini-batch)."""
    n = A.shape[0]

    def lower_fun(x: Array, y: Array) -> float:
        ay = A @ y
        return float(np.dot(ay, 0.5 * ay - B @ x) / n + 0.5 * mu * np.dot(y, y))

    def lower_grad_y(x: Array, y: Array) -> Array:
        return A.T @ (A @ y - B @ x) / n + mu * y

    def lower_grad_x(x: Array, y: Array) -> Array:
        return -(B.T @ (A @ y)) / n

    def lower_hvp_yy(x: Array, y: Array, v: Array) -> Array:
        return A.T @ (A @ v) / n + mu * v

    def lower_hvp_xy(x: Array, y: Array, v: Array) -> Array:
        return -(B.T @ (A @ v)) / n

    return {"lower_fun": lower_fun, "lower_grad_y": lower_grad_y, "lower_grad_x": lower_grad_x,
            "lower_hvp_yy": lower_hvp_yy, "lower_hvp_xy": lower_hvp_xy}


def _upper_oracles(C: Array, t: Array, reg: float) -> dict[str, Callable[..., Any]]:
    """The upper oracles of ``F(x, y) = (1/2n) ‖Cy - t‖² + (reg/2)‖x‖²`` over the rows of
    ``C`` and ``t`` (all of them, or a mini-batch)."""
    n = C.shape[0]

    def upper_fun(x: Array, y: Array) -> float:
        r = C @ y - t
        return float(0.5 * np.dot(r, r) / n + 0.5 * reg * np.dot(x, x))

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        return reg * x, C.T @ (C @ y - t) / n

    return {"upper_fun": upper_fun, "upper_grad": upper_grad}


@entry("quadratic-finite-sum", "bilevel")
def quadratic_finite_sum(dim_inner: int = 100, dim_outer: int = 10, mu: float = 0.1,
                         n_train: int = 2000, n_val: int = 2000, reg: float = 1e-2,
                         seed: int = 0, noise: float = 0.1) -> BilevelProblem:
    r"""A simulated quadratic bilevel problem of finite sums (inner dimension 100, outer 10,
    inner strong convexity 0.1), whose samplers draw data rows.

    Parameters
    ----------
    dim_inner : int, default 100
        Dimension ``m`` of the lower variable ``y``.
    dim_outer : int, default 10
        Dimension ``n`` of the upper variable ``x``.
    mu : float, default 0.1
        Ridge weight of the lower level: its exact strong convexity constant (``> 0``).
    n_train : int, default 2000
        Rows ``(a_i, b_i)`` of the lower (training) sum.
    n_val : int, default 2000
        Rows ``(c_j, t_j)`` of the upper (validation) sum.
    reg : float, default 1e-2
        Ridge weight of the upper level on ``x`` (``>= 0``).
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` (draws ``Q``, ``A``'s Gaussian factor, ``W``,
        the noise of ``B``, ``C``, ``x_true``, then the noise of ``t``).
    noise : float, default 0.1
        Standard deviation of the Gaussian noise of ``B`` (beyond its part explained by ``A``)
        and of the targets ``t`` (``>= 0``).

    Returns
    -------
    BilevelProblem
        ``x0 = 0``, ``y0 = 0``; ``lower_strong_convexity`` and ``lower_smoothness`` the extreme
        eigenvalues of ``H = AᵀA/n_train + μI`` (``0.1`` and ``≈ 1.16`` at the defaults),
        ``upper_smoothness = λ_max(CᵀC)/n_val``, ``f_opt = Φ(x_opt)``.
        ``sample_lower(batch_size, rng)`` and ``sample_upper(batch_size, rng)`` return the
        problem whose lower (``lower_fun``, ``lower_grad_y``, ``lower_grad_x``,
        ``lower_hvp_yy``, ``lower_hvp_xy``), respectively upper (``upper_fun``,
        ``upper_grad``), oracles are the same sums on ``batch_size`` rows drawn uniformly with
        replacement (``rng.integers``); the ridge terms stay exact, the other level's oracles
        are the full ones, and the sampled problems have no samplers. Each sampled oracle is
        an unbiased estimate of the full one. ``info``: ``"y_star"`` (``x -> y*(x)``),
        ``"z_star"`` (``x -> H⁻¹∇_y F(x, y*(x))``), ``"phi"``, ``"phi_grad"``, ``"x_opt"``,
        ``"x_true"``, the data ``"A"``, ``"B"``, ``"C"``, ``"t"``, and ``"noise"``.

    Raises
    ------
    ValueError
        When a size is not a positive integer, ``mu <= 0``, ``reg < 0`` or ``noise < 0``
        (or one is not finite); from the samplers when ``batch_size`` is not a positive
        integer.

    Notes
    -----
    With rows ``a_i ∈ R^m`` of ``A`` and ``b_i ∈ R^n`` of ``B`` (``i <= n_train``), rows
    ``c_j ∈ R^m`` of ``C`` and targets ``t_j`` (``j <= n_val``):

    .. math::

        f(x, y) = \frac{1}{n_{train}} \sum_i \Big[\tfrac12 (a_i^\top y)^2
                  - (a_i^\top y)(b_i^\top x)\Big] + \frac{\mu}{2}\|y\|^2, \qquad
        F(x, y) = \frac{1}{2 n_{val}} \|C y - t\|^2 + \frac{reg}{2}\|x\|^2.

    So ``∇²_yy f = H = AᵀA/n_train + μI ⪰ μI``, ``∇²_xy f = -BᵀA/n_train`` (``lower_hvp_xy``
    gives ``-BᵀAv/n_train``), ``y*(x) = Kx`` with ``K = H⁻¹AᵀB/n_train`` and

    .. math::

        \Phi(x) = \frac{1}{2 n_{val}}\|CKx - t\|^2 + \frac{reg}{2}\|x\|^2, \qquad
        \nabla\Phi(x) = K^\top C^\top (CKx - t)/n_{val} + reg\, x,

    a strongly convex quadratic minimized at ``x_opt``, the solution of the normal equations
    ``(KᵀCᵀCK/n_val + reg I) x = KᵀCᵀt/n_val``. This agrees with the implicit-function
    formula ``∇_x F - ∇²_xy f H⁻¹∇_y F`` at ``y*(x)``.

    Data: ``A = G D Qᵀ`` with ``G`` standard normal, ``Q`` a random orthogonal matrix and
    ``D² = diag(μ ((1 + μ)/μ)^s - μ)`` for ``s`` evenly spaced in ``[0, 1]``, so that ``H``'s
    expected eigenvalues ``μ ((1 + μ)/μ)^s`` are log-spaced from ``μ`` to ``1 + μ`` (the
    benchmark suites' simulated spectrum); the first diagonal entry is exactly 0, so
    ``λ_min(H) = μ`` (to rounding). ``B = AWᵀ + noise · E`` with ``W`` of entries
    ``N(0, 1/m)`` and ``E`` standard normal (so that ``y*`` depends on ``x``); ``C``
    standard normal; ``x_true`` standard normal and ``t = C y*(x_true) + noise · ξ``.

    The samples are rank one: ``‖a_i‖² ≈ tr D²`` (about 32 at the defaults) against
    ``λ_max(H) ≈ 1.16``, and ``‖c_j‖² ≈ m``, so mini-batch oracles are much noisier than the
    level's smoothness suggests; ``noise`` sets the residuals at the optimum, the other
    source of the noise.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.quadratic_finite_sum import quadratic_finite_sum
    >>> p = quadratic_finite_sum()
    >>> p.n, p.m, round(p.lower_strong_convexity, 6)
    (10, 100, 0.1)
    >>> bool(np.linalg.norm(p.info["phi_grad"](p.info["x_opt"])) < 1e-10)
    True
    >>> batch = p.sample_lower(64, np.random.default_rng(0))
    >>> batch.lower_grad_y(p.x0, p.y0 + 1).shape, batch.sample_lower is None
    ((100,), True)
    """
    m = check_int("dim_inner", dim_inner, 1)
    n = check_int("dim_outer", dim_outer, 1)
    n_train = check_int("n_train", n_train, 1)
    n_val = check_int("n_val", n_val, 1)
    mu = _check_number("mu", mu, strict=True)
    reg = _check_number("reg", reg, strict=False)
    noise = _check_number("noise", noise, strict=False)

    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((m, m)))[0]
    # E[a aᵀ] = Q diag(spectrum) Qᵀ, so that H's eigenvalues are about logspace(μ, 1 + μ)
    spectrum = mu * ((1.0 + mu) / mu) ** np.linspace(0.0, 1.0, m) - mu if m > 1 else np.ones(1)
    scale = np.sqrt(np.maximum(spectrum, 0.0))  # spectrum[0] = 0 exactly when m > 1
    A = (rng.standard_normal((n_train, m)) * scale) @ Q.T
    W = rng.standard_normal((n, m)) / math.sqrt(m)
    B = A @ W.T + noise * rng.standard_normal((n_train, n))
    C = rng.standard_normal((n_val, m))
    x_true = rng.standard_normal(n)

    H = A.T @ A / n_train + mu * np.eye(m)
    K = np.linalg.solve(H, A.T @ B / n_train)  # y*(x) = K x
    t = C @ (K @ x_true) + noise * rng.standard_normal(n_val)
    CK = C @ K
    P = CK.T @ CK / n_val + reg * np.eye(n)  # ∇Φ(x) = P x - q
    q = CK.T @ t / n_val
    x_opt = np.linalg.solve(P, q)
    eigs = np.linalg.eigvalsh(H)
    read_only(A, B, C, t, K, CK, P, q, x_opt, x_true)

    def y_star(x: Array) -> Array:
        return K @ x

    def phi(x: Array) -> float:
        r = CK @ x - t
        return float(0.5 * np.dot(r, r) / n_val + 0.5 * reg * np.dot(x, x))

    def phi_grad(x: Array) -> Array:
        return P @ x - q

    def z_star(x: Array) -> Array:
        return np.linalg.solve(H, C.T @ (CK @ x - t) / n_val)

    def sample_lower(batch_size: int, rng: np.random.Generator) -> BilevelProblem:
        idx = rng.integers(0, n_train, size=check_int("batch_size", batch_size, 1))
        return dataclasses.replace(problem, sample_upper=None, sample_lower=None,
                                   **_lower_oracles(A[idx], B[idx], mu))

    def sample_upper(batch_size: int, rng: np.random.Generator) -> BilevelProblem:
        idx = rng.integers(0, n_val, size=check_int("batch_size", batch_size, 1))
        return dataclasses.replace(problem, sample_upper=None, sample_lower=None,
                                   **_upper_oracles(C[idx], t[idx], reg))

    default = (m, n, mu, n_train, n_val, reg, noise) == (100, 10, 0.1, 2000, 2000, 1e-2, 0.1)
    problem = BilevelProblem(
        **_upper_oracles(C, t, reg), **_lower_oracles(A, B, mu),
        x0=np.zeros(n), y0=np.zeros(m), lower_strong_convexity=float(eigs[0]),
        lower_smoothness=float(eigs[-1]),
        upper_smoothness=float(np.linalg.eigvalsh(C.T @ C)[-1]) / n_val, f_opt=phi(x_opt),
        name="quadratic-finite-sum" if default else f"quadratic-finite-sum-{m}x{n}",
        info={"y_star": y_star, "z_star": z_star, "phi": phi, "phi_grad": phi_grad,
              "x_opt": x_opt, "x_true": x_true, "A": A, "B": B, "C": C, "t": t,
              "noise": noise})
    return dataclasses.replace(problem, sample_lower=sample_lower, sample_upper=sample_upper)
