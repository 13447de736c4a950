"""Not an example: the one helper the examples share, to write their key figures as JSON.

Each example writes ``<script>.json`` beside its PNG with the numbers it reproduces (final
suboptimalities, iteration counts, accuracies); ``tests/test_examples.py`` runs every example
and asserts them.
"""

import json
import os
from pathlib import Path

import numpy as np


def save_figures(path, figures):
    """Write ``figures`` (nested dicts and lists of numbers, strings and None; NumPy scalars
    and arrays are converted to lists) as JSON to ``path``, atomically: a temporary file, then
    ``os.replace``, so a reader never sees half a file."""
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(figures, indent=1, default=lambda value: np.asarray(value).tolist()))
    os.replace(tmp, path)
