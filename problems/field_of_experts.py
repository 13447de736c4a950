r"""Field of Experts (FoE) denoising as a bilevel problem: learn a convolutional image prior.

:func:`field_of_experts` builds experiment E3 of MAID (Salehi et al. 2023), scaled down to a
CPU: learn the weights, smoothings and filters of a Field of Experts regularizer so that the
denoised training images come close to the clean ones. The lower level is a PyTorch function
(the filters enter through convolutions) and every oracle is derived by autograd
(:meth:`optkit.BilevelProblem.from_torch`); importing this module does not import torch.

Notation: ``x`` is the upper variable (MAID's ``θ``), ``y`` the lower one (the images, MAID's
``x``); ``F`` is the upper objective and ``f`` the lower one.

References
----------
.. [1] M. S. Salehi, S. Mukherjee, L. Roberts, M. J. Ehrhardt, "An adaptively inexact first-order
   method for bilevel optimization with application to hyperparameter learning",
   arXiv:2308.10098, 2023.
.. [2] S. Roth, M. J. Black, "Fields of Experts", Int. J. Comput. Vis. 82(2), 2009.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only

__all__ = ["field_of_experts"]

Array = NDArray[np.float64]


def _shape_images(n_images: int, size: int, rng: np.random.Generator) -> Array:
    """Images of 2 to 4 axis-aligned rectangles or disks (intensities ``U(0, 1)``, later
    shapes on top) on a constant background ``U(0, 1)``."""
    rows, cols = np.mgrid[0:size, 0:size]
    images = np.empty((n_images, size, size))
    for image in images:
        image[:] = rng.uniform(0.0, 1.0)
        for _ in range(int(rng.integers(2, 5))):
            level = rng.uniform(0.0, 1.0)
            if rng.uniform() < 0.5:
                top, bottom = np.sort(rng.choice(size + 1, 2, replace=False))
                left, right = np.sort(rng.choice(size + 1, 2, replace=False))
                image[top:bottom, left:right] = level
            else:
                center = rng.uniform(0.0, size, 2)
                radius = rng.uniform(size / 8, size / 4)
                image[(rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius**2] = level
    return images


@entry("foe-denoising", "bilevel")
def field_of_experts(n_images: int = 4, size: int = 32, n_filters: int = 8, filter_size: int = 5,
                     sigma: float = 0.1, seed: int = 0) -> BilevelProblem:
    r"""Learn a Field of Experts denoiser (weights, smoothings, filters) of synthetic images (E3).

    Parameters
    ----------
    n_images : int, default 4
        Number ``N`` of training images.
    size : int, default 32
        Side of the square images (at least ``filter_size + 1``, see Notes).
    n_filters : int, default 8
        Number ``K`` of experts (filters).
    filter_size : int, default 5
        Side ``s`` of the square filters, odd (the padding is ``(s - 1)/2`` on each side).
    sigma : float, default 0.1
        Standard deviation of the Gaussian noise.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` (images, then noise, then the starting filters).

    Returns
    -------
    BilevelProblem
        ``x ∈ R^{1 + 2K + K s²}``: ``x_0`` the log of the global weight, ``x_1..x_K`` the log
        weights of the experts, ``x_{K+1}..x_{2K}`` the log smoothings ``log ν_k``, then the
        ``K`` filters, each ``s x s`` row by row (``x[1 + 2K:].reshape(K, s, s)``).
        ``y ∈ R^{N·size²}`` the denoised images stacked (``y.reshape(N, size, size)``).
        ``x0``: log weights ``-3``, log smoothings ``-3.5``, filters Xavier-normal with zero
        mean (Notes); ``y0`` the noisy images; ``f_opt = None`` (unknown). Constants:
        ``lower_strong_convexity = 1``,
        ``lower_smoothness(x) = 1 + 2 e^{x_0} Σ_k e^{x_k - x_{K+k}} ‖c_k‖_1²`` (``c_k`` the
        filters, Notes), ``upper_smoothness = 1/N``. ``info``: ``"clean"`` and ``"noisy"``
        (``(N, size, size)`` arrays), ``"sigma"``, ``"n_filters"``, ``"filter_size"`` and
        ``"psnr"``: ``y -> `` the mean over the images of ``20 log10(1/sqrt(mse))``, ``y``
        clipped to ``[0, 1]`` first (``y`` stacked or ``(N, size, size)``).

    Raises
    ------
    ValueError
        For a non-integer or too small ``n_images``, ``size``, ``n_filters`` or
        ``filter_size``, an even ``filter_size``, ``size < filter_size + 1``, or a negative or
        non-finite ``sigma``.
    ImportError
        When PyTorch is not installed.

    Notes
    -----
    Each clean image has a constant background ``U(0, 1)`` and 2 to 4 shapes drawn in turn
    (each, with probability ½, a rectangle with distinct corners on the pixel grid or a disk
    of radius ``U(size/8, size/4)``; a level ``U(0, 1)``). Noise is added after all images are
    drawn. Each starting filter is Xavier-normal for an ``s x s`` matrix (standard deviation
    ``sqrt(2/(s + s))``, as the reference code draws it), minus its mean. With ``z_i`` the noisy
    and ``g_i`` the clean images, ``ν_k = e^{x_{K+k}}`` and ``C_k`` the cross-correlation with
    ``c_k`` after reflect padding (the output has the input's size),

    .. math::

        f(x, y) = \sum_i \tfrac12 \|y_i - z_i\|^2 + \tfrac12 e^{x_0} \sum_{k=1}^K e^{x_k}
                  \sum_i \sum_{\text{pixels}} \sqrt{(C_k y_i)^2 + \nu_k^2}, \qquad
        F(x, y) = \frac{1}{2N} \sum_i \|y_i - g_i\|^2.

    The constants are proven bounds. With ``ψ_k(t) = sqrt(t² + ν_k²)``,
    ``∇²_yy f = I + ½ e^{x_0} Σ_k e^{x_k} C_kᵀ diag(ψ_k''(C_k y)) C_k`` (image by image) and
    ``0 < ψ_k''(t) = ν_k²/(t² + ν_k²)^{3/2} <= 1/ν_k``: the experts are convex, so
    ``I ⪯ ∇²_yy f ⪯ (1 + ½ e^{x_0} Σ_k e^{x_k} ‖C_k‖²/ν_k) I``. Then ``‖C_k‖ <= 2‖c_k‖_1``
    (``‖c_k‖_1 = Σ_d |c_k(d)|``): ``C_k = V_k P`` with ``P`` the reflect padding and
    ``V_k = Σ_d c_k(d) S_d`` the valid correlation, a sum of window selections ``S_d``
    (``‖S_d‖ <= 1``), so ``‖V_k‖ <= ‖c_k‖_1``; ``P = P_1 ⊗ P_1`` with ``P_1`` the 1-D reflect
    padding by ``p = (s - 1)/2``, which copies samples ``1..p`` and ``size-1-p..size-2`` once
    more (disjoint when ``size >= s + 1``), so ``‖P_1 u‖² <= 2‖u‖²`` and ``‖P‖ <= 2``. The
    bound is attained: when every filter is the same off-axis delta (``c_k[p+1, p+1] = 1``,
    0-based), ``‖C_k‖ = 2`` and at ``y = 0`` (where ``ψ_k'' = 1/ν_k``) ``λ_max(∇²_yy f)``
    equals it. (MAID's spec gives ``1 + e^{x_0} Σ_k e^{x_k - x_{K+k}} ‖c_k‖_1²``: valid for
    zero padding, where ``‖P‖ = 1``, but not for reflect padding, as this delta shows.)
    ``μ = 1`` is attained too while the filters have zero mean (constant images lie in the
    kernel of every ``C_k``). ``∇_y F = (y - g)/N``, hence ``L_g = 1/N``.

    Examples
    --------
    >>> from problems.field_of_experts import field_of_experts
    >>> p = field_of_experts(n_images=2, size=8, n_filters=2, filter_size=3)
    >>> p.n, p.m
    (23, 128)
    >>> p.info["noisy"].shape
    (2, 8, 8)
    >>> p.lower_strong_convexity, p.upper_smoothness
    (1.0, 0.5)
    >>> bool(p.constant("lower_smoothness", p.x0) > 1)
    True
    """
    N = check_int("n_images", n_images, 1)
    K = check_int("n_filters", n_filters, 1)
    s = check_int("filter_size", filter_size, 1)
    if s % 2 == 0:
        raise ValueError(f"filter_size must be odd, got {s}")
    size = check_int("size", size, s + 1)
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
    try:  # torch only here, so that importing the zoo needs no torch
        import torch
        import torch.nn.functional as tf
    except ImportError as err:
        raise ImportError("field_of_experts needs PyTorch: pip install optkit[torch]") from err

    rng = np.random.default_rng(seed)
    clean = _shape_images(N, size, rng)
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    filters = rng.normal(0.0, math.sqrt(2.0 / (s + s)), (K, s, s))
    filters -= filters.mean(axis=(1, 2), keepdims=True)
    read_only(clean, noisy)
    x0 = np.concatenate([[-3.0], np.full(K, -3.0), np.full(K, -3.5), filters.ravel()])
    p = (s - 1) // 2
    clean_t, noisy_t = (torch.tensor(a.reshape(N, 1, size, size)) for a in (clean, noisy))

    def upper(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.sum((y.reshape(clean_t.shape) - clean_t) ** 2) / N

    def lower(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        images = y.reshape(noisy_t.shape)
        responses = tf.conv2d(tf.pad(images, (p, p, p, p), mode="reflect"),
                              x[1 + 2 * K:].reshape(K, 1, s, s))           # (N, K, size, size)
        nu2 = torch.exp(2.0 * x[1 + K:1 + 2 * K]).reshape(1, K, 1, 1)
        experts = torch.sum(torch.sqrt(responses**2 + nu2), dim=(0, 2, 3))  # (K,)
        return (0.5 * torch.sum((images - noisy_t) ** 2)
                + 0.5 * torch.exp(x[0]) * torch.sum(torch.exp(x[1:1 + K]) * experts))

    def lower_smoothness(x: Array) -> float:
        l1 = np.abs(np.asarray(x[1 + 2 * K:], dtype=float)).reshape(K, s * s).sum(axis=1)
        return 1.0 + 2.0 * math.exp(x[0]) * math.fsum(
            math.exp(x[1 + k] - x[1 + K + k]) * l1[k] ** 2 for k in range(K))

    def psnr(y: ArrayLike) -> float:
        err = np.clip(np.asarray(y, dtype=float).reshape(clean.shape), 0.0, 1.0) - clean
        mse = np.mean(err**2, axis=(1, 2))
        with np.errstate(divide="ignore"):  # a perfect image has an infinite PSNR
            return float(np.mean(-10.0 * np.log10(mse)))

    default = (N, size, K, s) == (4, 32, 8, 5)
    return BilevelProblem.from_torch(
        upper, lower, x0, noisy.ravel().copy(),
        lower_strong_convexity=1.0, lower_smoothness=lower_smoothness,
        upper_smoothness=1.0 / N,
        name="foe-denoising" if default else f"foe-denoising-{N}x{size}-{K}x{s}",
        info={"clean": clean, "noisy": noisy, "sigma": sigma, "psnr": psnr,
              "n_filters": K, "filter_size": s},
    )
