"""Tool schemas generated from the op models, and tool calls back to ops."""

from __future__ import annotations

import json

import pytest

from automem_sdk.ops import AppendOp, CustomOp, InvalidOp, SearchOp, UpsertOp
from automem_sdk.scaffold import load_scaffold
from automem_sdk.tools import (
    MAX_TOOL_ARGUMENT_BYTES,
    anthropic_tool_schemas,
    op_from_tool_call,
    op_to_tool_call,
    openai_tool_schemas,
)


def test_schemas_follow_scaffold_vocabulary_and_custom_ops() -> None:
    sc = load_scaffold("minihack").child("narrow", ops=["read", "search", "upsert"])
    names = [t["function"]["name"] for t in openai_tool_schemas(sc, ["north", "south"])]
    assert names == ["memory_read", "memory_search", "memory_upsert", "memory_upsert_map", "action"]
    action = openai_tool_schemas(sc, ["north", "south"])[-1]["function"]
    assert action["parameters"]["properties"]["name"]["enum"] == ["north", "south"]
    anth = anthropic_tool_schemas(sc)
    assert all({"name", "description", "input_schema"} == set(t) for t in anth)
    upsert = next(t for t in anth if t["name"] == "memory_upsert")["input_schema"]
    assert upsert["required"] == ["path", "key", "value"]
    assert upsert["additionalProperties"] is False


@pytest.mark.parametrize(
    "op",
    [
        AppendOp(path="n.md", content="x|y"),
        SearchOp(query="tree"),
        UpsertOp(path="m.md", key="k", value="v"),
    ],
)
def test_tool_call_round_trip(op) -> None:
    name, args = op_to_tool_call(op)
    assert op_from_tool_call(name, json.dumps(args)) == op
    assert op_from_tool_call(name, args) == op


def test_custom_tool_call_needs_scaffold() -> None:
    sc = load_scaffold("minihack")
    assert op_from_tool_call("memory_upsert_map", {"cell": "1,2", "info": "x"}, sc) == CustomOp(
        name="UPSERT_MAP", args=["1,2", "x"]
    )
    assert isinstance(
        op_from_tool_call("memory_upsert_map", {"cell": "1,2", "info": "x"}), InvalidOp
    )


@pytest.mark.parametrize(
    "name, args, needle",
    [
        ("memory_append", "{not json", "not valid JSON"),
        ("memory_append", '{"path": "a.md", "content": 3}', "content"),
        ("memory_append", '{"path": "a.md"}', "content"),
        ("memory_append", '["a"]', "JSON object"),
        ("memory_teleport", "{}", "unknown tool"),
        ("rm_rf", "{}", "unknown tool"),
        (
            "memory_append",
            json.dumps({"path": "a", "content": "x" * (MAX_TOOL_ARGUMENT_BYTES + 1)}),
            "too large",
        ),
        ("memory_read", '{"path": "a.md", "extra": 1}', "extra"),
    ],
)
def test_bad_tool_calls_become_invalid_ops(name: str, args: str, needle: str) -> None:
    op = op_from_tool_call(name, args)
    assert isinstance(op, InvalidOp) and needle in op.error
