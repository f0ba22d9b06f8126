"""Play the conversational benchmark: conditions x sizes x seeds, then a report.

Conditions (:data:`CONDITIONS`):

- ``automem`` — the generic scaffold; the memory model's LOG routine runs after every
  user turn through :class:`~automem_sdk.agent.MemoryAgent` (observe mode, a real
  store); at question time the task model gets
  :func:`~automem_sdk.adapters.context.memory_context` for the question — the exact
  text the LangChain wrapper and middleware inject;
- ``memgpt`` — the frozen MemGPT-style scaffold: core blocks shown whole, archival
  memory searched for the question's words (MemGPT's archival search);
- ``history16`` — no memory: the last 16 user turns (BALROG's history window).

Every condition answers with the same task model (:class:`ContextAnswerer` by
default), so differences come from what reaches its context. With ``trace_dir`` the
automem condition logs one trace per dialogue (each session recorded as conversation
``s<k>``) and attaches outcomes: a check per question on the step that stated its
evidence, and the dialogue's accuracy on the trace (also the footer's progression):
the data the trainers read.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from automem_sdk.llm.base import LLMClient, Message

from .dialogue import QUESTION_TYPES, SIZES, Dialogue, Question, check, generate
from .players import ContextAnswerer, FactNoteWriter, MemGPTWriter, facts_in, history_context

__all__ = [
    "CONDITIONS",
    "DEFAULT_CONTEXT_CHARS",
    "Condition",
    "Played",
    "QuestionResult",
    "Report",
    "build_report",
    "make_writer",
    "parse_condition",
    "play",
    "play_dialogue",
    "run_benchmark",
    "write_report",
]

CONDITIONS: tuple[str, ...] = ("automem", "memgpt", "history16")
#: The memory context budget of the automem condition (the wrapper's default).
DEFAULT_CONTEXT_CHARS = 4_000
_HISTORY = 16


@dataclass
class QuestionResult:
    """One question of one dialogue under one condition."""

    seed: int
    size: str
    condition: str
    qtype: str
    question: str
    expected: str
    answer: str
    correct: bool
    prompt_tokens: int
    context_chars: int
    memory_bytes: int


def _store_bytes(store: Any) -> int:
    return sum(len(store.read(p)) for p in store.list())


def _ask(model: LLMClient, context: str, q: Question) -> tuple[str, int]:
    c = model.chat([Message(role="system", content=context), Message(role="user", content=q.text)])
    return c.text.strip(), c.usage.prompt_tokens


def _memgpt_context(store: Any, scaffold: Any, question: str) -> str:
    """Core blocks in full, then archival search for the question's words (two hops)."""
    from automem_sdk.ops import SearchOp, execute_op

    core = [f"{p}:\n{store.read(p)}" for p in store.list() if p.startswith("core/")]
    words = [w for w in question.rstrip("?").split() if w[:1].islower() and len(w) > 3]
    key = words[-1] if question.startswith("In which city") else (words[-1] if words else "")
    queries = [w for w in question.rstrip("?").split()[-2:-1] if w] if "does my" in question else []
    queries = queries or ([key] if key else [])
    hits: list[str] = []
    for qy in queries:
        res = execute_op(store, SearchOp(path="archival.md", query=qy), scaffold)
        hits.append(res.text)
        for f in facts_in(res.text):  # a name found: search it too (multi-hop)
            if f.kind == "called":
                more = execute_op(store, SearchOp(path="archival.md", query=f.value), scaffold)
                hits.append(more.text)
    return "Core memory:\n" + "\n".join(core) + "\nArchival search results:\n" + "\n".join(hits)


@dataclass(frozen=True)
class Condition:
    """One condition of a run: a label, what reaches the task model, and for the automem
    kind the scaffold and the memory model (see :func:`parse_condition`)."""

    label: str
    kind: str = "automem"
    scaffold: Any = "generic"
    writer: str = "facts"


_SPEC = re.compile(
    r"^(?:(?P<label>[\w.-]+)=)?automem(?:@(?P<scaffold>[^+]+))?(?:\+(?P<writer>.+))?$"
)


def parse_condition(spec: str | Condition) -> Condition:
    """A condition from its name: ``automem``, ``memgpt``, ``history16``,
    ``automem-miss<N>`` (the fact writer missing N% of facts), or
    ``[LABEL=]automem[@SCAFFOLD][+WRITER]``: the automem kind on ``SCAFFOLD`` (a
    built-in name, ``chat-cramped``, or a YAML path) with memory model ``WRITER`` (see
    :func:`make_writer`).

    Raises:
        ValueError: an unknown condition.
    """
    if isinstance(spec, Condition):
        return spec
    if spec in ("memgpt", "history16"):
        return Condition(spec, spec)
    miss = _miss(spec)
    if miss is not None:
        return Condition(spec, "automem", "generic", f"facts-miss{miss}")
    m = _SPEC.match(spec)
    if m is None:
        raise ValueError(
            f"unknown condition {spec!r}; choose from {', '.join(CONDITIONS)}, "
            "automem-miss<N> (its memory model misses N% of facts) or "
            "[LABEL=]automem[@SCAFFOLD][+WRITER]"
        )
    return Condition(
        m.group("label") or spec,
        "automem",
        m.group("scaffold") or "generic",
        m.group("writer") or "facts",
    )


_CLIENTS: dict[str, Any] = {}


def make_writer(spec: str, dialogue: Dialogue) -> Any:
    """The memory model called ``spec`` for one dialogue.

    ``facts`` (:class:`FactNoteWriter`, which ignores the scaffold's wording),
    ``follow`` (:class:`~.writer.ScaffoldFactWriter`, which does what the scaffold
    says), either with ``-miss<N>`` (misses N% of facts, seeded per dialogue),
    ``hf:BASE[,ADAPTER]`` (a transformers model folder and LoRA adapter, in process),
    or any LLM client spec of :func:`automem_sdk.llm.make_client`. Model clients are
    built once per spec and reused.
    """
    from .writer import ScaffoldFactWriter

    m = re.fullmatch(r"(facts|follow)(?:-miss(\d{1,2}))?", spec)
    if m:
        miss = int(m.group(2) or 0)
        seed = f"{dialogue.size}/{dialogue.seed}/{miss}"  # reproducible per dialogue
        if m.group(1) == "facts":
            return FactNoteWriter(miss=miss / 100, seed=seed)
        return ScaffoldFactWriter(miss=miss / 100, seed=seed)
    if spec not in _CLIENTS:
        if spec.startswith("hf:"):
            from automem_sdk.trainers.behavioral.hf_client import HFMemoryClient

            base, _, adapter = spec[3:].partition(",")
            _CLIENTS[spec] = HFMemoryClient(base, adapter or None, max_new_tokens=64, device="cpu")
        else:
            from automem_sdk.llm import make_client

            _CLIENTS[spec] = make_client(spec)
    return _CLIENTS[spec]


@dataclass
class Played:
    """What one dialogue left behind: the question results, the store, the trace."""

    results: list[QuestionResult]
    store: Any = None
    trace_url: str | None = None


def _log_dialogue(
    dialogue: Dialogue,
    cond: Condition,
    trace_url: str | None,
    storage_options: dict[str, Any] | None,
) -> tuple[Any, Any, Any]:
    """Run the memory model's LOG routine on every user turn; (store, scaffold, agent)."""
    from automem_sdk.benchmarks.players.memgpt import load_memgpt_scaffold

    from automem_sdk.agent import MemoryAgent
    from automem_sdk.store import MemoryStore

    from .writer import load_conversation_scaffold

    store = MemoryStore(f"memory://automem-conversation-{uuid.uuid4().hex}")
    if cond.kind == "automem":
        scaffold = load_conversation_scaffold(cond.scaffold)
        writer: Any = make_writer(cond.writer, dialogue)
    else:
        scaffold = load_memgpt_scaffold()
        writer = MemGPTWriter()
    agent = MemoryAgent(store, scaffold, writer, mode="observe", task_decider=writer)
    agent.reset()
    if trace_url is not None:
        from automem_sdk.outcomes import record_conversation

        agent.start_trace(
            trace_url,
            env=f"conversation/{dialogue.size}",
            seed=dialogue.seed,
            config={"size": dialogue.size, "benchmark": "conversation", "condition": cond.label},
            storage_options=storage_options,
        )
    for session, text in dialogue.turns():
        agent.log(f"User: {text}", {"session": session})
        if trace_url is not None:
            record_conversation(
                agent.recorder.writer, step=agent.step_index, conversation_id=f"s{session}"
            )
        agent.step_index += 1
    return store, scaffold, agent


def play_dialogue(
    dialogue: Dialogue,
    condition: str | Condition,
    *,
    task_model: LLMClient | None = None,
    context_chars: int = DEFAULT_CONTEXT_CHARS,
    trace_url: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Played:
    """Play one dialogue under ``condition``; log its trace with outcomes to
    ``trace_url`` (automem kinds only) and keep the store.

    Raises:
        ValueError: an unknown condition.
    """
    from automem_sdk.adapters.context import memory_context

    cond = parse_condition(condition)
    model = task_model or ContextAnswerer()
    turns = dialogue.turns()
    url = trace_url if cond.kind == "automem" else None
    store = scaffold = agent = None
    if cond.kind in ("automem", "memgpt"):
        store, scaffold, agent = _log_dialogue(dialogue, cond, url, storage_options)
    results = []
    mem_bytes = _store_bytes(store) if store is not None else 0
    history = [t for _, t in turns]
    for q in dialogue.questions:
        if cond.kind == "automem":
            context = memory_context(store, scaffold, query=q.text, max_chars=context_chars)
        elif cond.kind == "memgpt":
            context = _memgpt_context(store, scaffold, q.text)
        else:
            context = history_context(history, _HISTORY)
        answer, tokens = _ask(model, context, q)
        results.append(
            QuestionResult(
                seed=dialogue.seed,
                size=dialogue.size,
                condition=cond.label,
                qtype=q.qtype,
                question=q.text,
                expected=q.answer,
                answer=answer,
                correct=check(q, answer),
                prompt_tokens=tokens,
                context_chars=len(context),
                memory_bytes=mem_bytes,
            )
        )
    if agent is not None:
        # the footer's progression is the dialogue's accuracy, so trainers that rank
        # episodes by progression read these traces as they are
        acc = sum(r.correct for r in results) / len(results) if results else 0.0
        agent.finish(steps=len(turns), progression=acc)
    if url is not None:
        _attach(url, dialogue, results, storage_options)
    return Played(results, store, url)


def play(
    dialogue: Dialogue,
    condition: str | Condition,
    *,
    task_model: LLMClient | None = None,
    context_chars: int = DEFAULT_CONTEXT_CHARS,
    trace_dir: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[QuestionResult]:
    """Play one dialogue under ``condition`` and answer its questions; with
    ``trace_dir`` an automem condition logs ``<trace_dir>/[<label>-]<size>-<seed>.jsonl``.

    Raises:
        ValueError: an unknown condition.
    """
    cond = parse_condition(condition)
    url = None
    if trace_dir is not None and cond.kind == "automem":
        tag = "" if cond.label == "automem" else f"{cond.label}-"
        url = f"{trace_dir.rstrip('/')}/{tag}{dialogue.size}-{dialogue.seed}.jsonl"
    return play_dialogue(
        dialogue,
        cond,
        task_model=task_model,
        context_chars=context_chars,
        trace_url=url,
        storage_options=storage_options,
    ).results


def _miss(condition: str) -> int | None:
    m = re.fullmatch(r"automem-miss(\d{1,2})", condition)
    return int(m.group(1)) if m else None


def _attach(
    url: str, d: Dialogue, results: list[QuestionResult], opts: dict[str, Any] | None
) -> None:
    from automem_sdk.outcomes import attach_outcome

    for q, r in zip(d.questions, results, strict=True):
        if q.turn >= 0:
            attach_outcome(
                url,
                step=q.turn,
                passed=r.correct,
                source="check",
                note=f"{q.qtype}: {q.text} expected {q.answer!r}, got {r.answer!r}",
                storage_options=opts,
            )
    acc = sum(r.correct for r in results) / len(results)
    attach_outcome(url, score=acc, source="check", note="accuracy", storage_options=opts)


def run_benchmark(
    seeds: Iterable[int],
    sizes: Sequence[str] = ("S", "M", "L"),
    conditions: Sequence[str | Condition] = CONDITIONS,
    *,
    task_model_factory: Callable[[], LLMClient] | None = None,
    trace_dir: str | None = None,
    on_done: Callable[[int, str], None] | None = None,
) -> list[QuestionResult]:
    """Every condition on the dialogue of every (seed, size); question results.

    Raises:
        ValueError: an unknown condition (before anything is played).
    """
    conds = [parse_condition(c) for c in conditions]
    out: list[QuestionResult] = []
    for seed in seeds:
        for size in sizes:
            d = generate(seed, size)
            for c in conds:
                model = task_model_factory() if task_model_factory else None
                out.extend(play(d, c, task_model=model, trace_dir=trace_dir))
            if on_done is not None:
                on_done(seed, size)
    return out


@dataclass
class Report:
    """Accuracy tables and paired contrasts of a benchmark run.

    ``contrasts`` rows hold ``contrast`` (``A - B``), ``n`` (seeds), one
    ``[estimate, low, high]`` per size and ``all``, and ``by_type`` (question type ->
    the same triple; the paired unit is a dialogue).
    """

    n_seeds: int
    sizes: list[str]
    conditions: list[str]
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)
    by_size: dict[str, dict[str, float]] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    memory_bytes: dict[str, dict[str, float]] = field(default_factory=dict)
    n_questions: dict[str, int] = field(default_factory=dict)
    contrasts: list[dict[str, Any]] = field(default_factory=list)


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs) if xs else float("nan")


def _pairs(conds: list[str], reference: str | None) -> list[tuple[str, str]]:
    """(A, B) contrasts: ``automem`` minus each other condition when it ran and no
    ``reference`` is named, else each other condition minus the reference (the first
    condition when none is named)."""
    if reference is None and "automem" in conds:
        return [("automem", c) for c in conds if c != "automem"]
    ref = reference if reference is not None else conds[0]
    return [(c, ref) for c in conds if c != ref]


def _contrast(
    results: Sequence[QuestionResult], a: str, b: str, sizes: list[str], resamples: int
) -> dict[str, Any]:
    from automem_sdk.benchmarks.harness.stats import paired_bootstrap

    cell: dict[tuple[str, int, str], list[float]] = {}
    typed: dict[tuple[str, int, str, str], list[float]] = {}
    for r in results:
        cell.setdefault((r.condition, r.seed, r.size), []).append(float(r.correct))
        typed.setdefault((r.condition, r.seed, r.size, r.qtype), []).append(float(r.correct))
    units = sorted({(seed, s) for (c, seed, s) in cell if c == a and (b, seed, s) in cell})
    diffs = {
        "conversation": {
            s: [
                _mean(cell[(a, seed, z)]) - _mean(cell[(b, seed, z)]) for seed, z in units if z == s
            ]
            for s in sizes
        }
    }
    boot = paired_bootstrap(diffs, resamples=resamples)
    row: dict[str, Any] = {"contrast": f"{a} - {b}", "n": len({seed for seed, _ in units})}
    for s in sizes:
        iv = boot.tasks[("conversation", s)]
        row[s] = [iv.estimate, iv.low, iv.high]
    assert boot.overall is not None
    row["all"] = [boot.overall.estimate, boot.overall.low, boot.overall.high]
    by_type: dict[str, list[float]] = {}
    for t in QUESTION_TYPES:
        xs = [
            _mean(typed[(a, seed, z, t)]) - _mean(typed[(b, seed, z, t)])
            for seed, z in units
            if (a, seed, z, t) in typed and (b, seed, z, t) in typed
        ]
        if xs:
            tb = paired_bootstrap({"conversation": {t: xs}}, resamples=resamples)
            iv = tb.tasks[("conversation", t)]
            by_type[t] = [iv.estimate, iv.low, iv.high]
    row["by_type"] = by_type
    return row


def build_report(
    results: Sequence[QuestionResult], *, resamples: int = 5000, reference: str | None = None
) -> Report:
    """Accuracy by condition x question type and x size, tokens per question, and the
    paired bootstrap of the contrasts (see :func:`_pairs`; per seed and size, and per
    question type).

    Args:
        results: question results of one run.
        resamples: bootstrap resamples.
        reference: the condition the others are compared with (``None``: ``automem``
            minus each other condition, else the first condition).
    """
    seen = list(dict.fromkeys(r.condition for r in results))
    conds = [c for c in CONDITIONS if c in seen] + [c for c in seen if c not in CONDITIONS]
    if reference is not None or "automem" not in seen:
        conds = seen  # custom labels keep the order they were given in
    sizes = [s for s in SIZES if any(r.size == s for r in results)]
    seeds = sorted({r.seed for r in results})
    rep = Report(n_seeds=len(seeds), sizes=sizes, conditions=conds)
    for c in conds:
        rs = [r for r in results if r.condition == c]
        rep.overall[c] = _mean([float(r.correct) for r in rs])
        rep.tokens[c] = _mean([float(r.prompt_tokens) for r in rs])
        rep.n_questions[c] = len(rs)
        rep.by_type[c] = {
            t: _mean([float(r.correct) for r in rs if r.qtype == t]) for t in QUESTION_TYPES
        }
        rep.by_size[c] = {s: _mean([float(r.correct) for r in rs if r.size == s]) for s in sizes}
        rep.memory_bytes[c] = {
            s: _mean([float(r.memory_bytes) for r in rs if r.size == s]) for s in sizes
        }
    if len(conds) > 1:
        for a, b in _pairs(conds, reference):
            rep.contrasts.append(_contrast(results, a, b, sizes, resamples))
    return rep


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f}"


def _ci(x: Sequence[float]) -> str:
    return f"{100 * x[0]:+.1f} [{100 * x[1]:+.1f}, {100 * x[2]:+.1f}]"


def _contrast_lines(rep: Report) -> list[str]:
    lines = [
        "",
        "Paired difference in accuracy (points, 95% bootstrap CI over seeds)",
        "",
        "| contrast | n seeds | " + " | ".join(f"size {s}" for s in rep.sizes) + " | all |",
        "|---" * (3 + len(rep.sizes)) + "|",
    ]
    for row in rep.contrasts:
        cells = [_ci(row[k]) for k in [*rep.sizes, "all"]]
        lines.append(f"| {row['contrast']} | {row['n']} | " + " | ".join(cells) + " |")
    types = [t for t in QUESTION_TYPES if any(t in r.get("by_type", {}) for r in rep.contrasts)]
    if types:
        lines += [
            "",
            "Paired difference by question type (points, 95% bootstrap CI over dialogues)",
            "",
            "| contrast | " + " | ".join(types) + " |",
            "|---" * (1 + len(types)) + "|",
        ]
        for row in rep.contrasts:
            bt = row.get("by_type", {})
            cells = [_ci(bt[t]) if t in bt else "-" for t in types]
            lines.append(f"| {row['contrast']} | " + " | ".join(cells) + " |")
    return lines


def markdown(rep: Report) -> str:
    """The report as Markdown tables (accuracy in %, 95% paired bootstrap CIs)."""
    lines = [
        f"Accuracy (%) on {rep.n_seeds} seeds x sizes {', '.join(rep.sizes)} "
        "(questions per condition: "
        + ", ".join(f"{c} {rep.n_questions[c]}" for c in rep.conditions)
        + ")",
        "",
        "| condition | all | "
        + " | ".join(QUESTION_TYPES)
        + " | "
        + " | ".join(f"size {s}" for s in rep.sizes)
        + " | words/question |",
        "|---" * (3 + len(QUESTION_TYPES) + len(rep.sizes)) + "|",
    ]
    for c in rep.conditions:
        cells = [_pct(rep.overall[c])]
        cells += [_pct(rep.by_type[c][t]) for t in QUESTION_TYPES]
        cells += [_pct(rep.by_size[c][s]) for s in rep.sizes]
        cells.append(f"{rep.tokens[c]:.0f}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    if rep.contrasts:
        lines += _contrast_lines(rep)
    mem = [c for c in rep.conditions if any(v for v in rep.memory_bytes[c].values())]
    if mem:
        lines += ["", "Memory size (bytes in the store after the dialogue, mean)", ""]
        lines += ["| condition | " + " | ".join(f"size {s}" for s in rep.sizes) + " |"]
        lines += ["|---" * (1 + len(rep.sizes)) + "|"]
        for c in mem:
            lines.append(
                f"| {c} | " + " | ".join(f"{rep.memory_bytes[c][s]:.0f}" for s in rep.sizes) + " |"
            )
    return "\n".join(lines) + "\n"


def _plot(rep: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(1, len(rep.conditions))
    for i, c in enumerate(rep.conditions):
        xs = [k + i * width for k in range(len(QUESTION_TYPES))]
        a.bar(xs, [100 * rep.by_type[c][t] for t in QUESTION_TYPES], width, label=c)
        style = ("-", "--", ":", "-.")[i % 4]
        b.plot(
            rep.sizes,
            [100 * rep.by_size[c][s] for s in rep.sizes],
            marker="os^D"[i % 4],
            linestyle=style,
            label=c,
        )
    a.set_xticks([k + 0.4 - width / 2 for k in range(len(QUESTION_TYPES))], QUESTION_TYPES)
    a.set_ylabel("accuracy (%)")
    a.set_title(f"By question type ({rep.n_seeds} seeds)")
    b.set_xlabel("memory size (facts and sessions: S < M < L)")
    b.set_title("By memory size (overlapping lines: equal scores)")
    b.set_ylabel("accuracy (%)")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.suptitle("Conversational memory benchmark (keyless, scripted task model)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    results: Sequence[QuestionResult],
    out: str | Path,
    *,
    plot: bool = True,
    reference: str | None = None,
) -> Report:
    """Write ``results.jsonl``, ``report.json``, ``report.md`` (and ``report.png``);
    ``reference`` as in :func:`build_report`."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "results.jsonl", "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(asdict(r)) + "\n")
    rep = build_report(results, reference=reference)
    (root / "report.json").write_text(json.dumps(asdict(rep), indent=1), encoding="utf-8")
    (root / "report.md").write_text(markdown(rep), encoding="utf-8")
    if plot:
        _plot(rep, root / "report.png")
    return rep
