"""``automem trace show`` on the quickstart trace and a demo trace, checked against records."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from automem_sdk.cli import main
from automem_sdk.cli_trace import step_views, token_count
from automem_sdk.trace import Trace, read_trace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quickstart_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trace examples/quickstart.py writes (run as a user would)."""
    where = tmp_path_factory.mktemp("qs")
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        cwd=where,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return where / "quickstart-memory-trace.jsonl"


def _show(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    os.environ.setdefault("COLUMNS", "200")
    assert main(["trace", "show", *argv]) == 0
    return capsys.readouterr().out


def _memory_ops(tr: Trace) -> int:
    return sum(1 for t in tr.turns for op in t.ops if op["op"] not in ("done", "action", "invalid"))


def test_quickstart_steps_come_from_turns(quickstart_trace: Path) -> None:
    tr = read_trace(str(quickstart_trace))
    assert tr.steps == [] and tr.footer is not None  # agent.step(obs): no env step records
    views, from_records = step_views(tr)
    assert not from_records
    assert [v.step for v in views] == list(range(tr.footer.steps))
    acts = [t.action for t in tr.turns if t.routine == "act"]
    assert [v.action for v in views] == acts
    assert views[0].log_ops == ["append notes.md"]
    assert all(v.plan_ops == ["search notes.md"] for v in views)


def test_quickstart_show_matches_the_footer(
    quickstart_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tr = read_trace(str(quickstart_trace))
    assert tr.footer is not None
    out = _show(capsys, str(quickstart_trace))
    assert f"{tr.footer.steps} steps, listed from routine turns" in out
    assert "steps (0)" not in out and "differs" not in out
    assert _memory_ops(tr) == tr.footer.n_ops
    words = sum(t.usage.total_tokens for t in tr.turns)
    assert words == tr.footer.usage.total_tokens
    assert f"{words:,} words counted by the scripted client" in out
    assert "per-step figures need env step records" in out


def test_csv_rows_are_the_records(
    quickstart_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _show(capsys, str(quickstart_trace), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    tr = read_trace(str(quickstart_trace))
    assert [r["action"] for r in rows] == [t.action for t in tr.turns if t.routine == "act"]
    data = json.loads(_show(capsys, str(quickstart_trace), "--format", "json"))
    assert [d["step"] for d in data] == [0, 1, 2] and data[0]["LOG ops"] == "append notes.md"


def test_errors_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from automem_sdk import wrap
    from automem_sdk.llm import ScriptedClient

    trace = tmp_path / "t.jsonl"
    agent = wrap(
        lambda obs, memory: "explore",
        memory=(tmp_path / "m").as_uri(),
        llm=ScriptedClient(["<|READ|>missing.md<|END|><|DONE|>", "<|BOGUS|>x<|END|>"]),
        actions=["explore"],
        trace=str(trace),
    )
    agent.step("A hall.")
    agent.finish()
    tr = read_trace(str(trace))
    routines = [t for t in tr.turns if t.routine in ("log", "plan")]
    failed = [r for t in routines for r in t.results if not r.get("ok", True)]
    parse = [e for t in routines for e in t.parse_errors]
    assert failed or parse
    out = _show(capsys, str(trace), "--turns")
    assert f"{len(failed) + len(parse)} errors and fallbacks" in out
    assert "missing.md" in out


@pytest.mark.games
def test_demo_trace_tokens_and_totals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("minihack")
    from automem_sdk.benchmarks.harness.demo import play

    trace = tmp_path / "demo.jsonl.gz"
    job = {
        "env": "minihack/MazeWalk-9x9",
        "max_steps": 12,
        "seed": 0,
        "mode": "on",
        "memory": str(tmp_path / "mem"),
        "trace": str(trace),
    }
    res = play(job)
    tr = read_trace(str(trace))
    assert tr.footer is not None
    views, from_records = step_views(tr)
    assert from_records and len(views) == len(tr.steps) == tr.footer.steps == res["steps"]
    assert [v.action for v in views] == [s.action for s in tr.steps]
    tc = token_count(tr.turns)
    assert tc.reported == 0 and tc.turns_estimated > 0  # a keyless explorer reports no usage
    assert tc.estimated == pytest.approx(res["diagnostics"]["tokens/step"] * len(tr.steps))
    out = _show(capsys, str(trace))
    assert f"~{tc.estimated:,} estimated from text at 4 chars/token" in out
    assert "differs" not in out
    assert _memory_ops(tr) == tr.footer.n_ops


def test_an_action_outside_the_set_is_a_named_fallback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automem_sdk import wrap
    from automem_sdk.llm import ScriptedClient

    trace = tmp_path / "t.jsonl"
    agent = wrap(
        lambda obs, memory: "fly",
        memory=(tmp_path / "m").as_uri(),
        llm=ScriptedClient(["<|DONE|>"], when_exhausted="cycle"),
        actions=["explore", "open door"],
        trace=str(trace),
    )
    assert agent.step("A hall.") == "explore"
    agent.finish()
    tr = read_trace(str(trace))
    fb = [t for t in tr.turns if t.fallback]
    assert len(fb) == 1 and "'fly' is not one of the actions" in fb[0].results[0]["text"]
    out = _show(capsys, str(trace))
    assert "(fallback)" in out and "'fly' is not one of the actions (explore, open door)" in out
