"""The layering of DESIGN.md, read from the source with ``ast``: the core imports no method
family, solvers import the core and shared numerics only, NumPy modules import no torch
module, and there are no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "optkit"

#: The core: what every method builds on. It imports no method family.
CORE = {"optkit.problem", "optkit.result", "optkit.registry", "optkit.stopping",
        "optkit._driver", "optkit._minimize", "optkit._table", "optkit._checks",
        "optkit.solvers.base", "optkit.solvers"}
#: Shared numerics: kernels any method may use; they import no method family either.
NUMERICS_PREFIXES = ("optkit.linalg", "optkit.prox", "optkit.linesearch", "optkit._grid",
                     "optkit.graphs", "optkit.poisson", "optkit.bilevel")
#: Method families' own maths (imported by their solvers).
FAMILY_MATHS = ("optkit.convex_relu",)
#: The front door and the tools on top of the methods: solvers never import them.
ABOVE = ("optkit._minimize", "optkit._driver", "optkit.estimators", "optkit.cli",
         "optkit.bench", "optkit.plot")
#: NumPy modules that reach torch lazily, inside a function, for a documented torch path.
LAZY_TORCH = {"optkit.convex_relu.admm": "the torch backend of the ADMM kernels"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(module, lazy)`` for every import of the file; ``lazy`` when inside a function.
    Imports under ``if TYPE_CHECKING:`` are left out (they never run)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module, inner))
                found.extend((f"{child.module}.{alias.name}", inner) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
IMPORTS = {name: [(m, lazy) for m, lazy in _imports(path) if m.split(".")[0] in
                  ("optkit", "torch")] for name, path in MODULES.items()}


def _internal(name: str) -> list[tuple[str, bool]]:
    """The modules of optkit (not names inside them) that ``name`` imports."""
    return [(m, lazy) for m, lazy in IMPORTS[name] if m in MODULES or m == "torch"
            or m.startswith("torch.")]


def _family(module: str) -> str | None:
    """The method family a module belongs to (``optkit.solvers.bcd`` for its submodules),
    or ``None`` for the core and shared modules."""
    parts = module.split(".")
    if module.startswith("optkit.solvers.") and parts[2] not in ("base",):
        return ".".join(parts[:3])
    return None


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m in CORE
                                        or m.startswith(NUMERICS_PREFIXES)))
def test_core_and_numerics_import_no_method_family(name):
    bad = [m for m, _ in _internal(name) if _family(m) or m.startswith(FAMILY_MATHS)
           or m.startswith("optkit.torch")]
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _family(m)))
def test_solvers_import_the_core_and_shared_numerics_only(name):
    own = _family(name)
    bad = [m for m, _ in _internal(name) if m.startswith(ABOVE) or m == "optkit"
           or (_family(m) and _family(m) != own and not m.startswith("optkit.solvers._"))
           or m.startswith(("optkit.estimators", "optkit.torch"))]
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if not m.startswith("optkit.torch")))
def test_numpy_modules_import_no_torch(name):
    torch = [(m, lazy) for m, lazy in _internal(name)
             if m.split(".")[0] == "torch" or m.startswith("optkit.torch")]
    if name in LAZY_TORCH:
        assert all(lazy for _, lazy in torch), f"{name}: torch only inside its torch path"
    else:
        assert not torch, f"{name} imports {[m for m, _ in torch]}"


def test_no_import_cycles():
    """Module-level imports between optkit's modules form no cycle (a package's
    ``__init__`` importing its own submodules is no edge back)."""
    graph = {name: {m for m, lazy in _internal(name) if not lazy and m in MODULES
                    and m != name and not name.startswith(m + ".")}
             for name in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_rules_see_imports():
    """The reader finds the imports the rules are about (a rule over nothing cannot fail)."""
    assert ("optkit.problem", False) in _internal("optkit._minimize")
    assert any(m.startswith("optkit.solvers.bcd") for m, _ in _internal("optkit.solvers.bcd"))
    assert any(m == "torch" for m, _ in _internal("optkit.torch.optim"))
    assert _family("optkit.solvers.bcd.run") == "optkit.solvers.bcd"
