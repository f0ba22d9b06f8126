"""The NLE explorer split in two for two-model mode: a map-keeping memory specialist
(:class:`MapTeacher`) and a task policy that moves on the map memory showed it
(:class:`MapPolicy`), with their compact MiniHack scaffold (:func:`map_scaffold`).

Both are keyless :class:`~automem_sdk.env.Decider` objects built on
:class:`~automem_sdk.benchmarks.players.nle_explorer.NLEExplorer`. The teacher's memory
turns are the target a small memory model is trained towards; the policy is the fixed
task model that makes better memory the only way to do better.
"""

from __future__ import annotations

import dataclasses
from importlib import resources

from automem_sdk.codec import encode_op, encode_ops
from automem_sdk.env import RoutineRequest
from automem_sdk.errors import AutomemError
from automem_sdk.llm.base import Completion
from automem_sdk.ops import ActionOp, DoneOp, OpResult, ReadOp
from automem_sdk.scaffold import Scaffold
from automem_sdk.store import MemoryStore

from .nle_explorer import NLEExplorer, parse_map

__all__ = ["SCAFFOLD_FILE", "MapPolicy", "MapTeacher", "map_scaffold"]

#: The scaffold's package data file (``automem_sdk/scaffolds``).
SCAFFOLD_FILE = "smollm2_minihack.yaml"


def map_scaffold() -> Scaffold:
    """The compact MiniHack scaffold of :class:`MapTeacher` and :class:`MapPolicy`.

    One LOG turn records the current cell in ``map.md``, one PLAN turn reads ``map.md``
    for the task policy (package data ``automem_sdk/scaffolds/smollm2_minihack.yaml``).
    """
    text = resources.files("automem_sdk.scaffolds").joinpath(SCAFFOLD_FILE)
    return Scaffold.from_yaml(text.read_text(encoding="utf-8")).check()


class MapTeacher:
    """Scripted memory specialist: the NLE explorer's map bookkeeping as memory turns.

    LOG (one turn): the explorer's ``<|UPSERT|>map.md|x,y|visited exits=...<|END|>`` lines
    for what changed (current cell, stairs), then ``<|DONE|>``; the teacher looks at
    ``map.md`` in the store itself to know what changed, as the explorer does with its
    own READ. PLAN (one turn): ``<|READ|>map.md<|END|><|DONE|>``.

    Args:
        store: the episode's memory store.
        seed: the explorer's seed.
        map_file: the map file of the scaffold.
    """

    def __init__(self, store: MemoryStore, seed: int = 0, map_file: str = "map.md") -> None:
        self.store = store
        self.map_file = map_file
        self.explorer = NLEExplorer(memory=True, seed=seed, map_file=map_file)
        self.name = "explorer-teacher"

    def decide(self, request: RoutineRequest) -> Completion:
        """One memory turn."""
        if request.routine == "log":
            try:
                text = self.store.read(self.map_file)
            except AutomemError:
                text = ""
            seen = OpResult(op="read", ok=True, text=text, path=self.map_file)
            follow_up = dataclasses.replace(request, turn=1, last_results=[seen])
            return Completion(text=self.explorer.decide(follow_up).text, model=self.name)
        if request.routine == "plan":
            return Completion(
                text=encode_ops([ReadOp(path=self.map_file), DoneOp()]), model=self.name
            )
        return Completion(text=self.explorer.decide(request).text, model=self.name)


class MapPolicy:
    """The fixed task policy: the explorer's move choice over the map lines it is shown.

    The map is parsed from ``request.memory_context`` (what the memory specialist read
    in PLAN). With no usable map lines it has no plan and walks at random (towards the
    stairs once seen), like the explorer without memory.

    Args:
        seed: tie-breaking and random-walk seed.
    """

    def __init__(self, seed: int = 0) -> None:
        self.explorer = NLEExplorer(memory=True, seed=seed)
        self.name = "map-policy"

    def decide(self, request: RoutineRequest) -> Completion:
        """Commit one action."""
        know = parse_map(request.memory_context)
        usable = know if (know.visited or know.stairs is not None) else None
        action = self.explorer.choose(request, usable)
        return Completion(text=encode_op(ActionOp(name=action)), model=self.name)
