"""The documentation builds, warning-free: ``sphinx-build -W --keep-going -b html docs``.

Warnings are errors, so a docstring that numpydoc cannot parse, a broken cross-reference in
the user guide, an example in a ``.. plot::`` block that raises, an example of the gallery
(sphinx-gallery runs every script in ``examples/``, at its quick sizes) that raises or whose
docstring is not valid reST, or a course notebook that myst-nb cannot render fails this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.docs
@pytest.mark.timeout(900)
def test_docs_build_without_warnings(tmp_path):
    for module in ("sphinx", "numpydoc", "pydata_sphinx_theme", "sphinx_gallery", "myst_nb"):
        pytest.importorskip(module)
    # -E and run_stale_examples: every page read and every example run again, not only the
    # changed ones (a change to optkit can break an unchanged example)
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-b", "html",
           "-D", "sphinx_gallery_conf.run_stale_examples=1", str(DOCS), str(tmp_path / "html")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=840)
    assert result.returncode == 0, (
        f"sphinx-build failed (exit code {result.returncode}):\n{result.stderr}"
    )


@pytest.mark.parametrize("page", ["index.rst", "user_guide/minimize.rst",
                                  "user_guide/writing_a_solver.rst",
                                  "user_guide/migrating_from_scipy.rst",
                                  "methods/diffgrad.rst",
                                  "methods/gns_newton.rst", "methods/greedy_bcd.rst",
                                  "methods/dcdm.rst", "methods/convex_relu.rst",
                                  "methods/maid.rst", "methods/bo_rep.rst",
                                  "methods/lv_hba.rst"])
def test_doc_examples_run(page):
    """Every ``>>>`` example of the user guide runs and prints what the page shows (in a
    fresh process: the solver-writing page registers an example method)."""
    code = ("import doctest, sys; r = doctest.testfile(sys.argv[1], module_relative=False, "
            "optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE); "
            "sys.exit(1 if r.failed else 0)")
    env = {**os.environ, "PYTHONPATH": str(DOCS / "user_guide" / "examples"),
           "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", code, str(DOCS / page)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
