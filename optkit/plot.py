"""Convergence plots from run histories (matplotlib, imported on first use).

Nothing here calls ``plt.show()``: the functions return the Figure and Axes, to show or
save as the caller likes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit.result import History, as_history

__all__ = ["convergence", "suboptimality"]

_LOG_COLUMNS = {"fun", "grad_norm", "residual", "relative_residual", "error_A", "r_pri",
                "r_dual", "step_size", "L", "eps", "upper_loss"}
_X_LABELS = {"nit": "iteration", "time": "time (s)", "nfev": "function evaluations",
             "njev": "gradient evaluations"}


def suboptimality(history: History, f_opt: float | None = None, *,
                  absolute: bool = False) -> NDArray[np.float64]:
    """``f_k - f*`` of a run, floored so it can go on a log axis: at the rounding level
    ``eps |f*|`` (below it the difference is noise), or at the smallest normal number when
    ``f* = 0`` (where ``f`` itself can go down to 1e-30 and beyond).

    Parameters
    ----------
    history : History
        A run's history.
    f_opt : float, optional
        The optimal value; defaults to ``history.f_opt``.
    absolute : bool
        ``|f_k - f*|`` instead, for methods whose iterates can undershoot the optimum
        (infeasible iterates, or a reference optimum of a slightly different problem).
    """
    f_opt = history.f_opt if f_opt is None else f_opt
    if f_opt is None:
        raise ValueError("the optimal value is unknown: pass f_opt")
    gap = history["fun"] - f_opt
    if absolute:
        gap = np.abs(gap)
    floor = np.finfo(float).eps * abs(f_opt) if f_opt != 0 else np.finfo(float).tiny
    return np.maximum(gap, floor)


def _undershoots(history: History, f_opt: float | None) -> bool:
    """Whether the run's objective goes below ``f*`` by more than rounding."""
    f_opt = history.f_opt if f_opt is None else f_opt
    return bool(np.any(history["fun"] < f_opt - np.finfo(float).eps * abs(f_opt)))


def _series(history: History, x: str, y: str, f_opt: float | None,
            absolute: bool = False) -> tuple[Any, Any]:
    xs = history[x]
    if y == "fun" and (f_opt is not None or history.f_opt is not None):
        return xs, suboptimality(history, f_opt, absolute=absolute)
    return xs, history[y]


def _normalize_runs(runs: Any) -> dict[str, list[History]]:
    """``{label: [history, ...]}`` from the many shapes ``runs`` may take."""
    if isinstance(runs, Mapping) and not isinstance(runs.get("history", None), History):
        out = {}
        for label, value in runs.items():
            if isinstance(value, Sequence) and not isinstance(value, History):
                out[str(label)] = [as_history(v) for v in value]
            else:
                out[str(label)] = [as_history(value)]
        return out
    if isinstance(runs, Sequence) and not isinstance(runs, History):
        out = {}
        for value in runs:
            hist = as_history(value)
            out.setdefault(hist.method or f"run {len(out)}", []).append(hist)
        return out
    hist = as_history(runs)
    return {hist.method or "run": [hist]}


def convergence(
    runs: Any,
    *,
    x: str = "nit",
    y: str = "fun",
    f_opt: float | None = None,
    ax: Any = None,
    logx: bool = False,
    logy: bool | None = None,
    title: str | None = None,
) -> tuple[Any, Any]:
    """Plot a history column of one or many runs against iterations, time or evaluations.

    Parameters
    ----------
    runs : OptimizeResult, History, dict or list
        One run; a list of runs (labelled by method); or a dict ``{label: run}`` or
        ``{label: [run, ...]}``. Several runs under one label (seeds) are drawn as their
        median with a band from the lowest to the highest.
    x : str
        Column for the horizontal axis: ``"nit"``, ``"time"``, ``"nfev"``, ``"njev"``...
    y : str
        Column for the vertical axis. ``"fun"`` is drawn as the suboptimality
        ``f - f*`` when the optimal value is known (``f_opt`` or the problem's).
    f_opt : float, optional
        The optimal value, overriding the problem's.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; a new figure is made otherwise.
    logx : bool
        Logarithmic horizontal axis.
    logy : bool, optional
        Logarithmic vertical axis; by default for suboptimality and positive quantities such
        as ``grad_norm``.
    title : str, optional
        Axes title; defaults to the problem's name.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> fig, ax = optkit.plot.convergence({"gd": res_gd, "adam": res_adam})  # doctest: +SKIP
    >>> fig.savefig("convergence.png")                                      # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    groups = _normalize_runs(runs)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    else:
        fig = ax.figure
    subopt = undershoot = False
    positive = True
    for label, histories in groups.items():
        is_subopt = y == "fun" and (f_opt is not None or histories[0].f_opt is not None)
        subopt |= is_subopt
        absolute = is_subopt and any(_undershoots(h, f_opt) for h in histories)
        undershoot |= absolute  # e.g. infeasible iterates: plot the distance to f*
        series = [_series(h, x, y, f_opt, absolute) for h in histories]
        if len(series) == 1:
            xs, ys = series[0]
            (line,) = ax.plot(xs, ys, label=label)
        else:
            n = min(len(s[1]) for s in series)
            xs = np.median(np.stack([s[0][:n] for s in series]), axis=0)
            ys = np.stack([s[1][:n] for s in series])
            (line,) = ax.plot(xs, np.median(ys, axis=0), label=f"{label} (median of {len(ys)})")
            ax.fill_between(xs, ys.min(axis=0), ys.max(axis=0), color=line.get_color(),
                            alpha=0.2, linewidth=0)
        positive &= bool(np.all(np.asarray(ys)[np.isfinite(ys)] > 0))
    if logy is None:
        logy = subopt or (y in _LOG_COLUMNS and positive)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(_X_LABELS.get(x, x))
    ax.set_ylabel(("|f(x) - f*|" if undershoot else "f(x) - f*") if subopt else y)
    first = next(iter(groups.values()))[0]
    ax.set_title(first.problem if title is None else title)
    ax.grid(True, which="major", alpha=0.3)
    if len(groups) > 1 or any(len(h) > 1 for h in groups.values()):
        ax.legend()
    return fig, ax
