"""The project's layers, checked from its source: no import cycles, front doors on the engine.

Reads the top-level imports of every module (imports inside functions are
deliberate late bindings, such as AppConfig.ready's) and looks for a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "api", "chatsite", "conversations")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def top_level_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that `path` imports at its top level (a name imported
    from a package counts as the submodule when there is one)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph = {name: top_level_imports(path, modules) for name, path in modules.items()}
    # A package importing its own submodules (re-exports) is not a dependency
    # of those submodules on the package.
    for name, edges in graph.items():
        graph[name] = {edge for edge in edges if edge != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            # A submodule importing from its own package's __init__ is Python's
            # normal package loading, not a cycle of ideas.
            if node.startswith(child + "."):
                continue
            if state.get(child) == 1:
                return stack[stack.index(child) :] + [child]
            if child not in state and (cycle := visit(child)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_project_has_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_front_doors_use_only_the_engines_public_names():
    graph = import_graph()
    doors = ("conversations.consumers", "conversations.views", "api.views")
    # A front door split into a package is checked module by module.
    for front_door in (name for name in graph if name.startswith(doors)):
        edges = graph[front_door]
        inside = sorted(name for name in edges if name.startswith("conversations.engine."))
        assert inside == [], f"{front_door} reaches into the engine: {inside}"


def test_the_engine_does_not_depend_on_its_listeners_or_front_doors():
    graph = import_graph()
    engine = [name for name in graph if name.startswith("conversations.engine")]
    above = (
        "conversations.titles",
        "conversations.memory",
        "conversations.background_requests",
        "conversations.consumers",
        "conversations.views",
    )
    for name in engine:
        imported = {edge for edge in graph[name] if edge.startswith(above)}
        assert not imported, f"{name} imports {imported}"


# A module is read in one sitting: past this many lines it holds more than one
# idea and is split by idea (a package with a module per idea), not squeezed.
MODULE_MAX_LINES = 400
SOURCE_FOLDERS = (*PACKAGES, "tests", "bench", "scripts")


def test_no_module_is_longer_than_one_sitting():
    too_long = {}
    for folder in SOURCE_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MODULE_MAX_LINES:
                too_long[str(path.relative_to(ROOT))] = lines
    assert too_long == {}, f"split these by idea (over {MODULE_MAX_LINES} lines): {too_long}"
