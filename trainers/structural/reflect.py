"""Reflect: what went wrong with a scaffold, read from logged trajectories.

:func:`reflect` turns traces into a :class:`Reflection`: core diagnostics averaged over
episodes, per-file usage (writes, reads, writes refused by a size cap, writes never
read, appends that repeat a key), op errors grouped by message, ops refused because the
scaffold disables them, routine limits hit, and short excerpts of the trajectories
around failures. Proposers read it; :meth:`Reflection.to_prompt` renders it for an LLM.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from statistics import mean
from typing import Any

from automem_sdk.trainers.structural.faults import Fault, find_faults
from pydantic import BaseModel, Field

from automem_sdk.agent import estimate_tokens
from automem_sdk.diagnostics import diagnose, mean_diagnostics
from automem_sdk.scaffold import Scaffold
from automem_sdk.trace import Trace, TurnRecord

__all__ = [
    "Attempt",
    "EpisodeSummary",
    "FileStats",
    "OpErrorGroup",
    "Reflection",
    "reflect",
]

_WRITES = frozenset({"write", "append", "create", "upsert", "replace", "insert"})
_READS = frozenset({"read", "head", "tail", "search", "count"})
_DISABLED = re.compile(r"op '([a-z]+)' is not enabled in this scaffold")
_CAP = "over its cap of"
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
    """One reflected episode."""

    env: str
    seed: int | None
    progression: float
    steps: int
    diagnostics: dict[str, float] = Field(default_factory=dict)
    memory_end: dict[str, str] | None = None


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
        lines = [
            f"Scaffold {self.scaffold_id}: {self.n_episodes} episode(s) from {self.source}, "
            f"mean progression {self.mean_progression:.3f}.",
            "Per episode: "
            + ", ".join(
                f"{e.env}#{e.seed}={e.progression:.2f}/{e.steps} steps" for e in self.episodes
            ),
            "Diagnostics (mean per episode): "
            + ", ".join(f"{k}={v:.3g}" for k, v in self.diagnostics.items()),
            "Memory files (sums over episodes):",
        ]
        for name, st in sorted(self.files.items()):
            tag = "" if st.declared else " (not declared in the scaffold)"
            lines.append(
                f"- {name}{tag}: writes={st.writes} (append={st.appends}, upsert={st.upserts}), "
                f"reads={st.reads}, failed_writes={st.failed_writes}, "
                f"rejected_over_cap={st.cap_rejections}, writes_never_read={st.writes_never_read}, "
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
        if self.op_errors:
            lines.append("Op errors (most frequent first):")
            for g in self.op_errors[:12]:
                lines.append(f"- {g.op} x{g.count}: {g.example}")
        if self.history:
            lines.append("Candidates already tried in this run:")
            for a in self.history[-12:]:
                lines.append(
                    f"- iteration {a.iteration}: {a.candidate} from {a.parent}: {a.decision} "
                    f"({a.reason}); changes: {'; '.join(a.changelog) or '-'}"
                )
        if self.agent:
            lines.insert(1, f"What plays: {self.agent}")
        if self.faults:
            lines.append("Silent faults (no error message announced these):")
            for f in self.faults[:16]:
                lines.append(f"- {f.name} [{f.subject}] share={f.share:.2f}: {f.evidence}")
        if self.history:
            scored = [a for a in self.history[-6:] if a.scores]
            if scored:
                lines.append("Per-seed gate results of past candidates (seed: parent->candidate):")
                for a in scored:
                    lines.append(f"- iteration {a.iteration} {a.candidate}: {a.scores}")
        head = "\n".join(lines)
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


def _excerpt(trace: Trace, max_chars: int) -> str | None:
    """Turns around the first failed ops plus the last steps of an unsuccessful episode."""
    h = trace.header
    marks: list[int] = []
    for t in trace.turns:
        if any(not r.get("ok", True) for r in t.results) and t.step not in marks:
            marks.append(t.step)
        if len(marks) >= 3:
            break
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
    if not by_step:
        return None
    out = [f"[{h.env} seed={h.seed} progression={trace.progression:.2f} steps={len(trace.steps)}]"]
    for step in sorted(by_step):
        out.append(f" step {step}:")
        out.extend(by_step[step])
    text = "\n".join(out)
    return text if len(text) <= max_chars else text[: max_chars - 4] + "\n..."


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
    files: dict[str, FileStats] = {f.name: FileStats(declared=True) for f in scaffold.files}
    errors: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    disabled: Counter[str] = Counter()
    episodes: list[EpisodeSummary] = []
    diags = []
    r = Reflection(scaffold_id=scaffold.id, source=source, history=list(history), agent=agent)
    prompt_tokens: list[int] = []
    limit = scaffold.limits.result_chars

    def stats(path: str) -> FileStats:
        return files.setdefault(path, FileStats(declared=scaffold.file(path) is not None))

    for i, trace in enumerate(traces):
        d = diagnose(trace)
        diags.append(d)
        episodes.append(
            EpisodeSummary(
                env=trace.header.env,
                seed=trace.header.seed,
                progression=trace.progression,
                steps=len(trace.steps),
                diagnostics=d.summary(),
                memory_end=memory_end[i]
                if memory_end is not None and i < len(memory_end)
                else None,
            )
        )
        pending: Counter[str] = Counter()
        keys: dict[str, set[str]] = {}
        log_ops: Counter[int] = Counter()
        for t in trace.turns:
            p = sum(estimate_tokens(m.content) for m in t.messages)
            prompt_tokens.append(p)
            if any("\n[...]\n" in m.content for m in t.messages):
                r.context_trimmed += 1
            if t.fallback:
                r.fallbacks += 1
            for name, path, op, res in _op_items(t):
                ok = bool(res.get("ok", False))
                err = str(res.get("error") or "")
                text = str(res.get("text") or "")
                if len(text) > limit:
                    r.truncated_results += 1
                if _EXHAUSTED in err:
                    if t.routine == "log":
                        r.log_exhausted += 1
                    else:
                        r.plan_exhausted += 1
                m = _DISABLED.search(err)
                if m:
                    disabled[m.group(1)] += 1
                if not ok and err and name not in ("done",):
                    group = (name, _NUMBER.sub("N", err))
                    errors[group] += 1
                    examples.setdefault(group, _short(text or err, 200))
                if name in _WRITES and path:
                    st = stats(path)
                    if t.routine == "log" and ok:
                        log_ops[t.step] += 1
                    if not ok:
                        st.failed_writes += 1
                        if _CAP in err:
                            st.cap_rejections += 1
                        continue
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
                elif name in _READS and ok:
                    if name == "search" and not path:
                        for fp in list(pending):
                            stats(fp).reads += 1
                        pending.clear()
                    elif path:
                        stats(path).reads += 1
                        pending.pop(path, None)
        for path, n in pending.items():
            stats(path).writes_never_read += n
        if log_ops:
            r.max_log_ops_used = max(r.max_log_ops_used, max(log_ops.values()))
    r.episodes = episodes
    r.mean_progression = mean(e.progression for e in episodes) if episodes else 0.0
    r.diagnostics = mean_diagnostics(diags)
    r.files = files
    r.disabled_ops = dict(sorted(disabled.items()))
    r.op_errors = [
        OpErrorGroup(op=op, message=msg, count=n, example=examples[(op, msg)])
        for (op, msg), n in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    r.mean_prompt_tokens = mean(prompt_tokens) if prompt_tokens else 0.0
    r.max_prompt_tokens = max(prompt_tokens, default=0)
    failing = sorted(traces, key=lambda t: (t.progression, str(t.header.env), t.header.seed or 0))
    best = max((t.progression for t in traces), default=0.0)
    for trace in failing[:max_excerpts]:
        if trace.progression >= 1.0 or (trace.progression >= best and best > 0):
            continue
        ex = _excerpt(trace, excerpt_chars)
        if ex:
            r.excerpts.append(ex)
    r.faults = find_faults(traces, scaffold, memory_end=memory_end)
    if traces:
        order = sorted(
            range(len(traces)),
            key=lambda k: (
                traces[k].progression,
                -len(traces[k].steps),
                traces[k].header.seed or 0,
            ),
        )
        worst, best_i = order[0], order[-1]
        r.worst_episode = _side(traces[worst], episodes[worst], excerpt_chars)
        if best_i != worst and traces[best_i].progression > traces[worst].progression:
            r.best_episode = _side(traces[best_i], episodes[best_i], excerpt_chars)
    return r


def _side(trace: Trace, summary: EpisodeSummary, max_chars: int) -> str:
    """One episode for the side-by-side view: its last steps and its memory at the end."""
    ex = _excerpt(trace, max_chars) or (
        f"[{trace.header.env} seed={trace.header.seed} progression={trace.progression:.2f}]"
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
