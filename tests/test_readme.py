"""README.md stays true: its test command is CI's, and it lists every registered method."""

from __future__ import annotations

import re
from pathlib import Path

import optkit

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_starts_with_the_two_setup_commands():
    tour, tests = _commands()[:2]
    assert tour.endswith("optkit tour --out tour") and tests.endswith("pytest -n auto")
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_readme_lists_every_method():
    text = (ROOT / "README.md").read_text()
    for name in optkit.registry.names():
        assert f"| `{name}` |" in text, name
    assert "| `scipy:<METHOD>` |" in text
