"""Any rich table printed through ``print_whole`` keeps its numbers whole."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.table import Table

from automem_sdk.tables import print_whole

CELLS = ("1.000 ± 0.000", "0.300 ± 0.153", "+0.700 ± 0.153", "20 / 88", "[-0.1, +16.8]", "12345.6")


def _table() -> Table:
    t = Table(title="t")
    t.add_column("env")
    for name in ("memory on", "memory off", "on - off (paired)", "steps on/off", "CI", "ops"):
        t.add_column(name)
    for env in ("minihack/CorridorBattle-Dark (seeds 0-99)", "minihack/MazeWalk-15x15 (0-99)"):
        t.add_row(env, *CELLS)
    return t


@pytest.mark.parametrize("terminal", [True, False])
def test_plain_tables_never_wrap_a_number(terminal: bool) -> None:
    console = Console(record=True, width=80, force_terminal=terminal)
    print_whole(console, _table())
    text = console.export_text()
    for cell in CELLS:
        assert text.count(cell) == 2, cell
    assert "…" not in text
    if terminal:
        assert max(len(line) for line in text.splitlines()) <= 80
