"""Selectors: pick the memory turns worth imitating from logged traces.

Every selector returns :class:`Selection` records (one per routine turn) that say *why*
the turn was chosen. Selectors compose: ``a & b`` keeps turns both chose (``b`` only
looks at what ``a`` chose, so an expensive judge runs on few turns), ``a | b`` keeps
turns either chose; reasons from both sides are kept.

- :class:`OutcomeSelector` — every memory turn of the best episodes (top ``k``% by
  progression, per env; by the outcomes attached to the trace where it has no env
  progression), abstentions included (a turn that wrote nothing and ended).
- :class:`HindsightSelector` — a write (write/append/create/upsert/replace/insert) to
  file ``F`` at step ``t`` is credited when a later turn reads ``F`` (read, head, tail,
  count, or a search with a hit in ``F``) before the next step with reward > 0 or a
  progression increase; the turn holding the credited write is selected. Where the
  trace carries step checks (an outcome with ``passed`` on a step, as the conversational
  benchmark attaches on the step that stated a fact), they are the credit instead: the
  writes of a step whose check passed, and only those ops (decision-level).

Outcomes are read beside each trace (:func:`trace_outcomes`); a trace without any is
ranked and credited by its progression and rewards, as before.
- :class:`JudgeSelector` — an LLM (any core client) scores each memory turn; turns at
  or above ``min_score`` are kept with the judge's reason.
- :class:`AllTurnsSelector` — every memory turn, abstentions included (a baseline).
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from automem_sdk.trainers.behavioral.errors import BehavioralError
from automem_sdk.trainers.behavioral.traces import (
    MEMORY_ROUTINES,
    LoadedTrace,
    TurnKey,
    is_abstention,
    iter_events,
    memory_ops,
    turn_key,
)
from pydantic import BaseModel, Field

from automem_sdk.codec import encode_ops
from automem_sdk.errors import AutomemError, LLMError
from automem_sdk.llm.base import LLMClient, Message
from automem_sdk.outcomes import TraceOutcomes, is_conversation_mark, read_outcomes
from automem_sdk.trace import StepRecord, TurnRecord

__all__ = [
    "AllTurnsSelector",
    "HindsightSelector",
    "Intersection",
    "JudgeSelector",
    "OutcomeSelector",
    "Selection",
    "Selector",
    "Union",
    "episode_value",
    "memory_turns",
    "parse_judgement",
    "parse_selector",
    "step_checks",
    "trace_outcomes",
]

_WRITES = frozenset({"write", "append", "create", "upsert", "replace", "insert"})
_READS = frozenset({"read", "head", "tail", "count"})
_ROUTINE_ORDER = {"log": 0, "plan": 1, "act": 2}


class Selection(BaseModel):
    """One selected routine turn and why it was chosen."""

    trace: str
    trace_sha256: str = ""
    env: str = ""
    step: int
    routine: str
    turn: int
    selectors: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    score: float | None = None
    #: indices (into the turn's ``ops``) of the memory decisions credited; ``None``: the
    #: whole turn (episode- and turn-level selectors). Decision-level selectors
    #: (:mod:`.credit`) set it, and the postprocess keeps only these ops in the target.
    ops: list[int] | None = None

    @property
    def key(self) -> TurnKey:
        """The turn this selection points at."""
        return (self.trace, self.step, self.routine, self.turn)

    def merged(self, other: Selection, *, ops: str = "union") -> Selection:
        """This selection with the selectors, reasons and score of ``other`` added.

        Args:
            other: a selection of the same turn.
            ops: how credited op sets combine: ``union`` (``|``) or ``intersection``
                (``&``); ``None`` (the whole turn) is the neutral set of ``&`` and
                absorbs ``|``.
        """
        return self.model_copy(
            update={
                "selectors": _unique([*self.selectors, *other.selectors]),
                "reasons": _unique([*self.reasons, *other.reasons]),
                "score": other.score if other.score is not None else self.score,
                "ops": _merge_ops(self.ops, other.ops, ops),
            }
        )


def _merge_ops(a: list[int] | None, b: list[int] | None, how: str) -> list[int] | None:
    if how == "intersection":
        if a is None or b is None:
            return b if a is None else a
        return sorted(set(a) & set(b))
    if a is None or b is None:
        return None
    return sorted(set(a) | set(b))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _sort_key(s: Selection) -> tuple[str, int, int, int]:
    return (s.trace, s.step, _ROUTINE_ORDER.get(s.routine, 3), s.turn)


def memory_turns(
    traces: Sequence[LoadedTrace],
    candidates: set[TurnKey] | None = None,
    *,
    abstentions: bool = False,
) -> Iterator[tuple[LoadedTrace, TurnRecord]]:
    """Every LOG/PLAN turn holding at least one memory op (optionally only ``candidates``).

    With ``abstentions``, also the turns that ended their routine without trying any
    memory op (:func:`~.traces.is_abstention`): deciding not to write is a decision too.
    """
    for lt in traces:
        for t in lt.trace.turns:
            if t.routine not in MEMORY_ROUTINES:
                continue
            if candidates is not None and turn_key(lt.url, t) not in candidates:
                continue
            if memory_ops(t) or (abstentions and is_abstention(t)):
                yield lt, t


def _selection(lt: LoadedTrace, t: TurnRecord, selector: str, reasons: list[str]) -> Selection:
    return Selection(
        trace=lt.url,
        trace_sha256=lt.sha256,
        env=lt.env,
        step=t.step,
        routine=t.routine,
        turn=t.turn,
        selectors=[selector],
        reasons=reasons,
    )


class Selector(ABC):
    """Base class: ``select(traces)`` returns the chosen turns with reasons."""

    name: str = "selector"

    @abstractmethod
    def select(
        self, traces: Sequence[LoadedTrace], candidates: set[TurnKey] | None = None
    ) -> list[Selection]:
        """Choose turns.

        Args:
            traces: the loaded traces.
            candidates: when given, only these turns may be chosen.

        Returns:
            Selections sorted by trace, step, routine and turn.
        """

    @abstractmethod
    def describe(self) -> str:
        """A short, stable description for ledgers (e.g. ``outcome(top=0.25)``)."""

    def __and__(self, other: Selector) -> Intersection:
        return Intersection(self, other)

    def __or__(self, other: Selector) -> Union:
        return Union(self, other)


class AllTurnsSelector(Selector):
    """Every memory turn (a baseline, and a way to build a dataset from all decisions)."""

    name = "all"

    def select(
        self, traces: Sequence[LoadedTrace], candidates: set[TurnKey] | None = None
    ) -> list[Selection]:
        """Select every LOG/PLAN turn that holds a memory op."""
        out = [
            _selection(lt, t, self.name, ["memory turn"])
            for lt, t in memory_turns(traces, candidates, abstentions=True)
        ]
        return sorted(out, key=_sort_key)

    def describe(self) -> str:
        """``all``."""
        return "all"


def trace_outcomes(lt: LoadedTrace) -> TraceOutcomes | None:
    """The outcomes attached beside ``lt`` (``None`` without any), read now: feedback
    attached after the trace was loaded counts."""
    try:
        found = read_outcomes(lt.url, lt.storage_options)
    except (AutomemError, OSError, ValueError):
        found = []
    return TraceOutcomes(lt.trace, found) if found else None


def _has_env_progression(lt: LoadedTrace) -> bool:
    return any(s.progression is not None and not is_conversation_mark(s) for s in lt.trace.steps)


def episode_value(lt: LoadedTrace) -> tuple[float, str]:
    """How well the episode went and what says so: its outcomes' value where it has no
    env progression and outcomes exist (``"outcome"``), else its progression."""
    to = trace_outcomes(lt)
    if to is not None and not _has_env_progression(lt):
        value = to.episode_value()
        if value is not None:
            return value, "outcome"
    return lt.trace.progression, "progression"


def step_checks(lt: LoadedTrace) -> dict[int, list[tuple[bool, str]]]:
    """Step -> its checks (``passed``, note): the outcomes with ``passed`` on a step."""
    to = trace_outcomes(lt)
    out: dict[int, list[tuple[bool, str]]] = {}
    for o in to.outcomes if to is not None else []:
        if o.step is not None and o.passed is not None:
            out.setdefault(o.step, []).append((o.passed, o.note))
    return out


class OutcomeSelector(Selector):
    """Memory turns of the best episodes: the top ``top_frac`` of traces per env.

    Episodes are ranked by progression (by their outcomes' value where they have no env
    progression: :func:`episode_value`), then total reward, then fewer steps; ties are
    broken by URL so the choice is deterministic. At least one episode per env is kept.

    Args:
        top_frac: share of each env's episodes to keep, in (0, 1].
        min_progression: when set, only episodes with progression (or outcome value)
            strictly above it qualify (so an env where every episode failed contributes
            nothing).
    """

    name = "outcome"

    def __init__(self, top_frac: float = 0.25, min_progression: float | None = None) -> None:
        if not 0.0 < top_frac <= 1.0:
            raise BehavioralError(f"top_frac must be in (0, 1], got {top_frac}")
        self.top_frac = top_frac
        self.min_progression = min_progression

    def describe(self) -> str:
        """``outcome(top=K[,min_progression=P])``."""
        extra = "" if self.min_progression is None else f",min_progression={self.min_progression}"
        return f"outcome(top={self.top_frac}{extra})"

    def ranked(self, traces: Sequence[LoadedTrace]) -> dict[str, list[tuple[LoadedTrace, int]]]:
        """Per env, the chosen traces with their 1-based rank."""
        by_env: dict[str, list[LoadedTrace]] = {}
        for lt in traces:
            by_env.setdefault(lt.env, []).append(lt)
        chosen: dict[str, list[tuple[LoadedTrace, int]]] = {}
        for env, group in sorted(by_env.items()):
            group = sorted(group, key=lambda lt: (*_outcome_rank(lt), lt.url))
            n_keep = max(1, math.ceil(self.top_frac * len(group)))
            keep = [
                (lt, i + 1)
                for i, lt in enumerate(group[:n_keep])
                if self.min_progression is None or episode_value(lt)[0] > self.min_progression
            ]
            chosen[env] = keep
        return chosen

    def select(
        self, traces: Sequence[LoadedTrace], candidates: set[TurnKey] | None = None
    ) -> list[Selection]:
        """Select every memory turn of the top episodes of each env."""
        n_by_env: dict[str, int] = {}
        for lt in traces:
            n_by_env[lt.env] = n_by_env.get(lt.env, 0) + 1
        out: list[Selection] = []
        for env, kept in self.ranked(traces).items():
            for lt, rank in kept:
                value, what = episode_value(lt)
                reason = (
                    f"episode {what} {value:.3f} ranks {rank}/{n_by_env[env]}"
                    f" in {env} (top {self.top_frac:.0%})"
                )
                for _lt, t in memory_turns([lt], candidates, abstentions=True):
                    out.append(_selection(lt, t, self.name, [reason]))
        return sorted(out, key=_sort_key)


def _outcome_rank(lt: LoadedTrace) -> tuple[float, float, int]:
    tr = lt.trace
    reward = tr.footer.total_reward if tr.footer is not None else sum(s.reward for s in tr.steps)
    steps = tr.footer.steps if tr.footer is not None else len(tr.steps)
    return (-episode_value(lt)[0], -reward, steps)


@dataclass
class _PendingWrite:
    key: TurnKey
    op: str
    path: str
    step: int
    read_by: str | None = None
    credit: list[str] = field(default_factory=list)


def _primitive_results(results: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Op results with scaffold-declared custom ops expanded into their primitive steps."""
    for r in results:
        steps = r.get("data", {}).get("steps") if isinstance(r.get("data"), dict) else None
        if isinstance(steps, list) and steps:
            yield from _primitive_results([s for s in steps if isinstance(s, dict)])
        else:
            yield r


def _touched_paths(r: dict[str, Any]) -> set[str]:
    """Files a successful read-side result looked into (search: files with a hit)."""
    if not r.get("ok"):
        return set()
    op = r.get("op")
    if op in _READS and r.get("path"):
        return {str(r["path"])}
    if op == "search":
        hits = r.get("data", {}).get("hits", []) if isinstance(r.get("data"), dict) else []
        return {str(h["path"]) for h in hits if isinstance(h, dict) and h.get("path")}
    return set()


class HindsightSelector(Selector):
    """Credit writes that were read back before progress was made.

    A write to file ``F`` in a turn at step ``t`` is credited when a *later* turn reads
    ``F`` (read/head/tail/count, or a search with a hit in ``F``) before the next step
    with reward > 0 or a progression increase, and that progress happens. A write whose
    content is overwritten (``write``) or deleted before being read is not credited; a
    ``rename`` carries pending writes to the new name.

    A trace with step checks (outcomes with ``passed`` on a step) is credited by them
    instead (:meth:`checked`): a write is credited when its step's checks all passed,
    and the selection names only the credited ops.

    Args:
        min_reward: a step with reward above this counts as progress.
    """

    name = "hindsight"

    def __init__(self, min_reward: float = 0.0) -> None:
        self.min_reward = min_reward

    def describe(self) -> str:
        """``hindsight(min_reward=R)``."""
        return f"hindsight(min_reward={self.min_reward})"

    def checked(self, lt: LoadedTrace) -> dict[TurnKey, tuple[list[str], list[int]]]:
        """For a trace with step checks: turn -> (reasons, indices of credited ops).

        A successful write op in a LOG/PLAN turn at step ``t`` is credited when every
        check on step ``t`` passed; a step with a failed check credits nothing (the
        write there did not serve its question), a step without checks neither.
        """
        checks = step_checks(lt)
        out: dict[TurnKey, tuple[list[str], list[int]]] = {}
        for t in lt.trace.turns:
            got = checks.get(t.step)
            if t.routine not in MEMORY_ROUTINES or not got or not all(ok for ok, _ in got):
                continue
            idx = [
                i
                for i, (op, res) in enumerate(zip(t.ops, t.results, strict=False))
                if str(op.get("op", "")) in _WRITES and res.get("ok")
            ]
            if idx:
                notes = "; ".join(_short_note(n) for _, n in got)
                out[turn_key(lt.url, t)] = (
                    [f"write at step {t.step}: its check passed ({notes})"],
                    idx,
                )
        return out

    def credited(self, lt: LoadedTrace) -> dict[TurnKey, list[str]]:
        """For one trace, the turns holding credited writes and the reasons."""
        pending: dict[str, list[_PendingWrite]] = {}
        credited: dict[TurnKey, list[str]] = {}
        best = 0.0
        for ev in iter_events(lt.trace):
            if isinstance(ev, StepRecord):
                progressed, why = self._progress(ev, best)
                if ev.progression is not None:
                    best = max(best, ev.progression)
                if not progressed:
                    continue
                for writes in pending.values():
                    for w in writes:
                        if w.read_by is not None:
                            credited.setdefault(w.key, []).append(
                                f"{w.op} {w.path} at step {w.step} was read ({w.read_by}) "
                                f"before progress at step {ev.step} ({why})"
                            )
                pending = {}  # the window of every write made so far closes here
                continue
            key = turn_key(lt.url, ev)
            for r in _primitive_results(ev.results):
                op = str(r.get("op", ""))
                for path in _touched_paths(r):
                    for w in pending.get(path, []):
                        if w.key != key and w.read_by is None:
                            w.read_by = f"{op} at step {ev.step}"
                if not r.get("ok") or ev.routine not in MEMORY_ROUTINES:
                    continue
                path = str(r.get("path") or "")
                if not path:
                    continue
                if op == "delete":
                    pending.pop(path, None)
                elif op == "rename":
                    dst = str(r.get("data", {}).get("dst") or "")
                    moved = pending.pop(path, [])
                    if dst and moved:
                        pending[dst] = moved
                elif op in _WRITES and r.get("changed"):
                    if op == "write":
                        pending.pop(path, None)  # earlier content is gone
                    pending.setdefault(path, []).append(
                        _PendingWrite(key=key, op=op, path=path, step=ev.step)
                    )
        return credited

    def _progress(self, step: StepRecord, best: float) -> tuple[bool, str]:
        if step.reward > self.min_reward:
            return True, f"reward {step.reward:g}"
        if step.progression is not None and step.progression > best:
            return True, f"progression {best:g} -> {step.progression:g}"
        return False, ""

    def select(
        self, traces: Sequence[LoadedTrace], candidates: set[TurnKey] | None = None
    ) -> list[Selection]:
        """Select the turns that hold credited writes (by step checks where present)."""
        out: list[Selection] = []
        for lt in traces:
            if step_checks(lt):
                checked = self.checked(lt)
                for t in lt.trace.turns:
                    key = turn_key(lt.url, t)
                    found = checked.get(key)
                    if found is not None and (candidates is None or key in candidates):
                        sel = _selection(lt, t, self.name, found[0])
                        out.append(sel.model_copy(update={"ops": found[1]}))
                continue
            credited = self.credited(lt)
            if not credited:
                continue
            for t in lt.trace.turns:
                key = turn_key(lt.url, t)
                if key in credited and (candidates is None or key in candidates):
                    out.append(_selection(lt, t, self.name, credited[key]))
        return sorted(out, key=_sort_key)


def _short_note(note: str, n: int = 120) -> str:
    note = " ".join(note.split())
    return note if len(note) <= n else note[: n - 3] + "..."


def _load_judge_prompt() -> dict[str, str]:
    text = (
        resources.files("automem_sdk.trainers.behavioral")
        .joinpath("judge_prompt.yaml")
        .read_text(encoding="utf-8")
    )
    data = yaml.safe_load(text)
    return {"system": str(data["system"]), "user": str(data["user"])}


_SCORE = re.compile(r"SCORE\s*[:=]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_REASON = re.compile(r"REASON\s*[:=]\s*(.+)", re.IGNORECASE)


def parse_judgement(text: str) -> tuple[float, str] | None:
    """Read ``SCORE: n`` / ``REASON: ...`` (or a JSON object with score/reason).

    Returns:
        ``(score, reason)``, or ``None`` when no score can be found.
    """
    stripped = text.strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(stripped[start : end + 1])
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("score"), int | float):
            return float(obj["score"]), str(obj.get("reason", "")).strip()
    m = _SCORE.search(stripped)
    if m is None:
        return None
    r = _REASON.search(stripped)
    return float(m.group(1)), (r.group(1).strip() if r else "")


class JudgeSelector(Selector):
    """An LLM judge scores each memory turn from 0 to 10; keep scores >= ``min_score``.

    Args:
        client: any core :class:`~automem_sdk.llm.base.LLMClient`.
        min_score: the threshold.
        max_calls: stop asking after this many calls (unjudged turns are not selected).
        context_chars: how much of the turn's last prompt the judge sees (the tail).
        prompt: ``{"system": ..., "user": ...}`` templates; default: the packaged
            ``judge_prompt.yaml``.

    Attributes:
        stats: counts of calls, unparseable replies and failed calls of the last run.
    """

    name = "judge"

    def __init__(
        self,
        client: LLMClient,
        *,
        min_score: float = 7.0,
        max_calls: int | None = None,
        context_chars: int = 3000,
        prompt: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.min_score = min_score
        self.max_calls = max_calls
        self.context_chars = context_chars
        self.prompt = prompt or _load_judge_prompt()
        self.stats: dict[str, int] = {}

    def describe(self) -> str:
        """``judge(model=M,min_score=S)``."""
        return f"judge(model={self.client.model},min_score={self.min_score})"

    def messages_for(self, lt: LoadedTrace, t: TurnRecord) -> list[Message]:
        """The judge's prompt for one turn."""
        last_user = next((m.content for m in reversed(t.messages) if m.role == "user"), "")
        context = last_user[-self.context_chars :]
        results = "\n".join(str(r.get("text", "")) for r in t.results)[: self.context_chars]
        fields = {
            "env": lt.env,
            "routine": t.routine.upper(),
            "step": t.step,
            "context": context,
            "ops": encode_ops(memory_ops(t)),
            "results": results,
            "progression": f"{lt.trace.progression:.3f}",
        }
        return [
            Message(role="system", content=self.prompt["system"].format(**fields)),
            Message(role="user", content=self.prompt["user"].format(**fields)),
        ]

    def select(
        self, traces: Sequence[LoadedTrace], candidates: set[TurnKey] | None = None
    ) -> list[Selection]:
        """Ask the judge about every (candidate) memory turn."""
        self.stats = {"calls": 0, "unparsed": 0, "failed": 0, "kept": 0}
        out: list[Selection] = []
        for lt, t in memory_turns(traces, candidates):
            if self.max_calls is not None and self.stats["calls"] >= self.max_calls:
                break
            self.stats["calls"] += 1
            try:
                reply = self.client.chat(self.messages_for(lt, t), temperature=0.0)
            except LLMError:
                self.stats["failed"] += 1
                continue
            judged = parse_judgement(reply.text)
            if judged is None:
                self.stats["unparsed"] += 1
                continue
            score, reason = judged
            if score < self.min_score:
                continue
            self.stats["kept"] += 1
            sel = _selection(lt, t, self.name, [f"judge score {score:g}: {reason}".rstrip(": ")])
            out.append(sel.model_copy(update={"score": score}))
        return sorted(out, key=_sort_key)


class Intersection(Selector):
    """Turns chosen by both selectors; ``right`` only sees what ``left`` chose."""

    name = "and"

    def __init__(self, left: Selector, right: Selector) -> None:
        self.left = left
        self.right = right

    def describe(self) -> str:
        """``(A & B)``."""
        return f"({self.left.describe()} & {self.right.describe()})"

    def select(
        self, traces: Sequence[LoadedTrace], candidates: set[TurnKey] | None = None
    ) -> list[Selection]:
        """Run ``left``, then ``right`` on its choices; merge reasons."""
        first = {s.key: s for s in self.left.select(traces, candidates)}
        if not first:
            return []
        second = self.right.select(traces, set(first))
        out = [first[s.key].merged(s, ops="intersection") for s in second if s.key in first]
        return sorted((s for s in out if s.ops is None or s.ops), key=_sort_key)


class Union(Selector):
    """Turns chosen by either selector (reasons of both kept)."""

    name = "or"

    def __init__(self, left: Selector, right: Selector) -> None:
        self.left = left
        self.right = right

    def describe(self) -> str:
        """``(A | B)``."""
        return f"({self.left.describe()} | {self.right.describe()})"

    def select(
        self, traces: Sequence[LoadedTrace], candidates: set[TurnKey] | None = None
    ) -> list[Selection]:
        """Run both and merge."""
        merged: dict[TurnKey, Selection] = {}
        for s in [*self.left.select(traces, candidates), *self.right.select(traces, candidates)]:
            merged[s.key] = merged[s.key].merged(s) if s.key in merged else s
        return sorted(merged.values(), key=_sort_key)


def _parse_term(term: str, judge: LLMClient | None, context: Any = None) -> Selector:
    name, _, arg = term.strip().partition(":")
    name = name.strip().lower()
    arg = arg.strip()
    try:
        if name == "all":
            return AllTurnsSelector()
        if name == "outcome":
            return OutcomeSelector(float(arg)) if arg else OutcomeSelector()
        if name == "hindsight":
            return HindsightSelector(float(arg)) if arg else HindsightSelector()
        if name == "judge":
            if judge is None:
                raise BehavioralError("the 'judge' selector needs a judge model (--judge SPEC)")
            return JudgeSelector(judge, min_score=float(arg)) if arg else JudgeSelector(judge)
        if name in ("verified", "counterfactual", "usage"):
            from automem_sdk.trainers.behavioral import credit

            if context is None:
                raise BehavioralError(
                    f"the {name!r} selector needs a credit context (the env, the task "
                    "policy and, for 'verified', a verifier): pass context=CreditContext(...)"
                )
            made: Selector
            if name == "verified":
                made = credit.VerifiedSelector(context)
            elif name == "usage":
                made = credit.UsageSelector(context)
            elif arg:
                made = credit.CounterfactualSelector(context, horizon=int(arg))
            else:
                made = credit.CounterfactualSelector(context)
            return made
    except ValueError as exc:
        raise BehavioralError(f"bad selector argument in {term!r}: {exc}") from exc
    raise BehavioralError(
        f"unknown selector {name!r} in {term!r}; use all, outcome[:K], hindsight[:R], "
        "judge[:S], verified, counterfactual[:H], usage"
    )


def parse_selector(spec: str, judge: LLMClient | None = None, context: Any = None) -> Selector:
    """Build a selector from a string such as ``"outcome:0.25 & hindsight | judge:8"``.

    ``&`` binds tighter than ``|``. Terms: ``all``, ``outcome[:TOP_FRAC]``,
    ``hindsight[:MIN_REWARD]``, ``judge[:MIN_SCORE]`` (needs ``judge``), and the
    decision-level terms of :mod:`.credit` (need ``context``, a
    :class:`~.credit.CreditContext`): ``verified``, ``counterfactual[:HORIZON]``,
    ``usage``.

    Raises:
        BehavioralError: an unknown term or a bad argument.
    """
    if not spec.strip():
        raise BehavioralError("empty selector spec")
    union: Selector | None = None
    for alt in spec.split("|"):
        inter: Selector | None = None
        for term in alt.split("&"):
            sel = _parse_term(term, judge, context)
            inter = sel if inter is None else Intersection(inter, sel)
        assert inter is not None
        union = inter if union is None else Union(union, inter)
    assert union is not None
    return union
