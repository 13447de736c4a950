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
