"""Token codec: totality, encode->parse identity, leniency, error messages."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from automem_sdk.codec import encode_op, encode_ops, parse_ops
from automem_sdk.ops import (
    ActionOp,
    AppendOp,
    CountOp,
    CreateOp,
    CustomOp,
    DeleteOp,
    DoneOp,
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
)

paths = st.from_regex(r"[a-z][a-z0-9_/]{0,12}\.md", fullmatch=True)
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=60,
)
word = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789_ ,:<|>\\", min_size=1, max_size=20
).filter(lambda s: s.strip() != "")

ops = st.one_of(
    st.builds(ReadOp, path=paths),
    st.builds(HeadOp, path=paths, n=st.integers(1, 200)),
    st.builds(TailOp, path=paths, n=st.integers(1, 200)),
    st.builds(SearchOp, query=word, path=st.one_of(st.none(), paths)),
    st.builds(CountOp, path=paths, query=st.one_of(st.none(), word)),
    st.builds(ListOp, prefix=st.one_of(st.just(""), paths)),
    st.builds(WriteOp, path=paths, content=text),
    st.builds(AppendOp, path=paths, content=text),
    st.builds(CreateOp, path=paths, content=text),
    st.builds(UpsertOp, path=paths, key=word, value=text),
    st.builds(ReplaceOp, path=paths, old=text.filter(bool), new=text),
    st.builds(InsertOp, path=paths, line=st.integers(0, 500), content=text),
    st.builds(DeleteOp, path=paths),
    st.builds(RenameOp, path=paths, dst=paths),
    st.builds(ActionOp, name=word),
    st.just(DoneOp()),
    st.builds(
        CustomOp,
        name=st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True).filter(
            lambda n: (
                n
                not in {
                    "READ",
                    "HEAD",
                    "TAIL",
                    "SEARCH",
                    "COUNT",
                    "LIST",
                    "WRITE",
                    "APPEND",
                    "CREATE",
                    "UPSERT",
                    "REPLACE",
                    "INSERT",
                    "DELETE",
                    "RENAME",
                    "ACTION",
                    "DONE",
                    "END",
                }
            )
        ),
        args=st.lists(text, max_size=3).filter(lambda a: a != [""]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(ops, min_size=1, max_size=6))
def test_encode_parse_identity(items: list) -> None:
    assert parse_ops(encode_ops(items)) == items


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_parse_is_total_on_any_text(s: str) -> None:
    out = parse_ops(s)
    assert isinstance(out, list)
    for op in out:
        if isinstance(op, InvalidOp):
            assert op.error


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, min_size=1, max_size=4), st.integers(0, 10_000), st.data())
def test_parse_total_on_mutated_encodings(items: list, seed: int, data: st.DataObject) -> None:
    s = list(encode_ops(items))
    rng = random.Random(seed)
    for _ in range(data.draw(st.integers(1, 6))):
        i = rng.randrange(len(s) + 1)
        choice = rng.random()
        if choice < 0.4 and s:
            del s[min(i, len(s) - 1)]
        elif choice < 0.8:
            s.insert(i, rng.choice(["<", "|", ">", "\\", "<|END|>", "<|", "|>", "x", "\n"]))
        else:
            s[min(i, len(s) - 1) if s else 0 : 0] = list("<|READ|>")
    out = parse_ops("".join(s))
    assert all(hasattr(op, "op") for op in out)


def test_examples_from_automem_syntax() -> None:
    out = parse_ops(
        "I should check memory. <|SEARCH|>notes.md|tree<|END|> then "
        "<|APPEND|>notes.md|tree at 3,4<|END|><|TAIL|>notes.md|20<|END|><|ACTION|>move_left<|END|><|DONE|>"
    )
    assert out == [
        SearchOp(path="notes.md", query="tree"),
        AppendOp(path="notes.md", content="tree at 3,4"),
        TailOp(path="notes.md", n=20),
        ActionOp(name="move_left"),
        DoneOp(),
    ]


def test_errors_name_the_problem() -> None:
    (missing_end,) = parse_ops("<|APPEND|>notes.md|half a no")
    assert isinstance(missing_end, InvalidOp) and "END" in missing_end.error
    (bad_int,) = parse_ops("<|TAIL|>notes.md|many<|END|>")
    assert isinstance(bad_int, InvalidOp) and "integer" in bad_int.error
    (few,) = parse_ops("<|UPSERT|>map.md|3,4<|END|>")
    assert isinstance(few, InvalidOp) and "UPSERT needs 3" in few.error
    (prose,) = parse_ops("I will go north.")
    assert isinstance(prose, InvalidOp) and "no op tokens" in prose.error
    assert parse_ops("") == []


def test_lenient_missing_end_before_next_op() -> None:
    assert parse_ops("<|READ|>map.md<|ACTION|>north<|END|>") == [
        ReadOp(path="map.md"),
        ActionOp(name="north"),
    ]


def test_escapes_round_trip_in_content() -> None:
    op = AppendOp(path="n.md", content="a|b <|END|> c\\d")
    enc = encode_op(op)
    assert "<|END|> c" not in enc[:-7]
    assert parse_ops(enc) == [op]


def test_search_all_files_forms() -> None:
    assert parse_ops("<|SEARCH|>tree<|END|>") == [SearchOp(query="tree")]
    assert parse_ops("<|SEARCH|>*|tree<|END|>") == [SearchOp(query="tree")]
    assert encode_op(SearchOp(query="tree")) == "<|SEARCH|>*|tree<|END|>"


def test_lowercase_tokens_and_custom_ops() -> None:
    assert parse_ops("<|read|>a.md<|END|>") == [ReadOp(path="a.md")]
    assert parse_ops("<|UPSERT_MAP|>3,4|wall<|END|>") == [
        CustomOp(name="UPSERT_MAP", args=["3,4", "wall"])
    ]
