"""``automem bench``, ``automem report`` and ``automem bench-speed``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``bench``, ``report`` and ``bench-speed`` subcommands (those not yet present)."""
    choices = getattr(sub, "choices", {}) or {}
    if "bench" not in choices:
        p = sub.add_parser("bench", help="run a benchmark: agents x envs x seeds, resumable")
        p.add_argument(
            "--env",
            action="append",
            required=True,
            help="crafter | minihack | nethack | all | minihack/<Task> (repeatable)",
        )
        p.add_argument(
            "--agent",
            action="append",
            help="random | explorer | explorer-nomem | explorer-trunc | llm (repeatable; "
            "default explorer)",
        )
        p.add_argument("--episodes", type=int, help="seeds 0..N-1")
        p.add_argument("--seeds", help="seed list, e.g. 0-19 or 1,5,9")
        p.add_argument("--workers", type=int, default=2, help="parallel episodes (default 2)")
        p.add_argument("--out", default="automem-bench", help="output folder")
        p.add_argument("--max-steps", type=int, help="step cap per episode (default: env's)")
        p.add_argument("--levels-dir", help="boxoban-levels folder (Boxoban tasks)")
        p.add_argument("--scaffold", help="scaffold name or path (default: the env family's)")
        p.add_argument("--llm", help="model spec for --agent llm, e.g. openai:gpt-4o-mini")
        p.add_argument("--memory-url", help="fsspec URL for memory stores (default OUT/memory)")
        p.add_argument("--executor", choices=("process", "ray"), default="process")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.set_defaults(func=_bench)
    if "report" not in choices:
        p = sub.add_parser(
            "report", help="tables and plot of a benchmark, structural or pipeline run"
        )
        p.add_argument("dir", help="a bench --out folder, a structural run or a pipeline out")
        p.add_argument(
            "--compare",
            nargs=2,
            metavar=("A", "B"),
            help="agents to compare (default explorer vs explorer-nomem)",
        )
        p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
        p.set_defaults(func=_report)
    if "bench-speed" not in choices:
        p = sub.add_parser("bench-speed", help="raw env steps/s vs through the text wrapper")
        p.add_argument("--game", action="append", help="minihack | nethack | crafter (repeatable)")
        p.add_argument("--steps", type=int, default=2000, help="steps per round (default 2000)")
        p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
        p.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
        p.set_defaults(func=_speed)


def _bench(args: argparse.Namespace) -> int:
    from automem_sdk.benchmarks.bench_report import build_report, print_report
    from automem_sdk.benchmarks.bench_runner import BenchConfig, parse_seeds, run_benchmark
    from rich.console import Console

    config = BenchConfig(
        out=args.out,
        envs=args.env,
        agents=args.agent or ["explorer"],
        seeds=parse_seeds(args.seeds, args.episodes),
        max_steps=args.max_steps,
        levels_dir=args.levels_dir,
        scaffold=args.scaffold,
        llm=args.llm,
        memory_url=args.memory_url,
        workers=args.workers,
        executor=args.executor,
        quiet=args.quiet,
    )
    rows = run_benchmark(config)
    console = Console()
    console.print(f"{len(rows)} episodes in {args.out} (automem report {args.out} for all runs)")
    print_report(build_report(rows), console=console, diagnostics=False, compare=False)
    return 0


def _report(args: argparse.Namespace) -> int:
    from automem_sdk.benchmarks.bench_report import report_dir

    report_dir(
        args.dir, compare=tuple(args.compare) if args.compare else None, plot=not args.no_plot
    )
    return 0


def _speed(args: argparse.Namespace) -> int:
    from automem_sdk.benchmarks.bench_speed import run_speed

    run_speed(games=args.game, steps=args.steps, rounds=args.rounds, quick=args.quick)
    return 0
