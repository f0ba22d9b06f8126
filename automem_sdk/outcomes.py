"""Outcomes on traces: a score, label, rating or check attached to a logged episode,
conversation or turn after the fact.

A trace logged by an adapter (the LangChain wrapper, the middleware, the Claude memory
tool, the MCP server) has no environment progression: whether the agent did well is
known later, from a user's thumbs-up, a support ticket closed, a test that passed. An
:class:`Outcome` records that, stored *beside* the trace on the same fsspec URL:

    <trace>.jsonl            the trace, unchanged
    <trace>.jsonl.outcomes/  one JSON object per outcome, ``<created>-<id>.json``

One object per outcome means nothing is ever read, modified and written back: many
processes (and S3, which cannot append) can attach feedback at once and none is lost.
The side folder does not end in ``.jsonl``, so :func:`~automem_sdk.trace.list_traces`
never mistakes it for a trace.

**Conversation ids.** Adapters record the conversation each exchange belongs to as a
step record (``StepRecord.info["conversation_id"]``, ``action`` ``"reply"`` or the tool
name) beside the routine turns of that step; :func:`record_conversation` writes it. A
whole trace can also name one conversation in ``TraceHeader.config["conversation_id"]``.
Feedback that knows only the conversation id finds its trace with
:func:`find_conversation` (or :func:`attach_outcome` on a folder of traces).

**For trainers.** :class:`TraceOutcomes` turns the outcomes of one trace into the
numbers a selector needs where no progression exists: :meth:`TraceOutcomes.episode_value`
(one number per trace) and :meth:`TraceOutcomes.step_values` (one number per step: the
step's own outcome, else its conversation's, else the episode's).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import fsspec
from pydantic import BaseModel, Field, ValidationError, model_validator

from automem_sdk.errors import AutomemError
from automem_sdk.versioned import load_versioned

if TYPE_CHECKING:
    from automem_sdk.trace import StepRecord, Trace, TraceWriter

__all__ = [
    "CONVERSATION_KEYS",
    "OUTCOMES_SCHEMA_VERSION",
    "Outcome",
    "OutcomeError",
    "TraceOutcomes",
    "attach_outcome",
    "conversation_id_of",
    "conversations",
    "find_conversation",
    "is_conversation_mark",
    "load_outcomes",
    "outcomes_url",
    "read_outcomes",
    "record_conversation",
]

OUTCOMES_SCHEMA_VERSION = 1
#: Keys a conversation id is read from, in order (``thread_id`` is LangGraph's).
CONVERSATION_KEYS: tuple[str, ...] = ("conversation_id", "thread_id", "session_id")
_SUFFIX = ".outcomes"


class OutcomeError(AutomemError):
    """An outcome that cannot be attached or read (unknown conversation, step, trace)."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


class Outcome(BaseModel):
    """Feedback on a logged episode, one of its conversations, or one of its steps.

    At least one of ``score``, ``label``, ``rating`` or ``passed`` is set. The target is
    the whole trace when ``conversation_id`` and ``step`` are both ``None``.
    """

    schema_version: int = OUTCOMES_SCHEMA_VERSION
    kind: Literal["outcome"] = "outcome"
    outcome_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    trace: str = ""
    run_id: str = ""
    conversation_id: str | None = None
    step: int | None = None
    score: float | None = None
    label: str | None = None
    rating: float | None = None
    rating_scale: float | None = None
    passed: bool | None = None
    source: str = "user"
    note: str = ""
    created: str = Field(default_factory=_now)

    @model_validator(mode="after")
    def _has_value(self) -> Outcome:
        if (
            self.score is None
            and self.label is None
            and self.rating is None
            and (self.passed is None)
        ):
            raise ValueError("an outcome needs a score, label, rating or passed")
        for name in ("score", "rating", "rating_scale"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if self.rating_scale is not None and self.rating_scale <= 0:
            raise ValueError("rating_scale must be > 0 (e.g. 5 for a 1-5 star rating)")
        return self

    @property
    def target(self) -> str:
        """``episode``, ``conversation`` or ``step``."""
        if self.step is not None:
            return "step"
        return "conversation" if self.conversation_id is not None else "episode"

    def value(self, labels: Mapping[str, float] | None = None) -> float | None:
        """The outcome as one number: ``score``, else ``rating / rating_scale``, else
        ``passed`` (1.0 or 0.0), else ``labels[label]``; ``None`` when none applies."""
        if self.score is not None:
            return self.score
        if self.rating is not None:
            return self.rating / self.rating_scale if self.rating_scale else self.rating
        if self.passed is not None:
            return 1.0 if self.passed else 0.0
        if self.label is not None and labels is not None and self.label in labels:
            return float(labels[self.label])
        return None


def outcomes_url(trace_url: str) -> str:
    """The folder beside ``trace_url`` that holds its outcomes."""
    return trace_url.rstrip("/") + _SUFFIX


def conversation_id_of(values: Mapping[str, Any] | None) -> str | None:
    """The conversation id among a call's values (``conversation_id``, ``thread_id``,
    ``session_id``; LangChain's ``configurable`` and ``metadata`` already merged)."""
    for key in CONVERSATION_KEYS:
        v = (values or {}).get(key)
        if v is not None and str(v):
            return str(v)
    return None


def record_conversation(
    writer: TraceWriter | None,
    *,
    step: int,
    conversation_id: str | None,
    action: str = "reply",
    info: Mapping[str, Any] | None = None,
) -> bool:
    """Write the step record that ties ``step`` of a trace to a conversation.

    Adapters call it once per exchange (or tool call). Nothing is written without a
    writer, a closed one, or without a conversation id.

    Returns:
        Whether a record was written.
    """
    if writer is None or writer.closed or not conversation_id:
        return False
    from automem_sdk.trace import StepRecord

    extra = {k: v for k, v in (info or {}).items() if isinstance(v, str | int | float | bool)}
    writer.write(
        StepRecord(step=step, action=action, info={**extra, "conversation_id": conversation_id})
    )
    return True


def is_conversation_mark(record: StepRecord) -> bool:
    """Whether a step record only names its step's conversation (as
    :func:`record_conversation` writes it) rather than recording an env step; trainers
    and diagnostics that count env steps leave these out."""
    return (
        "conversation_id" in record.info and not record.observation and (record.progression is None)
    )


def conversations(trace: Trace) -> dict[str, list[int]]:
    """Conversation id -> the steps of ``trace`` that belong to it (sorted)."""
    out: dict[str, set[int]] = {}
    whole = trace.header.config.get("conversation_id")
    if whole:
        steps = {t.step for t in trace.turns} | {s.step for s in trace.steps}
        out.setdefault(str(whole), set()).update(steps)
    for s in trace.steps:
        cid = s.info.get("conversation_id")
        if cid:
            out.setdefault(str(cid), set()).add(s.step)
    return {k: sorted(v) for k, v in out.items()}


def _fs(url: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    return fs, path


def _is_dir(url: str, storage_options: Mapping[str, Any] | None) -> bool:
    if url.endswith((".jsonl", ".jsonl.gz")):
        return False
    fs, path = _fs(url, storage_options)
    return bool(fs.isdir(path))


def find_conversation(
    url: str, conversation_id: str, storage_options: Mapping[str, Any] | None = None
) -> list[str]:
    """The traces below folder ``url`` that logged ``conversation_id`` (sorted URLs).

    JSON-lines files that are not traces (a memory store's journal) are passed over.
    """
    from automem_sdk.errors import TraceError
    from automem_sdk.trace import list_traces, read_trace

    opts = dict(storage_options or {})
    found = []
    for t in list_traces(url, opts):
        try:
            tr = read_trace(t, opts)
        except TraceError:  # JSON lines that are not a trace (a store's journal)
            continue
        if conversation_id in conversations(tr):
            found.append(t)
    return found


def _check_target(tr: Trace, url: str, conversation_id: str | None, step: int | None) -> None:
    convs = conversations(tr)
    if conversation_id is not None and conversation_id not in convs:
        known = ", ".join(sorted(convs)[:10]) or "none recorded"
        raise OutcomeError(
            f"conversation {conversation_id!r} is not in {url} (its conversations: {known}); "
            "pass the trace that logged it, or a folder of traces to search"
        )
    if step is None:
        return
    steps = sorted({t.step for t in tr.turns} | {s.step for s in tr.steps})
    if conversation_id is not None:
        steps = convs[conversation_id]
    if step not in steps:
        where = f"conversation {conversation_id!r} of {url}" if conversation_id else url
        shown = (
            ", ".join(map(str, steps[:20]))
            + (f", ... ({len(steps)} steps)" if len(steps) > 20 else "")
            if steps
            else "none"
        )
        raise OutcomeError(f"step {step} is not in {where} (its steps: {shown}); pick one of them")


def attach_outcome(
    url: str,
    *,
    conversation_id: str | None = None,
    step: int | None = None,
    score: float | None = None,
    label: str | None = None,
    rating: float | None = None,
    rating_scale: float | None = None,
    passed: bool | None = None,
    source: str = "user",
    note: str = "",
    storage_options: Mapping[str, Any] | None = None,
) -> list[Outcome]:
    """Attach one outcome to a trace, or to every trace of a folder that logged the
    conversation.

    Args:
        url: a trace (``.jsonl`` / ``.jsonl.gz``, any fsspec URL) or a folder of traces
            (then ``conversation_id`` is required and finds the trace).
        conversation_id: the conversation the outcome is about (``None``: the trace, or
            the step).
        step: one step (turn) of the trace.
        score: a number (higher is better).
        label: a free label (``"resolved"``, ``"wrong-fact"``).
        rating: a user rating, with ``rating_scale`` its maximum (``4`` of ``5``).
        rating_scale: the rating's maximum.
        passed: a task check's verdict.
        source: who judged (``user``, ``check``, ``judge:<model>``).
        note: free text.
        storage_options: fsspec options for the trace and its outcomes.

    Returns:
        The outcomes written (one per trace).

    Raises:
        OutcomeError: the conversation or step is not in the trace (or in any trace of
            the folder), or a folder without a conversation id; nothing is written.
        ValueError: no score, label, rating or passed, or a non-finite number.
        FileNotFoundError: no such trace.
    """
    opts = dict(storage_options or {})
    values: dict[str, Any] = {
        "score": score,
        "label": label,
        "rating": rating,
        "rating_scale": rating_scale,
        "passed": passed,
    }
    try:  # the values are checked before any trace is read
        Outcome(**values)
    except ValidationError as exc:
        msg = str(exc.errors()[0].get("msg", exc)).removeprefix("Value error, ")
        raise ValueError(msg) from None
    targets = _targets(url, conversation_id, opts)
    planned = [(t, _planned(t, opts, conversation_id, step, values, source, note)) for t in targets]
    for t, outcome in planned:
        _write(t, outcome, opts)
    return [o for _, o in planned]


def _targets(url: str, conversation_id: str | None, opts: Mapping[str, Any]) -> list[str]:
    """The traces an outcome goes to: ``url`` itself, or the traces of a folder that
    logged ``conversation_id``."""
    fs, path = _fs(url, opts)
    if not fs.exists(path):
        raise FileNotFoundError(
            f"no trace at {url}: pass a trace file (.jsonl or .jsonl.gz) or a folder of traces"
        )
    if not _is_dir(url, opts):
        return [url]
    if conversation_id is None:
        raise OutcomeError(
            f"{url} is a folder: pass a conversation id to find its trace, or a trace file"
        )
    targets = find_conversation(url, conversation_id, opts)
    if not targets:
        raise OutcomeError(
            f"no trace below {url} logged conversation {conversation_id!r}; check the id "
            "(adapters record configurable conversation_id or thread_id)"
        )
    return targets


def _planned(
    trace_url: str,
    opts: Mapping[str, Any],
    conversation_id: str | None,
    step: int | None,
    values: Mapping[str, Any],
    source: str,
    note: str,
) -> Outcome:
    """The outcome for one trace, its target checked against the trace."""
    from automem_sdk.trace import read_trace

    tr = read_trace(trace_url, dict(opts))
    _check_target(tr, trace_url, conversation_id, step)
    cid = conversation_id
    if cid is None and step is not None:  # a step's outcome is also its conversation's
        cid = next((c for c, ss in conversations(tr).items() if step in ss), None)
    return Outcome(
        trace=trace_url,
        run_id=tr.header.run_id,
        conversation_id=cid,
        step=step,
        source=source,
        note=note,
        **values,
    )


def _write(trace_url: str, outcome: Outcome, opts: Mapping[str, Any]) -> None:
    fs, folder = _fs(outcomes_url(trace_url), opts)
    stamp = outcome.created.replace(":", "").replace("-", "").replace("+", "Z")
    path = f"{folder.rstrip('/')}/{stamp}-{outcome.outcome_id}.json"
    data = (outcome.model_dump_json() + "\n").encode("utf-8")
    with contextlib.suppress(FileExistsError, NotImplementedError):  # object stores
        fs.makedirs(folder, exist_ok=True)
    fs.pipe_file(path, data)


def read_outcomes(
    trace_url: str, storage_options: Mapping[str, Any] | None = None
) -> list[Outcome]:
    """Every outcome attached to ``trace_url``, oldest first (``[]`` when none).

    Raises:
        OutcomeError: a file in the outcomes folder is not an outcome, or is newer than
            this SDK reads.
    """
    fs, folder = _fs(outcomes_url(trace_url), storage_options)
    if not fs.exists(folder):
        return []
    out = []
    for path in sorted(p for p in fs.find(folder) if p.endswith(".json")):
        obj = load_versioned(
            fs.cat_file(path), f"{path} (remove or fix the file)", kind="outcome",
            supported=OUTCOMES_SCHEMA_VERSION, error=OutcomeError,
        )  # fmt: skip
        try:
            out.append(Outcome.model_validate(obj))
        except ValidationError as exc:
            raise OutcomeError(f"{path}: not an outcome record: {exc}") from exc
    out.sort(key=lambda o: (o.created, o.outcome_id))
    return out


Reduce = Callable[[Sequence[float]], float]


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


@dataclass
class TraceOutcomes:
    """A trace with its outcomes, as the numbers a selector needs.

    Attributes:
        trace: the trace.
        outcomes: its outcomes, oldest first.
        labels: label -> value, for outcomes that carry only a label.
        reduce: how several values for one target combine (default: mean).
    """

    trace: Trace
    outcomes: list[Outcome] = field(default_factory=list)
    labels: Mapping[str, float] | None = None
    reduce: Reduce = _mean

    def _values(self, keep: Callable[[Outcome], bool]) -> list[float]:
        vals = [o.value(self.labels) for o in self.outcomes if keep(o)]
        return [v for v in vals if v is not None]

    def episode_value(self) -> float | None:
        """One number for the whole trace: the episode-level outcomes if any, else every
        conversation and step outcome combined; ``None`` without any."""
        own = self._values(lambda o: o.target == "episode")
        vals = own or self._values(lambda o: True)
        return self.reduce(vals) if vals else None

    def conversation_value(self, conversation_id: str) -> float | None:
        """The outcome of one conversation (its own outcomes, else its steps')."""
        own = self._values(
            lambda o: o.conversation_id == conversation_id and o.target == "conversation"
        )
        vals = own or self._values(lambda o: o.conversation_id == conversation_id)
        return self.reduce(vals) if vals else None

    def step_values(self) -> dict[int, float]:
        """Step -> value: the step's own outcome, else its conversation's, else the
        episode's. Steps with none of them are left out."""
        steps = sorted({t.step for t in self.trace.turns} | {s.step for s in self.trace.steps})
        of_step: dict[int, str] = {}
        for cid, ss in conversations(self.trace).items():
            for s in ss:
                of_step.setdefault(s, cid)
        episode = self._values(lambda o: o.target == "episode")
        out: dict[int, float] = {}
        for s in steps:
            vals = self._values(_at_step(s))
            if not vals and s in of_step:
                vals = self._values(_of_conversation(of_step[s]))
            vals = vals or episode
            if vals:
                out[s] = self.reduce(vals)
        return out


def _at_step(step: int) -> Callable[[Outcome], bool]:
    return lambda o: o.step == step


def _of_conversation(cid: str) -> Callable[[Outcome], bool]:
    return lambda o: o.conversation_id == cid and o.target == "conversation"


def load_outcomes(
    trace_url: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    labels: Mapping[str, float] | None = None,
) -> TraceOutcomes:
    """Read a trace and its outcomes together.

    Raises:
        TraceError: the trace is not readable.
        OutcomeError: an outcome file is not readable.
    """
    from automem_sdk.trace import read_trace

    tr = read_trace(trace_url, dict(storage_options or {}))
    return TraceOutcomes(tr, read_outcomes(trace_url, storage_options), labels=labels)
