"""Memory-behaviour diagnostics computed from traces.

Redundant writes (content already there), writes never read later in the episode, empty
searches, unproductive actions (the env state did not change), op validity (share of
routine turns whose output parsed into valid ops), fallbacks, and context tokens per step.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import mean

from pydantic import BaseModel

from automem_sdk.outcomes import is_conversation_mark
from automem_sdk.trace import Trace, TurnRecord

__all__ = ["Diagnostics", "diagnose", "mean_diagnostics"]

_WRITES = frozenset({"write", "append", "create", "upsert", "replace", "insert"})
_READS = frozenset({"read", "head", "tail", "search", "count"})


class Diagnostics(BaseModel):
    """Per-episode (or averaged) memory diagnostics."""

    steps: int = 0
    turns: int = 0
    n_ops: int = 0
    n_writes: int = 0
    redundant_writes: int = 0
    writes_never_read: int = 0
    n_searches: int = 0
    empty_searches: int = 0
    failed_ops: int = 0
    unproductive_actions: int = 0
    fallback_actions: int = 0
    valid_turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def redundant_write_rate(self) -> float:
        """Redundant writes / writes."""
        return self.redundant_writes / self.n_writes if self.n_writes else 0.0

    @property
    def unproductive_rate(self) -> float:
        """Unproductive actions / steps."""
        return self.unproductive_actions / self.steps if self.steps else 0.0

    @property
    def op_validity(self) -> float:
        """Share of routine turns whose output parsed into valid ops."""
        return self.valid_turns / self.turns if self.turns else 0.0

    @property
    def tokens_per_step(self) -> float:
        """Prompt + completion tokens per env step."""
        return (self.prompt_tokens + self.completion_tokens) / self.steps if self.steps else 0.0

    def summary(self) -> dict[str, float]:
        """Flat numbers for tables and reports."""
        return {
            "steps": float(self.steps),
            "ops/step": self.n_ops / self.steps if self.steps else 0.0,
            "redundant_writes": float(self.redundant_writes),
            "redundant_write_rate": self.redundant_write_rate,
            "writes_never_read": float(self.writes_never_read),
            "empty_searches": float(self.empty_searches),
            "unproductive_rate": self.unproductive_rate,
            "op_validity": self.op_validity,
            "fallback_actions": float(self.fallback_actions),
            "tokens/step": self.tokens_per_step,
        }


def _turn_tokens(t: TurnRecord) -> tuple[int, int]:
    if t.usage.prompt_tokens or t.usage.completion_tokens:
        return t.usage.prompt_tokens, t.usage.completion_tokens
    # Keyless deciders report no usage: estimate from the text (4 chars per token).
    prompt = sum(len(m.content) for m in t.messages)
    return (prompt + 3) // 4, (len(t.output) + 3) // 4


def diagnose(trace: Trace) -> Diagnostics:
    """Compute :class:`Diagnostics` for one trace."""
    steps = [s for s in trace.steps if not is_conversation_mark(s)]  # env steps only
    d = Diagnostics(steps=len(steps))
    appended: set[tuple[str, str]] = set()
    last_written: dict[str, str] = {}
    pending: dict[str, int] = {}  # path -> writes not yet read
    for t in trace.turns:
        if t.routine in ("log", "plan"):
            d.turns += 1
            invalid = any(op.get("op") == "invalid" for op in t.ops)
            if t.ops and not invalid:
                d.valid_turns += 1
        p, c = _turn_tokens(t)
        d.prompt_tokens += p
        d.completion_tokens += c
        if t.fallback:
            d.fallback_actions += 1
        for op, res in zip(t.ops, t.results, strict=False):
            name = str(op.get("op", ""))
            if name in ("done", "action", "invalid", "custom"):
                if name == "custom":
                    for step in res.get("data", {}).get("steps", []):
                        _count(
                            d,
                            {"op": step.get("op"), "path": step.get("path")},
                            step,
                            appended,
                            last_written,
                            pending,
                        )
                continue
            _count(d, op, res, appended, last_written, pending)
    d.writes_never_read = sum(pending.values())
    d.unproductive_actions = sum(1 for s in steps if s.changed is False)
    d.fallback_actions += sum(1 for s in steps if s.info.get("invalid_action"))
    return d


def _count(
    d: Diagnostics,
    op: dict[str, object],
    res: dict[str, object],
    appended: set[tuple[str, str]],
    last_written: dict[str, str],
    pending: dict[str, int],
) -> None:
    name = str(op.get("op", ""))
    path = str(op.get("path") or res.get("path") or "")
    d.n_ops += 1
    if not res.get("ok", False):
        d.failed_ops += 1
        return
    if name in _WRITES:
        d.n_writes += 1
        content = str(op.get("content", op.get("value", "")) or "").strip()
        if name == "append":
            key = (path, content)
            if key in appended:
                d.redundant_writes += 1
            appended.add(key)
        elif name == "upsert" and not res.get("changed", True):
            d.redundant_writes += 1
        elif name == "write":
            if last_written.get(path) == content:
                d.redundant_writes += 1
            last_written[path] = content
        pending[path] = pending.get(path, 0) + 1
    elif name in _READS:
        if name == "search":
            d.n_searches += 1
            data = res.get("data", {})
            n = data.get("n", 1) if isinstance(data, dict) else 1
            if n == 0:
                d.empty_searches += 1
        if name == "search" and not op.get("path"):
            pending.clear()  # a search over every file reads them all
        else:
            pending.pop(path, None)


def mean_diagnostics(items: Iterable[Diagnostics]) -> dict[str, float]:
    """Mean of :meth:`Diagnostics.summary` over episodes."""
    rows = [d.summary() for d in items]
    if not rows:
        return {}
    return {k: mean(r[k] for r in rows) for k in rows[0]}
