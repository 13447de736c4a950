"""Gradient-normalized Newton: logistic and softmax regression (spec 5.6)
======================================================================

Top row: L2-regularized logistic regression on scikit-learn's breast_cancer (569 x 30,
standardized, plus an intercept; l2 = 1e-4; catalog "logistic-breast-cancer"). gns-newton
with the exact Hessian, the Fisher matrix (for the logistic loss it equals the Hessian: same
iterates), the empirical Fisher (1/N) sum_i grad l_i grad l_i^T + l2 I, a stale Hessian
(recomputed every 10 iterations, an optkit extension) and the diagonal of the Hessian (an
optkit extension), against SciPy's L-BFGS-B and Newton-CG. Bottom row: softmax regression on
the digits (1797 x 64, 10 classes: 650 variables; l2 = 1e-3; "softmax-digits"): exact
Hessian and empirical Fisher against L-BFGS-B. The empirical-Fisher run is capped at 100
iterations there (it needs about 450 to reach 1e-10, some 10 s).

The gns runs stop at ||grad|| <= 1e-8 or after 1000 iterations; L-BFGS-B runs with
gtol = 1e-10 and ftol = 0, Newton-CG with xtol = 1e-14. Panels: f - f* against iterations,
gradient evaluations and time. What to expect: the exact Hessian converges quadratically in
about a dozen iterations, and so does the Fisher matrix (same iterates: its curve is dashed);
the stale Hessian trades a few more iterations for one Hessian in ten; the empirical Fisher
and the diagonal converge only linearly (they do not tend to the Hessian at the optimum, so
gamma_k has to shrink with ||grad f||). SciPy's Newton-CG stops near f - f* = 1e-10 whatever
xtol: its inner CG gives up when p^T H p <= 3 eps (an absolute test), so once the gradient
is about 1e-7 its update is zero and the xtol test ends the run. The tables' numbers also go
to gns_logistic.json.

The gallery caps the empirical-Fisher run on the digits at 30 iterations instead of 100
(``OPTKIT_EXAMPLES_QUICK=1``); the numbers above are the full run's.

Run it with::

    python examples/gns_logistic.py             # writes gns_logistic.png and gns_logistic.json
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

THRESHOLD = 1e-10
EF_ITERS = 30 if QUICK else 100  # the empirical Fisher's cap on the digits
LBFGS = ("scipy:L-BFGS-B", {"gtol": 1e-10, "ftol": 0.0, "maxiter": 10_000})
EXPERIMENTS = [  # (title, problem, {label: (method, options)})
    ("logistic regression, breast_cancer, l2 = 1e-4",
     problems.get("logistic-breast-cancer", l2=1e-4), {
         "gns-newton, exact Hessian": ("gns-newton", {}),
         "gns-newton, Fisher": ("gns-newton", {"hess_approx": "fisher"}),
         "gns-newton, empirical Fisher": ("gns-newton", {"hess_approx": "empirical-fisher"}),
         "gns-newton, stale Hessian (every 10)": ("gns-newton", {"hess_every": 10}),
         "gns-newton, diagonal": ("gns-newton", {"hess_approx": "diagonal"}),
         "scipy L-BFGS-B": LBFGS,
         "scipy Newton-CG": ("scipy:Newton-CG", {"xtol": 1e-14}),
     }),
    ("softmax regression, digits, l2 = 1e-3", problems.get("softmax-digits"), {
        "gns-newton, exact Hessian": ("gns-newton", {}),
        f"gns-newton, empirical Fisher ({EF_ITERS} its)": ("gns-newton",
                                                           {"hess_approx": "empirical-fisher",
                                                            "maxiter": EF_ITERS}),
        "scipy L-BFGS-B": LBFGS,
    }),
]

figures = {}  # catalog name: {label: figures of the run}
fig, axes = plt.subplots(len(EXPERIMENTS), 3, figsize=(17.0, 4.8 * len(EXPERIMENTS)),
                         layout="constrained")
for row, (title, problem, methods) in zip(axes, EXPERIMENTS, strict=True):
    # One BLAS thread: at these sizes threads only add overhead (and noise to the time axis).
    with threadpool_limits(limits=1, user_api="blas"):
        runs = {label: optkit.minimize(problem, method=method, options=options)
                for label, (method, options) in methods.items()}
    print(f"\n{title} ({problem.x0.size} variables)")
    print(f"  {'method':38s} {'its to 1e-10':>12s} {'njev to 1e-10':>13s} {'s to 1e-10':>10s} "
          f"{'its':>5s} {'njev':>5s} {'nhev':>5s} {'f - f*':>8s} {'time (s)':>8s}")
    figures[problem.name] = {}
    for label, res in runs.items():
        h = res.history
        hit = np.flatnonzero(h["fun"] - problem.f_opt < THRESHOLD)
        figures[problem.name][label] = {
            "its_to_threshold": int(hit[0]) if hit.size else None,
            "nit": res.nit, "nhev": res.nhev, "gap": res.fun - problem.f_opt}
        its, njev, secs = ((f"{hit[0]:d}", f"{int(h['njev'][hit[0]]):d}",
                            f"{h['time'][hit[0]]:.4f}") if hit.size else ("-", "-", "-"))
        print(f"  {label:38s} {its:>12s} {njev:>13s} {secs:>10s} {res.nit:5d} {res.njev:5d} "
              f"{res.nhev:5d} {res.fun - problem.f_opt:8.1e} {h['time'][-1]:8.3f}")
    optkit.plot.convergence(runs, ax=row[0], title=f"{title}: iterations")
    optkit.plot.convergence(runs, x="njev", ax=row[1], title="gradient evaluations")
    optkit.plot.convergence(runs, x="time", ax=row[2], logx=True, title="time")
    for ax in row:
        for line in ax.get_lines():  # the Fisher run has the exact run's iterates
            if line.get_label() == "gns-newton, Fisher":
                line.set_linestyle("--")
        if ax is not row[2]:
            ax.set_xscale("symlog", linthresh=10)
            ax.set_xlim(0, None)
        ax.axhline(THRESHOLD, color="gray", linestyle=":", linewidth=1)
        ax.legend(fontsize=7)
fig.savefig("gns_logistic.png", dpi=100)
save_figures("gns_logistic.json", figures)
