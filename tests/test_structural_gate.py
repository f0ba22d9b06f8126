"""Gate rules under noise: a change that does nothing is accepted at most at the configured
error rate (bootstrap, sign test, and the sequential gate that adds seeds), while
strict-mean accepts a large share of such changes; a final evaluation on unused seeds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from automem_sdk.trainers.structural import (
    AgentConfig,
    SeedOverlapError,
    StructuralConfig,
    StructuralTrainer,
    render_structural_report,
)
from automem_sdk.trainers.structural.gate import (
    PairedBootstrap,
    SignTest,
    StrictMean,
    make_rule,
    paired_ci,
)
from automem_sdk.trainers.structural.rundir import RunDir
from rich.console import Console

TRIALS = 600


def _null_pair(rng: random.Random, n: int) -> tuple[list[float], list[float]]:
    """Two independent noisy plays of the same scaffold: per-seed win chance varies."""
    ps = [rng.random() for _ in range(n)]
    return [float(rng.random() < p) for p in ps], [float(rng.random() < p) for p in ps]


def _false_accepts(rule_for_look: list, looks_n: list[int], seed: int) -> float:
    rng = random.Random(seed)
    hits = 0
    for _ in range(TRIALS):
        a, b = _null_pair(rng, looks_n[-1])
        for rule, n in zip(rule_for_look, looks_n, strict=True):
            d = rule.decide(a[:n], b[:n])
            if d.accept:
                hits += 1
                break
            if d.candidate_mean - d.parent_mean <= 0:
                break
    return hits / TRIALS


def _tolerance(alpha: float) -> float:
    return 3 * (alpha * (1 - alpha) / TRIALS) ** 0.5


@pytest.mark.parametrize("n", [8, 16, 30])
def test_null_change_is_accepted_at_most_at_the_error_rate(n: int) -> None:
    alpha = 0.1
    boot = _false_accepts([PairedBootstrap(1 - alpha, samples=500)], [n], seed=n)
    sign = _false_accepts([SignTest(1 - alpha)], [n], seed=n)
    strict = _false_accepts([StrictMean()], [n], seed=n)
    assert boot <= alpha + _tolerance(alpha), boot
    assert sign <= alpha + _tolerance(alpha), sign
    # The old default accepts a third or more of the changes that do nothing.
    assert strict > 0.3, strict


def test_sequential_gate_keeps_the_error_rate_over_its_looks() -> None:
    cfg = StructuralConfig(
        envs=["toy/maze-6"],
        reflection_seeds=[0],
        gate_seeds=list(range(100, 108)),
        gate_reserve=list(range(108, 132)),
        confidence=0.9,
    )
    looks = cfg.looks()
    assert looks == 4
    sizes = [len(cfg.gate_units(1, k)) for k in range(1, looks + 1)]
    assert sizes == [8, 16, 24, 32]
    per_look = 1 - (1 - cfg.confidence) / looks
    rules = [make_rule("bootstrap", confidence=per_look, samples=500, seed=k) for k in range(looks)]
    rate = _false_accepts(rules, sizes, seed=7)
    assert rate <= 0.1 + _tolerance(0.1), rate
    # Without the split the same four looks would accept more often than one look.
    loose = [make_rule("bootstrap", confidence=0.9, samples=500, seed=k) for k in range(looks)]
    assert _false_accepts(loose, sizes, seed=7) > rate


def test_a_real_effect_passes_more_often_with_more_seeds() -> None:
    rng = random.Random(3)

    def power(n: int) -> float:
        hits = 0
        for _ in range(200):
            a = [float(rng.random() < 0.4) for _ in range(n)]
            b = [1.0 if x else float(rng.random() < 0.5) for x in a]  # +0.3 on average
            hits += PairedBootstrap(0.9, samples=500).decide(a, b).accept
        return hits / 200

    assert power(30) > power(8) + 0.1


def test_sign_test_reason_and_ties() -> None:
    d = SignTest(0.9).decide([0.0] * 6, [1.0] * 6)
    assert d.accept and "6 win(s), 0 loss(es)" in d.reason and d.stats["p_value"] == 1 / 64
    d = SignTest(0.9).decide([1.0, 0.0, 0.0], [1.0, 1.0, 0.0])
    assert not d.accept and d.stats["p_value"] == 0.5  # one win, two ties
    assert make_rule("sign-test").name == "sign-test"
    diff, lo, hi = paired_ci([0.0] * 10, [1.0] * 10)
    assert diff == lo == hi == 1.0


def test_final_evaluation_on_unused_seeds_and_report(tmp_path: Path) -> None:
    cfg = StructuralConfig(
        envs=["toy/maze-6"],
        scaffold="cramped-map",
        reflection_seeds=[0, 1, 2],
        gate_seeds=list(range(100, 104)),
        gate_reserve=list(range(104, 112)),
        iterations=2,
        agent=AgentConfig(max_steps=60),
        final_seeds=list(range(500, 530)),
    )
    run = tmp_path / "final"
    StructuralTrainer(str(run), cfg, quiet=True).run()
    final = json.loads((run / "final.json").read_text())
    assert final["n"] == 30 and len(final["scores"]) == 30
    assert {s["seed"] for s in final["scores"]} == set(range(500, 530))
    lo, hi = final["ci95"]
    assert lo <= final["diff"] <= hi
    entries = RunDir(run).read_ledger()
    assert entries and all(e.rule == "bootstrap" for e in entries)
    assert any("sequential look" in e.reason for e in entries if e.candidate)
    console = Console(record=True, width=160)
    render_structural_report(run, console=console, plot=False)
    text = console.export_text()
    assert "Final evaluation on 30 seeds nobody used" in text
    assert "Silent faults in each iteration's reflection" in text
    assert "file_never_written" in text  # cramped-map's notes.md/plan.md stay empty
    assert f"{final['accepted_mean']:.3f}" in text
    # A run killed during its final evaluation plays it on resume (from the cache).
    (run / "final.json").unlink()
    StructuralTrainer(str(run), quiet=True).run(resume=True)
    assert json.loads((run / "final.json").read_text())["diff"] == final["diff"]


def test_final_seeds_must_be_unused(tmp_path: Path) -> None:
    cfg = StructuralConfig(
        envs=["toy/maze-6"],
        scaffold="cramped-map",
        reflection_seeds=[0, 1],
        gate_seeds=[100, 101],
        final_seeds=[101, 102],
    )
    with pytest.raises(SeedOverlapError, match="final seeds 101"):
        StructuralTrainer(str(tmp_path / "x"), cfg, quiet=True).run()
    # Refreshed gate seeds are checked for every iteration.
    cfg = cfg.model_copy(update={"final_seeds": [], "gate_stride": 50, "iterations": 3})
    assert cfg.all_gate_seeds() == [100, 101, 150, 151, 200, 201]
    bad = cfg.model_copy(update={"reflection_seeds": [150]})
    with pytest.raises(SeedOverlapError):
        StructuralTrainer(str(tmp_path / "y"), bad, quiet=True).run()


def test_cli_flags_build_the_gate_and_final_settings() -> None:
    import argparse

    from automem_sdk.trainers.structural.cli import add_parser, build_config

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "structural",
            "--run-dir",
            "r",
            "--env",
            "toy/maze-6",
            "--reflection-seeds",
            "0-3",
            "--gate-seeds",
            "100-107",
            "--gate-reserve",
            "108-123",
            "--gate-stride",
            "1000",
            "--final-seeds",
            "5000-5029",
            "--proposer",
            "heuristic+search",
            "--agent",
            "prompt-explorer",
        ]
    )
    cfg = build_config(args)
    assert cfg.rule == "bootstrap" and cfg.looks() == 3
    assert cfg.gate_units(2, 1) == list(range(1100, 1108))
    assert len(cfg.final_seeds) == 30 and cfg.proposer == "heuristic+search"
    assert cfg.agent.decider == "prompt-explorer"
    tail = ["--gate-seeds", "1", "--rule", "sign-test", "--reflection-seeds", "0"]
    args = parser.parse_args(["structural", "--run-dir", "r", "--env", "x", *tail])
    assert build_config(args).rule == "sign-test"
