"""ruff over the whole tree (pyproject's rules: pyflakes, pycodestyle, bugbear, no print in
library code outside the CLI and disp paths)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    pytest.importorskip("ruff")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "optkit",
                           "problems", "tests", "benchmarks", "examples"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
