"""Ops against real stores on every backend: results, errors as observations."""

from __future__ import annotations

from typing import Any

import pytest

from automem_sdk import MemoryStore
from automem_sdk.ops import (
    AppendOp,
    CountOp,
    CreateOp,
    CustomOp,
    DeleteOp,
    HeadOp,
    InsertOp,
    InvalidOp,
    ListOp,
    ReadOp,
    RenameOp,
    ReplaceOp,
    SearchOp,
    TailOp,
    UpsertOp,
    WriteOp,
    execute_op,
    op_from_dict,
)
from automem_sdk.scaffold import load_scaffold


@pytest.fixture
def store(store_url: tuple[str, dict[str, Any] | None]) -> MemoryStore:
    url, opts = store_url
    return MemoryStore(url, opts)


def test_every_primitive(store: MemoryStore) -> None:
    assert execute_op(store, CreateOp(path="a.md", content="one\n")).ok
    assert not execute_op(store, CreateOp(path="a.md")).ok  # exists
    assert execute_op(store, AppendOp(path="a.md", content="two")).ok
    assert store.read("a.md") == "one\ntwo\n"
    assert execute_op(store, InsertOp(path="a.md", line=1, content="zero")).ok
    assert store.read("a.md") == "zero\none\ntwo\n"
    assert execute_op(store, HeadOp(path="a.md", n=1)).text == "1: zero"
    assert execute_op(store, TailOp(path="a.md", n=2)).text == "2: one\n3: two"
    assert execute_op(store, CountOp(path="a.md")).data["count"] == 3
    assert execute_op(store, CountOp(path="a.md", query="O")).data["count"] == 3
    r = execute_op(store, ReplaceOp(path="a.md", old="one", new="uno"))
    assert r.ok and r.changed and "uno" in store.read("a.md")
    assert not execute_op(store, ReplaceOp(path="a.md", old="o", new="0")).ok  # not unique
    assert execute_op(store, UpsertOp(path="k.md", key="tree", value="3,4")).ok
    assert execute_op(store, UpsertOp(path="k.md", key="tree", value="5,6")).ok
    unchanged = execute_op(store, UpsertOp(path="k.md", key="tree", value="5,6"))
    assert unchanged.ok and not unchanged.changed
    assert store.read("k.md") == "tree: 5,6\n"
    hits = execute_op(store, SearchOp(query="UNO"))
    assert hits.ok and hits.data["n"] == 1 and "a.md:2: uno" in hits.text
    assert execute_op(store, SearchOp(query="nothing")).data["n"] == 0
    assert execute_op(store, RenameOp(path="k.md", dst="dir/keys.md")).ok
    assert execute_op(store, ListOp()).data["files"] == ["a.md", "dir/keys.md"]
    assert execute_op(store, WriteOp(path="a.md", content="new")).ok
    assert execute_op(store, ReadOp(path="a.md")).text == "new"
    assert execute_op(store, DeleteOp(path="a.md")).ok
    assert execute_op(store, ListOp()).data["files"] == ["dir/keys.md"]


@pytest.mark.parametrize(
    "op, needle",
    [
        (ReadOp(path="missing.md"), "missing.md"),
        (ReadOp(path="../escape.md"), "escape"),
        (WriteOp(path="/etc/passwd", content="x"), "passwd"),
        (DeleteOp(path="nope.md"), "nope.md"),
        (RenameOp(path="nope.md", dst="b.md"), "nope.md"),
        (ReplaceOp(path="missing.md", old="a", new="b"), "missing.md"),
        (InvalidOp(raw="<|X", error="bad syntax"), "bad syntax"),
        (CustomOp(name="NOPE", args=[]), "NOPE"),
        (AppendOp(path="a.md", content="   "), "empty"),
    ],
)
def test_agent_mistakes_are_error_results(store: MemoryStore, op: Any, needle: str) -> None:
    res = execute_op(store, op)
    assert not res.ok and res.error and needle in res.text
    assert store.list() == []


def test_scaffold_vocabulary_and_custom_ops(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    sc = load_scaffold("minihack")
    res = execute_op(store, CustomOp(name="UPSERT_MAP", args=["3,4", "wall"]), sc)
    assert res.ok and store.read("map.md") == "3,4: wall\n"
    limited = sc.child("read-only", ops=["read", "search"])
    res = execute_op(store, AppendOp(path="notes.md", content="x"), limited)
    assert not res.ok and "not enabled" in res.text


def test_store_limits_become_error_results(memory_url: str) -> None:
    from automem_sdk import StoreLimits

    store = MemoryStore(memory_url, limits=StoreLimits(max_file_bytes=100))
    res = execute_op(store, WriteOp(path="a.md", content="x" * 500))
    assert not res.ok and res.error
    assert not store.exists("a.md")


def test_op_from_dict_round_trip() -> None:
    op = UpsertOp(path="m.md", key="k", value="v")
    assert op_from_dict(op.model_dump()) == op
