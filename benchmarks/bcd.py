"""Greedy block coordinate descent against the ways users would do it instead.

(a) ``tree_solve`` on comb-tree blocks of lattices up to 1000 x 1000 against ``spsolve``:
    ``benchmarks/tree_solve.py`` (run with ``--part a`` here, or on its own).
(b) Time per greedy iteration (GS-VB, gradient update, tau = 5) with the incremental gradient
    (the residual kept up to date; or the Gram matrix AᵀA formed once) against recomputing
    ``Ax`` and the full gradient each iteration, on data A at full size (m = 1000,
    n = 10000). Goal: >= 10x faster.
(c) A 500-iteration GSL-VB curve on full-size data A: wall time and F - F*.
(d) The lasso (data A small, and breast_cancer) against scikit-learn's ``Lasso`` (cyclic
    coordinate descent in Cython) and skglm's ``Lasso`` when it is installed: wall time to
    the same objective within 1e-8 relative.

    python benchmarks/bcd.py [--part a b c d] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

import numpy as np

import optkit
import problems
from optkit import bench


def part_a(args: argparse.Namespace) -> None:
    sys.path.insert(0, os.path.dirname(__file__))
    import tree_solve  # the benchmark script next to this one

    sys.argv = [sys.argv[0], "--repeat", str(args.repeat)]
    tree_solve.main()


def _greedy(problem, incremental: bool, iters: int, gram: bool = False):
    return optkit.minimize(problem, method="greedy-bcd",
                           options={"selection": "gs", "partition": None, "block_size": 5,
                                    "update": "gradient", "maxiter": iters, "ftol": 0.0,
                                    "gtol": 0.0, "incremental": incremental, "gram": gram})


def part_b(args: argparse.Namespace) -> None:
    """Per-iteration cost from the runs' own histories (the median time between two
    iterations), so the one-time setup (the Gram matrix, the Lipschitz constants: the time of
    the history's first record) is reported apart."""
    problem = problems.get("bcd-A")
    variants = {"full gradient each iteration (reference code)": (False, False),
                "incremental residual": (True, False),
                "incremental, Gram matrix AᵀA": (True, True)}
    iters = 300
    per_it, setup, finals = {}, {}, {}
    for name, (inc, gram) in variants.items():
        samples = []
        for _ in range(args.repeat):
            res = _greedy(problem, inc, iters, gram)
            t = res.history["time"]
            samples.append((float(np.median(np.diff(t[1:]))), float(t[0])))
        per_it[name] = float(np.median([s_[0] for s_ in samples]))
        setup[name] = float(np.median([s_[1] for s_ in samples]))
        finals[name] = res
    base = per_it["full gradient each iteration (reference code)"]
    print(f"(b) GS-VB, tau = 5, gradient update, data A (m = 1000, n = 10000), {iters} its,"
          f" median of {args.repeat} runs")
    for name in variants:
        print(f"  {name:48s} {per_it[name] * 1e3:7.3f} ms/iteration ({base / per_it[name]:5.1f}x)"
              f", setup {setup[name]:5.2f} s")
    runs = list(finals.values())
    print(f"  same iterates: {all(np.allclose(r.x, runs[0].x, rtol=1e-8) for r in runs)}\n")


def part_c(args: argparse.Namespace) -> None:
    problem = problems.get("bcd-A")
    start = time.perf_counter()
    res = optkit.minimize(problem, method="greedy-bcd",
                          options={"selection": "gsl", "partition": None, "block_size": 5,
                                   "update": "gradient", "maxiter": 500, "ftol": 0.0,
                                   "gtol": 0.0})
    seconds = time.perf_counter() - start
    gap = res.history["fun"] - problem.f_opt
    print("(c) GSL-VB, 500 iterations on data A (m = 1000, n = 10000)")
    print(f"  wall time {seconds:.2f} s ({seconds / res.nit * 1e3:.2f} ms/iteration)")
    print(f"  F - F*: start {gap[0]:.3e}, after 100 {gap[100]:.3e}, after 500 {gap[-1]:.3e}\n")


def lasso_A_small() -> optkit.GLMProblem:
    """The lasso on data A small, with λ = 0.1 ‖Aᵀy‖∞ (a sparse solution), F* from
    scikit-learn at tol 1e-15."""
    from sklearn.linear_model import Lasso

    data = problems.get("bcd-A-small")
    A, y = data.A, data.b
    lam = 0.1 * float(np.max(np.abs(A.T @ y)))
    ref = Lasso(alpha=lam / A.shape[0], fit_intercept=False, tol=1e-15, max_iter=1_000_000)
    ref.fit(A, y)
    problem = optkit.GLMProblem(A, y, l1=lam, x0=np.zeros(A.shape[1]), name="lasso-A-small")
    return optkit.GLMProblem(A, y, l1=lam, x0=np.zeros(A.shape[1]), name="lasso-A-small",
                             f_opt=problem.objective(ref.coef_))


def sklearn_lasso(problem, tol: float):
    from sklearn.linear_model import Lasso

    est = Lasso(alpha=problem.l1 / problem.A.shape[0], fit_intercept=False, tol=tol,
                max_iter=1_000_000)
    return est.fit(problem.A, problem.b).coef_


def skglm_lasso(problem):
    import skglm

    est = skglm.Lasso(alpha=problem.l1 / problem.A.shape[0], fit_intercept=False, tol=1e-12,
                      max_iter=1000)
    return est.fit(problem.A, problem.b).coef_


def optkit_bcd(problem, update: str):
    return optkit.minimize(problem, method="greedy-bcd",
                           options={"update": update, "partition": None, "block_size": 10,
                                    "maxiter": 50_000,
                                    "ftol": 1e-8 * abs(problem.f_opt)}).x


def part_d(args: argparse.Namespace) -> None:
    for problem in (lasso_A_small(), problems.get("bcd-lasso-breast-cancer")):
        target = problem.f_opt + 1e-8 * abs(problem.f_opt)
        tol = next((t for t in (1e-4, 1e-6, 1e-8, 1e-10, 1e-12)
                    if problem.objective(sklearn_lasso(problem, t)) <= target), 1e-12)
        cases = {
            "optkit greedy-bcd (GS-q, prox-Newton, VB 10)": functools.partial(
                optkit_bcd, problem, "prox_newton"),
            "optkit greedy-bcd (GS-q, prox-gradient, VB 10)": functools.partial(
                optkit_bcd, problem, "prox_gradient"),
            f"sklearn Lasso (tol={tol:g})": functools.partial(sklearn_lasso, problem, tol),
        }
        try:
            import skglm  # noqa: F401

            cases["skglm Lasso"] = functools.partial(skglm_lasso, problem)
        except ImportError:
            print("skglm is not installed: pip install skglm")
        comparison = bench.compare(cases, repeat=args.repeat, warmup=1,
                                   baseline=f"sklearn Lasso (tol={tol:g})",
                                   meta={"problem": problem.name, "F*": problem.f_opt,
                                         "target": "F - F* <= 1e-8 |F*|"})
        print(comparison)
        for label, timing in comparison.cases.items():
            gap = (problem.objective(timing.value) - problem.f_opt) / abs(problem.f_opt)
            print(f"  {label:52s} relative F - F* = {gap:.1e}")
        print()
        _write(comparison, args, f"bcd_{problem.name}")


def _write(comparison, args, name: str) -> None:
    os.makedirs(args.out, exist_ok=True)
    comparison.write_json(os.path.join(args.out, f"{name}.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", nargs="*", default=["b", "c", "d"],
                        choices=["a", "b", "c", "d"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args()
    for part in args.part:
        {"a": part_a, "b": part_b, "c": part_c, "d": part_d}[part](args)


if __name__ == "__main__":
    main()
