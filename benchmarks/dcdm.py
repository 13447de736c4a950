"""DCDM with a trained network against CG, IC(0)-PCG, pyamg-PCG and deflated PCG.

Pressure Poisson systems of smoke in a box (top layer air, closed walls; ``problems``'
``poisson_flags`` / ``poisson_system``, Gaussian right-hand side of unit norm, ``x0 = 0``):

- 2-D 64 x 64 with six random obstacles, one system per obstacle seed (default seeds 1-5;
  the 2-D network that ships with optkit was trained on the empty 64 x 64 box only, so every
  one of these domains is new to it);
- 3-D 32³ without obstacles (catalog ``poisson-3d``) and with six random obstacles (seed 1).

Every method stops at ``‖b - Ax‖ <= 1e-4 ‖b‖``. The baselines run on the fluid-only matrix
(``fluid_block``) with :func:`scipy.sparse.linalg.cg`: plain CG, IC(0)-PCG
(:func:`optkit.linalg.ichol0`), pyamg smoothed-aggregation PCG (one V-cycle per iteration)
and deflated PCG (:func:`optkit.linalg.deflated_cg`: 16 Ritz vectors of the smallest Ritz
values from 100 Lanczos steps started at ``b``, Jacobi preconditioner). DCDM is
:func:`optkit.linalg.dcdm` on the full-grid matrix with the network that ships for the grid's
dimension (``DCDMModel.pretrained``), or in 3-D with ``--model-3d PATH``, a network of your
own (``python -m optkit.torch.train_dcdm --grid 32 --dim 3 ...``).

Wall time is split into setup (the factorization, the AMG hierarchy, the Lanczos run, loading
the network) and solve; for DCDM the time spent inside the network is reported apart. Every
method runs on one thread (SciPy's sparse kernels and pyamg are single-threaded; the network
gets ``--threads``, default 1). Times are medians of ``--repeat`` (2-D) or ``--repeat-3d``
(3-D) interleaved runs after one warm-up (:func:`optkit.bench.compare`). DCDM stops after
``--dcdm-maxiter`` iterations (default 200), or earlier when its best residual has not
dropped by 1% in 10 iterations (marked "stalled"; the residual check costs one product with A
per iteration, counted in the solve time); the baselines stop after 2000. An iteration count
marked ``!`` did not reach the tolerance.

Goal: DCDM needs fewer iterations than IC(0)-PCG on every problem, reported per dimension.
The ratios to pyamg say how far DCDM is from the classical peer.

    python benchmarks/dcdm.py [--seeds 1 2 3 4 5] [--repeat 3] [--repeat-3d 3] [--no-3d]
                              [--model-3d PATH] [--threads 1] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

from optkit import bench
from optkit.linalg import dcdm, deflated_cg, ichol0, lanczos_ritz
from problems.linear_systems import fluid_block, poisson_flags, poisson_system

RTOL = 1e-4
MAXITER = 2000  # the baselines
DCDM = "DCDM (network)"
N_DEFLATE, LANCZOS_STEPS = 16, 100
STALL_WINDOW = 10


class TimedModel:
    """A model wrapper that adds up the time spent in the network."""

    def __init__(self, model: Callable) -> None:
        self.model, self.seconds = model, 0.0

    def __call__(self, r: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = self.model(r)
        self.seconds += time.perf_counter() - start
        return out


def _counted_cg(A, b, M=None) -> dict[str, Any]:
    its = []
    x, info = spla.cg(A, b, rtol=RTOL, atol=0.0, maxiter=MAXITER, M=M,
                      callback=lambda xk: its.append(1))
    return {"x": x, "nit": len(its), "converged": info == 0}


def _deflation_space(A, b) -> tuple[np.ndarray, spla.LinearOperator]:
    values, vectors = lanczos_ritz(A, b, LANCZOS_STEPS)
    inv_diag = 1.0 / A.diagonal()
    jacobi = spla.LinearOperator(A.shape, matvec=lambda r: inv_diag * r.ravel(), dtype=float)
    return vectors[:, :N_DEFLATE], jacobi


def _deflated(A, b, setup) -> dict[str, Any]:
    W, jacobi = setup
    its = []
    x, info = deflated_cg(A, b, W, M=jacobi, rtol=RTOL, maxiter=MAXITER,
                          callback=lambda xk: its.append(1))
    return {"x": x, "nit": len(its), "converged": info == 0}


class _Stalled(Exception):
    pass


def _dcdm(A, b, model, maxiter: int) -> dict[str, Any]:
    """DCDM, stopped early when the best residual has not dropped by 1% in the last
    ``STALL_WINDOW`` iterations (a network that does not fit the system stalls)."""
    timed = TimedModel(model)
    best, last = [], [None]

    def callback(xk):
        last[0] = xk
        norm = float(np.linalg.norm(b - A @ xk))
        best.append(min(norm, best[-1]) if best else norm)
        if len(best) > STALL_WINDOW and best[-1] > 0.99 * best[-1 - STALL_WINDOW]:
            raise _Stalled

    try:
        x, info = dcdm(A, b, rtol=RTOL, maxiter=maxiter, model=timed, callback=callback)
        stalled = False
    except _Stalled:
        x, info, stalled = last[0], len(best), True
    return {"x": x, "nit": len(best), "converged": info == 0, "stalled": stalled,
            "network_s": timed.seconds}


def network_source(dim: int, args: argparse.Namespace) -> str:
    """Where DCDM's network for a ``dim``-D grid comes from: the ``--model-3d`` file, else
    ``"shipped"`` (the network optkit ships for ``dim``)."""
    if dim == 3 and args.model_3d is not None:
        return args.model_3d
    return "shipped"


def _load_network(source: str, grid: tuple[int, ...]):
    from optkit.torch import DCDMModel

    if source == "shipped":
        return DCDMModel.pretrained(grid, device="cpu")
    return DCDMModel.from_file(source, device="cpu", grid_shape=grid)


def run_problem(label: str, flags: np.ndarray, system, args: argparse.Namespace,
                repeat: int) -> dict[str, Any]:
    """Setup and solve timings and iteration counts of every method on one system."""
    import pyamg

    A, b = system.A.tocsr(), system.b
    block, cells = fluid_block(A, flags)
    block = block.tocsr()
    rhs = b[cells]
    grid = flags.shape
    source = network_source(len(grid), args)
    setups: dict[str, Callable[[], Any]] = {
        "CG": lambda: None,
        "IC(0)-PCG": lambda: ichol0(block),
        "pyamg SA-PCG": lambda: pyamg.smoothed_aggregation_solver(block).aspreconditioner(
            cycle="V"),
        "deflated PCG": lambda: _deflation_space(block, rhs),
        DCDM: lambda: _load_network(source, grid),
    }
    setup_cmp = bench.compare(setups, repeat=repeat, baseline="pyamg SA-PCG")
    made = {name: timing.value for name, timing in setup_cmp.cases.items()}
    solves: dict[str, Callable[[], dict[str, Any]]] = {
        "CG": lambda: _counted_cg(block, rhs),
        "IC(0)-PCG": lambda: _counted_cg(block, rhs, M=made["IC(0)-PCG"]),
        "pyamg SA-PCG": lambda: _counted_cg(block, rhs, M=made["pyamg SA-PCG"]),
        "deflated PCG": lambda: _deflated(block, rhs, made["deflated PCG"]),
        DCDM: lambda: _dcdm(A, b, made[DCDM], args.dcdm_maxiter),
    }
    solve_cmp = bench.compare(solves, repeat=repeat, baseline="pyamg SA-PCG")
    methods = {}
    for name in solves:
        out = solve_cmp[name].value
        x = out["x"]
        residual = (np.linalg.norm(A @ x - b) if x.size == b.size
                    else np.linalg.norm(block @ x - rhs)) / np.linalg.norm(b)
        methods[name] = {
            "nit": out["nit"], "converged": bool(out["converged"]),
            "relative_residual": float(residual),
            "setup_s": setup_cmp[name].median, "solve_s": solve_cmp[name].median,
            "total_s": setup_cmp[name].median + solve_cmp[name].median,
            "setup_times": list(setup_cmp[name].times),
            "solve_times": list(solve_cmp[name].times),
        }
        if "network_s" in out:  # the last call's time inside the network
            methods[name]["network_s"] = out["network_s"]
            methods[name]["stalled"] = out["stalled"]
    dcdm_row, ic0, amg = (methods[k] for k in (DCDM, "IC(0)-PCG", "pyamg SA-PCG"))
    ratios: dict[str, float | None] = {
        "DCDM its / IC(0) its": dcdm_row["nit"] / ic0["nit"],
        "DCDM its / pyamg its": dcdm_row["nit"] / amg["nit"],
        "DCDM total time / IC(0) total time": dcdm_row["total_s"] / ic0["total_s"],
        "DCDM total time / pyamg total time": dcdm_row["total_s"] / amg["total_s"],
        "DCDM solve time / pyamg solve time": dcdm_row["solve_s"] / amg["solve_s"],
    }
    if not (dcdm_row["converged"] and ic0["converged"] and amg["converged"]):
        ratios = dict.fromkeys(ratios)  # no ratio to a tolerance that was not reached
    return {
        "problem": label, "grid": list(grid), "fluid_cells": int(cells.size),
        "repeat": repeat, "dcdm_network": source,
        "methods": methods, "env": solve_cmp.to_dict()["env"],
        "ratios": ratios,
    }


def _mean(values: list) -> float | None:
    return None if any(v is None for v in values) else statistics.mean(values)


def print_problem(result: dict[str, Any]) -> None:
    ic0 = result["methods"]["IC(0)-PCG"]
    amg = result["methods"]["pyamg SA-PCG"]
    source = result["dcdm_network"]
    net = "DCDM network: " + ("the shipped one" if source == "shipped" else source)
    print(f"{result['problem']} ({result['fluid_cells']} fluid cells; {net})")
    print(f"  {'method':20s} {'its':>5s} {'setup ms':>9s} {'solve ms':>9s} {'net ms':>7s} "
          f"{'total ms':>9s} {'its/IC0':>8s} {'its/AMG':>8s} {'t/AMG':>6s}")
    for name, row in result["methods"].items():
        net = f"{row['network_s'] * 1e3:7.1f}" if "network_s" in row else f"{'':7s}"
        its = f"{row['nit']}" + ("" if row["converged"] else "!")
        note = (f"  stalled at relative residual {row['relative_residual']:.2g}"
                if row.get("stalled") else "")
        ratios = (f"{row['nit'] / ic0['nit']:8.2f} {row['nit'] / amg['nit']:8.1f} "
                  f"{row['total_s'] / amg['total_s']:6.1f}") if row["converged"] else (
                  f"{'-':>8s} {'-':>8s} {'-':>6s}")
        print(f"  {name:20s} {its:>5s} {row['setup_s'] * 1e3:9.1f} {row['solve_s'] * 1e3:9.1f} "
              f"{net} {row['total_s'] * 1e3:9.1f} {ratios}{note}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5],
                        help="obstacle seeds of the 2-D 64 x 64 systems (six obstacles each)")
    parser.add_argument("--obstacles", type=int, default=6)
    parser.add_argument("--seed-3d", type=int, default=1,
                        help="obstacle seed of the 3-D system with obstacles")
    parser.add_argument("--no-3d", action="store_true", help="only the 2-D systems")
    parser.add_argument("--model-3d", metavar="PATH", default=None,
                        help="a 3-D DCDM network (DCDMModel.save / train_dcdm --dim 3) to use "
                             "instead of the shipped one")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs of the 2-D systems (after one warm-up run)")
    parser.add_argument("--repeat-3d", type=int, default=3,
                        help="timed runs of the 3-D systems (after one warm-up run)")
    parser.add_argument("--dcdm-maxiter", type=int, default=200,
                        help="DCDM iteration cap (the baselines get 2000)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "dcdm.json"))
    args = parser.parse_args()
    if args.model_3d is not None and not os.path.isfile(args.model_3d):
        parser.error(f"--model-3d: no file {args.model_3d!r}")
    import pyamg
    import torch

    torch.set_num_threads(args.threads)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    cases = []
    for seed in args.seeds:
        flags = poisson_flags((64, 64), obstacles=args.obstacles, seed=seed)
        cases.append((f"2-D 64x64, {args.obstacles} obstacles, seed {seed}", flags, seed,
                      args.repeat))
    if not args.no_3d:
        cases.append(("3-D 32^3, no obstacles (poisson-3d)", poisson_flags((32,) * 3), 0,
                      args.repeat_3d))
        flags = poisson_flags((32,) * 3, obstacles=args.obstacles, seed=args.seed_3d)
        cases.append((f"3-D 32^3, {args.obstacles} obstacles, seed {args.seed_3d}", flags,
                      args.seed_3d, args.repeat_3d))
    start = time.perf_counter()
    results = []
    with threadpool_limits(limits=1):
        for label, flags, seed, repeat in cases:
            system = poisson_system(flags, rhs="gaussian", rng=np.random.default_rng([seed, 1]))
            result = run_problem(label, flags, system, args, repeat)
            print_problem(result)
            results.append(result)
    two_d = [r for r in results if r["grid"] == [64, 64]]
    summary = {}
    if two_d:
        keys = list(two_d[0]["ratios"])
        summary["2-D 64x64 with obstacles, mean over seeds"] = {
            "seeds": args.seeds, "dcdm_network": two_d[0]["dcdm_network"],
            "nit": {name: statistics.mean(r["methods"][name]["nit"] for r in two_d)
                    for name in two_d[0]["methods"]},
            "ratios": {key: _mean([r["ratios"][key] for r in two_d]) for key in keys},
        }
    for r in results:
        if r["grid"] != [64, 64]:
            summary[r["problem"]] = {
                "dcdm_network": r["dcdm_network"],
                "nit": {name: row["nit"] for name, row in r["methods"].items()},
                "converged": {name: row["converged"] for name, row in r["methods"].items()},
                "ratios": r["ratios"]}
    print("summary (iterations to rtol 1e-4; ratios DCDM / baseline)")
    for label, s in summary.items():
        converged = s.get("converged", dict.fromkeys(s["nit"], True))
        its = ", ".join(f"{name} {value:g}" + ("" if converged[name] else " (not converged)")
                        for name, value in s["nit"].items())
        print(f"  {label}: {its}")
        if any(value is None for value in s["ratios"].values()):
            print("    no ratios: a method did not reach the tolerance")
        else:
            print("    " + ", ".join(f"{key} {value:.2f}" for key, value in s["ratios"].items()))
    # the goal, per dimension: DCDM needs fewer iterations than IC(0)-PCG on every problem
    goal: dict[str, bool] = {}
    words = {}
    for dim in sorted({len(r["grid"]) for r in results}):
        rows = [r for r in results if len(r["grid"]) == dim]
        goal[f"{dim}-D"] = all(r["ratios"]["DCDM its / IC(0) its"] is not None
                               and r["ratios"]["DCDM its / IC(0) its"] < 1 for r in rows)
        words[f"{dim}-D"] = "met" if goal[f"{dim}-D"] else "NOT met"
    print("goal (fewer iterations than IC(0)-PCG on every problem): "
          + "; ".join(f"{dim} {words[dim]}" for dim in goal)
          + f"; benchmark wall time {time.perf_counter() - start:.0f} s")
    from optkit.torch import DCDMModel

    networks: dict[str, Any] = {}
    for dim in sorted({len(r["grid"]) for r in results}):
        source = network_source(dim, args)
        if source == "shipped":
            networks[f"{dim}-D"] = {"source": "shipped", "meta": DCDMModel.pretrained(
                (8,) * dim, device="cpu").meta}
        else:
            networks[f"{dim}-D"] = {"source": os.path.abspath(source), "meta":
                                    DCDMModel.from_file(source, device="cpu").meta}
    record = {
        "meta": {"rtol": RTOL, "maxiter": MAXITER, "dcdm_maxiter": args.dcdm_maxiter,
                 "rhs": "gaussian (unit norm)", "x0": "0", "repeat_2d": args.repeat,
                 "repeat_3d": args.repeat_3d, "torch_threads": args.threads,
                 "blas_threads": 1, "scipy": scipy.__version__, "pyamg": pyamg.__version__,
                 "torch": torch.__version__,
                 "deflation": f"{N_DEFLATE} smallest Ritz vectors of {LANCZOS_STEPS} Lanczos "
                              "steps from b, Jacobi",
                 "dcdm_networks": networks, "goal_met": goal,
                 "load_average_at_end": list(os.getloadavg())},
        "summary": summary,
        "problems": results,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, default=str)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
