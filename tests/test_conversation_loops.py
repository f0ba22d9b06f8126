"""The loops on the conversational benchmark's traces: the scaffold-following memory
model, the structural evaluator and reflection on outcomes, the selectors' credit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from automem_sdk.benchmarks.conversation import generate, play
from automem_sdk.benchmarks.conversation.evaluator import (
    ConversationEvaluator,
    evaluator_for,
    size_of,
)
from automem_sdk.benchmarks.conversation.run import Condition, parse_condition, play_dialogue
from automem_sdk.benchmarks.conversation.train import main as train_main
from automem_sdk.benchmarks.conversation.writer import (
    load_conversation_scaffold,
    read_schema,
)
from automem_sdk.trainers.behavioral.selectors import (
    HindsightSelector,
    OutcomeSelector,
    episode_value,
)
from automem_sdk.trainers.behavioral.traces import load_traces
from automem_sdk.trainers.structural.reflect import reflect

from automem_sdk.cli import main as cli_main
from automem_sdk.outcomes import attach_outcome, read_outcomes
from automem_sdk.scaffold import Scaffold
from automem_sdk.trace import read_trace


def _cramped() -> Scaffold:
    sc: Scaffold = load_conversation_scaffold("chat-cramped")
    return sc


def _with(sc: Scaffold, **file_changes: object) -> Scaffold:
    files = [f.model_copy(update=file_changes) for f in sc.files]
    return sc.child("test change", files=files)


def _notes(scaffold: Scaffold, seed: int = 1, size: str = "M") -> str:
    played = play_dialogue(generate(seed, size), Condition("t", "automem", scaffold, "follow"))
    return str(played.store.read("notes.md"))


def test_the_writer_does_what_the_scaffold_text_says() -> None:
    roomy = _with(_cramped(), max_bytes=4096)
    lines = _notes(roomy).splitlines()
    assert any("(before: " in ln for ln in lines)  # the purpose asks to keep old values
    assert any(" lives in: " in ln for ln in lines)  # ... and names the people mentioned
    keys = [ln.split(":")[0] for ln in lines]
    assert len(keys) > len(set(keys))  # no UPSERT enabled: appended lines repeat keys
    plain = _with(roomy, purpose="facts the user states about themselves")
    plain_lines = _notes(plain).splitlines()
    assert not any("(before: " in ln for ln in plain_lines)
    assert not any(" lives in: " in ln for ln in plain_lines)
    keyed = roomy.child("upsert", ops=[*roomy.ops, "upsert"])
    kk = [ln.split(":")[0] for ln in _notes(keyed).splitlines()]
    assert len(kk) == len(set(kk))  # UPSERT keeps one line per key
    # the schema is read from the prompt text only (the keyed format renders differently)
    keyed_fmt = _with(keyed, format="keyed")
    assert _notes(keyed_fmt) == _notes(keyed)


def test_read_schema_parses_the_rendered_prompt() -> None:
    from automem_sdk.llm.base import Message

    system = (
        "Memory files:\n- notes.md: facts [lines; max 96 bytes]\n"
        "- people.md: people the user mentions [one 'key: value' line per key (use UPSERT); "
        "max 512 bytes]\n<|APPEND|>path|content<|END|>\n<|DONE|>"
    )
    s = read_schema([Message(role="system", content=system), Message(role="user", content="x")])
    assert [(f.name, f.max_bytes) for f in s.files] == [("notes.md", 96), ("people.md", 512)]
    assert s.ops == {"append", "done"}
    assert s.facts_file() is s.files[0] and s.people_file() is s.files[1]


def test_the_cramped_start_loses_late_facts_and_the_evaluator_scores_it(tmp_path: Path) -> None:
    ev = ConversationEvaluator()
    cramped = _cramped()
    roomy = _with(cramped, max_bytes=4096)
    trace = str(tmp_path / "t.jsonl")
    a = ev.evaluate(cramped, "conversation/M", 5, trace=trace)
    b = ev.evaluate(roomy, "conversation/M", 5)
    assert a.progression < 0.5 < b.progression
    assert a.progression == a.reward and a.steps == len(generate(5, "M").turns())
    outs = read_outcomes(trace)
    assert any(o.target == "step" for o in outs) and any(o.target == "episode" for o in outs)
    assert read_trace(trace).header.env == "conversation/M"
    assert a.memory is not None and len(a.memory["notes.md"]) <= 96
    assert ev.fingerprint() != ConversationEvaluator("follow-miss30").fingerprint()
    assert size_of("conversation") == "M"
    with pytest.raises(ValueError):
        size_of("toy/maze-6")


def _traces(tmp_path: Path, condition: str, seeds: range, size: str = "M") -> list[str]:
    out = str(tmp_path / "traces")
    for seed in seeds:
        play(generate(seed, size), parse_condition(condition), trace_dir=out)
    return sorted(str(p) for p in Path(out).glob("*.jsonl"))


def test_reflection_ranks_by_outcomes_and_groups_failed_checks(tmp_path: Path) -> None:
    urls = _traces(tmp_path, "c=automem@chat-cramped+follow", range(3))
    traces = [read_trace(u) for u in urls]
    r = reflect(traces, _cramped())
    assert r.mean_outcome is not None and r.mean_outcome < 0.5
    kinds = {g.kind: g for g in r.checks}
    assert set(kinds) >= {"single", "multihop", "temporal"}
    assert sum(g.failed_by.get("refused over cap", 0) for g in r.checks) > 0
    assert "Outcome checks by kind" in r.to_prompt()
    # outcomes, not the footer's progression, rank the episodes: mark the best as bad
    best = max(traces, key=lambda t: t.progression)
    worst = min(traces, key=lambda t: t.progression)
    assert best.progression > worst.progression
    for _ in range(3):
        attach_outcome(best.url, score=0.0, source="user", note="thumbs down")
    r2 = reflect(traces, _cramped())
    assert f"seed={best.header.seed} " in r2.worst_episode.splitlines()[0]
    assert f"seed={best.header.seed} " not in r2.best_episode.splitlines()[0]


def test_selectors_credit_writes_by_their_step_checks(tmp_path: Path) -> None:
    urls = _traces(tmp_path, "m=automem@chat-cramped+follow", range(2))
    lts = load_traces(urls)
    sel = HindsightSelector().select(lts)
    assert sel, "passed checks credit the writes at their steps"
    for s in sel:
        lt = next(x for x in lts if x.url == s.trace)
        outs = [o for o in read_outcomes(lt.url) if o.step == s.step]
        assert outs and all(o.passed for o in outs)
        turn = next(t for t in lt.trace.turns if (t.step, t.routine, t.turn) == s.key[1:])
        assert s.ops and all(turn.ops[i]["op"] == "append" for i in s.ops)
    failed = {
        (u, o.step) for u in urls for o in read_outcomes(u) if o.step is not None and not o.passed
    }
    assert failed and not any((s.trace, s.step) in failed for s in sel)
    # the outcome selector ranks by outcomes where there is no env progression
    top = OutcomeSelector(0.5).ranked(lts)
    (kept,) = [lt for group in top.values() for lt, _ in group]
    assert episode_value(kept) == (max(episode_value(x)[0] for x in lts), "outcome")
    for _ in range(3):
        attach_outcome(kept.url, score=0.0, source="user")
    # feedback attached after loading counts (outcomes are read beside the trace)
    (kept2,) = [lt for group in OutcomeSelector(0.5).ranked(lts).values() for lt, _ in group]
    assert kept2.url != kept.url


def test_structural_command_finds_the_cap_fix_on_dialogues(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rc = train_main(
        [
            "structural",
            "--env",
            "conversation/M",
            "--scaffold",
            "chat-cramped",
            "--reflection-seeds",
            "0-1",
            "--gate-seeds",
            "100-107",
            "--iterations",
            "1",
            "--run-dir",
            str(run),
            "--quiet",
        ]
    )
    assert rc == 0
    (entry,) = [json.loads(x) for x in (run / "ledger.jsonl").read_text().splitlines()]
    assert entry["decision"] == "accept", entry["reason"]
    assert any("raise_caps" in c for c in entry["changelog"])
    best = Scaffold.from_yaml((run / "best.yaml").read_text())
    assert best.files[0].max_bytes > 96
    refl = next((run / "reflections").iterdir())
    assert "refused over cap" in refl.read_text()


def test_structural_command_refuses_game_envs(tmp_path: Path) -> None:
    args = ["structural", "--env", "toy/maze-6", "--reflection-seeds", "0-1"]
    args += ["--gate-seeds", "10-11", "--run-dir", str(tmp_path / "r")]
    assert train_main(args) == 2


def test_evaluator_for_picks_conversation_runs_only() -> None:
    from automem_sdk.trainers.structural.config import AgentConfig, StructuralConfig

    conv = StructuralConfig(envs=["conversation/S"], gate_seeds=[1])
    assert isinstance(evaluator_for(conv), ConversationEvaluator)
    assert evaluator_for(StructuralConfig(envs=["toy/maze-6"], gate_seeds=[1])) is None
    ev = ConversationEvaluator.from_agent(AgentConfig(decider="follow-miss30"))
    assert ev.writer == "follow-miss30"


def test_bench_labels_compare_with_the_first_condition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "b"
    rc = cli_main(
        [
            "bench",
            "--env",
            "conversation/S",
            "--seeds",
            "1-4",
            "--agent",
            "start=automem@chat-cramped+follow",
            "--agent",
            "history16",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["conditions"] == ["start", "history16"]
    (row,) = rep["contrasts"]
    assert row["contrast"] == "history16 - start" and row["n"] == 4
    assert set(row["by_type"]) == {"single", "multihop", "temporal", "abstain"}
    assert "by question type" in capsys.readouterr().out
    with pytest.raises(ValueError):
        parse_condition("automem@x+")
