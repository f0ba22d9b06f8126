"""Keyless players of the conversational benchmark: memory writers and a task model.

- :class:`FactNoteWriter` — the memory model of the automem condition: its LOG routine
  turns each fact the user states into a keyed line of ``notes.md`` (``UPSERT``), keeping
  the value before an update (``my city: Lima (before: Oslo)``).
- :class:`MemGPTWriter` — the MemGPT/Letta-style condition on the frozen ``memgpt``
  scaffold: every fact sentence goes to archival memory (``ARCHIVAL_MEMORY_INSERT``), and
  the notes core block keeps ``key: value`` lines edited by ``CORE_MEMORY_APPEND`` /
  ``CORE_MEMORY_REPLACE`` (a replace overwrites the old value, as in MemGPT).
- :class:`ContextAnswerer` — the task model: an :class:`~automem_sdk.llm.base.LLMClient`
  that answers the last user message only from the text of the messages it is given
  (the memory context, or the history window), so a score measures what memory held.
  A real model can take its place with the same messages.

What the answerer reads: the user's own sentence forms (``My car is Volvo.``, ``Update:
my city changed from Oslo to Lima.``, ``Sorry, I was wrong: my car is Volvo, not
Fiat.``, ``My sister is called Maya.``, ``Maya lives in Oslo.``) and note lines
``key: value`` / ``key: value (before: old)``, later text overriding earlier.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automem_sdk.codec import encode_op
from automem_sdk.deciders import RoutineRequest
from automem_sdk.llm.base import Completion, Message, Usage, as_messages
from automem_sdk.ops import DoneOp, UpsertOp

from .dialogue import ABSTAIN

__all__ = [
    "ContextAnswerer",
    "Fact",
    "FactNoteWriter",
    "MemGPTWriter",
    "facts_in",
    "history_context",
]

_W = r"[A-Za-z][\w'-]*"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("update", re.compile(rf"\bUpdate: my ({_W}) changed from ({_W}) to ({_W})\.")),
    ("correct", re.compile(rf"\bSorry, I was wrong: my ({_W}) is ({_W}), not ({_W})\.")),
    ("called", re.compile(rf"\bMy ({_W}) is called ({_W})\.")),
    ("state", re.compile(rf"\bMy ({_W}) is ({_W})\.")),
    ("lives", re.compile(rf"\b({_W}) lives in ({_W})\.")),
    (
        "note",
        re.compile(
            rf"(?m)^(?:[-*] )?((?:my )?{_W}(?: lives in)?): ({_W})(?: \(before: ({_W})\))?\s*$"
        ),
    ),
]


@dataclass(frozen=True)
class Fact:
    """One fact found in text: ``key`` (``my city``, ``Maya lives in``) has ``value``,
    and ``before`` it had another value (an update), or ``None``."""

    key: str
    value: str
    before: str | None = None
    start: int = 0
    kind: str = "state"


def facts_in(text: str) -> list[Fact]:
    """Every fact stated in ``text``, in the order it appears (each span read once)."""
    found: list[Fact] = []
    taken: list[tuple[int, int]] = []
    for kind, pat in _PATTERNS:
        for m in pat.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            g = m.groups()
            if kind == "update":
                f = Fact(f"my {g[0]}", g[2], g[1], m.start(), kind)
            elif kind in ("correct", "called", "state"):
                f = Fact(f"my {g[0]}", g[1], None, m.start(), kind)
            elif kind == "lives":
                f = Fact(f"{g[0]} lives in", g[1], None, m.start(), kind)
            else:
                f = Fact(g[0], g[1], g[2], m.start(), kind)
            found.append(f)
    found.sort(key=lambda f: f.start)
    return found


def _known(text: str) -> tuple[dict[str, str], dict[str, str]]:
    value: dict[str, str] = {}
    before: dict[str, str] = {}
    for f in facts_in(text):
        key = f.key.lower() if f.key.startswith("my ") else f.key
        if f.before is not None:
            before[key] = f.before
        value[key] = f.value
    return value, before


_Q_SINGLE = re.compile(rf"^What is my ({_W})\?$")
_Q_TEMPORAL = re.compile(rf"^What was my ({_W}) before it changed\?$")
_Q_MULTIHOP = re.compile(rf"^In which city does my ({_W}) live\?$")


class ContextAnswerer:
    """A scripted task model that answers from the text of its messages only.

    The last message is the question; every message before it is what the model may
    know. Usage counts words (as the scripted client does), so tokens per question are
    comparable across conditions and labelled as word counts.
    """

    model = "scripted-answerer"

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Answer the last message from the others (``unknown`` when they do not say)."""
        msgs = as_messages(messages)
        question = msgs[-1].content.strip().splitlines()[-1].strip()
        context = "\n".join(m.content for m in msgs[:-1])
        if "\n" in msgs[-1].content:  # context and question in one message
            context += "\n" + msgs[-1].content.rsplit("\n", 1)[0]
        answer = self.answer(context, question)
        words = sum(len(m.content.split()) for m in msgs)
        return Completion(
            text=answer,
            model=self.model,
            usage=Usage(prompt_tokens=words, completion_tokens=len(answer.split())),
        )

    @staticmethod
    def answer(context: str, question: str) -> str:
        """The answer to ``question`` given ``context`` (``unknown`` when not there)."""
        value, before = _known(context)
        if m := _Q_TEMPORAL.match(question):
            return before.get(f"my {m.group(1)}", ABSTAIN)
        if m := _Q_MULTIHOP.match(question):
            name = value.get(f"my {m.group(1)}")
            return value.get(f"{name} lives in", ABSTAIN) if name else ABSTAIN
        if m := _Q_SINGLE.match(question):
            return value.get(f"my {m.group(1)}", ABSTAIN)
        return ABSTAIN


def history_context(turns: Sequence[str], window: int) -> str:
    """The last ``window`` user turns, oldest first (BALROG-style history)."""
    kept = list(turns)[-window:] if window > 0 else []
    return "Conversation so far (latest turns):\n" + "\n".join(f"User: {t}" for t in kept)


class FactNoteWriter:
    """The automem condition's memory model: each stated fact becomes a keyed line.

    Args:
        path: the notes file (the generic scaffold's ``notes.md``).
        miss: the share of facts it fails to write (a memory model of known quality,
            for the trainers to improve on); drawn from ``seed``.
        seed: seed of those misses.
    """

    name = "scripted-fact-notes"

    def __init__(self, path: str = "notes.md", *, miss: float = 0.0, seed: int | str = 0) -> None:
        self.path = path
        self.miss = miss
        self._rng = random.Random(seed)

    def decide(self, request: RoutineRequest) -> Completion:
        """LOG: one ``UPSERT`` per fact in the observation, then ``DONE``."""
        if request.routine != "log" or request.turn > 0:
            return Completion(text=encode_op(DoneOp()), model=self.name)
        ops = []
        for f in facts_in(request.observation):
            if f.kind == "note" or (self.miss and self._rng.random() < self.miss):
                continue
            value = f.value if f.before is None else f"{f.value} (before: {f.before})"
            ops.append(encode_op(UpsertOp(path=self.path, key=f.key, value=value)))
        return Completion(text="".join([*ops, encode_op(DoneOp())]), model=self.name)


class MemGPTWriter:
    """The MemGPT-style condition's memory model on the frozen ``memgpt`` scaffold."""

    name = "scripted-memgpt"

    def decide(self, request: RoutineRequest) -> Completion:
        """LOG: archival insert of each fact sentence, a core notes line per fact."""
        if request.routine != "log" or request.turn > 0:
            return Completion(text="<|DONE|>", model=self.name)
        parts = []
        text = request.observation
        for f in facts_in(text):
            if f.kind == "note":
                continue
            sentence = text[f.start :].split(".", 1)[0] + "."
            parts.append(f"<|ARCHIVAL_MEMORY_INSERT|>{sentence}<|END|>")
            old = f.before
            if f.kind == "correct":
                m = _PATTERNS[1][1].search(text, f.start)
                old = m.group(3) if m else None
            if old is not None:
                parts.append(
                    f"<|CORE_MEMORY_REPLACE|>notes|{f.key}: {old}|{f.key}: {f.value}<|END|>"
                )
            else:
                parts.append(f"<|CORE_MEMORY_APPEND|>notes|{f.key}: {f.value}<|END|>")
        return Completion(text="".join([*parts, "<|DONE|>"]), model=self.name)
