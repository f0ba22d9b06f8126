"""Learning from the memory model's own rollouts: roll out, select, fine-tune, evaluate, repeat.

``automem train behavioral iterate --env ENV --base MODEL --out DIR [--rounds N] ...``

Each round:

1. **data** -- round 0 reads ``initial_traces`` when given (e.g. a behaviour population,
   :mod:`.population`); otherwise, and in every later round, the current memory model
   (the base model, then the latest adapter) plays the ``rollout_seeds`` of that round
   (shifted by ``10_000 * round``, so no two rounds and no evaluation share a seed) in
   two-model mode with the task policy, *sampling* at ``temperature``;
2. **select** -- a selector (default ``all & verified``: every turn, with the writes the
   env's truth refutes cut out; any spec of :func:`~.selectors.parse_selector`,
   decision-level terms included) and the deterministic postprocess;
3. **fine-tune** -- a fresh LoRA on the base model over the data of every round so far
   (``accumulate``) or this round's only, with a held-out split by episode;
4. **evaluate** -- the new adapter, greedy, on the fixed ``eval_seeds`` (never trained
   on), paired with the previous round's model on the same seeds (bootstrap CI).

Every round appends a ledger entry (``DIR/ledger.jsonl``: data, selector, counts,
held-out loss, scores, CPU seconds per stage, GPU seconds) and the run resumes after the
last finished round (``DIR/state.json``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import mean
from typing import Any, Literal

from automem_sdk.trainers.behavioral.dataset import (
    PostprocessConfig,
    SFTExample,
    build_examples,
    write_dataset,
)
from automem_sdk.trainers.behavioral.errors import InsufficientDataError
from automem_sdk.trainers.behavioral.ledger import append_ledger
from automem_sdk.trainers.behavioral.stats import paired_bootstrap
from automem_sdk.trainers.behavioral.worlds import World, make_world
from pydantic import BaseModel, Field

__all__ = [
    "IterateConfig",
    "RoundRecord",
    "evaluate_model",
    "rollout",
    "run_iterations",
    "select_examples",
]

ROUND_SEED_STRIDE = 10_000


class IterateConfig(BaseModel):
    """Settings of an iteration run (saved as ``DIR/config.json``).

    Attributes:
        out: the run directory (local).
        env: ``toy/keydoor`` or ``minihack/<Task>`` (see :func:`~.worlds.make_world`).
        base_model: transformers folder of the memory model to train.
        rounds: rounds to run.
        rollout_seeds: seeds played for data in round 0 (shifted per round).
        eval_seeds: seeds of every evaluation (fixed; disjoint from the rollouts).
        max_steps: steps per episode.
        temperature: sampling temperature of rollouts (evaluation is greedy).
        selector: selector spec for every round's data.
        initial_traces: traces that replace round 0's rollouts (empty: roll out).
        accumulate: train each round on all rounds' data so far.
        eval_base: also evaluate the base model (the round before round 0).
        max_new_tokens: generation cap per memory turn.
        max_context: prompt tokens kept at generation (the most recent).
        train_steps: LoRA optimizer steps per round.
        batch_size: examples per step.
        learning_rate: LoRA learning rate.
        lora_r: LoRA rank.
        lora_alpha: LoRA alpha.
        target_modules: module names that get adapters.
        max_length: training tokens per example (longer ones shortened in the middle).
        heldout_fraction: share of episodes held out of training for the held-out loss.
        min_examples: refuse to train on fewer examples.
        device: ``auto``, ``cpu`` or ``cuda``.
        quiet: no progress bars.
    """

    out: str
    env: str
    base_model: str
    rounds: int = 2
    rollout_seeds: list[int] = Field(default_factory=lambda: list(range(100, 110)))
    eval_seeds: list[int] = Field(default_factory=lambda: list(range(10)))
    max_steps: int = 100
    temperature: float = 0.7
    selector: str = "all & verified"
    initial_traces: list[str] = Field(default_factory=list)
    accumulate: bool = True
    eval_base: bool = True
    max_new_tokens: int = 48
    max_context: int | None = 2048
    train_steps: int = 48
    batch_size: int = 2
    learning_rate: float = 1e-3
    lora_r: int = 16
    lora_alpha: int = 32
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    max_length: int = 1024
    heldout_fraction: float = 0.1
    min_examples: int = 16
    device: Literal["auto", "cpu", "cuda"] = "auto"
    quiet: bool = False


class RoundRecord(BaseModel):
    """One finished round (also the ledger entry's body)."""

    round: int
    data_source: str
    traces: int
    selector: str
    new_examples: int
    examples: int
    counts: dict[str, Any]
    credit_cost: dict[str, float]
    adapter: str
    train: dict[str, Any]
    eval_seeds: list[int]
    eval_progression: list[float]
    eval_mean: float
    vs_previous: dict[str, Any] | None = None
    rollout_mean: float | None = None
    cpu_s: dict[str, float]
    gpu_s: float = 0.0
    wall_s: float


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def rollout(
    world: World,
    client: Any,
    seeds: Sequence[int],
    out_dir: Path,
    *,
    max_steps: int,
    sample_seed: int = 0,
) -> tuple[list[str], list[float]]:
    """Play ``seeds`` with ``client`` as memory model (two-model mode); traces on disk.

    Returns:
        The trace URLs and the episodes' progressions.
    """
    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.store import MemoryStore

    urls, progs = [], []
    for seed in seeds:
        try:
            import torch

            torch.manual_seed(sample_seed * 1_000_003 + seed)  # sampling is reproducible
        except ImportError:
            pass
        url = str(out_dir / "traces" / f"seed{seed}.jsonl")
        mem = out_dir / "memory" / f"seed{seed}"
        shutil.rmtree(mem, ignore_errors=True)  # memory persists in a store: start empty
        store = MemoryStore(str(mem))
        agent = MemoryAgent(
            store, world.scaffold, client, mode="two-model", task_decider=world.task_factory(seed)
        )
        env = world.env_factory()
        try:
            res = run_episode(env, agent, seed, max_steps=max_steps, trace=url)
        finally:
            env.close()
        urls.append(url)
        progs.append(res.progression)
    return urls, progs


def evaluate_model(
    world: World, client: Any, seeds: Sequence[int], out_dir: Path, *, max_steps: int
) -> list[float]:
    """Progression per seed of ``client`` as the memory model (greedy; same task policy)."""
    _urls, progs = rollout(world, client, seeds, out_dir, max_steps=max_steps)
    return progs


def select_examples(
    world: World, traces: Sequence[str], selector: str, *, min_examples: int = 1
) -> tuple[list[SFTExample], dict[str, Any], dict[str, float]]:
    """Select and postprocess; returns examples, counts and the credit cost.

    An empty selection gives no examples (counted), not an error.
    """
    from automem_sdk.trainers.behavioral.selectors import parse_selector
    from automem_sdk.trainers.behavioral.traces import load_traces

    loaded = load_traces(list(traces))
    ctx = world.credit_context()
    try:
        selections = parse_selector(selector, context=ctx).select(loaded)
    finally:
        ctx.close()
    try:
        examples, counts = build_examples(
            loaded, selections, PostprocessConfig(min_examples=min_examples)
        )
    except InsufficientDataError:
        return [], {"selected": len(selections), "examples": 0}, ctx.stats.as_dict()
    return examples, counts.model_dump(), ctx.stats.as_dict()


def _client(cfg: IterateConfig, adapter: str | None, *, temperature: float, name: str) -> Any:
    """The memory model of a rollout or evaluation: the base model (+ ``adapter``)."""
    from automem_sdk.llm.local import LocalTransformersClient

    return LocalTransformersClient(
        cfg.base_model,
        adapter=adapter,
        name=name,
        max_new_tokens=cfg.max_new_tokens,
        temperature=temperature,
        max_context=cfg.max_context,
        device=cfg.device,
        dtype="fp32",
    )


def _train(cfg: IterateConfig, examples: Sequence[SFTExample], out: Path) -> dict[str, Any]:
    from automem_sdk.trainers.behavioral.train import TrainConfig, train_lora

    tc = TrainConfig.fixed_steps(
        cfg.base_model,
        cfg.train_steps,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        target_modules=list(cfg.target_modules),
        learning_rate=cfg.learning_rate,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        min_examples=cfg.min_examples,
        eval_examples=16,
        heldout_fraction=cfg.heldout_fraction,
        adapter_name=out.name,
        device=cfg.device,
    )
    result = train_lora(list(examples), tc, out, quiet=cfg.quiet)
    dumped: dict[str, Any] = result.model_dump()
    return dumped


_TRAIN_KEYS = (
    "steps",
    "loss_before",
    "loss_after",
    "heldout_loss_before",
    "heldout_loss_after",
    "n_heldout",
    "train_tokens",
    "tokens_per_s",
)


def _train_summary(train: dict[str, Any]) -> dict[str, Any]:
    """The part of a training result a round's record keeps."""
    return {k: train.get(k) for k in _TRAIN_KEYS} | {
        "truncated": train["encode"]["truncated"],
        "encoded": train["encode"]["encoded"],
    }


def _round_data(
    cfg: IterateConfig, world: World, r: int, prev_adapter: str | None, rdir: Path
) -> tuple[list[str], str, float | None]:
    """Round ``r``'s traces: the initial traces (round 0) or rollouts of the latest model.

    Returns:
        The trace URLs, a description of where they came from, and the rollouts' mean
        progression (None for initial traces).
    """
    if r == 0 and cfg.initial_traces:
        from automem_sdk.trainers.behavioral.traces import resolve_trace_urls

        traces = resolve_trace_urls(cfg.initial_traces)
        return traces, f"initial traces ({len(traces)})", None
    seeds = [s + ROUND_SEED_STRIDE * r for s in cfg.rollout_seeds]
    name = f"round{r - 1}" if prev_adapter else "base"
    traces, progs = rollout(
        world,
        _client(cfg, prev_adapter, temperature=cfg.temperature, name=name),
        seeds,
        rdir / "rollouts",
        max_steps=cfg.max_steps,
        sample_seed=r,
    )
    source = f"rollouts of {name} (T={cfg.temperature}, seeds {seeds[0]}..{seeds[-1]})"
    return traces, source, mean(progs) if progs else None


def _run_round(
    cfg: IterateConfig,
    world: World,
    root: Path,
    r: int,
    records: list[RoundRecord],
    base_eval: dict[str, Any] | None,
    examples: dict[str, SFTExample],
) -> RoundRecord:
    """Play one round (data, select, fine-tune, evaluate); ``examples`` gains its data."""
    t0 = time.perf_counter()
    cpu: dict[str, float] = {}
    rdir = root / f"round{r}"
    c = time.process_time()
    prev_adapter = records[-1].adapter if records else None
    traces, source, rollout_mean = _round_data(cfg, world, r, prev_adapter, rdir)
    cpu["rollout"] = time.process_time() - c
    c = time.process_time()
    new, counts, credit_cost = select_examples(world, traces, cfg.selector)
    cpu["select"] = time.process_time() - c
    write_dataset(new, str(rdir / "dataset.jsonl"))
    if not cfg.accumulate:
        examples.clear()
    for ex in new:
        examples[ex.id] = ex
    c = time.process_time()
    g0 = time.perf_counter()
    train = _train(cfg, list(examples.values()), rdir / "train")
    cpu["train"] = time.process_time() - c
    gpu = time.perf_counter() - g0 if _cuda() else 0.0
    c = time.process_time()
    progs = evaluate_model(
        world,
        _client(cfg, train["adapter_dir"], temperature=0.0, name=f"round{r}"),
        cfg.eval_seeds,
        rdir / "eval",
        max_steps=cfg.max_steps,
    )
    cpu["eval"] = time.process_time() - c
    before = (
        records[-1].eval_progression
        if records
        else (base_eval["progression"] if base_eval else None)
    )
    vs = paired_bootstrap(before, progs).model_dump() if before is not None else None
    return RoundRecord(
        round=r,
        data_source=source,
        traces=len(traces),
        selector=cfg.selector,
        new_examples=len(new),
        examples=len(examples),
        counts=counts,
        credit_cost=credit_cost,
        adapter=train["adapter_dir"],
        train=_train_summary(train),
        eval_seeds=list(cfg.eval_seeds),
        eval_progression=progs,
        eval_mean=mean(progs) if progs else 0.0,
        vs_previous=vs,
        rollout_mean=rollout_mean,
        cpu_s=cpu,
        gpu_s=gpu,
        wall_s=time.perf_counter() - t0,
    )


def run_iterations(
    cfg: IterateConfig, *, on_round: Callable[[RoundRecord], None] | None = None
) -> list[RoundRecord]:
    """Run (or resume) the rounds of ``cfg``; see the module docstring.

    Returns:
        Every finished round's record, in order.

    Raises:
        InsufficientDataError: too few examples to train in a round.
    """
    root = Path(cfg.out)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
    state_path = root / "state.json"
    state: dict[str, Any] = (
        json.loads(state_path.read_text(encoding="utf-8"))
        if state_path.is_file()
        else {"rounds": [], "base_eval": None}
    )
    world = make_world(cfg.env, cfg.max_steps)

    def save() -> None:
        state_path.write_text(json.dumps(state, indent=2), encoding="utf-8")

    if cfg.eval_base and state["base_eval"] is None:
        c0 = time.process_time()
        progs = evaluate_model(
            world,
            _client(cfg, None, temperature=0.0, name="base"),
            cfg.eval_seeds,
            root / "eval-base",
            max_steps=cfg.max_steps,
        )
        state["base_eval"] = {"progression": progs, "cpu_s": time.process_time() - c0}
        save()
    records = [RoundRecord.model_validate(r) for r in state["rounds"]]
    examples: dict[str, SFTExample] = {}
    for rec in records:
        for ex in _read_round_examples(root, rec.round):
            examples[ex.id] = ex
    for r in range(len(records), cfg.rounds):
        rec = _run_round(cfg, world, root, r, records, state["base_eval"], examples)
        append_ledger(str(root), {"kind": "iteration_round", **rec.model_dump()})
        records.append(rec)
        state["rounds"].append(rec.model_dump())
        save()
        if on_round is not None:
            on_round(rec)
    return records


def _read_round_examples(root: Path, r: int) -> list[SFTExample]:
    from automem_sdk.trainers.behavioral.dataset import read_dataset

    path = root / f"round{r}" / "dataset.jsonl"
    return read_dataset(str(path)) if path.is_file() else []
