"""Throughput of the behavioral trainer on this machine.

``python -m automem_sdk.trainers.behavioral.perf`` measures

- **data engine**: trace turns per second through load (parse + hash), selection
  (outcome | hindsight) and postprocess (canonical targets, dedupe, balance, JSONL
  write), over at least ``--turns`` turns of real agent traces (the toy key-and-door
  env played by :func:`~automem_sdk.agent.run_episode`);
- **SFT**: trained tokens per second (non-padding input tokens) of LoRA training on
  CPU (or GPU when there is one) with tiny models built locally.

Figures are printed as a rich table (and written as JSON with ``--json``); nothing is
asserted, since speed depends on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["SFT_SIZES", "data_engine_throughput", "main", "sft_throughput"]

#: name -> (hidden size, layers, heads, kv heads)
SFT_SIZES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (64, 2, 4, 2),
    "small": (256, 4, 8, 4),
}


def _runner_available() -> bool:
    try:
        import minihack  # noqa: F401
        from automem_sdk.benchmarks import bench_runner  # noqa: F401
    except ImportError:
        return False
    return True


def _count_turns(url: str) -> int:
    from automem_sdk.trace import TurnRecord, iter_records

    return sum(1 for r in iter_records(url) if isinstance(r, TurnRecord))


def data_engine_throughput(
    work_dir: str,
    min_turns: int = 10_000,
    *,
    source: str = "auto",
    quiet: bool = False,
) -> dict[str, Any]:
    """Generate traces until ``min_turns`` turns exist, then time the data engine.

    Args:
        work_dir: scratch directory.
        min_turns: turns to generate (at least).
        source: ``runner`` (the benchmarks runner: the keyless explorer on MiniHack,
            gzip traces), ``toy`` (the key-and-door env) or ``auto`` (runner when the
            games extra is installed).
        quiet: no progress bar.

    Returns:
        Counts and seconds per stage, and ``turns_per_s`` over load + select + postprocess.
    """
    from automem_sdk.trainers.behavioral.dataset import (
        PostprocessConfig,
        build_examples,
        write_dataset,
    )
    from automem_sdk.trainers.behavioral.selectors import HindsightSelector, OutcomeSelector
    from automem_sdk.trainers.behavioral.toy import make_toy_traces
    from automem_sdk.trainers.behavioral.traces import load_traces, resolve_trace_urls
    from rich.progress import Progress

    if source == "auto":
        source = "runner" if _runner_available() else "toy"
    root = work_dir.rstrip("/")
    turns = 0
    seed = 0
    t0 = time.perf_counter()
    with Progress(disable=quiet) as progress:
        task = progress.add_task(f"generating {source} traces (turns)", total=min_turns)
        while turns < min_turns:
            batch = list(range(seed, seed + 20))
            seed += len(batch)
            if source == "runner":
                from automem_sdk.benchmarks.bench_runner import BenchConfig, run_benchmark

                before = set(resolve_trace_urls(f"{root}/traces")) if seed > 20 else set()
                run_benchmark(
                    BenchConfig(
                        out=root,
                        envs=["minihack/MazeWalk-15x15", "minihack/Corridor-R3"],
                        agents=["explorer"],
                        seeds=batch,
                        max_steps=50,
                        quiet=True,
                    )
                )
                urls = sorted(set(resolve_trace_urls(f"{root}/traces")) - before)
            else:
                urls = make_toy_traces(root, batch)
            turns += sum(_count_turns(u) for u in urls)
            progress.update(task, completed=min(turns, min_turns))
    gen_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    traces = load_traces(f"{root}/traces")
    t2 = time.perf_counter()
    selections = (OutcomeSelector(0.25) | HindsightSelector()).select(traces)
    t3 = time.perf_counter()
    examples, counts = build_examples(traces, selections, PostprocessConfig(min_examples=1))
    write_dataset(examples, f"{root}/dataset.jsonl")
    t4 = time.perf_counter()
    n_turns = sum(lt.n_turns for lt in traces)
    engine_s = t4 - t1
    return {
        "source": source,
        "episodes": len(traces),
        "turns": n_turns,
        "selected": len(selections),
        "examples": counts.examples,
        "generate_s": gen_s,
        "load_s": t2 - t1,
        "select_s": t3 - t2,
        "postprocess_s": t4 - t3,
        "engine_s": engine_s,
        "turns_per_s": n_turns / engine_s if engine_s > 0 else 0.0,
    }


def sft_throughput(
    work_dir: str,
    size: str = "tiny",
    *,
    steps: int = 10,
    batch_size: int = 4,
    max_length: int = 1024,
    min_turns: int = 600,
    quiet: bool = False,
) -> dict[str, Any]:
    """LoRA-train a locally built model of ``size`` for ``steps`` steps; tokens per second.

    Returns:
        Model size, tokens trained, seconds, ``tokens_per_s`` and the target loss before
        and after.
    """
    import torch
    from automem_sdk.trainers.behavioral.dataset import (
        PostprocessConfig,
        build_examples,
    )
    from automem_sdk.trainers.behavioral.selectors import AllTurnsSelector
    from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm
    from automem_sdk.trainers.behavioral.toy import make_toy_traces
    from automem_sdk.trainers.behavioral.traces import load_traces
    from automem_sdk.trainers.behavioral.train import LoraSFT, TrainConfig

    hidden, layers, heads, kv = SFT_SIZES[size]
    root = Path(work_dir)
    make_toy_traces(str(root / "sft"), range(max(2, min_turns // 35)))
    traces = load_traces(str(root / "sft" / "traces"))
    examples, _ = build_examples(
        traces, AllTurnsSelector().select(traces), PostprocessConfig(min_examples=1, balance=None)
    )
    corpus = [m["content"] for e in examples for m in e.prompt] + [e.target for e in examples]
    base = build_tiny_causal_lm(
        root / f"base-{size}",
        corpus,
        vocab_size=2000,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
    )
    cfg = TrainConfig(
        base_model=base,
        r=8,
        lora_alpha=16,
        max_steps=steps,
        batch_size=batch_size,
        grad_accum=1,
        max_length=max_length,
        learning_rate=1e-2,
        save_steps=10**9,
        eval_examples=16,
    )
    sft = LoraSFT(cfg, root / f"run-{size}", quiet=quiet)
    n_params = sum(p.numel() for p in sft.model.parameters())
    result = sft.fit(examples)
    return {
        "size": size,
        "params": n_params,
        "device": sft.device,
        "torch_threads": torch.get_num_threads(),
        "examples": result.encode.encoded,
        "steps": result.steps,
        "batch_size": batch_size,
        "tokens": result.train_tokens,
        "train_s": result.wall_s,
        "tokens_per_s": result.tokens_per_s,
        "loss_before": result.loss_before,
        "loss_after": result.loss_after,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(
        prog="python -m automem_sdk.trainers.behavioral.perf", description=__doc__
    )
    parser.add_argument("--turns", type=int, default=10_000, help="trace turns to process")
    parser.add_argument(
        "--source",
        choices=["auto", "runner", "toy"],
        default="auto",
        help="traces of the benchmarks runner (MiniHack explorer) or of the toy env",
    )
    parser.add_argument("--sft-steps", type=int, default=10)
    parser.add_argument(
        "--sizes", default="tiny,small", help="SFT model sizes: " + ", ".join(SFT_SIZES)
    )
    parser.add_argument("--skip-sft", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    console = Console(width=max(100, Console().width))
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="automem-perf-") as tmp:
        out["data_engine"] = data_engine_throughput(f"{tmp}/engine", args.turns, quiet=args.quiet)
        if not args.skip_sft:
            out["sft"] = [
                sft_throughput(f"{tmp}/sft-{s}", s, steps=args.sft_steps, quiet=args.quiet)
                for s in args.sizes.split(",")
                if s.strip()
            ]
    de = out["data_engine"]
    t = Table(title=f"behavioral data engine, {de['source']} traces (load + select + postprocess)")
    for col in ("episodes", "turns", "selected", "examples", "load s", "select s", "post s"):
        t.add_column(col, justify="right")
    t.add_column("turns/s", justify="right", style="bold")
    t.add_row(
        str(de["episodes"]),
        str(de["turns"]),
        str(de["selected"]),
        str(de["examples"]),
        f"{de['load_s']:.2f}",
        f"{de['select_s']:.2f}",
        f"{de['postprocess_s']:.2f}",
        f"{de['turns_per_s']:,.0f}",
    )
    console.print(t)
    if "sft" in out:
        s = Table(title="LoRA SFT throughput (LoRA r=8, batch 4, fp32)")
        for col in ("model", "params", "device", "steps", "tokens", "seconds"):
            s.add_column(col, justify="right")
        s.add_column("tokens/s", justify="right", style="bold")
        s.add_column("target loss", justify="right")
        for r in out["sft"]:
            s.add_row(
                r["size"],
                f"{r['params'] / 1e6:.2f}M",
                f"{r['device']} x{r['torch_threads']}",
                str(r["steps"]),
                f"{r['tokens']:,}",
                f"{r['train_s']:.1f}",
                f"{r['tokens_per_s']:,.0f}",
                f"{r['loss_before']:.2f}->{r['loss_after']:.2f}",
            )
        console.print(s)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
