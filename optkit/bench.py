"""Timing and grid runs: the peer-comparison harness and (problem x method x seed) grids.

Two tools live here.

:func:`compare` times a few zero-argument callables side by side in one process; every script
in ``benchmarks/`` uses it to measure optkit against a peer library on the same data. The
cases are interleaved round-robin, so a change of machine load during the measurement affects
every case alike, and each case is reported as a ratio to a baseline (by default the last
case, the peer).

:func:`run_grid` runs :func:`optkit.minimize` for every (problem, method, seed) with joblib,
locally (``loky``) or on a Dask cluster (``backend="dask"``), and returns one row per run.
In benchopt's terms (see the style anchors, section 1.6) a problem plays the part of a
dataset with its objective, a method that of a solver and a seed that of a repetition; the
per-iteration record of each run is its :class:`~optkit.History` (``row["history"]``), which
converts to a long-format table with :meth:`~optkit.History.to_pandas`.

:func:`run_grid_to` runs such a grid into a folder, resumably: each finished run is appended
to a journal (``journal.jsonl``), runs already there are skipped, and the per-iteration long
table (:func:`long_table`: one row per history record) is written atomically as
``results.csv`` (and ``results.parquet`` when pyarrow is installed); :func:`read_table` reads
it back. ``optkit bench grid.toml`` is this function driven by a TOML file. The tables feed the
performance and data profiles of :mod:`optkit.profiles`.

Neither imports anything heavy at module import time: Dask is imported only when
``backend="dask"`` is asked for. ``import optkit`` does not import this module; use
``from optkit import bench``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from optkit._table import Table, write_atomic

__all__ = ["compare", "Comparison", "CaseTiming", "run_grid", "run_grid_to", "long_table",
           "read_table"]

#: joblib backends :func:`run_grid` accepts besides ``"dask"``.
_JOBLIB_BACKENDS = ("loky", "threading", "multiprocessing")


# -- compare -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseTiming:
    """The timings of one case of a :func:`compare` run.

    Attributes
    ----------
    name : str
        The case's name (its key in ``cases``).
    times : tuple of float
        Wall time of each timed call, in seconds, in call order.
    median, min, max : float
        Median, fastest and slowest of ``times``, in seconds.
    ratio : float
        ``median`` divided by the baseline's median (1.0 for the baseline itself; NaN if the
        baseline's median is 0).
    value : object
        What the last call of the case returned (to check that the cases agree).
    """

    name: str
    times: tuple[float, ...]
    median: float
    min: float
    max: float
    ratio: float
    value: Any = field(repr=False, compare=False)


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`: per-case timings and where they were measured.

    Index it with a case name (``comp["optkit"]``) for that case's :class:`CaseTiming`.

    Attributes
    ----------
    cases : Mapping of str to CaseTiming
        One entry per case, in the order given to :func:`compare`.
    baseline : str
        The case the ratios are relative to.
    repeat, warmup : int
        Timed and untimed calls per case.
    meta : Mapping
        What the caller passed as ``meta`` (problem size, library versions, ...).
    env : Mapping
        Python and NumPy versions and machine information, taken when the timing ran.
    """

    cases: Mapping[str, CaseTiming]
    baseline: str
    repeat: int
    warmup: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> CaseTiming:
        return self.cases[name]

    def table(self) -> Table:
        """The timings as a :class:`~optkit._table.Table`.

        Returns
        -------
        Table
            One row per case with the columns ``case``, ``median_s``, ``min_s``, ``ratio``.
        """
        title = (
            f"median of {self.repeat} timed runs after {self.warmup} warm-up; "
            f"ratio = median / median of {self.baseline!r}"
        )
        rows = [
            {"case": c.name, "median_s": c.median, "min_s": c.min, "ratio": c.ratio}
            for c in self.cases.values()
        ]
        return Table(rows, title=title)

    def __str__(self) -> str:
        lines = [f"{key}: {value}" for key, value in self.meta.items()]
        return "\n".join([*lines, str(self.table())])

    def to_dict(self) -> dict[str, Any]:
        """Everything but the returned values, as plain JSON-ready Python objects.

        Returns
        -------
        dict
            Keys ``meta``, ``env`` (``python``, ``numpy``, ``optkit``, ``platform``,
            ``machine``, ``processor``, ``cpu_count``, ``created``), ``baseline``,
            ``repeat``, ``warmup`` and ``cases``: case name to ``times``, ``median``, ``min``,
            ``max``, ``ratio`` (seconds; a ratio that is not finite is ``None``).
        """
        cases = {
            c.name: {
                "times": list(c.times),
                "median": c.median,
                "min": c.min,
                "max": c.max,
                "ratio": c.ratio if math.isfinite(c.ratio) else None,
            }
            for c in self.cases.values()
        }
        return {
            "meta": _jsonable(self.meta),
            "env": _jsonable(self.env),
            "baseline": self.baseline,
            "repeat": self.repeat,
            "warmup": self.warmup,
            "cases": cases,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON text (see :meth:`to_dict` for its keys).

        Parameters
        ----------
        indent : int or None, optional
            Passed to :func:`json.dumps`.

        Returns
        -------
        str
        """
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    def write_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_json` to ``path`` atomically (temporary file, then rename).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write; its folder must exist.
        """
        write_atomic(path, self.to_json())


def compare(
    cases: Mapping[str, Callable[[], Any]],
    *,
    repeat: int = 5,
    warmup: int = 1,
    baseline: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Comparison:
    """Time zero-argument callables side by side, interleaved round-robin.

    Each case is first called ``warmup`` times untimed, then ``repeat`` times timed with
    :func:`time.perf_counter`. Calls go round-robin over the cases (``a, b, a, b, ...``), so
    a drift in machine load during the measurement affects every case alike.

    Parameters
    ----------
    cases : Mapping of str to callable
        Case name to a function of no arguments that does the work once, e.g.
        ``{"optkit": lambda: optkit.minimize(...), "scipy": lambda: minimize(...)}``.
    repeat : int, optional
        Timed calls per case (at least 1).
    warmup : int, optional
        Untimed calls per case before the timed ones (at least 0).
    baseline : str, optional
        The case the ratios are relative to. Default: the last case (by convention the peer).
    meta : Mapping, optional
        Anything that describes the measurement (problem size, peer version, ...). Printed
        with the table and written to the JSON; values that JSON cannot hold are written as
        their ``str``.

    Returns
    -------
    Comparison
        Median, min, max, all times, ratio and last returned value of every case.

    Raises
    ------
    ValueError
        ``cases`` empty, ``repeat < 1``, ``warmup < 0`` or ``baseline`` not a case.
    TypeError
        A case that is not callable, a name that is not a str, ``meta`` not a mapping.

    Notes
    -----
    The garbage collector is left on: garbage a case creates is part of its cost. Run each
    benchmark script in a fresh process so the cases see the same interpreter state.

    Examples
    --------
    >>> import time
    >>> from optkit import bench
    >>> comp = bench.compare({"fast": lambda: time.sleep(0.001),
    ...                       "slow": lambda: time.sleep(0.005)}, repeat=3)
    >>> comp["fast"].ratio < 1.0
    True
    """
    cases = _check_cases(cases)
    repeat = _check_int("repeat", repeat, minimum=1)
    warmup = _check_int("warmup", warmup, minimum=0)
    if baseline is None:
        baseline = list(cases)[-1]
    elif baseline not in cases:
        raise ValueError(f"baseline must be one of the cases {list(cases)}, got {baseline!r}")
    if meta is None:
        meta = {}
    elif not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping or None, got {type(meta).__name__}")

    env = _environment()
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    values: dict[str, Any] = {}
    clock = time.perf_counter
    for _ in range(repeat):
        for name, fn in cases.items():
            start = clock()
            value = fn()
            elapsed = clock() - start
            times[name].append(elapsed)
            values[name] = value

    base = statistics.median(times[baseline])
    timings = {}
    for name, ts in times.items():
        median = statistics.median(ts)
        ratio = median / base if base > 0 else math.nan
        timings[name] = CaseTiming(
            name=name, times=tuple(ts), median=median, min=min(ts), max=max(ts),
            ratio=ratio, value=values[name],
        )
    return Comparison(
        cases=MappingProxyType(timings),
        baseline=baseline,
        repeat=repeat,
        warmup=warmup,
        meta=MappingProxyType(dict(meta)),
        env=MappingProxyType(env),
    )


def _check_cases(cases: Any) -> dict[str, Callable[[], Any]]:
    if not isinstance(cases, Mapping):
        raise TypeError(f"cases must be a mapping of name to callable, got {type(cases).__name__}")
    if not cases:
        raise ValueError("cases must hold at least one case, got an empty mapping")
    for name, fn in cases.items():
        if not isinstance(name, str):
            raise TypeError(f"cases: names must be str, got {type(name).__name__}")
        if not callable(fn):
            raise TypeError(f"cases[{name!r}] must be callable, got {type(fn).__name__}")
    return dict(cases)


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _environment() -> dict[str, Any]:
    """Versions and machine information for a benchmark record."""
    from optkit import __version__

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "optkit": __version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "executable": sys.executable,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: NumPy scalars and arrays unwrapped, the rest as ``str``."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


# -- run_grid ----------------------------------------------------------------------------------

#: Columns of a :func:`run_grid` row that describe the whole run, in the long table too.
_RUN_COLUMNS = ("problem", "method", "seed", "n", "f_opt", "success", "status", "message",
                "time_s")


def run_grid(
    problems: Mapping[str, Any],
    methods: Mapping[str, Any] | Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    skip: Collection[tuple[str, str, int]] = (),
    on_run: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> Table:
    """Run :func:`optkit.minimize` on every (problem, method, seed), in parallel.

    Parameters
    ----------
    problems : Mapping of str to problem
        Name to anything :func:`optkit.minimize` takes as ``problem`` (a
        :class:`~optkit.Problem` or a structured kind). Each must pickle (with cloudpickle)
        when the runs go to other processes.
    methods : Mapping of str to Mapping or (str, Mapping), or sequence of str
        Method name to its options (``{"gd": {"maxiter": 500}, "nesterov": {}}``), or just
        names (no options). A single name is taken as a one-name list. A value may also be a
        pair ``(method, options)``: the key is then a label, so one method can appear with
        several option sets (``{"gd-fixed": ("gd", {"linesearch": None})}``); the rows'
        ``method`` column holds the label. Options must not hold ``"seed"``: the seed comes
        from ``seeds``.
    seeds : sequence of int, optional
        Seeds; each run gets ``options={**method_options, "seed": seed}``.
    n_jobs : int, optional
        Parallel jobs, as in joblib (``-1``: one per CPU). With ``backend="dask"`` it sizes
        the embedded ``LocalCluster`` (one single-threaded worker per job); a cluster reached
        through ``scheduler`` uses all its workers.
    backend : {"loky", "threading", "multiprocessing", "dask"}, optional
        The joblib backend. ``"dask"`` runs on a Dask cluster: the one at ``scheduler``, or
        an embedded ``LocalCluster`` (worker processes) started and closed by this call.
    scheduler : str, optional
        Address of a Dask scheduler (``"tcp://host:8786"``). Giving one implies
        ``backend="dask"``. The cluster's workers need optkit installed.
    skip : collection of (str, str, int), optional
        ``(problem, method, seed)`` runs to leave out (runs already done elsewhere).
    on_run : callable, optional
        Called as ``on_run(row)`` in this process as each run finishes, in the order they
        finish (to save each run as soon as it exists). An exception it raises stops the grid
        and is raised here.
    progress : bool, optional
        Show a progress bar over the runs (tqdm, on standard error).

    Returns
    -------
    Table
        One row (a dict) per run that was not skipped, problem-major then method then seed
        whatever order they finished in, with ``problem``, ``method``, ``seed``, ``fun``,
        ``nit``, ``nfev``, ``njev``, ``time_s`` (wall time of that run, measured where it
        ran), ``success``, ``status``, ``message``, ``n`` (the number of variables),
        ``f_opt`` (the problem's known optimal value, or None) and ``history`` (the run's
        :class:`~optkit.History`).

    Raises
    ------
    ValueError
        Empty ``problems``, ``methods`` or ``seeds``, an unknown method name, repeated
        methods or seeds, ``"seed"`` in a method's options, ``n_jobs == 0``, an unknown
        ``backend`` or one that contradicts ``scheduler``.
    TypeError
        Arguments of the wrong type.
    ImportError
        ``backend="dask"`` without dask.distributed (``pip install optkit[dask]``).

    Notes
    -----
    A run that does not converge is a row with ``success=False``, as with
    :func:`optkit.minimize`; an error raised by a run (bad options, a problem kind the
    method cannot take) stops the grid and is raised here.

    The embedded Dask cluster starts worker processes with ``spawn``, so a script that calls
    ``run_grid(..., backend="dask")`` needs the ``if __name__ == "__main__":`` guard.

    Examples
    --------
    >>> import numpy as np
    >>> import optkit
    >>> from optkit import bench
    >>> q = optkit.QuadraticProblem(np.diag([1.0, 4.0]), np.ones(2), x0=np.zeros(2), name="q")
    >>> rows = bench.run_grid({"q": q}, ["gd", "nesterov"], seeds=[0, 1])
    >>> len(rows), sorted({row["method"] for row in rows})
    (4, ['gd', 'nesterov'])
    >>> fixed = ("gd", {"linesearch": None, "step_size": 0.2})
    >>> rows = bench.run_grid({"q": q}, {"gd": {}, "gd-fixed": fixed})
    >>> [row["method"] for row in rows]
    ['gd', 'gd-fixed']
    """
    problems = _check_problems(problems)
    methods = _check_methods(methods)
    seeds = _check_seeds(seeds)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise TypeError(f"n_jobs must be an int, got {type(n_jobs).__name__}")
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive int or negative (joblib style), got 0")
    if backend not in (*_JOBLIB_BACKENDS, "dask"):
        raise ValueError(
            f"backend must be one of {[*_JOBLIB_BACKENDS, 'dask']}, got {backend!r}"
        )
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler:
            raise TypeError(f"scheduler must be an address string, got {scheduler!r}")
        if backend not in ("loky", "dask"):
            raise ValueError(
                f"scheduler={scheduler!r} runs the grid on Dask, but backend={backend!r}"
            )
        backend = "dask"
    if on_run is not None and not callable(on_run):
        raise TypeError(f"on_run must be callable or None, got {type(on_run).__name__}")
    skip = {(str(p), str(m), int(s)) for p, m, s in skip}

    from joblib import Parallel, delayed

    keys = [
        (pname, label, seed)
        for pname in problems
        for label in methods
        for seed in seeds
        if (pname, label, seed) not in skip
    ]
    tasks = [
        delayed(_run_one)(i, pname, problems[pname], label, *methods[label], seed)
        for i, (pname, label, seed) in enumerate(keys)
    ]
    title = (
        f"run_grid: {len(problems)} problem(s) x {len(methods)} method(s) "
        f"x {len(seeds)} seed(s)"
    )
    total = len(problems) * len(methods) * len(seeds)
    if backend != "dask":
        parallel = Parallel(n_jobs=int(n_jobs), backend=backend,
                            return_as="generator_unordered")
        return Table(_collect(parallel(tasks), len(tasks), total, on_run, progress),
                     title=title)

    with _DaskClient(scheduler, int(n_jobs)) as client:
        from joblib import parallel_config

        # No scatter=: Dask's tokenizer recurses forever on problems whose fields are bound
        # methods of the problem itself, so each task carries its problem.
        with parallel_config(backend="dask", client=client):
            # n_jobs=1 would make joblib run sequentially here; -1 uses every Dask worker.
            parallel = Parallel(n_jobs=-1, return_as="generator_unordered")
            rows = _collect(parallel(tasks), len(tasks), total, on_run, progress)
    return Table(rows, title=title)


def _collect(
    results: Iterable[tuple[int, dict[str, Any]]],
    n_tasks: int,
    total: int,
    on_run: Callable[[dict[str, Any]], None] | None,
    progress: bool,
) -> list[dict[str, Any]]:
    """The rows of ``(index, row)`` pairs in index order; ``on_run`` and the bar as they come.

    The bar is over the whole grid: the skipped runs show as done from the start.
    """
    done: dict[int, dict[str, Any]] = {}

    def collect(rows: Iterable[tuple[int, dict[str, Any]]]) -> None:
        for index, row in rows:
            if on_run is not None:
                on_run(row)
            done[index] = row

    if progress:
        from tqdm.auto import tqdm  # imported only for a bar (in Jupyter, a widget's)

        with tqdm(results, total=total, initial=total - n_tasks, unit="run", desc="runs",
                  file=sys.stderr) as bar:
            collect(bar)
    else:
        collect(results)
    return [done[i] for i in sorted(done)]


def _run_one(
    index: int, problem_name: str, problem: Any, label: str, method: str,
    options: Mapping[str, Any], seed: int,
) -> tuple[int, dict[str, Any]]:
    """One cell of the grid; runs in a joblib or Dask worker."""
    from optkit._minimize import minimize

    start = time.perf_counter()
    res = minimize(problem, method=method, options={**options, "seed": seed})
    elapsed = time.perf_counter() - start
    f_opt = getattr(problem, "f_opt", None)
    return index, {
        "problem": problem_name,
        "method": label,
        "seed": seed,
        "fun": float(res.fun),
        "nit": int(res.nit),
        "nfev": int(res.nfev),
        "njev": int(res.njev),
        "time_s": elapsed,
        "success": bool(res.success),
        "status": int(res.status),
        "message": str(res.message),
        "n": int(np.size(res.x)),
        "f_opt": None if f_opt is None else float(f_opt),
        "history": res.get("history"),
    }


def _check_problems(problems: Any) -> dict[str, Any]:
    if not isinstance(problems, Mapping):
        raise TypeError(
            f"problems must be a mapping of name to problem, got {type(problems).__name__}"
        )
    if not problems:
        raise ValueError("problems must hold at least one problem, got an empty mapping")
    for name in problems:
        if not isinstance(name, str):
            raise TypeError(f"problems: names must be str, got {type(name).__name__}")
    return dict(problems)


def _check_methods(methods: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{label: (method name, options)}``."""
    from optkit.registry import registry

    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        items = list(methods.items())
    elif isinstance(methods, Sequence):
        items = [(name, None) for name in methods]
        seen = [name for name in methods if isinstance(name, str)]
        repeated = sorted({name for name in seen if seen.count(name) > 1})
        if repeated:
            raise ValueError(f"methods: each name once, got {repeated} more than once")
    else:
        raise TypeError(
            "methods must be a mapping of name to options or a sequence of names, "
            f"got {type(methods).__name__}"
        )
    if not items:
        raise ValueError("methods must hold at least one method, got none")
    checked: dict[str, tuple[str, dict[str, Any]]] = {}
    for label, value in items:
        if not isinstance(label, str):
            raise TypeError(f"methods: names must be str, got {type(label).__name__}")
        name, opts = value if isinstance(value, tuple) and len(value) == 2 else (label, value)
        if not isinstance(name, str):
            raise TypeError(f"methods[{label!r}]: the method must be a str, got {name!r}")
        registry.get(name)  # ValueError with close matches for an unknown name
        if opts is None:
            opts = {}
        if not isinstance(opts, Mapping):
            raise TypeError(
                f"methods[{label!r}] must be a mapping of options, a (method, options) pair "
                f"or None, got {type(opts).__name__}"
            )
        if "seed" in opts:
            raise ValueError(
                f"methods[{label!r}] sets 'seed'; run_grid sets it from the seeds argument"
            )
        checked[label] = (name, dict(opts))
    return checked


def long_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """The runs of a grid as one long table: one row per history record.

    Parameters
    ----------
    rows : iterable of Mapping
        Rows of :func:`run_grid` (each with its ``history``).

    Returns
    -------
    Table
        For each run in order and each record of its history: the run's ``problem``,
        ``method``, ``seed``, ``n``, ``f_opt``, ``success``, ``status``, ``message`` and
        ``time_s`` (the whole run's), then the record's columns (``nit``, ``time``, ``fun``,
        ``nfev``, ... and the method's own). A run's final counts are on its last row.

    Examples
    --------
    >>> import numpy as np
    >>> import optkit
    >>> from optkit import bench
    >>> q = optkit.QuadraticProblem(np.diag([1.0, 4.0]), np.ones(2), x0=np.zeros(2), name="q")
    >>> rows = bench.run_grid({"q": q}, {"gd": {"maxiter": 3}})
    >>> table = bench.long_table(rows)
    >>> [row["nit"] for row in table], table.columns[:4]
    ([0, 1, 2, 3], ['problem', 'method', 'seed', 'n'])
    """
    out = Table(title="run_grid: one row per history record")
    for row in rows:
        run = {column: row.get(column) for column in _RUN_COLUMNS}
        out.extend({**run, **record} for record in row["history"])
    return out


def read_table(path: str | os.PathLike) -> Table:
    """Read a long table written by :func:`run_grid_to` (CSV) back as one row per run.

    Parameters
    ----------
    path : str or os.PathLike
        A ``results.csv`` written by :func:`run_grid_to` or ``optkit bench``.

    Returns
    -------
    Table
        One row per run, in the file's order, shaped like :func:`run_grid`'s: the run's
        columns, ``history`` (a :class:`~optkit.History` of its records) and ``fun``,
        ``nit``, ``nfev``, ``njev`` from its last record (``fun`` is the last iterate's,
        where :func:`optkit.minimize` may have returned a better earlier one). Empty cells
        are None; numbers and booleans get their types back.
    """
    import csv

    from optkit.result import History

    with open(path, encoding="utf-8", newline="") as handle:
        records = [
            {k: v if k in ("problem", "method", "message") else _parse_cell(v)
             for k, v in line.items()}
            for line in csv.DictReader(handle)
        ]
    runs: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for record in records:
        key = (record["problem"], record["method"], record["seed"])
        if key not in runs:
            runs[key] = {c: record[c] for c in _RUN_COLUMNS}
            runs[key]["history"] = History(
                f_opt=record["f_opt"], problem=record["problem"], method=record["method"]
            )
        runs[key]["history"].append(
            {k: v for k, v in record.items() if k not in _RUN_COLUMNS and v is not None}
        )
    for run in runs.values():
        last = run["history"][-1]
        run.update({c: last.get(c) for c in ("fun", "nit", "nfev", "njev")})
    return Table(runs.values(), title=f"runs read from {os.fspath(path)}")


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def run_grid_to(
    folder: str | os.PathLike,
    problems: Mapping[str, Any],
    methods: Mapping[str, Any] | Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    progress: bool = False,
    specs: Mapping[str, Any] | None = None,
) -> Table:
    """Run a grid into a folder, resumably, and write its long table there.

    Each finished run is appended at once to ``folder/journal.jsonl`` (one JSON line per
    run). Runs already in the journal are not run again, so a grid that was interrupted
    (killed, Ctrl-C, a machine lost) is resumed by calling this again with the same
    arguments. When every run is in the journal, the long table (:func:`long_table`) of
    the grid is written atomically to ``folder/results.csv``, and to
    ``folder/results.parquet`` when pyarrow is installed.

    Parameters
    ----------
    folder : str or os.PathLike
        The output folder (made if missing).
    problems, methods, seeds, n_jobs, backend, scheduler, progress
        As for :func:`run_grid`.
    specs : Mapping of str to JSON-able, optional
        Problem name to what it was built from (``{"name": "quadratic", "kwargs": {"n": 50}}``).
        With each method's name and options it is stored with every run, and a run of the
        journal whose settings differ from the grid's is an error, not a result to reuse.

    Returns
    -------
    Table
        One row per run of the grid, as :func:`run_grid` gives them, in the grid's order,
        the resumed runs included; the values are those read back from the journal.

    Raises
    ------
    ValueError
        A run of the journal that was made with other settings (use another folder), a
        journal line that is not JSON before the last line, and :func:`run_grid`'s errors.
    TypeError
        As for :func:`run_grid`.

    Notes
    -----
    A run is appended as one line written and flushed to disk; a last line cut short (the
    process was killed while writing it) is dropped and that run is done again. A run whose
    key (problem, method, seed) is in the journal but not in the grid is ignored.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import optkit
    >>> from optkit import bench
    >>> q = optkit.QuadraticProblem(np.diag([1.0, 4.0]), np.ones(2), x0=np.zeros(2), name="q")
    >>> with tempfile.TemporaryDirectory() as out:
    ...     rows = bench.run_grid_to(out, {"q": q}, ["gd", "nesterov"], seeds=[0, 1])
    ...     again = bench.run_grid_to(out, {"q": q}, ["gd", "nesterov"], seeds=[0, 1])
    ...     table = bench.read_table(os.path.join(out, "results.csv"))
    >>> len(rows), len(again), len(table)
    (4, 4, 4)
    """
    problems = _check_problems(problems)
    checked = _check_methods(methods)
    seeds = _check_seeds(seeds)
    specs = {} if specs is None else dict(specs)
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    journal = os.path.join(folder, "journal.jsonl")

    def spec(problem: str, label: str) -> Any:
        name, options = checked[label]
        return _canonical({"problem": specs.get(problem, problem), "method": name,
                           "options": options})

    keys = [(p, m, s) for p in problems for m in checked for s in seeds]
    entries = _read_journal(journal)
    for key in keys:
        if key in entries and entries[key]["spec"] != spec(*key[:2]):
            raise ValueError(
                f"{journal} holds the run {key} made with other settings "
                f"({entries[key]['spec']}, now {spec(*key[:2])}); write to another folder"
            )

    def append(row: dict[str, Any]) -> None:
        _append_journal(journal, row, spec(row["problem"], row["method"]))

    run_grid(problems, methods, seeds, n_jobs=n_jobs, backend=backend, scheduler=scheduler,
             skip=[key for key in keys if key in entries], on_run=append, progress=progress)
    entries = _read_journal(journal)
    rows = Table((_row_from_entry(entries[key]) for key in keys),
                 title=f"{len(keys)} runs in {folder}")
    table = long_table(rows)
    write_atomic(os.path.join(folder, "results.csv"), table.to_csv())
    _write_parquet(os.path.join(folder, "results.parquet"), table)
    return rows


def _canonical(value: Any) -> Any:
    """``value`` as it reads back from JSON, so specs compare alike before and after."""
    return json.loads(json.dumps(value, sort_keys=True, default=_json_scalar))


def _json_scalar(value: Any) -> Any:
    """JSON's fallback: NumPy scalars and arrays as Python values, anything else as str."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return str(value)


def _append_journal(path: str, row: Mapping[str, Any], spec: Any) -> None:
    """Append one run as one JSON line, flushed to disk."""
    history = row["history"]
    entry = {
        "spec": spec,
        "row": {k: v for k, v in row.items() if k != "history"},
        "history": {"records": list(history), "f_opt": history.f_opt,
                    "problem": history.problem, "method": history.method},
    }
    line = json.dumps(entry, default=_json_scalar) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _read_journal(path: str) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The journal's runs by key (the first of any repeated key); a cut last line is removed."""
    if not os.path.exists(path):
        return {}
    with open(path, "rb") as handle:
        data = handle.read()
    complete = data.rfind(b"\n") + 1
    if complete < len(data):  # killed while writing the last line: drop it
        with open(path, "r+b") as handle:
            handle.truncate(complete)
    entries: dict[tuple[str, str, int], dict[str, Any]] = {}
    for number, line in enumerate(data[:complete].splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {number}: not a journal entry ({err})") from err
        row = entry["row"]
        entries.setdefault((row["problem"], row["method"], row["seed"]), entry)
    return entries


def _row_from_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    from optkit.result import History

    hist = entry["history"]
    history = History(hist["records"], f_opt=hist["f_opt"], problem=hist["problem"],
                      method=hist["method"])
    return {**entry["row"], "history": history}


def _write_parquet(path: str, table: Table) -> None:
    """Write ``table`` to ``path`` as Parquet, atomically, when pyarrow is installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        pq.write_table(pa.Table.from_pylist(list(table)), tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a sequence of ints, got {type(seeds).__name__}")
    if len(seeds) == 0:
        raise ValueError("seeds must hold at least one seed, got none")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seeds must be ints, got {seed!r}")
    values = [int(s) for s in seeds]
    if len(set(values)) != len(values):
        raise ValueError(f"seeds must not repeat, got {values}")
    return values


class _DaskClient:
    """Context manager: a Dask client on ``scheduler``, or on an embedded LocalCluster."""

    def __init__(self, scheduler: str | None, n_jobs: int) -> None:
        self.scheduler = scheduler
        self.n_jobs = n_jobs
        self.client: Any = None
        self.cluster: Any = None

    def __enter__(self) -> Any:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as err:
            raise ImportError(
                "run_grid(backend='dask') needs dask.distributed: pip install optkit[dask]"
            ) from err
        if self.scheduler is not None:
            self.client = Client(self.scheduler, set_as_default=False)
            return self.client
        from joblib import cpu_count

        workers = self.n_jobs if self.n_jobs > 0 else max(1, cpu_count() + 1 + self.n_jobs)
        self.cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        try:
            self.client = Client(self.cluster, set_as_default=False)
        except BaseException:
            self.cluster.close()
            raise
        return self.client

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
