"""gns-newton against SciPy's second-order methods and L-BFGS-B, same process, same data.

1. L2-regularized logistic regression (breast_cancer; synthetic n = 20000, d = 500 with
   feature covariance of condition number 10, the generator's default, and 1e4): wall
   time to ||grad|| <= 1e-8 for gns-newton (exact Hessian with Cholesky, the Fisher matrix,
   and the matrix-free CG path) against scipy:Newton-CG, scipy:trust-exact and
   scipy:L-BFGS-B. Goal: gns-newton no slower than the best SciPy second-order method and
   ahead of L-BFGS-B at this accuracy.
2. The p = 4 linear equations (m = 100, n = 200): the rank-one (Sherman-Morrison) path
   against the exact-Hessian path, time to f - f* < 1e-10.

    python benchmarks/gns_newton.py [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import os

import numpy as np

import optkit
import problems
from optkit import bench

GTOL = 1e-8
SOLVERS = {
    "gns-newton exact (Cholesky)": ("gns-newton", {"gtol": GTOL}),
    "gns-newton Fisher": ("gns-newton", {"gtol": GTOL, "hess_approx": "fisher"}),
    "gns-newton exact (CG)": ("gns-newton", {"gtol": GTOL, "linear_solver": "cg"}),
    "gns-newton exact, hess_every=2": ("gns-newton", {"gtol": GTOL, "hess_every": 2}),
    "scipy:Newton-CG": ("scipy:Newton-CG", {"xtol": 1e-14}),
    "scipy:trust-exact": ("scipy:trust-exact", {"gtol": GTOL}),
    # L-BFGS-B's gtol bounds the max-norm of the gradient: 1e-10 makes the 2-norm <= 1e-8
    "scipy:L-BFGS-B": ("scipy:L-BFGS-B", {"gtol": 1e-10, "ftol": 0.0, "maxiter": 100_000}),
}


def run(problem, method: str, options: dict):
    return optkit.minimize(problem, method=method, options=options)


def logistic(args: argparse.Namespace) -> None:
    datasets = {"breast_cancer": {"dataset": "breast_cancer"}}
    if not args.quick:
        datasets["synthetic n=20000 d=500"] = {"dataset": "synthetic", "n": 20_000, "d": 500}
        datasets["synthetic n=20000 d=500 cond=1e4"] = {"dataset": "synthetic", "n": 20_000,
                                                        "d": 500, "cond": 1e4}
    for label, kwargs in datasets.items():
        problem = problems.get("logistic-breast-cancer", **kwargs)
        cases = {name: functools.partial(run, problem, m, o) for name, (m, o) in SOLVERS.items()}
        comparison = bench.compare(cases, repeat=args.repeat, warmup=1,
                                   baseline="scipy:L-BFGS-B",
                                   meta={"problem": f"logistic regression, {label}",
                                         "target": f"||grad|| <= {GTOL:g}"})
        print(comparison)
        print(f"  {'method':28s} {'nit':>6s} {'nfev':>6s} {'njev':>6s} {'nhev':>6s} "
              f"{'||grad||':>9s} {'f - f*':>9s}")
        for name, timing in comparison.cases.items():
            res = timing.value
            print(f"  {name:28s} {res.nit:6d} {res.nfev:6d} {res.njev:6d} {res.nhev:6d} "
                  f"{np.linalg.norm(problem.gradient(res.x)):9.1e} "
                  f"{res.fun - problem.f_opt:9.1e}")
        print()
        _write(comparison, args, "logistic_" + "_".join(f"{v}" for v in kwargs.values()))


def equations(args: argparse.Namespace) -> None:
    problem = problems.get("power-equations")

    def time_to_target(approx: str):
        return optkit.minimize(problem, method="gns-newton",
                               options={"hess_approx": approx, "gtol": 0.0, "maxiter": 2000},
                               callback=_stop_below(problem.f_opt + 1e-10))

    cases = {"rank-one Fisher term (Sherman-Morrison)": functools.partial(time_to_target,
                                                                           "fisher-term"),
             "exact Hessian (Cholesky)": functools.partial(time_to_target, "exact")}
    comparison = bench.compare(cases, repeat=args.repeat, warmup=1,
                               meta={"problem": "(1/4)||Ax - b||^4, m = 100, n = 200",
                                     "target": "f - f* < 1e-10"})
    print(comparison)
    for name, timing in comparison.cases.items():
        res = timing.value
        print(f"  {name:42s} nit {res.nit:5d}  f - f* {res.fun - problem.f_opt:.1e}")
    _write(comparison, args, "power_equations")


def _stop_below(target: float):
    def callback(intermediate_result):
        if intermediate_result.fun < target:
            raise StopIteration

    return callback


def _write(comparison, args, name: str) -> None:
    os.makedirs(args.out, exist_ok=True)
    comparison.write_json(os.path.join(args.out, f"gns_newton_{name}.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="breast_cancer only")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args()
    logistic(args)
    equations(args)


if __name__ == "__main__":
    main()
