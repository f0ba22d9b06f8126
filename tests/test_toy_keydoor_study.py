"""The key-door toy study (``examples/studies/toy_keydoor_study.py``): its population
stages as a user runs them, and their resume."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "studies" / "toy_keydoor_study.py"


def _run(out: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_population_stages_label_the_members_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    printed = _run(out, "--stages", "population", "popeval")
    assert "population eval {'good': 1.0, 'misfile2': 0.0}" in printed
    population = json.loads((out / "population" / "DONE.json").read_text())
    assert population["progression"] == 0.5  # the misfiled half loses every episode
    assert len(list((out / "population" / "traces").glob("s*.jsonl"))) == 40
    results = json.loads((out / "results.json").read_text())
    assert results["population_eval"]["good"] == [1.0] * 20
    assert results["population_eval"]["misfile2"] == [0.0] * 20
    marker = (out / "popeval" / "DONE.json").stat().st_mtime_ns
    again = _run(out, "--stages", "population", "popeval")
    assert "population eval" not in again  # both stages finished: nothing replayed
    assert (out / "popeval" / "DONE.json").stat().st_mtime_ns == marker
    _run(out, "--stages", "popeval", "--redo", "popeval")
    assert (out / "popeval" / "DONE.json").stat().st_mtime_ns != marker


def test_compare_reads_the_recorded_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison and results.json from finished stages' DONE.json (no training)."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    study = importlib.import_module("toy_keydoor_study")
    stages_mod = importlib.import_module("study_stages")
    out = tmp_path / "toy"
    st = stages_mod.Stages(out, study.STAGES, quiet=True)
    good, bad = [1.0] * 20, [0.0] * 20
    st.run("popeval", lambda: {"population_eval": {"good": good, "misfile2": bad}})
    st.run("i-all", lambda: {"rounds": [{"eval_progression": bad}]})
    with pytest.raises(stages_mod.StudyError, match="'iii-verified' has not run"):
        study._compare(st)
    verified = [{"eval_progression": good}, {"eval_progression": good[:10] + bad[:10]}]
    st.run("iii-verified", lambda: {"rounds": verified})
    cmp = study._compare(st)
    assert cmp["iii - i"].startswith("+1.000")  # (iii) wins every seed (i) lost
    assert cmp["iii - population mean"].startswith("+0.500")
    assert cmp["iii round1 - iii"].startswith("-0.500")
    st.run("compare", lambda: cmp)
    study._write_results(st)
    res = json.loads((out / "results.json").read_text())
    assert res["population_eval"]["good"] == good and res["i-all"][0]["eval_progression"] == bad
    assert "ii-old" not in res and res["compare"] == cmp
