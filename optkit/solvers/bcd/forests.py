"""Forest-structured blocks of a quadratic (spec section 5): the message-passing rules.

``red_black`` and ``tree_partition`` cycle through fixed blocks (on a lattice when the problem
knows its grid, ``info["grid_shape"]`` and ``info["labelled"]``, else on the graph of ``Q``);
``greedy_tree`` and ``random_tree`` build one maximal forest per iteration, from the nodes
sorted by ``|g_i|`` or shuffled; ``general`` is the paper's baseline, the ``⌊n^{1/3}⌋``
largest ``|g_i|`` with a dense solve (the same ``O(n)`` cost per iteration).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit.graphs import (
    comb_partition,
    forest_partition,
    greedy_coloring,
    greedy_forest,
    red_black_lattice,
    remove_nodes,
)

Index = NDArray[np.intp]

TREE_RULES = ("red_black", "tree_partition", "greedy_tree", "random_tree", "general")


def fixed_forests(kind: str, problem: Any, L: NDArray[np.float64]) -> list[Index]:
    """The fixed forest blocks of ``red_black`` or ``tree_partition`` (variable indices)."""
    info = problem.info
    if "grid_shape" in info and "labelled" in info:
        nrows, ncols = info["grid_shape"]
        grid = red_black_lattice(nrows, ncols) if kind == "red_black" else \
            comb_partition(nrows, ncols)
        return remove_nodes(grid, info["labelled"], nrows * ncols)
    order = np.argsort(-L, kind="stable")  # the paper visits nodes in descending L_i
    if kind == "red_black":
        return greedy_coloring(problem.Q, order)
    return forest_partition(problem.Q, order)


def adaptive_forest(kind: str, problem: Any, g: NDArray[np.float64],
                    rng: np.random.Generator) -> Index:
    """This iteration's block of ``greedy_tree`` (largest ``|g_i|`` first) or
    ``random_tree``."""
    order = np.argsort(-np.abs(g), kind="stable") if kind == "greedy_tree" else \
        rng.permutation(g.size)
    return np.sort(greedy_forest(problem.Q, order))
