"""bench-speed: ``--quick`` prints its rows (no timing assertions)."""

from __future__ import annotations

import pytest
from automem_sdk.benchmarks.bench_speed import run_speed
from rich.console import Console

from automem_sdk.errors import AutomemError

pytest.importorskip("minihack", reason="minihack is not installed")


@pytest.mark.games
def test_quick_prints_a_row_per_game() -> None:
    console = Console(record=True, width=160)
    rows = run_speed(["minihack", "nethack"], quick=True, console=console)
    text = console.export_text()
    assert [r.game for r in rows] == ["minihack", "nethack"]
    for r in rows:
        assert r.raw_sps > 0 and r.wrapped_sps > 0
        assert r.ratio == pytest.approx(r.wrapped_sps / r.raw_sps)
        assert r.game in text and r.target in text
    assert "wrapped / raw" in text and "--quick" in text


def test_unknown_game_is_an_error() -> None:
    with pytest.raises(AutomemError, match="unknown game"):
        run_speed(["pong"], quick=True, console=Console(record=True))
