"""The problem catalog: each builder registers itself with :func:`entry`."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optkit._table import Table

__all__ = ["entry", "catalog", "get", "Entry"]


@dataclass(frozen=True)
class Entry:
    """A catalog entry: a builder of a problem instance and what it is."""

    name: str
    builder: Callable[..., Any]
    kind: str
    summary: str

    def build(self, **kwargs: Any) -> Any:
        """Build the problem (``kwargs`` go to the builder)."""
        return self.builder(**kwargs)


_ENTRIES: dict[str, Entry] = {}


def entry(name: str, kind: str, **defaults: Any) -> Callable[[Callable], Callable]:
    """Register a builder under ``name`` (``defaults`` override the builder's own).

    The same builder may be registered under several names with different defaults
    (``logistic-breast-cancer`` and ``logistic-synthetic``, say).
    """

    def decorator(builder: Callable) -> Callable:
        if name in _ENTRIES:
            raise ValueError(f"problem {name!r} is already in the catalog")
        inspect.signature(builder).bind_partial(**defaults)
        build = (lambda **kw: builder(**{**defaults, **kw})) if defaults else builder
        summary = (builder.__doc__ or "").strip().split("\n", 1)[0]
        _ENTRIES[name] = Entry(name, build, kind, summary)
        return builder

    return decorator


def get(name: str, **kwargs: Any) -> Any:
    """Build the catalog problem ``name``; ``ValueError`` with close matches if unknown."""
    _load()
    if name not in _ENTRIES:
        close = difflib.get_close_matches(name, list(_ENTRIES), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown problem {name!r}.{hint} See problems.catalog().")
    return _ENTRIES[name].build(**kwargs)


def catalog() -> Table:
    """The catalog as a printable table (name, kind, summary); also a list of dicts."""
    _load()
    return Table(
        ({"name": e.name, "kind": e.kind, "summary": e.summary} for e in _ENTRIES.values()),
        title="optkit problems",
    )


def _load() -> None:
    """Import every module of the package, so that all builders are registered."""
    import importlib
    import pkgutil

    import problems

    for module in pkgutil.iter_modules(problems.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"problems.{module.name}")
