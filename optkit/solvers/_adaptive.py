"""The Adam family's update as one pure NumPy function, and the solver plumbing it shares.

:func:`adaptive_update` is the reference for the math of ``adam`` and ``diffgrad`` (and of the
torch optimizer :class:`optkit.torch.DiffGrad`, which is tested against it): it takes arrays and
returns new ones, never changing its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from optkit._checks import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Interval
from optkit.problem import Problem
from optkit.solvers.base import Options, Solver, State, option

Array = NDArray[np.float64]

FRICTIONS = ("abs_sigmoid", "sigmoid", "none")
EPS_MODES = ("torch", "paper")


class AdaptiveStep(NamedTuple):
    """What :func:`adaptive_update` returns."""

    x: Array
    m: Array
    v: Array
    v_max: Array | None
    g: Array
    """The gradient the moments saw (with coupled weight decay): the next ``g_prev``."""
    xi: Array | float
    """The friction coefficient (1.0 without friction)."""


def friction_coefficient(g_prev: Array, g: Array, friction: str) -> Array | float:
    """diffGrad's friction ``ξ``: ``sigmoid(|g_prev - g|)`` (``"abs_sigmoid"``),
    ``sigmoid(g_prev - g)`` (``"sigmoid"``), or 1 (``"none"``: Adam)."""
    if friction == "abs_sigmoid":
        return expit(np.abs(g_prev - g))
    if friction == "sigmoid":
        return expit(g_prev - g)
    return 1.0


def adaptive_update(
    x: Array,
    g: Array,
    m: Array,
    v: Array,
    v_max: Array | None,
    g_prev: Array,
    t: int,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    friction: str = "abs_sigmoid",
    eps_mode: str = "torch",
    amsgrad: bool = False,
    rectify: bool = False,
    n_sma_threshold: float = 5.0,
) -> AdaptiveStep:
    r"""One step of diffGrad (Adam with ``friction="none"``), as a pure function.

    .. math::

        g_t &\leftarrow g_t + \lambda x_{t-1} \quad\text{(coupled weight decay)}, \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        \xi_t &= \operatorname{sigmoid}(|g_{t-1} - g_t|), \\
        x_t &= x_{t-1} - \alpha\, \xi_t\, \hat m_t / (\sqrt{\hat v_t} + \epsilon),

    with :math:`\hat m_t = m_t/(1 - \beta_1^t)`, :math:`\hat v_t = v_t/(1 - \beta_2^t)`.

    Parameters
    ----------
    x, g, m, v : ndarray
        Parameters, gradient at ``x``, first and second moments before the step.
    v_max : ndarray or None
        Running maximum of ``v`` (``amsgrad``), else ``None``.
    g_prev : ndarray
        The previous step's gradient (zeros at ``t = 1``).
    t : int
        The step number, from 1.
    lr, beta1, beta2, eps : float
        Step size, moment decay rates, denominator offset.
    weight_decay : float
        L2 weight ``λ``: added to the gradient (coupled), or ``x ← x(1 - α λ)`` first when
        ``decoupled_weight_decay`` (AdamW style).
    friction : {"abs_sigmoid", "sigmoid", "none"}
        The friction coefficient (see :func:`friction_coefficient`).
    eps_mode : {"torch", "paper"}
        ``"torch"``: the reference code's form, ``α √(1-β₂ᵗ)/(1-β₁ᵗ) · ξ m / (√v + ε)``
        (``ε`` outside the uncorrected root); ``"paper"``: ``ε`` added to ``√v̂``.
    amsgrad : bool
        Use the running maximum of ``v`` in the denominator.
    rectify : bool
        RAdam's rectified step (diffRGrad): while the SMA length ``ρ_t`` is below
        ``n_sma_threshold`` the step is the un-normalized ``α m / (1 - β₁ᵗ)``.

    Returns
    -------
    AdaptiveStep
        New arrays; the inputs are not changed.
    """
    if weight_decay and not decoupled_weight_decay:
        g = g + weight_decay * x
    else:
        g = g.copy()  # kept as the next g_prev: never an alias of the caller's array
        if weight_decay:
            x = x * (1.0 - lr * weight_decay)
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * (g * g)
    if amsgrad:
        v_max = v if v_max is None else np.maximum(v_max, v)
    xi = friction_coefficient(g_prev, g, friction)
    bc1 = 1.0 - beta1**t
    bc2 = 1.0 - beta2**t
    denom_v = v_max if amsgrad else v
    if rectify:
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho = rho_inf - 2.0 * t * beta2**t / bc2
        if rho < n_sma_threshold:
            return AdaptiveStep(x - (lr / bc1) * m, m, v, v_max, g, xi)
        r = math.sqrt(bc2 * (rho - 4.0) * (rho - 2.0) * rho_inf
                      / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
        step = xi * m / (np.sqrt(denom_v) + eps)
        return AdaptiveStep(x - (lr * r / bc1) * step, m, v, v_max, g, xi)
    if eps_mode == "torch":
        step = (lr * math.sqrt(bc2) / bc1) * (xi * m / (np.sqrt(denom_v) + eps))
    else:
        step = lr * xi * (m / bc1) / (np.sqrt(denom_v / bc2) + eps)
    return AdaptiveStep(x - step, m, v, v_max, g, xi)


# -- the solver plumbing shared by adam and diffgrad -----------------------------------------


@dataclass(frozen=True, kw_only=True)
class AdaptiveOptions(Options):
    """Options of the Adam family."""

    maxiter: int = option(10_000, "Maximum number of iterations.")
    gtol: float = option(
        1e-5, "Stop when the gradient's max-norm is at most gtol (full-gradient runs only).",
        check=NON_NEGATIVE
    )
    lr: float = option(1e-3, "Learning rate (step size).", check=POSITIVE)
    beta1: float = option(0.9, "Decay rate of the first-moment estimate.",
                          check=Interval(0, 1, closed="left"))
    beta2: float = option(0.999, "Decay rate of the second-moment estimate.",
                          check=Interval(0, 1, closed="left"))
    eps: float = option(1e-8, "Added to the denominator's square root.", check=NON_NEGATIVE)
    batch_size: int | None = option(
        None, "Mini-batch size drawn with problem.sample each step; None uses full gradients.",
        check=(POSITIVE_INT, None)
    )


@dataclass(frozen=True)
class AdaptiveState(State):
    """Moments, the previous gradient and the step count of the Adam family, and the mean
    friction coefficient of the last step (history column ``xi_mean``; 1 for Adam)."""

    m: Array | None = None
    v: Array | None = None
    v_max: Array | None = None
    g_prev: Array | None = None
    k: int = 0
    xi_mean: float = float("nan")
    #: The run's random generator (mini-batch runs), drawn from in place.
    rng: np.random.Generator | None = None

    def record(self) -> dict[str, Any]:
        return {"xi_mean": self.xi_mean}


class AdaptiveSolver(Solver):
    """Full-gradient or mini-batch runs of :func:`adaptive_update`.

    With ``batch_size``, each step's gradient is that of ``problem.sample(batch_size, rng)`` at
    ``x_k``; the history's ``fun`` is then that mini-batch's loss at ``x_k`` (as in training
    logs), there is no gradient test, and ``res.fun`` is the full objective at ``res.x``.
    """

    def update_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`adaptive_update` besides lr, betas and eps."""
        return {}

    def init(self, problem: Problem, x0: Array) -> AdaptiveState:
        zeros = np.zeros_like(x0)
        if self.options.batch_size is not None:
            if problem.sample is None:
                raise TypeError(f"batch_size needs a stochastic problem (with sample); "
                                f"{problem.name!r} has none")
            return AdaptiveState(x0, problem.value(x0), m=zeros, v=zeros, g_prev=zeros,
                                 rng=self.generator())
        f, g = problem.value_and_grad(x0)
        return AdaptiveState(x0, f, g, m=zeros, v=zeros, g_prev=zeros)

    def step(self, problem: Problem, state: AdaptiveState) -> AdaptiveState:
        opts = self.options
        if opts.batch_size is None:
            g = state.grad
        else:
            f_batch, g = problem.sample(opts.batch_size, state.rng).value_and_grad(state.x)
        k = state.k + 1
        new = adaptive_update(state.x, g, state.m, state.v, state.v_max, state.g_prev, k,
                              lr=opts.lr, beta1=opts.beta1, beta2=opts.beta2, eps=opts.eps,
                              **self.update_options())
        xi_mean = float(np.mean(new.xi))
        if opts.batch_size is None:
            f, g_new = problem.value_and_grad(new.x)
            return AdaptiveState(new.x, f, g_new, m=new.m, v=new.v, v_max=new.v_max,
                                 g_prev=new.g, k=k, xi_mean=xi_mean)
        return AdaptiveState(new.x, f_batch, m=new.m, v=new.v, v_max=new.v_max, g_prev=new.g,
                             k=k, xi_mean=xi_mean, rng=state.rng)

    def postprocess(self, problem: Problem, state: AdaptiveState, status: Any) -> dict:
        fun = state.fun if self.options.batch_size is None else problem.value(state.x)
        return {"x": state.x, "fun": fun, "jac": state.grad}
