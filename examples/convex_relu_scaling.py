"""Convex ReLU training: how ADMM and cvxpy scale with n and P (recipe 3)
======================================================================

The spec's substitute for the paper's MNIST timing (Figs. 5 and 6): digits 2 against 8 (catalog
"relu-digits-2v8": 64 pixels in [0, 1] and a ones column, d = 65, labels +-1, squared loss,
beta = 1e-3), with the training set resampled to n rows (jittered bootstrap copies above the
245 real ones: they add size, not information). Two sweeps:

- n = 125 ... 20000 at P = 8 patterns (cvxpy up to n = 500 only);
- P = 4 ... 40 at n = 250 (cvxpy up to P = 16 only).

For each size, ADMM (rho = 0.1) is timed for its precompute (building the u-step's matrices
and their two Cholesky factorizations, once) and for a fixed 10 iterations (the paper runs a
fixed number); cvxpy (CLARABEL: the program built and solved) only up to the sizes above, as
it already takes seconds there. Sampling the patterns is left out of both. Everything runs
on one BLAS thread; each ADMM figure is the best of three.

The plot is log-log; the script prints the table and least-squares slopes of log(time)
against log(n) or log(P). Per iteration ADMM costs O(n d P + (d P)^2) (the p/q split of the
u-step: two triangular solves with a dP x dP factor, and products with X), so its slope in n
tends to 1 once n d P dominates (n >> d P = 520 here: the fit uses n >= 1000), and its slope
in P is close to 2 once d P > n. The precompute costs O(n (d P)^2 + (d P)^3): about 1 in n,
2 to 3 in P.

What to expect (one BLAS thread, a busy 2-core machine): 10 ADMM iterations take about 2 ms
up to n = 500 (fixed costs), 13 ms at n = 5000 and 60 ms at n = 20000 (slope about 0.9 for
n >= 1000, 0.65 over all), the precompute 5 to 120 ms (slope about 0.7); in P at n = 250 the
iterations have a slope of about 1.7 and the precompute about 2.3 (0.18 s at P = 40,
dP = 2600). cvxpy takes about 0.2 s at n = 125, 1.3 s at 250 and 3.7 s at 500 (slope about 2)
and 0.6 to 2.7 s for P = 4 to 16 (slope about 1.2, noisy): two to three orders of magnitude
more than ten ADMM iterations, whose networks already classify the 106 held-out digits
well (accuracy 0.97 to 1; cvxpy's optimum gets 0.92 to 1, 0.92 at n = 250, P = 8: the
optimum of the training objective is not always the better classifier, as in the paper's
Table 2). The script runs in about 20 s; the tables and slopes also go to
convex_relu_scaling.json.

The gallery runs it with one timing per size, n = 60, 125, 1000 and 5000 (cvxpy up to 125) and
P = 4, 6, 12, 24 and 40 at n = 125, cvxpy up to P = 6 (``OPTKIT_EXAMPLES_QUICK=1``); the
numbers above are the full run's.

Run it with::

    python examples/convex_relu_scaling.py       # writes convex_relu_scaling.png and .json
"""

import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _figures import save_figures  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import problems  # noqa: E402
from optkit.convex_relu import (  # noqa: E402
    predict_labels,
    recover_weights,
    relu_outputs,
    sample_patterns,
    solve_cvxpy,
)
from optkit.convex_relu.admm import ADMM  # noqa: E402

QUICK = os.environ.get("OPTKIT_EXAMPLES_QUICK") == "1"  # the docs gallery's smaller sizes

RHO = 0.1
ITERS = 10
REPEATS = 1 if QUICK else 3
N_GRID = (60, 125, 1000, 5000) if QUICK else (125, 250, 500, 1000, 2000, 5000, 10000, 20000)
N_FIT = 1000  # the slope of ADMM's iterations in n is fitted from here on
N_CVXPY = 125 if QUICK else 500  # largest n solved by cvxpy
P_FIXED = 8
P_GRID = (4, 6, 12, 24, 40) if QUICK else (4, 8, 12, 16, 24, 32, 40)
P_CVXPY = 6 if QUICK else 16  # largest P solved by cvxpy
N_FIXED = 125 if QUICK else 250


def accuracy(problem, V, W):
    U, alpha = recover_weights(V, W)
    return float(np.mean(predict_labels(relu_outputs(problem.X_test, U, alpha))
                         == problem.y_test))


def time_admm(problem, D):
    """Best-of-REPEATS seconds of the precompute and of ITERS iterations, and the test
    accuracy of the network after ITERS iterations."""
    pre, its = np.inf, np.inf
    for _ in range(REPEATS):
        start = time.perf_counter()
        admm = ADMM(problem.X, problem.y, D, problem.beta, RHO)
        middle = time.perf_counter()
        for _ in range(ITERS):
            admm.step()
        end = time.perf_counter()
        pre, its = min(pre, middle - start), min(its, end - middle)
    return pre, its, accuracy(problem, *admm.weights())


def time_cvxpy(problem, D):
    start = time.perf_counter()
    V, W, _ = solve_cvxpy(problem.X, problem.y, D, problem.beta)
    return time.perf_counter() - start, accuracy(problem, V, W)


def slope(x, t):
    return float(np.polyfit(np.log(x), np.log(t), 1)[0])


def sweep(name, grid, cvxpy_max, make):
    """Times for each size of the grid: {"pre", "its", "acc", "cvx", "cvx_acc"} lists."""
    out = {"pre": [], "its": [], "acc": [], "cvx": [], "cvx_acc": []}
    print(f"\n  {name:>5s} {'ADMM precompute s':>17s} {f'{ITERS} ADMM its s':>14s} "
          f"{'ADMM acc':>8s} {'cvxpy s':>8s} {'cvxpy acc':>9s}")
    for size in grid:
        problem, D = make(size)
        pre, its, acc = time_admm(problem, D)
        for key, value in (("pre", pre), ("its", its), ("acc", acc)):
            out[key].append(value)
        cvx = ""
        if size <= cvxpy_max:
            seconds, cvx_acc = time_cvxpy(problem, D)
            out["cvx"].append(seconds)
            out["cvx_acc"].append(cvx_acc)
            cvx = f"{seconds:8.2f} {cvx_acc:9.3f}"
        print(f"  {size:5d} {pre:17.4f} {its:14.4f} {acc:8.3f} {cvx}", flush=True)
    return out


def main():
    # One sampling of the data per n; patterns with a fixed seed.
    def by_n(n):
        problem = problems.get("relu-digits-2v8", n=n)
        return problem, sample_patterns(problem.X, P_FIXED, rng=0)[0]

    base = problems.get("relu-digits-2v8", n=N_FIXED)

    def by_p(P):
        return base, sample_patterns(base.X, P, rng=0)[0]

    print(f"relu-digits-2v8 (d = {base.d}, beta = {base.beta}), ADMM rho = {RHO}, "
          f"one BLAS thread")
    with threadpool_limits(limits=1):
        warm, _ = by_n(N_GRID[0])  # warm-up: imports (cvxpy's too), caches, first BLAS calls
        time_cvxpy(warm, sample_patterns(warm.X, 2, rng=0)[0])
        n_times = sweep("n", N_GRID, N_CVXPY, by_n)
        p_times = sweep("P", P_GRID, P_CVXPY, by_p)

    n_grid, p_grid = np.array(N_GRID), np.array(P_GRID)
    n_cvx = n_grid[n_grid <= N_CVXPY]
    p_cvx = p_grid[p_grid <= P_CVXPY]
    big = n_grid >= N_FIT
    slopes = {"n": {"its": slope(n_grid[big], np.array(n_times["its"])[big]),
                    "its_all": slope(n_grid, n_times["its"]),
                    "pre": slope(n_grid, n_times["pre"]), "cvx": slope(n_cvx, n_times["cvx"])},
              "P": {"its": slope(p_grid, p_times["its"]), "pre": slope(p_grid, p_times["pre"]),
                    "cvx": slope(p_cvx, p_times["cvx"])}}
    print("\n  fitted slopes of log(time):")
    print(f"    in n (P = {P_FIXED}): ADMM {ITERS} its {slopes['n']['its']:.2f} (n >= {N_FIT}; "
          f"{slopes['n']['its_all']:.2f} over all), ADMM precompute {slopes['n']['pre']:.2f}, "
          f"cvxpy {slopes['n']['cvx']:.2f}")
    print(f"    in P (n = {N_FIXED}): ADMM {ITERS} its {slopes['P']['its']:.2f}, "
          f"ADMM precompute {slopes['P']['pre']:.2f}, cvxpy {slopes['P']['cvx']:.2f}")
    save_figures("convex_relu_scaling.json", {"n": {"grid": N_GRID, **n_times},
                                              "P": {"grid": P_GRID, **p_times},
                                              "slopes": slopes})

    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.6), layout="constrained")
    for ax, grid, cvx_grid, times, label in (
            (axes[0], n_grid, n_cvx, n_times, f"n (P = {P_FIXED})"),
            (axes[1], p_grid, p_cvx, p_times, f"P (n = {N_FIXED})")):
        its, pre = np.array(times["its"]), np.array(times["pre"])
        ax.loglog(grid, its, "o-", label=f"ADMM, {ITERS} iterations")
        ax.loglog(grid, its + pre, "s-", label=f"ADMM, precompute + {ITERS} iterations")
        ax.loglog(cvx_grid, times["cvx"], "^-", label="cvxpy (CLARABEL)")
        ax.set(xlabel=label, ylabel="seconds", title=f"time against {label}")
        ax.legend(fontsize=8)
    fig.suptitle("digits 2 vs 8, squared loss: ADMM against cvxpy")
    fig.savefig("convex_relu_scaling.png", dpi=100)
    print("wrote convex_relu_scaling.png and convex_relu_scaling.json")


if __name__ == "__main__":
    main()
