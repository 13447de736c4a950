"""The ``optkit`` command: list methods and problems, run one, or take the tour.

::

    optkit methods
    optkit problems
    optkit run rosen --method gd --option maxiter=5000 --plot rosen.png
    optkit tour --out tour/

This is the only module of ``optkit`` that reaches into the ``problems`` package.
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import Any

import optkit
from optkit._table import Table, write_atomic


def _parse_option(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"options are given as name=value, got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return name.strip(), parsed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optkit", description="Modern optimization methods behind one minimize()."
    )
    parser.add_argument("--version", action="version", version=optkit.__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("methods", help="list the registered methods")
    sub.add_parser("problems", help="list the problems of the catalog")
    run = sub.add_parser("run", help="run one method on one catalog problem")
    run.add_argument("problem", help="a name from `optkit problems`")
    run.add_argument("--method", "-m", required=True, help="a name from `optkit methods`")
    run.add_argument("--option", "-o", action="append", default=[], type=_parse_option,
                     metavar="NAME=VALUE", help="a method option (repeatable)")
    run.add_argument("--plot", metavar="FILE", help="save a convergence plot to FILE")
    tour = sub.add_parser(
        "tour", help="every method on its flagship problem: plots and a summary table"
    )
    tour.add_argument("--out", default="tour", help="output folder (default: ./tour)")
    tour.add_argument("--methods", nargs="*", metavar="METHOD",
                      help="only these methods (default: every registered method)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``optkit`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "methods":
            print(optkit.methods())
        elif args.command == "problems":
            import problems

            print(problems.catalog())
        elif args.command == "run":
            return _run(args)
        else:
            return _tour(args.out, args.methods)
    except (ValueError, TypeError) as err:
        print(f"optkit: error: {err}", file=sys.stderr)
        return 2
    return 0


def _use_agg() -> None:
    import matplotlib

    matplotlib.use("Agg")


def _run(args: argparse.Namespace) -> int:
    import problems

    problem = problems.get(args.problem)
    res = optkit.minimize(problem, method=args.method, options=dict(args.option))
    print(res)
    if args.plot:
        _use_agg()
        fig, _ = optkit.plot.convergence({res.method: res})
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}")
    return 0 if res.success else 1


def _summary_row(method: str, problem: Any, res: Any, seconds: float) -> dict[str, Any]:
    f_opt = getattr(problem, "f_opt", None)
    return {
        "method": method,
        "problem": problem.name,
        "fun": float(res.fun),
        "f - f*": math.nan if f_opt is None else float(res.fun) - f_opt,
        "nit": res.nit,
        "nfev": res.nfev,
        "njev": res.njev,
        "time_s": round(seconds, 4),
        "success": bool(res.success),
        "message": res.message,
    }


def _tour(out: str, only: Sequence[str] | None) -> int:
    """Run every method (with its peers) on its flagship problems; write PNGs and tables."""
    import problems

    _use_agg()
    import matplotlib.pyplot as plt

    registry = optkit.registry
    names = [registry.get(m).name for m in only] if only else registry.names()
    os.makedirs(out, exist_ok=True)
    summary = Table(title="optkit tour")
    for name in names:
        info = registry.get(name)
        if not info.flagship:
            print(f"{name}: no flagship problem registered, skipped")
            continue
        fig, axes = plt.subplots(1, len(info.flagship), squeeze=False,
                                 figsize=(6.0 * len(info.flagship), 4.2), layout="constrained")
        plan = info.tour_runs or {m: (m, {}) for m in (name, *info.peers)}
        for ax, problem_name in zip(axes[0], info.flagship, strict=True):
            problem = problems.get(problem_name)
            runs = {}
            for label, (method, options) in plan.items():
                start = time.perf_counter()
                res = optkit.minimize(problem, method=method, options=dict(options))
                seconds = time.perf_counter() - start
                runs[label] = res
                if res.method == info.name:
                    summary.append(_summary_row(label, problem, res, seconds))
            reference = runs.get(info.tour_reference) if info.tour_reference else None
            plot_options = dict(info.tour_plot)
            if reference is not None:
                plot_options["f_opt"] = float(reference.fun)
            optkit.plot.convergence(runs, ax=ax, **plot_options)
        fig.suptitle(textwrap.fill(f"{name}: {info.summary}", 65 * len(info.flagship)),
                     fontsize="medium")
        path = os.path.join(out, f"{name.replace(':', '_')}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f"{name}: {', '.join(info.flagship)} -> {path}")
    write_atomic(os.path.join(out, "summary.md"), f"# optkit tour\n\n{summary.to_markdown()}")
    write_atomic(os.path.join(out, "summary.csv"), summary.to_csv())
    print(summary)
    print(f"\nplots and summary (summary.md, summary.csv) written to {out}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
