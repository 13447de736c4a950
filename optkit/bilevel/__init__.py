"""What every bilevel method shares: hypergradients by the implicit function theorem (CG,
Neumann or exact solves), warm-started lower-level solvers with certified accuracies, the
error and function-value bounds of inexact hypergradients, the stochastic pieces of
single-loop methods (mini-batch draws, lower SGD, Epoch-SGD, the linear-system step, the
stochastic Neumann series), and affine coupled constraints with their projections.

NumPy in, NumPy out, on the oracles of :class:`optkit.BilevelProblem`; it imports no solver.
Every oracle call a method makes through these functions is counted by the driver
(``lower_njev`` for lower-level gradients, ``lower_nhev`` for Hessian-vector products).
"""

from optkit.bilevel.bounds import (
    error_bound,
    estimate_lipschitz,
    estimate_strong_convexity,
    mixed_norm,
    value_bounds,
)
from optkit.bilevel.checks import check_derivatives
from optkit.bilevel.coupled import affine_constraints, affine_projection
from optkit.bilevel.hypergradient import LINSOLVES, HypergradientInfo, hypergradient
from optkit.bilevel.lower import LOWER_SOLVERS, LowerSolve, solve_lower
from optkit.bilevel.stochastic import (
    Oracles,
    SameSamples,
    epoch_sgd,
    lower_sgd,
    neumann,
    project_ball,
    z_step,
)

__all__ = ["hypergradient", "HypergradientInfo", "LINSOLVES", "solve_lower", "LowerSolve",
           "LOWER_SOLVERS", "error_bound", "value_bounds", "estimate_strong_convexity",
           "estimate_lipschitz", "check_derivatives", "mixed_norm", "Oracles", "SameSamples",
           "lower_sgd", "epoch_sgd", "z_step", "neumann", "project_ball", "affine_constraints",
           "affine_projection"]
