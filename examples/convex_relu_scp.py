"""Sampled convex program: random ReLU layer, Lasso output (recipe 5)
==================================================================

``method="convex-relu-scp"`` (section 4 of Bai, Gautam and Sojoudi) fixes N hidden weights
drawn uniformly on the unit sphere and trains only the output layer, by the l1-penalized
program (4.2) ``min ||H alpha - y||^2 / 2 + beta ||alpha||_1`` with ``H = [(X u_i)_+]``, solved
by FISTA. Data: scikit-learn's breast cancer (catalog "relu-breast-cancer": 398 training and
171 test samples, 30 standardized features and a ones column, labels +-1, squared loss), for
beta = 1e-4 and 1e-2, N = 25 ... 1600 and three seeds of the hidden weights (the split is
fixed). FISTA stops at a duality gap of 1e-8 relative, at its rounding floor, or after 4000
iterations (the runs with N >= 200 hit that cap: their cost is then an upper bound on the
optimum of (4.2), a little above it).

Left: the training cost (the objective (4.2), which equals the objective (2.1) of the
balanced ReLU network built from the solution) against N, mean and range over the seeds.
Right: the test accuracy. The dotted line marks N = n = 398, where the N features can fit the
training labels exactly.

What to expect (means over the seeds): the cost falls with N, from about 49 at N = 25 to 23
at N = 100 for both beta; near and beyond N = n it collapses with beta = 1e-4 (0.33 at
N = 400, 0.011 at 800, 0.008 at 1600: the network interpolates the training set) but levels
off with beta = 1e-2 (2.0, 0.83, 0.58). Almost every sampled neuron keeps a nonzero output
weight at these beta. Test accuracy is highest for small N (0.94 at N = 50 to 100), dips to
0.86 (beta = 1e-4) and 0.90 (beta = 1e-2) at N = 400, where the fit first becomes exact, and
recovers to 0.93 to 0.94 for N = 800 to 1600: the double-descent shape of random-feature
models, milder with the larger penalty. The paper's comparison on the mammographic data (about
80% test accuracy, for SCP and for trained networks) is not reproduced here. The script runs
in 15 to 30 s; the table's means also go to convex_relu_scp.json.

The gallery runs it with one seed, N = 25, 100, 400 and 1600 and at most 1000 FISTA iterations
(``OPTKIT_EXAMPLES_QUICK=1``); the numbers above are the full run's.

Run it with::

    python examples/convex_relu_scp.py           # writes convex_relu_scp.png and .json
"""

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _figures import save_figures  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import optkit  # noqa: E402
import problems  # noqa: E402

QUICK = os.environ.get("OPTKIT_EXAMPLES_QUICK") == "1"  # the docs gallery's smaller sizes

BETAS = {1e-4: "tab:blue", 1e-2: "tab:orange"}
N_GRID = (25, 100, 400, 1600) if QUICK else (25, 50, 100, 200, 400, 800, 1600)
SEEDS = range(1 if QUICK else 3)
MAXITER = 1000 if QUICK else 4000


def main():
    cost = {beta: np.zeros((len(N_GRID), len(SEEDS))) for beta in BETAS}
    acc = {beta: np.zeros((len(N_GRID), len(SEEDS))) for beta in BETAS}
    capped = {beta: np.zeros((len(N_GRID), len(SEEDS)), dtype=bool) for beta in BETAS}
    width = {beta: np.zeros((len(N_GRID), len(SEEDS))) for beta in BETAS}
    with threadpool_limits(limits=1):
        for beta in BETAS:
            problem = problems.get("relu-breast-cancer", beta=beta)
            for i, N in enumerate(N_GRID):
                for j, seed in enumerate(SEEDS):
                    res = optkit.minimize(problem, method="convex-relu-scp",
                                          options={"n_hidden": N, "seed": seed,
                                                   "maxiter": MAXITER})
                    cost[beta][i, j] = res.fun
                    acc[beta][i, j] = res.history["test_accuracy"][-1]
                    capped[beta][i, j] = res.status == 1
                    width[beta][i, j] = len(res.alpha)
    n = problem.n
    print(f"relu-breast-cancer, squared loss, n = {n}: convex-relu-scp, mean over "
          f"{len(SEEDS)} seeds (* : FISTA stopped at maxiter = {MAXITER})")
    print(f"  {'N':>5s}" + "".join(f"{f'cost b={b:g}':>16s}{'acc':>7s}{'width':>7s}"
                                    for b in BETAS))
    for i, N in enumerate(N_GRID):
        cells = ""
        for beta in BETAS:
            mark = "*" if capped[beta][i].any() else " "
            cells += (f"{cost[beta][i].mean():15.4f}{mark}{acc[beta][i].mean():7.3f}"
                      f"{width[beta][i].mean():7.0f}")
        print(f"  {N:5d}{cells}")
    save_figures("convex_relu_scp.json", {
        "n": n, "N": N_GRID,
        "beta": {beta: {"cost": cost[beta].mean(1), "accuracy": acc[beta].mean(1),
                        "width": width[beta].mean(1)} for beta in BETAS}})

    fig, (ax_cost, ax_acc) = plt.subplots(1, 2, figsize=(12.0, 4.6), layout="constrained")
    grid = np.array(N_GRID)
    for beta, color in BETAS.items():
        ax_cost.loglog(grid, cost[beta].mean(1), "o-", color=color, label=f"beta = {beta:g}")
        ax_cost.fill_between(grid, cost[beta].min(1), cost[beta].max(1), color=color,
                             alpha=0.2)
        ax_acc.semilogx(grid, acc[beta].mean(1), "o-", color=color, label=f"beta = {beta:g}")
        ax_acc.fill_between(grid, acc[beta].min(1), acc[beta].max(1), color=color, alpha=0.2)
    for ax in (ax_cost, ax_acc):
        ax.axvline(n, color="gray", linestyle=":", label=f"N = n = {n}")
        ax.set(xlabel="N (sampled hidden weights)")
        ax.legend(fontsize=8)
    ax_cost.set(ylabel="training cost (4.2)", title="training cost")
    ax_acc.set(ylabel="test accuracy", title="test accuracy")
    fig.suptitle(f"sampled convex program on breast cancer ({len(SEEDS)} seeds: mean and "
                 "range)")
    fig.savefig("convex_relu_scp.png", dpi=100)
    print("wrote convex_relu_scp.png and convex_relu_scp.json")


if __name__ == "__main__":
    main()
