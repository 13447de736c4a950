"""The problem zoo: functions that build optkit problem instances.

``problems.catalog()`` lists them; ``problems.get(name, **kwargs)`` builds one by name (what
the ``optkit`` command and the tour use). Modules are grouped by kind (``smooth``, ``ml``,
...); each builder registers itself with :func:`problems._catalog.entry`.
"""

from problems._catalog import catalog, get

__all__ = ["catalog", "get"]
