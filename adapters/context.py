"""Memory as extra context for an agent that does not manage memory itself.

The LangChain wrapper and middleware put this text in front of the wrapped model's
input: pinned scaffold files first, then lines that match words of the current request,
then the other files, newest lines kept when a file does not fit the budget.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import yaml

from automem_sdk.errors import AutomemError

if TYPE_CHECKING:
    from automem_sdk.scaffold import Scaffold
    from automem_sdk.store import MemoryStore

__all__ = ["memory_context", "prompt"]

_WORD = re.compile(r"[\w'-]{4,}")
_MAX_QUERY_WORDS = 8
_HITS_PER_WORD = 5


@cache
def _prompts() -> dict[str, str]:
    text = resources.files("automem_sdk.adapters").joinpath("prompts.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return {str(k): str(v) for k, v in data.items()}


def prompt(name: str, **values: str) -> str:
    """One prompt fragment from the adapters' ``prompts.yaml``, with ``values`` filled in.

    Raises:
        KeyError: no fragment called ``name``.
    """
    return _prompts()[name].format(**values)


def _query_words(query: str) -> list[str]:
    seen: list[str] = []
    for w in _WORD.findall(query.lower()):
        if w not in seen:
            seen.append(w)
    return seen[:_MAX_QUERY_WORDS]


def memory_context(
    store: MemoryStore,
    scaffold: Scaffold | None = None,
    *,
    query: str | None = None,
    max_chars: int = 4_000,
) -> str:
    """Render the memory an agent should see before its next model call.

    Args:
        store: the memory store.
        scaffold: its pinned files come first and its other files next.
        query: the current request; lines that contain its words are shown.
        max_chars: budget for the whole text.

    Returns:
        The context text (a header line, the file index, then file contents).
    """
    header = prompt("context_header").rstrip("\n")
    try:
        files = store.list()
    except AutomemError as exc:
        return f"{header}\n(cannot list memory: {exc})"
    if not files:
        return f"{header}\n{prompt('context_empty')}"
    parts = [header, prompt("context_files", files=", ".join(files[:50]))]
    budget = max_chars - sum(len(p) + 1 for p in parts)
    declared = [f for f in (scaffold.files if scaffold is not None else []) if f.name in files]
    pinned = [f.name for f in declared if f.pinned]
    rest = [f.name for f in declared if not f.pinned] + [
        p for p in files if p not in {f.name for f in declared}
    ]

    def add_file(path: str) -> bool:
        nonlocal budget
        try:
            text = store.read(path).rstrip("\n")
        except AutomemError:
            return True
        if not text.strip():
            return True
        block = f"--- {path} ---\n{text}"
        if len(block) + 1 <= budget:
            parts.append(block)
            budget -= len(block) + 1
            return True
        room = budget - len(path) - 13
        if room >= 120:
            parts.append(f"--- {path} ---\n...\n{text[-room:]}")
        budget = 0
        return False

    for path in pinned:
        if not add_file(path):
            return "\n".join(parts)
    if query:
        hits: list[str] = []
        for word in _query_words(query):
            try:
                found = store.search(word, limit=_HITS_PER_WORD)
            except AutomemError:
                continue
            for h in found:
                line = f"{h.path}:{h.line}: {h.text}"
                if line not in hits and h.path not in pinned:
                    hits.append(line)
        if hits:
            block = "\n".join([prompt("context_hits"), *hits])
            if len(block) + 1 <= budget:
                parts.append(block)
                budget -= len(block) + 1
    for path in rest:
        if not add_file(path):
            break
    return "\n".join(parts)
