"""Linear algebra used by the methods, in ``scipy.sparse.linalg`` style; NumPy only (torch
tensors pass through :func:`cg` by duck typing, and no module here imports torch).

One concern a module:

- :mod:`~optkit.linalg.conjugate_gradient`: :func:`cg`, the one conjugate gradient of optkit
  (NumPy arrays of any shape, torch tensors on any device);
- :mod:`~optkit.linalg.shifted`: :func:`solve_shifted` for ``(H + λB) δ = -g``, with
  :class:`LowRank`, :class:`Metric` and :func:`fd_hessian_operator`;
- :mod:`~optkit.linalg.forest`: :func:`tree_solve` and :func:`forest_order`, exact solves
  with matrices whose sparsity graph is a forest;
- :mod:`~optkit.linalg.conjugate_direction`: the deep conjugate direction method
  :func:`dcdm`, deflated PCG :func:`deflated_cg`, :func:`ichol0` and :func:`lanczos_ritz`.
"""

from optkit.linalg.conjugate_direction import (
    DCDMIteration,
    active_unknowns,
    dcdm,
    default_model,
    deflated_cg,
    ichol0,
    lanczos_ritz,
    pretrained_dims,
    pretrained_file,
)
from optkit.linalg.conjugate_gradient import cg
from optkit.linalg.forest import ForestOrder, forest_order, tree_solve
from optkit.linalg.shifted import (
    LowRank,
    Metric,
    ShiftedSolve,
    fd_hessian_operator,
    solve_shifted,
)

__all__ = [
    "cg",
    "LowRank", "Metric", "ShiftedSolve", "fd_hessian_operator", "solve_shifted",
    "ForestOrder", "forest_order", "tree_solve",
    "dcdm", "DCDMIteration", "active_unknowns", "default_model", "pretrained_dims",
    "pretrained_file", "ichol0", "lanczos_ritz", "deflated_cg",
]
