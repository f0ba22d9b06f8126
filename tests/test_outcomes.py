"""Outcomes on traces: attach, read, find a conversation's trace, values for selectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fsspec
import pytest

from automem_sdk.cli import main as cli_main
from automem_sdk.outcomes import (
    Outcome,
    OutcomeError,
    attach_outcome,
    conversation_id_of,
    conversations,
    find_conversation,
    is_conversation_mark,
    load_outcomes,
    outcomes_url,
    read_outcomes,
    record_conversation,
)
from automem_sdk.trace import TraceFooter, TraceHeader, TraceWriter, TurnRecord, list_traces


def write_trace(
    url: str,
    convs: dict[int, str],
    options: dict[str, Any] | None = None,
    header_conv: str | None = None,
) -> str:
    """A trace with one LOG turn per step and the step's conversation recorded."""
    config = {"conversation_id": header_conv} if header_conv else {}
    with TraceWriter(url, options) as w:
        w.write(TraceHeader(env="langchain", mode="observe", config=config))
        for step, cid in sorted(convs.items()):
            w.write(TurnRecord(step=step, routine="log", output="<|DONE|>"))
            record_conversation(w, step=step, conversation_id=cid)
        w.write(TraceFooter(steps=len(convs)))
    return url


def test_attach_read_and_values_per_target(tmp_path: Path) -> None:
    url = write_trace(str(tmp_path / "t.jsonl"), {0: "c1", 1: "c1", 2: "c2", 3: "c3"})
    [o1] = attach_outcome(url, conversation_id="c1", rating=4, rating_scale=5)
    [o2] = attach_outcome(url, conversation_id="c2", passed=False, source="check")
    [o3] = attach_outcome(url, step=3, score=0.25, note="late fact")
    assert (o1.target, o2.target, o3.target) == ("conversation", "conversation", "step")
    got = read_outcomes(url)
    assert [o.outcome_id for o in got] == [o1.outcome_id, o2.outcome_id, o3.outcome_id]
    assert got[0].value() == pytest.approx(0.8) and got[1].value() == 0.0
    to = load_outcomes(url)
    assert to.step_values() == {0: pytest.approx(0.8), 1: pytest.approx(0.8), 2: 0.0, 3: 0.25}
    assert to.conversation_value("c1") == pytest.approx(0.8)
    assert to.conversation_value("c3") == 0.25  # from its step's outcome
    assert to.episode_value() == pytest.approx((0.8 + 0.0 + 0.25) / 3)
    attach_outcome(url, score=1.0)  # an episode outcome wins the episode value
    assert load_outcomes(url).episode_value() == 1.0
    # the side folder is no trace
    assert list_traces(str(tmp_path)) == [url]


def test_label_values_come_from_a_mapping(tmp_path: Path) -> None:
    url = write_trace(str(tmp_path / "t.jsonl.gz"), {0: "a"})
    attach_outcome(url, conversation_id="a", label="resolved")
    assert load_outcomes(url).episode_value() is None
    assert load_outcomes(url, labels={"resolved": 1.0}).step_values() == {0: 1.0}


def test_unknown_conversation_or_step_is_one_clear_error_and_writes_nothing(
    tmp_path: Path,
) -> None:
    url = write_trace(str(tmp_path / "t.jsonl"), {0: "c1", 1: "c2"})
    with pytest.raises(OutcomeError, match=r"conversation 'nope' is not in .*c1, c2"):
        attach_outcome(url, conversation_id="nope", score=1)
    with pytest.raises(OutcomeError, match=r"step 1 is not in conversation 'c1'.*steps: 0"):
        attach_outcome(url, conversation_id="c1", step=1, score=1)
    with pytest.raises(OutcomeError, match=r"step 9 is not in"):
        attach_outcome(url, step=9, score=1)
    with pytest.raises(ValueError, match="needs a score, label, rating or passed"):
        attach_outcome(url, conversation_id="c1")
    with pytest.raises(ValueError, match="finite"):
        attach_outcome(url, score=float("nan"))
    assert read_outcomes(url) == []
    assert not Path(outcomes_url(url)).exists()


def test_a_folder_finds_the_trace_of_a_conversation(tmp_path: Path) -> None:
    a = write_trace(str(tmp_path / "users-ada.jsonl"), {0: "t-1", 1: "t-2"})
    b = write_trace(str(tmp_path / "users-bo.jsonl"), {0: "t-3"})
    whole = write_trace(str(tmp_path / "sub" / "one.jsonl"), {}, header_conv="t-9")
    assert find_conversation(str(tmp_path), "t-3") == [b]
    [o] = attach_outcome(str(tmp_path), conversation_id="t-2", score=1.0)
    assert o.trace == a and read_outcomes(b) == []
    assert conversations(load_outcomes(whole).trace) == {"t-9": []}
    attach_outcome(str(tmp_path), conversation_id="t-9", passed=True)
    assert [x.passed for x in read_outcomes(whole)] == [True]
    with pytest.raises(OutcomeError, match=r"no trace below .* logged conversation 'zz'"):
        attach_outcome(str(tmp_path), conversation_id="zz", score=1)
    with pytest.raises(OutcomeError, match="is a folder: pass a conversation id"):
        attach_outcome(str(tmp_path), score=1)


def test_a_newer_or_broken_outcome_file_is_refused_clearly(tmp_path: Path) -> None:
    url = write_trace(str(tmp_path / "t.jsonl"), {0: "c"})
    attach_outcome(url, score=1)
    folder = Path(outcomes_url(url))
    (folder / "zz-new.json").write_text(json.dumps({"schema_version": 99, "score": 1}))
    with pytest.raises(OutcomeError, match=r"schema_version 99 is not supported: newer.*upgrade"):
        read_outcomes(url)
    (folder / "zz-new.json").write_text("{not json")
    with pytest.raises(OutcomeError, match="not JSON"):
        read_outcomes(url)


def test_conversation_ids_from_call_values() -> None:
    assert conversation_id_of({"thread_id": "t1", "user_id": "ada"}) == "t1"
    assert conversation_id_of({"conversation_id": "c", "thread_id": "t"}) == "c"
    assert conversation_id_of({"user_id": "ada"}) is None
    assert conversation_id_of(None) is None
    assert record_conversation(None, step=0, conversation_id="c") is False


def test_outcome_model_rejects_an_empty_outcome() -> None:
    with pytest.raises(ValueError):
        Outcome()
    assert Outcome(label="x").value() is None


def test_memory_url_and_concurrent_writers_lose_nothing() -> None:
    url = write_trace("memory://outcomes-test/t.jsonl", {i: f"c{i % 3}" for i in range(6)})
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(lambda i: attach_outcome(url, conversation_id=f"c{i % 3}", score=i), range(12))
        )
    assert sorted(o.score or 0 for o in read_outcomes(url)) == list(range(12))
    fsspec.filesystem("memory").rm("/outcomes-test", recursive=True)


@pytest.mark.s3
def test_outcomes_beside_a_trace_on_s3(s3_url: tuple[str, dict[str, Any]]) -> None:
    base, options = s3_url
    url = write_trace(base + "/traces/users-ada.jsonl.gz", {0: "t-1", 1: "t-2"}, options)
    [o] = attach_outcome(
        base + "/traces", conversation_id="t-2", score=0.5, storage_options=options
    )
    assert o.trace == url
    assert [x.score for x in read_outcomes(url, options)] == [0.5]
    assert list_traces(base + "/traces", options) == [url]
    assert load_outcomes(url, options).step_values() == {1: 0.5}


def test_cli_attaches_lists_and_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = write_trace(str(tmp_path / "t.jsonl"), {0: "c1", 1: "c2"})
    assert cli_main(["trace", "outcome", url, "--conversation", "c1", "--passed"]) == 0
    assert "(conversation) attached to" in capsys.readouterr().out
    assert cli_main(["trace", "outcome", str(tmp_path), "--conversation", "c2", "--rating",
                     "2", "--scale", "5", "--note", "wrong city"]) == 0  # fmt: skip
    assert "attached to" in capsys.readouterr().out
    assert cli_main(["trace", "outcomes", url, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["conversation"] for r in rows] == ["c1", "c2"]
    assert [r["value"] for r in rows] == [1.0, 0.4]
    assert cli_main(["trace", "outcome", url, "--conversation", "c9", "--score", "1"]) != 0
    err = capsys.readouterr().err
    assert "conversation 'c9' is not in" in err and len(err.strip().splitlines()) == 1
    assert cli_main(["trace", "outcome", url]) == 2
    assert "give the outcome" in capsys.readouterr().err
    assert cli_main(["trace", "outcome", url, "--score", "nan"]) == 2
    assert capsys.readouterr().err.strip() == (
        "automem: error: score must be a finite number, got nan"
    )
    assert cli_main(["trace", "outcome", str(tmp_path / "nope.jsonl"), "--score", "1"]) == 1
    assert "no trace at" in capsys.readouterr().err
    assert len(read_outcomes(url)) == 2


def test_public_api_resolves_with_docstrings() -> None:
    import inspect

    import automem_sdk.outcomes as mod

    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name


def test_trace_show_lists_every_step_of_an_adapter_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(tmp_path / "t.jsonl")
    with TraceWriter(url) as w:
        w.write(TraceHeader(env="langchain", mode="observe"))
        for step in range(3):
            w.write(TurnRecord(step=step, routine="log", output="<|DONE|>"))
        record_conversation(w, step=0, conversation_id="c1")
        record_conversation(w, step=2, conversation_id="c2")  # step 1 had no id
        w.write(TraceFooter(steps=3))
    assert cli_main(["trace", "show", url, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    from automem_sdk.trace import read_trace

    assert [is_conversation_mark(s) for s in read_trace(url).steps] == [True, True]
    assert [(r["step"], r["action"]) for r in rows] == [
        (0, "(conversation c1)"),
        (1, ""),
        (2, "(conversation c2)"),
    ]
