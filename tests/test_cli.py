"""The optkit command."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

import optkit
from optkit.cli import main


def test_methods_and_problems(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in optkit.registry.names():
        assert name in out
    assert main(["problems"]) == 0
    assert "rosen" in capsys.readouterr().out


def test_run_with_options_and_plot(tmp_path, capsys):
    plot = tmp_path / "rosen.png"
    code = main(["run", "rosen", "--method", "nesterov", "-o", "maxiter=3", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 1  # maxiter reached: not a success
    assert "Maximum number of iterations" in out and "nit: 3" in out
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_run_errors_exit_2(capsys):
    assert main(["run", "rosen", "--method", "gdd"]) == 2
    assert "Did you mean 'gd'" in capsys.readouterr().err
    assert main(["run", "rosen", "--method", "gd", "-o", "stepsize=1"]) == 2
    assert "unknown option" in capsys.readouterr().err
    assert main(["run", "rosenbrock", "--method", "gd"]) == 2
    assert "Unknown problem 'rosenbrock'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "rosen", "--method", "gd", "-o", "novalue"])


def test_tour_writes_plots_and_tables(tmp_path):
    assert main(["tour", "--out", str(tmp_path), "--methods", "gd", "nesterov"]) == 0
    assert (tmp_path / "gd.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "nesterov.png").exists()
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert {(r["method"], r["problem"]) for r in rows} >= {("gd", "rosen"),
                                                           ("nesterov", rows[-1]["problem"])}
    assert all(float(r["f - f*"]) < 1e-6 for r in rows)
    assert (tmp_path / "summary.md").read_text().startswith("# optkit tour")


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "optkit", "methods"], capture_output=True,
                         text=True, check=True).stdout
    assert "gd" in out


# -- optkit bench ------------------------------------------------------------------------------

GRID = """
seeds = [0, 1]
options = { maxiter = 400 }

[[problems]]
name = "rosen"

[[problems]]
name = "quadratic"
label = "quadratic-20"
kwargs = { n = 20, cond = 100.0 }

[[methods]]
name = "gd"

[[methods]]
name = "nesterov"

[[methods]]
name = "adam"
label = "adam-lr"
options = { lr = 0.05 }
"""
N_RUNS = 2 * 3 * 2


def _table(path):
    """The rows of a results.csv, less the columns that depend on the wall clock."""
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in ("time", "time_s")}
                for row in csv.DictReader(handle)]


def _runs(path):
    return [(r["problem"], r["method"], r["seed"]) for r in _table(path) if r["nit"] == "0"]


def test_bench_writes_the_long_table(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    assert main(["bench", str(grid), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{N_RUNS} runs in" in out and "adam-lr" in out
    runs = _runs(tmp_path / "out" / "results.csv")
    assert runs == [(p, m, s) for p in ("rosen", "quadratic-20")
                    for m in ("gd", "nesterov", "adam-lr") for s in ("0", "1")]
    rows = _table(tmp_path / "out" / "results.csv")
    assert {r["n"] for r in rows} == {"2", "20"}
    assert max(int(r["nit"]) for r in rows) == 400  # the common maxiter


@pytest.mark.parametrize("text, match", [
    ("seeds = [0]\nproblems = ['rosen']\n", "list of methods"),
    ("problems = ['rosen']\nmethods = ['gd']\ncolour = 1\n", "unknown key"),
    ("problems = ['rosen', 'rosen']\nmethods = ['gd']\n", "distinct label"),
    ("problems = ['rosenbrock']\nmethods = ['gd']\n", "Unknown problem"),
    ("problems = ['rosen']\nmethods = ['gdd']\n", "Did you mean 'gd'"),
    ("problems = [{name = 'rosen', args = {}}]\nmethods = ['gd']\n", "unknown key"),
    ("problems = ['rosen']\nmethods = ['gd']\nseeds = [1, 1]\n", "seeds"),
    ("problems = ['rosen'\n", "grid.toml"),
])
def test_bench_bad_grids_exit_2(tmp_path, capsys, text, match):
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    assert main(["bench", str(grid), "--out", str(tmp_path / "out")]) == 2
    assert match in capsys.readouterr().err


def test_bench_killed_midway_resumes_without_lost_or_repeated_runs(tmp_path):
    """`optkit bench` killed (SIGKILL) after a few runs, then run again: every run once, and
    the table of an uninterrupted run."""
    import time

    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.replace("maxiter = 400", "maxiter = 4000"))
    out = tmp_path / "out"
    journal = out / "journal.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "optkit", "bench", str(grid), "--out",
                             str(out), "--no-progress"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 2):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait()
    done = journal.read_bytes().count(b"\n")
    assert 2 <= done < N_RUNS and not (out / "results.csv").exists()

    assert main(["bench", str(grid), "--out", str(out), "--no-progress"]) == 0
    assert journal.read_bytes().count(b"\n") == N_RUNS
    runs = _runs(out / "results.csv")
    assert len(runs) == len(set(runs)) == N_RUNS
    assert main(["bench", str(grid), "--out", str(tmp_path / "whole"), "--no-progress"]) == 0
    assert _table(out / "results.csv") == _table(tmp_path / "whole" / "results.csv")


def test_bench_on_dask_gives_the_joblib_table(tmp_path):
    distributed = pytest.importorskip("distributed")
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    assert main(["bench", str(grid), "--out", str(tmp_path / "joblib"), "--n-jobs", "2",
                 "--no-progress"]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert main(["bench", str(grid), "--out", str(tmp_path / "dask"), "--dask",
                     cluster.scheduler_address, "--no-progress"]) == 0
    joblib_rows = _table(tmp_path / "joblib" / "results.csv")
    assert len(_runs(tmp_path / "joblib" / "results.csv")) == N_RUNS
    assert _table(tmp_path / "dask" / "results.csv") == joblib_rows
