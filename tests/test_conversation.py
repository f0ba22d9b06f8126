"""The keyless conversational memory benchmark: generator, checker, players, runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from automem_sdk.benchmarks.conversation import (
    ABSTAIN,
    QUESTION_TYPES,
    SIZES,
    ContextAnswerer,
    Question,
    build_report,
    check,
    generate,
    play,
)
from automem_sdk.benchmarks.conversation.players import facts_in, history_context

from automem_sdk.cli import main as cli_main
from automem_sdk.llm.base import Message


def test_the_generator_is_deterministic_per_seed() -> None:
    for size in SIZES:
        a, b = generate(7, size), generate(7, size)
        assert a.sessions == b.sessions and a.questions == b.questions
    assert generate(7, "M").sessions != generate(8, "M").sessions
    assert generate(7, "S").sessions != generate(7, "M").sessions


@pytest.mark.parametrize("size", sorted(SIZES))
def test_every_question_type_and_its_evidence(size: str) -> None:
    sz = SIZES[size]
    for seed in range(5):
        d = generate(seed, size)
        assert len(d.sessions) == sz.sessions
        kinds = [q.qtype for q in d.questions]
        assert {k: kinds.count(k) for k in QUESTION_TYPES} == {
            "single": sz.attributes,
            "multihop": sz.people,
            "temporal": sz.updates,
            "abstain": sz.abstain,
        }
        turns = [t for _, t in d.turns()]
        for q in d.questions:
            if q.qtype == "abstain":
                assert q.answer == ABSTAIN and all(f"my {q.key} " not in t for t in turns)
                continue
            evidence = turns[q.turn]
            assert q.answer in evidence, (q, evidence)
            assert d.turns()[q.turn][0] == q.session
        for q in d.questions:
            if q.qtype == "temporal":  # the update comes after the statement it changes
                first = next(i for i, t in enumerate(turns) if t == f"My {q.key} is {q.answer}.")
                assert first < q.turn


def test_checker_on_hand_made_answers() -> None:
    q = Question("single", "What is my car?", "Volvo", "car", 0, 0)
    assert check(q, "Volvo") and check(q, "volvo.") and check(q, "  The Volvo! ")
    assert check(q, "Answer: Volvo")
    assert not check(q, "Fiat") and not check(q, "Volvo or Fiat") and not check(q, "unknown")
    assert not check(q, "") and not check(q, "Volvos")
    never = Question("abstain", "What is my gym?", ABSTAIN, "gym")
    for said in ("unknown", "I don't know.", "I dont know", "Not mentioned", "n/a", "None"):
        assert check(never, said), said
    assert not check(never, "Apex")


def test_answerer_reads_only_its_context() -> None:
    a = ContextAnswerer()
    ask = "What is my car?"
    assert a.chat([Message(role="user", content=ask)]).text == ABSTAIN
    ctx = "My car is Fiat.\nSorry, I was wrong: my car is Volvo, not Fiat."
    reply = a.chat([Message(role="system", content=ctx), Message(role="user", content=ask)])
    assert reply.text == "Volvo" and reply.usage.prompt_tokens > 0
    ctx2 = "notes.md:\nmy city: Lima (before: Oslo)\nmy sister: Maya\nMaya lives in: Porto\n"
    assert a.answer(ctx2, "What is my city?") == "Lima"
    assert a.answer(ctx2, "What was my city before it changed?") == "Oslo"
    assert a.answer(ctx2, "In which city does my sister live?") == "Porto"
    assert a.answer(ctx2, "In which city does my boss live?") == ABSTAIN
    hist = "User: My city is Oslo.\nUser: Update: my city changed from Oslo to Lima."
    assert a.answer(hist, "What was my city before it changed?") == "Oslo"
    assert [f.kind for f in facts_in("My sister is called Maya. Maya lives in Oslo.")] == [
        "called",
        "lives",
    ]
    assert history_context(["a", "b", "c"], 2).splitlines()[1:] == ["User: b", "User: c"]


def test_memory_beats_the_history_window_on_old_facts() -> None:
    d = generate(17, "L")
    mem = play(d, "automem")
    hist = play(d, "history16")
    gpt = play(d, "memgpt")
    assert all(r.correct for r in mem), [r for r in mem if not r.correct]
    assert sum(r.correct for r in hist) < len(hist)
    assert {r.condition for r in gpt} == {"memgpt"} and mem[0].memory_bytes > 0
    # the history window is only the last 16 turns: its context does not grow with L
    assert max(r.context_chars for r in hist) < 2_000
    with pytest.raises(ValueError, match="unknown condition 'nope'"):
        play(d, "nope")


def test_bench_cli_writes_report_traces_and_outcomes(tmp_path: Path) -> None:
    from automem_sdk.outcomes import conversations, load_outcomes
    from automem_sdk.trace import list_traces

    out, traces = tmp_path / "out", tmp_path / "traces"
    argv = ["bench", "--env", "conversation/S", "--seeds", "1-2", "--out", str(out)]
    assert cli_main([*argv, "--traces", str(traces), "--quiet"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["n_seeds"] == 2 and set(rep["conditions"]) == {"automem", "memgpt", "history16"}
    assert [c["contrast"] for c in rep["contrasts"]] == [
        "automem - memgpt",
        "automem - history16",
    ]
    assert (out / "report.png").stat().st_size > 0
    assert "| automem |" in (out / "report.md").read_text()
    [first, _] = list_traces(str(traces))
    to = load_outcomes(first)
    assert set(conversations(to.trace)) == {f"s{k}" for k in range(SIZES["S"].sessions)}
    assert to.episode_value() == 1.0  # the automem condition's accuracy on this dialogue
    assert to.trace.footer is not None and to.trace.footer.progression == 1.0
    assert set(to.step_values().values()) == {1.0}
    assert cli_main(["bench", "--env", "conversation/XL", "--out", str(out)]) == 2
    assert cli_main(["bench", "--env", "conversation", "--agent", "explorer", "--out", "x"]) == 2


def test_report_pairs_seeds() -> None:
    results = []
    for seed in range(3):
        d = generate(seed, "S")
        results += play(d, "automem") + play(d, "history16")
    rep = build_report(results, resamples=200)
    [row] = rep.contrasts
    est, lo, hi = row["all"]
    assert row["n"] == 3 and lo <= est <= hi and est > 0
    assert rep.overall["automem"] == 1.0


def test_a_memory_model_that_misses_facts_scores_lower_reproducibly() -> None:
    d = generate(23, "L")
    a, b = play(d, "automem-miss50"), play(d, "automem-miss50")
    assert [r.answer for r in a] == [r.answer for r in b]  # the misses are seeded
    assert sum(r.correct for r in a) < len(a) == sum(r.correct for r in play(d, "automem"))
    with pytest.raises(ValueError, match="automem-miss<N>"):
        play(d, "automem-miss")
