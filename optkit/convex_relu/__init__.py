"""Convex training of two-layer ReLU networks (Bai, Gautam and Sojoudi, SIMODS 2023).

The non-convex problem of fitting ``ŷ = Σ_j (X u_j)_+ α_j`` with weight decay is equivalent to
a convex program over activation patterns (Pilanci and Ergen, 2020). This subpackage holds its
pieces: pattern sampling (:mod:`~optkit.convex_relu.patterns`), the convex model, losses and
weight recovery (:mod:`~optkit.convex_relu.model`), the cvxpy reference programs
(:mod:`~optkit.convex_relu.cvx`), ADMM (:mod:`~optkit.convex_relu.admm`), the attacks that
evaluate adversarial robustness (:mod:`~optkit.convex_relu.attacks`) and its problem type
:class:`ReLUTrainingProblem` (:mod:`~optkit.convex_relu.problem`). The methods that solve it are
``convex-relu-admm``, ``convex-relu-scp`` and ``convex-relu-cvxpy`` of
:func:`optkit.minimize`.
"""

from optkit.convex_relu.attacks import ATTACKS, attack_accuracy, fgsm, input_gradient, pgd
from optkit.convex_relu.cvx import solve_cvxpy
from optkit.convex_relu.model import (
    LOSSES,
    SMOOTH_LOSSES,
    check_loss,
    check_targets,
    cone_violation,
    convex_figures,
    convex_objective,
    convex_outputs,
    encode_labels,
    loss_gradient,
    loss_terms,
    loss_value,
    network_objective,
    predict_labels,
    recover_weights,
    relu_outputs,
    softplus,
)
from optkit.convex_relu.patterns import robust_patterns, sample_patterns
from optkit.convex_relu.problem import ReLUTrainingProblem

__all__ = [
    "ATTACKS",
    "LOSSES",
    "SMOOTH_LOSSES",
    "ReLUTrainingProblem",
    "attack_accuracy",
    "fgsm",
    "input_gradient",
    "pgd",
    "check_loss",
    "check_targets",
    "cone_violation",
    "convex_figures",
    "convex_objective",
    "convex_outputs",
    "encode_labels",
    "loss_gradient",
    "loss_terms",
    "loss_value",
    "network_objective",
    "predict_labels",
    "recover_weights",
    "relu_outputs",
    "robust_patterns",
    "sample_patterns",
    "softplus",
    "solve_cvxpy",
]
