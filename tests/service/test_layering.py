"""The service's import structure: the serving core stands alone, imports form a DAG, settings load no MLflow.

Read from the source (every `import`, at any depth, under `if TYPE_CHECKING:` too), so a cycle that only the type
checker sees, or an import hidden inside a function, is caught before it becomes a start-up order problem.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SERVICE.rglob("*.py"))}


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of the service that `path` imports (a `from package import name` naming a module counts as
    that module)."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in known}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(path, known) - {name} for name, path in known.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle_hidden_two_modules_deep() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_of_the_service_imports_itself_back_even_under_type_checking() -> None:
    """A cycle (before: core.model <-> core.predict, through a TYPE_CHECKING import) makes import order matter
    and every split of a module harder; the service's imports form a DAG (docs: STYLE.md, "The service")."""
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_serving_core_imports_nothing_of_the_service_around_it() -> None:
    """service/core is plain Python: metrics and the log context reach it by injection (core/telemetry.py), not
    by importing `service.metrics` or `service.logs` (which import core, not the other way round)."""
    outside = {
        name: sorted(m for m in imports if m != "service" and not m.startswith("service.core"))
        for name, imports in _graph().items()
        if name.startswith("service.core")
    }
    assert {name: found for name, found in outside.items() if found} == {}


def test_loading_the_settings_loads_no_mlflow() -> None:
    """Settings are read by tools and tests that need no model: they import the pure names of core/refs.py and
    core/split.py only. Run in a fresh interpreter, where nothing has imported MLflow yet."""
    code = (
        "import sys, service.settings\n"
        "loaded = ' '.join(m for m in sys.modules if m.startswith('mlflow'))\n"
        "sys.exit(loaded[:99] or None)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
