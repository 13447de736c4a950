"""What the shared driver costs: ``optkit.minimize`` against a bare NumPy loop.

Both run the same fixed-step gradient steps on the same quadratic, with the same oracle
(the problem's ``fun_and_grad``, evaluated once per step). optkit adds everything a run
records: evaluation counting, the non-finite guard, the gradient test, the history row with
the gradient norm, the limits. Goals: <= 1.5x on a 10-dimensional quadratic (10^4
iterations) and <= 1.05x on a 10^6-dimensional one.

    python benchmarks/driver_overhead.py [--repeat 7] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import functools
import os

import numpy as np

import optkit
from optkit import bench
from problems.smooth import quadratic

CASES = ((10, 10_000, False), (1_000_000, 30, True))


def bare_loop(problem: optkit.QuadraticProblem, step: float, iters: int) -> np.ndarray:
    """Fixed-step gradient descent, evaluating f and the gradient each step, nothing else."""
    fun_and_grad = problem.fun_and_grad
    x = problem.x0
    f, g = fun_and_grad(x)
    for _ in range(iters):
        x = x - step * g
        f, g = fun_and_grad(x)
    return x


def with_optkit(problem: optkit.QuadraticProblem, step: float, iters: int) -> np.ndarray:
    options = {"linesearch": None, "step_size": step, "maxiter": iters, "gtol": 0.0}
    return optkit.minimize(problem, method="gd", options=options).x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results",
                                                      "driver_overhead.json"))
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    for n, iters, diagonal in CASES:
        problem = quadratic(n=n, cond=10.0, diagonal=diagonal)
        step = 1.0 / 10.0  # 1/L: the largest eigenvalue is cond = 10
        np.testing.assert_array_equal(bare_loop(problem, step, 3), with_optkit(problem, step, 3))
        args_ = (problem, step, iters)
        comparison = bench.compare(
            {"optkit.minimize": functools.partial(with_optkit, *args_),
             "bare loop": functools.partial(bare_loop, *args_)},
            repeat=args.repeat, meta={"n": n, "iterations": iters},
        )
        print(comparison, end="\n\n")
        per_step = {name: t.median / iters * 1e6 for name, t in comparison.cases.items()}
        print("  per iteration: " + ", ".join(f"{k} {v:.2f} us" for k, v in per_step.items()))
        print()
        root, ext = os.path.splitext(args.out)
        comparison.write_json(f"{root}_n{n}{ext}")


if __name__ == "__main__":
    main()
