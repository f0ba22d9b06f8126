"""The op grammar automaton and its GBNF twin."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
    op_names,
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
        pytest.skip(
            "llama-cpp-python is not installed (pip install -e '.[llamacpp]'); GBNF text checked only"
        )
    import llama_cpp

    grammar = llama_cpp.LlamaGrammar.from_string(text, verbose=False)  # type: ignore[attr-defined]
    assert grammar is not None


RESTRICTED = op_names(["read", "UPSERT", "UPSERT_MAP", "DONE"])


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<|READ|>notes.md<|END|>", True),
        ("<|UPSERT_MAP|>3,4|tree<|END|>", True),
        ("<|UPS", True),  # a prefix of UPSERT and UPSERT_MAP
        ("<|DONE|>", True),
        ("<|DONE|>more", False),  # nothing may follow DONE
        ("<|LOG|>x<|END|>", False),  # an invented op
        ("<|WRITE|>a|b<|END|>", False),  # a real op the set leaves out
        ("<|read|>a<|END|>", False),  # names are spelled in capitals
        ("<|READS|>", False),
        ("<|UPSERT_M|>", False),  # a prefix is not a name
    ],
)
def test_restricted_names(text: str, ok: bool) -> None:
    assert accepts_from(OpState.START, text, names=RESTRICTED) is ok
    t = OpTracker(names=RESTRICTED)
    t.feed(text)
    if ok:
        assert not t.violated and t.text == text
    else:
        assert t.violated or t.text != text
    # without names every well-formed name is fine
    if text.startswith(("<|LOG", "<|WRITE", "<|read")):
        assert accepts_from(OpState.START, text)


def test_restricted_accepts_from_continues_a_spelled_prefix() -> None:
    assert accepts_from(OpState.NAME, "D|>", names=RESTRICTED, prefix="REA")
    assert not accepts_from(OpState.NAME, "X|>", names=RESTRICTED, prefix="REA")
    assert accepts_from(OpState.NAME, "SERT|>k<|END|>", names=RESTRICTED, prefix="UP")


def test_op_names_validates() -> None:
    assert op_names(["read", "Done"]) == frozenset({"READ", "DONE"})
    for bad in (["2read"], ["re ad"], [], ["<|READ|>"]):
        with pytest.raises(ValueError):
            op_names(bad)


def test_restricted_gbnf() -> None:
    text = op_gbnf(["read", "DONE"])
    assert 'name  ::= "READ"' in text and 'done  ::= "DONE|>"' in text
    assert "[A-Za-z]" not in text
    no_done = op_gbnf(["READ", "APPEND"])
    assert "( op )" in no_done and '"APPEND" | "READ"' in no_done
    only_done = op_gbnf(["DONE"])
    assert "( done )" in only_done and "name" not in only_done
    if importlib.util.find_spec("llama_cpp") is None:
        return
    import llama_cpp

    for g in (text, no_done, only_done):
        assert llama_cpp.LlamaGrammar.from_string(g, verbose=False) is not None  # type: ignore[attr-defined]


def test_scaffold_op_tokens_follow_the_enabled_ops() -> None:
    from automem_sdk.scaffold import load_scaffold

    full = load_scaffold("minihack")
    assert {"READ", "ACTION", "DONE", "UPSERT_MAP"} <= set(full.op_tokens())
    small = full.child("only read and upsert", ops=["read", "upsert"])
    assert set(small.op_tokens()) == {"READ", "UPSERT", "ACTION", "DONE", "UPSERT_MAP"}
    op_names(small.op_tokens())  # valid for a restricted grammar


def test_llama_server_client_sends_the_restricted_gbnf(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import json

    import httpx

    from automem_sdk.errors import LLMError
    from automem_sdk.llm.llamacpp_server import LlamaServerClient
    from automem_sdk.llm.openai_compat import OpenAICompatClient

    bodies: list[dict[str, object]] = []

    def reply(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        # a reply cut off by max_tokens inside the arguments
        message = {"role": "assistant", "content": "<|READ|>notes"}
        choice = {"index": 0, "message": message, "finish_reason": "length"}
        usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
        return httpx.Response(200, json={"choices": [choice], "usage": usage, "model": "m"})

    http = OpenAICompatClient(
        "http://127.0.0.1:1/v1", "m", http_client=httpx.Client(transport=httpx.MockTransport(reply))
    )
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")  # never loaded: the HTTP client is swapped in below
    client = LlamaServerClient(str(gguf), grammar=["READ", "DONE"])
    monkeypatch.setattr(client, "start", lambda: http)
    out = client.chat([{"role": "user", "content": "hi"}])
    assert bodies[-1]["grammar"] == op_gbnf(["READ", "DONE"])
    assert out.text == "<|READ|>notes<|END|>"  # closed like the in-process path does
    client.chat([{"role": "user", "content": "hi"}], grammar=True)
    assert bodies[-1]["grammar"] == op_gbnf()
    client.chat([{"role": "user", "content": "hi"}], grammar=False)
    assert "grammar" not in bodies[-1]
    with pytest.raises(LLMError, match="op names"):
        LlamaServerClient(str(gguf), grammar=["<|READ|>"])
