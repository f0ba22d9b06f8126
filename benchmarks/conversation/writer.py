"""A memory model whose quality the scaffold decides: it does what the prompt tells it.

:class:`ScaffoldFactWriter` is the memory model the loops train on. Like an LLM, it
sees only the routine's messages: the system prompt (the file schema with each file's
purpose, format and byte cap; the list of enabled ops) and the LOG prompt with the
user's turn. It never sees the questions or their answers. What it does follows from
that text alone (:func:`read_schema`):

- **where**: facts go to the file whose purpose speaks of facts (else the first file);
  facts about other people (``Maya lives in Oslo.``) go to a file whose name or
  purpose speaks of people, else to the facts file unless its purpose keeps it to the
  user's own facts (``about themselves``), in which case they are not written;
- **how**: ``UPSERT path|key|value`` when UPSERT is enabled, else ``APPEND`` of a
  ``key: value`` line, else ``WRITE``, else nothing;
- **what**: after an update (``changed from Oslo to Lima``) the value is
  ``Lima (before: Oslo)`` only when the prompt or the file's purpose asks to keep old
  or previous values; otherwise just ``Lima``;
- **caps**: it writes whatever it was told to; the store refuses a write over the
  file's cap (an op error the reflection counts).

:data:`START_SCAFFOLD` (``chat-cramped``) is a deliberately weak start for the
structural loop: a 96-byte notes file and no UPSERT, so the late facts of a dialogue
are refused over the cap.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from automem_sdk.codec import encode_op
from automem_sdk.deciders import RoutineRequest
from automem_sdk.llm.base import Completion, Message
from automem_sdk.ops import AppendOp, DoneOp, UpsertOp, WriteOp
from automem_sdk.scaffold import Scaffold

from .players import facts_in

__all__ = [
    "START_SCAFFOLD",
    "PromptSchema",
    "ScaffoldFactWriter",
    "SchemaFile",
    "load_conversation_scaffold",
    "read_schema",
    "start_scaffold_path",
]

#: The weak start scaffold of the structural loop on this benchmark.
START_SCAFFOLD = "chat-cramped"

_FILE_LINE = re.compile(r"^- (\S+): (.*) \[([^\[\]]*?); max (\d+) bytes\]\s*$", re.MULTILINE)
_PEOPLE = re.compile(r"\b(people|persons?|contacts?|relatives?|relationships?|family)\b", re.I)
_FACTS = re.compile(r"\bfacts?\b", re.I)
_SELF_ONLY = re.compile(r"\babout (themselves|himself|herself|the user)\b", re.I)
_KEEP_OLD = re.compile(r"\b(before|previous|old (value|one)s?|history)\b", re.I)


@dataclass(frozen=True)
class SchemaFile:
    """One memory file as the system prompt lists it."""

    name: str
    purpose: str
    format: str
    max_bytes: int


@dataclass
class PromptSchema:
    """What a routine's messages say about memory (see :func:`read_schema`)."""

    files: list[SchemaFile] = field(default_factory=list)
    ops: set[str] = field(default_factory=set)
    log_prompt: str = ""

    def facts_file(self) -> SchemaFile | None:
        """The file for facts: the first whose purpose speaks of facts, else the first."""
        for f in self.files:
            if _FACTS.search(f.purpose) and not _PEOPLE.search(f.name):
                return f
        return self.files[0] if self.files else None

    def people_file(self) -> SchemaFile | None:
        """Where facts about other people go (``None``: they are not written)."""
        facts = self.facts_file()
        for f in self.files:
            if f is not facts and (_PEOPLE.search(f.name) or _PEOPLE.search(f.purpose)):
                return f
        if facts is not None and (
            _PEOPLE.search(facts.purpose) or not _SELF_ONLY.search(facts.purpose)
        ):
            return facts
        return None

    def keeps_old_values(self, target: SchemaFile) -> bool:
        """Whether the prompt or ``target``'s purpose asks to keep values before a change."""
        return bool(_KEEP_OLD.search(target.purpose) or _KEEP_OLD.search(self.log_prompt))


def read_schema(messages: Sequence[Message]) -> PromptSchema:
    """The file schema, enabled ops and LOG instruction shown in ``messages``."""
    system = "\n".join(m.content for m in messages if m.role == "system")
    user = "\n".join(m.content for m in messages if m.role == "user")
    files = [
        SchemaFile(m.group(1), m.group(2), m.group(3), int(m.group(4)))
        for m in _FILE_LINE.finditer(system)
    ]
    ops = {m.lower() for m in re.findall(r"(?m)^<\|([A-Z_]+)\|>", system)}
    instruction = user.split("Observation:", 1)[0]
    return PromptSchema(files=files, ops=ops, log_prompt=instruction)


class ScaffoldFactWriter:
    """A scripted memory model that follows the scaffold's text (module docstring).

    Args:
        miss: the share of facts it fails to write (a fallible writer), drawn from
            ``seed``.
        seed: seed of those misses.
    """

    name = "scripted-scaffold-follower"

    def __init__(self, *, miss: float = 0.0, seed: int | str = 0) -> None:
        self.miss = miss
        self._rng = random.Random(seed)

    def decide(self, request: RoutineRequest) -> Completion:
        """LOG: one write per fact the user states, as the schema says; then ``DONE``."""
        done = encode_op(DoneOp())
        if request.routine != "log" or request.turn > 0:
            return Completion(text=done, model=self.name)
        schema = read_schema(request.messages)
        ops = []
        for f in facts_in(request.observation):
            if f.kind == "note" or (self.miss and self._rng.random() < self.miss):
                continue
            target = schema.people_file() if f.kind == "lives" else schema.facts_file()
            if target is None:
                continue
            value = f.value
            if f.before is not None and schema.keeps_old_values(target):
                value = f"{f.value} (before: {f.before})"
            op = _write(schema, target.name, f.key, value)
            if op:
                ops.append(op)
        return Completion(text="".join([*ops, done]), model=self.name)


def _write(schema: PromptSchema, path: str, key: str, value: str) -> str:
    if "upsert" in schema.ops:
        return encode_op(UpsertOp(path=path, key=key, value=value))
    if "append" in schema.ops:
        return encode_op(AppendOp(path=path, content=f"{key}: {value}"))
    if "write" in schema.ops:  # overwrites the file: only the last fact survives
        return encode_op(WriteOp(path=path, content=f"{key}: {value}"))
    return ""


def start_scaffold_path(name: str = START_SCAFFOLD) -> Path:
    """The YAML file of a scaffold shipped with this benchmark (``chat-cramped``).

    Raises:
        FileNotFoundError: no such scaffold here.
    """
    path = Path(str(resources.files(__package__ or "").joinpath(f"{name}.yaml")))
    if not path.is_file():
        raise FileNotFoundError(f"no scaffold {name!r} in the conversation benchmark")
    return path


def load_conversation_scaffold(spec: str | Scaffold) -> Scaffold:
    """A scaffold by this benchmark's name (``chat-cramped``), built-in name or path."""
    from automem_sdk.scaffold import load_scaffold

    if isinstance(spec, Scaffold):
        return spec
    try:
        return Scaffold.from_yaml(start_scaffold_path(spec).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return load_scaffold(spec)
