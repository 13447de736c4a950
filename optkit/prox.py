r"""Proximal operators and projections, written once.

The proximal operator of a function ``g`` with step ``t`` is

.. math::

    \operatorname{prox}_{t g}(x)
    = \operatorname*{argmin}_z\ g(z) + \tfrac{1}{2t}\lVert z - x\rVert^2,

and the projection on a closed convex set is the proximal operator of its indicator. Every
function here works elementwise on NumPy arrays (and scalars), returns a new array and leaves
its input alone; composite problems (:class:`optkit.GLMProblem`), FISTA
(:mod:`optkit.convex_relu.scp`) and the proximal block methods call them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["soft_threshold", "prox_l1", "project_nonneg", "project_box"]

Array = NDArray[np.float64]


def soft_threshold(x: ArrayLike, t: ArrayLike) -> Array:
    r"""Soft-thresholding :math:`\operatorname{sign}(x)\max(|x| - t, 0)`, elementwise.

    The proximal operator of :math:`t\lVert\cdot\rVert_1`: entries with ``|x| <= t`` become 0,
    the others move ``t`` towards 0.

    Parameters
    ----------
    x : array_like
        The point.
    t : float or array_like
        The threshold, non-negative; an array broadcasts against ``x`` (one threshold per
        entry: a weighted ℓ1 norm).

    Returns
    -------
    ndarray
        ``sign(x) * max(|x| - t, 0)``, of the broadcast shape of ``x`` and ``t``.

    Examples
    --------
    >>> import numpy as np
    >>> soft_threshold(np.array([-3.0, -0.5, 0.0, 0.5, 3.0]), 1.0)
    array([-2., -0.,  0.,  0.,  2.])
    >>> soft_threshold(np.array([2.0, 2.0]), np.array([1.0, 3.0]))
    array([1., 0.])
    """
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def prox_l1(x: ArrayLike, t: ArrayLike, *, nonneg: bool = False) -> Array:
    r"""The proximal operator of :math:`t\lVert\cdot\rVert_1`, or of
    :math:`t\lVert\cdot\rVert_1 + I_{\ge 0}` with ``nonneg``.

    Without ``nonneg`` it is :func:`soft_threshold`. With it the function is
    :math:`t\sum_i z_i` on the non-negative orthant (where the ℓ1 norm is linear) and
    :math:`+\infty` outside, and the minimizer is :math:`\max(x - t, 0)`.

    Parameters
    ----------
    x : array_like
        The point.
    t : float or array_like
        The weight times the step, non-negative (broadcast against ``x``).
    nonneg : bool, default False
        Add the constraint ``z >= 0``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([-3.0, 0.5, 3.0])
    >>> prox_l1(x, 1.0)
    array([-2.,  0.,  2.])
    >>> prox_l1(x, 1.0, nonneg=True)
    array([0., 0., 2.])
    """
    if nonneg:
        return project_nonneg(np.subtract(x, t))
    return soft_threshold(x, t)


def project_nonneg(x: ArrayLike) -> Array:
    """The Euclidean projection on the non-negative orthant, ``max(x, 0)`` elementwise.

    Parameters
    ----------
    x : array_like

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> project_nonneg(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    return np.maximum(x, 0.0)


def project_box(x: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> Array:
    """The Euclidean projection on the box ``lower <= z <= upper``, elementwise.

    Parameters
    ----------
    x : array_like
    lower, upper : float or array_like
        The bounds (broadcast against ``x``), with ``lower <= upper``; ``-inf`` and ``inf``
        leave a side open.

    Returns
    -------
    ndarray
        ``min(max(x, lower), upper)``.

    Examples
    --------
    >>> import numpy as np
    >>> project_box(np.array([-2.0, 0.5, 2.0]), -1.0, 1.0)
    array([-1. ,  0.5,  1. ])
    >>> project_box(np.array([-2.0, 2.0]), np.array([0.0, -np.inf]), np.array([np.inf, 1.0]))
    array([0., 1.])
    """
    return np.clip(x, lower, upper)
