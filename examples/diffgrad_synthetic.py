"""diffGrad against Adam on three 1-D functions (Dubey et al., Fig. 3)
===================================================================

Both start at x0 = -1 with the authors' setting (lr 0.1, beta1 0.95, 300 points: x0 and
299 steps; optkit.solvers.diffgrad.PAPER_SYNTHETIC). The top row draws x_t against t, the
bottom row each function with the start and both final points. diffGrad's friction halves
the step where the gradient barely changes, so it settles in the global minimum of F1 and
F2, where Adam overshoots into a local one; on F3 both end near 0. The final points also go
to diffgrad_synthetic.json.

Run it with::

    python examples/diffgrad_synthetic.py        # writes diffgrad_synthetic.png and .json
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _figures import save_figures  # noqa: E402

import optkit  # noqa: E402
import problems  # noqa: E402
from optkit.solvers.diffgrad import PAPER_SYNTHETIC  # noqa: E402

FUNCTIONS = {  # catalog name: (title, global minimizer, plotting range)
    "diffgrad-f1": ("F1", -0.3, (-1.2, 1.2)),
    "diffgrad-f2": ("F2", -0.6429, (-1.0, 1.0)),
    "diffgrad-f3": ("F3", 0.0, (-1.2, 1.2)),
}
METHODS = {"adam": "Adam", "diffgrad": "diffGrad"}


def trajectory(problem, method):
    """x_0, x_1, ..., x_299 of one run, recorded with a callback."""
    xs = [float(problem.x0[0])]

    def record(intermediate_result):
        xs.append(float(intermediate_result.x[0]))

    optkit.minimize(problem, method=method, callback=record, options=PAPER_SYNTHETIC)
    return np.array(xs)


figures = {}
fig, axes = plt.subplots(2, 3, figsize=(13.0, 7.0), layout="constrained")
print(f"{'function':8s} {'global x*':>10s} {'Adam x_299':>12s} {'diffGrad x_299':>15s}")
for col, (name, (title, x_star, (lo, hi))) in enumerate(FUNCTIONS.items()):
    problem = problems.get(name)
    runs = {method: trajectory(problem, method) for method in METHODS}
    top, bottom = axes[0, col], axes[1, col]
    for method, xs in runs.items():
        top.plot(np.arange(xs.size), xs, label=METHODS[method])
    top.axhline(x_star, color="gray", linestyle=":", linewidth=1, label="global minimum")
    top.set(title=f"{title}: x_t", xlabel="iteration t", ylabel="x_t")
    top.legend()

    grid = np.linspace(lo, hi, 801)
    bottom.plot(grid, [problem.value(np.array([t])) for t in grid], color="black", linewidth=1)
    x0 = float(problem.x0[0])
    bottom.plot([x0], [problem.value(problem.x0)], "ko", label=f"start x0 = {x0:g}")
    for (method, xs), marker in zip(runs.items(), ("s", "^"), strict=True):
        x_end = xs[-1]
        bottom.plot([x_end], [problem.value(np.array([x_end]))], marker, markersize=9,
                    label=f"{METHODS[method]}: x = {x_end:.4f}")
    bottom.set(title=f"{title}(x)", xlabel="x", ylabel="f(x)")
    bottom.legend()
    print(f"{title:8s} {x_star:10.4f} {runs['adam'][-1]:12.6f} {runs['diffgrad'][-1]:15.6f}")
    figures[title] = {"x_star": x_star, **{method: xs[-1] for method, xs in runs.items()}}

fig.suptitle("Adam and diffGrad from x0 = -1 (lr 0.1, beta1 0.95, 299 steps)")
fig.savefig("diffgrad_synthetic.png", dpi=110)
save_figures("diffgrad_synthetic.json", figures)
