"""optkit: modern optimization methods from papers, behind one scipy-style ``minimize``.

>>> import optkit
>>> optkit.methods()                 # doctest: +SKIP
>>> res = optkit.minimize(problem, method="gd")   # doctest: +SKIP
"""

from optkit import plot
from optkit._minimize import minimize
from optkit.convex_relu.problem import ReLUTrainingProblem
from optkit.problem import (
    BilevelProblem,
    CompositeProblem,
    GLMProblem,
    LinearSystem,
    Problem,
    QuadraticProblem,
)
from optkit.registry import methods, register, registry, show_options
from optkit.result import History, Status
from optkit.solvers import discover as _discover
from optkit.solvers.base import Options, Solver, State, option

_discover()

__version__ = "0.1.0.dev0"

#: Imported on first use: scikit-learn (and the pandas it loads) would double the time of
#: ``import optkit`` (PEP 562).
_LAZY = {"ConvexReLUClassifier": "optkit.estimators", "ConvexReLURegressor": "optkit.estimators"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'optkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

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
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "History",
    "Status",
    "Solver",
    "State",
    "Options",
    "option",
]
