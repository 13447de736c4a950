"""Quickstart: three methods on logistic regression
================================================

One convergence plot of gradient descent, Nesterov's method and SciPy's L-BFGS-B.

Run it with::

    python examples/quickstart.py            # writes quickstart.png and quickstart.json
"""

import matplotlib

matplotlib.use("Agg")

from _figures import save_figures  # noqa: E402

import optkit  # noqa: E402
import problems  # noqa: E402

problem = problems.get("logistic-breast-cancer")
runs = {m: optkit.minimize(problem, method=m) for m in ("gd", "nesterov", "scipy:L-BFGS-B")}
for name, res in runs.items():
    print(f"{name:15s} f - f* = {res.fun - problem.f_opt:.1e}  iterations = {res.nit}")
fig, ax = optkit.plot.convergence(runs)
fig.savefig("quickstart.png", dpi=120)
save_figures("quickstart.json", {name: {"gap": res.fun - problem.f_opt, "nit": res.nit,
                                        "success": res.success} for name, res in runs.items()})
