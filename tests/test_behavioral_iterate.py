"""``automem train behavioral iterate``: rounds of roll out, select, fine-tune, evaluate.

A tiny Llama built from a config plays the key-and-door corridor as the memory model;
round 0 learns from a labelled behaviour population (verified writes only), round 1 from
the round-0 adapter's own sampled rollouts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from automem_sdk.benchmarks.envs.toy import KeyDoorEnv
from automem_sdk.benchmarks.players.toy import KeyDoorPlanner, KeyNoteWriter
from automem_sdk.trainers.behavioral.iterate import (
    ROUND_SEED_STRIDE,
    IterateConfig,
    run_iterations,
)
from automem_sdk.trainers.behavioral.ledger import read_ledger
from automem_sdk.trainers.behavioral.stats import paired_bootstrap
from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm

from automem_sdk.agent import MemoryAgent, run_episode
from automem_sdk.store import MemoryStore
from automem_sdk.trace import read_trace

pytestmark = pytest.mark.train


def _population(root: Path) -> str:
    """Writers of the right and the wrong key cell (the wrong ones lose)."""
    for seed in range(6):
        store = MemoryStore(str(root / "memory" / f"s{seed}"))
        writer = KeyNoteWriter(store, misfile=2 if seed % 2 else 0, noise_at=(0,))
        agent = MemoryAgent(
            store, "generic", writer, mode="two-model", task_decider=KeyDoorPlanner()
        )
        url = str(root / "traces" / f"s{seed}.jsonl")
        run_episode(KeyDoorEnv(max_steps=24), agent, seed, trace=url)
    return str(root / "traces")


def test_paired_bootstrap() -> None:
    d = paired_bootstrap([0, 0, 0, 1], [1, 1, 0, 1], n_boot=2000)
    assert d.diff == pytest.approx(0.5) and d.wins == 2 and d.losses == 0
    assert 0.0 <= d.lo < d.diff < d.hi <= 1.0
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 2.0])


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """A tiny model runs fastest on one thread (and does not fight the other tests)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.usefixtures("one_thread")
def test_two_rounds_from_population_then_own_rollouts(tmp_path: Path) -> None:
    pop = _population(tmp_path / "population")
    corpus = [
        "<|APPEND|>notes.md|key at cell 3<|END|><|DONE|>",
        "<|READ|>notes.md<|END|><|DONE|>",
        "door locked at cell 7 looked empty",
    ]
    base = build_tiny_causal_lm(tmp_path / "base", corpus * 20, vocab_size=400)
    cfg = IterateConfig(
        out=str(tmp_path / "run"),
        env="toy/keydoor",
        base_model=base,
        rounds=2,
        rollout_seeds=[50],
        eval_seeds=[0, 1],
        max_steps=6,
        temperature=1.0,
        selector="all & verified",
        initial_traces=[pop],
        train_steps=2,
        batch_size=2,
        max_new_tokens=8,
        max_length=512,
        min_examples=1,
        device="cpu",
        quiet=True,
    )
    records = run_iterations(cfg)
    assert [r.round for r in records] == [0, 1]
    r0, r1 = records
    # round 0: the population, with misfiled key notes cut out of the targets
    assert r0.data_source.startswith("initial traces (6)")
    data0 = (tmp_path / "run" / "round0" / "dataset.jsonl").read_text()
    assert "key at cell" in data0
    for row in map(json.loads, data0.splitlines()):
        seed = row["source"]["seed"]
        if seed % 2:  # misfiled writers: their key note never reaches a target
            assert "key at cell" not in row["completion"][0]["content"]
    assert r0.credit_cost["rejected"] >= 3
    # round 1: the round-0 adapter's own sampled rollouts, on seeds of their own
    assert r1.data_source.startswith("rollouts of round0")
    rollouts = sorted((tmp_path / "run" / "round1" / "rollouts" / "traces").glob("*.jsonl"))
    assert [p.name for p in rollouts] == [f"seed{50 + ROUND_SEED_STRIDE}.jsonl"]
    header = read_trace(str(rollouts[0])).header
    assert header.models["memory"] == "round0"
    assert r1.examples >= r0.examples  # accumulated
    # each round: held-out loss beside the training loss, paired eval vs the previous model
    for r in records:
        assert r.eval_seeds == [0, 1] and len(r.eval_progression) == 2
        assert r.vs_previous is not None and r.vs_previous["n"] == 2
        assert set(r.cpu_s) == {"rollout", "select", "train", "eval"}
        assert r.train["loss_before"] is not None
    ledger = [e for e in read_ledger(str(tmp_path / "run")) if e["kind"] == "iteration_round"]
    assert [e["round"] for e in ledger] == [0, 1]
    # resuming does not redo finished rounds
    again = run_iterations(cfg)
    assert [r.wall_s for r in again] == [r.wall_s for r in records]
    rounds = [e for e in read_ledger(str(tmp_path / "run")) if e["kind"] == "iteration_round"]
    assert len(rounds) == 2


def test_cli_iterate_parses_into_a_config() -> None:
    from automem_sdk.cli import build_parser

    args = build_parser().parse_args(
        [
            "train",
            "behavioral",
            "iterate",
            "--env",
            "toy/keydoor",
            "--base",
            "m",
            "--out",
            "o",
            "--rollout-seeds",
            "5-6",
            "--eval-seeds",
            "0,2",
            "--select",
            "outcome:0.5 & verified",
        ]
    )
    assert args.func.__name__ == "_cmd_iterate"
    assert args.select == "outcome:0.5 & verified" and args.rounds == 2
    assert args.rollout_seeds == "5-6" and args.eval_seeds == "0,2"
