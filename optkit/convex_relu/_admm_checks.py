"""The accepted values of :class:`~optkit.convex_relu.admm.ADMM`'s parameters, in one place.

The kernel checks its arguments against these constraints (it is public: called directly, a
zero ``rho`` or a misspelled ``u_system`` would otherwise fail far from the cause or fall
back silently), and the options of ``method="convex-relu-admm"`` declare the same objects as
their ``check=``, so that each rule is written once and the docs show it.
"""

from __future__ import annotations

from optkit._checks import POSITIVE, POSITIVE_INT, Constraint, Interval, OneOf

__all__ = ["ADMM_CHECKS", "U_SOLVERS", "U_SYSTEMS"]

#: Inexact u-steps for the bce loss.
U_SOLVERS = ("mm", "rbcd")
#: How the ``dP x dP`` part of the u-step is solved.
U_SYSTEMS = ("auto", "cholesky", "cg")

#: ADMM's parameter name to its constraint.
ADMM_CHECKS: dict[str, Constraint] = {
    "rho": POSITIVE,
    "dual_step": Interval(0, 2, closed="right"),
    "relaxation": Interval(0, 2, closed="right"),
    "u_solver": OneOf(*U_SOLVERS),
    "u_steps": POSITIVE_INT,
    "u_system": OneOf(*U_SYSTEMS),
    "max_factor": POSITIVE_INT,
}
