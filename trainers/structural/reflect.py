"""Reflect: what went wrong with a scaffold, read from logged trajectories.

:func:`reflect` turns traces into a :class:`Reflection`: core diagnostics averaged over
episodes, per-file usage (writes, reads, writes refused by a size cap, writes never
read, appends that repeat a key), op errors grouped by message, ops refused because the
scaffold disables them, routine limits hit, and short excerpts of the trajectories
around failures. Proposers read it; :meth:`Reflection.to_prompt` renders it for an LLM.

**Outcomes.** A trace without env progression (a conversation logged by an adapter or
the conversational benchmark: its steps only name their conversation) is judged by the
outcomes attached to it (:mod:`automem_sdk.outcomes`): episodes are ranked best and
worst by :meth:`~automem_sdk.outcomes.TraceOutcomes.episode_value`, and every step
check (``passed`` on the step that stated a fact) is grouped by the kind its note names
(``multihop: ...``) with what the memory model did at that step: wrote it, had the
write refused over a cap, had it fail, or wrote nothing (:class:`CheckGroup`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from statistics import mean
from typing import Any

from automem_sdk.trainers.structural.faults import Fault, find_faults
from pydantic import BaseModel, Field

from automem_sdk.agent import estimate_tokens
from automem_sdk.diagnostics import Diagnostics, diagnose, mean_diagnostics
from automem_sdk.errors import AutomemError
from automem_sdk.outcomes import Outcome, TraceOutcomes, is_conversation_mark, read_outcomes
from automem_sdk.scaffold import Scaffold
from automem_sdk.trace import Trace, TurnRecord

__all__ = [
    "Attempt",
    "CheckGroup",
    "EpisodeSummary",
    "FileStats",
    "OpErrorGroup",
    "Reflection",
    "episode_value",
    "has_env_progression",
    "reflect",
]

_WRITES = frozenset({"write", "append", "create", "upsert", "replace", "insert"})
_READS = frozenset({"read", "head", "tail", "search", "count"})
_DISABLED = re.compile(r"op '([a-z]+)' is not enabled in this scaffold")
_CAP = "over its cap of"
_OVER_CAP = re.compile(r"would grow to (\d+) bytes, over its cap of (\d+)")
_EXHAUSTED = "no memory ops left"
_NUMBER = re.compile(r"\d+")


class FileStats(BaseModel):
    """How one memory file was used, summed over the reflected episodes."""

    writes: int = 0
    appends: int = 0
    upserts: int = 0
    reads: int = 0
    failed_writes: int = 0
    cap_rejections: int = 0
    #: The most bytes one episode's refused writes would have added beyond the cap
    #: (each distinct write counted once): an estimate of what the file needed.
    overflow_bytes: int = 0
    writes_never_read: int = 0
    repeated_append_keys: int = 0
    declared: bool = False


class OpErrorGroup(BaseModel):
    """Op errors with the same message (numbers folded), with one verbatim example."""

    op: str
    message: str
    count: int
    example: str


class EpisodeSummary(BaseModel):
    """One reflected episode (``outcome``: its outcomes' value, ``None`` without any)."""

    env: str
    seed: int | None
    progression: float
    steps: int
    diagnostics: dict[str, float] = Field(default_factory=dict)
    memory_end: dict[str, str] | None = None
    outcome: float | None = None
    checks_passed: int = 0
    checks_failed: int = 0


class CheckGroup(BaseModel):
    """Step checks of one kind (the part of the note before ``:``, e.g. ``multihop``)
    summed over episodes, with what the memory model did at each failed check's step.

    ``failed_by`` keys: ``written`` (a write there succeeded), ``refused over cap``,
    ``write failed``, ``not written`` (no write at that step).
    """

    kind: str
    passed: int = 0
    failed: int = 0
    failed_by: dict[str, int] = Field(default_factory=dict)
    example: str = ""


class Attempt(BaseModel):
    """A candidate tried earlier in the run (so proposers do not repeat themselves)."""

    iteration: int
    parent: str
    candidate: str
    changelog: list[str] = Field(default_factory=list)
    decision: str
    reason: str
    scores: str = ""


class Reflection(BaseModel):
    """What the proposer learns about the parent scaffold (see module docstring)."""

    scaffold_id: str
    source: str = "rollouts"
    episodes: list[EpisodeSummary] = Field(default_factory=list)
    mean_progression: float = 0.0
    diagnostics: dict[str, float] = Field(default_factory=dict)
    files: dict[str, FileStats] = Field(default_factory=dict)
    op_errors: list[OpErrorGroup] = Field(default_factory=list)
    disabled_ops: dict[str, int] = Field(default_factory=dict)
    log_exhausted: int = 0
    plan_exhausted: int = 0
    fallbacks: int = 0
    truncated_results: int = 0
    context_trimmed: int = 0
    max_log_ops_used: int = 0
    mean_prompt_tokens: float = 0.0
    max_prompt_tokens: int = 0
    excerpts: list[str] = Field(default_factory=list)
    history: list[Attempt] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    best_episode: str = ""
    worst_episode: str = ""
    agent: str = ""
    mean_outcome: float | None = None
    checks: list[CheckGroup] = Field(default_factory=list)

    def fault(self, name: str, subject: str | None = None) -> Fault | None:
        """The strongest fault called ``name`` (about ``subject`` when given), if found."""
        return next(
            (f for f in self.faults if f.name == name and subject in (None, f.subject)), None
        )

    @property
    def n_episodes(self) -> int:
        """How many episodes were reflected on."""
        return len(self.episodes)

    def to_prompt(self, max_chars: int = 6000) -> str:
        """Render for an LLM proposer: numbers first, then excerpts up to ``max_chars``."""
        head = "\n".join(self._numbers())
        # Failure excerpts get half of the room left, the best and worst episodes (side
        # by side, each with its memory at the end) share the rest.
        room = (max_chars - len(head)) // 2
        shown: list[str] = []
        for ex in self.excerpts:
            if room - len(ex) < 0:
                break
            shown.append(ex)
            room -= len(ex) + 2
        if shown:
            head += "\n\nTrajectory excerpts around failures:\n\n" + "\n\n".join(shown)
        pair = [
            (t, x)
            for t, x in (
                ("Best episode (for contrast)", self.best_episode),
                ("Worst episode", self.worst_episode),
            )
            if x
        ]
        for title, text in pair:
            each = (max_chars - len(head)) // len(pair) - len(title) - 8
            if each < 200:
                break
            cut = text if len(text) <= each else text[: each - 6] + "\n[...]"
            head += f"\n\n{title}:\n{cut}"
        return head

    def _numbers(self) -> list[str]:
        """The numeric part of :meth:`to_prompt`: episodes, files, limits, errors."""
        outcome = "" if self.mean_outcome is None else f", mean outcome {self.mean_outcome:.3f}"
        lines = [
            f"Scaffold {self.scaffold_id}: {self.n_episodes} episode(s) from {self.source}, "
            f"mean progression {self.mean_progression:.3f}{outcome}.",
            "Per episode: " + ", ".join(_episode_text(e) for e in self.episodes),
            "Diagnostics (mean per episode): "
            + ", ".join(f"{k}={v:.3g}" for k, v in self.diagnostics.items()),
            "Memory files (sums over episodes):",
        ]
        for name, st in sorted(self.files.items()):
            tag = "" if st.declared else " (not declared in the scaffold)"
            lines.append(
                f"- {name}{tag}: writes={st.writes} (append={st.appends}, upsert={st.upserts}), "
                f"reads={st.reads}, failed_writes={st.failed_writes}, "
                f"rejected_over_cap={st.cap_rejections}"
                + (f" (up to {st.overflow_bytes} bytes per episode)" if st.overflow_bytes else "")
                + f", writes_never_read={st.writes_never_read}, "
                f"appends_repeating_a_key={st.repeated_append_keys}"
            )
        if self.disabled_ops:
            lines.append(
                "Ops refused because the scaffold disables them: "
                + ", ".join(f"{k} x{v}" for k, v in sorted(self.disabled_ops.items()))
            )
        lines.append(
            f"Routine limits: LOG ran out of ops {self.log_exhausted}x, PLAN ran out of ops "
            f"{self.plan_exhausted}x, fallback actions {self.fallbacks}, op results truncated "
            f"{self.truncated_results}x, context trimmed {self.context_trimmed}x, most LOG ops "
            f"used in one step {self.max_log_ops_used}, prompt tokens per turn mean "
            f"{self.mean_prompt_tokens:.0f} / max {self.max_prompt_tokens}."
        )
        lines += _check_lines(self.checks)
        if self.op_errors:
            lines.append("Op errors (most frequent first):")
            lines += [f"- {g.op} x{g.count}: {g.example}" for g in self.op_errors[:12]]
        lines += _history_lines(self.history)
        if self.agent:
            lines.insert(1, f"What plays: {self.agent}")
        if self.faults:
            lines.append("Silent faults (no error message announced these):")
            for f in self.faults[:16]:
                lines.append(f"- {f.name} [{f.subject}] share={f.share:.2f}: {f.evidence}")
        scored = [a for a in self.history[-6:] if a.scores]
        if scored:
            lines.append("Per-seed gate results of past candidates (seed: parent->candidate):")
            lines += [f"- iteration {a.iteration} {a.candidate}: {a.scores}" for a in scored]
        return lines


def _episode_text(e: EpisodeSummary) -> str:
    text = f"{e.env}#{e.seed}={e.progression:.2f}/{e.steps} steps"
    if e.outcome is not None:
        text += f" (outcome {e.outcome:.2f}, checks {e.checks_passed}/{e.checks_passed + e.checks_failed} passed)"
    return text


def _check_lines(checks: Sequence[CheckGroup]) -> list[str]:
    if not checks:
        return []
    lines = ["Outcome checks by kind (passed/all; what memory did at each failed check's step):"]
    for g in checks:
        why = ", ".join(f"{k} {v}" for k, v in sorted(g.failed_by.items(), key=lambda kv: -kv[1]))
        lines.append(
            f"- {g.kind}: {g.passed}/{g.passed + g.failed} passed"
            + (f"; failed: {why}" if why else "")
            + (f"; e.g. {g.example}" if g.example else "")
        )
    return lines


def _history_lines(history: Sequence[Attempt]) -> list[str]:
    if not history:
        return []
    lines = ["Candidates already tried in this run:"]
    for a in history[-12:]:
        lines.append(
            f"- iteration {a.iteration}: {a.candidate} from {a.parent}: {a.decision} "
            f"({a.reason}); changes: {'; '.join(a.changelog) or '-'}"
        )
    return lines


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _op_items(turn: TurnRecord) -> Iterable[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(op name, path, op dict, result dict), custom ops expanded into their steps."""
    for op, res in zip(turn.ops, turn.results, strict=False):
        name = str(op.get("op", ""))
        if name == "custom":
            steps = res.get("data", {}).get("steps")
            if isinstance(steps, list) and steps:
                for step in steps:
                    yield str(step.get("op", "")), str(step.get("path") or ""), step, step
                continue
            yield str(res.get("op", name)), str(res.get("path") or ""), op, res
            continue
        yield name, str(op.get("path") or res.get("path") or ""), op, res


def _appended_key(content: str) -> str | None:
    first = content.strip().splitlines()[0] if content.strip() else ""
    key, sep, _ = first.partition(":")
    return key.strip() if sep and key.strip() and len(key) <= 64 else None


def has_env_progression(trace: Trace) -> bool:
    """Whether ``trace`` records env steps with a progression (a game), rather than
    steps that only name their conversation (an adapter's or a dialogue's trace)."""
    return any(s.progression is not None and not is_conversation_mark(s) for s in trace.steps)


def _outcomes(trace: Trace) -> TraceOutcomes | None:
    """The outcomes beside ``trace`` (read from its URL), ``None`` when it has none."""
    if not trace.url:
        return None
    try:
        found = read_outcomes(trace.url)
    except (AutomemError, OSError, ValueError):
        return None
    return TraceOutcomes(trace, found) if found else None


def episode_value(trace: Trace, outcomes: TraceOutcomes | None = None) -> float:
    """How well an episode went: its outcomes' value where it has no env progression
    and outcomes exist, else its progression."""
    if outcomes is not None and not has_env_progression(trace):
        value = outcomes.episode_value()
        if value is not None:
            return value
    return trace.progression


def _step_checks(outcomes: TraceOutcomes | None) -> list[Outcome]:
    if outcomes is None:
        return []
    return [o for o in outcomes.outcomes if o.target == "step" and o.passed is not None]


def _at_step(trace: Trace, step: int) -> str:
    """What the memory model's writes did at ``step``."""
    seen = "not written"
    for t in trace.turns:
        if t.step != step:
            continue
        for name, _path, _op, res in _op_items(t):
            if name not in _WRITES:
                continue
            if res.get("ok"):
                return "written"
            err = str(res.get("error") or "")
            seen = "refused over cap" if _CAP in err else "write failed"
    return seen


def _add_checks(
    trace: Trace,
    outcomes: TraceOutcomes | None,
    summary: EpisodeSummary,
    groups: dict[str, CheckGroup],
) -> None:
    for o in _step_checks(outcomes):
        kind = o.note.split(":", 1)[0].strip() if ":" in o.note else o.label or "check"
        g = groups.setdefault(kind, CheckGroup(kind=kind))
        if o.passed:
            g.passed += 1
            summary.checks_passed += 1
            continue
        g.failed += 1
        summary.checks_failed += 1
        assert o.step is not None
        why = _at_step(trace, o.step)
        g.failed_by[why] = g.failed_by.get(why, 0) + 1
        if not g.example:
            g.example = _short(f"step {o.step} ({why}): {o.note}", 200)


def _excerpt(trace: Trace, max_chars: int, failed_checks: Sequence[int] = ()) -> str | None:
    """Turns around the first failed ops (and failed checks) plus the last steps of an
    unsuccessful episode."""
    h = trace.header
    marks: list[int] = []
    for t in trace.turns:
        if any(not r.get("ok", True) for r in t.results) and t.step not in marks:
            marks.append(t.step)
        if len(marks) >= 3:
            break
    marks += [s for s in failed_checks[:3] if s not in marks]
    last = trace.steps[-1].step if trace.steps else 0
    wanted = set(marks) | set(range(max(0, last - 1), last + 1))
    by_step: dict[int, list[str]] = {}
    for t in trace.turns:
        if t.step not in wanted:
            continue
        rows = by_step.setdefault(t.step, [])
        rows.append(f"  {t.routine.upper()}[{t.turn}]> {_short(t.output, 200)}")
        for r in t.results:
            status = "ok" if r.get("ok") else "ERROR"
            rows.append(f"    -> {status}: {_short(str(r.get('text', '')), 160)}")
    for s in trace.steps:
        if s.step in wanted:
            moved = "" if s.changed is not False else " (nothing changed)"
            by_step.setdefault(s.step, []).append(
                f"  ACTION {s.action}{moved} -> {_short(s.observation, 160)}"
            )
    for step in failed_checks:
        if step in by_step:
            by_step[step].append("  CHECK failed on this step's fact")
    if not by_step:
        return None
    out = [f"[{h.env} seed={h.seed} progression={trace.progression:.2f} steps={len(trace.steps)}]"]
    for step in sorted(by_step):
        out.append(f" step {step}:")
        out.extend(by_step[step])
    text = "\n".join(out)
    return text if len(text) <= max_chars else text[: max_chars - 4] + "\n..."


class _Scan:
    """Op usage of the reflected episodes, summed (files, errors, limits, prompts)."""

    def __init__(self, scaffold: Scaffold, r: Reflection) -> None:
        self.scaffold = scaffold
        self.r = r
        self.files: dict[str, FileStats] = {
            f.name: FileStats(declared=True) for f in scaffold.files
        }
        self.errors: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], str] = {}
        self.disabled: Counter[str] = Counter()
        self.prompt_tokens: list[int] = []
        self._overflow: Counter[str] = Counter()  # this episode's refused bytes per file
        self._refused: set[tuple[str, str]] = set()  # (path, write) refused this episode

    def stats(self, path: str) -> FileStats:
        return self.files.setdefault(path, FileStats(declared=self.scaffold.file(path) is not None))

    def trace(self, trace: Trace) -> None:
        """Count one episode's ops."""
        pending: Counter[str] = Counter()
        keys: dict[str, set[str]] = {}
        log_ops: Counter[int] = Counter()
        self._overflow.clear()
        self._refused.clear()
        for t in trace.turns:
            self.prompt_tokens.append(sum(estimate_tokens(m.content) for m in t.messages))
            if any("\n[...]\n" in m.content for m in t.messages):
                self.r.context_trimmed += 1
            if t.fallback:
                self.r.fallbacks += 1
            for name, path, op, res in _op_items(t):
                self.op(t, name, path, op, res, pending, keys, log_ops)
        for path, n in pending.items():
            self.stats(path).writes_never_read += n
        for path, n in self._overflow.items():
            st = self.stats(path)
            st.overflow_bytes = max(st.overflow_bytes, n)
        if log_ops:
            self.r.max_log_ops_used = max(self.r.max_log_ops_used, max(log_ops.values()))

    def op(
        self,
        t: TurnRecord,
        name: str,
        path: str,
        op: dict[str, Any],
        res: dict[str, Any],
        pending: Counter[str],
        keys: dict[str, set[str]],
        log_ops: Counter[int],
    ) -> None:
        """Count one op and its result."""
        r = self.r
        ok = bool(res.get("ok", False))
        err = str(res.get("error") or "")
        text = str(res.get("text") or "")
        if len(text) > self.scaffold.limits.result_chars:
            r.truncated_results += 1
        if _EXHAUSTED in err:
            if t.routine == "log":
                r.log_exhausted += 1
            else:
                r.plan_exhausted += 1
        m = _DISABLED.search(err)
        if m:
            self.disabled[m.group(1)] += 1
        if not ok and err and name not in ("done",):
            group = (name, _NUMBER.sub("N", err))
            self.errors[group] += 1
            self.examples.setdefault(group, _short(text or err, 200))
        if name in _WRITES and path:
            self.write(t, name, path, op, ok, err, pending, keys, log_ops)
        elif name in _READS and ok:
            if name == "search" and not path:
                for fp in list(pending):
                    self.stats(fp).reads += 1
                pending.clear()
            elif path:
                self.stats(path).reads += 1
                pending.pop(path, None)

    def write(
        self,
        t: TurnRecord,
        name: str,
        path: str,
        op: dict[str, Any],
        ok: bool,
        err: str,
        pending: Counter[str],
        keys: dict[str, set[str]],
        log_ops: Counter[int],
    ) -> None:
        """Count one write op."""
        st = self.stats(path)
        if t.routine == "log" and ok:
            log_ops[t.step] += 1
        if not ok:
            st.failed_writes += 1
            if _CAP in err:
                st.cap_rejections += 1
                self._overflowed(path, op, err)
            return
        st.writes += 1
        pending[path] += 1
        if name == "append":
            st.appends += 1
            key = _appended_key(str(op.get("content", "")))
            if key is not None:
                seen = keys.setdefault(path, set())
                if key in seen:
                    st.repeated_append_keys += 1
                seen.add(key)
        elif name == "upsert":
            st.upserts += 1

    def _overflowed(self, path: str, op: dict[str, Any], err: str) -> None:
        """Add what a refused write would have added (once per distinct write)."""
        m = _OVER_CAP.search(err)
        what = (path, json.dumps(op, sort_keys=True, default=str))
        if m is None or what in self._refused:
            return
        self._refused.add(what)
        self._overflow[path] += max(0, int(m.group(1)) - int(m.group(2)))

    def finish(self) -> None:
        """Move the sums into the reflection."""
        r = self.r
        r.files = self.files
        r.disabled_ops = dict(sorted(self.disabled.items()))
        r.op_errors = [
            OpErrorGroup(op=op, message=msg, count=n, example=self.examples[(op, msg)])
            for (op, msg), n in sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        r.mean_prompt_tokens = mean(self.prompt_tokens) if self.prompt_tokens else 0.0
        r.max_prompt_tokens = max(self.prompt_tokens, default=0)


def reflect(
    traces: Sequence[Trace],
    scaffold: Scaffold,
    *,
    source: str = "rollouts",
    history: Sequence[Attempt] = (),
    excerpt_chars: int = 1500,
    max_excerpts: int = 4,
    memory_end: Sequence[dict[str, str] | None] | None = None,
    agent: str = "",
) -> Reflection:
    """Summarise ``traces`` of episodes played with ``scaffold``.

    Episodes without env progression are ranked by their outcomes (read beside each
    trace's URL; see the module docstring), and their step checks are grouped.

    Args:
        traces: the episodes (complete or not).
        scaffold: the scaffold they were played with (for declared files and limits).
        source: where the traces came from (shown to the proposer).
        history: candidates tried earlier in the run.
        excerpt_chars: size limit of one excerpt.
        max_excerpts: how many failing episodes to excerpt.
        memory_end: per trace, its memory files at the episode's end (None: unknown).
        agent: what plays the episodes (agent type, model, what it reacts to).

    Returns:
        The reflection.
    """
    r = Reflection(scaffold_id=scaffold.id, source=source, history=list(history), agent=agent)
    scan = _Scan(scaffold, r)
    episodes: list[EpisodeSummary] = []
    diags: list[Diagnostics] = []
    values: list[float] = []
    groups: dict[str, CheckGroup] = {}
    failed: list[list[int]] = []
    for i, trace in enumerate(traces):
        d = diagnose(trace)
        diags.append(d)
        outcomes = _outcomes(trace)
        summary = EpisodeSummary(
            env=trace.header.env,
            seed=trace.header.seed,
            progression=trace.progression,
            steps=len(trace.steps),
            diagnostics=d.summary(),
            memory_end=memory_end[i] if memory_end is not None and i < len(memory_end) else None,
            outcome=outcomes.episode_value() if outcomes is not None else None,
        )
        _add_checks(trace, outcomes, summary, groups)
        failed.append(
            sorted(o.step for o in _step_checks(outcomes) if not o.passed and o.step is not None)
        )
        episodes.append(summary)
        values.append(episode_value(trace, outcomes))
        scan.trace(trace)
    scan.finish()
    r.episodes = episodes
    r.mean_progression = mean(e.progression for e in episodes) if episodes else 0.0
    judged = [e.outcome for e in episodes if e.outcome is not None]
    r.mean_outcome = mean(judged) if judged else None
    r.checks = sorted(groups.values(), key=lambda g: (-g.failed, g.kind))
    r.diagnostics = mean_diagnostics(diags)
    _pick_excerpts(r, traces, episodes, values, failed, excerpt_chars, max_excerpts)
    r.faults = find_faults(traces, scaffold, memory_end=memory_end)
    return r


def _pick_excerpts(
    r: Reflection,
    traces: Sequence[Trace],
    episodes: Sequence[EpisodeSummary],
    values: Sequence[float],
    failed: Sequence[Sequence[int]],
    excerpt_chars: int,
    max_excerpts: int,
) -> None:
    """Excerpts of the worst episodes, and the best and worst side by side (ranked by
    :func:`episode_value`)."""
    if not traces:
        return
    order = sorted(
        range(len(traces)),
        key=lambda k: (
            values[k],
            -len(traces[k].steps),
            str(traces[k].header.env),
            traces[k].header.seed or 0,
        ),
    )
    best = max(values)
    for k in order[:max_excerpts]:
        if values[k] >= 1.0 or (values[k] >= best and best > 0):
            continue
        ex = _excerpt(traces[k], excerpt_chars, failed[k])
        if ex:
            r.excerpts.append(ex)
    worst, best_i = order[0], order[-1]
    r.worst_episode = _side(traces[worst], episodes[worst], excerpt_chars, failed[worst])
    if best_i != worst and values[best_i] > values[worst]:
        r.best_episode = _side(traces[best_i], episodes[best_i], excerpt_chars, failed[best_i])


def _side(
    trace: Trace, summary: EpisodeSummary, max_chars: int, failed_checks: Sequence[int] = ()
) -> str:
    """One episode for the side-by-side view: its last steps and its memory at the end."""
    ex = _excerpt(trace, max_chars, failed_checks) or (
        f"[{trace.header.env} seed={trace.header.seed} progression={trace.progression:.2f}]"
    )
    if summary.outcome is not None:
        ex += (
            f"\n outcome {summary.outcome:.2f}: {summary.checks_passed} step check(s) passed, "
            f"{summary.checks_failed} failed"
        )
    if summary.memory_end is not None:
        parts = []
        for name, text in sorted(summary.memory_end.items()):
            body = text.strip() or "(empty)"
            if len(body) > 400:
                body = body[:400] + " [...]"
            parts.append(f"  --- {name} ---\n  " + body.replace("\n", "\n  "))
        ex += "\n memory at the end:\n" + ("\n".join(parts) or "  (no files)")
    return ex
