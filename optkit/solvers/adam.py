"""Adam, on full gradients or on mini-batches (``problem.sample``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optkit.problem import Problem
from optkit.registry import register
from optkit.solvers.base import Options, Solver, State, check_option, option


@dataclass(frozen=True, kw_only=True)
class AdamOptions(Options):
    """Options of ``method="adam"``."""

    maxiter: int = option(10_000, "Maximum number of iterations.")
    gtol: float = option(
        1e-5, "Stop when the gradient's max-norm is at most gtol (full-gradient runs only)."
    )
    lr: float = option(1e-3, "Learning rate.")
    beta1: float = option(0.9, "Decay rate of the first-moment estimate.")
    beta2: float = option(0.999, "Decay rate of the second-moment estimate.")
    eps: float = option(1e-8, "Added to the denominator's square root.")
    batch_size: int | None = option(
        None, "Mini-batch size drawn with problem.sample each step; None uses full gradients."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_option(self, "gtol", strict=False)
        check_option(self, "lr")
        check_option(self, "beta1", strict=False, high=1.0)
        check_option(self, "beta2", strict=False, high=1.0)
        if self.beta1 >= 1.0 or self.beta2 >= 1.0:
            raise ValueError("options 'beta1' and 'beta2' must be < 1")
        check_option(self, "eps", strict=False)
        check_option(self, "batch_size", low=1, strict=False, integer=True, none=True)


@dataclass(frozen=True)
class AdamState(State):
    """Adam's moment estimates and step count."""

    m: NDArray[np.float64] | None = None
    v: NDArray[np.float64] | None = None
    k: int = 0


@register("adam", options=AdamOptions, needs=("grad",), tol=("gtol",), stochastic=True,
          flagship=("logistic-breast-cancer",), peers=("gd", "nesterov", "scipy:L-BFGS-B"))
class Adam(Solver):
    r"""Adam (Kingma and Ba, 2015).

    .. math::

        m_k &= \beta_1 m_{k-1} + (1 - \beta_1) g_k, \qquad
        v_k = \beta_2 v_{k-1} + (1 - \beta_2) g_k^2, \\
        x_{k+1} &= x_k - \mathrm{lr}\,
        \frac{m_k / (1 - \beta_1^k)}{\sqrt{v_k / (1 - \beta_2^k)} + \epsilon}.

    With ``batch_size``, ``g_k`` is the gradient of ``problem.sample(batch_size, rng)`` at
    ``x_k``; the history's ``fun`` is then that mini-batch's loss at ``x_k`` (as in training
    logs), there is no gradient test, and ``res.fun`` is the full objective at ``res.x``.

    Status codes: 0 (full-gradient runs), 1, 3, 4, 99.

    References
    ----------
    Kingma and Ba, "Adam: A method for stochastic optimization", ICLR 2015.
    """

    def init(self, problem: Problem, x0: NDArray[np.float64]) -> AdamState:
        zeros = np.zeros_like(x0)
        if self._stochastic(problem):
            return AdamState(x0, problem.value(x0), m=zeros, v=zeros)
        f, g = problem.value_and_grad(x0)
        return AdamState(x0, f, g, m=zeros, v=zeros)

    def _stochastic(self, problem: Problem) -> bool:
        if self.options.batch_size is None:
            return False
        if problem.sample is None:
            raise TypeError(f"batch_size needs a stochastic problem (with sample); "
                            f"{problem.name!r} has none")
        return True

    def step(self, problem: Problem, state: AdamState) -> AdamState:
        opts = self.options
        if opts.batch_size is None:
            g = state.grad
        else:
            batch = problem.sample(opts.batch_size, self.rng)
            f_batch, g = batch.value_and_grad(state.x)
        k = state.k + 1
        m = opts.beta1 * state.m + (1.0 - opts.beta1) * g
        v = opts.beta2 * state.v + (1.0 - opts.beta2) * (g * g)
        lr = opts.lr / (1.0 - opts.beta1**k)
        x = state.x - lr * m / (np.sqrt(v / (1.0 - opts.beta2**k)) + opts.eps)
        if opts.batch_size is None:
            f, g_new = problem.value_and_grad(x)
            return AdamState(x, f, g_new, m=m, v=v, k=k)
        return AdamState(x, f_batch, m=m, v=v, k=k)

    def postprocess(self, problem: Problem, state: AdamState, status) -> dict:
        fun = state.fun if self.options.batch_size is None else problem.value(state.x)
        return {"x": state.x, "fun": fun, "jac": state.grad}
