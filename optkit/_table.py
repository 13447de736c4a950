"""A small table of rows (dicts) that prints as text and writes Markdown or CSV."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


class Table(list):
    """A list of rows (dicts with the same keys) with a readable ``str``."""

    def __init__(self, rows: Iterable[Mapping[str, Any]] = (), title: str = ""):
        super().__init__(dict(row) for row in rows)
        self.title = title

    @property
    def columns(self) -> list[str]:
        names: dict[str, None] = {}
        for row in self:
            names.update(dict.fromkeys(row))
        return list(names)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        cols = self.columns
        return cols, [[_fmt(row.get(c)) for c in cols] for row in self]

    def __str__(self) -> str:
        cols, cells = self._cells()
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
        lines = [self.title] if self.title else []
        def line(values: list[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        lines.append(line(cols))
        lines.append("  ".join("-" * w for w in widths))
        lines += [line(r) for r in cells]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def to_markdown(self) -> str:
        """The table as GitHub-flavoured Markdown."""
        cols, cells = self._cells()
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(v.replace("|", "\\|") for v in r) + " |" for r in cells]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """The table as CSV text."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self)
        return buf.getvalue()


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
