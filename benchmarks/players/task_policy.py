"""Task policies that act on what memory returned: the default of two-model evaluation.

In ``two-model`` mode the memory model runs LOG and the memory part of PLAN, and the
task policy commits the action seeing memory only as ``request.memory_context`` (the
pinned files plus the results of the memory model's reads and searches this step). A
task policy that ignores that context cannot tell a good memory model from a useless
one, so these scripted planners take everything they know about the past from it:

- :class:`NLEMapPlanner` (NetHack, MiniHack): parses the ``map.md`` lines found in the
  context (``12,5: visited exits=n,e``, ``stairs: 20,7``; NetHack lines keyed by level)
  and plans a breadth-first route to the stairs or the nearest frontier over them.
  With no map lines in the context it only has the current view: a random walk that
  steps towards the stairs when they are in sight.
- :class:`CrafterMemoryPlanner` (Crafter): parses ``resources.md`` lines
  (``tree: 12,30``) and walks to the remembered resource its crafting need calls for
  when none is in view; otherwise it explores.

Both keep no state between steps apart from a seeded tie-breaking generator: the
current perception (position, neighbouring cells, message, inventory) comes from this
step's observation, like a task model reading its prompt, and the past only from
memory. Decisions are deterministic given the seed and their inputs.
"""

from __future__ import annotations

import random
import re

from automem_sdk.codec import encode_op
from automem_sdk.env import RoutineRequest
from automem_sdk.llm.base import Completion
from automem_sdk.ops import ActionOp

from .nle_explorer import MapKnowledge, NLEExplorer, _level, parse_map

__all__ = ["CrafterMemoryPlanner", "NLEMapPlanner", "context_lines"]

# ``map.md:3: 12,5: visited`` (a search hit) or ``3: 12,5: visited`` (head/tail numbering).
_SEARCH_PREFIX = re.compile(r"^[^\s:]+\.[A-Za-z0-9]+:\d+: ")
_NUMBER_PREFIX = re.compile(r"^\d+: (?=\S)")
_MAP_LINE = re.compile(r"^(?:\d+:)?(?:\d+,\d+|stairs):")


def context_lines(memory_context: str) -> list[str]:
    """The lines of a memory context with search-hit and line-number prefixes removed.

    ``map.md:3: 12,5: visited`` and ``3: 12,5: visited`` both become ``12,5: visited``;
    file headers (``[read map.md]``, ``--- plan.md ---``) stay as they are.
    """
    out = []
    for raw in memory_context.splitlines():
        line = raw.strip()
        line = _SEARCH_PREFIX.sub("", line, count=1)
        if _NUMBER_PREFIX.match(line) and _MAP_LINE.match(_NUMBER_PREFIX.sub("", line, count=1)):
            line = _NUMBER_PREFIX.sub("", line, count=1)
        out.append(line)
    return out


class NLEMapPlanner:
    """NetHack/MiniHack task policy that plans over the map lines memory returned.

    Args:
        seed: seed of the tie-breaking generator (re-seeded at step 0 of every episode).
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.name = "nle-map-planner"
        self._policy = NLEExplorer(memory=False, seed=seed)

    def knowledge(self, request: RoutineRequest) -> MapKnowledge | None:
        """The map the context holds for the current level (None: no map lines in it)."""
        lines = [ln for ln in context_lines(request.memory_context) if _MAP_LINE.match(ln)]
        if not lines:
            return None
        return parse_map("\n".join(lines), _level(request.info))

    def decide(self, request: RoutineRequest) -> Completion:
        """Commit one action, planned from this step's memory context."""
        if request.step == 0 and request.turn == 0:
            self._policy._rng = random.Random(self.seed)
        action = self._policy.choose(request, self.knowledge(request))
        return Completion(text=encode_op(ActionOp(name=action)), model=self.name)


class CrafterMemoryPlanner:
    """Crafter task policy that goes to the resource locations memory returned.

    Args:
        seed: seed of the tie-breaking generator (re-seeded at step 0 of every episode).
    """

    def __init__(self, seed: int = 0) -> None:
        from .crafter_memory import CrafterExplorer

        self.seed = seed
        self.name = "crafter-memory-planner"
        self._policy = CrafterExplorer(memory=False, seed=seed)

    def knowledge(self, request: RoutineRequest) -> dict[str, tuple[int, int]]:
        """Resource kind -> remembered cell, from every ``kind: x,y`` line of the context."""
        from .crafter_memory import REMEMBERED_KINDS, parse_resources

        found = parse_resources("\n".join(context_lines(request.memory_context)))
        return {k: v for k, v in found.items() if k in REMEMBERED_KINDS}

    def decide(self, request: RoutineRequest) -> Completion:
        """Commit one action, planned from this step's memory context and view."""
        if request.step == 0 and request.turn == 0:
            self._policy._rng = random.Random(self.seed)
        action = self._policy.choose(request.info, self.knowledge(request), request.actions)
        return Completion(text=encode_op(ActionOp(name=action)), model=self.name)
