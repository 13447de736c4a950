r"""Bilevel test problems: ``min_x F(x, y*(x))`` with ``y*(x) = argmin_y f(x, y)``.

Every builder returns an :class:`optkit.BilevelProblem` with analytic oracles (upper value and
gradients, lower value, gradients in ``y`` and ``x``, the Hessian-vector product in ``y`` and the
mixed product ``∇_x ⟨∇_y f, v⟩``), honest constants (``μ`` and ``L`` of the lower level, ``L_g``
of the upper one: proven bounds, never estimates) and a default start. Data are drawn by
``numpy.random.default_rng(seed)`` or loaded from scikit-learn's bundled digits: no network.
They are registered in the catalog with kind ``"bilevel"``.

- :func:`bilevel_quadratic`: least squares in both levels, with closed-form ``y*(x)``,
  hyperobjective ``Φ`` and optimum (experiment E1 of MAID, Salehi et al. 2023).
- :func:`tv_denoising_1d`: learn the weight and the smoothing of a smoothed total-variation
  denoiser of piecewise-constant 1-D signals (E2, 1-D).
- :func:`tv_denoising_2d`: the same for synthetic images of rectangles and disks (E2, 2-D).
- :func:`ridge_per_feature`: one ridge penalty per feature, tuned on a validation set.
- :func:`digits_logistic`: one L2 penalty per weight of multinomial logistic regression on the
  digits (E4).

Notation: ``x`` is the upper variable (the hyperparameters, MAID's ``θ``), ``y`` the lower one
(MAID's ``x``); ``F`` is the upper objective (MAID's ``g``) and ``f`` the lower one (MAID's ``h``).

References
----------
.. [1] M. S. Salehi, S. Mukherjee, L. Roberts, M. J. Ehrhardt, "An adaptively inexact first-order
   method for bilevel optimization with application to hyperparameter learning",
   arXiv:2308.10098, 2023.
.. [2] F. Pedregosa, "Hyperparameter optimization with approximate gradient", ICML 2016.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_softmax, softmax

from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only

__all__ = ["bilevel_quadratic", "tv_denoising_1d", "tv_denoising_2d", "ridge_per_feature",
           "digits_logistic"]

Array = NDArray[np.float64]

#: Relative safety margin on computed extreme eigenvalues (their rounding error is about
#: ``1e-15`` of the largest one): lower bounds shrink by it, upper bounds grow by it.
_EIG_MARGIN = 1e-10


def _check_positive(name: str, value: Any, strict: bool = True) -> float:
    value = float(value)
    ok = value > 0 if strict else value >= 0
    if not (math.isfinite(value) and ok):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} 0, got {value!r}")
    return value


def _extreme_eigs(G: Array) -> tuple[float, float]:
    """``(lo, hi)`` with ``lo <= λ_min(G)`` and ``λ_max(G) <= hi`` for a symmetric PSD ``G``:
    the computed extremes widened by ``_EIG_MARGIN · λ_max``; ``lo`` is clipped at 0."""
    eigs = np.linalg.eigvalsh(G)
    slack = _EIG_MARGIN * max(float(eigs[-1]), 0.0)
    return max(float(eigs[0]) - slack, 0.0), float(eigs[-1]) + slack


# -- E1: quadratic with a closed form -----------------------------------------------------------


@entry("bilevel-quadratic", "bilevel")
def bilevel_quadratic(n_rows: int = 1000, m: int = 10, seed: int = 0,
                      noise: float = 0.01) -> BilevelProblem:
    r"""Least squares in both levels, with closed-form lower solution and optimum (MAID's E1).

    Parameters
    ----------
    n_rows : int, default 1000
        Rows of the three data matrices (at least ``m``; the paper also uses 200).
    m : int, default 10
        Dimension of both ``x`` (upper) and ``y`` (lower).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.
    noise : float, default 0.01
        Standard deviation of the Gaussian noise added to ``b1`` and ``b2``.

    Returns
    -------
    BilevelProblem
        ``x0 = 1`` (ones), ``y0 = x2`` (the spec's lower start, see Notes), ``f_opt`` the exact
        optimal value. Constants: ``lower_strong_convexity`` and ``lower_smoothness`` are the
        extreme eigenvalues of ``A2ᵀA2``, ``upper_smoothness = λ_max(A1ᵀA1)`` (each widened by
        a relative ``1e-10`` for rounding). ``info`` holds the closed forms: ``"y_star"``
        (``x -> y*(x)``), ``"phi"`` (``x -> Φ(x) = F(x, y*(x))``), ``"phi_grad"``
        (``x -> ∇Φ(x)``), ``"x_opt"``, ``"y_opt" = y*(x_opt)``, ``"B_norm"`` (``‖A3ᵀA2‖₂``, the
        norm of the mixed Hessian), ``"L_B" = 0.0`` and ``"L_Ainv" = 0.0`` (the Hessians do
        not depend on ``y``), and the data ``"A1"``, ``"A2"``, ``"A3"``, ``"b1"``, ``"b2"``.

    Notes
    -----
    ``A1, A2, A3`` (``n_rows x m``, entries ``U(0, 1)``) are drawn in this order, then
    ``x1, x2, x_e`` (``U(0, 1)^m``), then the noises ``ξ1, ξ2`` (standard normal);
    ``b1 = A1 x1 + noise ξ1`` and ``b2 = A2 x2 + A3 x_e + noise ξ2``. Then

    .. math::

        F(x, y) = \tfrac12 \|A_1 y - b_1\|^2, \qquad
        f(x, y) = \tfrac12 \|A_2 y + A_3 x - b_2\|^2,

    ``y*(x) = (A2ᵀA2)⁻¹A2ᵀ(b2 - A3 x)`` and ``Φ(x) = ½‖M x - d‖²`` with
    ``M = A1 (A2ᵀA2)⁻¹A2ᵀA3`` and ``d = A1 (A2ᵀA2)⁻¹A2ᵀ b2 - b1``, a convex quadratic minimized
    at ``x_opt = argmin ½‖Mx - d‖²`` (least squares). The Hessian in ``y`` is ``A2ᵀA2`` and the
    mixed one ``∇²_{xy} f = A3ᵀA2`` (``lower_hvp_xy(x, y, v) = A3ᵀA2 v``).

    Examples
    --------
    >>> import numpy as np
    >>> from problems.bilevel import bilevel_quadratic
    >>> p = bilevel_quadratic(n_rows=200, m=5)
    >>> p.n, p.m
    (5, 5)
    >>> x = p.info["x_opt"]
    >>> bool(np.isclose(p.upper_fun(x, p.info["y_star"](x)), p.f_opt))
    True
    >>> bool(np.linalg.norm(p.info["phi_grad"](x)) < 1e-8)
    True
    """
    n_rows = check_int("n_rows", n_rows, 1)
    m = check_int("m", m, 1)
    if n_rows < m:
        raise ValueError(f"n_rows must be >= m (A2ᵀA2 must be invertible), got {n_rows} < {m}")
    noise = _check_positive("noise", noise, strict=False)
    rng = np.random.default_rng(seed)
    A1, A2, A3 = (rng.uniform(0.0, 1.0, (n_rows, m)) for _ in range(3))
    x1, x2, x_e = (rng.uniform(0.0, 1.0, m) for _ in range(3))
    b1 = A1 @ x1 + noise * rng.standard_normal(n_rows)
    b2 = A2 @ x2 + A3 @ x_e + noise * rng.standard_normal(n_rows)

    H = A2.T @ A2                      # ∇²_yy f
    B = A3.T @ A2                      # ∇²_xy f: (n, m), B v = ∇_x ⟨∇_y f, v⟩
    H_chol = np.linalg.cholesky(H)

    def solve_H(rhs: Array) -> Array:
        return np.linalg.solve(H_chol.T, np.linalg.solve(H_chol, rhs))

    P = solve_H(A2.T)                  # (A2ᵀA2)⁻¹A2ᵀ, m x n_rows
    M = A1 @ (P @ A3)
    d = A1 @ (P @ b2) - b1
    x_opt = np.linalg.lstsq(M, d, rcond=None)[0]
    f_opt = 0.5 * float(np.sum((M @ x_opt - d) ** 2))
    mu, L = _extreme_eigs(H)
    L_g = _extreme_eigs(A1.T @ A1)[1]
    B_norm = float(np.linalg.norm(B, 2))

    def y_star(x: Array) -> Array:
        return P @ (b2 - A3 @ np.asarray(x, dtype=float))

    def phi(x: Array) -> float:
        return 0.5 * float(np.sum((M @ np.asarray(x, dtype=float) - d) ** 2))

    def phi_grad(x: Array) -> Array:
        return M.T @ (M @ np.asarray(x, dtype=float) - d)

    def upper_fun(x: Array, y: Array) -> float:
        return 0.5 * float(np.sum((A1 @ y - b1) ** 2))

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        return np.zeros(m), A1.T @ (A1 @ y - b1)

    def lower_fun(x: Array, y: Array) -> float:
        return 0.5 * float(np.sum((A2 @ y + A3 @ x - b2) ** 2))

    def lower_grad_y(x: Array, y: Array) -> Array:
        return A2.T @ (A2 @ y + A3 @ x - b2)

    def lower_grad_x(x: Array, y: Array) -> Array:
        return A3.T @ (A2 @ y + A3 @ x - b2)

    def lower_hvp_yy(x: Array, y: Array, v: Array) -> Array:
        return H @ v

    def lower_hvp_xy(x: Array, y: Array, v: Array) -> Array:
        return B @ v

    y_opt = y_star(x_opt)
    read_only(A1, A2, A3, b1, b2, x_opt, y_opt, x2)
    return BilevelProblem(
        upper_fun=upper_fun, upper_grad=upper_grad, lower_fun=lower_fun,
        lower_grad_y=lower_grad_y, lower_grad_x=lower_grad_x,
        lower_hvp_yy=lower_hvp_yy, lower_hvp_xy=lower_hvp_xy,
        x0=np.ones(m), y0=x2.copy(),
        lower_strong_convexity=mu, lower_smoothness=L, upper_smoothness=L_g,
        f_opt=f_opt,
        name=("bilevel-quadratic" if (n_rows, m) == (1000, 10)
              else f"bilevel-quadratic-{n_rows}x{m}"),
        info={"y_star": y_star, "phi": phi, "phi_grad": phi_grad, "x_opt": x_opt,
              "y_opt": y_opt, "B_norm": B_norm, "L_B": 0.0, "L_Ainv": 0.0,
              "A1": A1, "A2": A2, "A3": A3, "b1": b1, "b2": b2},
    )


# -- E2 (1-D): smoothed total-variation denoising ------------------------------------------------


def _piecewise_constant(n_signals: int, length: int, rng: np.random.Generator) -> Array:
    """Signals with 2 to 7 jumps at random positions and levels ``U(0, 1)`` on each piece."""
    clean = np.empty((n_signals, length))
    for i in range(n_signals):
        k = min(int(rng.integers(2, 8)), length - 1)
        jumps = np.sort(rng.choice(np.arange(1, length), size=k, replace=False))
        levels = rng.uniform(0.0, 1.0, k + 1)
        clean[i] = levels[np.searchsorted(jumps, np.arange(length), side="right")]
    return clean


def _diff_adjoint(w: Array, axis: int) -> Array:
    """``Dᵀw`` along ``axis``, ``D`` the forward differences ``(Du)_j = u_{j+1} - u_j``."""
    pad = [(0, 0)] * w.ndim
    pad[axis] = (1, 1)
    return -np.diff(np.pad(w, pad), axis=axis)


def _tv_denoising(clean: Array, noisy: Array, sigma: float, name: str) -> BilevelProblem:
    r"""The smoothed-TV denoising problem of the signals or images ``clean[i]`` (axis 0 counts
    them) from ``noisy``: forward differences along every other axis, anisotropic sum.

    With ``d`` the number of image axes, ``‖D‖² <= 4d`` and the lower smoothness is
    ``1 + 2d e^{x0 - x1}``; see :func:`tv_denoising_1d` for the derivation.
    """
    shape, N = clean.shape, clean.shape[0]
    axes = tuple(range(1, clean.ndim))
    read_only(clean, noisy)
    z, c = noisy.ravel(), clean.ravel()

    def parts(x: Array, y: Array) -> tuple[float, float, list[Array], list[Array]]:
        """``α, ν²``, and per axis ``t = Dy`` and ``r = sqrt(t² + ν²)``."""
        alpha, nu2 = math.exp(x[0]), math.exp(2.0 * x[1])
        u = y.reshape(shape)
        t = [np.diff(u, axis=a) for a in axes]
        return alpha, nu2, t, [np.sqrt(ta * ta + nu2) for ta in t]

    def adjoint(w: list[Array]) -> Array:
        """``Dᵀw`` summed over the axes, flattened."""
        return sum(_diff_adjoint(wa, a) for wa, a in zip(w, axes, strict=True)).ravel()

    def upper_fun(x: Array, y: Array) -> float:
        return 0.5 * float(np.sum((y - c) ** 2)) / N

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        return np.zeros(2), (y - c) / N

    def lower_fun(x: Array, y: Array) -> float:
        alpha, _, _, r = parts(x, y)
        return (0.5 * float(np.sum((y - z) ** 2))
                + 0.5 * alpha * sum(float(np.sum(ra)) for ra in r))

    def lower_grad_y(x: Array, y: Array) -> Array:
        alpha, _, t, r = parts(x, y)
        return y - z + 0.5 * alpha * adjoint([ta / ra for ta, ra in zip(t, r, strict=True)])

    def lower_grad_x(x: Array, y: Array) -> Array:
        # ∂/∂x0 = ½ α Σ r;  ∂r/∂x1 = ν²/r
        alpha, nu2, _, r = parts(x, y)
        return 0.5 * alpha * np.array([sum(float(np.sum(ra)) for ra in r),
                                       nu2 * sum(float(np.sum(1.0 / ra)) for ra in r)])

    def lower_hvp_yy(x: Array, y: Array, v: Array) -> Array:
        alpha, nu2, _, r = parts(x, y)
        u = np.asarray(v, dtype=float).reshape(shape)
        w = [nu2 / ra**3 * np.diff(u, axis=a) for ra, a in zip(r, axes, strict=True)]
        return v + 0.5 * alpha * adjoint(w)

    def lower_hvp_xy(x: Array, y: Array, v: Array) -> Array:
        # ⟨∇_y f, v⟩ = ⟨y - z, v⟩ + ½ α Σ ⟨t/r, Dv⟩;  ∂(t/r)/∂x1 = -t ν²/r³
        alpha, nu2, t, r = parts(x, y)
        u = np.asarray(v, dtype=float).reshape(shape)
        terms = list(zip(t, r, (np.diff(u, axis=a) for a in axes), strict=True))
        return 0.5 * alpha * np.array(
            [sum(float(np.sum(ta / ra * wa)) for ta, ra, wa in terms),
             -nu2 * sum(float(np.sum(ta * wa / ra**3)) for ta, ra, wa in terms)])

    def lower_smoothness(x: Array) -> float:
        return 1.0 + 2.0 * len(axes) * math.exp(x[0] - x[1])

    def psnr(y: ArrayLike) -> float:
        err = np.clip(np.asarray(y, dtype=float).reshape(shape), 0.0, 1.0) - clean
        mse = np.mean(err.reshape(N, -1) ** 2, axis=1)
        with np.errstate(divide="ignore"):  # a perfect signal has an infinite PSNR
            return float(np.mean(-10.0 * np.log10(mse)))

    return BilevelProblem(
        upper_fun=upper_fun, upper_grad=upper_grad, lower_fun=lower_fun,
        lower_grad_y=lower_grad_y, lower_grad_x=lower_grad_x,
        lower_hvp_yy=lower_hvp_yy, lower_hvp_xy=lower_hvp_xy,
        x0=np.array([-5.0, -5.0]), y0=z.copy(),
        lower_strong_convexity=1.0, lower_smoothness=lower_smoothness,
        upper_smoothness=1.0 / N, name=name,
        info={"clean": clean, "noisy": noisy, "sigma": sigma, "psnr": psnr},
    )


@entry("tv-denoising-1d", "bilevel")
def tv_denoising_1d(n_signals: int = 16, length: int = 256, sigma: float = 0.1,
                    seed: int = 0) -> BilevelProblem:
    r"""Learn ``(log α, log ν)`` of smoothed-TV denoising of 1-D piecewise-constant signals (E2).

    Parameters
    ----------
    n_signals : int, default 16
        Number ``N`` of training signals.
    length : int, default 256
        Samples per signal (at least 2).
    sigma : float, default 0.1
        Standard deviation of the Gaussian noise.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    BilevelProblem
        ``x = (log α, log ν) ∈ R²``, ``y ∈ R^{N·length}`` the denoised signals stacked row by
        row (``y.reshape(N, length)``). ``x0 = (-5, -5)`` (as in the reference code), ``y0`` the
        noisy signals, ``f_opt = None`` (unknown). Constants: ``lower_strong_convexity = 1``,
        ``lower_smoothness(x) = 1 + 2 e^{x0 - x1}``, ``upper_smoothness = 1/N``.
        ``info``: ``"clean"`` and ``"noisy"`` (``(N, length)`` arrays), ``"sigma"``, and
        ``"psnr"``: ``y -> `` the mean over the signals of ``20 log10(1/sqrt(mse))``, ``y``
        clipped to ``[0, 1]`` first (``y`` stacked or ``(N, length)``).

    Notes
    -----
    Each clean signal has 2 to 7 jumps at distinct random positions and a level ``U(0, 1)`` on
    each piece; noise is added after all signals are drawn. With ``D`` the forward differences
    (``(Du)_j = u_{j+1} - u_j``, ``length - 1`` rows), ``α = e^{x_0}``, ``ν = e^{x_1}``:

    .. math::

        f(x, y) = \sum_i \tfrac12 \|y_i - z_i\|^2
                  + \tfrac12 e^{x_0} \sum_i \sum_j \sqrt{(D y_i)_j^2 + e^{2 x_1}}, \qquad
        F(x, y) = \frac{1}{2N} \sum_i \|y_i - c_i\|^2

    (``z`` noisy, ``c`` clean). The constants are proven bounds: with ``ψ(t) = sqrt(t² + ν²)``,
    ``∇²_yy f = I + ½ α Dᵀ diag(ψ''(Dy)) D`` and ``0 < ψ''(t) = ν²/(t² + ν²)^{3/2} <= 1/ν``, so
    ``I ⪯ ∇²_yy f ⪯ (1 + ½ α ‖D‖²/ν) I`` and ``‖D‖² <= 4``
    (``‖Du‖² = Σ (u_{j+1} - u_j)² <= 2 Σ (u_{j+1}² + u_j²) <= 4‖u‖²``).

    Examples
    --------
    >>> from problems.bilevel import tv_denoising_1d
    >>> p = tv_denoising_1d(n_signals=4, length=64)
    >>> p.n, p.m
    (2, 256)
    >>> p.info["noisy"].shape
    (4, 64)
    >>> print(f"{p.constant('lower_smoothness', p.x0):.1f}")
    3.0
    """
    N = check_int("n_signals", n_signals, 1)
    n = check_int("length", length, 2)
    sigma = _check_positive("sigma", sigma, strict=False)
    rng = np.random.default_rng(seed)
    clean = _piecewise_constant(N, n, rng)
    noisy = clean + sigma * rng.standard_normal((N, n))
    name = "tv-denoising-1d" if (N, n) == (16, 256) else f"tv-denoising-1d-{N}x{n}"
    return _tv_denoising(clean, noisy, sigma, name)


# -- E2 (2-D): smoothed total-variation denoising of synthetic images ---------------------------


def _shapes_images(n_images: int, size: int, rng: np.random.Generator) -> Array:
    """Images with 2 to 4 axis-aligned rectangles or disks (intensity ``U(0, 1)`` each, later
    ones on top) on a constant background ``U(0, 1)``."""
    rows, cols = np.mgrid[0:size, 0:size]
    images = np.empty((n_images, size, size))
    for i in range(n_images):
        image = np.full((size, size), rng.uniform(0.0, 1.0))
        for _ in range(int(rng.integers(2, 5))):
            level = rng.uniform(0.0, 1.0)
            if rng.random() < 0.5:  # rectangle: two corners, at least 3 pixels a side
                r0, c0 = rng.integers(0, size - 3, 2)
                r1, c1 = r0 + rng.integers(3, size - r0 + 1), c0 + rng.integers(3, size - c0 + 1)
                image[r0:r1, c0:c1] = level
            else:  # disk: centre inside, radius between size/8 and size/3
                r, c = rng.uniform(0, size, 2)
                radius = rng.uniform(size / 8, size / 3)
                image[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = level
        images[i] = image
    return images


@entry("tv-denoising-2d", "bilevel")
def tv_denoising_2d(n_images: int = 8, size: int = 32, sigma: float = 0.1,
                    seed: int = 0) -> BilevelProblem:
    r"""Learn ``(log α, log ν)`` of anisotropic smoothed-TV denoising of synthetic images (E2).

    Parameters
    ----------
    n_images : int, default 8
        Number ``N`` of training images.
    size : int, default 32
        Images are ``size x size`` (at least 4).
    sigma : float, default 0.1
        Standard deviation of the Gaussian noise.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    BilevelProblem
        ``x = (log α, log ν) ∈ R²``, ``y ∈ R^{N·size²}`` the denoised images stacked
        (``y.reshape(N, size, size)``), ``x0 = (-5, -5)``, ``y0`` the noisy images,
        ``f_opt = None``. Constants: ``lower_strong_convexity = 1``,
        ``lower_smoothness(x) = 1 + 4 e^{x0 - x1}``, ``upper_smoothness = 1/N``. ``info``:
        ``"clean"`` and ``"noisy"`` (``(N, size, size)`` arrays), ``"sigma"`` and ``"psnr"``
        (``y ->`` the mean over the images of ``20 log10(1/sqrt(mse))``, ``y`` clipped to
        ``[0, 1]`` first).

    Notes
    -----
    Each clean image has a constant background and 2 to 4 axis-aligned rectangles or disks,
    every intensity ``U(0, 1)``. With ``D_r`` and ``D_c`` the forward differences down the
    rows and along the columns (no wrap-around), the lower objective is the anisotropic

    .. math::

        f(x, y) = \sum_i \tfrac12 \|y_i - z_i\|^2 + \tfrac12 e^{x_0} \sum_i \Big(
                  \sum_j \sqrt{(D_r y_i)_j^2 + e^{2 x_1}}
                  + \sum_j \sqrt{(D_c y_i)_j^2 + e^{2 x_1}}\Big),

    and ``F`` is as in :func:`tv_denoising_1d`. The smoothness bound follows as in 1-D, with
    ``‖D_r‖² + ‖D_c‖² <= 8``: ``∇²_yy f ⪯ (1 + ½ α · 8/ν) I``.

    Examples
    --------
    >>> from problems.bilevel import tv_denoising_2d
    >>> p = tv_denoising_2d(n_images=2, size=16)
    >>> p.n, p.m
    (2, 512)
    >>> p.info["clean"].shape
    (2, 16, 16)
    >>> print(f"{p.constant('lower_smoothness', p.x0):.1f}")
    5.0
    """
    N = check_int("n_images", n_images, 1)
    size = check_int("size", size, 4)
    sigma = _check_positive("sigma", sigma, strict=False)
    rng = np.random.default_rng(seed)
    clean = _shapes_images(N, size, rng)
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    name = "tv-denoising-2d" if (N, size) == (8, 32) else f"tv-denoising-2d-{N}x{size}"
    return _tv_denoising(clean, noisy, sigma, name)


# -- per-feature ridge regression ----------------------------------------------------------------


@entry("ridge-per-feature", "bilevel")
def ridge_per_feature(n_features: int = 50, n_informative: int = 5, n_train: int = 100,
                      n_val: int = 100, n_test: int = 1000, noise: float = 1.0,
                      seed: int = 0) -> BilevelProblem:
    r"""Ridge regression with one penalty per feature, tuned on a validation set.

    Parameters
    ----------
    n_features : int, default 50
        Number ``d`` of features (the dimension of both ``x`` and ``y``).
    n_informative : int, default 5
        Number of features with a nonzero true coefficient (at most ``d``).
    n_train, n_val, n_test : int, default 100, 100, 1000
        Sizes of the three splits.
    noise : float, default 1.0
        Standard deviation of the Gaussian noise on the targets.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    BilevelProblem
        ``x ∈ R^d`` the log penalties, ``y ∈ R^d`` the coefficients; ``x0 = 0`` (penalties 1),
        ``y0 = 0``, ``f_opt = None``. Constants (functions of ``x``):
        ``lower_strong_convexity(x) = λ_min(X_trᵀX_tr/n_tr) + min e^x`` and
        ``lower_smoothness(x) = λ_max(X_trᵀX_tr/n_tr) + max e^x`` (the computed eigenvalues
        widened by a relative ``1e-10``, ``λ_min`` clipped at 0, so it is 0 when
        ``n_train < d``); ``upper_smoothness = λ_max(X_valᵀX_val)/n_val``. ``info``:
        ``"X_train"``, ``"t_train"``, ``"X_val"``, ``"t_val"``, ``"X_test"``, ``"t_test"``,
        ``"coef_true"``, ``"y_star"`` (``x -> y*(x)`` by a dense solve) and ``"test_mse"``
        (``y -> mean((X_test y - t_test)²)``).

    Notes
    -----
    Features are i.i.d. standard normal; ``n_informative`` true coefficients (at random
    positions, drawn after the features) are ``±U(1, 3)``, the others 0; targets are
    ``X w + noise ξ``. The rows are drawn once and split train / validation / test in this order.

    .. math::

        f(x, y) = \frac{1}{2 n_{tr}} \|X_{tr} y - t_{tr}\|^2 + \tfrac12 \sum_j e^{x_j} y_j^2,
        \qquad F(x, y) = \frac{1}{2 n_{val}} \|X_{val} y - t_{val}\|^2.

    ``∇²_yy f = X_trᵀX_tr/n_tr + diag(e^x)`` and ``∇_x ⟨∇_y f, v⟩ = e^x ⊙ y ⊙ v``. The
    defaults make one shared penalty visibly worse than per-feature ones: with seed 0 the best
    single penalty on the validation set (a RidgeCV-like grid) reaches a test MSE of about 1.7,
    per-feature penalties tuned on the validation set about 1.1 (noise floor 1.0).

    Examples
    --------
    >>> from problems.bilevel import ridge_per_feature
    >>> p = ridge_per_feature(n_features=8, n_informative=2, n_train=40, n_val=20, n_test=50)
    >>> p.n, p.m, p.info["X_test"].shape
    (8, 8, (50, 8))
    """
    d = check_int("n_features", n_features, 1)
    k = check_int("n_informative", n_informative, 0, d)
    n_tr = check_int("n_train", n_train, 1)
    n_val = check_int("n_val", n_val, 1)
    n_te = check_int("n_test", n_test, 0)
    noise = _check_positive("noise", noise, strict=False)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_tr + n_val + n_te, d))
    coef = np.zeros(d)
    support = rng.choice(d, size=k, replace=False)
    coef[support] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(1.0, 3.0, size=k)
    t = X @ coef + noise * rng.standard_normal(X.shape[0])
    X_tr, X_val, X_te = X[:n_tr], X[n_tr:n_tr + n_val], X[n_tr + n_val:]
    t_tr, t_val, t_te = t[:n_tr], t[n_tr:n_tr + n_val], t[n_tr + n_val:]
    G = X_tr.T @ X_tr / n_tr
    b = X_tr.T @ t_tr / n_tr
    lam_lo, lam_hi = _extreme_eigs(G)
    L_g = _extreme_eigs(X_val.T @ X_val / n_val)[1]
    X_tr, X_val, X_te, t_tr, t_val, t_te = map(
        np.ascontiguousarray, (X_tr, X_val, X_te, t_tr, t_val, t_te))
    read_only(X_tr, X_val, X_te, t_tr, t_val, t_te, coef)

    def upper_fun(x: Array, y: Array) -> float:
        return 0.5 * float(np.sum((X_val @ y - t_val) ** 2)) / n_val

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        return np.zeros(d), X_val.T @ (X_val @ y - t_val) / n_val

    def lower_fun(x: Array, y: Array) -> float:
        return (0.5 * float(np.sum((X_tr @ y - t_tr) ** 2)) / n_tr
                + 0.5 * float(np.sum(np.exp(x) * y * y)))

    def lower_grad_y(x: Array, y: Array) -> Array:
        return X_tr.T @ (X_tr @ y - t_tr) / n_tr + np.exp(x) * y

    def lower_grad_x(x: Array, y: Array) -> Array:
        return 0.5 * np.exp(x) * y * y

    def lower_hvp_yy(x: Array, y: Array, v: Array) -> Array:
        return X_tr.T @ (X_tr @ v) / n_tr + np.exp(x) * v

    def lower_hvp_xy(x: Array, y: Array, v: Array) -> Array:
        return np.exp(x) * y * v

    def y_star(x: Array) -> Array:
        return np.linalg.solve(G + np.diag(np.exp(np.asarray(x, dtype=float))), b)

    def test_mse(y: Array) -> float:
        return float(np.mean((X_te @ y - t_te) ** 2))

    return BilevelProblem(
        upper_fun=upper_fun, upper_grad=upper_grad, lower_fun=lower_fun,
        lower_grad_y=lower_grad_y, lower_grad_x=lower_grad_x,
        lower_hvp_yy=lower_hvp_yy, lower_hvp_xy=lower_hvp_xy,
        x0=np.zeros(d), y0=np.zeros(d),
        lower_strong_convexity=lambda x: lam_lo + float(np.exp(np.min(x))),
        lower_smoothness=lambda x: lam_hi + float(np.exp(np.max(x))),
        upper_smoothness=L_g,
        name="ridge-per-feature" if d == 50 else f"ridge-per-feature-{d}",
        info={"X_train": X_tr, "t_train": t_tr, "X_val": X_val, "t_val": t_val,
              "X_test": X_te, "t_test": t_te, "coef_true": coef, "y_star": y_star,
              "test_mse": test_mse},
    )


# -- E4: per-weight L2 penalties of multinomial logistic regression on the digits ----------------


@functools.lru_cache(maxsize=4)
def _digits_splits(seed: int) -> tuple[tuple[Array, NDArray[np.int64]], ...]:
    """Digits features ``/16``, stratified split 1000 train / 400 validation / 397 test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, labels = load_digits(return_X_y=True)
    X = X / 16.0
    labels = np.asarray(labels, dtype=np.int64)
    X_tr, X_rest, l_tr, l_rest = train_test_split(X, labels, train_size=1000, random_state=seed,
                                                  stratify=labels)
    X_val, X_te, l_val, l_te = train_test_split(X_rest, l_rest, train_size=400,
                                                random_state=seed, stratify=l_rest)
    out = tuple((np.ascontiguousarray(a), np.ascontiguousarray(b))
                for a, b in ((X_tr, l_tr), (X_val, l_val), (X_te, l_te)))
    for a, b in out:
        read_only(a, b)
    return out


def _mean_ce(X: Array, onehot: Array, W: Array) -> tuple[float, Array]:
    """Mean cross-entropy of ``softmax(XW)`` against ``onehot`` and its gradient in ``W``."""
    Z = X @ W
    value = -float(np.sum(onehot * log_softmax(Z, axis=1))) / X.shape[0]
    return value, X.T @ (softmax(Z, axis=1) - onehot) / X.shape[0]


@entry("digits-logistic", "bilevel")
def digits_logistic(seed: int = 0, x0: float = -3.0) -> BilevelProblem:
    r"""One L2 penalty per weight of multinomial logistic regression on the digits (E4).

    Parameters
    ----------
    seed : int, default 0
        ``random_state`` of the stratified splits.
    x0 : float, default -3.0
        The starting log penalty (the same for all 640 weights).

    Returns
    -------
    BilevelProblem
        ``y = W.ravel()`` with ``W ∈ R^{64x10}`` (no bias), ``x ∈ R^640`` the log penalties in
        the same layout; ``x0 = -3``, ``y0 = 0``, ``f_opt = None``. Constants:
        ``lower_strong_convexity(x) = min e^x``,
        ``lower_smoothness(x) = ‖X_tr‖₂²/(2 n_tr) + max e^x``,
        ``upper_smoothness = ‖X_val‖₂²/(2 n_val)``. ``info``: ``"X_train"``, ``"labels_train"``,
        ``"X_val"``, ``"labels_val"``, ``"X_test"``, ``"labels_test"`` and ``"accuracy"``
        (``(y, split="test") -> `` the fraction of correct labels on that split).

    Notes
    -----
    scikit-learn's bundled 8x8 digits (1797 samples, no network), features divided by 16, split
    stratified by ``sklearn.model_selection.train_test_split`` into 1000 training samples, then
    the rest into 400 validation and 397 test samples (both with ``random_state=seed``).

    .. math::

        f(x, W) = \frac{1}{n_{tr}} \sum_i \mathrm{CE}(\mathrm{softmax}(W^T a_i), l_i)
                  + \tfrac12 \sum_{jk} e^{x_{jk}} W_{jk}^2,

    and ``F`` the mean cross-entropy on the validation set. The smoothness bounds hold because
    the Hessian of the cross-entropy in the logits, ``diag(p) - ppᵀ``, is at most ``½ I``
    (Böhning's bound), so the data term's Hessian is at most ``½ X ᵀX / n`` (Kronecker ``I``).

    Examples
    --------
    >>> from problems.bilevel import digits_logistic
    >>> p = digits_logistic()
    >>> p.n, p.m, p.info["X_test"].shape
    (640, 640, (397, 64))
    """
    (X_tr, l_tr), (X_val, l_val), (X_te, l_te) = _digits_splits(int(seed))
    x0 = float(x0)
    if not math.isfinite(x0):
        raise ValueError(f"x0 must be finite, got {x0!r}")
    k = 10
    shape = (X_tr.shape[1], k)
    Y_tr, Y_val = np.eye(k)[l_tr], np.eye(k)[l_val]
    L_data = _extreme_eigs(X_tr.T @ X_tr)[1] / (2 * X_tr.shape[0])
    L_g = _extreme_eigs(X_val.T @ X_val)[1] / (2 * X_val.shape[0])

    def upper_fun(x: Array, y: Array) -> float:
        return _mean_ce(X_val, Y_val, y.reshape(shape))[0]

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        return np.zeros(y.shape[0]), _mean_ce(X_val, Y_val, y.reshape(shape))[1].ravel()

    def lower_fun(x: Array, y: Array) -> float:
        return _mean_ce(X_tr, Y_tr, y.reshape(shape))[0] + 0.5 * float(np.sum(np.exp(x) * y * y))

    def lower_grad_y(x: Array, y: Array) -> Array:
        return _mean_ce(X_tr, Y_tr, y.reshape(shape))[1].ravel() + np.exp(x) * y

    def lower_grad_x(x: Array, y: Array) -> Array:
        return 0.5 * np.exp(x) * y * y

    def lower_hvp_yy(x: Array, y: Array, v: Array) -> Array:
        P = softmax(X_tr @ y.reshape(shape), axis=1)
        Z = X_tr @ np.asarray(v, dtype=float).reshape(shape)
        R = P * (Z - np.sum(P * Z, axis=1, keepdims=True))
        return (X_tr.T @ R).ravel() / X_tr.shape[0] + np.exp(x) * v

    def lower_hvp_xy(x: Array, y: Array, v: Array) -> Array:
        return np.exp(x) * y * v

    splits = {"train": (X_tr, l_tr), "val": (X_val, l_val), "test": (X_te, l_te)}

    def accuracy(y: Array, split: str = "test") -> float:
        if split not in splits:
            raise ValueError(f"split must be one of {sorted(splits)}, got {split!r}")
        X, labels = splits[split]
        return float(np.mean(np.argmax(X @ np.asarray(y).reshape(shape), axis=1) == labels))

    size = shape[0] * k
    return BilevelProblem(
        upper_fun=upper_fun, upper_grad=upper_grad, lower_fun=lower_fun,
        lower_grad_y=lower_grad_y, lower_grad_x=lower_grad_x,
        lower_hvp_yy=lower_hvp_yy, lower_hvp_xy=lower_hvp_xy,
        x0=np.full(size, x0), y0=np.zeros(size),
        lower_strong_convexity=lambda x: float(np.exp(np.min(x))),
        lower_smoothness=lambda x: L_data + float(np.exp(np.max(x))),
        upper_smoothness=L_g,
        name="digits-logistic",
        info={"X_train": X_tr, "labels_train": l_tr, "X_val": X_val, "labels_val": l_val,
              "X_test": X_te, "labels_test": l_te, "accuracy": accuracy},
    )
