"""Benchmark runner: a tiny real benchmark, resume after SIGKILL, seeds, agents, CLI."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from automem_sdk.benchmarks.harness.runner import (
    BenchConfig,
    BenchError,
    RandomDecider,
    episode_path,
    load_episodes,
    parse_seeds,
    run_benchmark,
    trace_path,
)

from automem_sdk.env import RoutineRequest
from automem_sdk.trace import read_trace

pytest.importorskip("minihack", reason="minihack is not installed")

ENV = "minihack/MazeWalk-9x9"


def _starts(out: Path) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for p in sorted((out / "runs").glob("*.jsonl")):
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            rec["run_id"] = p.stem
            lines.append(rec)
    return lines


@pytest.mark.games
def test_tiny_benchmark_two_workers_then_resume_skips(tmp_path: Path) -> None:
    cfg = BenchConfig(
        out=str(tmp_path),
        envs=[ENV],
        agents=["explorer", "random"],
        seeds=[0, 1],
        max_steps=10,
        workers=2,
        quiet=True,
    )
    rows = run_benchmark(cfg)
    assert [(r.agent, r.seed) for r in rows] == [
        ("explorer", 0),
        ("explorer", 1),
        ("random", 0),
        ("random", 1),
    ]
    for r in rows:
        assert r.env == ENV and r.task == "MazeWalk-9x9"
        assert 1 <= r.steps <= 10
        assert episode_path(tmp_path, r.agent, ENV, r.seed).is_file()
        trace = read_trace(str(trace_path(tmp_path, r.agent, ENV, r.seed)))
        assert trace.complete and trace.header.seed == r.seed
        assert len(trace.steps) == r.steps
        assert "unproductive_rate" in r.diagnostics
    assert {r.pid for r in rows} != {os.getpid()}  # played in worker processes
    assert rows[0].n_ops > 0 and rows[2].n_ops == 0  # explorer uses memory, random does not
    assert load_episodes(tmp_path) == rows
    # A second run finds every episode finished and plays none.
    again = run_benchmark(cfg.model_copy(update={"workers": 1}))
    assert again == rows
    assert len(_starts(tmp_path)) == 4


@pytest.mark.games
def test_other_step_cap_in_same_out_is_refused(tmp_path: Path) -> None:
    cfg = BenchConfig(out=str(tmp_path), envs=[ENV], agents=["random"], seeds=[3], max_steps=3)
    run_benchmark(cfg.model_copy(update={"quiet": True}))
    with pytest.raises(BenchError, match="max_steps"):
        run_benchmark(cfg.model_copy(update={"max_steps": 4, "quiet": True}))


_CHILD = """
import sys
from automem_sdk.benchmarks.harness.runner import BenchConfig, run_benchmark
if __name__ == "__main__":
    run_benchmark(BenchConfig(out=sys.argv[1], envs=["{env}"], agents=["explorer-stateless"],
                              seeds=list(range(8)), max_steps=25, workers=2, quiet=True))
"""


@pytest.mark.games
@pytest.mark.slow
def test_sigkill_then_resume_runs_every_episode_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(env=ENV))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)], start_new_session=True, env=dict(os.environ)
    )
    episodes = out / "episodes" / "explorer-stateless" / ENV
    deadline = time.monotonic() + 120
    try:
        while not (episodes.is_dir() and any(episodes.glob("*.json"))):
            assert proc.poll() is None, "the runner exited before finishing an episode"
            assert time.monotonic() < deadline, "no episode finished in time"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers, like a lost node
        proc.wait()
    first = {p.stem: json.loads(p.read_text()) for p in episodes.glob("*.json")}
    assert 1 <= len(first) < 8, "the kill should land mid-run"
    first_run = {r["run_id"] for r in first.values()}
    assert len(first_run) == 1

    rows = run_benchmark(
        BenchConfig(
            out=str(out),
            envs=[ENV],
            agents=["explorer-stateless"],
            seeds=list(range(8)),
            max_steps=25,
            workers=1,
            quiet=True,
        )
    )
    assert sorted(r.seed for r in rows) == list(range(8))
    starts = _starts(out)
    second = [s for s in starts if s["run_id"] not in first_run]
    # The resumed run started exactly the episodes the killed run had not finished...
    assert sorted(int(str(s["seed"])) for s in second) == sorted(
        s for s in range(8) if str(s) not in first
    )
    for r in rows:
        data = json.loads(episode_path(out, r.agent, ENV, r.seed).read_text())
        if str(r.seed) in first:  # ...and left the finished ones untouched.
            assert data == first[str(r.seed)]
        else:
            assert data["run_id"] not in first_run and data["pid"] == os.getpid()
        trace = read_trace(str(trace_path(out, r.agent, ENV, r.seed)))
        assert trace.complete and len(trace.steps) == r.steps
    assert not list(out.rglob(".*.tmp"))


def test_parse_seeds() -> None:
    assert parse_seeds("0-3", None) == [0, 1, 2, 3]
    assert parse_seeds("5,1,2-3,5", None) == [5, 1, 2, 3]
    assert parse_seeds(None, 3) == [0, 1, 2]
    for bad in ("3-1", "a", "1;2"):
        with pytest.raises(BenchError):
            parse_seeds(bad, None)
    with pytest.raises(BenchError):
        parse_seeds(None, None)


def test_unknown_agent_and_llm_without_spec() -> None:
    with pytest.raises(ValueError, match="unknown agent"):
        BenchConfig(out="x", agents=["nope"])
    with pytest.raises(BenchError, match="--llm"):
        run_benchmark(BenchConfig(out="unused-out", agents=["llm"], quiet=True))


def test_random_decider_is_seeded_and_uniform_over_actions() -> None:
    def req(routine: str) -> RoutineRequest:
        return RoutineRequest(
            routine=routine,  # type: ignore[arg-type]
            step=0,
            turn=0,
            messages=[],
            observation="",
            actions=["north", "south", "east"],
        )

    a, b = RandomDecider(7), RandomDecider(7)
    seq_a = [a.decide(req("plan")).text for _ in range(60)]
    assert seq_a == [b.decide(req("plan")).text for _ in range(60)]
    assert {t for t in seq_a} == {f"<|ACTION|>{n}<|END|>" for n in ("north", "south", "east")}
    assert a.decide(req("log")).text == "<|DONE|>"


def test_register_skips_existing_commands() -> None:
    from automem_sdk.benchmarks.harness import cli as bench_cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    existing = sub.add_parser("report")
    bench_cli.register(sub)
    assert sub.choices["report"] is existing
    assert {"bench", "bench-speed"} <= set(sub.choices)
    args = parser.parse_args(["bench", "--env", ENV, "--episodes", "2", "--agent", "random"])
    assert args.env == [ENV] and args.agent == ["random"] and args.episodes == 2


@pytest.mark.slow
def test_ray_executor_local(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    try:
        rows = run_benchmark(
            BenchConfig(
                out=str(tmp_path),
                envs=[ENV],
                agents=["random"],
                seeds=[0, 1],
                max_steps=5,
                workers=1,
                executor="ray",
                quiet=True,
            )
        )
    finally:
        ray.shutdown()
    assert [r.seed for r in rows] == [0, 1]
    assert all(episode_path(tmp_path, "random", ENV, s).is_file() for s in (0, 1))
    assert all(r.pid != os.getpid() for r in rows)


def test_a_resumed_run_sweeps_temp_files_of_dead_writers(tmp_path: Path) -> None:
    from automem_sdk.rundir import sweep_stale_tmp as _sweep_stale_tmp

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(child.stdout)  # exited: its temp files are stale
    folder = tmp_path / "episodes" / "a" / "env"
    folder.mkdir(parents=True)
    orphan = folder / f".3.json.{dead}.a1b2c3.tmp"
    live = folder / f".4.json.{os.getpid()}.d4e5f6.tmp"  # a writer that is still running
    old = folder / f".5.json.{os.getpid()}.0a0b0c.tmp"
    other = folder / ".notes.tmp"  # not ours: left alone
    for p in (orphan, live, old, other):
        p.write_text("{")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert _sweep_stale_tmp(tmp_path) == 2
    assert not orphan.exists() and not old.exists()
    assert live.exists() and other.exists()


def test_old_agent_name_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match="explorer-stateless"):
        cfg = BenchConfig(out="x", agents=["explorer-nomem", "explorer"])
    assert cfg.agents == ["explorer-stateless", "explorer"]
    assert BenchConfig(out="x", agents=["explorer-hist8"]).agents == ["explorer-hist8"]


def test_configuration_errors_name_the_flag_before_any_episode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(BenchError, match="--env"):
        run_benchmark(BenchConfig(out=str(out), envs=["pong"], quiet=True))
    with pytest.raises(BenchError, match="--env"):
        run_benchmark(BenchConfig(out=str(out), envs=["minihack/Nope"], quiet=True))
    with pytest.raises(BenchError, match="--levels-dir"):
        run_benchmark(
            BenchConfig(
                out=str(out),
                envs=["minihack/Boxoban-Hard"],
                levels_dir=str(tmp_path / "missing"),
                quiet=True,
            )
        )
    with pytest.raises(BenchError, match="--memory-llm"):
        run_benchmark(BenchConfig(out=str(out), agents=["two-model"], quiet=True))
    with pytest.raises(BenchError, match="--task-llm"):
        run_benchmark(
            BenchConfig(
                out=str(out),
                agents=["two-model"],
                memory_llm="blank",
                task_llm="nonsense-provider:x",
                quiet=True,
            )
        )
    assert not (out / "episodes").exists()


@pytest.mark.games
def test_two_model_rows_memory_model_matters(tmp_path: Path) -> None:
    rows = []
    for memory in ("explorer", "blank"):
        rows += run_benchmark(
            BenchConfig(
                out=str(tmp_path),
                envs=["minihack/MazeWalk-15x15"],
                agents=["two-model"],
                memory_llm=memory,
                seeds=list(range(6)),
                quiet=True,
            )
        )
    by: dict[str, list[float]] = {}
    for r in rows:
        by.setdefault(r.agent, []).append(r.progression)
    assert set(by) == {"tm-explorer+planner", "tm-blank+planner"}
    assert sum(by["tm-explorer+planner"]) > sum(by["tm-blank+planner"])


@pytest.mark.games
def test_history_twin_and_stateless_agents_play(tmp_path: Path) -> None:
    rows = run_benchmark(
        BenchConfig(
            out=str(tmp_path),
            envs=[ENV],
            agents=["explorer-hist16", "explorer-stateless"],
            seeds=[0],
            max_steps=15,
            quiet=True,
        )
    )
    assert [r.agent for r in rows] == ["explorer-hist16", "explorer-stateless"]
    assert all(r.n_ops == 0 and r.steps >= 1 for r in rows)


def test_an_unreachable_llm_stops_the_run_with_the_error_on_screen(tmp_path: Path) -> None:
    """A wrong endpoint no longer plays fallback actions for hours: N failures in a row
    stop the episode and the run, and the last error is printed."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "automem_sdk.cli", "bench", "--env", "minihack/Corridor-R3"),
            *("--agent", "llm", "--llm", "vllm:m@http://127.0.0.1:9/v1", "--episodes", "3"),
            *("--max-llm-failures", "2", "--quiet", "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "failed 2 times in a row" in proc.stderr and "(--llm)" in proc.stderr
    assert "Connect" in proc.stderr  # the endpoint's own error, not only "it failed"
    assert not list((out / "episodes").rglob("*.json"))  # nothing counted as played
