"""A keyless Crafter player that keeps resource locations and progress in memory.

:class:`CrafterExplorer` is a scripted :class:`~automem_sdk.env.Decider` for
:class:`~automem_sdk.agent.MemoryAgent` (unified mode, the built-in ``crafter``
scaffold). Everything it knows about the world beyond the current view lives in the
memory store, written and read through op tokens:

- **LOG**: ``<|READ|>resources.md<|END|>``, then ``<|UPSERT|>`` the resources seen now
  whose remembered location changed (``tree: 12,30``; ``tree: none`` when the
  remembered cell is in view and the resource is gone) and the current goal in
  ``progress.md`` (``goal: stone_pickaxe``), then ``<|DONE|>``.
- **PLAN**: ``<|READ|>resources.md<|END|>``, then one ``<|ACTION|>``.

The policy follows a small tech tree (wood -> table -> wooden pickaxe and sword ->
stone -> stone pickaxe and sword -> furnace -> coal and iron -> iron tools -> diamond),
drinks, eats and sleeps when needed, fights adjacent zombies, and plants saplings. It
walks to the needed resource when it is in view, else to where memory says it was, else
explores. With the agent's ``memory="off"`` the reads come back as errors and it only
knows what is in view, so the effect of memory is measurable offline. Decisions are
deterministic given ``seed`` (a per-episode random generator breaks ties).
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any

from automem_sdk.codec import encode_op
from automem_sdk.env import RoutineRequest
from automem_sdk.llm.base import Completion
from automem_sdk.ops import ActionOp, DoneOp, ReadOp, UpsertOp

__all__ = ["REMEMBERED_KINDS", "CrafterExplorer", "choose_goal", "parse_resources"]

#: Kinds whose locations are written to ``resources.md`` (cows roam, but slowly: where
#: one was seen is where the herd's pasture is).
REMEMBERED_KINDS: tuple[str, ...] = (
    "table",
    "water",
    "tree",
    "stone",
    "coal",
    "iron",
    "furnace",
    "diamond",
    "grass",
    "cow",
)
Cell = tuple[int, int]
_MOVES: dict[str, Cell] = {
    "move_left": (-1, 0),
    "move_right": (1, 0),
    "move_up": (0, -1),
    "move_down": (0, 1),
}
_WALKABLE = {"grass", "sand", "path"}
_VIEW_HALF = (4, 3)  # the local view reaches 4 cells east/west, 3 north/south
_LINE = re.compile(r"^\s*([a-z_]+)\s*:\s*(-?\d+)\s*,\s*(-?\d+)\s*$")
_MAX_LOG_UPSERTS = 3  # the crafter scaffold allows 4 LOG ops: one read + three writes


def parse_resources(text: str) -> dict[str, Cell]:
    """Parse ``resources.md`` keyed lines (``tree: 12,30``); other lines are skipped."""
    out: dict[str, Cell] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def choose_goal(inventory: dict[str, int], achievements: list[str]) -> tuple[str, str]:
    """The next crafting goal and the resource kind to go to for it.

    Returns:
        ``(goal, kind)``: e.g. ``("wood_pickaxe", "table")`` when there is wood for it,
        ``("wood", "tree")`` when more wood is needed first.
    """
    inv = inventory
    done = set(achievements)
    wood, stone = inv.get("wood", 0), inv.get("stone", 0)
    coal, iron = inv.get("coal", 0), inv.get("iron", 0)
    if not inv.get("wood_pickaxe"):
        if wood >= 1 and "place_table" in done:
            return "wood_pickaxe", "table"
        return ("table", "place") if wood >= max(5, _cost("table") + 1) else ("wood", "tree")
    if not inv.get("wood_sword"):
        return ("wood_sword", "table") if wood >= 1 else ("wood", "tree")
    if not inv.get("stone_pickaxe") or not inv.get("stone_sword"):
        target = "stone_pickaxe" if not inv.get("stone_pickaxe") else "stone_sword"
        if wood < 1:
            return "wood", "tree"
        return (target, "table") if stone >= 1 else ("stone", "stone")
    if "place_stone" not in done:
        return ("place_stone", "place") if stone >= 1 else ("stone", "stone")
    if "place_furnace" not in done:
        return ("furnace", "place") if stone >= _cost("furnace") else ("stone", "stone")
    if not inv.get("iron_pickaxe") or not inv.get("iron_sword"):
        target = "iron_pickaxe" if not inv.get("iron_pickaxe") else "iron_sword"
        if wood < 1:
            return "wood", "tree"
        if coal < 1:
            return "coal", "coal"
        if iron < 1:
            return "iron", "iron"
        return target, "furnace"
    return "diamond", "diamond"


@lru_cache(maxsize=8)
def _cost(thing: str) -> int:
    """What placing ``thing`` uses of its material (crafter's game data)."""
    from crafter import constants

    uses: dict[str, int] = constants.place[thing]["uses"]
    return int(next(iter(uses.values())))


def _ops(*ops: Any) -> str:
    return "".join(encode_op(op) for op in ops)


def _read_text(results: list[Any]) -> str | None:
    """The text of the first read in the previous turn's results (None: it failed)."""
    for r in results:
        if getattr(r, "op", None) == "read":
            if not getattr(r, "ok", False):
                return None
            text = str(getattr(r, "text", ""))
            return "" if text.startswith("(") and text.endswith("is empty)") else text
    return None


def _in_view(pos: Cell, cell: Cell) -> bool:
    return abs(cell[0] - pos[0]) <= _VIEW_HALF[0] and abs(cell[1] - pos[1]) <= _VIEW_HALF[1]


class CrafterExplorer:
    """Tech-tree Crafter player that remembers resource locations in memory.

    Args:
        memory: use the memory store (``False``: never read or write).
        seed: seed of the tie-breaking random generator (re-seeded at step 0 of every
            episode, so an episode's decisions depend on the seed and the game only).
        resources_file: the memory file of resource locations.
        progress_file: the memory file of the crafting goal.
    """

    def __init__(
        self,
        memory: bool = True,
        seed: int = 0,
        resources_file: str = "resources.md",
        progress_file: str = "progress.md",
    ) -> None:
        self.memory = memory
        self.seed = seed
        self.resources_file = resources_file
        self.progress_file = progress_file
        self.name = f"crafter-explorer{'' if memory else '-nomem'}"
        self._rng = random.Random(seed)
        self._heading = "move_down"  # the facing of the current request (not kept)

    # ------------------------------------------------------------------ protocol
    def decide(self, request: RoutineRequest) -> Completion:
        """One routine turn: LOG records resources and the goal, PLAN reads and acts."""
        if request.step == 0 and request.turn == 0 and request.routine != "plan":
            self._rng = random.Random(self.seed)
        if request.routine == "log":
            text = self._log(request)
        elif request.routine == "plan":
            if request.step == 0 and request.turn == 0:
                self._rng = random.Random(self.seed)
            text = self._plan(request)
        else:
            text = _ops(ActionOp(name=self.choose(request.info, {}, request.actions)))
        return Completion(text=text, model=self.name)

    # ------------------------------------------------------------------ routines
    def _log(self, request: RoutineRequest) -> str:
        info = request.info
        if not self.memory or "x" not in info:
            return _ops(DoneOp())
        if request.turn == 0:
            return _ops(ReadOp(path=self.resources_file))
        read = _read_text(request.last_results)
        if read is None:
            return _ops(DoneOp())
        known = parse_resources(read)
        pos: Cell = (int(info["x"]), int(info["y"]))
        nearest: dict[str, Any] = info.get("nearest") or {}
        goal, kind = choose_goal(info.get("inventory") or {}, info.get("achievements") or [])
        updates: list[tuple[str, str]] = []
        for k in sorted(REMEMBERED_KINDS, key=lambda k: (k != kind, REMEMBERED_KINDS.index(k))):
            if k in nearest:
                cell = (int(nearest[k][0]), int(nearest[k][1]))
                old = known.get(k)
                # Keep the remembered cell unless the new one is closer or the old is gone.
                if old == cell:
                    continue
                if old is not None and _in_view(pos, old) is False:
                    far_old = abs(old[0] - pos[0]) + abs(old[1] - pos[1])
                    if far_old < abs(cell[0] - pos[0]) + abs(cell[1] - pos[1]):
                        continue
                updates.append((k, f"{cell[0]},{cell[1]}"))
            elif k in known and _in_view(pos, known[k]):
                updates.append((k, "none"))  # remembered here, but gone
        ops: list[Any] = [
            UpsertOp(path=self.resources_file, key=k, value=v)
            for k, v in updates[:_MAX_LOG_UPSERTS]
        ]
        if len(ops) < _MAX_LOG_UPSERTS and request.step % 25 == 0:
            ops.append(UpsertOp(path=self.progress_file, key="goal", value=goal))
        return _ops(*ops, DoneOp())

    def _plan(self, request: RoutineRequest) -> str:
        if self.memory and request.turn == 0 and "x" in request.info:
            return _ops(ReadOp(path=self.resources_file))
        known: dict[str, Cell] = {}
        if self.memory:
            read = _read_text(request.last_results)
            if read is not None:
                known = parse_resources(read)
        return _ops(ActionOp(name=self.choose(request.info, known, request.actions)))

    # ------------------------------------------------------------------ policy
    def choose(self, info: dict[str, Any], known: dict[str, Cell], actions: list[str]) -> str:
        """The next action from the observation's info and remembered locations."""
        if "x" not in info:
            return self._rng.choice(actions) if actions else "noop"
        if info.get("sleeping"):
            return "noop"
        pos: Cell = (int(info["x"]), int(info["y"]))
        inv: dict[str, int] = info.get("inventory") or {}
        status: dict[str, int] = info.get("status") or {}
        nearest: dict[str, Any] = {
            k: (int(v[0]), int(v[1])) for k, v in (info.get("nearest") or {}).items()
        }
        around: dict[str, str] = info.get("around") or {}
        facing = str(info.get("facing_kind", ""))
        fdir = info.get("facing") or (0, 1)
        self._heading = next((m for m, d in _MOVES.items() if d == tuple(fdir)), "move_down")
        achievements: list[str] = info.get("achievements") or []
        # Danger and needs first.
        zombie = nearest.get("zombie")
        if zombie is not None and abs(zombie[0] - pos[0]) + abs(zombie[1] - pos[1]) == 1:
            return "do" if facing == "zombie" else self._face(pos, zombie)
        if status.get("energy", 9) <= 2 and zombie is None:
            return "sleep"
        if status.get("drink", 9) <= 5:
            return self._get(pos, "water", nearest, known, around, facing)
        if status.get("food", 9) <= 5:
            return self._get(pos, "cow", nearest, known, around, facing)
        if inv.get("sapling") and facing == "grass":
            return "place_plant"
        goal, kind = choose_goal(inv, achievements)
        if kind == "place":
            if goal == "table" and facing in _WALKABLE:
                return "place_table"
            if (
                goal == "furnace"
                and facing in _WALKABLE
                and "table" in self._adjacent(pos, nearest)
            ):
                return "place_furnace"
            if goal == "furnace":
                return self._get(pos, "table", nearest, known, around, facing, craft=True)
            if goal == "place_stone" and facing in ("grass", "sand", "path", "water"):
                return "place_stone"
            return self._turn_to_free(around)
        if kind in ("table", "furnace"):
            need = ("table", "furnace") if kind == "furnace" else ("table",)
            near = self._adjacent(pos, nearest)
            if all(n in near for n in need):
                return f"make_{goal}"
            missing = next(n for n in need if n not in near)
            if missing == "table" and "table" not in nearest and "table" not in known:
                if inv.get("wood", 0) >= _cost("table"):
                    return "place_table" if facing in _WALKABLE else self._turn_to_free(around)
                return self._get(pos, "tree", nearest, known, around, facing)
            if missing == "furnace" and "furnace" not in nearest and "furnace" not in known:
                if inv.get("stone", 0) >= _cost("furnace") and facing in _WALKABLE:
                    return "place_furnace"
                return self._get(pos, "stone", nearest, known, around, facing)
            return self._get(pos, missing, nearest, known, around, facing, craft=True)
        if facing == "grass" and "collect_sapling" not in achievements and self._rng.random() < 0.3:
            return "do"
        return self._get(pos, kind, nearest, known, around, facing)

    def _adjacent(self, pos: Cell, nearest: dict[str, Cell]) -> set[str]:
        """Kinds within crafting reach (the 3x3 square around the player)."""
        return {k for k, c in nearest.items() if max(abs(c[0] - pos[0]), abs(c[1] - pos[1])) <= 1}

    def _face(self, pos: Cell, cell: Cell) -> str:
        dx, dy = cell[0] - pos[0], cell[1] - pos[1]
        if abs(dx) >= abs(dy):
            return "move_right" if dx > 0 else "move_left"
        return "move_down" if dy > 0 else "move_up"

    def _turn_to_free(self, around: dict[str, str]) -> str:
        free = [m for m, k in around.items() if k in _WALKABLE]
        return self._rng.choice(free) if free else "noop"

    def _get(
        self,
        pos: Cell,
        kind: str,
        nearest: dict[str, Cell],
        known: dict[str, Cell],
        around: dict[str, str],
        facing: str,
        *,
        craft: bool = False,
    ) -> str:
        """Go to the nearest ``kind`` (in view, else remembered, else explore) and use it."""
        target = nearest.get(kind)
        if target is None:
            target = known.get(kind)
            if target is not None and _in_view(pos, target):
                target = None  # remembered here but not in view any more: gone
        if target is None:
            return self._explore(around)
        dist = abs(target[0] - pos[0]) + abs(target[1] - pos[1])
        if craft and max(abs(target[0] - pos[0]), abs(target[1] - pos[1])) <= 1:
            return "noop"  # caller crafts when in reach
        if dist == 1:
            return "do" if facing == kind else self._face(pos, target)
        return self._step_towards(pos, target, around)

    def _step_towards(self, pos: Cell, target: Cell, around: dict[str, str]) -> str:
        dx, dy = target[0] - pos[0], target[1] - pos[1]
        options = []
        if dx:
            options.append(("move_right" if dx > 0 else "move_left", abs(dx)))
        if dy:
            options.append(("move_down" if dy > 0 else "move_up", abs(dy)))
        options.sort(key=lambda o: -o[1])
        for move, _ in options:
            if around.get(move) in _WALKABLE:
                return move
        free = [m for m, k in around.items() if k in _WALKABLE]
        return self._rng.choice(free) if free else self._rng.choice(list(_MOVES))

    def _explore(self, around: dict[str, str]) -> str:
        """Keep walking the way the player faces while it is free, else turn at random."""
        free = [m for m, k in around.items() if k in _WALKABLE]
        if not free:
            return self._rng.choice(list(_MOVES))
        if self._heading in free and self._rng.random() < 0.9:
            return self._heading
        return self._rng.choice(free)
