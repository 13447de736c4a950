"""BO-REP against its baselines (SOBA, MA-SOBA, StocBiO, TTSA, SUSTAIN): oracle calls and wall
time to a stationary point, with mini-batches.

Problems (``--problems``; spec ``papers/bo-rep.md``, section 7 and the issue):

- ``quadratic``: ``quadratic-finite-sum`` at its default size (inner dimension 100, outer 10,
  inner strong convexity 0.1, 2000 training and 2000 validation rows), the simulated quadratic
  of the public bilevel benchmark, with row-sampled mini-batches of 64 for every oracle.
  Figure of merit: the oracle calls (upper gradients ``njev``, lower gradients
  ``lower_njev``, Hessian-vector and mixed products ``lower_nhev``, and their sum) and the
  wall time (the run's own history) at the first iterate with ``‖∇Φ(x_t)‖ <= 1e-2``
  (closed-form ``∇Φ``, the history's ``phi_grad_norm``), or "not reached" within ``maxiter``.
  A run stops at that iterate (a callback).

  Each method runs a small grid of upper steps ``eta`` (the other steps fixed at stable
  values: the lower SGD step ``alpha = 1/L`` and the z step ``nu = 1/L``, ``L = λ_max(H)``;
  the Neumann series of StocBiO, TTSA and SUSTAIN with step ``1/L`` and 10 terms; the other
  options the methods' defaults) for each of 3 seeds (the methods' ``seed``: the mini-batches; the
  data are fixed). A setting's numbers are the medians over the seeds (each column its own
  median), a run that does not reach the target counting as infinite; a method's best
  setting is the one with the fewest median oracle calls.

  The wall times include what every solver computes at each iterate for its history: the
  full upper loss ``F(x, y)`` (one pass over the 2000 validation rows) and the closed-form
  ``‖∇Φ(x)‖`` (a 10 x 10 product), the same for every method.

- ``hyper-cleaning``: ``digits-hyper-cleaning`` (BO-REP's E3: an ``nn.RNN``, hidden 32 by
  default, ``--hidden``, and a linear head; one weight per training example; mini-batches of
  100), on torch (``backend="torch"``, ``--device``). Two figures:

  * the cost of the oracles on one mini-batch, each the median of 50 timed calls: one
    forward/backward of the lower loss (``lower_grad_y``), the upper gradient, the
    Hessian-vector and the mixed product (double backward); and their ratios to the lower
    forward/backward: one hypergradient estimate ``∇_x F - ∇²_xy f z`` (the upper gradient
    and one mixed product; the issue's goal: at most 3), and all the derivatives of one
    BO-REP or MA-SOBA iteration (plus the z step's Hessian-vector product) and of one StocBiO
    iteration (its Neumann series);
  * the time per outer iteration of BO-REP, StocBiO, MA-SOBA and SUSTAIN (settings of
    ``examples/bo_rep_hyper_cleaning.py``; the upper loss recorded on the mini-batch), from
    the history's clock after the start (BO-REP's refinement, timed alone, is not in it),
    the median over the seeds.

Prints a table per problem (each method's best setting, then every setting) and writes
everything as JSON (atomically; the curves of ``‖∇Φ‖`` against oracle calls and time only for
each method's best setting) to ``benchmarks/results/bo_rep.json`` (``--out``). BLAS runs on
one thread (``--threads``): the matrices are small and the oracles many.

    python benchmarks/bo_rep.py [--problems quadratic hyper-cleaning] [--quick] [--seeds 3]
                                [--threads 1] [--device cpu] [--hidden 32] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import threadpoolctl

import optkit
import problems
from optkit._table import write_atomic

METHODS = ("bo-rep", "ma-soba", "soba", "stocbio", "ttsa", "sustain")
COUNTERS = ("njev", "lower_njev", "lower_nhev")


def quadratic_settings(problem: Any, quick: bool) -> dict[str, tuple[dict[str, Any], list]]:
    """Each method's fixed options and its grid of ``eta`` on ``quadratic-finite-sum``."""
    step = 1.0 / problem.lower_smoothness
    single = {"alpha": step, "nu": step}
    neumann = {"alpha": step, "neumann_lr": step, "neumann_terms": 10}
    fixed_grid = [0.1, 0.03, 0.01, 0.003]  # plain SGD steps on x
    normalized_grid = [1e-2, 3e-3, 1e-3, 3e-4]  # BO-REP: the length of every step
    return {"bo-rep": (single, normalized_grid), "ma-soba": (single, fixed_grid),
            "soba": (single, fixed_grid), "stocbio": (neumann, fixed_grid),
            "ttsa": (neumann, fixed_grid), "sustain": (neumann, fixed_grid)}


#: name -> the problem (registry entry, builder arguments full / quick), run limits, settings.
PROBLEMS: dict[str, dict[str, Any]] = {
    "quadratic": {"entry": "quadratic-finite-sum", "kwargs": {},
                  "quick_kwargs": {"dim_inner": 20, "dim_outer": 5, "n_train": 200,
                                   "n_val": 200},
                  "batch_size": 64, "quick_batch_size": 16,
                  "maxiter": 20_000, "quick_maxiter": 300,
                  "target": 1e-2, "quick_target": 1e-1,
                  "settings": quadratic_settings},
    "hyper-cleaning": {"entry": "digits-hyper-cleaning"},
}


def run_one(problem: Any, method: str, options: dict[str, Any], target: float) -> dict[str, Any]:
    """One run, stopped at the first iterate with ``‖∇Φ‖ <= target``; the counters and the
    time at that iterate (``None`` when not reached)."""
    phi_grad = problem.info["phi_grad"]

    def stop_at_target(xk: np.ndarray) -> None:
        if np.linalg.norm(phi_grad(xk)) <= target:
            raise StopIteration

    start = time.perf_counter()
    res = optkit.minimize(problem, method=method, options=options, callback=stop_at_target)
    wall = time.perf_counter() - start
    h = res.history
    g = np.asarray(h["phi_grad_norm"], dtype=float)
    hit = np.flatnonzero(g <= target)
    k = int(hit[0]) if hit.size else None
    calls = {c: np.asarray(h[c], dtype=float) for c in COUNTERS}
    total = sum(calls.values())
    out = {"seed": options["seed"], "reached": k is not None, "iters": k,
           "time": None if k is None else float(h["time"][k]),
           "final_phi_grad_norm": float(g[-1]), "min_phi_grad_norm": float(np.min(g)),
           "nit": int(res.nit), "status": int(res.status), "message": res.message,
           "wall": wall}
    for c in COUNTERS:
        out[c] = None if k is None else float(calls[c][k])
    out["oracle_calls"] = None if k is None else float(total[k])
    idx = np.unique(np.linspace(0, len(g) - 1, min(200, len(g))).astype(int))
    out["curve"] = {"oracle_calls": total[idx].tolist(),
                    "time": np.asarray(h["time"], dtype=float)[idx].tolist(),
                    "phi_grad_norm": g[idx].tolist()}
    return out


def _median(values: list[float | None]) -> float | None:
    """The median, ``None`` (not reached) counting as infinite; ``None`` if it is infinite."""
    m = float(np.median([math.inf if v is None else v for v in values]))
    return m if math.isfinite(m) else None


def bench_closed_form(key: str, args: argparse.Namespace) -> dict[str, Any]:
    """The grids of every method on a problem with a closed-form ``∇Φ`` (``info``)."""
    spec = PROBLEMS[key]
    quick = args.quick
    problem = problems.get(spec["entry"], **(spec["quick_kwargs"] if quick else spec["kwargs"]))
    limits = {"maxiter": args.maxiter or spec["quick_maxiter" if quick else "maxiter"],
              "batch_size": spec["quick_batch_size" if quick else "batch_size"]}
    target = args.target or spec["quick_target" if quick else "target"]
    settings: dict[str, tuple[dict[str, Any], list]] = spec["settings"](problem, quick)
    seeds = list(range(args.seeds))
    rows = []
    for method in args.methods:
        fixed, grid = settings[method]
        grid_rows = []
        for eta in grid:
            options = {**fixed, **limits, "eta": eta}
            runs = []
            for seed in seeds:
                runs.append(run_one(problem, method, {**options, "seed": seed}, target))
            med = {c: _median([r[c] for r in runs]) for c in (*COUNTERS, "oracle_calls",
                                                               "time", "iters")}
            reached = sum(r["reached"] for r in runs)
            grid_rows.append({"eta": eta, "options": options, "reached": reached,
                              "median": med, "runs": runs})
            shown = "not reached" if med["oracle_calls"] is None else \
                f"{med['oracle_calls']:.0f} calls, {med['time']:.2f} s"
            print(f"  {method:8s} eta {eta:<7g} {reached}/{len(seeds)} reached, {shown} "
                  f"({sum(r['wall'] for r in runs):.1f} s)", file=sys.stderr, flush=True)
        done = [r for r in grid_rows if r["median"]["oracle_calls"] is not None]
        best = min(done, key=lambda r: (r["median"]["oracle_calls"], r["median"]["time"])) \
            if done else None
        for g in grid_rows:  # the curves of the best setting only (a smaller file)
            if g is not best:
                for run in g["runs"]:
                    del run["curve"]
        closest = min(grid_rows, key=lambda r: np.median(
            [run["min_phi_grad_norm"] for run in r["runs"]]))
        rows.append({"method": method, "fixed_options": fixed,
                     "best_eta": None if best is None else best["eta"],
                     "best": None if best is None else {"reached": best["reached"],
                                                        **best["median"]},
                     "closest_eta": closest["eta"],
                     "closest_min_phi_grad_norm": float(np.median(
                         [run["min_phi_grad_norm"] for run in closest["runs"]])),
                     "grid": grid_rows})
    summary = {"problem": problem.name, "key": key, "entry": spec["entry"],
               "builder_kwargs": spec["quick_kwargs"] if quick else spec["kwargs"],
               "n": problem.n, "m": problem.m,
               "lower_strong_convexity": problem.lower_strong_convexity,
               "lower_smoothness": problem.lower_smoothness,
               "phi_grad_norm_x0": float(np.linalg.norm(problem.info["phi_grad"](problem.x0))),
               "target": target, "limits": limits, "seeds": seeds,
               "figure_of_merit": ("median over seeds of the oracle calls and wall time at the "
                                   "first iterate with ||grad Phi|| <= target"),
               "rows": rows}
    print_table(summary)
    return summary


def print_table(s: dict[str, Any]) -> None:
    L = s["lower_smoothness"]
    print(f"{s['problem']} (n = {s['n']}, m = {s['m']}, mu = {s['lower_strong_convexity']:.3g}, "
          f"L = {L:.3g}, ||grad Phi(x0)|| = {s['phi_grad_norm_x0']:.3g}): batch "
          f"{s['limits']['batch_size']}, maxiter {s['limits']['maxiter']}, target "
          f"||grad Phi|| <= {s['target']:g}, median over seeds {s['seeds']}")
    print(f"  alpha = nu = 1/L = {1 / L:.3g}; StocBiO/TTSA/SUSTAIN: Neumann step 1/L, 10 terms")
    head = (f"  {'method':8s} {'best eta':>8s} {'reached':>7s} {'iters':>7s} {'upper grad':>10s} "
            f"{'lower grad':>10s} {'HVP+JVP':>9s} {'total':>9s} {'wall':>8s}")
    print(head)
    for row in s["rows"]:
        b = row["best"]
        if b is None:
            print(f"  {row['method']:8s} {'-':>8s} {'0/' + str(len(s['seeds'])):>7s}  not reached "
                  f"(best min ||grad Phi|| {row['closest_min_phi_grad_norm']:.3g} at eta "
                  f"{row['closest_eta']:g})")
            continue
        print(f"  {row['method']:8s} {row['best_eta']:8g} "
              f"{str(b['reached']) + '/' + str(len(s['seeds'])):>7s} {b['iters']:7.0f} "
              f"{b['njev']:10.0f} {b['lower_njev']:10.0f} {b['lower_nhev']:9.0f} "
              f"{b['oracle_calls']:9.0f} {b['time']:7.2f}s")
    print("  every setting (median oracle calls to the target / seeds reached):")
    for row in s["rows"]:
        cells = []
        for g in row["grid"]:
            calls = g["median"]["oracle_calls"]
            shown = "-" if calls is None else f"{calls:.0f}"
            cells.append(f"eta {g['eta']:g}: {shown} ({g['reached']}/{len(s['seeds'])})")
        print(f"    {row['method']:8s} " + "; ".join(cells))
    print(flush=True)


#: E3's settings, those of ``examples/bo_rep_hyper_cleaning.py`` (tuned there on validation).
HYPER_CLEANING = {
    "bo-rep": {"eta": 1.0, "nu": 0.1, "beta": 0.9, "interval": 2, "lower_steps": 3,
               "refine_epochs": 4, "refine_steps": 16},
    "stocbio": {"eta": 30.0, "inner_steps": 3, "neumann_lr": 0.3, "neumann_terms": 5},
    "ma-soba": {"eta": 100.0, "nu": 0.1, "beta": 0.9},
    "sustain": {"eta": 100.0, "beta": 0.5, "beta_lower": 0.5, "neumann_lr": 0.3,
                "neumann_terms": 3},
}


def _median_ms(fun: Callable[[], Any], repeats: int = 50) -> float:
    """The median time of ``fun()`` in milliseconds, after two untimed calls."""
    fun(), fun()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fun()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def bench_hyper_cleaning(key: str, args: argparse.Namespace) -> dict[str, Any]:
    """E3 on torch: the oracles' costs on one mini-batch and the time per outer iteration."""
    import torch

    torch.set_num_threads(args.threads)
    quick = args.quick
    batch, maxiter = (20, 20) if quick else (100, args.maxiter or 200)
    problem = problems.get("digits-hyper-cleaning", hidden=args.hidden, device=args.device)
    tensor = problem.info["tensor"]
    x, y = tensor(problem.x0), tensor(problem.y0)
    z = tensor(np.random.default_rng(0).standard_normal(problem.m))
    rng = np.random.default_rng(0)
    lower, upper = problem.sample_lower(batch, rng), problem.sample_upper(batch, rng)
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)

    def timed(fun: Callable[[], Any]) -> float:
        return _median_ms(lambda: (fun(), sync()), 10 if quick else 50)

    ms = {"lower_grad": timed(lambda: lower.lower_grad_y(x, y)),
          "upper_grad": timed(lambda: upper.upper_grad(x, y)),
          "hvp_yy": timed(lambda: lower.lower_hvp_yy(x, y, z)),
          "hvp_xy": timed(lambda: lower.lower_hvp_xy(x, y, z))}
    terms = HYPER_CLEANING["stocbio"]["neumann_terms"]
    ratios = {"hypergradient": (ms["upper_grad"] + ms["hvp_xy"]) / ms["lower_grad"],
              "bo_rep_iteration_products": (ms["upper_grad"] + ms["hvp_yy"] + ms["hvp_xy"])
              / ms["lower_grad"],
              "stocbio_iteration_products": (ms["upper_grad"] + (terms - 1) * ms["hvp_yy"]
                                             + ms["hvp_xy"]) / ms["lower_grad"]}
    seeds = list(range(args.seeds))
    rows = []
    for method in HYPER_CLEANING:
        if method not in args.methods:
            continue
        options = {**HYPER_CLEANING[method], "batch_size": batch, "alpha": 0.3,
                   "upper_loss": "batch", "maxiter": maxiter}
        per_iter, starts = [], []
        for seed in seeds:
            start = time.perf_counter()
            res = optkit.minimize(problem, method=method, backend="torch",
                                  options={**options, "seed": seed})
            wall = time.perf_counter() - start
            clock = np.asarray(res.history["time"], dtype=float)
            per_iter.append(1e3 * (clock[-1] - clock[0]) / res.nit)
            starts.append(wall - (clock[-1] - clock[0]))
        rows.append({"method": method, "options": options,
                     "ms_per_iteration": float(np.median(per_iter)),
                     "start_seconds": float(np.median(starts)), "runs_ms": per_iter})
    summary = {"problem": problem.name, "key": key, "hidden": args.hidden,
               "device": str(x.device), "batch_size": batch, "maxiter": maxiter,
               "torch_threads": args.threads, "m": problem.m, "oracle_ms": ms,
               "ratios": ratios, "rows": rows, "seeds": seeds}
    print(f"{problem.name} on {x.device} (hidden {args.hidden}, m = {problem.m}, batch "
          f"{batch}, {args.threads} torch thread(s)); median ms per call:")
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in ms.items()))
    print(f"  over one lower forward/backward: hypergradient estimate "
          f"{ratios['hypergradient']:.2f} (goal <= 3); a BO-REP/MA-SOBA iteration's "
          f"derivatives {ratios['bo_rep_iteration_products']:.2f}; a StocBiO iteration's "
          f"({terms} Neumann terms) {ratios['stocbio_iteration_products']:.2f}")
    base = next((r["ms_per_iteration"] for r in rows if r["method"] == "bo-rep"), None)
    for r in rows:
        ratio = f" ({r['ms_per_iteration'] / base:.2f}x BO-REP's)" if base else ""
        print(f"  {r['method']:8s} {r['ms_per_iteration']:7.2f} ms per outer iteration{ratio};"
              f" start {r['start_seconds']:.2f} s")
    print(flush=True)
    return summary


#: How each problem of ``PROBLEMS`` is benchmarked.
BENCH: dict[str, Callable[[str, argparse.Namespace], dict[str, Any]]] = {
    "quadratic": bench_closed_form,
    "hyper-cleaning": bench_hyper_cleaning,
}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--quick", action="store_true",
                        help="a small problem, few iterations, target 0.1 (a smoke test)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0, ..., SEEDS-1")
    parser.add_argument("--maxiter", type=int, default=None, help="override the budget")
    parser.add_argument("--target", type=float, default=None,
                        help="override the target ||grad Phi||")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    parser.add_argument("--device", default="cpu", help="torch device of hyper-cleaning")
    parser.add_argument("--hidden", type=int, default=32, help="hyper-cleaning's RNN size")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "bo_rep.json"))
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    start = time.perf_counter()
    with threadpoolctl.threadpool_limits(args.threads):
        results = [BENCH[key](key, args) for key in args.problems]
    seconds = time.perf_counter() - start
    print(f"total {seconds:.1f} s")
    record = {"benchmark": "bo_rep", "quick": args.quick, "seconds": seconds,
              "env": {"python": platform.python_version(), "numpy": np.__version__,
                      "optkit": optkit.__version__, "platform": platform.platform(),
                      "cpu_count": os.cpu_count(), "blas_threads": args.threads,
                      "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
              "problems": _plain(results)}
    folder = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(folder, exist_ok=True)
    write_atomic(args.out, json.dumps(record, indent=1, allow_nan=False))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
