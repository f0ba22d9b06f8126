"""Kill a structural run at a random moment (SIGKILL), resume it with the CLI, and check
that the final ledger equals that of a run that was never interrupted.

The moment is drawn from every crash-relevant point of the run: inside an episode, right
after an episode (before its cache entry), after a state checkpoint, after a proposal or
reflection file, and after a ledger line. ``KILL_SEED`` picks other moments.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from automem_sdk.trainers.structural import AgentConfig, StructuralConfig, StructuralTrainer
from automem_sdk.trainers.structural.rundir import RunDir

CHILD = r"""
import os, signal, sys
from automem_sdk.trainers.structural import StructuralConfig, StructuralTrainer
from automem_sdk.trainers.structural.evaluate import EpisodeEvaluator
from automem_sdk.trainers.structural.rundir import RunDir

run_dir, kill_at, where_in_episode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
count = 0

def tick():
    global count
    count += 1
    if count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

def hook(method):
    orig = getattr(RunDir, method)
    def wrapped(self, *a, **k):
        out = orig(self, *a, **k)
        tick()
        return out
    setattr(RunDir, method, wrapped)

for m in ("append_ledger", "write_state", "write_json", "save_scaffold"):
    hook(m)

orig_eval = EpisodeEvaluator.evaluate
def evaluate(self, scaffold, env, seed, *, trace=None):
    if where_in_episode == "before":
        tick()
    out = orig_eval(self, scaffold, env, seed, trace=trace)
    if where_in_episode == "after":
        tick()
    return out
EpisodeEvaluator.evaluate = evaluate

config = StructuralConfig.model_validate_json(sys.stdin.read())
StructuralTrainer(run_dir, config, quiet=True).run()
print("finished", count)
"""


def config() -> StructuralConfig:
    return StructuralConfig(
        envs=["toy/maze-6"],
        scaffold="cramped-map",
        reflection_seeds=[0, 1, 2],
        gate_seeds=list(range(100, 106)),
        iterations=4,
        agent=AgentConfig(max_steps=60),
        rule="strict-mean",
    )


def decisions(run_dir: Path) -> list[dict[str, Any]]:
    return [e.model_dump(exclude={"runtime"}) for e in RunDir(run_dir).read_ledger()]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("full") / "run"
    StructuralTrainer(str(run), config(), quiet=True).run()
    return run


@pytest.mark.slow
@pytest.mark.parametrize("round_", [0, 1])
def test_sigkill_then_resume_gives_the_same_ledger(
    uninterrupted: Path, tmp_path: Path, round_: int
) -> None:
    seed = int(os.environ.get("KILL_SEED", "20240607")) + round_
    rng = random.Random(seed)
    ref = RunDir(uninterrupted)
    n_entries = len(ref.read_ledger())
    episodes = ref.read_state().spend.episodes
    # A lower bound on the crash points of a full run, so the kill always lands.
    kill_at = rng.randint(1, episodes + 3 * n_entries)
    where = rng.choice(["before", "after"])
    run = tmp_path / "run"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(run), str(kill_at), where],
        input=config().model_dump_json(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    why = f"KILL_SEED={seed} kill_at={kill_at} where={where}: {child.stdout}{child.stderr[-2000:]}"
    assert child.returncode == -signal.SIGKILL, why
    assert RunDir(run).exists(), why
    before = len(RunDir(run).read_ledger())
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "automem_sdk.cli",
            "train",
            "structural",
            "--run-dir",
            str(run),
            "--resume",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, why + resumed.stderr[-2000:]
    assert decisions(run) == decisions(uninterrupted), why
    assert len(RunDir(run).read_ledger()) >= before
    state, ref_state = RunDir(run).read_state(), ref.read_state()
    assert state.status == ref_state.status and state.accepted == ref_state.accepted, why
    assert state.spend == ref_state.spend, why
    assert (run / "best.yaml").read_text() == (uninterrupted / "best.yaml").read_text()
