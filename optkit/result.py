"""Run outcomes: the :class:`Status` table and the per-iteration :class:`History`.

One status table serves every method. The numbers 0-3 and 99 keep the meanings (and the
messages) that :func:`scipy.optimize.minimize` gives them, so ``res.status == 0`` and
``res.success`` read the same as in SciPy; optkit adds codes from 4 upward.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Status", "History"]


class Status(IntEnum):
    """Why a run ended. ``int(status)`` is the ``res.status`` code.

    Each member carries its message (``Status.MAXITER.message``).
    """

    SUCCESS = 0
    MAXITER = 1
    PRECISION_LOSS = 2
    NONFINITE = 3
    MAXTIME = 4
    INNER_SOLVE_FAILED = 5
    CALLBACK_STOP = 99

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.SUCCESS: "Optimization terminated successfully.",
    Status.MAXITER: "Maximum number of iterations has been exceeded.",
    Status.PRECISION_LOSS: "Desired error not necessarily achieved due to precision loss.",
    Status.NONFINITE: "NaN result encountered.",
    Status.MAXTIME: "Maximum time (max_time) has been exceeded.",
    Status.INNER_SOLVE_FAILED: "An inner solve failed to reach its tolerance.",
    Status.CALLBACK_STOP: "`callback` raised `StopIteration`.",
}


def nan_trial_message(search: str) -> str:
    """``res.message`` of a run ended by a NaN objective at a trial point of a ``search``
    (status :attr:`Status.NONFINITE`; the iterate stays the last finite one)."""
    return (f"NaN result encountered: the objective returned NaN at a trial point of the "
            f"{search}; x is the last finite iterate.")


class History(Sequence):
    """Per-iteration records of one run: ``res.history``.

    Record 0 describes the starting point; record ``k`` the iterate after ``k`` accepted
    iterations, so ``len(history) == res.nit + 1``. Every record has ``nit``, ``time``
    (seconds since the run started), ``fun``, the evaluation counters ``nfev``, ``njev``,
    ``nhev``, ``grad_norm`` where the method has a gradient, and the method's own columns.

    Indexing with an integer gives one record (a dict); indexing with a column name gives
    that column as a NumPy array (``NaN`` where a record lacks it).

    Attributes
    ----------
    f_opt : float or None
        The problem's known optimal value, when it has one (used for suboptimality plots).
    problem : str
        The problem's name.
    method : str
        The method's name.
    """

    __slots__ = ("_rows", "f_opt", "problem", "method")

    def __init__(
        self,
        rows: list[dict[str, Any]] | None = None,
        *,
        f_opt: float | None = None,
        problem: str = "",
        method: str = "",
    ) -> None:
        self._rows = [] if rows is None else rows
        self.f_opt = f_opt
        self.problem = problem
        self.method = method

    def append(self, row: dict[str, Any]) -> None:
        """Add one record (a dict of scalars)."""
        self._rows.append(row)

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            if key not in self.columns:
                raise KeyError(f"no column {key!r}; the columns are {self.columns}")
            return np.array([row.get(key, np.nan) for row in self._rows], dtype=float)
        return self._rows[key]

    @property
    def columns(self) -> list[str]:
        """Column names, in order of first appearance."""
        names: dict[str, None] = {}
        for row in self._rows:
            names.update(dict.fromkeys(row))
        return list(names)

    def to_dict(self) -> dict[str, NDArray[np.float64]]:
        """All columns as a dict of NumPy arrays."""
        return {name: self[name] for name in self.columns}

    def to_pandas(self):
        """All records as a :class:`pandas.DataFrame` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("History.to_pandas needs pandas: pip install pandas") from err
        frame = pd.DataFrame(self._rows)
        frame.attrs.update(problem=self.problem, method=self.method, f_opt=self.f_opt)
        return frame

    def __repr__(self) -> str:
        return f"History({len(self)} records, problem={self.problem!r}, method={self.method!r})"


def as_history(run: Any) -> History:
    """The :class:`History` of a result, or the argument itself if it is one."""
    if isinstance(run, History):
        return run
    if isinstance(run, Mapping) and isinstance(run.get("history"), History):
        return run["history"]
    raise TypeError(
        f"expected an OptimizeResult with a 'history' or a History, got {type(run).__name__}"
    )
