"""diffGrad: Adam whose step is scaled by a friction coefficient from the change of gradient."""

from __future__ import annotations

from dataclasses import dataclass

from optkit._checks import NON_NEGATIVE, OneOf
from optkit.registry import register
from optkit.solvers._adaptive import (
    EPS_MODES,
    FRICTIONS,
    AdaptiveOptions,
    AdaptiveSolver,
)
from optkit.solvers.base import option


@dataclass(frozen=True, kw_only=True)
class DiffGradOptions(AdaptiveOptions):
    """Options of ``method="diffgrad"``."""

    weight_decay: float = option(
        0.0, "L2 weight: added to the gradient (coupled, as in the reference code) unless "
             "decoupled_weight_decay.", check=NON_NEGATIVE
    )
    decoupled_weight_decay: bool = option(
        False, "AdamW-style decay: x <- x (1 - lr weight_decay) before the update."
    )
    friction: str = option(
        "abs_sigmoid", "'abs_sigmoid': xi = sigmoid(|g_prev - g|) (the paper's diffGrad); "
                       "'sigmoid': sigmoid(g_prev - g) (the 'version two' without abs); "
                       "'none': xi = 1, which is Adam.", check=OneOf(*FRICTIONS)
    )
    eps_mode: str = option(
        "torch", "'torch': the reference code's lr sqrt(1 - beta2^t) / (1 - beta1^t) "
                 "xi m / (sqrt(v) + eps); 'paper': eps added to sqrt(v_hat).",
        check=OneOf(*EPS_MODES)
    )
    amsgrad: bool = option(False, "Use the running maximum of v in the denominator.")
    rectify: bool = option(
        False, "RAdam's rectified step (diffRGrad): un-normalized momentum steps while the "
               "SMA length is below 5."
    )


#: The paper's setting of the synthetic experiment (Fig. 3): 300 steps of lr 0.1, beta1 0.95.
PAPER_SYNTHETIC = {"lr": 0.1, "beta1": 0.95, "maxiter": 299, "gtol": 0.0}


@register("diffgrad", options=DiffGradOptions, needs=("grad",), tol=("gtol",),
          stochastic=True, backends=("numpy",),
          flagship=("diffgrad-f1", "diffgrad-f2", "diffgrad-f3"), peers=("adam",),
          tour_runs={"diffgrad": ("diffgrad", PAPER_SYNTHETIC), "adam": ("adam", PAPER_SYNTHETIC)},
          tour_caption="f - f* against iterations on the paper's three 1-D functions, at its "
                       "setting (lr = 0.1, 300 iterations): on F1 and F2 diffGrad's friction "
                       "lets it settle into the minimum while Adam stays at a worse point; on "
                       "F3 both oscillate.")
class DiffGrad(AdaptiveSolver):
    r"""diffGrad (Dubey et al., 2020): Adam with a friction coefficient.

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        \xi_t &= \operatorname{sigmoid}(|g_{t-1} - g_t|) \in [\tfrac12, 1), \\
        x_t &= x_{t-1} - \alpha \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}
        \frac{\xi_t\, m_t}{\sqrt{v_t} + \epsilon}

    with ``g_0 = 0`` (so ``ξ_1 = sigmoid(|g_1|)``). Where the gradient barely changes
    (flat regions, near an optimum) the friction halves Adam's step; where it changes fast the
    step is Adam's. The history adds ``xi_mean``, the mean friction coefficient of each step.
    The math is :func:`optkit.solvers._adaptive.adaptive_update`, shared with ``adam`` and
    with the torch optimizer :class:`optkit.torch.DiffGrad`.

    ``eps_mode="torch"`` (default) is the reference code's placement of ``ε``, equal to
    ``"paper"`` with ``ε`` replaced by ``ε / √(1 - β₂ᵗ)``.

    Status codes: 0 (full-gradient runs), 1, 3, 4, 99.

    References
    ----------
    Dubey, Chakraborty, Roy, Mukherjee, Singh and Chaudhuri, "diffGrad: An optimization method
    for convolutional neural networks", IEEE TNNLS 31(11):4500-4511, 2020; arXiv:1909.11015.
    """

    def update_options(self) -> dict:
        o = self.options
        return {"weight_decay": o.weight_decay, "decoupled_weight_decay":
                o.decoupled_weight_decay, "friction": o.friction, "eps_mode": o.eps_mode,
                "amsgrad": o.amsgrad, "rectify": o.rectify}

