"""Replay sets as an offline gate, with a scripted task model (no key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from automem_sdk.benchmarks.conversation import ContextAnswerer, FactNoteWriter, generate
from automem_sdk.benchmarks.harness.replay import (
    Budget,
    Candidate,
    ReplayEpisode,
    ReplayError,
    ReplayTurn,
    gate,
    make_check,
    read_replay_set,
    replay,
    replay_set_from_dialogues,
    replay_set_from_traces,
    write_replay_set,
)
from automem_sdk.benchmarks.players.history import BlankMemoryModel

from automem_sdk.llm import ScriptedClient

MEMORY = Candidate("automem", "generic", FactNoteWriter())
BLANK = Candidate("blank", "generic", BlankMemoryModel())
NONE = Candidate("no-memory")


def replay_set() -> list[ReplayEpisode]:
    return replay_set_from_dialogues(generate(s, "S") for s in range(40, 48))


def test_gate_accepts_memory_over_a_blank_memory_and_rejects_the_reverse() -> None:
    eps = replay_set()
    g = gate(eps, MEMORY, BLANK, ContextAnswerer())
    assert g.accepted and g.n == 8 and g.low > 0, g.reason
    assert g.candidate.mean == 1.0 and g.incumbent.mean < 0.5
    assert "CI" in g.reason and "n=8 episodes" in g.reason
    back = gate(eps, BLANK, MEMORY, ContextAnswerer())
    assert not back.accepted and back.mean_diff < 0
    same = gate(eps, MEMORY, MEMORY, ContextAnswerer(), rule="mean")
    assert not same.accepted and same.mean_diff == 0.0


def test_the_task_model_is_the_users_and_threads_stay_apart() -> None:
    # within a conversation the task model sees the thread; across them only memory
    ep = ReplayEpisode(
        episode_id="e",
        turns=[
            ReplayTurn(conversation_id="a", user="My car is Volvo."),
            ReplayTurn(conversation_id="a", user="What is my car?", scored=True, expected="Volvo"),
            ReplayTurn(conversation_id="b", user="What is my car?", scored=True, expected="Volvo"),
        ],
    )
    assert replay([ep], NONE, ContextAnswerer()).scores == {"e": 0.5}
    assert replay([ep], MEMORY, ContextAnswerer()).scores == {"e": 1.0}


def test_cost_is_counted_and_a_budget_stops_the_gate() -> None:
    eps = replay_set()
    full = replay(eps, MEMORY, ContextAnswerer())
    n_turns = sum(len(e.turns) for e in eps)
    assert full.complete and full.cost.calls == 2 * n_turns  # task model + LOG per turn
    assert full.cost.task_tokens > 0 and full.cost.tokens == full.cost.task_tokens
    cut = replay(eps, MEMORY, ContextAnswerer(), budget=Budget(max_tokens=full.cost.tokens // 3))
    assert not cut.complete and "budget exceeded" in cut.stopped and len(cut.scores) < len(eps)
    g = gate(eps, MEMORY, BLANK, ContextAnswerer(), budget=Budget(max_calls=10))
    assert not g.accepted and g.reason.startswith("rejected: budget exceeded")


def test_judge_check_and_callable_checks() -> None:
    seen: list[str] = []

    def judge(messages: list[Any]) -> str:
        prompt = messages[-1].content
        seen.append(prompt)
        expected = prompt.split("Expected (may be empty): ", 1)[1].split("\n", 1)[0]
        reply = prompt.split("Reply to grade: ", 1)[1].split("\n", 1)[0]
        return "10" if reply.lower() == expected.lower() else "2"

    eps = replay_set()[:3]
    res = replay(
        eps, MEMORY, ContextAnswerer(), check="judge:x", judge_client=ScriptedClient(judge)
    )
    assert set(res.scores.values()) == {1.0} and res.cost.judge_tokens > 0
    assert len(seen) == sum(t.scored for e in eps for t in e.turns)
    blank = replay(eps, BLANK, ContextAnswerer(), check=lambda turn, reply: float(reply != ""))
    assert set(blank.scores.values()) == {1.0}
    with pytest.raises(ReplayError, match="unknown check 'close'"):
        make_check("close")
    unlabelled = [ReplayEpisode(episode_id="u", turns=[ReplayTurn(user="hi", scored=True)])]
    with pytest.raises(ReplayError, match="needs 'expected'"):
        replay(unlabelled, MEMORY, ContextAnswerer())


def test_replay_set_file_round_trip_and_clear_errors(tmp_path: Path) -> None:
    url = str(tmp_path / "set.jsonl")
    eps = replay_set()[:2]
    assert write_replay_set(url, eps) == 2
    assert read_replay_set(url) == eps
    Path(url).write_text(json.dumps({"episode_id": "x"}) + "\n")
    with pytest.raises(ReplayError, match=r"set.jsonl:1: not a replay episode \(turns"):
        read_replay_set(url)
    Path(url).write_text(json.dumps({"schema_version": 9, "episode_id": "x", "turns": []}))
    with pytest.raises(ReplayError, match="newer than this SDK"):
        read_replay_set(url)
    write_replay_set("memory://replay-test/set.jsonl", eps)
    assert len(read_replay_set("memory://replay-test/set.jsonl")) == 2


def test_a_replay_set_from_a_wrapped_agents_traces(tmp_path: Path) -> None:
    pytest.importorskip("langchain_core")
    from automem_sdk.adapters import with_memory
    from langchain_core.messages import AIMessage

    from automem_sdk.outcomes import attach_outcome
    from automem_sdk.testing import FakeToolChatModel

    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="noted"))
    trace = str(tmp_path / "t.jsonl")
    wrapped = with_memory(model, (tmp_path / "m").as_uri(), llm=FactNoteLLM(), trace=trace)
    for thread, text in [("a", "My car is Volvo."), ("a", "thanks"), ("b", "What is my car?")]:
        wrapped.invoke(text, config={"configurable": {"thread_id": thread}})
    wrapped.finish()
    attach_outcome(trace, conversation_id="b", passed=False)
    [ep] = replay_set_from_traces([trace])
    assert [(t.conversation_id, t.user, t.scored) for t in ep.turns] == [
        ("a", "My car is Volvo.", False),
        ("a", "thanks", True),
        ("b", "What is my car?", True),
    ]
    assert ep.turns[0].recorded_reply == "noted" and ep.recorded_outcome == 0.0
    ep.turns[1].scored = False
    ep.turns[2].expected = "Volvo"
    assert replay([ep], MEMORY, ContextAnswerer()).scores == {ep.episode_id: 1.0}
    assert replay([ep], NONE, ContextAnswerer()).scores == {ep.episode_id: 0.0}
    with pytest.raises(ReplayError, match="no exchange to replay"):
        from automem_sdk.trace import TraceHeader, TraceWriter

        empty = str(tmp_path / "e.jsonl")
        with TraceWriter(empty) as w:
            w.write(TraceHeader())
        replay_set_from_traces([empty])


class FactNoteLLM(ScriptedClient):
    """The fact writer behind the LLM protocol (what the wrapper's memory model is)."""

    def __init__(self) -> None:
        from automem_sdk.deciders import RoutineRequest

        writer = FactNoteWriter()

        def reply(messages: list[Any]) -> str:
            prompt = messages[-1].content
            if "LOG routine" not in prompt:
                return "<|DONE|>"
            req = RoutineRequest("log", 0, 0, [], prompt, [])
            return writer.decide(req).text

        super().__init__(reply)
