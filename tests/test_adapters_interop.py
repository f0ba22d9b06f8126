"""One memory directory, three adapters: written by one, read and edited by the others.

Each step opens its own :class:`MemoryStore` on the URL, as separate processes would.
"""

from __future__ import annotations

from typing import Any

import pytest
from automem_sdk.adapters import ToolDispatcher

from automem_sdk import MemoryStore
from automem_sdk.testing import openai_tool_call

pytest.importorskip("anthropic", reason="the anthropic extra is not installed")
pytest.importorskip("langchain_core", reason="the langchain extra is not installed")

from automem_sdk.adapters import AutomemMemoryTool, memory_tools


@pytest.fixture(params=["memory", pytest.param("s3", marks=pytest.mark.s3)])
def shared_url(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any] | None]:
    if request.param == "memory":
        return request.getfixturevalue("memory_url"), None
    url, options = request.getfixturevalue("s3_store_url")
    return url, options


def test_memory_is_shared_by_all_three_adapters(
    shared_url: tuple[str, dict[str, Any] | None], raw_tree: Any
) -> None:
    url, options = shared_url

    # 1. OpenAI-style tool calls write the notes.
    openai_side = ToolDispatcher(MemoryStore(url, options))
    out = openai_side.dispatch(
        [
            openai_tool_call(
                "memory_write", {"path": "people/ada.md", "content": "- drinks: tea\n"}, "1"
            ),
            openai_tool_call(
                "memory_upsert", {"path": "facts.md", "key": "city", "value": "Lisbon"}, "2"
            ),
        ]
    )
    assert [m["content"] for m in out] == [
        "wrote 14 chars to people/ada.md",
        "added 'city' in facts.md",
    ]

    # 2. Claude's memory tool sees them under /memories and edits them.
    claude_side = AutomemMemoryTool(MemoryStore(url, options))
    listing = claude_side.call({"command": "view", "path": "/memories"})
    assert "\t/memories/people/ada.md" in listing and "\t/memories/facts.md" in listing
    claude_side.call(
        {
            "command": "str_replace",
            "path": "/memories/people/ada.md",
            "old_str": "tea",
            "new_str": "coffee",
        }
    )
    claude_side.call(
        {"command": "create", "path": "/memories/people/bob.md", "file_text": "- drinks: water\n"}
    )

    # 3. LangChain tools read Claude's edits and append more.
    lc_tools = {t.name: t for t in memory_tools(MemoryStore(url, options))}
    assert lc_tools["memory_read"].invoke({"path": "people/ada.md"}) == "- drinks: coffee\n"
    hits = lc_tools["memory_search"].invoke({"query": "drinks"})
    assert hits.splitlines() == [
        "people/ada.md:1: - drinks: coffee",
        "people/bob.md:1: - drinks: water",
    ]
    lc_tools["memory_append"].invoke({"path": "facts.md", "content": "likes trams"})

    # 4. Back to the first adapter, through a fresh store: everything is there.
    reader = ToolDispatcher(MemoryStore(url, options))
    got = reader.dispatch([openai_tool_call("memory_read", {"path": "facts.md"}, "r")])
    assert got[0]["content"] == "city: Lisbon\nlikes trams\n"
    view = AutomemMemoryTool(MemoryStore(url, options)).call(
        {"command": "view", "path": "/memories/people/bob.md"}
    )
    assert view.endswith("     1\t- drinks: water\n     2\t")

    # The files on the backend are plain text, and the journal has every change.
    assert raw_tree(url, options) == {
        "facts.md": "city: Lisbon\nlikes trams\n",
        "people/ada.md": "- drinks: coffee\n",
        "people/bob.md": "- drinks: water\n",
    }
    ops = [e.op for e in MemoryStore(url, options).history()]
    assert ops == ["write", "write", "write", "create", "append"]
