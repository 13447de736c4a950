"""Convex ReLU training by ADMM: convergence to the optimum (recipe 1)
===================================================================

The convex program (2.5) of a two-layer ReLU network on Gaussian data (catalog
"relu-synthetic": X, y ~ N(0, 1), n = 50, d = 5, squared loss, beta = 0.1) with P = 20 sampled
activation patterns, solved by ``method="convex-relu-admm"`` for 5000 iterations and, for the
reference optimum p*, by cvxpy (CLARABEL) on the same patterns. Five ADMM settings: the paper's
rho = 0.1, the same with over-relaxation 1.6, rho = 0.03 (about beta / 3), rho = 1 (ten times
beta) and rho = 1 with residual balancing (``rho_update="balance"``).

Left panel: the relative gap ``|l(v, w)_k - p*| / p*`` of the convex objective at the v-iterate
(the v-iterate is not feasible before convergence, so the gap changes sign: its dips are
crossings of zero). Right panel: ``|l(u, alpha)_k - l(v, w)_k|``, the objective of the recovered
ReLU network minus the convex objective; it is zero exactly when the cone constraints hold, so
it measures infeasibility. The table gives, for each setting, the iteration after which the
gap stays below 1e-2, 1e-3 and 1e-4, the final gaps and the time per iteration (which
includes recovering the network and evaluating both objectives every iteration; the bare
ADMM step is timed apart).

What to expect (one BLAS thread): p* = 8.093925 (cvxpy 0.3 to 0.6 s). With rho = 0.1 the gap
stays below 1e-2, 1e-3 and 1e-4 from iterations 144, 791 and 2607 (it first dips below 1e-4
near iteration 200, at a sign change) and is 1e-5 at 5000; over-relaxation 1.6 cuts these by
about 40% (89, 492, 1624; 1.3e-6 at 5000); rho = 0.03 is slower here (565, 2824, 4024), and
rho = 1 much slower (below 1e-2 from 1938, 2e-3 at 5000); residual balancing rescues rho = 1
(561, 1318, 3499). The network-minus-convex gap is about 5 at iteration 10, 1e-3 near
iteration 1000 and 1e-5 to 3e-4 at 5000. The bare ADMM step costs about 0.05 ms, 0.13 ms
with minimize's per-iteration bookkeeping (the network recovered and both objectives
evaluated every iteration). The script runs in about 5 s (15 s on a busy machine); the
table's numbers (but the times) also go to convex_relu_convergence.json.

The gallery runs it with 1000 iterations instead of 5000 (``OPTKIT_EXAMPLES_QUICK=1``); the
numbers above are the full run's.

Run it with::

    python examples/convex_relu_convergence.py   # writes convex_relu_convergence.png and .json
"""

import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _figures import save_figures  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import optkit  # noqa: E402
import problems  # noqa: E402
from optkit.convex_relu import solve_cvxpy  # noqa: E402
from optkit.convex_relu.admm import ADMM  # noqa: E402

QUICK = os.environ.get("OPTKIT_EXAMPLES_QUICK") == "1"  # the docs gallery's smaller sizes

ITERS = 1000 if QUICK else 5000
P = 20
THRESHOLDS = (1e-2, 1e-3, 1e-4)
SETTINGS = {  # label: options of convex-relu-admm
    "rho = 0.1 (paper)": {"rho": 0.1},
    "rho = 0.1, relaxation 1.6": {"rho": 0.1, "relaxation": 1.6},
    "rho = 0.03 (about beta / 3)": {"rho": 0.03},
    "rho = 1": {"rho": 1.0},
    "rho = 1, residual balancing": {"rho": 1.0, "rho_update": "balance"},
}


def stays_below(gap, threshold):
    """The first iteration from which |gap| stays below threshold (None if it never does)."""
    above = np.flatnonzero(np.abs(gap) >= threshold)
    if above.size == 0:
        return 0
    return None if above[-1] + 1 >= gap.size else int(above[-1] + 1)


def bare_step_ms(problem, D, rho, steps=1000):
    """Milliseconds per ADMM iteration without minimize's per-iteration bookkeeping."""
    admm = ADMM(problem.X, problem.y, D, problem.beta, rho)
    start = time.perf_counter()
    for _ in range(steps):
        admm.step()
    return 1e3 * (time.perf_counter() - start) / steps


def main():
    problem = problems.get("relu-synthetic")  # n = 50, d = 5, beta = 0.1
    fig, (ax_gap, ax_net) = plt.subplots(1, 2, figsize=(13.0, 4.6), layout="constrained")
    with threadpool_limits(limits=1):
        runs = {label: optkit.minimize(problem, method="convex-relu-admm",
                                       options={"n_patterns": P, "maxiter": ITERS,
                                                "tol": 1e-12, **options})
                for label, options in SETTINGS.items()}
        D = next(iter(runs.values())).D  # every run samples the same patterns (seed 0)
        assert all(np.array_equal(res.D, D) for res in runs.values())
        start = time.perf_counter()
        _, _, p_star = solve_cvxpy(problem.X, problem.y, D, problem.beta)
        cvx_seconds = time.perf_counter() - start
        bare = bare_step_ms(problem, D, 0.1)
    print(f"relu-synthetic (n = {problem.n}, d = {problem.d}, beta = {problem.beta}), "
          f"P = {D.shape[1]}: cvxpy optimum p* = {p_star:.6f} in {cvx_seconds:.2f} s")
    heads = "".join(f"{'< ' + format(t, '.0e'):>9s}" for t in THRESHOLDS)
    print(f"  {'ADMM setting':30s}{heads} {f'gap@{ITERS}':>9s} {'|net-cvx|':>9s} "
          f"{'cone viol':>9s} {'ms/it':>6s}")
    figures = {"p_star": p_star, "thresholds": THRESHOLDS, "settings": {}}
    for label, res in runs.items():
        h = res.history
        gap = (h["convex_objective"] - p_star) / p_star
        net = np.abs(h["fun"] - h["convex_objective"])
        below = [stays_below(gap, t) for t in THRESHOLDS]
        figures["settings"][label] = {"stays_below": below, "final_gap": gap[-1],
                                      "net_gap": net[-1],
                                      "cone_violation": h["cone_violation"][-1]}
        reach = "".join(f"{'-' if k is None else k:>9}" for k in below)
        ms = 1e3 * (h["time"][-1] - h["time"][0]) / res.nit
        print(f"  {label:30s}{reach} {gap[-1]:9.1e} {net[-1]:9.1e} "
              f"{h['cone_violation'][-1]:9.1e} {ms:6.3f}")
        ax_gap.semilogy(h["nit"], np.abs(gap), label=label, linewidth=1)
        # from iteration 1: at the start both objectives are those of the zero network
        ax_net.semilogy(h["nit"][1:], net[1:], label=label, linewidth=1)
    print(f"  bare ADMM step (rho = 0.1, no bookkeeping): {bare:.3f} ms")
    for t in THRESHOLDS:
        ax_gap.axhline(t, color="gray", linestyle=":", linewidth=0.8)
    ax_gap.set(xlabel="iteration", ylabel="|l(v, w) - p*| / p*",
               title="convex objective: relative gap to the cvxpy optimum")
    ax_net.set(xlabel="iteration", ylabel="|l(u, alpha) - l(v, w)|",
               title="recovered network minus convex objective (infeasibility)")
    ax_gap.legend(fontsize=8)
    fig.suptitle(f"ADMM on the convex ReLU program: n = {problem.n}, d = {problem.d}, "
                 f"P = {D.shape[1]}, beta = {problem.beta}")
    fig.savefig("convex_relu_convergence.png", dpi=100)
    save_figures("convex_relu_convergence.json", figures)
    print("wrote convex_relu_convergence.png and convex_relu_convergence.json")


if __name__ == "__main__":
    main()
