"""``optkit.linalg.tree_solve`` against ``scipy.sparse.linalg.spsolve`` on comb-tree blocks.

The matrix is a lattice label-propagation Hessian (spec section 1.4: a weighted graph
Laplacian, weights uniform in [0.5, 2], plus a diagonal shift 0.1) restricted to the white
comb tree of :func:`optkit.graphs.comb_partition` (half the nodes of the grid, one tree of
depth about nrows + ncols). Three cases on the same CSC matrix and right-hand side:
``tree_solve`` with a precomputed :func:`~optkit.linalg.forest_order` (what greedy BCD does on
a fixed block), ``tree_solve`` computing the order, and ``spsolve`` (SuperLU, COLAMD). Goals:
faster than ``spsolve`` on the 1000 x 1000 lattice, and at most linear growth (about 10x time
per 10x nodes, or less).

    python benchmarks/tree_solve.py [--repeat 7] [--sizes 100 316 1000] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os

import numpy as np
import scipy
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from optkit import bench
from optkit.graphs import comb_partition, lattice_graph
from optkit.linalg import forest_order, tree_solve

CASES = ("tree_solve (order given)", "tree_solve (with forest_order)", "spsolve")


def comb_block(k: int, seed: int = 0) -> tuple[sp.csc_array, np.ndarray]:
    """The block Hessian on the white comb tree of a ``k x k`` lattice, and a right-hand side."""
    rng = np.random.default_rng(seed)
    A = sp.triu(lattice_graph(k, k), 1).tocoo()
    W = sp.coo_array((rng.uniform(0.5, 2.0, A.nnz), (A.row, A.col)), shape=A.shape)
    W = (W + W.T).tocsr()
    Q = (sp.diags_array(np.asarray(W.sum(axis=1)) + 0.1) - W).tocsr()
    b = comb_partition(k, k)[0]
    return sp.csc_array(Q[b][:, b]), rng.standard_normal(b.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 316, 1000],
                        help="lattice sides k (k x k grid, the block has about k^2 / 2 nodes)")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results",
                                                      "tree_solve.json"))
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    root, ext = os.path.splitext(args.out)
    summary = []
    for k in args.sizes:
        Q, r = comb_block(k)
        order = forest_order(Q)
        x = tree_solve(Q, r, order=order)
        error = float(np.max(np.abs(x - spla.spsolve(Q, r))) / np.max(np.abs(x)))
        comparison = bench.compare(
            {CASES[0]: functools.partial(tree_solve, Q, r, order=order),
             CASES[1]: functools.partial(tree_solve, Q, r),
             CASES[2]: functools.partial(spla.spsolve, Q, r)},
            repeat=args.repeat,
            meta={"lattice": f"{k} x {k}", "block nodes": Q.shape[0], "nnz": Q.nnz,
                  "tree depth": order.depth, "relative difference": f"{error:.1e}",
                  "scipy": scipy.__version__},
        )
        print(comparison, end="\n\n")
        comparison.write_json(f"{root}_{k}x{k}{ext}")
        summary.append({"k": k, "nodes": Q.shape[0], "depth": order.depth,
                        **{name: comparison[name].median for name in CASES}})
    print("growth of the median time per 10x nodes (10 = linear):")
    for small, large in zip(summary, summary[1:], strict=False):
        scale = large["nodes"] / small["nodes"]
        growth = {name: (large[name] / small[name]) ** (1.0 / math.log10(scale))
                  for name in CASES}
        small_key = f"{small['k']}x{small['k']}"
        large_key = f"{large['k']}x{large['k']}"
        large[f"growth per 10x nodes from {small_key}"] = growth
        print(f"  {small_key} -> {large_key} ({scale:.1f}x nodes): "
              + ", ".join(f"{name} {g:.2f}x" for name, g in growth.items()))
    with open(f"{root}_summary{ext}", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
