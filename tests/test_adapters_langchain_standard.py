"""langchain-tests' standard tool suites (unit and integration) for every memory tool."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytest.importorskip("langchain_tests", reason="langchain-tests is not installed")

from automem_sdk.adapters import memory_tools
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from automem_sdk import MemoryStore

pytestmark = pytest.mark.anyio

#: One valid call per memory tool (the store below holds notes.md).
EXAMPLES: dict[str, dict[str, Any]] = {
    "memory_read": {"path": "notes.md"},
    "memory_head": {"path": "notes.md", "n": 2},
    "memory_tail": {"path": "notes.md", "n": 1},
    "memory_search": {"query": "tea"},
    "memory_count": {"path": "notes.md", "query": "likes"},
    "memory_list": {"prefix": ""},
    "memory_write": {"path": "w.md", "content": "written\n"},
    "memory_append": {"path": "notes.md", "content": "likes jazz"},
    "memory_create": {"path": "new.md", "content": "fresh\n"},
    "memory_upsert": {"path": "prefs.md", "key": "drink", "value": "tea"},
    "memory_replace": {"path": "notes.md", "old": "likes", "new": "loves"},
    "memory_insert": {"path": "notes.md", "line": 1, "content": "first"},
    "memory_delete": {"path": "notes.md"},
    "memory_rename": {"path": "notes.md", "dst": "moved.md"},
}


def _tool(name: str) -> BaseTool:
    store = MemoryStore(f"memory://lc-standard-{uuid.uuid4().hex}")
    store.write("notes.md", "likes tea\nlikes walks\n")
    return next(t for t in memory_tools(store, "generic") if t.name == name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _suite(base: type, name: str) -> type:
    class Suite(base):  # type: ignore[misc,valid-type]
        @property
        def tool_constructor(self) -> BaseTool:
            cached = self.__dict__.get("_tool")
            if cached is None:
                cached = self.__dict__["_tool"] = _tool(name)
            return cached

        @property
        def tool_invoke_params_example(self) -> dict[str, Any]:
            return EXAMPLES[name]

    return Suite


def test_every_memory_tool_has_an_example() -> None:
    store = MemoryStore(f"memory://lc-standard-{uuid.uuid4().hex}")
    assert sorted(t.name for t in memory_tools(store, "generic")) == sorted(EXAMPLES)


for _name in EXAMPLES:
    _camel = "".join(p.title() for p in _name.split("_"))
    globals()[f"Test{_camel}Unit"] = _suite(ToolsUnitTests, _name)
    globals()[f"Test{_camel}Integration"] = _suite(ToolsIntegrationTests, _name)
