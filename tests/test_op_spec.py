"""One op spec table: the codec, tool schemas, scaffold op text and grammars derive from it."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from automem_sdk import MemoryStore
from automem_sdk.codec import OP_FIELDS, encode_op, parse_ops
from automem_sdk.errors import ScaffoldError
from automem_sdk.ops import (
    MEMORY_OP_NAMES,
    MUTATING_OPS,
    OP_SPECS,
    READING_OPS,
    AppendOp,
    CustomOp,
    HeadOp,
    MemoryOp,
    OpRules,
    ReadOp,
    WriteOp,
    execute_op,
    op_spec,
    spec_for_token,
)
from automem_sdk.scaffold import load_scaffold
from automem_sdk.tools import op_from_tool_call, tool_specs


def test_every_op_model_has_exactly_one_spec_row() -> None:
    union = typing.get_args(typing.get_args(MemoryOp)[0])
    # a custom op's name, arguments and steps come from the scaffold, not the table
    rows = sorted(s.model.__name__ for s in OP_SPECS)
    assert rows == sorted(m.__name__ for m in union if m is not CustomOp)
    for spec in OP_SPECS:
        assert spec.model.model_fields["op"].default == spec.name
        assert set(spec.fields) <= set(spec.model.model_fields), spec.name
        assert 0 <= spec.required <= len(spec.fields)
        assert spec.description.endswith(".")


def test_the_op_sets_come_from_the_table() -> None:
    assert tuple(s.name for s in OP_SPECS if s.kind != "control") == MEMORY_OP_NAMES
    assert {"read", "head", "tail", "search", "count", "list"} == READING_OPS
    assert set(MEMORY_OP_NAMES) == MUTATING_OPS | READING_OPS
    assert not MUTATING_OPS & READING_OPS
    with pytest.raises(KeyError, match="unknown op 'nope'; known:"):
        op_spec("nope")
    assert spec_for_token("UPSERT") is op_spec("upsert") and spec_for_token("END") is None


def test_codec_tools_and_prompts_follow_the_table() -> None:
    assert {s.token: (s.name, s.fields, s.required) for s in OP_SPECS if s.token} == OP_FIELDS
    specs = {t["name"]: t for t in tool_specs()}
    for spec in OP_SPECS:
        if spec.kind == "control":
            continue
        tool = specs[f"memory_{spec.name}"]
        assert tool["description"] == spec.description
        assert set(tool["parameters"]["properties"]) == set(spec.fields)
    assert specs["action"]["description"] == op_spec("action").description
    text = load_scaffold("generic").describe_ops()
    for spec in OP_SPECS:
        if spec.token and spec.fields:
            assert f"<|{spec.token}|>{'|'.join(spec.fields)}<|END|>" in text
    assert load_scaffold("generic").op_tokens()[: len(OP_FIELDS)] == list(OP_FIELDS)


def test_defaults_are_dropped_from_the_encoding_from_the_models() -> None:
    assert op_spec("head").default("n") == str(HeadOp.model_fields["n"].default)
    assert encode_op(HeadOp(path="a.md")) == "<|HEAD|>a.md<|END|>"
    assert encode_op(HeadOp(path="a.md", n=5)) == "<|HEAD|>a.md|5<|END|>"
    assert parse_ops("<|INSERT|>a.md|x|y<|END|>")[0].op == "invalid"  # line must be an int


class CapRules:
    """OpRules without a scaffold: only read/append enabled, a 10-byte cap, one custom op."""

    def allows(self, op_name: str) -> bool:
        return op_name in ("read", "append")

    def file_cap(self, path: str) -> int | None:
        return 10 if path == "small.md" else None

    def expand_custom(self, op: CustomOp) -> list[MemoryOp]:
        if op.name != "NOTE":
            raise ScaffoldError(f"unknown op '{op.name}'")
        return [AppendOp(path="notes.md", content=op.args[0])]


def test_execute_op_takes_any_op_rules(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    rules: OpRules = CapRules()
    assert not execute_op(store, WriteOp(path="a.md", content="x"), rules).ok  # disabled
    assert execute_op(store, CustomOp(name="NOTE", args=["hello"]), rules).ok
    assert execute_op(store, ReadOp(path="notes.md"), rules).text == "hello\n"
    over = execute_op(store, AppendOp(path="small.md", content="x" * 20), rules)
    assert not over.ok and "10" in (over.error or "")
    unknown = execute_op(store, CustomOp(name="OTHER"), rules)
    assert not unknown.ok and "unknown op 'OTHER'" in unknown.text
    assert "no scaffold declares it" in execute_op(store, CustomOp(name="NOTE")).text


def test_tool_calls_use_the_table(memory_url: str) -> None:
    op = op_from_tool_call("memory_head", {"path": "a.md", "n": 3})
    assert isinstance(op, HeadOp) and op.n == 3
    bad: Any = op_from_tool_call("memory_nope", {})
    assert bad.op == "invalid" and "unknown tool" in bad.error
