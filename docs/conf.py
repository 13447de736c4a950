"""Sphinx configuration of the optkit documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are
errors; ``tests/test_docs.py`` runs the same build). Nothing here reaches the network:
intersphinx is deliberately not used, so the build works offline.
"""

from __future__ import annotations

import os
import re
import sys

import matplotlib

matplotlib.use("Agg")  # the plot directive and any import of pyplot must not need a display

import optkit  # noqa: E402  (the package is installed, editable, in the build environment)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # ``problems`` next to ``optkit``, for a plain checkout

# -- project -----------------------------------------------------------------------------------

project = "optkit"
author = "the optkit developers"
copyright = "the optkit developers"
version = optkit.__version__
release = optkit.__version__

# -- extensions --------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
    "myst_nb",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.json"]
root_doc = "index"
default_role = "literal"  # `x` reads like ``x``, as in the docstrings
nitpicky = False

# autosummary writes one page per API entry into docs/generated/ (git-ignored).
autosummary_generate = True
autosummary_generate_overwrite = True
autosummary_imported_members = False

# The types are in the numpydoc "Parameters" sections; signatures stay short.
autodoc_typehints = "none"
autodoc_member_order = "bysource"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_show_inherited_class_members = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# The plot directive runs its code at build time (so every figure comes from working code).
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.figsize": (6.0, 4.0)}
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\n"

# -- the example gallery (sphinx-gallery) and the course notebooks (myst-nb) --------------------

# Every script in examples/ runs at build time and its figure is shown; OPTKIT_EXAMPLES_QUICK
# asks the long ones for their smaller gallery sizes (each example's docstring says which), so
# the build stays within minutes. ``tests/test_examples.py`` runs them at full size.
os.environ["OPTKIT_EXAMPLES_QUICK"] = "1"
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/[a-z][a-z_]*\.py$",  # every example runs; the _helpers do not
    "ignore_pattern": r"^_",  # matched against the file name
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "min_reported_time": 1,
    "show_memory": False,
    "show_signature": False,
    "capture_repr": (),
    "remove_config_comments": True,
    "backreferences_dir": "generated/backreferences",  # the method pages' minigalleries
    "doc_module": ("optkit",),
}

# The lessons are rendered as they are stored (without outputs): the test suite executes them.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]

# -- HTML ----------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"optkit {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False

# -- generated pages -----------------------------------------------------------------------------


def _plain(text: str) -> str:
    """``text`` (a docstring's first line) made safe inside a table cell.

    Balanced inline literals are kept; every other character that reST could read as markup
    is escaped. A summary line may end in the middle of an inline literal or a role, which
    would otherwise break the build.
    """
    parts = text.split("``")
    if len(parts) % 2 == 0:  # an odd number of ``: drop them all
        parts = ["".join(parts)]
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"``{part}``")
        else:
            out.append(re.sub(r"([\\`*_|:\[\]<>])", r"\\\1", part))
    return "".join(out)


def _write_methods_table(app) -> None:
    """Write ``generated/methods_table.rst``: the registered methods, read from the registry,
    so that the user guide's table never falls behind ``optkit.methods()``."""
    rows = optkit.registry.table()
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 18 22 10 10 12 48",
        "",
        "   * - name",
        "     - problem kinds",
        "     - needs",
        "     - stochastic",
        "     - backends",
        "     - summary",
    ]
    for row in rows:
        cells = [f"``{row['name']}``", row["problems"], row["needs"], row["stochastic"] or "no",
                 row["backends"], _plain(row["summary"])]
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {cell}" for cell in cells[1:]]
    folder = os.path.join(app.srcdir, "generated")
    os.makedirs(folder, exist_ok=True)
    text = "\n".join(lines) + "\n"
    path = os.path.join(folder, "methods_table.rst.inc")
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            old = handle.read()
    if old != text:  # rewrite only on change, so incremental builds stay incremental
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def setup(app):
    app.connect("builder-inited", _write_methods_table)
