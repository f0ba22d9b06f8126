"""Keyless players that see memory only through the prompt text, so scaffolds matter.

The benchmark explorers read op results as structured objects: a cut result, a trimmed
context or a reworded file schema changes nothing for them, and every such change an
LLM proposer would make is a tie. These players keep the explorer's policy but take
what they know from the text a model would see:

- :class:`PromptExplorer` (decider ``prompt-explorer``; NetHack/MiniHack): the map
  file is the one the system prompt's file schema describes as a map (``x,y`` cells);
  it writes with ``<|UPSERT|>`` when the prompt lists it, else with the scaffold's
  ``UPSERT_MAP`` custom op, else appends ``key: value`` lines; and it plans over the map
  text as shown in the prompt: op results cut at ``result_chars``, messages trimmed to
  ``context_tokens``. A cut map is a smaller map.
- :class:`PromptPlanner` (decider ``prompt-planner``; the task policy of two-model
  mode): plans over the map lines found in the act prompt (after ``{memory_context}``
  is rendered and the prompt trimmed to ``context_tokens``), not over the raw context.

Decisions stay deterministic given the seed and the prompt text.
"""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace
from typing import Any

from automem_sdk.codec import encode_op, parse_ops
from automem_sdk.env import Decider, RoutineRequest
from automem_sdk.llm.base import Completion
from automem_sdk.ops import AppendOp, CustomOp, UpsertOp

__all__ = ["PromptExplorer", "PromptPlanner", "make_sensitive", "shown_results"]

_FILE_LINE = re.compile(r"^- ([^\s:]+): (.*)$", re.MULTILINE)
_MAPLIKE = re.compile(r"\bcells?\b|\bmap\b|x,y", re.IGNORECASE)
_OPS_LEFT = re.compile(r"\n\(\d+ memory ops left\)[^\n]*$")


def shown_results(request: RoutineRequest) -> str | None:
    """The op-result text of the last feedback message the prompt shows (None: none)."""
    for m in reversed(request.messages):
        if m.role != "user":
            continue
        if not m.content.startswith("Results:\n"):
            return None
        return _OPS_LEFT.sub("", m.content[len("Results:\n") :])
    return None


def _system(request: RoutineRequest) -> str:
    return next((m.content for m in request.messages if m.role == "system"), "")


class PromptExplorer:
    """The NLE explorer, fed only what its prompt shows (see module docstring).

    Args:
        seed: tie-breaking seed of the underlying explorer.
    """

    def __init__(self, seed: int = 0) -> None:
        from automem_sdk.benchmarks.players.nle_explorer import NLEExplorer

        self.seed = seed
        self.name = "prompt-explorer"
        self._inner = NLEExplorer(memory=True, seed=seed)

    def map_file(self, system: str) -> str:
        """The file the schema describes as the map (``map.md`` if none does)."""
        for name, purpose in _FILE_LINE.findall(system):
            if _MAPLIKE.search(purpose) or "map" in name.lower():
                return str(name)
        return "map.md"

    def decide(self, request: RoutineRequest) -> Completion:
        """One routine turn of the explorer, on the prompt's view of memory."""
        system = _system(request)
        self._inner.map_file = self.map_file(system)
        if request.step == 0 and request.turn == 0 and request.routine == "log":
            import random

            self._inner._rng = random.Random(self.seed)
        if request.turn > 0:
            text = shown_results(request)
            first = next((r for r in request.last_results if getattr(r, "op", "") == "read"), None)
            ok = bool(getattr(first, "ok", False)) and text is not None
            if ok and text is not None and text.startswith("ERROR"):
                ok = False
            fake = SimpleNamespace(op="read", ok=ok, text=text or "")
            request = dataclasses.replace(request, last_results=[fake])
        out = self._inner.decide(request).text
        if request.routine == "log":
            out = self._rewrite_writes(out, system)
        return Completion(text=out, model=self.name)

    def _rewrite_writes(self, text: str, system: str) -> str:
        """Use the write op the prompt offers: UPSERT, else UPSERT_MAP, else APPEND."""
        if "<|UPSERT|>" in system:
            return text
        ops = parse_ops(text)
        out = []
        for op in ops:
            if isinstance(op, UpsertOp):
                if "<|UPSERT_MAP|>" in system:
                    out.append(encode_op(CustomOp(name="UPSERT_MAP", args=[op.key, op.value])))
                else:
                    out.append(encode_op(AppendOp(path=op.path, content=f"{op.key}: {op.value}")))
            else:
                out.append(encode_op(op))
        return "".join(out)


class PromptPlanner:
    """Task policy that plans over the map lines its act prompt shows.

    Args:
        seed: tie-breaking seed of the underlying planner.
    """

    def __init__(self, seed: int = 0) -> None:
        from automem_sdk.benchmarks.players.task_policy import NLEMapPlanner

        self.name = "prompt-planner"
        self._inner = NLEMapPlanner(seed=seed)

    def decide(self, request: RoutineRequest) -> Completion:
        """Commit one action from the act prompt's text."""
        shown = "\n".join(m.content for m in request.messages if m.role == "user")
        out: Completion = self._inner.decide(dataclasses.replace(request, memory_context=shown))
        return out


def make_sensitive(spec: str, env_name: str, *, seed: int = 0) -> Decider:
    """Build ``prompt-explorer`` or ``prompt-planner`` for ``env_name``.

    Raises:
        ValueError: unknown spec, or an env these players do not know (NetHack/MiniHack).
    """
    if not (env_name == "nethack" or env_name.startswith("minihack/")):
        raise ValueError(f"{spec} plays NetHack and MiniHack only, not {env_name!r}")
    player: Any
    if spec == "prompt-explorer":
        player = PromptExplorer(seed=seed)
    elif spec == "prompt-planner":
        player = PromptPlanner(seed=seed)
    else:
        raise ValueError(f"unknown keyless player {spec!r}")
    decider: Decider = player
    return decider
