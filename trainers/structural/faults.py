"""Silent faults: memory failures that no error message announces, found in traces.

A scaffold can break memory without a single op error: a LOG routine whose op or turn
budget ends it before the agent writes (``max_log_ops: 1`` spent on the read that comes
first), a file that stays empty for the whole episode while PLAN reads it every step, a
LOG prompt that never shows the observation. :func:`find_faults` looks for each kind
of evidence and returns named :class:`Fault` records that proposers act on and the
report shows:

========================  ==============================================================
fault                     evidence
========================  ==============================================================
file_never_written        a declared file got no successful write in any episode (or
                          was empty at every episode's end)
write_only_file           a file written in most episodes but never read afterwards
reads_of_empty_file       reads, heads, tails or searches that found a file empty
log_budget_exhausted      LOG routines that ended because their op or turn budget ran
                          out (not by ``<|DONE|>``); ``subject`` says which budget
plan_budget_exhausted     PLAN routines that ran out of turns or ops before an action
memory_unchanged          the longest stretch of steps without any change to memory
empty_placeholder         a prompt placeholder that renders empty (unknown name), or a
                          routine prompt without ``{observation}``
ops_missing               ops or custom ops the agent tried that the scaffold lacks
plan_ignores_memory       the share of PLAN routines whose action came without reading
                          anything non-empty from memory
========================  ==============================================================
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from automem_sdk.scaffold import TEMPLATE_VARIABLES, Scaffold
from automem_sdk.trace import Trace, TurnRecord

__all__ = ["FAULT_NAMES", "Fault", "LogEnding", "find_faults", "log_endings"]

#: Every fault :func:`find_faults` can report, in the order it reports them.
FAULT_NAMES: tuple[str, ...] = (
    "file_never_written",
    "write_only_file",
    "reads_of_empty_file",
    "log_budget_exhausted",
    "plan_budget_exhausted",
    "memory_unchanged",
    "empty_placeholder",
    "ops_missing",
    "plan_ignores_memory",
)

_WRITES = frozenset({"write", "append", "create", "upsert", "replace", "insert"})
_READS = frozenset({"read", "head", "tail", "search", "count"})
_EMPTY = re.compile(r"^\((\S+) is empty\)$")
_DISABLED = re.compile(r"op '([a-z]+)' is not enabled in this scaffold")
_UNKNOWN = re.compile(r"unknown op '([A-Za-z_][A-Za-z0-9_]*)'")
_EXHAUSTED = "no memory ops left"


class Fault(BaseModel):
    """One named silent fault with its evidence.

    Attributes:
        name: one of :data:`FAULT_NAMES`.
        subject: what it is about (a file, ``ops``/``turns``, a prompt, an op name).
        count: how often it was seen (occurrences summed over episodes).
        share: the fraction of episodes (or routines, for the budget and PLAN faults)
            where it was seen, 0..1.
        evidence: one sentence for people and LLM proposers.
    """

    name: str
    subject: str = ""
    count: float = 0.0
    share: float = 0.0
    evidence: str = ""


class LogEnding(BaseModel):
    """How one routine (one step's LOG or PLAN) ended."""

    step: int
    routine: str
    turns: int
    ops: int
    writes: int
    ended: str  # "done", "action", "ops", "turns", "error"


def _ok(res: Mapping[str, Any]) -> bool:
    return bool(res.get("ok", False))


def _items(turn: TurnRecord) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(op name, path, result) per op of a turn, custom ops expanded into their steps."""
    out: list[tuple[str, str, Mapping[str, Any]]] = []
    for op, res in zip(turn.ops, turn.results, strict=False):
        name = str(op.get("op", ""))
        if name == "custom":
            steps = res.get("data", {}).get("steps") if isinstance(res.get("data"), dict) else None
            if isinstance(steps, list) and steps:
                for st in steps:
                    out.append((str(st.get("op", "")), str(st.get("path") or ""), st))
                continue
        out.append((name, str(op.get("path") or res.get("path") or ""), res))
    # Results without a parsed op (an empty reply, a model error) still count.
    for res in turn.results[len(turn.ops) :]:
        out.append((str(res.get("op", "")), str(res.get("path") or ""), res))
    return out


def log_endings(trace: Trace, scaffold: Scaffold) -> list[LogEnding]:
    """How each LOG and PLAN routine of ``trace`` ended (by DONE/action or by a budget)."""
    lim = scaffold.limits
    groups: dict[tuple[int, str], list[TurnRecord]] = {}
    for t in trace.turns:
        if t.routine in ("log", "plan") and t.turn >= 0:
            groups.setdefault((t.step, t.routine), []).append(t)
    out: list[LogEnding] = []
    for (step, routine), turns in sorted(groups.items()):
        ops = writes = 0
        ended = ""
        for t in turns:
            for name, _path, res in _items(t):
                if name == "done" and _ok(res):
                    ended = "done"
                elif name == "action" and _ok(res):
                    ended = "action"
                elif name == "model" and not _ok(res):
                    ended = "error"
                elif _ok(res) or res.get("changed"):
                    ops += 1
                    if name in _WRITES:
                        writes += 1
        if not ended:
            max_ops = lim.max_log_ops if routine == "log" else lim.max_plan_ops
            max_turns = lim.max_log_turns if routine == "log" else lim.max_plan_turns
            if ops >= max_ops:
                ended = "ops"
            elif len(turns) >= max_turns:
                ended = "turns"
            else:
                ended = "error"
        out.append(
            LogEnding(
                step=step, routine=routine, turns=len(turns), ops=ops, writes=writes, ended=ended
            )
        )
    return out


def _placeholder_faults(scaffold: Scaffold, used: set[str] | None = None) -> list[Fault]:
    """Placeholders that render empty in the prompts the agent uses (``used``; None: all)."""
    out: list[Fault] = []
    formatter = string.Formatter()
    for name, allowed in TEMPLATE_VARIABLES.items():
        if used is not None and name not in used:
            continue
        text: str = getattr(scaffold.prompts, name)
        try:
            fields = {f for _, f, _, _ in formatter.parse(text) if f is not None}
        except ValueError:
            continue
        bad = sorted(f for f in fields if f.split(".")[0].split("[")[0] not in allowed)
        for f in bad:
            out.append(
                Fault(
                    name="empty_placeholder",
                    subject=f"{name}:{f}",
                    count=1,
                    share=1.0,
                    evidence=f"prompt '{name}' uses {{{f}}}, which is not a placeholder of "
                    f"that prompt and renders empty (allowed: {', '.join(sorted(allowed))})",
                )
            )
        if name in ("log", "plan", "act") and "observation" not in fields:
            out.append(
                Fault(
                    name="empty_placeholder",
                    subject=f"{name}:observation",
                    count=1,
                    share=1.0,
                    evidence=f"prompt '{name}' has no {{observation}}: the model never sees "
                    "what happened in that routine",
                )
            )
    return out


@dataclass
class _Evidence:
    """What :func:`find_faults` counts over all episodes before its rules look at it."""

    n: int
    written_in: Counter[str] = field(default_factory=Counter)
    nonempty_at_end: Counter[str] = field(default_factory=Counter)
    unread_in: Counter[str] = field(default_factory=Counter)
    written_total: Counter[str] = field(default_factory=Counter)
    empty_reads: Counter[str] = field(default_factory=Counter)
    empty_reads_in: Counter[str] = field(default_factory=Counter)
    reads: Counter[str] = field(default_factory=Counter)
    missing: Counter[str] = field(default_factory=Counter)
    endings: list[LogEnding] = field(default_factory=list)
    longest: list[int] = field(default_factory=list)
    steps_per: int = 0
    used: set[str] = field(default_factory=set)
    plan_blind: int = 0
    plan_total: int = 0


@dataclass
class _Episode:
    """What one trace's turns show, before it is added to :class:`_Evidence`."""

    written: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    emptied: set[str] = field(default_factory=set)
    changed_steps: set[int] = field(default_factory=set)
    plan_reads: dict[int, bool] = field(default_factory=dict)
    last_text: dict[str, str] = field(default_factory=dict)


def _scan_op(
    ev: _Evidence, ep: _Episode, t: TurnRecord, name: str, path: str, res: Mapping[str, Any]
) -> None:
    """Count one op of turn ``t``: missing ops, writes, changes and (empty) reads."""
    ok = _ok(res)
    err = str(res.get("error") or "")
    m = _DISABLED.search(err) or _UNKNOWN.search(err)
    if m:
        ev.missing[m.group(1)] += 1
    if name in _WRITES and ok and path:
        ep.written.add(path)
        ep.pending.add(path)
        ev.written_total[path] += 1
        if res.get("changed", True):
            ep.changed_steps.add(t.step)
        ep.last_text[path] = "?"  # content unknown, but something was written
    elif name in ("delete", "rename") and ok:
        ep.changed_steps.add(t.step)
    elif name in _READS and ok:
        text = str(res.get("text") or "").strip()
        e = _EMPTY.match(text)
        if e or (name == "search" and not text):
            target = e.group(1) if e else path or "(search)"
            ev.empty_reads[target] += 1
            ep.emptied.add(target)
        elif t.routine == "plan":
            ep.plan_reads[t.step] = True
        ev.reads[path or "(search)"] += 1
        if path:
            ep.pending.discard(path)
        elif name == "search":
            ep.pending.clear()


def _scan_trace(
    ev: _Evidence, trace: Trace, scaffold: Scaffold, end: Mapping[str, str] | None
) -> None:
    """Add one episode's evidence to ``ev`` (``end``: its memory at the end, if known)."""
    ep = _Episode()
    for t in trace.turns:
        for name, path, res in _items(t):
            _scan_op(ev, ep, t, name, path, res)
        if t.routine == "plan" and t.step not in ep.plan_reads:
            ep.plan_reads.setdefault(t.step, False)
    for p in ep.written:
        ev.written_in[p] += 1
    for p in ep.pending:
        ev.unread_in[p] += 1
    for p in ep.emptied:
        ev.empty_reads_in[p] += 1
    for f in [spec.name for spec in scaffold.files]:
        if end is not None:
            if (end.get(f) or "").strip():
                ev.nonempty_at_end[f] += 1
        else:
            spec = scaffold.file(f)
            if f in ep.last_text or (spec is not None and spec.initial.strip()):
                ev.nonempty_at_end[f] += 1
    steps = sorted({s.step for s in trace.steps} | {t.step for t in trace.turns})
    run = best = 0
    for s in steps:
        run = 0 if s in ep.changed_steps else run + 1
        best = max(best, run)
    ev.longest.append(best)
    ev.plan_total += len(ep.plan_reads)
    ev.plan_blind += sum(1 for v in ep.plan_reads.values() if not v)
    ev.endings.extend(log_endings(trace, scaffold))


def _collect(
    traces: Sequence[Trace],
    scaffold: Scaffold,
    memory_end: Sequence[Mapping[str, str] | None] | None,
) -> _Evidence:
    """The evidence of all ``traces``, for the rules of :data:`_RULES`."""
    ev = _Evidence(n=len(traces))
    for i, trace in enumerate(traces):
        end = memory_end[i] if memory_end is not None and i < len(memory_end) else None
        _scan_trace(ev, trace, scaffold, end)
    ev.steps_per = max((len(t.steps) for t in traces), default=0)
    ev.used = {"system"} | {t.routine for tr in traces for t in tr.turns}
    return ev


@dataclass(frozen=True)
class _Thresholds:
    """The knobs of :func:`find_faults` that rules compare their evidence with."""

    min_share: float
    unchanged_steps: int


def _file_never_written(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    out: list[Fault] = []
    n = ev.n
    for f in [spec.name for spec in scaffold.files]:
        never = n - ev.nonempty_at_end[f]
        if never / n >= th.min_share and ev.written_in[f] < n:
            out.append(
                Fault(
                    name="file_never_written",
                    subject=f,
                    count=never,
                    share=never / n,
                    evidence=f"{f} was empty at the end of {never} of {n} episode(s) "
                    f"({ev.written_total[f]} successful writes in all, "
                    f"{ev.empty_reads[f]} reads found it empty)",
                )
            )
    return out


def _write_only_file(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    out: list[Fault] = []
    n = ev.n
    for p, k in sorted(ev.unread_in.items(), key=lambda kv: -kv[1]):
        if k / n >= max(th.min_share, 0.5) and ev.written_in[p]:
            out.append(
                Fault(
                    name="write_only_file",
                    subject=p,
                    count=k,
                    share=k / n,
                    evidence=f"{p} was written in {ev.written_in[p]} episode(s) and never read "
                    f"after its last write in {k} of them",
                )
            )
    return out


def _reads_of_empty_file(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    out: list[Fault] = []
    n = ev.n
    for p, k in sorted(ev.empty_reads.items(), key=lambda kv: -kv[1]):
        share = ev.empty_reads_in[p] / n
        if share >= th.min_share and k >= th.min_share * max(1, ev.reads[p]):
            out.append(
                Fault(
                    name="reads_of_empty_file",
                    subject=p,
                    count=k,
                    share=share,
                    evidence=f"{k} of {ev.reads[p]} read(s) of {p} found it empty "
                    f"({ev.empty_reads_in[p]} of {n} episode(s))",
                )
            )
    return out


def _budget_exhausted(
    routine: str, ev: _Evidence, scaffold: Scaffold, th: _Thresholds
) -> list[Fault]:
    """LOG or PLAN routines (``routine``) that ended because a budget ran out."""
    mine = [e for e in ev.endings if e.routine == routine]
    if not mine:
        return []
    out: list[Fault] = []
    lim = scaffold.limits
    for budget in ("ops", "turns"):
        hit = [e for e in mine if e.ended == budget]
        share = len(hit) / len(mine)
        if share < th.min_share:
            continue
        no_write = sum(1 for e in hit if e.writes == 0)
        value = {
            ("log", "ops"): lim.max_log_ops,
            ("log", "turns"): lim.max_log_turns,
            ("plan", "ops"): lim.max_plan_ops,
            ("plan", "turns"): lim.max_plan_turns,
        }[(routine, budget)]
        out.append(
            Fault(
                name=f"{routine}_budget_exhausted",
                subject=budget,
                count=len(hit),
                share=share,
                evidence=f"{len(hit)} of {len(mine)} {routine.upper()} routines ended "
                f"because their {budget} budget ({value}) ran out, not by "
                f"{'<|DONE|>' if routine == 'log' else 'an action'}; "
                f"{no_write} of them wrote nothing",
            )
        )
    return out


def _log_budget_exhausted(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    return _budget_exhausted("log", ev, scaffold, th)


def _plan_budget_exhausted(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    return _budget_exhausted("plan", ev, scaffold, th)


def _memory_unchanged(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    if not ev.longest:
        return []
    n = ev.n
    worst = max(ev.longest)
    k = sum(1 for x in ev.longest if x >= th.unchanged_steps)
    if worst < th.unchanged_steps or k / n < th.min_share:
        return []
    return [
        Fault(
            name="memory_unchanged",
            subject="memory",
            count=k,
            share=k / n,
            evidence=f"memory did not change for {worst} steps in a row (of up to "
            f"{ev.steps_per}); {k} of {n} episode(s) had a stretch of "
            f">= {th.unchanged_steps} steps without a change",
        )
    ]


def _empty_placeholder(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    return _placeholder_faults(scaffold, ev.used)


def _ops_missing(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    return [
        Fault(
            name="ops_missing",
            subject=op,
            count=k,
            share=1.0,
            evidence=f"the agent tried {op} {k} time(s) but the scaffold lacks it",
        )
        for op, k in sorted(ev.missing.items(), key=lambda kv: -kv[1])
    ]


def _plan_ignores_memory(ev: _Evidence, scaffold: Scaffold, th: _Thresholds) -> list[Fault]:
    if not ev.plan_total:
        return []
    share = ev.plan_blind / ev.plan_total
    if share < max(th.min_share, 0.5):
        return []
    return [
        Fault(
            name="plan_ignores_memory",
            subject="plan",
            count=ev.plan_blind,
            share=share,
            evidence=f"{ev.plan_blind} of {ev.plan_total} PLAN routines ({share:.0%}) chose "
            "their action without reading anything non-empty from memory",
        )
    ]


_Rule = Callable[[_Evidence, Scaffold, _Thresholds], list[Fault]]

#: One rule per fault name, in the order of :data:`FAULT_NAMES`.
_RULES: dict[str, _Rule] = {
    "file_never_written": _file_never_written,
    "write_only_file": _write_only_file,
    "reads_of_empty_file": _reads_of_empty_file,
    "log_budget_exhausted": _log_budget_exhausted,
    "plan_budget_exhausted": _plan_budget_exhausted,
    "memory_unchanged": _memory_unchanged,
    "empty_placeholder": _empty_placeholder,
    "ops_missing": _ops_missing,
    "plan_ignores_memory": _plan_ignores_memory,
}
assert tuple(_RULES) == FAULT_NAMES


def find_faults(
    traces: Sequence[Trace],
    scaffold: Scaffold,
    *,
    memory_end: Sequence[Mapping[str, str] | None] | None = None,
    min_share: float = 0.25,
    unchanged_steps: int = 20,
) -> list[Fault]:
    """The silent faults in ``traces`` of episodes played with ``scaffold``.

    Args:
        traces: the episodes.
        scaffold: the scaffold they were played with (declared files, limits, prompts).
        memory_end: per trace, the memory files' contents at the episode's end (None
            where unknown; the trace's writes are used instead).
        min_share: the least share of episodes or routines a fault must show in.
        unchanged_steps: the shortest stretch without a memory change that counts.

    Returns:
        Faults in the order of :data:`FAULT_NAMES`, strongest first within a name.
    """
    if not traces:
        return _placeholder_faults(scaffold)
    ev = _collect(traces, scaffold, memory_end)
    th = _Thresholds(min_share=min_share, unchanged_steps=unchanged_steps)
    faults = [fault for rule in _RULES.values() for fault in rule(ev, scaffold, th)]
    order = {name: i for i, name in enumerate(FAULT_NAMES)}
    faults.sort(key=lambda f: (order.get(f.name, 99), -f.share))
    return faults
