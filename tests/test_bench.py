"""Tests for optkit.bench: the compare() timing harness and run_grid()."""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np
import pytest

import optkit
from optkit import bench
from optkit._table import Table

# -- compare -----------------------------------------------------------------------------------


def test_compare_structure():
    comp = bench.compare(
        {"optkit": lambda: 1, "peer": lambda: 2}, repeat=4, warmup=2, meta={"n": 10}
    )
    assert isinstance(comp, bench.Comparison)
    assert list(comp.cases) == ["optkit", "peer"]
    assert comp.baseline == "peer"  # the last case by default
    assert (comp.repeat, comp.warmup) == (4, 2)
    assert comp.meta == {"n": 10}
    for name, value in (("optkit", 1), ("peer", 2)):
        case = comp[name]
        assert case.name == name
        assert case.value == value
        assert len(case.times) == 4
        assert all(t >= 0 for t in case.times)
        assert case.min <= case.median <= case.max
        assert case.min == min(case.times) and case.max == max(case.times)
    assert comp["peer"].ratio == pytest.approx(1.0)

    table = comp.table()
    assert isinstance(table, Table)
    assert table.columns == ["case", "median_s", "min_s", "ratio"]
    assert [row["case"] for row in table] == ["optkit", "peer"]
    text = str(comp)
    assert "n: 10" in text and "optkit" in text and "ratio" in text


def test_compare_is_frozen():
    comp = bench.compare({"a": lambda: None}, repeat=1)
    with pytest.raises(AttributeError):
        comp.baseline = "b"
    with pytest.raises(TypeError):
        comp.cases["b"] = comp["a"]


def test_compare_ratios():
    def work():
        time.sleep(0.002)

    def ten_times_the_work():
        time.sleep(0.020)

    comp = bench.compare(
        {"same": work, "slow": ten_times_the_work, "base": work}, repeat=5, warmup=1
    )
    assert comp.baseline == "base"
    assert comp["same"].ratio == pytest.approx(1.0, rel=0.5)
    assert comp["slow"].ratio > 3
    comp = bench.compare({"slow": ten_times_the_work, "fast": work}, repeat=3, baseline="slow")
    assert comp["slow"].ratio == 1.0
    assert comp["fast"].ratio < 1 / 3


def test_compare_round_robin_order():
    calls = []
    comp = bench.compare(
        {name: (lambda name=name: calls.append(name)) for name in "abc"}, repeat=3, warmup=2
    )
    assert calls == list("abc") * 5  # 2 warm-up rounds, then 3 timed rounds
    assert all(len(case.times) == 3 for case in comp.cases.values())


def test_compare_write_json_round_trip(tmp_path):
    comp = bench.compare(
        {"optkit": lambda: np.ones(3), "scipy": lambda: np.ones(3)},
        repeat=3,
        meta={"n": np.int64(1000), "dtype": np.dtype("float64"), "sizes": (1, 2)},
    )
    path = tmp_path / "result.json"
    comp.write_json(path)
    assert sorted(os.listdir(tmp_path)) == ["result.json"]  # no temporary file left behind
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == json.loads(comp.to_json())
    assert data["meta"] == {"n": 1000, "dtype": "float64", "sizes": [1, 2]}
    assert data["baseline"] == "scipy"
    assert data["repeat"] == 3
    for key in ("python", "numpy", "platform", "machine", "cpu_count"):
        assert key in data["env"]
    assert data["env"]["numpy"] == np.__version__
    assert data["env"]["cpu_count"] == os.cpu_count()
    for name in ("optkit", "scipy"):
        case = data["cases"][name]
        assert case["times"] == list(comp[name].times)
        assert case["median"] == comp[name].median
        assert case["ratio"] == pytest.approx(comp[name].ratio)

    # Overwriting goes through a rename too: the old file is replaced whole.
    comp.write_json(path)
    assert sorted(os.listdir(tmp_path)) == ["result.json"]
    assert json.loads(path.read_text(encoding="utf-8"))["cases"].keys() == {"optkit", "scipy"}


def test_compare_zero_baseline_writes_null_ratio():
    # A case as fast as the clock's resolution has median 0: its ratios are NaN.
    case = bench.CaseTiming("a", (0.0,), 0.0, 0.0, 0.0, math.nan, None)
    comp = bench.Comparison(cases={"a": case}, baseline="a", repeat=1, warmup=0)
    assert json.loads(comp.to_json())["cases"]["a"]["ratio"] is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cases": {}}, "cases"),
        ({"repeat": 0}, "repeat"),
        ({"warmup": -1}, "warmup"),
        ({"baseline": "nope"}, "baseline"),
    ],
)
def test_compare_bad_arguments(kwargs, match):
    args = {"cases": {"a": lambda: None}, **kwargs}
    with pytest.raises(ValueError, match=match):
        bench.compare(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cases": [lambda: None]}, "cases"),
        ({"cases": {"a": 1}}, "cases"),
        ({"repeat": 2.5}, "repeat"),
        ({"meta": [1]}, "meta"),
    ],
)
def test_compare_bad_types(kwargs, match):
    args = {"cases": {"a": lambda: None}, **kwargs}
    with pytest.raises(TypeError, match=match):
        bench.compare(**args)


# -- run_grid ----------------------------------------------------------------------------------

SEEDS = (0, 1)
METHODS = {"gd": {"maxiter": 500}, "nesterov": {}}
COLUMNS = [
    "problem", "method", "seed", "fun", "nit", "nfev", "njev", "time_s", "success", "status",
    "message", "n", "f_opt", "history",
]


@pytest.fixture(scope="module")
def problems():
    Q = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
    c = np.array([1.0, -2.0, 0.5])
    return {
        "q": optkit.QuadraticProblem(Q, c, x0=np.zeros(3), name="q"),
        "q2": optkit.QuadraticProblem(np.diag([1.0, 10.0]), np.ones(2), x0=np.ones(2), name="q2"),
    }


@pytest.fixture(scope="module")
def expected(problems):
    return {
        (pname, mname, seed): optkit.minimize(
            problem, method=mname, options={**opts, "seed": seed}
        )
        for pname, problem in problems.items()
        for mname, opts in METHODS.items()
        for seed in SEEDS
    }


def check_rows(rows, expected):
    assert isinstance(rows, Table)
    assert rows.columns == COLUMNS
    assert [(r["problem"], r["method"], r["seed"]) for r in rows] == list(expected)
    for row in rows:
        res = expected[row["problem"], row["method"], row["seed"]]
        assert row["fun"] == pytest.approx(res.fun, rel=1e-12, abs=1e-12)
        assert (row["nit"], row["nfev"], row["njev"]) == (res.nit, res.nfev, res.njev)
        assert (row["success"], row["status"], row["message"]) == (
            res.success, res.status, res.message
        )
        assert row["time_s"] > 0
        assert isinstance(row["history"], optkit.History)
        assert len(row["history"]) == row["nit"] + 1
        assert row["history"].method == res.history.method
        assert row["n"] == res.x.size and row["f_opt"] is None


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_run_grid_loky(problems, expected, n_jobs):
    rows = bench.run_grid(problems, METHODS, SEEDS, n_jobs=n_jobs, backend="loky")
    check_rows(rows, expected)


def test_run_grid_without_a_bar_needs_no_tqdm(problems, expected, monkeypatch):
    # progress=False imports nothing of tqdm (tqdm.auto warns in a Jupyter without widgets)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # an import of it would fail
    check_rows(bench.run_grid(problems, METHODS, SEEDS, progress=False), expected)
    with pytest.raises(ImportError):
        bench.run_grid(problems, METHODS, SEEDS, progress=True)


def test_run_grid_names_only(problems):
    rows = bench.run_grid({"q": problems["q"]}, ["gd", "nesterov"])
    assert [(r["method"], r["seed"]) for r in rows] == [("gd", 0), ("nesterov", 0)]
    direct = optkit.minimize(problems["q"], method="nesterov", options={"seed": 0})
    assert rows[1]["fun"] == pytest.approx(direct.fun, rel=1e-12, abs=1e-12)


def test_run_grid_dask_scheduler(problems, expected):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        rows = bench.run_grid(
            problems, METHODS, SEEDS, backend="dask", scheduler=cluster.scheduler_address
        )
    check_rows(rows, expected)


def test_run_grid_dask_embedded_cluster(problems, expected):
    pytest.importorskip("distributed")
    rows = bench.run_grid(problems, METHODS, SEEDS, n_jobs=2, backend="dask")
    check_rows(rows, expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"problems": {}}, "problems"),
        ({"methods": {}}, "methods"),
        ({"methods": []}, "methods"),
        ({"methods": ["gd", "gd"]}, "methods"),
        ({"methods": ["no-such-method"]}, "no-such-method"),
        ({"methods": {"gd": {"seed": 3}}}, "seed"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"backend": "spark"}, "backend"),
        ({"backend": "threading", "scheduler": "tcp://127.0.0.1:8786"}, "backend"),
    ],
)
def test_run_grid_bad_arguments(problems, kwargs, match):
    args = {"problems": problems, "methods": ["gd"], **kwargs}
    with pytest.raises(ValueError, match=match):
        bench.run_grid(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"problems": [1]}, "problems"),
        ({"methods": 3}, "methods"),
        ({"methods": {"gd": 3}}, "gd"),
        ({"seeds": 0}, "seeds"),
        ({"seeds": [0.5]}, "seeds"),
        ({"n_jobs": 1.5}, "n_jobs"),
    ],
)
def test_run_grid_bad_types(problems, kwargs, match):
    args = {"problems": problems, "methods": ["gd"], **kwargs}
    with pytest.raises(TypeError, match=match):
        bench.run_grid(**args)


def test_run_grid_dask_missing(problems, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ImportError, match=r"pip install optkit\[dask\]"):
        bench.run_grid(problems, ["gd"], backend="dask")


def test_import_optkit_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, optkit, optkit.bench; "
        "heavy = [m for m in ('torch', 'dask', 'distributed') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- thread safety -----------------------------------------------------------------------------

#: Methods of the thread-safety grid, with options that keep each run short. adam and
#: greedy-bcd draw from the run's seeded generator (mini-batches, random blocks), so the seeds
#: matter; scipy:L-BFGS-B goes through SciPy's Fortran code.
THREAD_METHODS = {
    "gd": {"maxiter": 300},
    "nesterov": {"maxiter": 300},
    "adam": {"maxiter": 300, "lr": 0.05, "batch_size": 2},
    "gns-newton": {"maxiter": 50},
    "diffgrad": {"maxiter": 300, "lr": 0.05},
    "greedy-bcd": {"maxiter": 100, "selection": "random", "block_size": 2},
    "scipy:L-BFGS-B": {},
}


def _noisy_quadratic(n: int, seed: int, name: str) -> optkit.QuadraticProblem:
    """A QuadraticProblem whose ``sample`` gives the quadratic with a noisy linear term."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    Q = M @ M.T + n * np.eye(n)
    c = rng.standard_normal(n)

    def sample(batch_size, rng):
        noise = rng.standard_normal(n) / np.sqrt(batch_size)
        return optkit.QuadraticProblem(Q, c + noise, name=f"{name}-batch")

    return optkit.QuadraticProblem(Q, c, sample=sample, x0=rng.standard_normal(n), name=name)


def _comparable(rows: Table) -> list[dict]:
    """The rows without their wall times: every other column, histories as arrays."""
    out = []
    for row in rows:
        row = dict(row)
        del row["time_s"]
        history = row.pop("history")
        row["history"] = {k: v for k, v in history.to_dict().items() if k != "time"}
        row["history_meta"] = (history.problem, history.method, history.f_opt)
        out.append(row)
    return out


def test_run_grid_threading_matches_serial():
    """The grid run by two threads gives the table of the serial run, bit for bit: no run
    shares mutable state (solver objects, module globals, a global RNG) with another."""
    problems = {"nq6": _noisy_quadratic(6, 0, "nq6"), "nq9": _noisy_quadratic(9, 1, "nq9")}
    serial = bench.run_grid(problems, THREAD_METHODS, SEEDS, n_jobs=1, backend="threading")
    expected = _comparable(serial)
    assert [(r["problem"], r["method"], r["seed"]) for r in expected] == [
        (p, m, s) for p in problems for m in THREAD_METHODS for s in SEEDS]
    # The seeds make a difference where the method draws from the generator.
    by_key = {(r["problem"], r["method"], r["seed"]): r for r in expected}
    for method in ("adam", "greedy-bcd"):
        runs = [by_key["nq6", method, seed]["history"]["fun"] for seed in SEEDS]
        assert not np.array_equal(*runs), method
    for _ in range(3):  # interleavings differ from run to run
        threaded = bench.run_grid(problems, THREAD_METHODS, SEEDS, n_jobs=2,
                                  backend="threading")
        assert threaded.columns == serial.columns
        got = _comparable(threaded)
        assert len(got) == len(expected)
        for row, want in zip(got, expected, strict=True):
            key = (row["problem"], row["method"], row["seed"])
            assert row.keys() == want.keys(), key
            for column in want:
                if column == "history":
                    assert row[column].keys() == want[column].keys(), key
                    for name, values in want[column].items():
                        np.testing.assert_array_equal(row[column][name], values,
                                                      err_msg=f"{key} history[{name!r}]")
                else:
                    assert row[column] == want[column] or (
                        row[column] != row[column] and want[column] != want[column]
                    ), (key, column, row[column], want[column])


# -- labels, skip, on_run; long tables; run_grid_to and resuming ------------------------------


def test_run_grid_labels_skip_and_on_run(problems):
    methods = {"gd": {"maxiter": 20}, "gd-fixed": ("gd", {"maxiter": 20, "linesearch": None,
                                                         "step_size": 0.05})}
    seen = []
    rows = bench.run_grid(problems, methods, SEEDS, skip=[("q", "gd", 1), ("q2", "gd-fixed", 0)],
                          on_run=lambda row: seen.append((row["problem"], row["method"],
                                                          row["seed"])))
    keys = [(r["problem"], r["method"], r["seed"]) for r in rows]
    assert keys == [("q", "gd", 0), ("q", "gd-fixed", 0), ("q", "gd-fixed", 1),
                    ("q2", "gd", 0), ("q2", "gd", 1), ("q2", "gd-fixed", 1)]
    assert sorted(seen) == sorted(keys)
    fixed = optkit.minimize(problems["q"], method="gd", options={**methods["gd-fixed"][1],
                                                                 "seed": 0})
    assert rows[1]["fun"] == fixed.fun and rows[1]["history"].method == "gd"
    assert rows[0]["fun"] != fixed.fun
    assert (rows[0]["n"], rows[3]["n"], rows[0]["f_opt"]) == (3, 2, None)


def test_long_table_round_trips_through_csv(problems, tmp_path):
    rows = bench.run_grid(problems, METHODS, SEEDS)
    table = bench.long_table(rows)
    assert len(table) == sum(len(r["history"]) for r in rows)
    assert table.columns[:9] == ["problem", "method", "seed", "n", "f_opt", "success",
                                 "status", "message", "time_s"]
    (tmp_path / "results.csv").write_text(table.to_csv())
    back = bench.read_table(tmp_path / "results.csv")
    assert len(back) == len(rows)
    for got, want in zip(back, rows, strict=True):
        for column in ("problem", "method", "seed", "n", "f_opt", "success", "status",
                       "message", "time_s", "nit", "nfev", "njev"):
            assert got[column] == want[column], column
        assert got["fun"] == want["history"]["fun"][-1]
        assert got["history"].to_dict().keys() == want["history"].to_dict().keys()
        for name, values in want["history"].to_dict().items():
            np.testing.assert_array_equal(got["history"][name], values)


def _without_times(rows):
    """Rows of a CSV long table, less the columns that depend on the wall clock."""
    return [{k: v for k, v in row.items() if k not in ("time", "time_s")} for row in rows]


def _read_csv(path):
    import csv

    with open(path, newline="") as handle:
        return _without_times(csv.DictReader(handle))


def test_run_grid_to_resumes_an_interrupted_grid(problems, tmp_path, monkeypatch):
    """A grid stopped after 3 of its 8 runs resumes with the 5 others: the table is the one
    of an uninterrupted run, each run once."""
    whole = tmp_path / "whole"
    rows = bench.run_grid_to(whole, problems, METHODS, SEEDS)
    assert len(rows) == 8
    assert sorted(p.name for p in whole.iterdir()) == ["journal.jsonl", "results.csv"]

    append = bench._append_journal
    calls = []

    def interrupted(*args):
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a Ctrl-C between two runs
        calls.append(args)
        append(*args)

    monkeypatch.setattr(bench, "_append_journal", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        bench.run_grid_to(out, problems, METHODS, SEEDS)
    assert len((out / "journal.jsonl").read_text().splitlines()) == 3
    assert not (out / "results.csv").exists()
    monkeypatch.setattr(bench, "_append_journal", append)

    ran = []
    monkeypatch.setattr(bench, "_run_one", _counting(bench._run_one, ran))
    resumed = bench.run_grid_to(out, problems, METHODS, SEEDS)
    assert len(ran) == 5  # only the runs the journal lacked
    assert len((out / "journal.jsonl").read_text().splitlines()) == 8
    assert [(r["problem"], r["method"], r["seed"]) for r in resumed] == [
        (r["problem"], r["method"], r["seed"]) for r in rows]
    assert _read_csv(out / "results.csv") == _read_csv(whole / "results.csv")

    # Everything done: a rerun runs nothing and writes the same table.
    ran.clear()
    bench.run_grid_to(out, problems, METHODS, SEEDS)
    assert ran == [] and _read_csv(out / "results.csv") == _read_csv(whole / "results.csv")


def _counting(function, calls):
    def counted(*args):
        calls.append(args[:4])
        return function(*args)

    return counted


def test_run_grid_to_drops_a_cut_last_line_and_refuses_other_settings(problems, tmp_path):
    out = tmp_path / "out"
    bench.run_grid_to(out, problems, METHODS, SEEDS)
    expected = _read_csv(out / "results.csv")
    journal = out / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    # Killed while writing the 8th run: half its line is on disk.
    journal.write_text("".join(lines[:7]) + lines[7][: len(lines[7]) // 2])
    rows = bench.run_grid_to(out, problems, METHODS, SEEDS)
    assert len(rows) == 8
    assert len(journal.read_text().splitlines()) == 8
    assert _read_csv(out / "results.csv") == expected
    keys = [(r["problem"], r["method"], r["seed"]) for r in bench.read_table(
        out / "results.csv")]
    assert len(keys) == len(set(keys)) == 8
    with pytest.raises(ValueError, match="other settings"):
        bench.run_grid_to(out, problems, {**METHODS, "gd": {"maxiter": 7}}, SEEDS)
