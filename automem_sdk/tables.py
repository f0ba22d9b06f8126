"""Tables for people and for pipes: one way to print them everywhere.

:func:`emit_table` prints rows as a rich table, Markdown, CSV or JSON (the ``--format``
flag of table-printing commands, :func:`add_format_flag`). :func:`print_whole` prints
any ``rich`` table without cutting a number: columns of numbers never wrap, text
columns fold, and a table too wide for the terminal is printed in column blocks that
repeat the row labels; piped, a table is as wide as it needs to be.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "FORMATS",
    "add_format_flag",
    "emit_table",
    "numeric_column",
    "print_whole",
]


#: Output formats of table-printing commands (``--format``).
FORMATS: tuple[str, ...] = ("table", "md", "csv", "json")


def add_format_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--format table|md|csv|json`` (default ``table``) to a table-printing command."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default, for a terminal), md, csv or json (for piping)",
    )


def _cell(value: object, spec: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and spec:
        return format(value, spec)
    return str(value)


def emit_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    fmt: str = "table",
    numeric: Sequence[str] = (),
    floats: dict[str, str] | None = None,
    note: str = "",
    console: Any = None,
    keys: int = 1,
) -> None:
    """Print one table as a rich table, Markdown, CSV or JSON.

    In a terminal the table fits its width: text columns wrap (folding long names),
    numeric columns never wrap and are never cut; a table too wide even so is printed in
    column blocks, each repeating the ``keys`` columns. Piped (not a terminal), the table is
    as wide as it needs to be, so nothing is cut either. ``md``/``csv``/``json`` print
    plain data to stdout (JSON: a list of objects with the raw values).

    Args:
        title: what the table shows (a heading in ``table``/``md``; left out of CSV/JSON).
        columns: column names.
        rows: one sequence of values per row (str, int, float or None).
        fmt: one of :data:`FORMATS`.
        numeric: columns right-aligned and never wrapped.
        floats: format spec per column for float values (e.g. ``{"mean": ".3f"}``).
        note: a line printed under the table (``table`` and ``md`` only).
        console: a ``rich.console.Console`` to print to (``table`` only).
        keys: leading columns that label a row; a table too wide for the terminal is
            printed in column blocks that each repeat them (``table`` only).
    """
    floats = floats or {}
    if fmt == "json":
        import json

        records = [dict(zip(columns, r, strict=True)) for r in rows]
        sys.stdout.write(json.dumps(records, indent=1, default=str) + "\n")
        return
    cells = [[_cell(v, floats.get(c, "")) for c, v in zip(columns, r, strict=True)] for r in rows]
    if fmt == "csv":
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        w.writerows(cells)
        return
    if fmt == "md":
        esc = [[x.replace("|", "\\|").replace("\n", " ") for x in r] for r in cells]
        out = [f"**{title}**", "", "| " + " | ".join(columns) + " |"]
        out.append("|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|")
        out += ["| " + " | ".join(r) + " |" for r in esc]
        if note:
            out += ["", note]
        sys.stdout.write("\n".join(out) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    table = Table()
    for i, c in enumerate(columns):
        if c in numeric:
            numeric_column(table, c, [r[i] for r in cells])
        else:
            table.add_column(c, overflow="fold")
    for r in cells:
        table.add_row(*(Text(x) for x in r))
    console.print(Text(title, style="bold"))  # above the table: never squeezed to its width
    print_whole(console, table, keys=keys)
    if note:
        console.print(note, highlight=False)


def numeric_column(table: Any, name: str, cells: Sequence[str]) -> None:
    """Add a right-aligned column to a ``rich`` table that never wraps and is as wide as
    its longest cell (so a number is never folded or cut with an ellipsis)."""
    width = max([len(name), *(len(c) for c in cells)])
    table.add_column(name, justify="right", no_wrap=True, min_width=width)


#: Narrowest a text column is squeezed to before a table is split into column blocks.
_READABLE = 16
#: A cell made only of numbers and the signs around them (``0.912 ± 0.031``, ``+6.7
#: [-0.1, +16.8]``, ``39 / 88``, ``97%``): such a column is never wrapped.
_NUM_CHARS = r"[\s\d.,:+\-\u2212\u00b1%/\[\]()x\u00d7eE]"
_NUMERIC_CELL = re.compile(f"^{_NUM_CHARS}*\\d{_NUM_CHARS}*$")


def print_whole(console: Any, table: Any, *, keys: int = 1) -> None:
    """Print a ``rich`` table whole, never cutting a number.

    In a terminal a table that fits is printed as it is (text columns fold). One that
    would not fit with its text columns at a readable width is printed as several
    tables, each with the first ``keys`` columns (the row labels) and as many other
    columns as fit. Piped, the table is as wide as it needs to be, so nothing is cut.

    The table's columns are adjusted in place: a column of numbers is set not to wrap
    (at its widest cell's width), a text column to fold rather than cut.
    """
    _protect_numbers(table)
    if not console.is_terminal:
        width = console.width
        need = console.measure(table, options=console.options.update(width=10_000)).maximum
        console.width = max(width, need)
        try:
            console.print(table)
        finally:
            console.width = width
        return
    widths = [_column_width(console, c) for c in table.columns]
    if sum(w + 3 for w in widths) + 1 <= console.width or len(table.columns) <= keys + 1:
        console.print(table)
        return
    fixed = sum(widths[i] + 3 for i in range(keys)) + 1
    blocks: list[list[int]] = [[]]
    used = fixed
    for i in range(keys, len(table.columns)):
        if blocks[-1] and used + widths[i] + 3 > console.width:
            blocks.append([])
            used = fixed
        blocks[-1].append(i)
        used += widths[i] + 3
    for k, block in enumerate(blocks, 1):
        part = _sub_table(table, [*range(keys), *block])
        part.caption = f"columns {k}/{len(blocks)}"
        console.print(part)


def _protect_numbers(table: Any) -> None:
    """Make every column whose cells are all numbers (see :data:`_NUMERIC_CELL`) one that
    never wraps and is as wide as its widest cell or header; text columns fold a long
    word instead of cutting it with an ellipsis."""
    for column in table.columns:
        texts = [str(getattr(c, "plain", c)).strip() for c in column.cells]
        filled = [t for t in texts if t]
        if column.no_wrap:
            continue
        if not filled or not all(_NUMERIC_CELL.match(t) for t in filled):
            if column.overflow == "ellipsis":
                column.overflow = "fold"
            continue
        column.no_wrap = True
        header = str(getattr(column.header, "plain", column.header))
        column.min_width = max([column.min_width or 0, len(header), *(len(t) for t in texts)])


def _column_width(console: Any, column: Any) -> int:
    """A column's width: its longest cell or header; text columns at most :data:`_READABLE`."""
    from rich.measure import Measurement

    opts = console.options.update(width=10_000)
    longest = max(
        [Measurement.get(console, opts, x).maximum for x in [column.header, *column.cells]]
    )
    return longest if column.no_wrap else min(longest, max(_READABLE, column.min_width or 0))


def _sub_table(table: Any, indices: Sequence[int]) -> Any:
    from rich.table import Table

    cols = [table.columns[i] for i in indices]
    part = Table(title=table.title, show_lines=table.show_lines)
    for c in cols:
        part.add_column(
            c.header,
            justify=c.justify,
            no_wrap=c.no_wrap,
            min_width=c.min_width,
            overflow=c.overflow,
        )
    cells = [list(c.cells) for c in cols]
    for row in zip(*cells, strict=True):
        part.add_row(*row)
    return part
