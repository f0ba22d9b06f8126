"""Play the conversational benchmark: conditions x sizes x seeds (reports: :mod:`.report`).

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

import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from automem_sdk.llm.base import LLMClient, Message

from .dialogue import Dialogue, Question, check, generate
from .players import ContextAnswerer, FactNoteWriter, MemGPTWriter, facts_in, history_context

__all__ = [
    "CONDITIONS",
    "DEFAULT_CONTEXT_CHARS",
    "Condition",
    "Played",
    "QuestionResult",
    "make_writer",
    "parse_condition",
    "play",
    "play_dialogue",
    "run_benchmark",
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
            from pathlib import Path

            from automem_sdk.llm.local import LocalTransformersClient

            base, _, adapter = spec[3:].partition(",")
            _CLIENTS[spec] = LocalTransformersClient(
                base,
                adapter=adapter or None,
                name=Path(adapter).name if adapter else base,
                max_new_tokens=64,
                dtype="fp32",
            )
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
