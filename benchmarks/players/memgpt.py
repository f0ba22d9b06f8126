"""A MemGPT/Letta-style memory baseline: frozen core blocks plus archival insert/search.

The scaffold (package data ``data/memgpt.yaml``, ``--scaffold memgpt``) is the design
automem is contrasted with: memory as a fixed set of tool calls defined in the system
prompt. Three core blocks (``core/persona.md``, ``core/task.md``, ``core/notes.md``) are
pinned, so every prompt shows them, and are edited by append and replace
(``CORE_MEMORY_APPEND``, ``CORE_MEMORY_REPLACE``); everything else goes to archival
memory (``archival.md``), written by insert and read only by search
(``ARCHIVAL_MEMORY_INSERT``, ``ARCHIVAL_MEMORY_SEARCH``; the same calls as primitive
``APPEND``/``REPLACE``/``SEARCH`` ops). No other op is enabled: nothing reads a whole file.

The YAML carries ``frozen: true``: it is a baseline, and the structural trainer must
refuse to change it. :func:`is_frozen` reads that flag from any scaffold file;
:func:`load_memgpt_scaffold` returns the scaffold (the flag is kept where the
:class:`~automem_sdk.scaffold.Scaffold` model has a ``frozen`` field, else dropped).

Every agent runs with it (``automem bench --scaffold memgpt``; rows are labelled
``<agent>@memgpt``). The keyless explorers need :class:`MemGPTExplorer`, which keeps
their knowledge in the MemGPT layout: NetHack/MiniHack map lines are inserted into
archival memory and searched back (the search returns at most 50 lines, oldest first:
MemGPT's paged archival search, not a whole-file read), Crafter's resource locations and
goal live in the notes and task core blocks.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from automem_sdk.codec import encode_op, parse_ops
from automem_sdk.env import Decider, RoutineRequest
from automem_sdk.llm.base import Completion
from automem_sdk.ops import (
    ActionOp,
    AppendOp,
    DoneOp,
    OpResult,
    ReadOp,
    ReplaceOp,
    SearchOp,
    UpsertOp,
    WriteOp,
)
from automem_sdk.scaffold import Scaffold

__all__ = [
    "BENCH_SCAFFOLDS",
    "MemGPTExplorer",
    "is_frozen",
    "load_memgpt_scaffold",
    "resolve_scaffold",
]

#: Scaffolds the benchmarks ship besides the SDK's built-in ones (name -> data file).
BENCH_SCAFFOLDS: dict[str, str] = {"memgpt": "memgpt.yaml"}
_HIT = re.compile(r"^[^\s:]+\.[A-Za-z0-9]+:\d+: ")


def _raw(spec: str) -> dict[str, Any]:
    if spec in BENCH_SCAFFOLDS:
        text = (
            resources.files("automem_sdk.benchmarks.data")
            .joinpath(BENCH_SCAFFOLDS[spec])
            .read_text(encoding="utf-8")
        )
    else:
        import fsspec

        with fsspec.open(spec, "r") as f:
            text = f.read()
    data = yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def is_frozen(spec: str) -> bool:
    """Whether a scaffold (a bench scaffold name or a YAML/JSON path) says ``frozen: true``.

    The structural trainer must not propose changes to such a scaffold. Built-in SDK
    scaffold names and unreadable paths are not frozen.
    """
    if spec not in BENCH_SCAFFOLDS and not spec.endswith((".yaml", ".yml", ".json")):
        return False
    try:
        return bool(_raw(spec).get("frozen", False))
    except (OSError, ValueError, yaml.YAMLError):
        return False


@lru_cache(maxsize=1)
def load_memgpt_scaffold() -> Scaffold:
    """The MemGPT-style scaffold (validated)."""
    from automem_sdk.scaffold import load_scaffold

    data = _raw("memgpt")
    if "frozen" not in Scaffold.model_fields:
        data.pop("frozen", None)
    return load_scaffold(Scaffold.from_dict(data))


def resolve_scaffold(spec: str) -> Scaffold | str:
    """A bench scaffold name (``memgpt``) or a YAML/JSON file marked ``frozen: true`` as
    its object (the flag kept only where the Scaffold model has it); anything else
    unchanged (``load_scaffold`` resolves it)."""
    if spec == "memgpt":
        return load_memgpt_scaffold()
    if is_frozen(spec):
        from automem_sdk.scaffold import load_scaffold

        data = _raw(spec)
        if "frozen" not in Scaffold.model_fields:
            data.pop("frozen", None)
        return load_scaffold(Scaffold.from_dict(data))
    return spec


def _hit_text(result: OpResult) -> str:
    """A search result's lines without their ``path:line:`` prefixes."""
    if not result.ok or result.text.startswith("no lines match"):
        return ""
    return "\n".join(_HIT.sub("", ln, count=1) for ln in result.text.splitlines()) + "\n"


class MemGPTExplorer:
    """A keyless explorer whose memory is MemGPT-shaped (see the module docstring).

    It runs the env's explorer unchanged and translates its memory ops: a read of its
    file becomes an archival (NLE) or core-notes (Crafter) search, an upsert becomes an
    archival insert or a core-notes replace/append, and search results are handed back
    to the explorer as if it had read its file.

    Args:
        env_name: ``crafter``, ``nethack`` or ``minihack/<Task>``.
        seed: the explorer's seed.
    """

    def __init__(self, env_name: str, seed: int = 0) -> None:
        from automem_sdk.benchmarks.registry import make_explorer

        self.inner: Decider = make_explorer(env_name, memory=True, seed=seed)
        self.crafter = env_name == "crafter"
        self.name = f"{self.inner.name}@memgpt"
        #: the explorer's file -> (the MemGPT file it lives in, the search query)
        self.files: dict[str, tuple[str, str]] = (
            {"resources.md": ("core/notes.md", ":"), "progress.md": ("core/task.md", ":")}
            if self.crafter
            else {"map.md": ("archival.md", ":")}
        )
        self._lines: dict[str, dict[str, str]] = {}

    def decide(self, request: RoutineRequest) -> Completion:
        """Translate the explorer's turn to and from the MemGPT layout."""
        results: list[Any] = []
        for r in request.last_results:
            if getattr(r, "op", None) == "search" and getattr(r, "path", None):
                src = next((k for k, (dst, _) in self.files.items() if dst == r.path), None)
                if src is not None:
                    text = _hit_text(r)
                    self._lines[src] = _keyed(text)
                    r = OpResult(op="read", ok=True, text=text or f"({src} is empty)", path=src)
            results.append(r)
        inner_req = RoutineRequest(
            routine=request.routine,
            step=request.step,
            turn=request.turn,
            messages=request.messages,
            observation=request.observation,
            actions=request.actions,
            info=request.info,
            last_results=results,
            memory_context=request.memory_context,
            allowed_ops=request.allowed_ops,
        )
        completion = self.inner.decide(inner_req)
        ops: list[Any] = []
        for op in parse_ops(completion.text):
            ops.extend(self._translate(op))
        return Completion(text="".join(encode_op(o) for o in ops), model=self.name)

    def _translate(self, op: Any) -> list[Any]:
        if isinstance(op, ActionOp | DoneOp):
            return [op]
        if isinstance(op, ReadOp) and op.path in self.files:
            dst, query = self.files[op.path]
            return [SearchOp(path=dst, query=query)]
        if isinstance(op, UpsertOp) and op.path in self.files:
            dst, _ = self.files[op.path]
            line = f"{op.key}: {op.value}"
            if not self.crafter:
                return [AppendOp(path=dst, content=line)]
            old = self._lines.get(op.path, {}).get(op.key)
            if old is not None:
                return [ReplaceOp(path=dst, old=f"{op.key}: {old}", new=line)]
            return [AppendOp(path=dst, content=line)]
        if isinstance(op, WriteOp):
            return []  # archival memory is insert-only: old lines stay, later ones win
        return [op]


def _keyed(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out[key.strip()] = value.strip()
    return out
