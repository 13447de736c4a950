"""Run a course notebook (``docs/course``) with nbclient and return the figures it reports.

Every lesson keeps its key figures in a dict named ``results``; :func:`run_notebook` executes
the notebook in a fresh kernel with ``OPTKIT_COURSE_SMALL=1`` (the lessons' small sizes, read
in their first code cell), appends one cell that prints ``results`` as JSON, and returns it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

COURSE = Path(__file__).resolve().parents[1] / "docs" / "course"


def run_notebook(name: str, *, solutions: bool = False, timeout: int = 300) -> dict[str, Any]:
    """Execute ``docs/course[/solutions]/<name>.ipynb`` at its small sizes; its ``results``."""
    import nbclient
    import nbformat

    path = (COURSE / "solutions" if solutions else COURSE) / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import json as _json\nprint(_json.dumps(results, default=float))"))
    env = {**os.environ, "OPTKIT_COURSE_SMALL": "1", "MPLBACKEND": "Agg"}
    client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    saved = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    outputs = notebook.cells[-1].outputs
    text = "".join(out.get("text", "") for out in outputs if out.get("name") == "stdout")
    return json.loads(text)
