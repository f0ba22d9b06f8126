"""Decision-level credit on crafted episodes where the right answer is known.

The key-and-door corridor with a memory policy whose notes matter one by one: the key
note is needed to win (removing it loses the episode), a note about an empty cell is
read back every step and changes nothing, and a misfiled key note names the wrong cell.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from automem_sdk.benchmarks.envs.toy import KeyDoorEnv
from automem_sdk.benchmarks.players.toy import KeyDoorPlanner, KeyNoteWriter
from automem_sdk.trainers.behavioral.credit import (
    CounterfactualSelector,
    CreditContext,
    KeyDoorVerifier,
    UsageSelector,
    VerifiedSelector,
)
from automem_sdk.trainers.behavioral.dataset import PostprocessConfig, build_examples
from automem_sdk.trainers.behavioral.replay import (
    rebuild_store,
    replay_states,
    scratch_store,
    write_decisions,
)
from automem_sdk.trainers.behavioral.selectors import parse_selector
from automem_sdk.trainers.behavioral.traces import LoadedTrace, load_traces

from automem_sdk.agent import MemoryAgent, run_episode
from automem_sdk.store import MemoryStore

SEED = 3
MAX_STEPS = 30


def _play(tmp: Path, name: str, *, misfile: int = 0, noise_at: tuple[int, ...] = (0,)) -> str:
    store = MemoryStore(str(tmp / name / "memory"))
    agent = MemoryAgent(
        store,
        "generic",
        KeyNoteWriter(store, misfile=misfile, noise_at=noise_at),
        mode="two-model",
        task_decider=KeyDoorPlanner(),
    )
    url = str(tmp / name / "trace.jsonl")
    run_episode(KeyDoorEnv(max_steps=MAX_STEPS), agent, SEED, trace=url)
    return url


def _context() -> CreditContext:
    return CreditContext(
        env_factory=lambda: KeyDoorEnv(max_steps=MAX_STEPS),
        task_factory=lambda seed: KeyDoorPlanner(),
        memory_factory=lambda store, seed: KeyNoteWriter(store),
        scaffold="generic",
        verifier=KeyDoorVerifier(),
    )


def _decision(lt: LoadedTrace, text: str) -> tuple[tuple[str, int, str, int], int]:
    for d in write_decisions(lt):
        if any(text in line for line in d.lines):
            return d.key, d.index
    raise AssertionError(f"no write of {text!r}")


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> LoadedTrace:
    url = _play(tmp_path_factory.mktemp("credit"), "good")
    (lt,) = load_traces(url)
    assert lt.trace.progression == 1.0  # the crafted episode is won with its key note
    return lt


@pytest.fixture(scope="module")
def misfiled(tmp_path_factory: pytest.TempPathFactory) -> LoadedTrace:
    url = _play(tmp_path_factory.mktemp("credit"), "misfiled", misfile=2)
    (lt,) = load_traces(url)
    assert lt.trace.progression < 1.0
    return lt


def _credited(selections: list, key: tuple[str, int, str, int], index: int) -> bool:
    for s in selections:
        if s.key == key:
            return s.ops is None or index in s.ops
    return False


def test_replay_rebuilds_the_recorded_memory(good: LoadedTrace) -> None:
    states, mismatches = replay_states(KeyDoorEnv(max_steps=MAX_STEPS), good)
    assert mismatches == 0
    assert len(states) == len(good.trace.steps) + 1
    last = write_decisions(good)[-1]
    with scratch_store() as store:
        rebuild_store(store, good, "generic", until=last.key)
        notes = store.read("notes.md")
    recorded = MemoryStore(str(Path(good.url).parent / "memory")).read("notes.md")
    assert notes == recorded
    with scratch_store() as store:
        key, idx = _decision(good, "key at cell")
        rebuild_store(
            store, good, "generic", until=last.key, skip=lambda k, i: (k, i) == (key, idx)
        )
        assert "key at cell" not in store.read("notes.md")
        assert "door locked" in store.read("notes.md")


def test_counterfactual_credits_the_write_whose_removal_loses_the_episode(
    good: LoadedTrace,
) -> None:
    ctx = _context()
    sel = CounterfactualSelector(ctx, horizon=MAX_STEPS)
    key_note = _decision(good, "key at cell")
    noise = _decision(good, "looked empty")
    d_key = next(d for d in write_decisions(good) if (d.key, d.index) == key_note)
    with_it, _start = sel.branch(good, d_key, include=True)
    without, _ = sel.branch(good, d_key, include=False)
    assert with_it.progression == 1.0 and without.progression < 1.0
    chosen = sel.select([good])
    assert _credited(chosen, *key_note)
    assert not _credited(chosen, *noise)  # removing it changes nothing: a tie
    assert ctx.stats.env_steps > 0 and ctx.stats.scored == len(write_decisions(good))
    ties = CounterfactualSelector(_context(), horizon=MAX_STEPS, keep_ties=True).select([good])
    assert _credited(ties, *noise)


def test_counterfactual_budget_bounds_the_cost(good: LoadedTrace) -> None:
    ctx = _context()
    CounterfactualSelector(ctx, horizon=MAX_STEPS, max_decisions=1).select([good])
    assert ctx.stats.scored == 1


def test_verified_rejects_the_misfiled_note_and_keeps_the_right_one(
    good: LoadedTrace, misfiled: LoadedTrace
) -> None:
    right = VerifiedSelector(_context()).select([good])
    assert _credited(right, *_decision(good, "key at cell"))
    wrong_ctx = _context()
    wrong = VerifiedSelector(wrong_ctx).select([misfiled])
    assert not _credited(wrong, *_decision(misfiled, "key at cell"))
    assert wrong_ctx.stats.rejected >= 1
    # the note without a claim cannot be checked: kept by default, dropped on request
    noise = _decision(good, "looked empty")
    assert _credited(right, *noise)
    strict = VerifiedSelector(_context(), unknown="drop").select([good])
    assert not _credited(strict, *noise)


def test_usage_credits_the_note_an_action_depended_on(good: LoadedTrace) -> None:
    ctx = _context()
    chosen = UsageSelector(ctx).select([good])
    assert _credited(chosen, *_decision(good, "key at cell"))
    assert not _credited(chosen, *_decision(good, "looked empty"))  # read, never used
    assert ctx.stats.policy_calls > 0


def test_decision_credit_composes_and_cuts_rejected_ops_from_targets(
    misfiled: LoadedTrace,
) -> None:
    ctx = _context()
    selections = parse_selector("all & verified", context=ctx).select([misfiled])
    examples, counts = build_examples(
        [misfiled], selections, PostprocessConfig(min_examples=1, balance=None)
    )
    targets = "\n".join(e.target for e in examples)
    assert "key at cell" not in targets
    assert "door locked" in targets
    assert any(e.routine == "plan" for e in examples)  # reads pass through
    # the misfiled key note sat alone in its turn, so that turn is gone
    all_examples, _ = build_examples(
        [misfiled], parse_selector("all").select([misfiled]), PostprocessConfig(min_examples=1)
    )
    assert "key at cell" in "\n".join(e.target for e in all_examples)
    assert len(examples) < len(all_examples) or counts.uncredited_ops_dropped > 0


def test_decision_selectors_need_a_context() -> None:
    from automem_sdk.trainers.behavioral.errors import BehavioralError

    with pytest.raises(BehavioralError, match="credit context"):
        parse_selector("verified")


def test_cli_dataset_with_a_decision_level_selector(
    misfiled: LoadedTrace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from automem_sdk.trainers.behavioral.ledger import read_ledger

    from automem_sdk.cli import main

    out = tmp_path / "data"
    argv = ["train", "behavioral", "dataset", misfiled.url, "--out", str(out)]
    argv += ["--select", "all & verified", "--min-examples", "1", "--balance", "none"]
    assert main([*argv, "--env", "toy/keydoor", "--steps", str(MAX_STEPS)]) == 0
    entry = read_ledger(str(out))[0]
    assert "verified(KeyDoorVerifier" in entry["selector"]
    rows = [json.loads(x) for x in (out / "dataset.jsonl").read_text().splitlines()]
    targets = [r["completion"][0]["content"] for r in rows]
    assert any("door locked" in t for t in targets)
    assert not any("key at cell" in t for t in targets)
    # without --env the decision-level terms are refused with a message, not a traceback
    assert main([*argv[:5], str(tmp_path / "none"), *argv[6:]]) == 1
    assert "credit context" in capsys.readouterr().err
