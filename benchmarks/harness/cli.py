"""``automem bench``, ``automem report`` and ``automem bench-speed``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``bench``, ``report`` and ``bench-speed`` subcommands (those not yet present)."""
    choices = getattr(sub, "choices", {}) or {}
    if "bench" not in choices:
        _add_bench_parser(sub)
    if "report" not in choices:
        _add_report_parser(sub)
    if "bench-speed" not in choices:
        _add_speed_parser(sub)


def _add_bench_parser(sub: Any) -> None:
    """``automem bench``: agents x envs x seeds."""
    p = sub.add_parser("bench", help="run a benchmark: agents x envs x seeds, resumable")
    _add_bench_agent_options(p)
    _add_bench_run_options(p)
    p.set_defaults(func=_bench_checked)


def _add_bench_agent_options(p: argparse.ArgumentParser) -> None:
    """Envs, agents, the two-model split and the LLM knobs of ``bench``."""
    p.add_argument(
        "--env",
        action="append",
        required=True,
        help="crafter | minihack | nethack | all | minihack/<Task> (repeatable); "
        "conversation[/S|M|L]: the keyless conversational memory benchmark",
    )
    p.add_argument(
        "--agent",
        action="append",
        help="random | explorer | explorer-hist16 (explorer-hist<N>) | explorer-stateless "
        "| explorer-trunc | llm | balrog | balrog+memory | two-model (repeatable; default "
        "explorer, or two-model with --mode two-model)",
    )
    p.add_argument(
        "--mode",
        choices=("unified", "two-model"),
        default="unified",
        help="two-model: --memory-llm runs memory, --task-llm acts (adds agent two-model)",
    )
    p.add_argument("--memory-llm", help="two-model memory model: explorer | blank | an LLM spec")
    p.add_argument(
        "--task-llm",
        default="planner",
        help="two-model task policy: planner (default: acts on what memory returned) "
        "| explorer | an LLM spec",
    )
    p.add_argument("--temperature", type=float, help="LLM sampling temperature")
    p.add_argument("--max-tokens", type=int, help="LLM completion token cap")
    p.add_argument(
        "--history", type=int, default=16, help="history window of LLM agents (default 16)"
    )
    p.add_argument(
        "--max-llm-failures",
        type=int,
        default=5,
        help="consecutive LLM failures that stop the run (default 5)",
    )


def _add_bench_run_options(p: argparse.ArgumentParser) -> None:
    """Seeds, output, observation style and execution of ``bench``."""
    p.add_argument(
        "--episodes",
        type=int,
        help="seeds 0..N-1 (default 30: headline tables need at least 30 seeds)",
    )
    p.add_argument("--seeds", help="seed list, e.g. 0-19 or 1,5,9")
    p.add_argument("--workers", type=int, default=2, help="parallel episodes (default 2)")
    p.add_argument("--out", default="automem-bench", help="output folder")
    p.add_argument("--max-steps", type=int, help="step cap per episode (default: env's)")
    p.add_argument(
        "--levels-dir",
        help="boxoban-levels folder (Boxoban tasks; default: the 300-level subsets shipped "
        "with the package, or $AUTOMEM_BOXOBAN_LEVELS)",
    )
    p.add_argument(
        "--scaffold",
        help="scaffold name or path (default: the env family's; memgpt: the frozen "
        "MemGPT-style baseline, rows labelled <agent>@memgpt)",
    )
    p.add_argument(
        "--obs",
        choices=("default", "balrog", "automem"),
        default="default",
        help="observation style: default (ours), balrog (BALROG's text: NetHack/MiniHack "
        "full screen and cursor) or automem (MiniHack autopickup on); rows of a "
        "non-default style are labelled <agent>@<style>-obs",
    )
    p.add_argument("--llm", help="model spec for --agent llm, e.g. openai:gpt-4o-mini")
    p.add_argument("--memory-url", help="fsspec URL for memory stores (default OUT/memory)")
    p.add_argument("--executor", choices=("process", "ray"), default="process")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--traces",
        help="--env conversation: log the automem condition's traces, with outcomes, here",
    )


def _add_report_parser(sub: Any) -> None:
    """``automem report``: tables and plot of a run folder."""
    p = sub.add_parser("report", help="tables and plot of a benchmark, structural or pipeline run")
    p.add_argument("dir", help="a bench --out folder, a structural run or a pipeline out")
    p.add_argument(
        "--compare",
        nargs=2,
        action="append",
        metavar=("A", "B"),
        help="agents to compare, paired by seed with a 95%% bootstrap CI (repeatable; "
        "default: each memory agent vs its baselines, e.g. explorer vs explorer-hist16 "
        "and explorer-stateless)",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    from automem_sdk.tables import add_format_flag

    add_format_flag(p)
    p.set_defaults(func=_report)


def _add_speed_parser(sub: Any) -> None:
    """``automem bench-speed``: raw env steps/s vs through the text wrapper."""
    p = sub.add_parser("bench-speed", help="raw env steps/s vs through the text wrapper")
    p.add_argument("--game", action="append", help="minihack | nethack | crafter (repeatable)")
    p.add_argument("--steps", type=int, default=2000, help="steps per round (default 2000)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    p.set_defaults(func=_speed)


def _bench(args: argparse.Namespace) -> int:
    from automem_sdk.benchmarks.harness.report import build_report, print_report
    from automem_sdk.benchmarks.harness.runner import BenchConfig, parse_seeds, run_benchmark
    from rich.console import Console

    agents = list(args.agent or [])
    if args.mode == "two-model" and "two-model" not in agents:
        agents.append("two-model")
    config = BenchConfig(
        out=args.out,
        envs=args.env,
        agents=agents or ["explorer"],
        seeds=parse_seeds(args.seeds, args.episodes if args.seeds or args.episodes else 30),
        max_steps=args.max_steps,
        levels_dir=args.levels_dir,
        scaffold=args.scaffold,
        llm=args.llm,
        memory_llm=args.memory_llm,
        task_llm=args.task_llm,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        history=args.history,
        max_llm_failures=args.max_llm_failures,
        obs=args.obs,
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
    from automem_sdk.benchmarks.harness.report import report_dir

    report_dir(
        args.dir,
        compare=[(a, b) for a, b in args.compare] if args.compare else None,
        plot=not args.no_plot,
        fmt=args.format,
    )
    return 0


def _speed(args: argparse.Namespace) -> int:
    from automem_sdk.benchmarks.harness.speed import run_speed

    run_speed(games=args.game, steps=args.steps, rounds=args.rounds, quick=args.quick)
    return 0


# ---------------------------------------------------------------- argument checks
#: BenchConfig field -> the flag that sets it (for one-line errors).
_FLAGS: dict[str, str] = {
    "envs": "--env",
    "agents": "--agent",
    "seeds": "--seeds",
    "workers": "--workers",
    "llm": "--llm",
    "memory_llm": "--memory-llm",
    "task_llm": "--task-llm",
    "scaffold": "--scaffold",
    "max_steps": "--max-steps",
    "temperature": "--temperature",
    "max_tokens": "--max-tokens",
    "history": "--history",
    "max_llm_failures": "--max-llm-failures",
    "obs": "--obs",
}


def check_envs(envs: list[str]) -> None:
    """Refuse an unknown ``--env`` value with one line naming it and the choices.

    Raises:
        UsageError: a value is not a group, ``crafter``, ``nethack`` or ``minihack/<Task>``.
    """
    from automem_sdk.benchmarks.envs.minihack import MINIHACK_TASKS
    from automem_sdk.benchmarks.registry import ENV_GROUPS

    from automem_sdk.cli import UsageError

    for env in envs:
        family, _, task = env.partition("/")
        if not task and env in ENV_GROUPS:
            continue
        if family == "minihack" and task:
            if task.removeprefix("MiniHack-").removesuffix("-v0") in MINIHACK_TASKS:
                continue
            raise UsageError(
                f"--env {env}: unknown MiniHack task {task!r}; tasks: {', '.join(MINIHACK_TASKS)}"
            )
        raise UsageError(
            f"--env {env}: unknown env; use {', '.join(ENV_GROUPS)} or minihack/<Task> "
            f"(tasks: {', '.join(MINIHACK_TASKS)})"
        )


def check_llm(flag: str, spec: str | None) -> None:
    """Refuse a malformed LLM spec (``--llm gpt-4o``) before any episode starts.

    The client is built once and closed: a missing API key is reported now, once.

    Raises:
        UsageError: the spec is not one of ``SPEC_FORMS``.
        LLMError: the provider needs a key that is not set.
    """
    if not spec:
        return
    from automem_sdk.cli import UsageError
    from automem_sdk.llm import SPEC_FORMS, make_client

    try:
        client = make_client(spec)
    except ValueError as exc:
        why = str(exc).split(": ", 1)[-1].split(". Known forms", 1)[0]
        forms = ", ".join(f.split("  ")[0] for f in SPEC_FORMS)
        raise UsageError(f"{flag} {spec}: {why}; use one of: {forms}") from exc
    close = getattr(client, "close", None)
    if callable(close):
        close()


def _bench_checked(args: argparse.Namespace) -> int:
    """``automem bench`` with its arguments checked first (one line per mistake)."""
    from automem_sdk.benchmarks.registry import OFFLINE_BENCHMARKS
    from pydantic import ValidationError

    from automem_sdk.cli import UsageError

    if any(e.split("/")[0] in OFFLINE_BENCHMARKS for e in args.env):
        from automem_sdk.benchmarks.conversation.cli import bench_conversation

        return int(bench_conversation(args))  # the keyless conversational memory benchmark
    check_envs(args.env)
    check_llm("--llm", args.llm)
    if args.memory_url:
        from automem_sdk.cli import s3_preflight

        s3_preflight(args.memory_url)  # credentials, endpoint and bucket, checked once here
    if args.scaffold:
        from automem_sdk.benchmarks.players.memgpt import resolve_scaffold

        from automem_sdk.scaffold import load_scaffold

        load_scaffold(resolve_scaffold(args.scaffold))  # refused before any episode if invalid
    try:
        return _bench(args)
    except ValidationError as exc:
        if exc.title != "BenchConfig":
            raise
        parts = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err.get("loc") else ""
            flag = _FLAGS.get(name, name)
            msg = str(err.get("msg", "")).removeprefix("Value error, ").replace(f" ({flag})", "")
            parts.append(f"{flag}: {msg}")
        raise UsageError("; ".join(parts)) from exc
