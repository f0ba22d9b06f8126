"""Behavioral trainer: selectors on constructed traces with known answers, and postprocess."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from automem_sdk.trainers.behavioral.dataset import (
    PostprocessConfig,
    build_dataset,
    build_examples,
    canonical_target,
    read_dataset,
)
from automem_sdk.trainers.behavioral.errors import BehavioralError, InsufficientDataError
from automem_sdk.trainers.behavioral.ledger import read_ledger
from automem_sdk.trainers.behavioral.selectors import (
    AllTurnsSelector,
    HindsightSelector,
    Intersection,
    JudgeSelector,
    OutcomeSelector,
    Union,
    parse_judgement,
    parse_selector,
)
from automem_sdk.trainers.behavioral.toy import make_toy_traces
from automem_sdk.trainers.behavioral.traces import iter_events, load_traces

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Message
from automem_sdk.llm.scripted import ScriptedClient
from automem_sdk.trace import StepRecord, TraceFooter, TraceHeader, TraceWriter, TurnRecord

# ----------------------------------------------------------------- trace building


def _op(op: str, **kw: Any) -> dict[str, Any]:
    return {"op": op, **kw}


def _res(op: str, path: str | None = None, *, ok: bool = True, **kw: Any) -> dict[str, Any]:
    changed = kw.pop("changed", op in ("write", "append", "create", "upsert", "insert"))
    return {
        "op": op,
        "ok": ok,
        "text": kw.pop("text", f"{op} {path}"),
        "path": path,
        "error": None if ok else "failed",
        "data": kw.pop("data", {}),
        "changed": changed,
        "version": None,
    }


def _turn(
    step: int,
    routine: str,
    ops: list[dict[str, Any]],
    results: list[dict[str, Any]],
    turn: int = 0,
    prompt: str | None = None,
) -> TurnRecord:
    return TurnRecord(
        step=step,
        routine=routine,  # type: ignore[arg-type]
        turn=turn,
        messages=[
            Message(role="system", content="You keep notes."),
            Message(role="user", content=prompt or f"step {step} {routine} turn {turn}"),
        ],
        output="(raw)",
        ops=ops,
        results=results,
    )


def _write_trace(
    path: Path,
    records: list[TurnRecord | StepRecord],
    *,
    env: str = "test/env",
    seed: int = 0,
    progression: float = 0.0,
) -> str:
    url = str(path)
    with TraceWriter(url) as w:
        w.write(TraceHeader(env=env, seed=seed))
        for r in records:
            w.write(r)
        n_steps = sum(1 for r in records if isinstance(r, StepRecord))
        w.write(TraceFooter(steps=n_steps, progression=progression))
    return url


def _append(step: int, path: str, content: str, turn: int = 0) -> TurnRecord:
    return _turn(
        step,
        "log",
        [_op("append", path=path, content=content), _op("done")],
        [_res("append", path), _res("done")],
        turn=turn,
    )


def _read(step: int, path: str, routine: str = "plan", turn: int = 0) -> TurnRecord:
    return _turn(
        step,
        routine,
        [_op("read", path=path)],
        [_res("read", path)],
        turn=turn,
    )


def _step(step: int, reward: float = 0.0, progression: float | None = None) -> StepRecord:
    return StepRecord(step=step, action="go", reward=reward, progression=progression)


@pytest.fixture
def hindsight_trace(tmp_path: Path) -> str:
    """A trace whose credited writes are known by construction.

    - step 0 LOG: append notes.md (A, read at step 1 before the reward at step 2: credited)
      and, in a second turn, append junk.md (B, never read: not credited)
    - step 1 LOG: append map.md (C, only read after the window closed: not credited)
    - step 1 PLAN: read notes.md
    - step 2: reward 1 (progress)
    - step 3 LOG: write plan.md (D, overwritten before any read: not credited)
    - step 4 LOG: write plan.md (E, read at step 5 before progression rises: credited)
    - step 4 PLAN: read map.md (C's window closed at step 2)
    - step 5 PLAN: search '*' hits plan.md; progression 0.5 -> 0.75 at step 5
    - step 6 LOG: append notes.md + read notes.md in the same turn (F: not credited,
      the read must come in a later turn), then no progress at all
    """
    recs: list[TurnRecord | StepRecord] = [
        _append(0, "notes.md", "key at 3,4"),
        _append(0, "junk.md", "nothing here", turn=1),
        _step(0, progression=0.0),
        _append(1, "map.md", "3,4: key"),
        _read(1, "notes.md"),
        _step(1, progression=0.0),
        _step(2, reward=1.0, progression=0.5),
        _turn(3, "log", [_op("write", path="plan.md", content="v1")], [_res("write", "plan.md")]),
        _step(3, progression=0.5),
        _turn(4, "log", [_op("write", path="plan.md", content="v2")], [_res("write", "plan.md")]),
        _read(4, "map.md"),
        _step(4, progression=0.5),
        _turn(
            5,
            "plan",
            [_op("search", query="v2", path=None)],
            [
                _res(
                    "search",
                    None,
                    data={"hits": [{"path": "plan.md", "line": 1, "text": "v2"}], "n": 1},
                )
            ],
        ),
        _step(5, progression=0.75),
        _turn(
            6,
            "log",
            [_op("append", path="notes.md", content="again"), _op("read", path="notes.md")],
            [_res("append", "notes.md"), _res("read", "notes.md")],
        ),
        _step(6, progression=0.75),
    ]
    return _write_trace(tmp_path / "hindsight.jsonl", recs, progression=0.75)


# ------------------------------------------------------------------------ hindsight


def test_hindsight_picks_the_write_read_before_the_reward(hindsight_trace: str) -> None:
    traces = load_traces(hindsight_trace)
    sel = HindsightSelector().select(traces)
    picked = {(s.step, s.routine, s.turn) for s in sel}
    # A (step 0 LOG turn 0) and E (step 4 LOG) only.
    assert picked == {(0, "log", 0), (4, "log", 0)}
    by_step = {s.step: s for s in sel}
    assert "append notes.md at step 0" in by_step[0].reasons[0]
    assert "read at step 1" in by_step[0].reasons[0]
    assert "reward 1" in by_step[0].reasons[0]
    assert "write plan.md at step 4" in by_step[4].reasons[0]
    assert "search at step 5" in by_step[4].reasons[0]
    assert all(s.selectors == ["hindsight"] for s in sel)
    assert all(s.trace_sha256 == traces[0].sha256 for s in sel)


def test_hindsight_needs_progress_after_the_read(tmp_path: Path) -> None:
    url = _write_trace(
        tmp_path / "t.jsonl",
        [_append(0, "notes.md", "x"), _step(0), _read(1, "notes.md"), _step(1)],
    )
    assert HindsightSelector().select(load_traces(url)) == []
    url2 = _write_trace(
        tmp_path / "t2.jsonl",
        [_append(0, "notes.md", "x"), _step(0), _read(1, "notes.md"), _step(1, reward=0.5)],
    )
    assert len(HindsightSelector().select(load_traces(url2))) == 1
    # A threshold above the reward turns that off again.
    assert HindsightSelector(min_reward=0.5).select(load_traces(url2)) == []


def test_hindsight_ignores_failed_writes_and_empty_searches(tmp_path: Path) -> None:
    failed = _turn(
        0, "log", [_op("append", path="n.md", content="x")], [_res("append", "n.md", ok=False)]
    )
    empty_search = _turn(
        1, "plan", [_op("search", query="zzz")], [_res("search", None, data={"hits": [], "n": 0})]
    )
    good = _append(2, "m.md", "y")
    url = _write_trace(
        tmp_path / "t.jsonl",
        [
            failed,
            _step(0),
            _read(1, "n.md"),
            empty_search,
            _step(1),
            good,
            _step(2),
            _step(3, reward=1.0),
        ],
    )
    assert HindsightSelector().select(load_traces(url)) == []


def test_hindsight_follows_renames_and_drops_deleted_files(tmp_path: Path) -> None:
    rename = _turn(
        1,
        "log",
        [_op("rename", path="a.md", dst="b.md")],
        [_res("rename", "a.md", data={"dst": "b.md"}, changed=True)],
    )
    delete = _turn(
        1, "log", [_op("delete", path="c.md")], [_res("delete", "c.md", changed=True)], turn=1
    )
    url = _write_trace(
        tmp_path / "t.jsonl",
        [
            _append(0, "a.md", "moved"),
            _append(0, "c.md", "gone", turn=1),
            _step(0),
            rename,
            delete,
            _step(1),
            _read(2, "b.md"),
            _read(2, "c.md", turn=1),
            _step(2, reward=1.0),
        ],
    )
    sel = HindsightSelector().select(load_traces(url))
    assert [(s.step, s.turn) for s in sel] == [(0, 0)]


def test_iter_events_orders_turns_before_their_step(hindsight_trace: str) -> None:
    trace = load_traces(hindsight_trace)[0].trace
    order = [
        (e.step, "step" if isinstance(e, StepRecord) else e.routine) for e in iter_events(trace)
    ]
    for i, (step, kind) in enumerate(order):
        if kind == "step":
            assert all(s > step for s, _k in order[i + 1 :])


# -------------------------------------------------------------------------- outcome


def _outcome_traces(tmp_path: Path) -> list[str]:
    urls = []
    progs = {"env/a": [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.4, 0.6], "env/b": [0.0, 1.0]}
    i = 0
    for env, values in progs.items():
        for p in values:
            urls.append(
                _write_trace(
                    tmp_path / f"{env.replace('/', '_')}_{i}.jsonl",
                    [_append(0, "notes.md", f"note {i}"), _step(0, progression=p)],
                    env=env,
                    seed=i,
                    progression=p,
                )
            )
            i += 1
    return urls


def test_outcome_keeps_top_fraction_per_env(tmp_path: Path) -> None:
    traces = load_traces(_outcome_traces(tmp_path))
    sel = OutcomeSelector(0.25).select(traces)
    by_env: dict[str, list[float]] = {}
    prog = {lt.url: lt.trace.progression for lt in traces}
    for s in sel:
        by_env.setdefault(s.env, []).append(prog[s.trace])
    assert sorted(by_env["env/a"]) == [0.7, 0.9]  # ceil(0.25 * 8) = 2 best of env/a
    assert by_env["env/b"] == [1.0]  # at least one per env
    assert any("ranks 1/8 in env/a" in r for s in sel for r in s.reasons)
    # min_progression removes an env whose best is not good enough.
    strict = OutcomeSelector(0.5, min_progression=0.95).select(traces)
    assert {s.env for s in strict} == {"env/b"}
    with pytest.raises(BehavioralError):
        OutcomeSelector(0.0)


# ---------------------------------------------------------------------------- judge


def test_parse_judgement_forms() -> None:
    assert parse_judgement("SCORE: 8\nREASON: useful note") == (8.0, "useful note")
    assert parse_judgement('{"score": 3, "reason": "noise"}') == (3.0, "noise")
    assert parse_judgement("score = 7.5") == (7.5, "")
    assert parse_judgement("I like it") is None


def test_judge_scores_turns_and_records_reasons(tmp_path: Path) -> None:
    urls = _outcome_traces(tmp_path)

    def judge(messages: list[Message]) -> str:
        text = messages[-1].content
        if "note 1" in text:
            return "SCORE: 9\nREASON: records the key"
        if "note 2" in text:
            return "no idea"
        return "SCORE: 2\nREASON: noise"

    client = ScriptedClient(judge, model="judge-model")
    sel = JudgeSelector(client, min_score=7).select(load_traces(urls))
    assert len(sel) == 1
    assert sel[0].score == 9.0
    assert sel[0].reasons == ["judge score 9: records the key"]
    assert "judge(model=judge-model" in JudgeSelector(client).describe()
    js = JudgeSelector(client, min_score=7, max_calls=3)
    js.select(load_traces(urls))
    assert js.stats["calls"] == 3
    # The judge sees the turn's ops in canonical token form.
    sent = client.calls[0][0][-1].content
    assert "<|APPEND|>notes.md|note" in sent


def test_judge_failures_are_counted_not_raised(tmp_path: Path) -> None:
    def boom(messages: list[Message]) -> str:
        raise LLMError("down")

    js = JudgeSelector(ScriptedClient(boom))
    assert js.select(load_traces(_outcome_traces(tmp_path))) == []
    assert js.stats["failed"] == 10


# ---------------------------------------------------------------------- composition


def test_intersection_runs_right_side_only_on_left_choices(tmp_path: Path) -> None:
    traces = load_traces(_outcome_traces(tmp_path))
    client = ScriptedClient(lambda m: "SCORE: 10\nREASON: fine")
    both = OutcomeSelector(0.25) & JudgeSelector(client)
    assert isinstance(both, Intersection)
    sel = both.select(traces)
    assert len(client.calls) == 3  # only the 3 outcome picks were judged
    assert len(sel) == 3
    assert all(s.selectors == ["outcome", "judge"] for s in sel)
    assert all(len(s.reasons) == 2 and s.score == 10.0 for s in sel)


def test_union_merges_reasons(hindsight_trace: str) -> None:
    traces = load_traces(hindsight_trace)
    u = HindsightSelector() | AllTurnsSelector()
    assert isinstance(u, Union)
    sel = u.select(traces)
    assert len(sel) == len(AllTurnsSelector().select(traces))
    credited = [s for s in sel if "hindsight" in s.selectors]
    assert len(credited) == 2 and all(s.selectors == ["hindsight", "all"] for s in credited)


def test_parse_selector_specs() -> None:
    s = parse_selector("outcome:0.3 & hindsight | all")
    assert s.describe() == "((outcome(top=0.3) & hindsight(min_reward=0.0)) | all)"
    with pytest.raises(BehavioralError, match="judge model"):
        parse_selector("judge:8")
    with pytest.raises(BehavioralError, match="unknown selector"):
        parse_selector("best")
    with pytest.raises(BehavioralError, match="bad selector argument"):
        parse_selector("outcome:lots")
    judged = parse_selector("judge:8", ScriptedClient(["SCORE: 1"]))
    assert isinstance(judged, JudgeSelector) and judged.min_score == 8


# ---------------------------------------------------------------------- postprocess


def test_canonical_target_keeps_only_executed_memory_ops() -> None:
    t = _turn(
        2,
        "plan",
        [
            _op("search", query="key", path="*"),
            _op("read", path="missing.md"),
            _op("invalid", raw="<|FOO", error="bad"),
            _op("upsert", path="map.md", key=" 3,4 ", value="key"),
            _op("action", name="north"),
            _op("append", path="never.md", content="after the action"),
        ],
        [
            _res("search", None, data={"hits": [], "n": 0}),
            _res("read", "missing.md", ok=False),
            _res("invalid", None, ok=False),
            _res("upsert", "map.md"),
            _res("action", None),
        ],
    )
    text, ops, dropped = canonical_target(t)
    assert text == "<|SEARCH|>*|key<|END|>\n<|UPSERT|>map.md|3,4|key<|END|>\n<|DONE|>"
    assert [o.op for o in ops] == ["search", "upsert"]
    assert dropped == 1
    kept, _ops, _d = canonical_target(t, keep_failed_ops=True, terminator="")
    assert "<|READ|>missing.md<|END|>" in kept and not kept.endswith("<|DONE|>")
    # A LOG turn that only says DONE has no memory-op span.
    assert canonical_target(_turn(0, "log", [_op("done")], [_res("done")]))[0] == ""


def test_abstentions_become_done_targets() -> None:
    done_only = _turn(0, "log", [_op("done")], [_res("done")])
    assert canonical_target(done_only, abstention=True)[0] == "<|DONE|>"
    # a unified PLAN turn that only acts: the memory part is empty, then it ended
    act_only = _turn(1, "plan", [_op("action", name="north")], [_res("action")])
    assert canonical_target(act_only, abstention=True)[0] == "<|DONE|>"
    # the model tried something (a failed write, an invalid op): not an abstention
    failed = _turn(
        2,
        "log",
        [_op("append", path="a.md", content="x"), _op("done")],
        [_res("append", "a.md", ok=False), _res("done")],
    )
    invalid = _turn(3, "log", [_op("invalid", raw="<|FOO"), _op("done")], [_res("invalid")])
    assert canonical_target(failed, abstention=True)[0] == ""
    assert canonical_target(invalid, abstention=True)[0] == ""
    # a turn that did not end its routine (cut off, no DONE) says nothing either way
    assert canonical_target(_turn(4, "log", [], []), abstention=True)[0] == ""
    assert canonical_target(done_only, abstention=True, terminator="")[0] == ""


def test_build_examples_keeps_selected_abstentions(tmp_path: Path) -> None:
    recs: list[TurnRecord | StepRecord] = []
    for step in range(4):
        if step % 2:
            recs.append(_turn(step, "log", [_op("done")], [_res("done")], prompt=f"same {step}"))
        else:
            recs.append(_append(step, "notes.md", f"fact {step}"))
        recs.append(_step(step, reward=1.0))
    traces = load_traces([_write_trace(tmp_path / "a.jsonl", recs)])
    sel = AllTurnsSelector().select(traces)
    cfg = PostprocessConfig(min_examples=1, balance=None)
    examples, counts = build_examples(traces, sel, cfg)
    assert counts.abstentions == 2 and counts.log == 4
    assert sorted(e.target for e in examples).count("<|DONE|>") == 2
    dropped, dcounts = build_examples(
        traces, sel, PostprocessConfig(min_examples=1, balance=None, keep_abstentions=False)
    )
    assert len(dropped) == 2 and dcounts.abstentions == 0 and dcounts.no_memory_ops == 2
    # outcome selects them too; hindsight (which credits writes) never does
    assert len(OutcomeSelector(1.0).select(traces)) == 4
    assert all(s.key[1] % 2 == 0 for s in HindsightSelector().select(traces))


def test_examples_use_the_exact_prompt_and_dedupe_and_balance(tmp_path: Path) -> None:
    recs: list[TurnRecord | StepRecord] = []
    for step in range(6):
        recs.append(_append(step, "notes.md", f"fact {step}"))
        recs.append(_read(step, "notes.md"))
        recs.append(_step(step, reward=1.0))
    recs.append(_append(6, "notes.md", "fact 0"))  # same op as step 0, other prompt: kept
    url = _write_trace(tmp_path / "a.jsonl", recs)
    dup = _write_trace(tmp_path / "b.jsonl", recs)  # identical content, other file
    traces = load_traces([url, dup])
    sel = AllTurnsSelector().select(traces)
    examples, counts = build_examples(traces, sel, PostprocessConfig(min_examples=1, balance=None))
    assert counts.duplicates == 13  # every turn of the second file repeats the first
    assert counts.log == 7 and counts.plan == 6
    first = next(e for e in examples if e.routine == "log")
    turn = traces[0].trace.turns[0]
    assert first.prompt == [{"role": m.role, "content": m.content} for m in turn.messages]
    assert first.completion == [
        {"role": "assistant", "content": "<|APPEND|>notes.md|fact 0<|END|>\n<|DONE|>"}
    ]
    assert first.source.trace == url and first.source.step == 0
    balanced, bcounts = build_examples(traces, sel, PostprocessConfig(min_examples=1, balance=1.0))
    assert bcounts.log == bcounts.plan == 6 and bcounts.balanced_out == 1
    again, _ = build_examples(traces, sel, PostprocessConfig(min_examples=1, balance=1.0))
    assert [e.id for e in again] == [e.id for e in balanced]
    with pytest.raises(InsufficientDataError, match="only 12 training examples"):
        build_examples(traces, sel, PostprocessConfig(min_examples=13))


def test_build_dataset_is_deterministic_with_ledger(tmp_path: Path) -> None:
    urls = make_toy_traces(str(tmp_path / "runs"), range(6))
    sel = OutcomeSelector(0.5) | HindsightSelector()
    cfg = PostprocessConfig(min_examples=4)
    r1 = build_dataset(str(tmp_path / "runs" / "traces"), sel, str(tmp_path / "d1"), cfg)
    r2 = build_dataset(urls, sel, str(tmp_path / "d2"), cfg)
    b1 = Path(r1.path).read_bytes()
    assert b1 == Path(r2.path).read_bytes()
    assert r1.sha256 == hashlib.sha256(b1).hexdigest()
    examples = read_dataset(r1.path)
    assert len(examples) == r1.counts.examples >= 4
    assert all(e.target and "<|ACTION|>" not in e.target for e in examples)
    assert all(e.reasons and e.selectors for e in examples)
    ledger = read_ledger(str(tmp_path / "d1"))
    assert len(ledger) == 1 and ledger[0]["kind"] == "dataset"
    entry = ledger[0]
    assert entry["sha256"] == r1.sha256
    assert entry["selector"] == "(outcome(top=0.5) | hindsight(min_reward=0.0))"
    assert entry["counts"]["examples"] == len(examples)
    for src in entry["sources"]:
        assert src["sha256"] == hashlib.sha256(Path(src["url"]).read_bytes()).hexdigest()
    assert {e.source.trace_sha256 for e in examples} <= {s["sha256"] for s in entry["sources"]}
    json.dumps(entry)  # plain JSON


def test_build_dataset_through_fsspec_memory(tmp_path: Path) -> None:
    make_toy_traces(str(tmp_path / "runs"), range(4))
    out = "memory://behavioral-test/ds"
    res = build_dataset(
        str(tmp_path / "runs" / "traces"),
        AllTurnsSelector(),
        out,
        PostprocessConfig(min_examples=1),
    )
    assert res.path == f"{out}/dataset.jsonl"
    assert len(read_dataset(res.path)) == res.counts.examples
    assert read_ledger(out)[0]["path"] == res.path
    with pytest.raises(InsufficientDataError):
        build_dataset(
            str(tmp_path / "runs" / "traces"),
            AllTurnsSelector(),
            "memory://behavioral-test/none",
            PostprocessConfig(min_examples=10_000),
        )
    assert read_ledger("memory://behavioral-test/none") == []
