"""Smoke test of the speed report (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from automem_sdk.perf import naive_search
from automem_sdk.store import MemoryStore


def test_perf_quick_prints_every_row(tmp_path: Path) -> None:
    out_json = tmp_path / "perf.json"
    proc = subprocess.run(
        [sys.executable, "-m", "automem_sdk.perf", "--quick", "--json", str(out_json)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    text = proc.stdout
    for needle in ("write", "append", "read", "search", "memory", "file", "durable", "s3"):
        assert needle in text, needle
    assert "index vs naive full scan" in text and "ratio" in text
    assert "import automem_sdk" in text and "import automem_sdk.store" in text
    figures = json.loads(out_json.read_text())
    assert set(figures["ops"]) == {"memory", "file", "file (durable)", "s3"}
    for name in ("memory", "file", "file (durable)"):
        assert set(figures["ops"][name]) == {"write", "append", "read", "search"}
    for name in ("memory", "file"):
        assert figures["search"][name]["notes"] == 200
        assert figures["search"][name]["ratio"] > 0
    assert figures["import_ms"] > 0


def test_naive_search_agrees_with_the_index(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    store.write("a.md", "Iron pickaxe\nstone\n")
    store.write("b/c.md", "no iron here? IRON!\n")
    want = [(h.path, h.line, h.text) for h in store.search("iron")]
    assert naive_search(store, "iron") == want
    assert len(want) == 2
    assert naive_search(store, "iron", limit=1) == want[:1]
