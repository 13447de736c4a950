"""optkit: modern optimization methods from papers, behind one scipy-style ``minimize``.

>>> import optkit
>>> optkit.methods()                 # doctest: +SKIP
>>> res = optkit.minimize(problem, method="gd")   # doctest: +SKIP
"""

from optkit import plot
from optkit._minimize import minimize
from optkit.problem import (
    BilevelProblem,
    CompositeProblem,
    GLMProblem,
    LinearSystem,
    Problem,
    QuadraticProblem,
    ReLUTrainingProblem,
)
from optkit.registry import methods, register, registry, show_options
from optkit.result import History, Status
from optkit.solvers import discover as _discover
from optkit.solvers.base import Options, Solver, State, option

_discover()

__version__ = "0.1.0.dev0"

__all__ = [
    "minimize",
    "methods",
    "show_options",
    "register",
    "registry",
    "plot",
    "Problem",
    "CompositeProblem",
    "QuadraticProblem",
    "GLMProblem",
    "BilevelProblem",
    "LinearSystem",
    "ReLUTrainingProblem",
    "History",
    "Status",
    "Solver",
    "State",
    "Options",
    "option",
]
