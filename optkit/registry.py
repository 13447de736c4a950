"""The method registry: one ``@register(...)`` line per method, with its capabilities.

Everything that depends on "which methods exist" -- dispatch in :func:`optkit.minimize`, the
checks of problem kinds and options, the unused-argument warnings, :func:`methods`,
:func:`show_options`, the contract tests and the tour -- reads this registry. There is no
other list of method names.

Names are matched case-insensitively, with ``-`` and ``_`` alike. A *family* such as
``scipy:<METHOD>`` is registered once with a factory that builds the entry for each member.
"""

from __future__ import annotations

import dataclasses
import difflib
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from optkit._table import Table
from optkit.problem import Problem
from optkit.solvers.base import Options, Solver, option_checks

__all__ = ["MethodInfo", "Registry", "registry", "register", "methods", "show_options"]

_ARGUMENTS = ("jac", "hess", "hessp")


def normalize(name: str) -> str:
    """The registry key of a method name: lower case, ``_`` read as ``-``."""
    return name.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class MethodInfo:
    """What the registry knows about one method.

    Attributes
    ----------
    name : str
        Canonical name.
    solver : type of Solver
        The implementation.
    options : type of Options
        Its options dataclass.
    accepts : tuple of type
        Problem kinds it solves (instances of subclasses are accepted too).
    needs : frozenset of str
        Oracles it cannot run without, in the vocabulary of the problem kinds it accepts
        (their ``oracle_needs``): for a :class:`~optkit.Problem` ``"grad"`` (filled by
        finite differences when missing) and ``"hess"`` (Hessians or Hessian-vector
        products); for a :class:`~optkit.BilevelProblem` its optional oracles by name
        (``"lower_hvp_yy"``, ...). ``minimize`` refuses a problem that lacks one.
    uses : frozenset of str
        ``minimize`` arguments it uses among ``jac``, ``hess``, ``hessp``; giving another
        one warns (``RuntimeWarning``), as SciPy does.
    tol : tuple of str
        The options that ``minimize(..., tol=...)`` sets (with ``setdefault``).
    stochastic : bool
        Whether it can run on mini-batches (``problem.sample``).
    backends : tuple of str
        ``"numpy"`` first, then ``"torch"`` where the method has a torch path.
    flagship : tuple of str
        Problems of :func:`problems.catalog` that ``optkit tour`` runs it on.
    peers : tuple of str
        Methods the tour plots beside it.
    tour_runs : mapping of str to (str, dict)
        What the tour runs on each flagship problem, by label: ``(method, options)`` (for
        example the paper's setting of the flagship experiment, or two Hessian
        approximations). Empty: the method and its peers with their default options.
    tour_plot : mapping
        Keyword arguments of :func:`optkit.plot.convergence` for the tour's plot (e.g.
        ``{"y": "relative_residual"}``); empty: the objective.
    tour_reference : str or None
        The label of a tour run whose final ``fun`` the plot and the summary take as the
        optimal value (``f - f*``), for flagship problems whose optimum is not known.
    tour_caption : str
        One line on what to see in the tour's figure (its ``index.html``); empty: a line
        built from ``tour_plot``.
    long_running : bool
        Whether a run announces itself long (shows a progress bar without ``disp``).
    aliases : tuple of str
        Other names that reach it.
    """

    name: str
    solver: type[Solver]
    options: type[Options]
    accepts: tuple[type, ...] = (Problem,)
    needs: frozenset[str] = frozenset()
    uses: frozenset[str] = frozenset({"jac"})
    tol: tuple[str, ...] = ()
    stochastic: bool = False
    backends: tuple[str, ...] = ("numpy",)
    flagship: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()
    tour_runs: Mapping[str, tuple[str, Mapping[str, Any]]] = dataclasses.field(
        default_factory=dict)
    tour_plot: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tour_reference: str | None = None
    tour_caption: str = ""
    long_running: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The first line of the solver's docstring."""
        return (self.solver.__doc__ or "").strip().split("\n", 1)[0]

    def make_options(self, given: Mapping[str, Any]) -> Options:
        """Check ``given`` against the options dataclass and fill the defaults.

        Raises
        ------
        TypeError
            For an unknown option, listing the valid ones.
        """
        valid = [f.name for f in dataclasses.fields(self.options)]
        unknown = sorted(set(given) - set(valid))
        if unknown:
            hints = [
                f"{name!r} (did you mean {', '.join(map(repr, close))}?)" if close else repr(name)
                for name in unknown
                for close in [difflib.get_close_matches(name, valid, n=2)]
            ]
            raise TypeError(
                f"unknown option(s) for method {self.name!r}: {', '.join(hints)}. "
                f"Valid options: {', '.join(valid)}"
            )
        return self.options(**given)

    def options_doc(self) -> str:
        """The numpydoc "Options" section: every option, its type, default, accepted values
        (its ``check``: ``gtol : float, default 1e-05, >= 0``) and meaning."""
        lines = ["Options", "-------"]
        checks = option_checks(self.options)
        for f in dataclasses.fields(self.options):
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", f.type)
            allowed = checks[f.name].doc() if f.name in checks else ""
            lines.append(f"{f.name} : {kind}, default {f.default!r}"
                         + (f", {allowed}" if allowed else ""))
            doc = f.metadata.get("doc", "")
            lines += textwrap.wrap(doc, 88, initial_indent="    ", subsequent_indent="    ")
        return "\n".join(lines)


class Registry(Mapping[str, MethodInfo]):
    """Name to :class:`MethodInfo`, filled by :meth:`register`; an error on name collision."""

    def __init__(self) -> None:
        self._methods: dict[str, MethodInfo] = {}
        self._aliases: dict[str, str] = {}
        self._families: dict[str, tuple[Callable[[str], MethodInfo], tuple[str, ...]]] = {}

    def register(
        self,
        name: str,
        *,
        options: type[Options],
        accepts: tuple[type, ...] = (Problem,),
        needs: tuple[str, ...] = (),
        uses: tuple[str, ...] = ("jac",),
        tol: tuple[str, ...] = (),
        stochastic: bool = False,
        backends: tuple[str, ...] = ("numpy",),
        flagship: tuple[str, ...] = (),
        peers: tuple[str, ...] = (),
        tour_runs: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
        tour_plot: Mapping[str, Any] | None = None,
        tour_reference: str | None = None,
        tour_caption: str = "",
        long_running: bool = False,
        aliases: tuple[str, ...] = (),
    ) -> Callable[[type[Solver]], type[Solver]]:
        """Class decorator that registers a :class:`~optkit.solvers.base.Solver` subclass.

        The keyword arguments are the fields of :class:`MethodInfo`. The options
        dataclass gets its numpydoc "Options" section appended to its docstring.
        """

        def decorator(cls: type[Solver]) -> type[Solver]:
            info = make_info(cls, name, options=options, accepts=accepts, needs=needs,
                             uses=uses, tol=tol, stochastic=stochastic, backends=backends,
                             flagship=flagship, peers=peers,
                             tour_runs=dict(tour_runs or {}),
                             tour_plot=dict(tour_plot or {}), tour_reference=tour_reference,
                             tour_caption=tour_caption, long_running=long_running,
                             aliases=aliases)
            for key in (info.name, *map(normalize, aliases)):
                if key in self._methods or key in self._aliases:
                    raise ValueError(f"method name {key!r} is already registered")
            self._methods[info.name] = info
            self._aliases.update({normalize(a): info.name for a in aliases})
            cls.info = info
            return cls

        return decorator

    def register_family(self, prefix: str, factory: Callable[[str], MethodInfo],
                        examples: tuple[str, ...]) -> None:
        """Register ``prefix:<member>`` names, built on demand by ``factory(member)``.

        ``examples`` are members used by the contract tests and listed by :func:`methods`.
        """
        key = normalize(prefix)
        if key in self._families:
            raise ValueError(f"method family {key!r} is already registered")
        self._families[key] = (factory, examples)

    def get(self, name: str) -> MethodInfo:
        """The entry for ``name``; ``ValueError`` listing close matches if there is none."""
        if not isinstance(name, str):
            raise TypeError(f"method must be a str or a Solver subclass, got {type(name).__name__}")
        key = normalize(name)
        key = self._aliases.get(key, key)
        if key in self._methods:
            return self._methods[key]
        prefix, sep, member = name.partition(":")
        if sep and normalize(prefix) in self._families and member.strip():
            return self._families[normalize(prefix)][0](member.strip())
        known = list(self._methods) + list(self._aliases) + [f"{p}:" for p in self._families]
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown solver {name!r}.{hint} See optkit.methods() for the list.")

    def names(self, expand_families: bool = False) -> list[str]:
        """Canonical names; with ``expand_families``, also each family's example members."""
        names = list(self._methods)
        if expand_families:
            names += [f"{p}:{m}" for p, (_, examples) in self._families.items() for m in examples]
        return names

    def __getitem__(self, name: str) -> MethodInfo:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._methods)

    def __len__(self) -> int:
        return len(self._methods)

    def table(self) -> Table:
        """One row per method (families once, with their example members)."""
        rows = [_row(info) for info in self._methods.values()]
        for prefix, (factory, examples) in self._families.items():
            row = _row(factory(examples[0]))
            row["name"] = f"{prefix}:<METHOD>"
            row["summary"] += f" (e.g. {', '.join(f'{prefix}:{m}' for m in examples)})"
            rows.append(row)
        return Table(rows, title="optkit methods")


def make_info(cls: type[Solver], name: str, *, info_cls: type[MethodInfo] = MethodInfo,
              **fields: Any) -> MethodInfo:
    """Build and check a :class:`MethodInfo` (used by :meth:`Registry.register`, by method
    families, and for an unregistered :class:`~optkit.solvers.base.Solver` subclass passed
    as ``method``). Names are normalized."""
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise TypeError(f"{cls!r} is not a Solver subclass")
    if cls.solve is Solver.solve and not (hasattr(cls, "init") and hasattr(cls, "step")):
        raise TypeError(f"{cls.__name__} must define init() and step(), or override solve()")
    options = fields["options"]
    if not (isinstance(options, type) and issubclass(options, Options)):
        raise TypeError(f"options of {name!r} must be an Options subclass, got {options!r}")
    vocabulary = tuple(dict.fromkeys(
        need for kind in fields["accepts"] for need in getattr(kind, "oracle_needs", ())))
    for key, allowed in (("needs", vocabulary), ("uses", _ARGUMENTS)):
        bad = set(fields[key]) - set(allowed)
        if bad:
            raise ValueError(f"{key} of {name!r} must be among {allowed}, got {sorted(bad)}")
        fields[key] = frozenset(fields[key])
    option_names = {f.name for f in dataclasses.fields(options)}
    missing = set(fields["tol"]) - option_names
    if missing:
        raise ValueError(f"tol of {name!r} names unknown options {sorted(missing)}")
    if not fields["backends"] or fields["backends"][0] != "numpy":
        raise ValueError(f"backends of {name!r} must start with 'numpy'")
    reference = fields.get("tour_reference")
    if reference is not None and reference not in fields.get("tour_runs", {}):
        raise ValueError(f"tour_reference of {name!r} must be a label of its tour_runs, "
                         f"got {reference!r}")
    info = info_cls(name=normalize(name), solver=cls, **fields)
    if "Options\n-------" not in (options.__doc__ or ""):
        options.__doc__ = (options.__doc__ or "").rstrip() + "\n\n" + info.options_doc()
    return info


def _row(info: MethodInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "problems": ", ".join(k.__name__ for k in info.accepts),
        "needs": ", ".join(sorted(info.needs)) or "f",
        "stochastic": "yes" if info.stochastic else "",
        "backends": ", ".join(info.backends),
        "summary": info.summary,
    }


#: The registry every optkit method is in.
registry = Registry()
register = registry.register


def methods() -> Table:
    """The registered methods as a printable table.

    Returns
    -------
    Table
        One row per method: name, problem kinds, oracles needed, stochastic, backends and a
        one-line summary. ``str(optkit.methods())`` is the text; it is also a list of dicts.
    """
    return registry.table()


def show_options(method: str, disp: bool = True) -> str | None:
    """Show every option of a method, with its default and meaning.

    Parameters
    ----------
    method : str
        A registered method name.
    disp : bool
        Print the text (the default) or return it.

    Returns
    -------
    str or None
        The text, when ``disp`` is False.
    """
    info = registry.get(method)
    text = f"{info.name}: {info.summary}\n\n{info.options_doc()}"
    if info.tol:
        text += f"\n\n``tol`` sets: {', '.join(info.tol)}."
    if disp:
        print(text)  # noqa: T201 - disp path
        return None
    return text
