"""The op grammar automaton and its GBNF twin."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automem_sdk.codec import parse_ops
from automem_sdk.llm.op_grammar import (
    OpState,
    OpTracker,
    accepts_from,
    advance,
    op_gbnf,
)
from automem_sdk.ops import DoneOp, InvalidOp


def track(text: str) -> OpTracker:
    t = OpTracker()
    t.feed(text)
    return t


@pytest.mark.parametrize(
    "text",
    [
        "<|DONE|>",
        "<|done|>",
        "<|READ|>notes.md<|END|>",
        "<|APPEND|>notes.md|a \\<| b<|END|>",
        "<|UPSERT_MAP|>3,4|tree<<|END|>",
        "<|SEARCH|>|x<|END|>",
        "<|ACTION|>north<|END|>",
    ],
)
def test_complete_ops_finish_and_parse(text: str) -> None:
    t = track(text)
    assert t.finished and not t.violated
    assert t.text == text
    ops = parse_ops(t.closed_text())
    assert len(ops) == 1 and not isinstance(ops[0], InvalidOp)


def test_done_ends_the_op_and_drops_what_follows() -> None:
    t = track("<|DONE|>\nand more")
    assert t.finished and t.name == "DONE"
    assert t.text == "<|DONE|>"
    assert parse_ops(t.closed_text()) == [DoneOp()]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (" <|READ|>", ""),
        ("<|1READ|>", "<|"),
        ("<|READ>", "<|READ"),
        ("<|READ|>a<|READ|>b<|END|>", "<|READ|>a<|"),
        ("<|READ|>a<|END|>tail", "<|READ|>a<|END|>"),
    ],
)
def test_text_outside_the_grammar_is_cut(text: str, kept: str) -> None:
    t = track(text)
    assert t.text == kept


@pytest.mark.parametrize(
    ("partial", "closed"),
    [
        ("<|APPEND|>notes.md|half", "<|APPEND|>notes.md|half<|END|>"),
        ("<|APPEND|>notes.md|half<|EN", "<|APPEND|>notes.md|half<|END|>"),
        ("<|APPEND|>notes.md|half<", "<|APPEND|>notes.md|half<|END|>"),
        ("<|APPEND|>notes.md|half\\", "<|APPEND|>notes.md|half<|END|>"),
        ("<|APP", "<|APP"),
    ],
)
def test_closed_text_finishes_ops_cut_inside_arguments(partial: str, closed: str) -> None:
    t = track(partial)
    assert not t.finished and not t.violated
    assert t.closed_text() == closed


def test_accepts_from_matches_stepwise_advance() -> None:
    assert accepts_from(OpState.START, "<|")
    assert not accepts_from(OpState.START, "x")
    assert accepts_from(OpState.NAME, "AD|>notes")
    assert accepts_from(OpState.ARGS, "plain words")
    assert not accepts_from(OpState.CLOSE, "ENX")
    assert accepts_from(OpState.CLOSE_BAR, ">")
    assert not accepts_from(OpState.CLOSE_BAR, ">x")
    assert advance(OpState.FINISHED, "a") is None


@given(st.text(max_size=40))
def test_tracker_keeps_a_grammar_prefix(text: str) -> None:
    t = track(text)
    assert text.startswith(t.text)
    state: OpState | None = OpState.START
    for ch in t.text:
        assert state is not None
        state = OpState.ARGS if state is OpState.FINISHED else advance(state, ch)
    assert state is not None
    closed = t.closed_text()
    if t.finished or t.in_args:
        ops = parse_ops(closed)
        assert len(ops) == 1


@given(
    st.sampled_from(["READ", "APPEND", "ACTION", "MY_OP"]),
    st.text(alphabet=st.characters(blacklist_characters="<\\"), max_size=30),
)
def test_any_plain_argument_text_makes_one_op(name: str, args: str) -> None:
    t = track(f"<|{name}|>{args}<|END|>")
    assert t.finished and t.name == name


def test_gbnf_is_data_and_parses_with_llama_cpp() -> None:
    text = op_gbnf()
    assert "root" in text and "<|END|>" in text
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed; GBNF text checked only")
    import llama_cpp

    grammar = llama_cpp.LlamaGrammar.from_string(text, verbose=False)  # type: ignore[attr-defined]
    assert grammar is not None
