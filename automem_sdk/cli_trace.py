"""``automem trace show FILE``: a trace as tables, with its diagnostics."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register", "show_trace"]


def register(sub: Any) -> None:
    """Add the ``trace`` command."""
    p = sub.add_parser("trace", help="inspect logged trajectories")
    tsub = p.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)
    show = tsub.add_parser("show", help="show a trace file (.jsonl or .jsonl.gz, any fsspec URL)")
    show.add_argument("file")
    show.add_argument("--turns", action="store_true", help="print every routine turn's output")
    show.add_argument("--limit", type=int, default=50, help="max steps to list (default 50)")
    show.add_argument("--storage-options", default="{}", help="fsspec options as JSON")
    show.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    show_trace(
        args.file,
        turns=args.turns,
        limit=args.limit,
        storage_options=json.loads(args.storage_options),
    )
    return 0


def show_trace(
    url: str, *, turns: bool = False, limit: int = 50, storage_options: dict[str, Any] | None = None
) -> None:
    """Print a trace's header, its steps, footer and diagnostics with rich."""
    from rich.console import Console
    from rich.table import Table

    from automem_sdk.diagnostics import diagnose
    from automem_sdk.trace import read_trace

    console = Console()
    tr = read_trace(url, storage_options)
    h = tr.header
    console.print(
        f"[bold]{h.env}[/] seed={h.seed} scaffold={h.scaffold_id} mode={h.mode} "
        f"models={h.models} sdk={h.sdk_version} run={h.run_id}"
    )
    by_step: dict[int, list[Any]] = {}
    for t in tr.turns:
        by_step.setdefault(t.step, []).append(t)
    table = Table(title=f"steps ({len(tr.steps)})")
    for col in ("step", "memory ops", "action", "reward", "changed"):
        table.add_column(col)
    for s in tr.steps[:limit]:
        ops = [op.get("op", "?") for t in by_step.get(s.step, []) for op in t.ops]
        table.add_row(str(s.step), " ".join(ops), s.action, f"{s.reward:g}", str(s.changed))
    console.print(table)
    if len(tr.steps) > limit:
        console.print(f"... {len(tr.steps) - limit} more steps")
    if turns:
        for t in tr.turns:
            console.rule(f"step {t.step} {t.routine} turn {t.turn} ({t.model})")
            console.print(t.output, markup=False)
    if tr.footer is None:
        console.print("[yellow]no footer: the run did not finish (showing the readable prefix)[/]")
    else:
        f = tr.footer
        console.print(
            f"progression={f.progression:.3f} steps={f.steps} reward={f.total_reward:g} "
            f"ops={f.n_ops} tokens={f.usage.total_tokens} wall={f.wall_s:.1f}s"
        )
    diag = Table(title="diagnostics")
    diag.add_column("metric")
    diag.add_column("value", justify="right")
    for k, v in diagnose(tr).summary().items():
        diag.add_row(k, f"{v:.3f}")
    console.print(diag)
