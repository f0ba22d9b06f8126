"""The core episode runner: one job -> one EpisodeResult, resumable run directories on
local disk and S3 (moto), a killed run that resumes playing only what it had not
finished, and atomic writes that never leave a partial file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from automem_sdk.agent import EpisodeResult as AgentEpisodeResult
from automem_sdk.episode_result import EpisodeResult
from automem_sdk.episodes import EpisodeJob, play_episode, resolve_factory
from automem_sdk.errors import AutomemError
from automem_sdk.rundir import RunDir, RunDirError, atomic_write, run_jobs
from automem_sdk.trace import read_trace

FACTORIES = "automem_sdk.trainers.structural.envs"
ENV = "toy/maze-5"


def _job(seed: int, run: str, **kw: Any) -> EpisodeJob:
    fields: dict[str, Any] = {
        "env": ENV,
        "seed": seed,
        "agent": "explorer",
        "decider": "explorer",
        "decider_factory": f"{FACTORIES}:make_decider",
        "env_factory": f"{FACTORIES}:make_env",
        "max_steps": 12,
        "trace_url": f"{run}/traces/{seed}.jsonl.gz",
        "memory_url": f"{run}/memory/{seed}",
    }
    return EpisodeJob(**{**fields, **kw})


def test_one_result_model_everywhere() -> None:
    assert AgentEpisodeResult is EpisodeResult
    import automem_sdk

    assert automem_sdk.EpisodeResult is EpisodeResult
    assert automem_sdk.play_episode is play_episode


def test_play_episode_returns_outcome_and_diagnostics(tmp_path: Path) -> None:
    res = play_episode(_job(0, str(tmp_path), snapshot_memory=True, labels={"stage": "x"}))
    assert res.env == ENV and res.seed == 0 and 1 <= res.steps <= 12
    assert res.terminated or res.truncated
    assert res.key == "explorer/toy/maze-5/0" and res.stage == "x" and res.pid == os.getpid()
    assert "op_validity" in res.diagnostics and res.n_ops > 0
    assert res.memory and res.scaffold_id
    trace = read_trace(str(res.trace_url))
    assert trace.complete and len(trace.steps) == res.steps


def test_old_episode_records_still_load() -> None:
    bench = {"agent": "a", "env": "e", "task": "e", "seed": 1, "progression": 0.5, "steps": 3,
             "total_reward": 1.0, "prompt_tokens": 7, "completion_tokens": 2, "trace": "t"}  # fmt: skip
    r = EpisodeResult.model_validate(bench)
    assert (r.tokens, r.trace_url, r.task) == (9, "t", "e")
    score = EpisodeResult.model_validate({"env": "e", "seed": 0, "progression": 1, "reward": 2})
    assert score.reward == 2.0 and score.metric("reward") == 2.0
    row = EpisodeResult.model_validate({"stage": "final", "env": "e", "seed": 0, "tokens": 5})
    assert row.stage == "final" and row.tokens == 5


def test_bad_factory_is_named() -> None:
    with pytest.raises(AutomemError, match="module:function"):
        resolve_factory("nocolon")
    with pytest.raises(AutomemError, match="cannot import"):
        resolve_factory("automem_sdk.nope:fn")


@pytest.mark.parametrize("where", ["path", "file-url"])
def test_local_run_dir_resumes_and_skips_finished(tmp_path: Path, where: str) -> None:
    run = str(tmp_path) if where == "path" else tmp_path.as_uri()
    jobs = [_job(s, str(tmp_path)) for s in range(3)]
    played: list[int] = []
    first = run_jobs(jobs[:2], run, on_result=lambda r, fresh: fresh and played.append(r.seed))
    assert played == [0, 1]
    rows = run_jobs(jobs, run, on_result=lambda r, fresh: fresh and played.append(r.seed))
    assert played == [0, 1, 2] and rows[:2] == first
    assert RunDir(run).load_results() == rows
    assert (tmp_path / "episodes" / "explorer" / "toy" / "maze-5" / "2.json").is_file()
    with pytest.raises(RunDirError, match="max_steps"):
        run_jobs([_job(0, str(tmp_path), max_steps=5)], run)


@pytest.mark.s3
def test_s3_run_dir_resumes_and_skips_finished(s3_url: tuple[str, dict[str, Any]]) -> None:
    url, opts = s3_url
    jobs = [_job(s, url, storage_options=opts) for s in range(2)]
    rd = RunDir(url, opts)
    run_jobs(jobs[:1], rd)
    played: list[int] = []
    rows = run_jobs(jobs, rd, on_result=lambda r, fresh: fresh and played.append(r.seed))
    assert played == [1] and [r.seed for r in rows] == [0, 1]
    assert rd.load_results() == rows
    assert read_trace(str(rows[1].trace_url), opts).complete
    assert "op_validity" in rows[1].diagnostics


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "x.json"
    atomic_write(target, "old")
    atomic_write(str(target), b"new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]


def test_a_failed_atomic_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.json"
    atomic_write(target, "old")

    def fail(*a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new but torn")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_write_on_an_object_store(memory_url: str) -> None:
    atomic_write(f"{memory_url}/r/x.json", json.dumps({"a": 1}))
    assert json.loads(RunDir(memory_url).read_text("r", "x.json")) == {"a": 1}


_CHILD = """
import sys
from automem_sdk.episodes import EpisodeJob
from automem_sdk.rundir import run_jobs
F = "automem_sdk.trainers.structural.envs"
if __name__ == "__main__":
    run = sys.argv[1]
    jobs = [EpisodeJob(env="toy/maze-6", seed=s, agent="x", decider="explorer",
                       decider_factory=F + ":make_decider", env_factory=F + ":make_env",
                       max_steps=60, memory_url=f"{run}/mem/{s}",
                       trace_url=f"{run}/traces/{s}.jsonl.gz", run_id="first")
            for s in range(12)]
    run_jobs(jobs, run, workers=2)
"""


@pytest.mark.slow
def test_a_killed_run_resumes_playing_only_unfinished_jobs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(run)], start_new_session=True)
    episodes = run / "episodes" / "x" / "toy" / "maze-6"
    deadline = time.monotonic() + 120
    try:
        while not (episodes.is_dir() and any(episodes.glob("*.json"))):
            assert proc.poll() is None, "the run exited before finishing an episode"
            assert time.monotonic() < deadline, "no episode finished in time"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers
        proc.wait()
    first = {int(p.stem): p.read_text() for p in episodes.glob("*.json")}
    assert 1 <= len(first) < 12, "the kill should land mid-run"
    jobs = [
        EpisodeJob(
            env="toy/maze-6", seed=s, agent="x", decider="explorer",
            decider_factory=f"{FACTORIES}:make_decider", env_factory=f"{FACTORIES}:make_env",
            max_steps=60, memory_url=f"{run}/mem/{s}", trace_url=f"{run}/traces/{s}.jsonl.gz",
            run_id="second",
        )
        for s in range(12)
    ]  # fmt: skip
    played: list[int] = []
    rows = run_jobs(jobs, str(run), on_result=lambda r, fresh: fresh and played.append(r.seed))
    assert sorted(played) == sorted(set(range(12)) - set(first))
    for r in rows:
        if r.seed in first:  # left untouched
            assert (episodes / f"{r.seed}.json").read_text() == first[r.seed]
            assert r.run_id == "first"
        else:
            assert r.run_id == "second"
        assert read_trace(str(r.trace_url)).complete
    assert not list(run.rglob(".*.tmp"))


def test_ray_executor_plays_and_stores(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        rows = run_jobs([_job(s, str(tmp_path)) for s in range(2)], str(tmp_path), executor="ray")
    finally:
        ray.shutdown()
    assert [r.seed for r in rows] == [0, 1] and all(r.pid != os.getpid() for r in rows)
    assert RunDir(tmp_path).load_results() == rows
