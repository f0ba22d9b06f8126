"""``automem demo``: with vs without memory on real games, keyless, memory on local disk.

The keyless explorer plays each seed twice with the same policy: once with its memory
on (it keeps its map in ``map.md`` through memory ops and plans from what it reads
back), once with ``memory="off"`` (its reads come back as errors). Memory stores and
traces are written under ``--out``; the table shows mean progression ± SE, the paired
difference and the trace diagnostics.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from automem_sdk.tables import print_whole

__all__ = ["DEMO_ENVS", "play", "register", "run_demo"]

#: (env name, step cap) played by default.
DEMO_ENVS: tuple[tuple[str, int], ...] = (
    ("minihack/MazeWalk-9x9", 100),
    ("minihack/MazeWalk-15x15", 100),
)


def play(job: dict[str, Any]) -> dict[str, Any]:
    """Play one (env, seed, memory on/off) episode on a fresh memory store (a store left
    by an earlier demo in the same folder is replaced, so a rerun gives the same
    numbers); return its numbers."""
    import shutil

    from automem_sdk.benchmarks.registry import make_env, make_explorer

    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.diagnostics import diagnose
    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import read_trace

    shutil.rmtree(job["memory"], ignore_errors=True)
    env = make_env(job["env"], max_steps=job["max_steps"])
    scaffold = "crafter" if job["env"] == "crafter" else "minihack"
    try:
        agent = MemoryAgent(
            MemoryStore(Path(job["memory"]).as_uri()),
            scaffold,
            make_explorer(job["env"], seed=job["seed"]),
            memory=job["mode"],
        )
        res = run_episode(env, agent, job["seed"], max_steps=job["max_steps"], trace=job["trace"])
    finally:
        env.close()
    diag = diagnose(read_trace(job["trace"])).summary()
    return {**job, "progression": res.progression, "steps": res.steps, "diagnostics": diag}


def _mean_se(xs: list[float]) -> tuple[float, float]:
    m = statistics.fmean(xs)
    return m, (statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0)


def run_demo(
    out: str | Path,
    *,
    seeds: int = 10,
    envs: tuple[tuple[str, int], ...] = DEMO_ENVS,
    workers: int = 2,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the comparison and write ``demo.json``, ``demo.md`` under ``out``.

    Returns:
        Per env: mean ± SE with and without memory, the paired difference, diagnostics.
    """
    from rich.progress import Progress

    root = Path(out).resolve()
    jobs: list[dict[str, Any]] = [
        {
            "env": env,
            "max_steps": steps,
            "seed": seed,
            "mode": mode,
            "memory": str(root / "memory" / mode / env.replace("/", "__") / str(seed)),
            "trace": str(root / "traces" / mode / env.replace("/", "__") / f"{seed}.jsonl.gz"),
        }
        for env, steps in envs
        for seed in range(seeds)
        for mode in ("on", "off")
    ]
    for j in jobs:
        Path(str(j["trace"])).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    with Progress(disable=quiet) as bar:
        task = bar.add_task("demo episodes", total=len(jobs))
        if workers <= 1:
            for j in jobs:
                results.append(play(j))
                bar.advance(task)
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                for r in pool.map(play, jobs):
                    results.append(r)
                    bar.advance(task)
    summary: dict[str, Any] = {"wall_s": time.perf_counter() - t0, "seeds": seeds, "envs": {}}
    for env, _ in envs:
        on = [r for r in results if r["env"] == env and r["mode"] == "on"]
        off = [r for r in results if r["env"] == env and r["mode"] == "off"]
        diff = [a["progression"] - b["progression"] for a, b in zip(on, off, strict=True)]
        row: dict[str, Any] = {}
        for label, rs in (("on", on), ("off", off)):
            m, se = _mean_se([r["progression"] for r in rs])
            row[label] = {
                "mean": m,
                "se": se,
                "steps": statistics.fmean(r["steps"] for r in rs),
                "unproductive_rate": statistics.fmean(
                    r["diagnostics"]["unproductive_rate"] for r in rs
                ),
                "ops/step": statistics.fmean(r["diagnostics"]["ops/step"] for r in rs),
            }
        dm, dse = _mean_se(diff)
        row["diff"] = {"mean": dm, "se": dse}
        summary["envs"][env] = row
    (root / "demo.json").write_text(json.dumps(summary, indent=1))
    (root / "demo.md").write_text(_markdown(summary))
    if not quiet:
        _print(summary, root)
    return summary


def _markdown(s: dict[str, Any]) -> str:
    lines = [
        "| env | memory on | memory off | on - off (paired) | steps on/off | unproductive on/off |",
        "|---|---|---|---|---|---|",
    ]
    for env, r in s["envs"].items():
        lines.append(
            f"| {env} | {r['on']['mean']:.3f} ± {r['on']['se']:.3f} | "
            f"{r['off']['mean']:.3f} ± {r['off']['se']:.3f} | "
            f"{r['diff']['mean']:+.3f} ± {r['diff']['se']:.3f} | "
            f"{r['on']['steps']:.0f} / {r['off']['steps']:.0f} | "
            f"{r['on']['unproductive_rate']:.2f} / {r['off']['unproductive_rate']:.2f} |"
        )
    return "\n".join(lines) + f"\n\n{s['seeds']} seeds per env, {s['wall_s']:.0f} s.\n"


def _print(s: dict[str, Any], root: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"Keyless explorer, memory on vs off ({s['seeds']} seeds per env, progression mean ± SE)"
    )
    t.add_column("env", no_wrap=True)
    for c in (
        "memory on",
        "memory off",
        "on - off (paired)",
        "steps on/off",
        "unproductive on/off",
    ):
        t.add_column(c)
    for env, r in s["envs"].items():
        t.add_row(
            env,
            f"{r['on']['mean']:.3f} ± {r['on']['se']:.3f}",
            f"{r['off']['mean']:.3f} ± {r['off']['se']:.3f}",
            f"{r['diff']['mean']:+.3f} ± {r['diff']['se']:.3f}",
            f"{r['on']['steps']:.0f} / {r['off']['steps']:.0f}",
            f"{r['on']['unproductive_rate']:.2f} / {r['off']['unproductive_rate']:.2f}",
        )
    console = Console()
    print_whole(console, t)
    console.print(
        f"{s['wall_s']:.0f} s. Memory stores and traces: {root} "
        f"(try: automem memory ls {root / 'memory' / 'on'}/... or automem trace show FILE)"
    )


def register(sub: Any) -> None:
    """Add ``automem demo`` (unless another module already did)."""
    if "demo" in getattr(sub, "choices", {}):
        return
    p = sub.add_parser("demo", help="keyless with/without-memory comparison on real games")
    p.add_argument("--out", default="automem-demo", help="folder for memory, traces, results")
    p.add_argument("--seeds", type=int, default=10, help="seeds per env (default 10)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="2 seeds, short episodes (smoke test)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    envs = DEMO_ENVS
    seeds = args.seeds
    if args.quick:
        envs = tuple((e, 20) for e, _ in DEMO_ENVS[:1])
        seeds = 2
    run_demo(args.out, seeds=seeds, envs=envs, workers=args.workers, quiet=args.quiet)
    return 0
