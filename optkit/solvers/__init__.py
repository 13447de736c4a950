"""The methods. Each module registers its solvers with :func:`optkit.registry.register`.

:func:`discover` imports every public module of this package once, so a new method needs
only its module: no list of names to keep up to date.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["discover"]


def discover() -> None:
    """Import (and so register) every method module of :mod:`optkit.solvers`."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
