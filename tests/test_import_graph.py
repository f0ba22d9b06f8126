"""automem_sdk's own modules import one another without a circle.

Every ``import automem_sdk.x`` / ``from automem_sdk.x import ...`` in the core package
counts, at module level, inside functions and under ``TYPE_CHECKING`` alike; only a
package ``__init__``'s ``TYPE_CHECKING`` block is left out (it mirrors the lazy
re-exports, not a dependency). The mapped-in packages (adapters, trainers, benchmarks)
sit on top of the core and are not walked.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import automem_sdk

ROOT = Path(automem_sdk.__file__).parent
MAPPED = {"adapters", "trainers", "benchmarks"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _core_modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for p in sorted(ROOT.rglob("*.py"))
        if not MAPPED & set(p.relative_to(ROOT).parts)
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, skip_type_checking: bool) -> list[tuple[str, list[str]]]:
    """(module, names) for every import under ``tree``."""
    out: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and skip_type_checking and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def import_graph() -> dict[str, set[str]]:
    """Edges module -> core modules it imports (a ``from pkg import mod`` names ``mod``)."""
    modules = _core_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for target, names in _imports(tree, skip_type_checking=path.name == "__init__.py"):
            for cand in [f"{target}.{n}" for n in names] or [target]:
                hit = cand if cand in modules else target
                if hit in modules and hit != name:
                    graph[name].add(hit)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_the_walk_sees_the_edges_it_should() -> None:
    graph = import_graph()
    assert "automem_sdk.ops" in graph["automem_sdk.codec"]
    assert "automem_sdk.op_models" in graph["automem_sdk.ops"]
    assert "automem_sdk.llm.base" in graph["automem_sdk.llm.local"]


def test_find_cycle_reports_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_inside_automem_sdk() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", ["automem_sdk.ops", "automem_sdk.agent", "automem_sdk.llm"])
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
