"""With vs without memory: the NLE explorer on MiniHack/NetHack over many seeds.

Usage::

    python -m automem_sdk.benchmarks.players.compare_nle --task MazeWalk-15x15 --seeds 20

Each seed runs twice through :func:`~automem_sdk.agent.run_episode` with the same
:class:`~automem_sdk.benchmarks.players.NLEExplorer`: once with the agent's memory on,
once with ``memory="off"`` (its reads come back as errors). Each episode gets a fresh
in-memory store. Prints a table of mean progression ± standard error and the paired
difference.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import uuid
from typing import Any

from automem_sdk.tables import print_whole

__all__ = ["compare", "main", "register"]


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, se


def compare(
    task: str,
    seeds: list[int],
    *,
    max_steps: int | None = None,
    levels_dir: str | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the explorer with memory on and off on each seed.

    Args:
        task: a MiniHack task short name or ``"nethack"``.
        seeds: episode seeds.
        max_steps: step limit per episode (default: the task's).
        levels_dir: Boxoban level folder.
        quiet: no progress bar.

    Returns:
        ``{"on": [...], "off": [...], "steps_on": [...], "steps_off": [...], "wall_s": ...}``.
    """
    from rich.progress import Progress

    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.store import MemoryStore

    from .nle_explorer import NLEExplorer

    if task == "nethack":
        from automem_sdk.benchmarks.envs.nethack import make_nethack

        nkw: dict[str, Any] = {"max_steps": max_steps} if max_steps else {}
        env: Any = make_nethack(**nkw)
        scaffold = "nethack"
    else:
        from automem_sdk.benchmarks.envs.minihack import make_minihack

        kwargs: dict[str, Any] = {"levels_dir": levels_dir}
        if max_steps:
            kwargs["max_steps"] = max_steps
        env = make_minihack(task, **kwargs)
        scaffold = "minihack"
    out: dict[str, Any] = {"on": [], "off": [], "steps_on": [], "steps_off": []}
    t0 = time.perf_counter()
    run_id = uuid.uuid4().hex[:8]
    try:
        with Progress(disable=quiet or not sys.stderr.isatty(), transient=True) as bar:
            job = bar.add_task(f"{task}: episodes", total=2 * len(seeds))
            for seed in seeds:
                for mode in ("on", "off"):
                    store = MemoryStore(f"memory://compare-nle/{run_id}/{mode}/{seed}")
                    agent = MemoryAgent(
                        store, scaffold, NLEExplorer(memory=True, seed=seed), memory=mode
                    )
                    res = run_episode(env, agent, seed, max_steps=max_steps)
                    out[mode].append(res.progression)
                    out[f"steps_{mode}"].append(res.steps)
                    bar.advance(job)
    finally:
        env.close()
    out["wall_s"] = time.perf_counter() - t0
    return out


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="MazeWalk-15x15", help="MiniHack task or 'nethack'")
    p.add_argument("--seeds", type=int, default=20, help="number of seeds (first-seed..)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--levels-dir", default=None, help="Boxoban levels folder")
    p.add_argument("--quiet", action="store_true")


def register(subparsers: Any) -> None:
    """Add the ``explorer-compare`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "explorer-compare", help="NLE explorer with vs without memory over many seeds"
    )
    _add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    res = compare(
        args.task,
        seeds,
        max_steps=args.max_steps,
        levels_dir=args.levels_dir,
        quiet=args.quiet,
    )
    table = Table(title=f"NLE explorer on {args.task}: {len(seeds)} seeds")
    for col in ("memory", "progression (mean ± SE)", "progression = 1", "steps (mean)"):
        table.add_column(col)
    for mode in ("on", "off"):
        m, se = _mean_se(res[mode])
        won = sum(1 for v in res[mode] if v >= 1.0)
        table.add_row(
            mode,
            f"{m:.3f} ± {se:.3f}",
            f"{won}/{len(seeds)}",
            f"{statistics.fmean(res[f'steps_{mode}']):.1f}",
        )
    diff = [a - b for a, b in zip(res["on"], res["off"], strict=True)]
    dm, dse = _mean_se(diff)
    table.add_row("on - off (paired)", f"{dm:+.3f} ± {dse:.3f}", "", "")
    console = Console()
    print_whole(console, table)
    console.print(f"wall time {res['wall_s']:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    _add_arguments(p)
    return _run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
