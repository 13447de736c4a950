r"""Comparing methods over many runs: performance profiles, data profiles, bands over seeds.

All three take the runs of a grid: the table of :func:`optkit.bench.run_grid` (or of
:func:`optkit.bench.run_grid_to`, or :func:`optkit.bench.read_table` of a ``results.csv``),
one row per run with ``problem``, ``method``, ``seed``, ``success``, ``n``, ``f_opt`` and the
run's ``history``.

**Performance profiles** (Dolan and Moré, 2002). For a cost :math:`t_{p,s}` of method
:math:`s` on instance :math:`p` (evaluations, iterations or time until the run is solved;
:math:`\infty` when it never is), the performance ratio is
:math:`r_{p,s} = t_{p,s} / \min_{s'} t_{p,s'}` and the profile of :math:`s` is

.. math:: \rho_s(\tau) = \frac{|\{p : r_{p,s} \le \tau\}|}{|P|},

the fraction of instances that :math:`s` solves within a factor :math:`\tau` of the best
method: :math:`\rho_s(1)` is how often it is the fastest (ties count for every tied method),
:math:`\lim_{\tau\to\infty}\rho_s(\tau)` how often it solves the instance at all. An
instance that no method solves has :math:`r_{p,s} = \infty` for all.

**Data profiles** (Moré and Wild, 2009). A run solves its problem once it reaches the
convergence test

.. math:: f(x_0) - f(x_k) \ge (1 - \tau)\,\bigl(f(x_0) - f_L\bigr),

with :math:`f_L` the smallest value any run of the grid reached on that problem (or its
known optimum, ``reference="f_opt"``). With :math:`t_{p,s}` the evaluations spent until
then, the data profile is

.. math:: d_s(\kappa) = \frac{|\{p : t_{p,s} / (n_p + 1) \le \kappa\}|}{|P|},

the fraction solved within :math:`\kappa` simplex gradients (:math:`n_p + 1` evaluations,
:math:`n_p` the number of variables). Unlike a performance profile, it does not depend on
the other methods (except through :math:`f_L`).

**Seeds.** In a grid the seed goes to the method (mini-batches, random choices): every seed
of a problem is the same problem, with the same :math:`f(x_0)` and :math:`f_L`. By default
(``seeds="instances"``) each (problem, seed) pair is one instance of the profile, and the
best method is found among the runs of that seed; the profile is then the mean over seeds of
one profile per seed. With ``seeds="median"`` each problem is one instance, whose cost for a
method is the median over its seeds (a failed run counts as the largest cost, so a method
that fails on more than half the seeds fails the instance).

**Bands.** :func:`suboptimality_bands` puts the runs of each method on one grid of
iterations, evaluations or time and takes the median and quantiles of :math:`f - f^*` over
seeds; :func:`plot_bands` draws them.

Matplotlib is imported only by the plotting functions.

References
----------
.. [1] E. D. Dolan and J. J. Moré, "Benchmarking optimization software with performance
   profiles", Math. Program. 91, 201-213 (2002).
.. [2] J. J. Moré and S. M. Wild, "Benchmarking derivative-free optimization algorithms",
   SIAM J. Optim. 20(1), 172-191 (2009).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optkit.plot import suboptimality
from optkit.result import History

__all__ = ["Profile", "performance_profile", "data_profile", "plot_profile", "Band",
           "suboptimality_bands", "plot_bands"]

_SEEDS = ("instances", "median")
_REFERENCES = ("best", "f_opt")
_X_LABELS = {"nit": "iterations", "time": "time (s)", "nfev": "function evaluations",
             "njev": "gradient evaluations"}


@dataclass(frozen=True)
class Profile:
    """A performance or data profile: one score per (instance, method), and their fractions.

    Call it with thresholds to get the profile's values: ``profile(t)[j, i]`` is the fraction
    of instances whose score for method ``methods[j]`` is at most ``t[i]``.

    Attributes
    ----------
    kind : {"performance", "data"}
        Which profile: scores are performance ratios, or budgets in simplex gradients.
    methods : tuple of str
        The methods, in the order of the table.
    instances : tuple of tuple
        The instances: ``(problem, seed)`` pairs, or ``(problem,)`` with ``seeds="median"``.
    scores : ndarray of shape (n_instances, n_methods)
        The performance ratio :math:`r_{p,s}` or the budget :math:`t_{p,s} / (n_p + 1)`;
        ``inf`` where the method did not solve the instance.
    unit : str
        What a data profile's budget counts (``"simplex gradients"``, or the budget column's
        unit when it is not divided by :math:`n_p + 1`); empty for a performance profile.
    """

    kind: str
    methods: tuple[str, ...]
    instances: tuple[tuple[Any, ...], ...]
    scores: NDArray[np.float64]
    unit: str = ""

    def __call__(self, t: ArrayLike) -> NDArray[np.float64]:
        """The fraction of instances with a score at most each of ``t``, per method.

        Parameters
        ----------
        t : array_like
            Thresholds (:math:`\\tau` or :math:`\\kappa`), a scalar or a 1-D array.

        Returns
        -------
        ndarray of shape (n_methods, len(t))
            An unsolved instance (score ``inf``) counts as unsolved at every ``t``, ``inf``
            included.
        """
        t = np.atleast_1d(np.asarray(t, dtype=float))
        scores = self.scores.T[:, :, None]
        hits = (scores <= t[None, None, :]) & np.isfinite(scores)
        return hits.mean(axis=1)

    @property
    def breakpoints(self) -> NDArray[np.float64]:
        """The sorted distinct finite scores: where the profile's steps are."""
        finite = self.scores[np.isfinite(self.scores)]
        return np.unique(finite)


def performance_profile(
    table: Iterable[Mapping[str, Any]],
    cost: str = "nfev",
    *,
    tol: float | None = None,
    reference: str = "best",
    seeds: str = "instances",
) -> Profile:
    r"""The performance profile (Dolan and Moré) of the methods of a grid.

    Parameters
    ----------
    table : iterable of Mapping
        One row per run, with ``problem``, ``method``, ``seed``, ``success``, ``f_opt`` and
        ``history`` (:func:`optkit.bench.run_grid`, :func:`optkit.bench.read_table`). Every
        (problem, method, seed) must be there once.
    cost : str, optional
        The history column that is the cost: ``"nfev"``, ``"njev"``, ``"nit"``, ``"time"``.
    tol : float, optional
        In (0, 1). ``None``: a run is solved if it succeeded (``success``) and costs the
        column's last value. A number: a run is solved at the first record that passes
        :math:`f(x_0) - f(x_k) \ge (1 - \mathrm{tol})(f(x_0) - f_L)` and costs the column's
        value there (the same test as :func:`data_profile`).
    reference : {"best", "f_opt"}, optional
        :math:`f_L` of the test: the smallest value any run reached on the problem, or the
        problem's known optimum (``f_opt``; an error if a problem has none).
    seeds : {"instances", "median"}, optional
        How seeds make instances (see the module's notes): each (problem, seed) is one, or
        each problem is one with its median cost over seeds.

    Returns
    -------
    Profile
        ``kind="performance"``; ``scores`` are the ratios :math:`r_{p,s}` (1 for the best,
        ``inf`` for a failure, and ``inf`` for every method on an instance none solves).

    Raises
    ------
    ValueError
        An empty table, a missing or repeated run, a negative cost, a ``tol`` outside
        (0, 1), an unknown ``reference`` or ``seeds``, ``reference="f_opt"`` without one.

    Examples
    --------
    >>> from optkit import profiles
    >>> from optkit.result import History
    >>> def run(problem, method, nfev, success=True):
    ...     history = History([{"nit": 0, "fun": 1.0, "nfev": 1},
    ...                        {"nit": 1, "fun": 0.0, "nfev": nfev}])
    ...     return {"problem": problem, "method": method, "seed": 0, "success": success,
    ...             "f_opt": None, "n": 2, "history": history}
    >>> table = [run("p1", "a", 10), run("p1", "b", 20), run("p2", "a", 30, success=False),
    ...          run("p2", "b", 15)]
    >>> profile = profiles.performance_profile(table, "nfev")
    >>> profile.scores
    array([[ 1.,  2.],
           [inf,  1.]])
    >>> profile([1.0, 2.0])
    array([[0.5, 0.5],
           [0.5, 1. ]])
    """
    runs, problems, methods, seed_list = _index(table, seeds, reference)
    costs = _costs(runs, problems, methods, seed_list, cost, tol, reference)
    costs, instances = _instances(costs, problems, seed_list, seeds)
    if np.any(costs < 0):
        raise ValueError(f"costs must not be negative; the column {cost!r} has negative values")
    best = costs.min(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = costs / best
    ratios[costs == best] = 1.0  # ties, and 0 / 0 when the best cost is 0
    ratios[~np.isfinite(best[:, 0])] = np.inf  # no method solved it
    return Profile("performance", methods, instances, ratios)


def data_profile(
    table: Iterable[Mapping[str, Any]],
    *,
    tol: float = 1e-3,
    budget: str = "nfev",
    per_dimension: bool = True,
    reference: str = "best",
    seeds: str = "instances",
) -> Profile:
    r"""The data profile (Moré and Wild) of the methods of a grid.

    Parameters
    ----------
    table : iterable of Mapping
        One row per run, as for :func:`performance_profile`; the rows also need ``n``.
    tol : float, optional
        :math:`\tau` in (0, 1) of the test
        :math:`f(x_0) - f(x_k) \ge (1 - \tau)(f(x_0) - f_L)`.
    budget : str, optional
        The history column that counts the budget (``"nfev"``, ``"njev"``, ``"nit"``...).
    per_dimension : bool, optional
        Divide the budget by :math:`n_p + 1` (simplex gradients, Moré and Wild's unit);
        ``False`` keeps the column's own unit.
    reference : {"best", "f_opt"}, optional
        :math:`f_L`: the smallest value any run reached on the problem, or its ``f_opt``.
    seeds : {"instances", "median"}, optional
        As for :func:`performance_profile`.

    Returns
    -------
    Profile
        ``kind="data"``; ``scores`` are the budgets :math:`t_{p,s} / (n_p + 1)` at which
        each run passed the test, ``inf`` where it never did.

    Raises
    ------
    ValueError
        As for :func:`performance_profile`.

    Examples
    --------
    >>> from optkit import profiles
    >>> from optkit.result import History
    >>> history = History([{"nit": k, "fun": f, "nfev": e}
    ...                    for k, (f, e) in enumerate([(10.0, 1), (0.5, 3), (0.0, 6)])])
    >>> row = {"problem": "p", "method": "a", "seed": 0, "success": True, "f_opt": None,
    ...        "n": 2, "history": history}
    >>> profiles.data_profile([row], tol=0.1).scores  # f = 0.5 <= 1 after 3 of 3 = n + 1
    array([[1.]])
    """
    if not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    runs, problems, methods, seed_list = _index(table, seeds, reference)
    costs = _costs(runs, problems, methods, seed_list, budget, tol, reference)
    if per_dimension:
        for i, problem in enumerate(problems):
            n = runs[problem, methods[0], seed_list[0]].get("n")
            if n is None:
                raise ValueError(f"the runs of {problem!r} have no 'n' (number of variables)")
            costs[i] /= n + 1
    scores, instances = _instances(costs, problems, seed_list, seeds)
    unit = "simplex gradients" if per_dimension else _X_LABELS.get(budget, budget)
    return Profile("data", methods, instances, scores, unit)


def _index(
    table: Iterable[Mapping[str, Any]], seeds: str, reference: str
) -> tuple[dict[tuple[Any, Any, Any], Mapping[str, Any]], list[Any], tuple[str, ...], list[Any]]:
    """Runs by key, and the problems, methods and seeds in order of appearance; checked."""
    if seeds not in _SEEDS:
        raise ValueError(f"seeds must be one of {list(_SEEDS)}, got {seeds!r}")
    if reference not in _REFERENCES:
        raise ValueError(f"reference must be one of {list(_REFERENCES)}, got {reference!r}")
    runs: dict[tuple[Any, Any, Any], Mapping[str, Any]] = {}
    for row in table:
        key = (row["problem"], row["method"], row["seed"])
        if key in runs:
            raise ValueError(f"the run {key} is in the table twice")
        if not isinstance(row.get("history"), History):
            raise TypeError(f"the run {key} has no 'history' (a History)")
        runs[key] = row
    if not runs:
        raise ValueError("the table holds no runs")
    problems = list(dict.fromkeys(k[0] for k in runs))
    methods = tuple(dict.fromkeys(str(k[1]) for k in runs))
    seed_list = list(dict.fromkeys(k[2] for k in runs))
    missing = [(p, m, s) for p in problems for m in methods for s in seed_list
               if (p, m, s) not in runs]
    if missing:
        raise ValueError(f"the table lacks the runs {missing[:5]}{' ...' * (len(missing) > 5)}")
    return runs, problems, methods, seed_list


def _costs(
    runs: Mapping[tuple[Any, Any, Any], Mapping[str, Any]],
    problems: Sequence[Any],
    methods: Sequence[str],
    seed_list: Sequence[Any],
    column: str,
    tol: float | None,
    reference: str,
) -> NDArray[np.float64]:
    """Cost of every run, shape (problems, seeds, methods): ``inf`` where not solved."""
    if tol is not None and (not isinstance(tol, (int, float)) or not 0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1) or None, got {tol!r}")
    costs = np.full((len(problems), len(seed_list), len(methods)), np.inf)
    for i, problem in enumerate(problems):
        histories = {(m, s): runs[problem, m, s]["history"] for m in methods for s in seed_list}
        if tol is not None:
            f0 = histories[methods[0], seed_list[0]]["fun"][0]
            target = f0 - (1 - tol) * (f0 - _f_low(runs, problem, histories, reference))
        for (m, s), history in histories.items():
            values = history[column]
            if tol is None:
                # a successful run costs what it spent in all; a failed one never solved it
                solved = [len(values) - 1] if runs[problem, m, s]["success"] else []
            else:
                solved = np.flatnonzero(history["fun"] <= target)
            if len(solved):
                costs[i, seed_list.index(s), methods.index(m)] = values[solved[0]]
    return costs


def _f_low(
    runs: Mapping[tuple[Any, Any, Any], Mapping[str, Any]],
    problem: Any,
    histories: Mapping[tuple[str, Any], History],
    reference: str,
) -> float:
    """:math:`f_L` of the convergence test on ``problem``."""
    if reference == "f_opt":
        method, seed = next(iter(histories))
        f_opt = runs[problem, method, seed].get("f_opt", histories[method, seed].f_opt)
        if f_opt is None:
            raise ValueError(f"reference='f_opt', but {problem!r} has no known optimum")
        return float(f_opt)
    return float(min(np.nanmin(h["fun"]) for h in histories.values()))


def _instances(
    costs: NDArray[np.float64], problems: Sequence[Any], seed_list: Sequence[Any], seeds: str
) -> tuple[NDArray[np.float64], tuple[tuple[Any, ...], ...]]:
    """(problems, seeds, methods) costs to (instances, methods), by the rule ``seeds``."""
    if seeds == "median":
        # A failure (inf) sorts last, so the median is inf when most seeds fail.
        return np.median(costs, axis=1), tuple((p,) for p in problems)
    instances = tuple((p, s) for p in problems for s in seed_list)
    return costs.reshape(len(instances), costs.shape[2]), instances


def plot_profile(
    profile: Profile, *, ax: Any = None, title: str | None = None
) -> tuple[Any, Any]:
    r"""Draw a profile as one step line per method.

    A performance profile goes on a :math:`\log_2 \tau` axis from 1 to twice the largest
    finite ratio; a data profile on a linear :math:`\kappa` axis from 0 to its largest
    finite budget. The lines are right-continuous steps (a method reaches a fraction at the
    threshold itself), and flat past the last breakpoint at the fraction it solves.

    Parameters
    ----------
    profile : Profile
        From :func:`performance_profile` or :func:`data_profile`.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; a new figure is made otherwise.
    title : str, optional
        Axes title; by default the profile's kind and number of instances.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> fig, ax = profiles.plot_profile(profiles.performance_profile(rows))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    else:
        fig = ax.figure
    performance = profile.kind == "performance"
    start = 1.0 if performance else 0.0
    points = profile.breakpoints
    last = points.max() if points.size else start + 1.0
    end = 2.0 * last if performance else 1.05 * last
    t = np.unique(np.concatenate([[start], points, [end]]))
    values = profile(t)
    for method, ys in zip(profile.methods, values, strict=True):
        ax.step(t, ys, where="post", label=method)
    if performance:
        ax.set_xscale("log", base=2)
        ax.set_xlabel(r"performance ratio $\tau$ ($\log_2$ scale)")
    else:
        ax.set_xlabel(rf"budget $\kappa$ ({profile.unit or 'simplex gradients'})")
    ax.set_xlim(start, end)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("fraction of instances")
    kind = "Performance" if performance else "Data"
    ax.set_title(f"{kind} profile, {len(profile.instances)} instances" if title is None
                 else title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return fig, ax


@dataclass(frozen=True)
class Band:
    """The median and a quantile band of one method's suboptimality over seeds.

    Attributes
    ----------
    x : ndarray
        The common grid (iterations, evaluations or time).
    median, lower, upper : ndarray
        Median and the lower and upper quantiles of :math:`f - f^*` over the runs at each
        ``x`` (NaN where no run has started yet).
    quantiles : tuple of float
        The quantiles of ``lower`` and ``upper``.
    n_runs : int
        The number of runs (seeds).
    """

    x: NDArray[np.float64]
    median: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    quantiles: tuple[float, float]
    n_runs: int


def suboptimality_bands(
    table: Iterable[Mapping[str, Any]],
    *,
    x: str = "nit",
    f_opt: float | None = None,
    quantiles: tuple[float, float] = (0.25, 0.75),
    absolute: bool = False,
) -> dict[str, Band]:
    """Median and quantiles of ``f - f*`` over seeds, per method, on one grid of ``x``.

    Each run's suboptimality (:func:`optkit.plot.suboptimality`) is read at every point
    of the grid (the sorted union of the runs' ``x`` values) as its value at the last record
    at or before that point: a run that stopped keeps its last value, and a run has no value
    (NaN, left out of the quantiles) before its first record.

    Parameters
    ----------
    table : iterable of Mapping
        Runs of one problem: rows with ``method`` and ``history`` (those of
        :func:`optkit.bench.run_grid` for that problem).
    x : str, optional
        The history column of the grid: ``"nit"``, ``"nfev"``, ``"njev"``, ``"time"``.
    f_opt : float, optional
        The optimal value; by default the problem's (``history.f_opt``).
    quantiles : (float, float), optional
        The lower and upper quantiles of the band, in [0, 1].
    absolute : bool, optional
        ``|f - f*|``, for runs that go below the reference value.

    Returns
    -------
    dict of str to Band
        One band per method, in the order of the table.

    Raises
    ------
    ValueError
        Runs of more than one problem, no runs, bad quantiles, an unknown optimal value.

    Examples
    --------
    >>> from optkit import profiles
    >>> from optkit.result import History
    >>> rows = [{"problem": "p", "method": "a",
    ...          "history": History([{"nit": k, "fun": f} for k, f in enumerate(fs)], f_opt=0.0)}
    ...         for fs in ([4.0, 2.0, 1.0], [8.0, 2.0], [6.0, 4.0, 2.0, 1.0])]
    >>> band = profiles.suboptimality_bands(rows)["a"]
    >>> band.x, band.median
    (array([0., 1., 2., 3.]), array([6., 2., 2., 1.]))
    """
    lo, hi = quantiles
    if not 0 <= lo <= hi <= 1:
        raise ValueError(f"quantiles must be (lower, upper) with 0 <= lower <= upper <= 1, "
                         f"got {quantiles!r}")
    groups: dict[str, list[History]] = {}
    problems = set()
    for row in table:
        problems.add(row.get("problem"))
        groups.setdefault(str(row["method"]), []).append(row["history"])
    if not groups:
        raise ValueError("the table holds no runs")
    if len(problems) > 1:
        raise ValueError(f"bands are per problem; the table holds {sorted(map(str, problems))}: "
                         "select the rows of one")
    bands = {}
    for method, histories in groups.items():
        xs = [h[x] for h in histories]
        grid = np.unique(np.concatenate(xs))
        values = np.full((len(histories), grid.size), np.nan)
        for i, (h, xi) in enumerate(zip(histories, xs, strict=True)):
            gap = suboptimality(h, f_opt, absolute=absolute)
            at = np.searchsorted(xi, grid, side="right") - 1  # last record at or before
            values[i, at >= 0] = gap[at[at >= 0]]
        median, lower, upper = np.nanquantile(values, [0.5, lo, hi], axis=0)
        bands[method] = Band(grid, median, lower, upper, (float(lo), float(hi)),
                             len(histories))
    return bands


def plot_bands(
    bands: Mapping[str, Band],
    *,
    ax: Any = None,
    x: str = "nit",
    logx: bool = False,
    title: str | None = None,
) -> tuple[Any, Any]:
    """Draw :func:`suboptimality_bands`: median lines and shaded quantile bands, log y axis.

    Parameters
    ----------
    bands : Mapping of str to Band
        Method name to its band.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; a new figure is made otherwise.
    x : str, optional
        The grid's column, for the axis label.
    logx : bool, optional
        Logarithmic horizontal axis.
    title : str, optional
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    else:
        fig = ax.figure
    for method, band in bands.items():
        (line,) = ax.step(band.x, band.median, where="post",
                          label=f"{method} (median of {band.n_runs})")
        ax.fill_between(band.x, band.lower, band.upper, step="post", color=line.get_color(),
                        alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    lo, hi = next(iter(bands.values())).quantiles
    ax.set_xlabel(_X_LABELS.get(x, x))
    ax.set_ylabel(f"f(x) - f*  (median, {lo:g}-{hi:g} quantiles)")
    if title is not None:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return fig, ax
