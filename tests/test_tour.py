"""``optkit tour``: the index page, one figure per method, the reference values and why a run
did not succeed."""

from __future__ import annotations

import csv
import html
import re
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from scipy.optimize import OptimizeResult

import optkit
from optkit.cli import _message, _reference, _title, main


def test_tour_writes_the_index_one_figure_per_method_and_the_reference(tmp_path):
    assert main(["tour", "--out", str(tmp_path), "--methods", "nesterov", "greedy-bcd",
                 "hoag"]) == 0
    figures = sorted(p.name for p in tmp_path.glob("*.png"))
    assert figures == ["greedy-bcd.png", "nesterov.png"]  # hoag has no flagship problem
    page = (tmp_path / "index.html").read_text()
    linked = set(re.findall(r'href="([^"]+\.png)"', page))
    assert linked == set(figures)
    for name in ("nesterov", "greedy-bcd"):
        info = optkit.registry.get(name)
        assert html.escape(info.tour_caption) in page
        assert html.escape(_title(info)) in page
    assert "hoag" in page.split("No flagship problem", 1)[1].split("</p>", 1)[0]

    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert {"f*", "f* from", "f - f*", "success", "message"} <= set(rows[0])
    assert {r["method"] for r in rows} == {"nesterov", "greedy_tree", "tree_partition",
                                           "random_tree", "red_black", "general"}
    for row in rows:  # every flagship run of these two reaches its tolerance
        assert row["success"] == "True", row
        assert row["f* from"].startswith("known optimum")
        assert abs(float(row["f - f*"])) <= 1e-9 * max(1.0, abs(float(row["f*"])))
        if row["method"] != "nesterov":  # block updates read Q: no oracle call
            assert row["nfev"] == row["njev"] == "0"
    assert "| f* from |" in (tmp_path / "summary.md").read_text()


def test_reference_value_and_how_it_was_obtained():
    gd, admm = optkit.registry.get("gd"), optkit.registry.get("convex-relu-admm")
    assert _reference(SimpleNamespace(f_opt=1.5), gd, {}) == \
        (1.5, "known optimum (the problem's f_opt)")
    runs = {"cvxpy (CLARABEL)": OptimizeResult(fun=8.0)}
    assert _reference(SimpleNamespace(), admm, runs) == \
        (8.0, "reference run: cvxpy (CLARABEL)")
    assert _reference(SimpleNamespace(f_opt=None), gd, {})[0] is None

    # a zero row and column (a solid cell) leave the rest of the system to solve
    A = np.array([[2.0, -1.0, 0.0], [-1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    b = np.array([1.0, 1.0, 0.0])
    value, source = _reference(optkit.LinearSystem(A, b), gd, {})
    assert value == pytest.approx(-1.0, rel=1e-14) and source.startswith("reference solve")
    value, source = _reference(optkit.LinearSystem(A, b, x_true=[1.0, 1.0, 0.0]), gd, {})
    assert value == pytest.approx(-1.0, rel=1e-14) and source.startswith("exact solution")
    operator = optkit.LinearSystem(spla.aslinearoperator(np.eye(2)), np.ones(2))
    assert _reference(operator, gd, {})[0] is None


@pytest.mark.parametrize("method, options, why", [
    ("bo-rep", {"batch_size": 1}, "stochastic method: fixed iteration budget (maxiter = 300)"),
    ("diffgrad", {"gtol": 0.0}, "fixed iteration budget by design (maxiter = 300; gtol = 0)"),
    ("gd", {"maxiter": 300}, "not converged within the tour's budget (maxiter = 300)"),
])
def test_a_run_at_its_iteration_limit_says_why(method, options, why):
    res = OptimizeResult(status=int(optkit.Status.MAXITER), message="Maximum.", nit=300,
                         method=method)
    assert _message(res, options) == f"{why}: Maximum."


@pytest.mark.parametrize("status", [optkit.Status.SUCCESS, optkit.Status.PRECISION_LOSS])
def test_other_runs_keep_the_methods_message(status):
    res = OptimizeResult(status=int(status), message="as is", nit=3, method="gd")
    assert _message(res, {"batch_size": 1}) == "as is"


@pytest.mark.parametrize("name", optkit.registry.names())
def test_titles_are_plain_whole_sentences(name):
    title = _title(optkit.registry.get(name))
    assert title.endswith(".") and not title.endswith("..")
    assert "`" not in title and ":math:" not in title and "\\" not in title


def test_title_examples():
    title = _title(optkit.registry.get("dcdm"))
    assert title == "The deep conjugate direction method (Kaneda et al., ICML 2023) on A x = b."
    assert _title(optkit.registry.get("super-newton")) == \
        "The super-universal Newton method (Doikov, Mishchenko and Nesterov, 2024)."
    assert optkit.registry.get("scipy:BFGS").tour_caption == ""
