"""The bench runner's Ray executor on a local Ray instance (loopback only, 2 CPUs).

Same episodes as the process pool, identical results; a run killed mid-way resumes
and plays every episode exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("minihack", reason="minihack is not installed (the [games] extra)")
ray = pytest.importorskip("ray", reason="ray is not installed (the [ray] extra)")

from automem_sdk.benchmarks.harness.runner import (  # noqa: E402
    BenchConfig,
    run_benchmark,
)

from automem_sdk.episode_result import EpisodeResult  # noqa: E402

ENV = "minihack/MazeWalk-9x9"
AGENT = "explorer"


@pytest.fixture
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        yield
    finally:
        ray.shutdown()


def _outcome(r: EpisodeResult) -> tuple[Any, ...]:
    """What must not depend on the executor (timing, pids and paths may)."""
    return (
        r.agent, r.env, r.seed, r.steps, r.progression, r.total_reward, r.n_ops,
        tuple(r.achievements), tuple(sorted(r.diagnostics.items())),
    )  # fmt: skip


@pytest.mark.games
@pytest.mark.slow
def test_ray_plays_the_same_episodes_as_the_process_pool(tmp_path: Path, local_ray: None) -> None:
    def cfg(out: Path, executor: str) -> BenchConfig:
        return BenchConfig(
            out=str(out), envs=[ENV], agents=[AGENT], seeds=[0, 1, 2, 3], max_steps=30,
            workers=2, executor=executor, quiet=True,
        )  # fmt: skip

    pool = run_benchmark(cfg(tmp_path / "pool", "process"))
    on_ray = run_benchmark(cfg(tmp_path / "ray", "ray"))
    assert [_outcome(r) for r in on_ray] == [_outcome(r) for r in pool]
    assert all(r.pid != os.getpid() for r in on_ray)  # played in Ray workers
    assert {r.pid for r in on_ray}.isdisjoint({r.pid for r in pool})


_CHILD = """
import sys
import ray
from automem_sdk.benchmarks.harness.runner import BenchConfig, run_benchmark
if __name__ == "__main__":
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    run_benchmark(BenchConfig(out=sys.argv[1], envs=["{env}"], agents=["{agent}"],
                              seeds=list(range(8)), max_steps=40, workers=2,
                              executor="ray", quiet=True))
"""


@pytest.mark.games
@pytest.mark.slow
def test_ray_run_killed_mid_way_resumes_each_episode_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(env=ENV, agent=AGENT))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)], start_new_session=True, env=dict(os.environ)
    )
    episodes = out / "episodes" / AGENT / ENV
    deadline = time.monotonic() + 240
    try:
        while not (episodes.is_dir() and any(episodes.glob("*.json"))):
            assert proc.poll() is None, "the Ray run exited before finishing an episode"
            assert time.monotonic() < deadline, "no episode finished in time"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # driver and the local Ray it started
        proc.wait()
        subprocess.run(["ray", "stop", "--force"], capture_output=True, timeout=60, check=False)
    first = {p.stem for p in episodes.glob("*.json")}
    assert 1 <= len(first) < 8, "the kill should land mid-run"

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        rows = run_benchmark(
            BenchConfig(
                out=str(out),
                envs=[ENV],
                agents=[AGENT],
                seeds=list(range(8)),
                max_steps=40,
                workers=2,
                executor="ray",
                quiet=True,
            )
        )
    finally:
        ray.shutdown()
    assert sorted(r.seed for r in rows) == list(range(8))
    runs = sorted((out / "runs").glob("*.jsonl"), key=lambda f: f.stat().st_mtime)
    assert len(runs) == 2  # the killed run and the resumed one
    resumed = [json.loads(line) for line in runs[-1].read_text().splitlines()]
    # the resumed run started exactly the episodes the killed run had not finished
    assert sorted(int(s["seed"]) for s in resumed) == sorted(
        s for s in range(8) if str(s) not in first
    )
