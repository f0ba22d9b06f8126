"""Throughput of the behavioral trainer on this machine.

``python -m automem_sdk.trainers.behavioral.perf`` measures

- **data engine**: trace turns per second through load (parse + hash), selection
  (outcome | hindsight) and postprocess (canonical targets, dedupe, balance, JSONL
  write), over at least ``--turns`` turns of real agent traces (the toy key-and-door
  env played by :func:`~automem_sdk.agent.run_episode`);
- **SFT**: trained tokens per second (non-padding input tokens) of LoRA training on
  CPU (or GPU when there is one) with models built locally from a config: ``tiny`` and
  ``small`` for CPU, ``0.5b`` with the shape of Qwen2-0.5B (494M parameters, random
  weights) for a GPU. Besides the whole run's rate it reports the steady-state rate
  (steps after the first two, from the trainer's per-step log), the model FLOPs per
  token of LoRA training (:func:`lora_train_flops_per_token`) and, on a GPU whose peak is
  known (or ``--peak-tflops``), the model FLOPs utilisation (MFU).

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
from typing import Any, Literal, NamedTuple

from automem_sdk.tables import print_whole

__all__ = [
    "PEAK_TFLOPS",
    "SFT_SIZES",
    "ModelShape",
    "data_engine_throughput",
    "lora_train_flops_per_token",
    "main",
    "peak_tflops",
    "sft_throughput",
    "steady_tokens_per_s",
]


class ModelShape(NamedTuple):
    """The shape of a locally built causal LM (weights are random)."""

    arch: Literal["llama", "qwen2"]
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int | None = None  # MLP width; None: 2 x hidden
    vocab: int | None = None  # embedding rows; None: the tokenizer's vocabulary
    tied: bool = False  # output head shares the input embedding


SFT_SIZES: dict[str, ModelShape] = {
    "tiny": ModelShape("llama", 64, 2, 4, 2),
    "small": ModelShape("llama", 256, 4, 8, 4),
    # Qwen2-0.5B's published config: 494M parameters with the tied 151,936-row embedding.
    "0.5b": ModelShape("qwen2", 896, 24, 14, 2, 4864, 151_936, True),
}

#: Dense (no sparsity) peak TFLOPS per device-name substring, first match wins. ``fp32``
#: is the CUDA-core rate (PyTorch's default for fp32 matmuls), ``tf32`` the tensor-core
#: rate it uses when TF32 is switched on.
PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("H100 PCIe", {"bf16": 756.0, "tf32": 378.0, "fp32": 51.2}),
    ("H100", {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("H200", {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("A100", {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    ("L40S", {"bf16": 362.0, "tf32": 183.0, "fp32": 91.6}),
    ("L4", {"bf16": 121.0, "tf32": 60.0, "fp32": 30.3}),
]


def peak_tflops(device_name: str, dtype: str) -> float | None:
    """The dense peak of ``device_name`` for ``dtype`` (``bf16``/``tf32``/``fp32``), if known."""
    for key, peaks in PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return peaks.get(dtype)
    return None


def lora_train_flops_per_token(model: Any, seq_len: float, head_fraction: float = 1.0) -> float:
    """Model FLOPs of one trained token of LoRA fine-tuning.

    Counted from the model itself: every ``nn.Linear`` weight (the frozen base layers,
    the output head, the LoRA A/B matrices; embedding lookups are free). A frozen weight
    costs 2 FLOPs per parameter forward and 2 backward (the gradient of its input; no
    weight gradient); a trained one 2 + 4. Attention scores and the weighted sum add
    ``4 * seq_len * d_attn`` per layer forward and twice that backward (the PaLM
    convention, without halving for the causal mask).

    Args:
        model: the (peft-wrapped) model being trained.
        seq_len: mean tokens per sequence.
        head_fraction: share of positions the output head runs on (1 for a full
            forward; the target share with target-only logits).
    """
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    frozen = trained = 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            share = head_fraction if module is head else 1.0
            if module.weight.requires_grad:
                trained += share * module.weight.numel()
            else:
                frozen += share * module.weight.numel()
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    d_attn = cfg.num_attention_heads * head_dim
    attention = 12.0 * cfg.num_hidden_layers * seq_len * d_attn
    return float(4.0 * frozen + 6.0 * trained + attention)


def steady_tokens_per_s(metrics_path: str | Path, skip_steps: int = 2) -> float | None:
    """Trained tokens per second after the first ``skip_steps`` optimizer steps.

    Reads the trainer's per-step ``metrics.jsonl`` (``time`` and
    ``num_input_tokens_seen`` of each logged step), so start-up and the first steps (CUDA
    kernels compiling, allocator warming up) are left out. ``None`` when fewer than two
    steps were logged after the skipped ones.
    """
    rows = []
    for line in Path(metrics_path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "num_input_tokens_seen" in row and "loss" in row and row["step"] > skip_steps:
            rows.append(row)
    if len(rows) < 2 or rows[-1]["time"] <= rows[0]["time"]:
        return None
    tokens = rows[-1]["num_input_tokens_seen"] - rows[0]["num_input_tokens_seen"]
    return float(tokens / (rows[-1]["time"] - rows[0]["time"]))


def _runner_available() -> bool:
    try:
        import minihack  # noqa: F401
        from automem_sdk.benchmarks.harness import runner as bench_runner  # noqa: F401
    except ImportError:
        return False
    return True


def _count_turns(url: str) -> int:
    from automem_sdk.trace import TurnRecord, iter_records

    return sum(1 for r in iter_records(url) if isinstance(r, TurnRecord))


def _generate_traces(root: str, min_turns: int, source: str, *, quiet: bool) -> None:
    """Play batches of 20 seeds with ``source`` until ``root/traces`` has ``min_turns`` turns."""
    from automem_sdk.trainers.behavioral.toy import make_toy_traces
    from automem_sdk.trainers.behavioral.traces import resolve_trace_urls
    from rich.progress import Progress

    turns = 0
    seed = 0
    with Progress(disable=quiet) as progress:
        task = progress.add_task(f"generating {source} traces (turns)", total=min_turns)
        while turns < min_turns:
            batch = list(range(seed, seed + 20))
            seed += len(batch)
            if source == "runner":
                from automem_sdk.benchmarks.harness.runner import BenchConfig, run_benchmark

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


def _time_engine(root: str) -> dict[str, Any]:
    """Time load, select and postprocess over the traces in ``root/traces``."""
    from automem_sdk.trainers.behavioral.dataset import (
        PostprocessConfig,
        build_examples,
        write_dataset,
    )
    from automem_sdk.trainers.behavioral.selectors import HindsightSelector, OutcomeSelector
    from automem_sdk.trainers.behavioral.traces import load_traces

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
        "episodes": len(traces),
        "turns": n_turns,
        "selected": len(selections),
        "examples": counts.examples,
        "load_s": t2 - t1,
        "select_s": t3 - t2,
        "postprocess_s": t4 - t3,
        "engine_s": engine_s,
        "turns_per_s": n_turns / engine_s if engine_s > 0 else 0.0,
    }


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
    if source == "auto":
        source = "runner" if _runner_available() else "toy"
    root = work_dir.rstrip("/")
    t0 = time.perf_counter()
    _generate_traces(root, min_turns, source, quiet=quiet)
    gen_s = time.perf_counter() - t0
    timed = _time_engine(root)
    head = {k: timed.pop(k) for k in ("episodes", "turns", "selected", "examples")}
    return {"source": source, **head, "generate_s": gen_s, **timed}


def _sft_examples(root: Path, min_turns: int) -> list[Any]:
    """Every turn of toy traces with about ``min_turns`` turns, as SFT examples."""
    from automem_sdk.trainers.behavioral.dataset import PostprocessConfig, build_examples
    from automem_sdk.trainers.behavioral.selectors import AllTurnsSelector
    from automem_sdk.trainers.behavioral.toy import make_toy_traces
    from automem_sdk.trainers.behavioral.traces import load_traces

    make_toy_traces(str(root / "sft"), range(max(2, min_turns // 35)))
    traces = load_traces(str(root / "sft" / "traces"))
    examples, _ = build_examples(
        traces, AllTurnsSelector().select(traces), PostprocessConfig(min_examples=1, balance=None)
    )
    return list(examples)


def _sft_base(root: Path, size: str, examples: Sequence[Any]) -> str:
    """A model of shape ``SFT_SIZES[size]`` with a tokenizer trained on ``examples``."""
    from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm

    shape = SFT_SIZES[size]
    corpus = [m["content"] for e in examples for m in e.prompt] + [e.target for e in examples]
    base = build_tiny_causal_lm(
        root / f"base-{size}",
        corpus,
        arch=shape.arch,
        vocab_size=2000,
        hidden_size=shape.hidden,
        num_layers=shape.layers,
        num_heads=shape.heads,
        num_kv_heads=shape.kv_heads,
        intermediate_size=shape.intermediate,
        model_vocab_size=shape.vocab,
        tie_word_embeddings=shape.tied,
    )
    return str(base)


def _sft_figures(
    sft: Any,
    result: Any,
    *,
    run_dir: Path,
    batch_size: int,
    dtype: str,
    peak: float | None,
    target_only_logits: bool,
) -> dict[str, Any]:
    """Rates, FLOPs per token and MFU of a finished :class:`~.train.LoraSFT` run."""
    import torch

    seq_len = result.train_tokens / max(1, result.steps * batch_size)
    enc = result.encode  # token counts of the examples it trained on
    target_share = enc.target_tokens / max(1, enc.prompt_tokens + enc.target_tokens)
    flops = lora_train_flops_per_token(
        sft.model, seq_len, head_fraction=target_share if target_only_logits else 1.0
    )
    steady = steady_tokens_per_s(run_dir / "metrics.jsonl")
    gpu = torch.cuda.get_device_name() if sft.device == "cuda" else None
    tf32 = dtype == "fp32" and bool(torch.backends.cuda.matmul.allow_tf32)
    if peak is None and gpu is not None:
        peak = peak_tflops(gpu, "tf32" if tf32 else dtype)
    rate = steady if steady is not None else result.tokens_per_s
    achieved = flops * rate / 1e12
    return {
        "device": gpu or sft.device,
        "torch_threads": torch.get_num_threads(),
        "dtype": "fp32 (tf32 matmuls)" if tf32 else dtype,
        "logits": "targets" if target_only_logits else "all",
        "target_share": target_share,
        "examples": result.encode.encoded,
        "steps": result.steps,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "tokens": result.train_tokens,
        "train_s": result.wall_s,
        "tokens_per_s": result.tokens_per_s,
        "steady_tokens_per_s": steady,
        "flops_per_token": flops,
        "tflops": achieved,
        "peak_tflops": peak,
        "mfu": achieved / peak if peak else None,
        "loss_before": result.loss_before,
        "loss_after": result.loss_after,
    }


def sft_throughput(
    work_dir: str,
    size: str = "tiny",
    *,
    steps: int = 10,
    batch_size: int = 4,
    max_length: int = 1024,
    min_turns: int = 600,
    dtype: Literal["fp32", "bf16"] = "fp32",
    device: Literal["auto", "cpu", "cuda"] = "auto",
    peak: float | None = None,
    target_only_logits: bool = True,
    quiet: bool = False,
) -> dict[str, Any]:
    """LoRA-train a locally built model of ``size`` for ``steps`` steps; tokens per second.

    Args:
        work_dir: scratch directory (traces, the model, the run).
        size: a key of :data:`SFT_SIZES`.
        steps: optimizer steps (one micro-batch each).
        batch_size: sequences per step.
        max_length: tokens per sequence (right truncation).
        min_turns: toy trace turns to build the dataset from.
        dtype: ``fp32`` or ``bf16`` base weights.
        device: ``auto``, ``cpu`` or ``cuda``.
        peak: peak TFLOPS for MFU (default: :func:`peak_tflops` of the GPU).
        target_only_logits: the trainer's default; ``False`` runs the output head on
            every position (to compare).
        quiet: no progress bar.

    Returns:
        Model size, tokens trained, seconds, ``tokens_per_s`` (whole run) and
        ``steady_tokens_per_s``, FLOPs per token, achieved TFLOPS and ``mfu`` (``None``
        without a known peak), and the target loss before and after.
    """
    import torch  # noqa: F401  (missing torch fails before any data is built)
    from automem_sdk.trainers.behavioral.train import LoraSFT, TrainConfig

    root = Path(work_dir)
    examples = _sft_examples(root, min_turns)
    cfg = TrainConfig(
        base_model=_sft_base(root, size, examples),
        r=8,
        lora_alpha=16,
        max_steps=steps,
        batch_size=batch_size,
        grad_accum=1,
        max_length=max_length,
        learning_rate=1e-2 if SFT_SIZES[size].hidden < 512 else 1e-3,
        save_steps=10**9,
        eval_examples=16,
        dtype=dtype,
        device=device,
        target_only_logits=target_only_logits,
    )
    sft = LoraSFT(cfg, root / f"run-{size}", quiet=quiet)
    n_params = sum(p.numel() for p in sft.model.parameters())
    result = sft.fit(examples)
    figures = _sft_figures(
        sft,
        result,
        run_dir=root / f"run-{size}",
        batch_size=batch_size,
        dtype=dtype,
        peak=peak,
        target_only_logits=target_only_logits,
    )
    return {"size": size, "params": n_params, **figures}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    from rich.console import Console

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
    parser.add_argument("--batch-size", type=int, default=4, help="SFT sequences per step")
    parser.add_argument("--max-length", type=int, default=1024, help="SFT tokens per sequence")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="device peak for MFU (default: known GPUs)"
    )
    parser.add_argument(
        "--full-logits",
        action="store_true",
        help="run the output head on every position (the trainer's default is targets only)",
    )
    parser.add_argument("--skip-engine", action="store_true", help="only the SFT benchmark")
    parser.add_argument("--skip-sft", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SFT_SIZES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}; known: {', '.join(SFT_SIZES)}")

    console = Console(width=max(160, Console().width))
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="automem-perf-") as tmp:
        if not args.skip_engine:
            out["data_engine"] = data_engine_throughput(
                f"{tmp}/engine", args.turns, source=args.source, quiet=args.quiet
            )
        if not args.skip_sft:
            out["sft"] = [
                sft_throughput(
                    f"{tmp}/sft-{s}",
                    s,
                    steps=args.sft_steps,
                    batch_size=args.batch_size,
                    max_length=args.max_length,
                    dtype=args.dtype,
                    device=args.device,
                    peak=args.peak_tflops,
                    target_only_logits=not args.full_logits,
                    quiet=args.quiet,
                )
                for s in sizes
            ]
    if "data_engine" in out:
        print_whole(console, _engine_table(out["data_engine"]))
    if "sft" in out:
        print_whole(console, _sft_table(out["sft"], args))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


def _engine_table(de: dict[str, Any]) -> Any:
    from rich.table import Table

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
    return t


def _sft_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> Any:
    from rich.table import Table

    t = Table(
        title=f"LoRA SFT throughput (r=8, batch {args.batch_size}; "
        "steady = after the first 2 steps)"
    )
    cols = ["model", "params", "device", "dtype", "logits", "steps", "seq len", "tokens"]
    cols.append("seconds")
    cols.append("tokens/s")
    for col in cols:
        t.add_column(col, justify="right")
    t.add_column("steady tokens/s", justify="right", style="bold")
    for col in ("GFLOP/token", "TFLOPS", "MFU", "target loss"):
        t.add_column(col, justify="right")
    for r in rows:
        device = r["device"] if r["device"] != "cpu" else f"cpu x{r['torch_threads']}"
        steady = r["steady_tokens_per_s"]
        t.add_row(
            r["size"],
            f"{r['params'] / 1e6:.2f}M",
            device,
            r["dtype"],
            r["logits"],
            str(r["steps"]),
            f"{r['seq_len']:.0f}",
            f"{r['tokens']:,}",
            f"{r['train_s']:.1f}",
            f"{r['tokens_per_s']:,.0f}",
            f"{steady:,.0f}" if steady is not None else "-",
            f"{r['flops_per_token'] / 1e9:.3f}",
            f"{r['tflops']:.2f}",
            f"{r['mfu']:.1%}" if r["mfu"] is not None else "-",
            f"{r['loss_before']:.2f}->{r['loss_after']:.2f}",
        )
    return t


if __name__ == "__main__":  # pragma: no cover
    from automem_sdk.cli import quiet_third_party

    quiet_third_party()
    sys.exit(main())
