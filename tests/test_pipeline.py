"""The keyless pipeline end to end on local disk and on S3 (moto), and kill/resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fsspec
import pytest
from automem_sdk.trainers.pipeline import (
    STAGES,
    Pipeline,
    PipelineConfig,
    PipelineError,
    load_pipeline_config,
)

from automem_sdk.trace import list_traces, read_trace

pytestmark = [pytest.mark.games, pytest.mark.slow]


def small_config(out: str, **kw: Any) -> PipelineConfig:
    data: dict[str, Any] = {
        "name": "test",
        "out": out,
        "envs": ["minihack/MazeWalk-9x9"],
        "scaffold": "cramped-map",
        "max_steps": 15,
        "seeds": {"reflection": [0], "gate": [100, 101], "eval": [200, 201]},
        "structural": {"iterations": 1},
        "behavioral": {
            "max_train_steps": 3,
            "eval_seeds": [200],
            "eval_max_steps": 3,
            "min_examples": 2,
        },
    }
    data.update(kw)
    return PipelineConfig.model_validate(data)


def _check_outputs(pipe: Pipeline, opts: dict[str, Any]) -> dict[str, Any]:
    summary = pipe.report()
    assert all(summary["stages"][s] for s in STAGES)
    stages = [r["stage"] for r in summary["rows"]]
    assert stages[:2] == ["baseline", "structural"]
    assert {"behavioral:base", "behavioral:lora"} <= set(stages)
    fs, root = fsspec.core.url_to_fs(pipe.out, **opts)
    for f in [
        "report.md",
        "report.json",
        "progression.png",
        "structural/ledger.jsonl",
        "structural/scaffold.yaml",
        "behavioral/adapter/adapter_config.json",
    ]:
        assert fs.exists(f"{root}/{f}"), f
    traces = list_traces(pipe.url("baseline", "traces"), opts)
    assert len(traces) == 2 and read_trace(traces[0], opts).complete
    # memory lives under the same URL, one store per episode
    assert any(p.endswith("map.md") for p in fs.find(f"{root}/baseline/memory"))
    table = fs.cat(f"{root}/report.md").decode()
    assert "| baseline | minihack/MazeWalk-9x9 | 2 |" in table
    return summary


def test_keyless_pipeline_on_local_disk(tmp_path: Path) -> None:
    pipe = Pipeline(small_config(str(tmp_path / "out")), workdir=str(tmp_path / "work"), quiet=True)
    pipe.run()
    summary = _check_outputs(pipe, {})
    ledger = (tmp_path / "out" / "structural" / "ledger.jsonl").read_text().splitlines()
    assert json.loads(ledger[0])["decision"] in ("accept", "reject")
    assert pipe.played == 4  # 2 baseline + 2 final episodes
    again = Pipeline(
        small_config(str(tmp_path / "out")), workdir=str(tmp_path / "work"), quiet=True
    )
    assert again.run() == summary and again.played == 0


@pytest.mark.s3
def test_keyless_pipeline_on_s3(tmp_path: Path, s3_store_url: tuple[str, dict[str, Any]]) -> None:
    url, opts = s3_store_url
    pipe = Pipeline(
        small_config(url, storage_options=opts), workdir=str(tmp_path / "w"), quiet=True
    )
    pipe.run()
    _check_outputs(pipe, opts)


def test_killed_pipeline_resumes_at_its_stage(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(json.dumps(small_config(str(out)).model_dump(mode="json")))
    cmd = [
        sys.executable,
        "-m",
        "automem_sdk.cli",
        "pipeline",
        str(cfg_path),
        "--workdir",
        str(tmp_path / "work"),
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    marker = out / "baseline" / "DONE.json"
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "final" / "DONE.json").exists()
    baseline_files = {p: p.stat().st_mtime_ns for p in (out / "baseline").rglob("*.json")}
    pipe = Pipeline(load_pipeline_config(str(cfg_path)), workdir=str(tmp_path / "work"), quiet=True)
    pipe.run()
    assert {p: p.stat().st_mtime_ns for p in (out / "baseline").rglob("*.json")} == baseline_files
    assert pipe.played == 2  # only the final stage's episodes were played again
    _check_outputs(pipe, {})


def test_config_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("out: x\nenvs: [a]\nseeds: {reflection: [1], gate: [1], eval: [2]}\n")
    with pytest.raises(PipelineError, match="overlap"):
        load_pipeline_config(str(bad))
    with pytest.raises(PipelineError, match="cannot read"):
        load_pipeline_config(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize("name", ["keyless.yaml", "anthropic-vllm.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_pipeline_config(
        str(Path(__file__).resolve().parents[1] / "examples" / "pipelines" / name)
    )
    assert cfg.envs and set(cfg.seeds.gate).isdisjoint(cfg.seeds.reflection)


def test_ray_executor_plays_the_pipeline_episodes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    cfg = PipelineConfig(
        out=str(tmp_path / "out"),
        envs=["toy/maze-5"],
        scaffold="generic",
        max_steps=8,
        seeds={"reflection": [0], "gate": [1], "eval": [2, 3]},
        executor="ray",
    )
    pipe = Pipeline(cfg, workdir=str(tmp_path / "work"), quiet=True)
    try:
        rows = pipe._episodes("baseline", pipe._start_scaffold(), [2, 3])
    finally:
        ray.shutdown()
    assert [r.seed for r in rows] == [2, 3] and pipe.played == 2
    assert all(r.pid != os.getpid() for r in rows)  # ran in Ray workers
    assert all(r.stage == "baseline" for r in rows)
