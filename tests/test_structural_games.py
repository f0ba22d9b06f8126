"""The structural loop on a real game: MiniHack MazeWalk-9x9 with the keyless NLE explorer,
the heuristic proposer, and a deliberately cramped starting scaffold (map.md capped at
64 bytes, so the explorer's map writes are refused and it wanders)."""

from __future__ import annotations

from pathlib import Path

import pytest
from automem_sdk.trainers.structural import (
    AgentConfig,
    StructuralConfig,
    StructuralTrainer,
    render_structural_report,
)
from automem_sdk.trainers.structural.envs import load_start_scaffold
from automem_sdk.trainers.structural.rundir import RunDir

pytest.importorskip("minihack")
pytest.importorskip("automem_sdk.benchmarks.players")

pytestmark = [pytest.mark.games, pytest.mark.slow]


def test_minihack_run_accepts_a_better_scaffold_and_rejects_a_neutral_one(
    tmp_path: Path,
) -> None:
    run = tmp_path / "mazewalk"
    cfg = StructuralConfig(
        envs=["minihack/MazeWalk-9x9"],
        scaffold="cramped-minihack",
        reflection_seeds=list(range(8)),
        gate_seeds=list(range(100, 112)),
        iterations=4,
        agent=AgentConfig(max_steps=100),
        rule="strict-mean",
    )
    trainer = StructuralTrainer(str(run), cfg, quiet=True)
    state = trainer.run()
    entries = RunDir(run).read_ledger()
    accepted = [e for e in entries if e.decision == "accept"]
    rejected = [e for e in entries if e.decision == "reject"]
    assert accepted and rejected, [(e.decision, e.reason) for e in entries]
    for e in accepted:
        assert e.candidate_mean is not None and e.parent_mean is not None
        assert e.candidate_mean > e.parent_mean
        assert e.reason.startswith("mean ") and " > parent " in e.reason
        assert {s.seed for s in e.scores} == set(range(100, 112))
    for e in rejected:
        assert e.reason
    start = load_start_scaffold("cramped-minihack")
    best = RunDir(run).load_scaffold(state.best_id)
    assert best.id != start.id
    cap = best.file("map.md")
    assert cap is not None and cap.max_bytes > 64
    # The accepted head scores above the starting scaffold on the same gate seeds.
    first, last = accepted[0], accepted[-1]
    assert last.candidate_mean is not None and first.parent_mean is not None
    assert last.candidate_mean > first.parent_mean
    report = render_structural_report(run)
    assert report.accepted == len(accepted) and report.plot is not None
