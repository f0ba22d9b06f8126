"""Loading traces for the behavioral trainer: content hashes, event order, memory turns.

A :class:`LoadedTrace` is a parsed :class:`~automem_sdk.trace.Trace` with the URL and the
SHA-256 of the bytes it was read from, so every dataset can name exactly which traces it
came from. :func:`iter_events` replays an episode in the order things happened (the
routine turns of step ``t``, then the env's answer to step ``t``), which the hindsight
selector needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import fsspec
from pydantic import ValidationError

from automem_sdk.ops import MemoryOp, op_from_dict
from automem_sdk.trace import StepRecord, Trace, TurnRecord, list_traces, read_trace

__all__ = [
    "MEMORY_ROUTINES",
    "NON_MEMORY_OPS",
    "LoadedTrace",
    "TurnKey",
    "is_abstention",
    "iter_events",
    "load_traces",
    "memory_ops",
    "resolve_trace_urls",
    "sha256_url",
    "turn_key",
]

#: Routines whose turns belong to the memory model (``act`` is the task model's).
MEMORY_ROUTINES = frozenset({"log", "plan"})
#: Op names that are not memory operations (routine control, actions, parse errors).
NON_MEMORY_OPS = frozenset({"done", "action", "invalid"})
_ROUTINE_ORDER = {"log": 0, "plan": 1, "act": 2}

#: Identifies one routine turn: (trace URL, step, routine, turn).
TurnKey = tuple[str, int, str, int]


@dataclass(frozen=True)
class LoadedTrace:
    """A parsed trace with its provenance.

    Attributes:
        url: where it was read from.
        sha256: hex digest of the stored bytes (compressed bytes for ``.gz``).
        trace: the parsed records.
        storage_options: the fsspec options it was read with (outcomes beside it are
            read with the same ones).
    """

    url: str
    sha256: str
    trace: Trace
    storage_options: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def env(self) -> str:
        """The env name from the header (``"unknown"`` when empty)."""
        return self.trace.header.env or "unknown"

    @property
    def n_turns(self) -> int:
        """Number of routine turns recorded."""
        return len(self.trace.turns)


def turn_key(url: str, turn: TurnRecord) -> TurnKey:
    """The :data:`TurnKey` of ``turn`` inside the trace at ``url``."""
    return (url, turn.step, turn.routine, turn.turn)


def sha256_url(url: str, storage_options: dict[str, Any] | None = None) -> str:
    """SHA-256 hex digest of the bytes stored at ``url`` (any fsspec URL)."""
    digest = hashlib.sha256()
    with fsspec.open(url, "rb", **(storage_options or {})) as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def resolve_trace_urls(
    sources: str | Sequence[str], storage_options: dict[str, Any] | None = None
) -> list[str]:
    """Expand trace files and directories into a sorted, de-duplicated list of trace URLs.

    Args:
        sources: one URL or several; a URL ending in ``.jsonl`` / ``.jsonl.gz`` is a trace,
            anything else is a directory searched recursively.
        storage_options: fsspec options.

    Returns:
        Trace URLs, sorted.
    """
    items = [sources] if isinstance(sources, str) else list(sources)
    found: set[str] = set()
    for src in items:
        if src.endswith((".jsonl", ".jsonl.gz")):
            found.add(src)
        else:
            found.update(list_traces(src, storage_options))
    return sorted(found)


def load_traces(
    sources: str | Sequence[str],
    storage_options: dict[str, Any] | None = None,
    *,
    complete_only: bool = False,
) -> list[LoadedTrace]:
    """Read every trace under ``sources`` with its content hash.

    Args:
        sources: trace files and/or directories (see :func:`resolve_trace_urls`).
        storage_options: fsspec options.
        complete_only: skip traces without a footer (runs that were killed).

    Returns:
        The traces, sorted by URL.

    Raises:
        TraceError: a file is not a valid trace.
    """
    out: list[LoadedTrace] = []
    for url in resolve_trace_urls(sources, storage_options):
        trace = read_trace(url, storage_options)
        if complete_only and not trace.complete:
            continue
        out.append(
            LoadedTrace(
                url=url,
                sha256=sha256_url(url, storage_options),
                trace=trace,
                storage_options=dict(storage_options) if storage_options else None,
            )
        )
    return out


def iter_events(trace: Trace) -> Iterator[TurnRecord | StepRecord]:
    """Yield turns and steps in the order they happened.

    The turns of step ``t`` (LOG, then PLAN, then the task model's act turns) come
    before the :class:`~automem_sdk.trace.StepRecord` of step ``t``.
    """
    turns = sorted(
        enumerate(trace.turns),
        key=lambda it: (it[1].step, _ROUTINE_ORDER.get(it[1].routine, 3), it[0]),
    )
    steps = sorted(trace.steps, key=lambda s: s.step)
    si = 0
    for _, turn in turns:
        while si < len(steps) and steps[si].step < turn.step:
            yield steps[si]
            si += 1
        yield turn
    yield from steps[si:]


def is_abstention(turn: TurnRecord) -> bool:
    """A LOG/PLAN turn that ended its routine (``done``, or an action in PLAN) having
    tried no memory op at all: the decision that nothing needed writing or reading."""
    names = [str(d.get("op", "")) for d in turn.ops]
    if not names or any(n not in ("done", "action") for n in names):
        return False
    return names[0] == "done" or (names[0] == "action" and turn.routine == "plan")


def memory_ops(turn: TurnRecord | Iterable[dict[str, Any]]) -> list[MemoryOp]:
    """The memory ops of a turn (no ``done``/``action``/``invalid``), validated.

    Args:
        turn: a turn record, or its ``ops`` list of op dicts.

    Returns:
        The ops that validate as :data:`~automem_sdk.ops.MemoryOp` and are memory
        operations (primitive or scaffold-declared custom ops), in order.
    """
    raw = turn.ops if isinstance(turn, TurnRecord) else list(turn)
    out: list[MemoryOp] = []
    for d in raw:
        if str(d.get("op", "")) in NON_MEMORY_OPS:
            continue
        try:
            out.append(op_from_dict(d))
        except ValidationError:
            continue
    return out
