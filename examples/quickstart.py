"""Quickstart: three methods on logistic regression, one convergence plot.

    python examples/quickstart.py            # writes quickstart.png
"""

import matplotlib

matplotlib.use("Agg")

import optkit  # noqa: E402
import problems  # noqa: E402

problem = problems.get("logistic-breast-cancer")
runs = {m: optkit.minimize(problem, method=m) for m in ("gd", "nesterov", "scipy:L-BFGS-B")}
for name, res in runs.items():
    print(f"{name:15s} f - f* = {res.fun - problem.f_opt:.1e}  iterations = {res.nit}")
fig, ax = optkit.plot.convergence(runs)
fig.savefig("quickstart.png", dpi=120)
