"""The structural loop end to end on the toy maze: accept/reject with reasons, cache reuse,
STOP file, budgets with resume, offline traces, invalid proposals, CLI and report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from automem_sdk.trainers.structural import (
    AgentConfig,
    Budget,
    RunDirError,
    SeedOverlapError,
    StructuralConfig,
    StructuralTrainer,
    is_structural_run,
    render_structural_report,
)
from automem_sdk.trainers.structural.evaluate import EpisodeEvaluator
from automem_sdk.trainers.structural.proposal import InvalidProposal, Proposal
from automem_sdk.trainers.structural.reflect import Reflection
from automem_sdk.trainers.structural.rundir import RunDir

from automem_sdk.cli import main as cli_main
from automem_sdk.scaffold import Scaffold

ENV = "toy/maze-6"


def config(**kw: Any) -> StructuralConfig:
    base: dict[str, Any] = dict(
        envs=[ENV],
        scaffold="cramped-map",
        reflection_seeds=[0, 1, 2],
        gate_seeds=list(range(100, 106)),
        iterations=4,
        agent=AgentConfig(max_steps=60),
        rule="strict-mean",
    )
    base.update(kw)
    return StructuralConfig(**base)


def decisions(run_dir: Path) -> list[dict[str, Any]]:
    """Ledger entries without the fields that legitimately differ between runs."""
    return [e.model_dump(exclude={"runtime"}) for e in RunDir(run_dir).read_ledger()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StructuralTrainer]:
    run = tmp_path_factory.mktemp("ref") / "run"
    trainer = StructuralTrainer(str(run), config(), quiet=True)
    trainer.run()
    return run, trainer


def test_run_accepts_and_rejects_with_reasons(
    reference: tuple[Path, StructuralTrainer],
) -> None:
    run, trainer = reference
    entries = RunDir(run).read_ledger()
    kinds = [e.decision for e in entries]
    assert "accept" in kinds and "reject" in kinds, kinds
    first = next(e for e in entries if e.decision == "accept")
    assert first.changelog[0].startswith("raise_caps: map.md 256->")
    assert first.candidate_mean is not None and first.parent_mean is not None
    assert first.candidate_mean > first.parent_mean
    assert first.reason == f"mean {first.candidate_mean:.3f} > parent {first.parent_mean:.3f}"
    gate_parent = [s.parent for s in first.scores]
    gate_cand = [s.candidate for s in first.scores]
    assert sum(gate_cand) > sum(gate_parent)
    assert [s.seed for s in first.scores] == list(range(100, 106))
    rejected = next(e for e in entries if e.decision == "reject")
    assert "<=" in rejected.reason
    state = RunDir(run).read_state()
    assert state.best_id == first.candidate and state.accepted[-1] == first.candidate
    best = Scaffold.from_yaml((run / "best.yaml").read_text())
    assert best.id == state.best_id
    for e in entries:
        assert (run / "scaffolds" / f"{e.candidate}.yaml").exists()
        assert (run / "reflections" / f"{e.iteration:03d}.json").exists()
        assert e.cost.episodes >= 0 and e.runtime["fresh_episodes"] >= 0
    # Reflection seeds were played, and never the gate seeds of the same scaffold for it.
    assert entries[0].reflection["episodes"] == 3
    assert trainer.eval_stats.fresh == state.spend.episodes


def test_rerun_on_the_same_cache_plays_nothing(
    reference: tuple[Path, StructuralTrainer], tmp_path: Path
) -> None:
    run, _ = reference
    again = StructuralTrainer(
        str(tmp_path / "again"), config(), cache_dir=str(run / "cache"), quiet=True
    )
    again.run()
    assert again.eval_stats.fresh == 0
    assert again.eval_stats.cached > 0
    assert decisions(tmp_path / "again") == decisions(run)
    assert all(e.runtime["fresh_episodes"] == 0 for e in RunDir(tmp_path / "again").read_ledger())


def test_stop_file_then_resume_matches(
    reference: tuple[Path, StructuralTrainer], tmp_path: Path
) -> None:
    run_dir = tmp_path / "stopped"

    def on_event(event: str, data: dict[str, Any]) -> None:
        if event == "propose" and data["iteration"] == 2:
            (run_dir / "STOP").write_text("")

    cache = str(reference[0] / "cache")
    t = StructuralTrainer(str(run_dir), config(), quiet=True, on_event=on_event, cache_dir=cache)
    state = t.run()
    assert state.status == "stopped" and "STOP" in state.reason
    assert len(RunDir(run_dir).read_ledger()) == 1
    assert RunDir(run_dir).read_state().iteration == 2
    state = StructuralTrainer(str(run_dir), quiet=True, cache_dir=cache).run(resume=True)
    assert not (run_dir / "STOP").exists()
    assert state.status in ("done", "converged")
    assert decisions(run_dir) == decisions(reference[0])


def test_budget_halts_then_resume_with_more_matches(
    reference: tuple[Path, StructuralTrainer], tmp_path: Path
) -> None:
    run_dir = tmp_path / "budget"
    cache = str(reference[0] / "cache")  # budgets count cached episodes too
    state = StructuralTrainer(
        str(run_dir), config(budget=Budget(episodes=20)), quiet=True, cache_dir=cache
    ).run()
    assert state.status == "budget" and "episodes 20/20" in state.reason
    assert state.spend.episodes <= 20
    resumed = StructuralTrainer(
        str(run_dir), config(budget=Budget(episodes=1000)), quiet=True, cache_dir=cache
    )
    final = resumed.run(resume=True)
    assert final.status in ("done", "converged")
    assert decisions(run_dir) == decisions(reference[0])
    assert final.spend == RunDir(reference[0]).read_state().spend


def test_overlap_refused_and_existing_run_protected(tmp_path: Path) -> None:
    with pytest.raises(SeedOverlapError, match="overlap on 2"):
        StructuralTrainer(str(tmp_path / "x"), config(gate_seeds=[2, 50]), quiet=True).run()
    assert not (tmp_path / "x" / "state.json").exists()
    ok = config(gate_seeds=[2, 50], allow_seed_overlap=True, iterations=0)
    StructuralTrainer(str(tmp_path / "y"), ok, quiet=True).run()
    with pytest.raises(RunDirError, match="--resume"):
        StructuralTrainer(str(tmp_path / "y"), ok, quiet=True).run()
    with pytest.raises(RunDirError, match="nothing to resume"):
        StructuralTrainer(str(tmp_path / "z"), quiet=True).run(resume=True)


def test_cli_refuses_overlap_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli_main(
        [
            "train",
            "structural",
            "--env",
            ENV,
            "--scaffold",
            "cramped-map",
            "--reflection-seeds",
            "0-3",
            "--gate-seeds",
            "3-6",
            "--run-dir",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "reflection and gate seeds overlap on 3" in err and "--allow-seed-overlap" in err


class _AlwaysInvalid:
    name = "broken"

    def __init__(self) -> None:
        self.feedback: list[str | None] = []

    def propose(
        self, parent: Scaffold, reflection: Reflection, feedback: str | None = None
    ) -> Proposal:
        self.feedback.append(feedback)
        if len(self.feedback) % 2:
            raise InvalidProposal("no fenced block")
        bad = parent.child(
            "break the plan prompt",
            prompts=parent.prompts.model_copy(update={"plan": "Step {step}: act."}),
        )
        return Proposal(scaffold=bad, changelog=["break"], proposer=self.name)


def test_invalid_proposals_are_retried_with_feedback_then_logged(tmp_path: Path) -> None:
    proposer = _AlwaysInvalid()
    cfg = config(iterations=1, proposer_retries=2)
    StructuralTrainer(str(tmp_path / "inv"), cfg, proposer=proposer, quiet=True).run()
    (entry,) = RunDir(tmp_path / "inv").read_ledger()
    assert entry.decision == "invalid" and entry.attempts == 3
    assert entry.reason == "no valid proposal after 3 attempt(s)"
    assert proposer.feedback[0] is None
    assert proposer.feedback[1] == "no fenced block"
    assert proposer.feedback[2] is not None and "must include {observation}" in proposer.feedback[2]
    assert len(entry.proposal_errors) == 3


def test_offline_traces(tmp_path: Path) -> None:
    # Log traces of the starting scaffold on seeds 0-2, then reflect only on them.
    from automem_sdk.trainers.structural.envs import load_start_scaffold

    logs = tmp_path / "logs"
    ev = EpisodeEvaluator(AgentConfig(max_steps=60))
    for seed in range(3):
        ev.evaluate(
            load_start_scaffold("cramped-map"), ENV, seed, trace=str(logs / f"ep{seed}.jsonl")
        )
    cfg = config(reflection_seeds=[], traces=str(logs), iterations=1)
    t = StructuralTrainer(str(tmp_path / "off"), cfg, quiet=True)
    t.run()
    refl = json.loads((tmp_path / "off" / "reflections" / "001.json").read_text())
    assert refl["source"].startswith("3 logged trace(s)")
    assert t.eval_stats.fresh == 12  # gate only: parent and candidate on 6 seeds
    with pytest.raises(SeedOverlapError):
        StructuralTrainer(
            str(tmp_path / "off2"),
            config(reflection_seeds=[], traces=str(logs), gate_seeds=[1, 100]),
            quiet=True,
        ).run()


def test_report_and_cli_report(
    reference: tuple[Path, StructuralTrainer], capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = reference
    assert is_structural_run(run) and not is_structural_run(run / "cache")
    rep = render_structural_report(run)
    assert rep.accepted >= 1 and rep.rejected >= 1
    assert rep.chain[0].diff.count("-  max_bytes: 256") == 1
    assert rep.plot is not None and Path(rep.plot).read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "Iterations" in out and "raise_caps" in out
    assert cli_main(["train", "structural", "--run-dir", str(run), "--report"]) == 0
    assert "accepted in iteration" in capsys.readouterr().out


@pytest.mark.slow
def test_process_pool_gives_the_same_scores(tmp_path: Path) -> None:
    from automem_sdk.trainers.structural.envs import load_start_scaffold
    from automem_sdk.trainers.structural.evaluate import EvalCache, evaluate_many

    units = [(ENV, s) for s in range(4)]
    ev = EpisodeEvaluator(AgentConfig(max_steps=40))
    sc = load_start_scaffold("cramped-map")
    seq = evaluate_many(ev, EvalCache(tmp_path / "a"), sc, units)
    par = evaluate_many(ev, EvalCache(tmp_path / "b"), sc, units, workers=2)
    strip = {"wall_s", "pid", "finished"}  # where and when it was played
    assert [s.model_dump(exclude=strip) for s in seq] == [s.model_dump(exclude=strip) for s in par]


def test_missing_proposer_key_fails_before_the_run_dir_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    rc = cli_main(
        [
            "train",
            "structural",
            "--env",
            ENV,
            "--scaffold",
            "cramped-map",
            "--reflection-seeds",
            "0-2",
            "--gate-seeds",
            "10-12",
            "--proposer",
            "anthropic:claude-test",
            "--run-dir",
            str(tmp_path / "r"),
            "--quiet",
        ]
    )
    assert rc == 1 and "needs an API key" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_more_iterations_on_resume_continue_a_finished_run(
    reference: tuple[Path, StructuralTrainer], tmp_path: Path
) -> None:
    run_dir = tmp_path / "short"
    cache = str(reference[0] / "cache")
    state = StructuralTrainer(str(run_dir), config(iterations=1), quiet=True, cache_dir=cache).run()
    assert state.status == "done" and len(RunDir(run_dir).read_ledger()) == 1
    again = StructuralTrainer(str(run_dir), quiet=True, cache_dir=cache).run(resume=True)
    assert again.status == "done" and len(RunDir(run_dir).read_ledger()) == 1
    more = StructuralTrainer(str(run_dir), config(iterations=4), quiet=True, cache_dir=cache)
    assert more.run(resume=True).status == RunDir(reference[0]).read_state().status
    assert decisions(run_dir) == decisions(reference[0])
    assert RunDir(run_dir).read_config().iterations == 4
