"""Gradient-normalized Newton on equations and Rosenbrock
======================================================

The experiments of Semenov, Jaggi and Doikov (2025) on equations and on Rosenbrock's function.

The paper's experiments 5.2-5.5 at CPU sizes, one row of panels each (f - f* against
iterations and against time; the dotted line is the paper's threshold 1e-10):

1. Linear equations as f = (1/4) ||Ax - b||^4, A 100 x 200 (catalog "power-equations"),
   100 iterations, all in the metric B = A^T A + 1e-8 I: gns-newton with the exact Hessian
   (dense Cholesky of H + lambda B) against gns-newton with the rank-one "Fisher term"
   2 (A^T u)(A^T u)^T (Sherman-Morrison: no n x n factorization per trial), and the gradient
   method with backtracking on L in B ("Gauss-Newton") and in B = I.
2. Rosenbrock from (-2, 2): gns-newton, exact Hessian (60 iterations) against the gradient
   method (5000 iterations).
3. Rosenbrock residuals as f = (1/5) ||u||^5, u = (1 - x1, 10 (x2 - x1^2)), from (-2, 2):
   gns-newton exact against gns-newton with Gauss-Newton (the Hessian without the residuals'
   second derivatives) and the gradient method (10000 iterations).
4. Chebyshev-Rosenbrock chain, n = 100, p = 4: the super-universal Newton method (exact
   Hessian) against gns-newton with Gauss-Newton and the gradient method, 200 iterations.

Every run has f* = 0; the gradient test is off (gtol = 0) and a run stops at its iteration
budget or once f - f* < 1e-30 (below that only rounding errors are left to fight; an exact 0,
which gns-newton reaches on Rosenbrock, is drawn at 1e-32). The minimizers of the p = 4 and
p = 5 problems are degenerate (f grows like ||x - x*||^p), so there even Newton's method
converges only linearly: on the p = 4 equations f shrinks about 5-fold per exact-Hessian
iteration ((2/3)^4) and 16-fold per rank-one iteration, which needs fewer iterations as well
(the table's column "f_k/f_k+1" is the median of that ratio over each run).
On the Chebyshev chain every second-order method stalls near f = 7e-24: the iterates reach
the Chebyshev curve u_2 = ... = u_n = 0 with x_1 slightly below 1, and going up that curve
to x* = (1, ..., 1) is the exponentially slow part of Nesterov's function.

Run it with::

    python examples/gns_equations.py            # writes gns_equations.png and .json
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _figures import save_figures  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import optkit  # noqa: E402
import problems  # noqa: E402

THRESHOLD = 1e-10  # the paper's threshold
FLOOR = 1e-30  # stop below this: only rounding is left
START = np.array([-2.0, 2.0])

EXPERIMENTS = [  # (title, problem, x0, {label: (method, options)})
    ("5.2 linear equations, p = 4, m = 100, n = 200", problems.get("power-equations"), None, {
        "gns-newton, exact Hessian": ("gns-newton", {"metric": "problem", "maxiter": 100}),
        "gns-newton, rank-one Fisher term": ("gns-newton", {"metric": "problem",
                                                             "hess_approx": "fisher-term",
                                                             "maxiter": 100}),
        "gradient method, B = AᵀA": ("gm-backtracking", {"metric": "problem", "maxiter": 100}),
        "gradient method, B = I": ("gm-backtracking", {"maxiter": 100}),
    }),
    ("5.3 Rosenbrock, x0 = (-2, 2)", problems.get("rosen"), START, {
        "gns-newton, exact Hessian": ("gns-newton", {"maxiter": 60}),
        "gradient method": ("gm-backtracking", {"maxiter": 5000}),
    }),
    ("5.4 Rosenbrock equations, p = 5", problems.get("rosenbrock-equations"), None, {
        "gns-newton, exact Hessian": ("gns-newton", {"maxiter": 1000}),
        "gns-newton, Gauss-Newton": ("gns-newton", {"hess_approx": "gauss-newton",
                                                    "maxiter": 1000}),
        "gradient method": ("gm-backtracking", {"maxiter": 10_000}),
    }),
    ("5.5 Chebyshev chain, n = 100, p = 4", problems.get("chebyshev-chain"), None, {
        "super-universal Newton, exact Hessian": ("super-newton", {"maxiter": 200}),
        "gns-newton, Gauss-Newton": ("gns-newton", {"hess_approx": "gauss-newton",
                                                    "maxiter": 200}),
        "gradient method": ("gm-backtracking", {"maxiter": 200}),
    }),
]


def run(problem, x0, method, options, repeat=3):
    """The fastest of ``repeat`` identical runs without the gradient test, each stopped once
    f - f* < FLOOR (the fastest: the time axis then shows the method, not the machine's
    other work)."""
    def stop(intermediate_result):
        if intermediate_result.fun - problem.f_opt < FLOOR:
            raise StopIteration

    # One BLAS thread: at these sizes threads only add overhead (and noise to the time axis).
    with threadpool_limits(limits=1, user_api="blas"):
        runs = [optkit.minimize(problem, x0, method=method, options={"gtol": 0.0, **options},
                                callback=stop) for _ in range(repeat)]
    return min(runs, key=lambda res: res.history["time"][-1])


def draw(ax, runs, x, title):
    """f - f* against iterations or time (log scale, drawn down to 1e-32: optkit.plot
    floors f - f* at machine epsilon, and here f* = 0 is exact)."""
    for label, res in runs.items():
        h = res.history
        ax.plot(h[x], np.maximum(h["fun"], 1e-32), label=label)
    ax.axhline(THRESHOLD, color="gray", linestyle=":", linewidth=1)
    ax.set(yscale="log", xlabel={"nit": "iteration", "time": "time (s)"}[x], ylabel="f(x) - f*",
           title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


figures = {}  # catalog name: {label: figures of the run}
fig, axes = plt.subplots(len(EXPERIMENTS), 2, figsize=(13.0, 4.0 * len(EXPERIMENTS)),
                         layout="constrained")
for row, (title, problem, x0, methods) in zip(axes, EXPERIMENTS, strict=True):
    runs = {label: run(problem, x0, method, options)
            for label, (method, options) in methods.items()}
    figures[problem.name] = {}
    print(f"\n{title}")
    print(f"  {'method':38s} {'its to 1e-10':>12s} {'s to 1e-10':>10s} {'iterations':>10s} "
          f"{'nfev':>6s} {'f - f*':>8s} {'f_k/f_k+1':>9s} {'time (s)':>8s}")
    for label, res in runs.items():
        h = res.history
        gap = h["fun"] - problem.f_opt
        hit = np.flatnonzero(gap < THRESHOLD)
        its, secs = (f"{hit[0]:d}", f"{h['time'][hit[0]]:.4f}") if hit.size else ("-", "-")
        positive = gap[1:] > 0  # an exact 0 has no ratio
        rate = np.median(gap[:-1][positive] / gap[1:][positive])
        figures[problem.name][label] = {"its_to_threshold": int(hit[0]) if hit.size else None,
                                        "nit": res.nit, "gap": gap[-1], "rate": rate}
        print(f"  {label:38s} {its:>12s} {secs:>10s} {res.nit:10d} {res.nfev:6d} "
              f"{gap[-1]:8.1e} {rate:9.3g} {h['time'][-1]:8.4f}")
    draw(row[0], runs, "nit", f"{title}: against iterations")
    draw(row[1], runs, "time", "against time")
    if max(res.nit for res in runs.values()) > 20 * min(res.nit for res in runs.values()):
        row[0].set_xscale("symlog", linthresh=10)
        row[0].set_xlim(0, None)
fig.savefig("gns_equations.png", dpi=100)
save_figures("gns_equations.json", figures)
