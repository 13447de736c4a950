"""The methods. Each module registers its solvers with :func:`optkit.registry.register`.

:func:`discover` imports every public module of this package and of its subpackages once
(a method family may be a package, as :mod:`optkit.solvers.bcd`), so a new method needs only
its module: no list of names to keep up to date.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["discover"]


def discover(path: list[str] | None = None, package: str = __name__) -> None:
    """Import (and so register) every public module of :mod:`optkit.solvers`, recursing into
    subpackages; modules whose name starts with ``_`` and ``base`` are skipped.

    Parameters
    ----------
    path, package : optional
        Where to look, and the package name that ``path`` holds (default: this package).
    """
    for module in pkgutil.iter_modules(__path__ if path is None else path):
        if module.name.startswith("_") or module.name == "base":
            continue
        imported = importlib.import_module(f"{package}.{module.name}")
        if module.ispkg:
            discover(list(imported.__path__), imported.__name__)
