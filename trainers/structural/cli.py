"""``automem train structural``: run, resume or report a structural trainer run."""

from __future__ import annotations

import argparse
from typing import Any

from automem_sdk.tables import print_whole

__all__ = ["add_parser", "build_config", "run_command"]

_EPILOG = """\
examples:
  automem train structural --env minihack/MazeWalk-9x9 --scaffold cramped-minihack \\
      --reflection-seeds 0-7 --gate-seeds 100-115 --gate-reserve 116-147 \\
      --final-seeds 1000-1029 --iterations 5 --run-dir runs/s1
  automem train structural --run-dir runs/s1 --resume        # after a kill or STOP
  automem train structural --run-dir runs/s1 --report        # chain, table and plot
  automem train structural --env toy/maze-6 --scaffold cramped-map \\
      --reflection-seeds 0-3 --gate-seeds 100-107 --max-steps 60 --run-dir runs/toy
Create the file RUN_DIR/STOP to stop cleanly between steps.
"""


def add_parser(sub: Any) -> None:
    """Add the ``structural`` sub-command under ``automem train``."""
    p = sub.add_parser(
        "structural",
        help="rewrite the memory scaffold, keeping changes that win on unseen seeds",
        description=(
            "Iterations of reflect -> propose -> validate -> gate -> accept/reject. "
            "The run directory holds state.json, ledger.jsonl, every candidate scaffold "
            "and the evaluation cache; it resumes after a kill with --resume."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_options(p)
    _add_seed_options(p)
    _add_loop_options(p)
    _add_agent_options(p)
    _add_budget_options(p)
    _add_execution_options(p)
    p.set_defaults(func=run_command)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The run directory, what to do with it, the envs and the start scaffold."""
    p.add_argument("--run-dir", required=True, help="the run directory")
    p.add_argument(
        "--resume",
        action="store_true",
        help=(
            "continue the run in --run-dir with its saved settings (budget options and "
            "--iterations given here replace the saved ones)"
        ),
    )
    p.add_argument("--report", action="store_true", help="print the report of --run-dir and exit")
    p.add_argument(
        "--env",
        action="append",
        dest="envs",
        metavar="ENV",
        help="env name, e.g. minihack/MazeWalk-9x9 or toy/maze-6 (repeatable)",
    )
    p.add_argument(
        "--scaffold",
        default="generic",
        help=(
            "starting scaffold: built-in name, YAML/JSON path, or a deliberately poor demo "
            "scaffold (cramped-map, cramped-minihack)"
        ),
    )


def _add_seed_options(p: argparse.ArgumentParser) -> None:
    """Reflection, gate, reserve and final seeds, and offline traces."""
    seeds = p.add_argument_group("seeds")
    seeds.add_argument(
        "--reflection-seeds", metavar="SEEDS", help="seeds the proposer sees, e.g. 0-3"
    )
    seeds.add_argument(
        "--gate-seeds", metavar="SEEDS", help="seeds candidates are judged on, e.g. 100-111"
    )
    seeds.add_argument(
        "--gate-reserve",
        metavar="SEEDS",
        help=(
            "extra gate seeds for a sequential gate: added while a candidate is undecided, "
            "the error rate split over the looks"
        ),
    )
    seeds.add_argument(
        "--gate-stride",
        type=int,
        default=0,
        help="refresh the gate seeds: iteration i uses each gate seed + (i-1)*STRIDE",
    )
    seeds.add_argument(
        "--final-seeds",
        metavar="SEEDS",
        help="seeds nobody used (>= 30): the accepted scaffold vs the start, with a 95%% CI",
    )
    seeds.add_argument(
        "--allow-seed-overlap",
        action="store_true",
        help="permit gate seeds that the proposer saw (an in-sample gate)",
    )
    seeds.add_argument(
        "--traces", metavar="DIR", help="reflect on logged traces in this directory (offline)"
    )


def _add_loop_options(p: argparse.ArgumentParser) -> None:
    """Iterations, proposer and the gate rule."""
    loop = p.add_argument_group("loop")
    loop.add_argument(
        "--iterations", type=int, help="iterations in all (default 5; may be raised on --resume)"
    )
    loop.add_argument(
        "--proposer",
        default="heuristic",
        help=(
            "'heuristic', 'search' (keyless mutations), an LLM spec (anthropic:MODEL, "
            "openai:MODEL, vllm:MODEL@URL, ...), or several joined by '+' (heuristic+search)"
        ),
    )
    loop.add_argument(
        "--proposer-retries", type=int, default=2, help="retries of an invalid proposal"
    )
    loop.add_argument(
        "--proposer-max-tokens", type=int, default=4096, help="reply budget of the LLM proposer"
    )
    loop.add_argument(
        "--rule",
        choices=["bootstrap", "sign-test", "strict-mean", "no-regression"],
        default="bootstrap",
        help="gate rule on paired per-seed scores (default bootstrap)",
    )
    loop.add_argument("--min-delta", type=float, default=0.0, help="margin a candidate must win by")
    loop.add_argument("--confidence", type=float, default=0.9, help="bootstrap confidence")
    loop.add_argument("--bootstrap-samples", type=int, default=2000, help="bootstrap resamples")
    loop.add_argument("--rng-seed", type=int, default=0, help="seed of the bootstrap RNG")
    loop.add_argument(
        "--metric",
        choices=["progression", "reward"],
        default="progression",
        help="per-episode score the gate compares",
    )


def _add_agent_options(p: argparse.ArgumentParser) -> None:
    """The agent that plays the episodes."""
    agent = p.add_argument_group("agent")
    agent.add_argument(
        "--agent",
        default="explorer",
        help=(
            "'explorer' (keyless), 'prompt-explorer' (keyless, reads memory from its prompt "
            "text) or an LLM spec for the agent"
        ),
    )
    agent.add_argument("--task-agent", help="task policy spec for --mode two-model/observe")
    agent.add_argument(
        "--mode",
        choices=["unified", "two-model", "observe"],
        default="unified",
        help="MemoryAgent mode (default unified)",
    )
    agent.add_argument("--max-steps", type=int, help="step cap per episode")
    agent.add_argument("--no-memory", action="store_true", help="play without memory")


def _add_budget_options(p: argparse.ArgumentParser) -> None:
    """Budgets the run stops at, and token prices."""
    budget = p.add_argument_group("budgets and prices")
    budget.add_argument("--budget-episodes", type=int, help="most episodes the run may use")
    budget.add_argument("--budget-steps", type=int, help="most env steps the run may use")
    budget.add_argument(
        "--budget-tokens", type=int, help="most tokens (agent and proposer) the run may use"
    )
    budget.add_argument("--budget-usd", type=float, help="most dollars the run may spend")
    budget.add_argument("--price-in", type=float, default=0.0, help="agent $/M input tokens")
    budget.add_argument("--price-out", type=float, default=0.0, help="agent $/M output tokens")
    budget.add_argument(
        "--proposer-price-in", type=float, default=0.0, help="proposer $/M input tokens"
    )
    budget.add_argument(
        "--proposer-price-out", type=float, default=0.0, help="proposer $/M output tokens"
    )


def _add_execution_options(p: argparse.ArgumentParser) -> None:
    """Cache, parallelism and output."""
    run = p.add_argument_group("execution")
    run.add_argument("--cache", help="evaluation cache directory (default RUN_DIR/cache)")
    run.add_argument("--workers", type=int, default=1, help="episodes in parallel")
    run.add_argument("--quiet", action="store_true", help="no progress output")


def _budget(args: argparse.Namespace) -> Any:
    from automem_sdk.trainers.structural.config import Budget

    return Budget(
        episodes=args.budget_episodes,
        env_steps=args.budget_steps,
        tokens=args.budget_tokens,
        usd=args.budget_usd,
    )


def build_config(args: argparse.Namespace) -> Any:
    """A :class:`StructuralConfig` from parsed arguments.

    Raises:
        StructuralError: required options are missing.
    """
    from automem_sdk.trainers.structural.config import AgentConfig, Prices, StructuralConfig
    from automem_sdk.trainers.structural.errors import StructuralError
    from automem_sdk.trainers.structural.seeds import parse_seeds

    missing = [
        flag
        for flag, value in (("--env", args.envs), ("--gate-seeds", args.gate_seeds))
        if not value
    ]
    if not args.reflection_seeds and not args.traces:
        missing.append("--reflection-seeds (or --traces)")
    if missing:
        raise StructuralError(f"a new run needs {', '.join(missing)}")
    try:
        refl = parse_seeds(args.reflection_seeds) if args.reflection_seeds else []
        gate = parse_seeds(args.gate_seeds)
        reserve = parse_seeds(args.gate_reserve) if args.gate_reserve else []
        final = parse_seeds(args.final_seeds) if args.final_seeds else []
    except ValueError as exc:
        raise StructuralError(str(exc)) from exc
    return StructuralConfig(
        envs=args.envs,
        scaffold=args.scaffold,
        reflection_seeds=refl,
        gate_seeds=gate,
        gate_reserve=reserve,
        gate_stride=args.gate_stride,
        final_seeds=final,
        allow_seed_overlap=args.allow_seed_overlap,
        traces=args.traces,
        iterations=5 if args.iterations is None else args.iterations,
        proposer=args.proposer,
        proposer_retries=args.proposer_retries,
        proposer_max_tokens=args.proposer_max_tokens,
        rule=args.rule,
        min_delta=args.min_delta,
        confidence=args.confidence,
        bootstrap_samples=args.bootstrap_samples,
        rng_seed=args.rng_seed,
        metric=args.metric,
        agent=AgentConfig(
            decider=args.agent,
            mode=args.mode,
            task_decider=args.task_agent,
            memory="off" if args.no_memory else "on",
            max_steps=args.max_steps,
        ),
        budget=_budget(args),
        agent_prices=Prices(input_per_mtok=args.price_in, output_per_mtok=args.price_out),
        proposer_prices=Prices(
            input_per_mtok=args.proposer_price_in, output_per_mtok=args.proposer_price_out
        ),
    )


def run_command(args: argparse.Namespace) -> int:
    """Run, resume or report (the ``func`` of ``automem train structural``)."""
    from automem_sdk.trainers.structural.loop import StructuralTrainer
    from automem_sdk.trainers.structural.report import render_structural_report
    from rich.console import Console
    from rich.table import Table

    if args.report:
        render_structural_report(args.run_dir)
        return 0
    if args.resume:
        trainer = StructuralTrainer(
            args.run_dir, cache_dir=args.cache, workers=args.workers, quiet=args.quiet
        )
        saved = trainer.dir.read_config()
        changes: dict[str, Any] = {}
        budget = _budget(args)
        if any(v is not None for v in budget.model_dump().values()):
            changes["budget"] = budget
        if args.iterations is not None:
            changes["iterations"] = args.iterations
        if changes:
            trainer.config = saved.model_copy(update=changes)
        state = trainer.run(resume=True)
    else:
        trainer = StructuralTrainer(
            args.run_dir,
            build_config(args),
            cache_dir=args.cache,
            workers=args.workers,
            quiet=args.quiet,
        )
        state = trainer.run()
    entries = trainer.dir.read_ledger()
    table = Table(title=f"structural run {args.run_dir}")
    table.add_column("field")
    table.add_column("value")
    table.add_row("status", f"{state.status} ({state.reason})" if state.reason else state.status)
    table.add_row("iterations in ledger", str(len(entries)))
    table.add_row("accepted", str(sum(e.decision == "accept" for e in entries)))
    table.add_row("rejected", str(sum(e.decision == "reject" for e in entries)))
    table.add_row("invalid", str(sum(e.decision == "invalid" for e in entries)))
    table.add_row("chain", " -> ".join(state.accepted))
    table.add_row("best scaffold", str(trainer.dir.root / "best.yaml"))
    table.add_row(
        "episodes this invocation",
        f"{trainer.eval_stats.fresh} played, {trainer.eval_stats.cached} from the cache",
    )
    sp = state.spend
    table.add_row(
        "spend (run)",
        f"{sp.episodes} episodes, {sp.env_steps} env steps, {sp.tokens} tokens, ${sp.usd:.4f}",
    )
    print_whole(Console(), table)
    return 0
