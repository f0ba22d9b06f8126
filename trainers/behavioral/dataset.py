"""Deterministic postprocess: selected turns -> chat SFT examples -> JSONL + ledger entry.

Each example's **prompt** is the exact context the memory model saw for that turn (the
turn's recorded messages, verbatim). The **completion** is one assistant message holding
only the turn's memory ops, validated as :data:`~automem_sdk.ops.MemoryOp` and re-encoded
canonically with :func:`~automem_sdk.codec.encode_ops`, followed by ``<|DONE|>`` when
the turn ended its routine. Actions are never part of a target: in two-model mode the
task model commits actions and ``<|DONE|>`` ends the memory part of PLAN.

A selected turn that ended its routine without any memory op (nothing worth writing,
nothing worth reading) is an **abstention**; its target is ``<|DONE|>`` alone. Keeping
them (the default) is what teaches a specialist *not* to write when nothing changed;
without them every LOG example writes, and the model learns to always write.

The same inputs always give byte-identical dataset files. The format is the
conversational prompt/completion layout that ``trl`` and :mod:`.train` read.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import fsspec
from automem_sdk.trainers.behavioral.errors import BehavioralError, InsufficientDataError
from automem_sdk.trainers.behavioral.ledger import append_ledger, join_url
from automem_sdk.trainers.behavioral.selectors import Selection, Selector
from automem_sdk.trainers.behavioral.traces import (
    NON_MEMORY_OPS,
    LoadedTrace,
    TurnKey,
    is_abstention,
    load_traces,
    turn_key,
)
from pydantic import BaseModel, Field, ValidationError

from automem_sdk.codec import encode_ops
from automem_sdk.ops import MemoryOp, op_from_dict
from automem_sdk.trace import TurnRecord

__all__ = [
    "TERMINATOR",
    "DatasetCounts",
    "DatasetResult",
    "ExampleSource",
    "PostprocessConfig",
    "SFTExample",
    "build_dataset",
    "build_examples",
    "canonical_target",
    "read_dataset",
    "write_dataset",
]

TERMINATOR = "<|DONE|>"
_ROUTINES = ("log", "plan")


class ExampleSource(BaseModel):
    """Where an example came from."""

    trace: str
    trace_sha256: str
    env: str
    seed: int | None = None
    step: int
    turn: int


class SFTExample(BaseModel):
    """One chat SFT example (conversational prompt/completion)."""

    id: str
    routine: str
    prompt: list[dict[str, str]]
    completion: list[dict[str, str]]
    source: ExampleSource
    selectors: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    @property
    def target(self) -> str:
        """The completion text (the memory-op span)."""
        return self.completion[0]["content"]


class PostprocessConfig(BaseModel):
    """How selected turns become a dataset.

    Attributes:
        min_examples: refuse (raise) when fewer examples remain.
        balance: cap the larger of LOG/PLAN at ``ceil(balance * smaller)``; ``None``
            keeps both as they are. Only applied when both routines are present.
        dedupe: drop examples whose prompt and completion repeat an earlier one.
        keep_failed_ops: keep ops whose result was an error (default: drop them).
        terminator: appended when the turn ended its routine (``""`` for none).
        keep_abstentions: keep selected turns that ended their routine without a
            memory op, with ``terminator`` as the whole target (needs a terminator).
    """

    min_examples: int = 32
    balance: float | None = 1.0
    dedupe: bool = True
    keep_failed_ops: bool = False
    terminator: str = TERMINATOR
    keep_abstentions: bool = True


class DatasetCounts(BaseModel):
    """What happened to the selected turns."""

    selected: int = 0
    missing_turns: int = 0
    no_memory_ops: int = 0
    abstentions: int = 0  # examples kept whose target is the terminator alone
    failed_ops_dropped: int = 0
    uncredited_ops_dropped: int = 0  # ops a decision-level selector did not credit
    duplicates: int = 0
    balanced_out: int = 0
    log: int = 0
    plan: int = 0
    examples: int = 0


class DatasetResult(BaseModel):
    """Outcome of :func:`build_dataset`."""

    path: str
    sha256: str
    counts: DatasetCounts
    selector: str
    ledger_entry: dict[str, Any]


def canonical_target(
    turn: TurnRecord,
    *,
    keep_failed_ops: bool = False,
    terminator: str = TERMINATOR,
    abstention: bool = False,
    keep: set[int] | None = None,
) -> tuple[str, list[MemoryOp], int]:
    """The canonical memory-op span of one turn.

    Only ops that were executed are kept (a routine stops at ``done``/``action``);
    ``done``, ``action`` and unparseable spans are left out.

    Args:
        turn: the recorded turn.
        keep_failed_ops: keep ops whose result was an error.
        terminator: appended when the turn ended its routine.
        abstention: an abstention (:func:`~.traces.is_abstention`: the turn ended its
            routine without trying any memory op) gets ``terminator`` alone as target.
        keep: when given, only the memory ops at these indices of ``turn.ops`` are kept
            (the decisions a decision-level selector credited); the others are left out
            of the target.

    Returns:
        ``(target text, kept ops, number of failed ops dropped)``; the text is empty when
        no memory op is kept (and the turn is not a kept abstention).
    """
    kept: list[MemoryOp] = []
    dropped = 0
    ended = False
    executed = turn.ops[: len(turn.results)] if turn.results else turn.ops
    for i, raw in enumerate(executed):
        name = str(raw.get("op", ""))
        if name == "done" or (name == "action" and turn.routine == "plan"):
            ended = True
            break
        if name in NON_MEMORY_OPS:
            continue
        if keep is not None and i not in keep:
            continue
        try:
            op = op_from_dict(raw)
        except ValidationError:
            continue
        ok = bool(turn.results[i].get("ok")) if i < len(turn.results) else True
        if not ok and not keep_failed_ops:
            dropped += 1
            continue
        kept.append(op)
    if not kept:
        if abstention and terminator and is_abstention(turn):
            return terminator, kept, dropped
        return "", kept, dropped
    text = encode_ops(kept)
    if ended and terminator:
        text = f"{text}\n{terminator}"
    return text, kept, dropped


def _example_id(prompt: list[dict[str, str]], target: str) -> str:
    blob = json.dumps({"prompt": prompt, "target": target}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def _index_turns(traces: Sequence[LoadedTrace]) -> dict[TurnKey, tuple[LoadedTrace, TurnRecord]]:
    """Every turn of ``traces`` by its key."""
    turns: dict[TurnKey, tuple[LoadedTrace, TurnRecord]] = {}
    for lt in traces:
        for t in lt.trace.turns:
            turns[turn_key(lt.url, t)] = (lt, t)
    return turns


def _selected_target(
    t: TurnRecord, sel: Selection, cfg: PostprocessConfig, counts: DatasetCounts
) -> str:
    """The canonical target of turn ``t`` with the ops ``sel`` kept ("" if none remain)."""
    keep = set(sel.ops) if sel.ops is not None else None
    target, _ops, dropped = canonical_target(
        t,
        keep_failed_ops=cfg.keep_failed_ops,
        terminator=cfg.terminator,
        abstention=cfg.keep_abstentions,
        keep=keep,
    )
    counts.failed_ops_dropped += dropped
    if keep is not None:
        counts.uncredited_ops_dropped += sum(
            1
            for i, raw in enumerate(t.ops[: len(t.results) or None])
            if i not in keep and str(raw.get("op", "")) not in NON_MEMORY_OPS
        )
    return target


def _sft_example(
    ex_id: str,
    lt: LoadedTrace,
    t: TurnRecord,
    sel: Selection,
    prompt: list[dict[str, str]],
    target: str,
) -> SFTExample:
    """The example of turn ``t`` of ``lt``: its prompt, the target and where it came from."""
    return SFTExample(
        id=ex_id,
        routine=t.routine,
        prompt=prompt,
        completion=[{"role": "assistant", "content": target}],
        source=ExampleSource(
            trace=lt.url,
            trace_sha256=lt.sha256,
            env=lt.env,
            seed=lt.trace.header.seed,
            step=t.step,
            turn=t.turn,
        ),
        selectors=list(sel.selectors),
        reasons=list(sel.reasons),
    )


def build_examples(
    traces: Sequence[LoadedTrace],
    selections: Sequence[Selection],
    config: PostprocessConfig | None = None,
) -> tuple[list[SFTExample], DatasetCounts]:
    """Turn selections into SFT examples (deterministic).

    Args:
        traces: the traces the selections point into.
        selections: what the selector chose.
        config: postprocess settings.

    Returns:
        The examples, in trace/step order, and the counts.

    Raises:
        InsufficientDataError: fewer than ``config.min_examples`` examples remain.
    """
    cfg = config or PostprocessConfig()
    counts = DatasetCounts(selected=len(selections))
    turns = _index_turns(traces)
    examples: list[SFTExample] = []
    seen: set[str] = set()
    for sel in selections:
        found = turns.get(sel.key)
        if found is None:
            counts.missing_turns += 1
            continue
        lt, t = found
        if t.routine not in _ROUTINES:
            counts.no_memory_ops += 1
            continue
        target = _selected_target(t, sel, cfg, counts)
        if not target:
            counts.no_memory_ops += 1
            continue
        prompt = [{"role": m.role, "content": m.content} for m in t.messages]
        ex_id = _example_id(prompt, target)
        if cfg.dedupe and ex_id in seen:
            counts.duplicates += 1
            continue
        seen.add(ex_id)
        examples.append(_sft_example(ex_id, lt, t, sel, prompt, target))
    examples = _balance(examples, cfg.balance, counts)
    counts.abstentions = sum(1 for e in examples if cfg.terminator and e.target == cfg.terminator)
    counts.log = sum(1 for e in examples if e.routine == "log")
    counts.plan = sum(1 for e in examples if e.routine == "plan")
    counts.examples = len(examples)
    if counts.examples < cfg.min_examples:
        raise InsufficientDataError(
            f"only {counts.examples} training examples (minimum {cfg.min_examples}); "
            f"counts: {counts.model_dump()}. Collect more traces, loosen the selector, "
            "or lower min_examples"
        )
    return examples, counts


def _balance(
    examples: list[SFTExample], balance: float | None, counts: DatasetCounts
) -> list[SFTExample]:
    if balance is None:
        return examples
    if balance <= 0:
        raise BehavioralError(f"balance must be > 0 or None, got {balance}")
    by = {r: [e for e in examples if e.routine == r] for r in _ROUTINES}
    if not all(by.values()):
        return examples
    small = min(len(v) for v in by.values())
    cap = max(small, math.ceil(balance * small))
    keep: set[str] = set()
    for group in by.values():
        # Deterministic, content-based choice: the ids are hashes, so this is a fixed shuffle.
        keep.update(e.id for e in sorted(group, key=lambda e: e.id)[:cap])
    counts.balanced_out += len(examples) - len(keep)
    return [e for e in examples if e.id in keep]


def write_dataset(
    examples: Sequence[SFTExample], url: str, storage_options: dict[str, Any] | None = None
) -> str:
    """Write examples as JSONL (sorted keys, one per line) and return the file's SHA-256."""
    data = "".join(
        json.dumps(e.model_dump(), sort_keys=True, ensure_ascii=False) + "\n" for e in examples
    ).encode("utf-8")
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    with fs.open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def read_dataset(url: str, storage_options: dict[str, Any] | None = None) -> list[SFTExample]:
    """Read a dataset written by :func:`write_dataset`.

    Raises:
        BehavioralError: a line is not a valid example.
    """
    out: list[SFTExample] = []
    with fsspec.open(url, "r", encoding="utf-8", **(storage_options or {})) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(SFTExample.model_validate_json(line))
            except ValidationError as exc:
                raise BehavioralError(f"{url}:{i}: not an SFT example: {exc}") from exc
    return out


def build_dataset(
    sources: str | Sequence[str] | Sequence[LoadedTrace],
    selector: Selector,
    out_dir: str,
    config: PostprocessConfig | None = None,
    *,
    name: str = "dataset.jsonl",
    storage_options: dict[str, Any] | None = None,
) -> DatasetResult:
    """Select, postprocess and write a dataset with its ledger entry.

    Args:
        sources: trace URLs/directories, or already loaded traces.
        selector: which turns to learn from.
        out_dir: directory URL for ``name`` and ``ledger.jsonl``.
        config: postprocess settings.
        name: dataset file name.
        storage_options: fsspec options (traces and output).

    Returns:
        Where the dataset went, its hash, the counts and the ledger entry.

    Raises:
        InsufficientDataError: too few examples (nothing is written).
    """
    cfg = config or PostprocessConfig()
    items: list[Any] = [sources] if isinstance(sources, str) else list(sources)
    if all(isinstance(x, LoadedTrace) for x in items):
        traces: list[LoadedTrace] = items
    else:
        traces = load_traces([str(x) for x in items], storage_options)
    selections = selector.select(traces)
    examples, counts = build_examples(traces, selections, cfg)
    url = join_url(out_dir, name)
    digest = write_dataset(examples, url, storage_options)
    used = {e.source.trace for e in examples}
    entry = {
        "kind": "dataset",
        "path": url,
        "sha256": digest,
        "selector": selector.describe(),
        "counts": counts.model_dump(),
        "config": cfg.model_dump(),
        "n_source_traces": len(traces),
        "sources": [
            {
                "url": lt.url,
                "sha256": lt.sha256,
                "env": lt.env,
                "seed": lt.trace.header.seed,
                "progression": lt.trace.progression,
                "turns": lt.n_turns,
                "used": lt.url in used,
            }
            for lt in traces
        ],
    }
    written = append_ledger(out_dir, entry, storage_options)
    return DatasetResult(
        path=url, sha256=digest, counts=counts, selector=selector.describe(), ledger_entry=written
    )
