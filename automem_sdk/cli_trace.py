"""``automem trace show FILE``: a trace as tables, with its diagnostics; ``automem trace
outcome`` / ``automem trace outcomes``: feedback attached to a trace after the fact
(:mod:`automem_sdk.outcomes`).

What it prints, in order:

- the header (env, seed, scaffold, mode, models, run);
- one row per env step: the memory ops of its LOG and PLAN routines, the action
  committed (``(fallback)`` when the scaffold's fallback action was used), reward,
  whether the env state changed, and how many ops failed. A trace written without env
  step records (an agent driven by ``agent.step(obs)``) is listed from its routine
  turns, and says so;
- every op error and parse error (step, routine, op, message);
- with ``--turns``: every routine turn in full (model output, each op and its result);
- totals computed from the records beside the footer's figures (a mismatch is
  flagged); token counts come from the models' reported usage; a turn whose client
  reported none (a keyless policy) is estimated from its text at 4 characters per
  token and labelled as such; the scripted client counts words, and is labelled too;
- the trace diagnostics.

``--format md|csv|json`` prints the steps table only, for piping.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from automem_sdk.tables import add_format_flag, emit_table

if TYPE_CHECKING:
    from automem_sdk.trace import Trace, TurnRecord

__all__ = ["StepView", "TokenCount", "register", "show_trace", "step_views", "token_count"]

_CONTROL_OPS = frozenset({"done", "action", "invalid"})
_SCRIPTED = ("scripted",)


def register(sub: Any) -> None:
    """Add the ``trace`` command."""
    from automem_sdk.cli_memory import _options

    p = sub.add_parser("trace", help="inspect logged trajectories")
    tsub = p.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)
    show = tsub.add_parser("show", help="show a trace file (.jsonl or .jsonl.gz, any fsspec URL)")
    show.add_argument("file")
    show.add_argument("--turns", action="store_true", help="print every routine turn in full")
    show.add_argument("--limit", type=int, default=50, help="max steps to list (default 50)")
    show.add_argument(
        "--storage-options",
        type=_options,
        default={},
        metavar="JSON",
        help="fsspec options as a JSON object",
    )
    add_format_flag(show)
    show.set_defaults(func=_show)
    _register_outcomes(tsub, _options)


def _register_outcomes(tsub: Any, options: Any) -> None:
    out = tsub.add_parser(
        "outcome",
        help="attach an outcome (score, label, rating, check) to a trace, conversation or step",
        description="Attach feedback to a logged trace after the fact. It is stored beside "
        "the trace (TRACE.outcomes/, one JSON file per outcome), on the trace's own URL.",
    )
    out.add_argument("trace", help="a trace file, or a folder of traces (with --conversation)")
    out.add_argument("--conversation", default=None, help="the conversation id (thread_id)")
    out.add_argument("--step", type=int, default=None, help="one step (turn) of the trace")
    out.add_argument("--score", type=float, default=None, help="a number, higher is better")
    out.add_argument("--label", default=None, help="a label such as resolved or wrong-fact")
    out.add_argument("--rating", type=float, default=None, help="a user rating (see --scale)")
    out.add_argument("--scale", type=float, default=None, help="the rating's maximum, e.g. 5")
    verdict = out.add_mutually_exclusive_group()
    verdict.add_argument("--passed", dest="passed", action="store_true", default=None)
    verdict.add_argument("--failed", dest="passed", action="store_false")
    out.add_argument("--source", default="user", help="who judged: user, check, judge:<model>")
    out.add_argument("--note", default="", help="free text")
    out.add_argument(
        "--storage-options", type=options, default={}, metavar="JSON", help="fsspec options"
    )
    out.set_defaults(func=_outcome)
    ls = tsub.add_parser("outcomes", help="list the outcomes attached to a trace")
    ls.add_argument("trace")
    ls.add_argument(
        "--storage-options", type=options, default={}, metavar="JSON", help="fsspec options"
    )
    add_format_flag(ls)
    ls.set_defaults(func=_outcomes)


def _outcome(args: argparse.Namespace) -> int:
    from automem_sdk.cli import UsageError, s3_preflight
    from automem_sdk.outcomes import attach_outcome

    if all(v is None for v in (args.score, args.label, args.rating, args.passed)):
        raise UsageError("give the outcome: --score, --label, --rating, --passed or --failed")
    s3_preflight(args.trace, args.storage_options or None)
    try:
        written = attach_outcome(
            args.trace,
            conversation_id=args.conversation,
            step=args.step,
            score=args.score,
            label=args.label,
            rating=args.rating,
            rating_scale=args.scale,
            passed=args.passed,
            source=args.source,
            note=args.note,
            storage_options=args.storage_options or None,
        )
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[-1]) from None
    for o in written:
        print(f"outcome {o.outcome_id} ({o.target}) attached to {o.trace}")
    return 0


def _outcomes(args: argparse.Namespace) -> int:
    from automem_sdk.outcomes import read_outcomes

    rows = [
        [
            o.created,
            o.target,
            o.conversation_id or "",
            "" if o.step is None else o.step,
            "" if o.value() is None else o.value(),
            o.label or "",
            o.source,
            o.note,
        ]
        for o in read_outcomes(args.trace, args.storage_options or None)
    ]
    emit_table(
        f"{len(rows)} outcomes of {args.trace}",
        ["created", "target", "conversation", "step", "value", "label", "source", "note"],
        rows,
        fmt=args.format,
        numeric=["step", "value"],
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    show_trace(
        args.file,
        turns=args.turns,
        limit=args.limit,
        storage_options=args.storage_options or None,
        fmt=args.format,
    )
    return 0


def _pairs(t: TurnRecord) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(op, result) of a turn; a result with no op (the model call failed) gets ``{}``."""
    from itertools import zip_longest

    return [(op or {}, res or {}) for op, res in zip_longest(t.ops, t.results)]


def _is_memory_op(op: dict[str, Any]) -> bool:
    return str(op.get("op", "")) not in _CONTROL_OPS


def _op_label(op: dict[str, Any]) -> str:
    name = str(op.get("op", "?"))
    if name == "custom":
        return f"{op.get('name', 'custom')}"
    path = op.get("path") or op.get("prefix") or ""
    return f"{name} {path}".strip()


@dataclass
class StepView:
    """One env step as ``trace show`` lists it (from step records, or from turns)."""

    step: int
    log_ops: list[str] = field(default_factory=list)
    plan_ops: list[str] = field(default_factory=list)
    action: str = ""
    fallback: bool = False
    reward: float | None = None
    changed: bool | None = None
    errors: int = 0


def step_views(tr: Trace) -> tuple[list[StepView], bool]:
    """The steps of a trace, and whether they came from env step records.

    A trace without step records (an agent driven through ``agent.step(obs)``) is
    listed from its routine turns: one view per step number seen, reward and change
    unknown. The step records adapters write only to name a step's conversation
    (:func:`automem_sdk.outcomes.record_conversation`) are not env steps: such a trace is
    listed from its turns, each step showing ``(conversation ID)``.
    """
    views: dict[int, StepView] = {}
    env_steps = [s for s in tr.steps if not _is_mark(s)]
    for s in env_steps:
        views[s.step] = StepView(step=s.step, action=s.action, reward=s.reward, changed=s.changed)
    from_records = bool(env_steps)
    marks = {s.step: str(s.info["conversation_id"]) for s in tr.steps if _is_mark(s)}
    for t in tr.turns:
        v = views.get(t.step)
        if v is None:
            if from_records:
                continue  # a turn of a step the env never took (the run stopped)
            v = views[t.step] = StepView(step=t.step)
        if t.routine in ("log", "plan"):
            ops = [_op_label(op) for op in t.ops if _is_memory_op(op)]
            (v.log_ops if t.routine == "log" else v.plan_ops).extend(ops)
            v.errors += sum(1 for r in t.results if not r.get("ok", True))
            v.errors += len(t.parse_errors)
        if t.action and (not from_records or not v.action):
            v.action = t.action
        v.fallback = v.fallback or t.fallback
    for step, cid in marks.items():
        v = views.get(step)
        if v is not None and not v.action:
            v.action = f"(conversation {cid})"
    return [views[k] for k in sorted(views)], from_records


def _is_mark(s: Any) -> bool:
    from automem_sdk.outcomes import is_conversation_mark

    return is_conversation_mark(s)


@dataclass
class TokenCount:
    """Tokens of a trace, split by where the count comes from."""

    reported: int = 0
    scripted_words: int = 0
    estimated: int = 0
    turns_reported: int = 0
    turns_scripted: int = 0
    turns_estimated: int = 0

    @property
    def total(self) -> int:
        """Every token counted, whatever its source."""
        return self.reported + self.scripted_words + self.estimated

    def describe(self) -> str:
        """One line saying how many tokens came from where."""
        parts = []
        if self.turns_reported:
            parts.append(f"{self.reported:,} reported by the models ({self.turns_reported} turns)")
        if self.turns_scripted:
            parts.append(
                f"{self.scripted_words:,} words counted by the scripted client "
                f"({self.turns_scripted} turns; not a tokenizer)"
            )
        if self.turns_estimated:
            parts.append(
                f"~{self.estimated:,} estimated from text at 4 chars/token "
                f"({self.turns_estimated} turns of policies that report no usage: the "
                "context a model would have read)"
            )
        return "; ".join(parts) if parts else "no model turns"


def token_count(turns: list[TurnRecord]) -> TokenCount:
    """Count a trace's tokens from usage, labelling scripted and estimated counts."""
    tc = TokenCount()
    for t in turns:
        used = t.usage.prompt_tokens + t.usage.completion_tokens
        if used and t.model.startswith(_SCRIPTED):
            tc.scripted_words += used
            tc.turns_scripted += 1
        elif used:
            tc.reported += used
            tc.turns_reported += 1
        elif t.messages:
            prompt = sum(len(m.content) for m in t.messages)
            tc.estimated += (prompt + 3) // 4 + (len(t.output) + 3) // 4
            tc.turns_estimated += 1
    return tc


def _read(url: str, storage_options: dict[str, Any] | None) -> Trace:
    from automem_sdk.cli import s3_preflight
    from automem_sdk.errors import TraceError
    from automem_sdk.trace import read_trace

    s3_preflight(url, storage_options)
    try:
        return read_trace(url, storage_options)
    except TraceError as exc:
        text = str(exc)
        m = re.search(r":(\d+): (invalid record|not JSON)", text)
        if m is None:
            raise
        what = "is not JSON" if m.group(2) == "not JSON" else "is not a trace record"
        raise TraceError(
            f"{url} is not an automem trace: line {m.group(1)} {what} (a trace is JSON lines "
            "of records whose 'kind' is header, turn, step or footer, as TraceWriter writes)"
        ) from None


def show_trace(
    url: str,
    *,
    turns: bool = False,
    limit: int = 50,
    storage_options: dict[str, Any] | None = None,
    fmt: str = "table",
) -> None:
    """Print a trace: header, steps, errors, (turns), totals vs footer, diagnostics.

    Args:
        url: the trace file (any fsspec URL; ``.gz`` for gzip).
        turns: print every routine turn in full.
        limit: list at most this many steps (the rest are counted).
        storage_options: passed to fsspec.
        fmt: ``table`` for everything, or ``md``/``csv``/``json`` for the steps table only.

    Raises:
        TraceError: the file is not a trace.
        FileNotFoundError: no such file.
    """
    from rich.console import Console

    tr = _read(url, storage_options)
    views, from_records = step_views(tr)
    rows = _step_rows(views[:limit])
    if fmt != "table":
        emit_table(url, _STEP_COLUMNS, rows, fmt=fmt, numeric=["step", "reward", "errors"])
        return
    console = Console(highlight=False)
    _print_header(tr, console)
    source = "" if from_records else ", listed from routine turns (no env step records)"
    more = f", first {limit} shown" if len(views) > limit else ""
    emit_table(
        f"{len(views)} steps{source}{more}",
        _STEP_COLUMNS,
        rows,
        numeric=["step", "reward", "errors"],
        floats={"reward": "g"},
        console=console,
    )
    errors = _error_rows(tr)
    if errors:
        emit_table(
            f"{len(errors)} errors and fallbacks (each was fed back to the agent)",
            ["step", "routine", "op", "error"],
            errors,
            numeric=["step"],
            console=console,
        )
    if turns:
        _print_turns(tr, console)
    _print_totals(tr, views, console)
    _print_diagnostics(tr, from_records, console)


_STEP_COLUMNS = ["step", "LOG ops", "PLAN ops", "action", "reward", "changed", "errors"]


def _step_rows(views: list[StepView]) -> list[list[object]]:
    """One row of the steps table per step view."""
    return [
        [
            v.step,
            ", ".join(v.log_ops),
            ", ".join(v.plan_ops),
            v.action + (" (fallback)" if v.fallback else ""),
            v.reward,
            "" if v.changed is None else ("yes" if v.changed else "no"),
            v.errors,
        ]
        for v in views
    ]


def _print_header(tr: Trace, console: Any) -> None:
    from rich.text import Text

    h = tr.header
    models = ", ".join(f"{k}={v}" for k, v in h.models.items()) or "-"
    console.print(
        Text(
            f"{h.env or '-'} seed={h.seed} scaffold={h.scaffold_id or '-'} mode={h.mode} "
            f"models: {models} sdk={h.sdk_version or '-'} run={h.run_id}"
        ),
        style="bold",
    )


def _error_rows(tr: Trace) -> list[list[int | str]]:
    """Failed ops, parse errors and fallback actions, in step order."""
    errors: list[list[int | str]] = [
        [t.step, t.routine, _op_label(op) if op else "(turn)", str(res.get("error") or "")]
        for t in tr.turns
        if t.routine in ("log", "plan")
        for op, res in _pairs(t)
        if not res.get("ok", True)
    ]
    errors += [
        [t.step, t.routine, "(parse)", e]
        for t in tr.turns
        if t.routine in ("log", "plan")
        for e in t.parse_errors
    ]
    errors += [
        [t.step, "act", "(fallback)", _fallback_reason(t)]
        for t in tr.turns
        if t.routine == "act" and t.fallback and t.model == "fallback"
    ]
    errors.sort(key=lambda r: (int(r[0]), str(r[1])))
    return errors


def _print_turns(tr: Trace, console: Any) -> None:
    """Every routine turn in full: its output, then each op and its result."""
    from rich.text import Text

    for t in tr.turns:
        console.rule(f"step {t.step} {t.routine} turn {t.turn} ({t.model or '-'})")
        console.print(Text(t.output))
        if t.routine == "act":
            fell = " (fallback)" if t.fallback else ""
            console.print(Text(f"  action -> {t.action}{fell}", style="bold"))
            continue
        for op, res in _pairs(t):
            ok = res.get("ok", True)
            body = str(res.get("text") if ok else res.get("error") or res.get("text", ""))
            console.print(
                Text(f"  {_op_label(op) if op else '(turn)'} -> ", style="bold")
                + Text(("" if ok else "error: ") + body, style="" if ok else "red")
            )
        for e in t.parse_errors if t.routine in ("log", "plan") else []:
            console.print(Text(f"  parse error: {e}", style="red"))


def _print_diagnostics(tr: Trace, from_records: bool, console: Any) -> None:
    from automem_sdk.diagnostics import diagnose

    summary = diagnose(tr).summary()
    title = "diagnostics (tokens estimated at 4 chars/token where a turn has no usage)"
    if not from_records:
        title = "diagnostics (per-step figures need env step records: this trace has none)"
    emit_table(
        title,
        ["metric", "value"],
        [[k, v] for k, v in summary.items()],
        numeric=["value"],
        floats={"value": ".3f"},
        console=console,
    )


def _fallback_reason(t: TurnRecord) -> str:
    why = next((str(r.get("text", "")) for r in t.results if r.get("text")), "")
    return (
        f"{why}; the fallback action {t.action!r} was taken"
        if why
        else f"fell back to {t.action!r}"
    )


def _print_totals(tr: Trace, views: list[StepView], console: Any) -> None:
    n_ops = sum(1 for t in tr.turns for op in t.ops if _is_memory_op(op))
    reward = sum(s.reward for s in tr.steps)
    tc = token_count(tr.turns)
    usage = sum(t.usage.prompt_tokens + t.usage.completion_tokens for t in tr.turns)
    rows: list[list[object]] = [
        ["steps", len(views)],
        ["memory ops", n_ops],
        ["reward", reward],
        ["tokens (usage)", usage],
    ]
    f = tr.footer
    if f is None:
        console.print("[yellow]no footer: the run did not finish (showing the readable prefix)[/]")
        emit_table(
            "totals from the records", ["figure", "records"], rows, numeric=["records"],
            console=console,
        )  # fmt: skip
    else:
        footer: list[object] = [f.steps, f.n_ops, f.total_reward, f.usage.total_tokens]
        table = []
        for (name, mine), theirs in zip(rows, footer, strict=True):
            agree = "" if _same(mine, theirs) else "differs"
            table.append([name, mine, theirs, agree])
        emit_table(
            f"totals: records vs footer (progression={f.progression:.3f}, wall={f.wall_s:.1f}s)",
            ["figure", "records", "footer", "check"],
            table,
            numeric=["records", "footer"],
            floats={"records": "g", "footer": "g"},
            console=console,
        )
    console.print(f"tokens: {tc.describe()}")


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) < 1e-9  # type: ignore[arg-type]
    return a == b
