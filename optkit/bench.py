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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from optkit._table import Table, write_atomic

__all__ = ["compare", "Comparison", "CaseTiming", "run_grid"]

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


def run_grid(
    problems: Mapping[str, Any],
    methods: Mapping[str, Mapping[str, Any] | None] | Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
) -> Table:
    """Run :func:`optkit.minimize` on every (problem, method, seed), in parallel.

    Parameters
    ----------
    problems : Mapping of str to problem
        Name to anything :func:`optkit.minimize` takes as ``problem`` (a
        :class:`~optkit.Problem` or a structured kind). Each must pickle (with cloudpickle)
        when the runs go to other processes.
    methods : Mapping of str to Mapping, or sequence of str
        Method name to its options (``{"gd": {"maxiter": 500}, "nesterov": {}}``), or just
        names (no options). A single name is taken as a one-name list. Options must not hold
        ``"seed"``: the seed comes from ``seeds``.
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

    Returns
    -------
    Table
        One row (a dict) per run, problem-major then method then seed, with ``problem``,
        ``method``, ``seed``, ``fun``, ``nit``, ``nfev``, ``njev``, ``time_s`` (wall time of
        that run, measured where it ran), ``success``, ``status``, ``message`` and
        ``history`` (the run's :class:`~optkit.History`).

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

    from joblib import Parallel, delayed

    tasks = [
        delayed(_run_one)(pname, problem, mname, opts, seed)
        for pname, problem in problems.items()
        for mname, opts in methods.items()
        for seed in seeds
    ]
    title = (
        f"run_grid: {len(problems)} problem(s) x {len(methods)} method(s) "
        f"x {len(seeds)} seed(s)"
    )
    if backend != "dask":
        rows = Parallel(n_jobs=int(n_jobs), backend=backend)(tasks)
        return Table(rows, title=title)

    with _DaskClient(scheduler, int(n_jobs)) as client:
        from joblib import parallel_config

        # No scatter=: Dask's tokenizer recurses forever on problems whose fields are bound
        # methods of the problem itself, so each task carries its problem.
        with parallel_config(backend="dask", client=client):
            # n_jobs=1 would make joblib run sequentially here; -1 uses every Dask worker.
            rows = Parallel(n_jobs=-1)(tasks)
    return Table(rows, title=title)


def _run_one(
    problem_name: str, problem: Any, method: str, options: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    """One cell of the grid; runs in a joblib or Dask worker."""
    from optkit._minimize import minimize

    start = time.perf_counter()
    res = minimize(problem, method=method, options={**options, "seed": seed})
    elapsed = time.perf_counter() - start
    return {
        "problem": problem_name,
        "method": method,
        "seed": seed,
        "fun": float(res.fun),
        "nit": int(res.nit),
        "nfev": int(res.nfev),
        "njev": int(res.njev),
        "time_s": elapsed,
        "success": bool(res.success),
        "status": int(res.status),
        "message": str(res.message),
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


def _check_methods(methods: Any) -> dict[str, dict[str, Any]]:
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
    checked: dict[str, dict[str, Any]] = {}
    for name, opts in items:
        if not isinstance(name, str):
            raise TypeError(f"methods: names must be str, got {type(name).__name__}")
        registry.get(name)  # ValueError with close matches for an unknown name
        if opts is None:
            opts = {}
        if not isinstance(opts, Mapping):
            raise TypeError(
                f"methods[{name!r}] must be a mapping of options or None, "
                f"got {type(opts).__name__}"
            )
        if "seed" in opts:
            raise ValueError(
                f"methods[{name!r}] sets 'seed'; run_grid sets it from the seeds argument"
            )
        checked[name] = dict(opts)
    return checked


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
