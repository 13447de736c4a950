"""The ``optkit`` command: list methods and problems, run one, or take the tour.

::

    optkit methods
    optkit problems
    optkit run rosen --method gd --option maxiter=5000 --plot rosen.png
    optkit tour --out tour/
    optkit bench grid.toml --out results/ [--n-jobs 4] [--dask tcp://host:8786]

``optkit bench`` runs a (problem x method x seed) grid described in a TOML file with
:func:`optkit.bench.run_grid_to`: locally with joblib (``--n-jobs``) or on the Dask
cluster at ``--dask``, with a progress bar over the runs. Each finished run is appended to
``OUT/journal.jsonl``; running the same command again skips the runs already there, so an
interrupted grid resumes without losing or repeating a run. The long table (one row per
history record of every run) is written atomically to ``OUT/results.csv``, and to
``OUT/results.parquet`` when pyarrow is installed. The TOML file::

    seeds = [0, 1, 2]                  # default [0]
    options = { maxiter = 2000 }       # for every method, under each method's own options

    [[problems]]
    name = "rosen"                     # a name from `optkit problems`

    [[problems]]
    name = "quadratic"
    label = "quadratic-50"             # its name in the table (default: name)
    kwargs = { n = 50, cond = 100.0 }  # arguments of the problem's builder

    [[methods]]
    name = "gd"                        # a name from `optkit methods`

    [[methods]]
    name = "gd"
    label = "gd-small-steps"           # needed when a method appears twice
    options = { step_size = 0.01 }

A problem or method without label, kwargs or options can also be a bare name:
``problems = ["rosen", "matyas"]``. TOML has no null, so options that take ``None``
keep their defaults.

This is the only module of ``optkit`` that reaches into the ``problems`` package.
"""

from __future__ import annotations

import argparse
import ast
import html
import math
import os
import re
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import optkit
from optkit._table import Table, write_atomic
from optkit.result import Status


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
        "tour", help="every method on its flagship problem: plots, a summary table and an "
                "index.html"
    )
    tour.add_argument("--out", default="tour", help="output folder (default: ./tour)")
    tour.add_argument("--methods", nargs="*", metavar="METHOD",
                      help="only these methods (default: every registered method)")
    bench = sub.add_parser(
        "bench", help="run a grid of problems x methods x seeds from a TOML file, resumably"
    )
    bench.add_argument("grid", help="the TOML file that describes the grid")
    bench.add_argument("--out", help="output folder (default: the TOML file's name, here)")
    bench.add_argument("--n-jobs", type=int, default=1, metavar="N",
                       help="parallel jobs with joblib (default 1; -1: one per CPU)")
    bench.add_argument("--dask", metavar="ADDRESS",
                       help="run on the Dask scheduler at ADDRESS (tcp://host:8786)")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        elif args.command == "bench":
            return _bench(args)
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


def _title(info: Any) -> str:
    """The first sentence of a method's docstring as plain text: a figure title.

    reST markup goes (``literal`` and :role:`text` keep their text, ``~a.b`` its last part);
    the sentence ends at the first period followed by a space (not after ``al.``, ``e.g.``,
    ``i.e.``), over the lines of the first paragraph, or before a formula after a colon.
    """
    paragraph = (info.solver.__doc__ or info.name).strip().split("\n\n", 1)[0]
    text = " ".join(paragraph.split())
    text = re.sub(r":[\w:]+:`~[\w.]*?(\w+)`", r"\1", text)
    text = re.sub(r":[\w:]+:`([^`]*)`", r"\1", text).replace("`", "")
    end = re.search(r"(?<!\bal)(?<!e\.g)(?<!i\.e)\.(?=\s|$)", text)
    sentence = text[: end.end()] if end else text
    if re.search(r"[\\^=]", sentence) and ": " in sentence:
        sentence = sentence.split(": ", 1)[0]
    return sentence.rstrip(".:") + "."


def _caption(info: Any) -> str:
    """One line on what to see in a method's tour figure: its ``tour_caption``, or a line
    built from what the figure plots."""
    if info.tour_caption:
        return info.tour_caption
    y, x = info.tour_plot.get("y", "fun"), info.tour_plot.get("x", "nit")
    what = "f - f*" if y == "fun" else y
    return (f"{what} against {'iterations' if x == 'nit' else x} of {info.name} and its peers "
            f"on {', '.join(info.flagship)}.")


def _reference(problem: Any, info: Any, runs: dict[str, Any]) -> tuple[float | None, str]:
    """The optimal value a tour problem's runs are compared with, and how it was obtained.

    In order: the problem's ``f_opt``; the final ``fun`` of the method's ``tour_reference``
    run; for a linear system, the energy at its solution (``x_true``, or a sparse direct
    solve); otherwise none.
    """
    f_opt = getattr(problem, "f_opt", None)
    if f_opt is not None:
        return float(f_opt), "known optimum (the problem's f_opt)"
    if info.tour_reference is not None:
        return float(runs[info.tour_reference].fun), f"reference run: {info.tour_reference}"
    if isinstance(problem, optkit.LinearSystem):
        return _energy_minimum(problem)
    return None, "none: optimum unknown"


def _energy_minimum(system: Any) -> tuple[float | None, str]:
    """``min ½ xᵀAx - bᵀx`` of a linear system: at ``x_true``, or at a sparse direct solve
    over the unknowns whose diagonal entry is nonzero (a zero diagonal entry of a positive
    semidefinite matrix zeroes its whole row and column)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    if system.x_true is not None:
        return system.objective(system.x_true), "exact solution (the system's x_true)"
    if isinstance(system.A, spla.LinearOperator):
        return None, "none: A is an operator (no direct solve)"
    A = sp.csc_array(system.A)
    keep = A.diagonal() != 0
    x = np.zeros(system.n)
    x[keep] = spla.spsolve(A[keep][:, keep], system.b[keep])
    return system.objective(x), "reference solve: sparse direct (SuperLU)"


def _message(res: Any, options: Mapping[str, Any]) -> str:
    """The method's message, after why the run stopped at its iteration limit when it did:
    a stochastic run or a tolerance set to 0 (a fixed budget by design), or too few
    iterations."""
    if res.status != Status.MAXITER:
        return res.message
    budget = f"maxiter = {res.nit}"
    tols = optkit.registry.get(res.method).tol
    if options.get("batch_size") is not None:
        why = f"stochastic method: fixed iteration budget ({budget})"
    elif tols and all(options.get(t) == 0 for t in tols):
        off = ", ".join(f"{t} = 0" for t in tols)
        why = f"fixed iteration budget by design ({budget}; {off})"
    else:
        why = f"not converged within the tour's budget ({budget})"
    return f"{why}: {res.message}"


def _summary_row(label: str, problem: Any, res: Any, seconds: float,
                 reference: tuple[float | None, str], options: Mapping[str, Any]
                 ) -> dict[str, Any]:
    f_ref, source = reference
    return {
        "method": label,
        "problem": problem.name,
        "fun": float(res.fun),
        "f*": math.nan if f_ref is None else f_ref,
        "f* from": source,
        "f - f*": math.nan if f_ref is None else float(res.fun) - f_ref,
        "nit": res.nit,
        "nfev": res.nfev,
        "njev": res.njev,
        "time_s": round(seconds, 4),
        "success": bool(res.success),
        "message": _message(res, options),
    }


def _index_html(figures: Sequence[tuple[Any, str]], skipped: Sequence[str],
                summary: Table) -> str:
    """The tour's ``index.html``: a link to every figure with one line on what to see in
    it, the figures, and the summary table."""
    esc = html.escape
    items = "\n".join(
        f'<li><a href="{esc(path)}"><code>{esc(info.name)}</code></a>: {esc(_caption(info))}'
        f"</li>" for info, path in figures)
    sections = "\n".join(
        f'<h3 id="{esc(info.name)}"><code>{esc(info.name)}</code>: {esc(_title(info))}</h3>\n'
        f"<p>{esc(_caption(info))}</p>\n"
        f'<a href="{esc(path)}"><img src="{esc(path)}" alt="{esc(info.name)}"></a>'
        for info, path in figures)
    columns = summary.columns
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{esc(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in summary)
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    no_flagship = (f"<p>No flagship problem (not in the tour): {esc(', '.join(skipped))}.</p>"
                   if skipped else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>optkit tour</title>
<style>
body {{ font-family: sans-serif; max-width: 80em; margin: 2em auto; padding: 0 1em; }}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.5em; }}
</style>
</head>
<body>
<h1>optkit tour</h1>
<p>Every method on its flagship problems, beside its peers. Summary:
<a href="summary.md">summary.md</a>, <a href="summary.csv">summary.csv</a>.</p>
<h2>Figures</h2>
<ul>
{items}
</ul>
{no_flagship}
<h2>Summary</h2>
<table>
<tr>{head}</tr>
{rows}
</table>
<h2>The figures</h2>
{sections}
</body>
</html>
"""


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _tour(out: str, only: Sequence[str] | None) -> int:
    """Run every method (with its peers) on its flagship problems; write a PNG per method,
    the summary table (``summary.md``, ``summary.csv``) and ``index.html``."""
    import problems

    _use_agg()
    import matplotlib.pyplot as plt

    registry = optkit.registry
    names = [registry.get(m).name for m in only] if only else registry.names()
    os.makedirs(out, exist_ok=True)
    summary = Table(title="optkit tour")
    figures, skipped = [], []
    for name in names:
        info = registry.get(name)
        if not info.flagship:
            print(f"{name}: no flagship problem registered, skipped")
            skipped.append(name)
            continue
        fig, axes = plt.subplots(1, len(info.flagship), squeeze=False,
                                 figsize=(6.0 * len(info.flagship), 4.2), layout="constrained")
        plan = info.tour_runs or {m: (m, {}) for m in (name, *info.peers)}
        for ax, problem_name in zip(axes[0], info.flagship, strict=True):
            problem = problems.get(problem_name)
            runs, seconds = {}, {}
            for label, (method, options) in plan.items():
                start = time.perf_counter()
                runs[label] = optkit.minimize(problem, method=method, options=dict(options))
                seconds[label] = time.perf_counter() - start
            reference = _reference(problem, info, runs)
            for label, res in runs.items():
                if res.method == info.name:
                    summary.append(_summary_row(label, problem, res, seconds[label], reference,
                                                plan[label][1]))
            plot_options = dict(info.tour_plot)
            if reference[0] is not None:
                plot_options.setdefault("f_opt", reference[0])
            optkit.plot.convergence(runs, ax=ax, **plot_options)
        fig.suptitle(textwrap.fill(f"{name}: {_title(info)}", 70 * len(info.flagship),
                                   break_on_hyphens=False), fontsize="medium")
        path = f"{name.replace(':', '_')}.png"
        fig.savefig(os.path.join(out, path), dpi=110)
        plt.close(fig)
        figures.append((info, path))
        print(f"{name}: {', '.join(info.flagship)} -> {os.path.join(out, path)}")
    write_atomic(os.path.join(out, "summary.md"), f"# optkit tour\n\n{summary.to_markdown()}")
    write_atomic(os.path.join(out, "summary.csv"), summary.to_csv())
    write_atomic(os.path.join(out, "index.html"), _index_html(figures, skipped, summary))
    print(summary)
    print(f"\nplots, summary (summary.md, summary.csv) and index.html written to {out}/")
    return 0


def _load_grid(path: str | os.PathLike) -> dict[str, Any]:
    """Read a grid TOML file (the format is in this module's docstring) and build its problems.

    Parameters
    ----------
    path : str or os.PathLike
        The TOML file.

    Returns
    -------
    dict
        ``problems`` (label to the built problem), ``methods`` (label to ``(method,
        options)``), ``seeds`` (list of int) and ``specs`` (problem label to its catalog name
        and kwargs): the arguments of :func:`optkit.bench.run_grid_to`.

    Raises
    ------
    ValueError
        A file that is not TOML, unknown keys, missing or repeated names or labels, unknown
        problems or methods.
    TypeError
        Values of the wrong type.
    """
    import tomllib

    import problems as catalog

    with open(path, "rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{os.fspath(path)}: {err}") from err
    _check_keys("the grid", data, {"problems", "methods", "seeds", "options"})
    common = data.get("options", {})
    if not isinstance(common, dict):
        raise TypeError(f"options must be a table, got {common!r}")
    seeds = data.get("seeds", [0])
    problems, specs = {}, {}
    for label, name, kwargs in _entries(data, "problems", "kwargs"):
        problems[label] = catalog.get(name, **kwargs)
        specs[label] = {"name": name, "kwargs": kwargs}
    methods = {label: (optkit.registry.get(name).name, {**common, **options})
               for label, name, options in _entries(data, "methods", "options")}
    return {"problems": problems, "methods": methods, "seeds": seeds, "specs": specs}


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; the keys are {sorted(allowed)}")


def _entries(data: dict[str, Any], section: str, extra: str) -> list[tuple[str, str, dict]]:
    """``(label, name, kwargs or options)`` of each entry of ``problems`` or ``methods``."""
    entries = data.get(section)
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"the grid needs a non-empty list of {section} ([[{section}]] tables)")
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise TypeError(f"{section}[{i}] must be a name or a table, got {entry!r}")
        _check_keys(f"{section}[{i}]", entry, {"name", "label", extra})
        if not isinstance(entry.get("name"), str):
            raise ValueError(f"{section}[{i}] needs a name (a string)")
        values = entry.get(extra, {})
        if not isinstance(values, dict):
            raise TypeError(f"{section}[{i}].{extra} must be a table, got {values!r}")
        out.append((str(entry.get("label", entry["name"])), entry["name"], values))
    labels = [label for label, _, _ in out]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{section}: {repeated} more than once; give each a distinct label")
    return out


def _bench(args: argparse.Namespace) -> int:
    """Run the grid of a TOML file into a folder (resumably) and print a summary."""
    from optkit import bench

    grid = _load_grid(args.grid)
    out = args.out or os.path.splitext(os.path.basename(args.grid))[0]
    rows = bench.run_grid_to(out, grid["problems"], grid["methods"], grid["seeds"],
                             specs=grid["specs"], n_jobs=args.n_jobs, scheduler=args.dask,
                             progress=not args.no_progress)
    columns = ("problem", "method", "seed", "fun", "nit", "nfev", "time_s", "success")
    print(Table(({c: row[c] for c in columns} for row in rows), title=rows.title))
    print(f"\nlong table (one row per iteration) written to {os.path.join(out, 'results.csv')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
