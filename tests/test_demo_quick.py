"""``automem demo --quick`` runs a real game with memory on local disk and prints the table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from automem_sdk import MemoryStore, read_trace

pytestmark = pytest.mark.games


def _demo(out: Path, columns: int = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "automem_sdk.cli",
            "demo",
            "--quick",
            "--out",
            str(out),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": str(columns)},
    )


def test_demo_quick(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = _demo(out)
    assert proc.returncode == 0, proc.stderr
    assert "memory on" in proc.stdout and "MazeWalk-9x9" in proc.stdout
    summary = json.loads((out / "demo.json").read_text())
    row = summary["envs"]["minihack/MazeWalk-9x9"]
    assert set(row) == {"on", "off", "diff"}
    assert row["diff"]["mean"] == pytest.approx(row["on"]["mean"] - row["off"]["mean"])
    # memory really is on local disk, and the memory-off run wrote nothing
    on_store = MemoryStore((out / "memory" / "on" / "minihack__MazeWalk-9x9" / "0").as_uri())
    assert "map.md" in on_store.list() and on_store.read("map.md").strip()
    assert not list((out / "memory" / "off").rglob("map.md"))
    tr = read_trace(str(out / "traces" / "on" / "minihack__MazeWalk-9x9" / "0.jsonl.gz"))
    assert tr.complete and any(op["op"] == "upsert" for t in tr.turns for op in t.ops)
    # a rerun in the same folder starts from fresh stores: the same numbers, and piped
    # at 80 columns the table keeps every number whole
    again = _demo(out, columns=80)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "demo.json").read_text())["envs"] == summary["envs"]
    on = f"{row['on']['mean']:.3f} ± {row['on']['se']:.3f}"
    assert on in again.stdout and "…" not in again.stdout
