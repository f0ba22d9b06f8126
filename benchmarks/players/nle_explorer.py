"""A keyless maze and dungeon explorer for NetHack and MiniHack that remembers in memory.

:class:`NLEExplorer` is a scripted :class:`~automem_sdk.env.Decider` for
:class:`~automem_sdk.agent.MemoryAgent` (unified mode). It keeps everything it knows in the
memory store, through op tokens, and decides from what it reads back:

- **LOG**: ``<|READ|>map.md<|END|>``, then ``<|UPSERT|>`` the lines that changed (the
  current cell ``12,5: visited exits=n,e,sw``, ``dead_end`` when a cell has one way out,
  ``blocked=e`` after a move that went nowhere, ``stairs: 20,7`` when the staircase down is
  in sight) and ``<|DONE|>``. NetHack lines are keyed by level: ``2:12,5: ...``.
- **PLAN**: ``<|READ|>map.md<|END|>``, then one ``<|ACTION|>``: a breadth-first search
  over the remembered cells to the stairs (when known and reachable) or else to the
  nearest frontier (a way out of a visited cell that leads to an unvisited one): a
  depth-first exploration of the level.

Its perception is local, like a player reading the language observation: the 3x3 cells
around it (``info["around_kinds"]``), its position, the message, and where the staircase
down is when it is on the map. With memory disabled (the agent's ``memory="off"``: reads
come back as errors) or ``memory=False`` it has nothing to plan over and falls back to a
random walk that steps towards the stairs once they are seen, so the benefit of memory
is measurable without an API key. Decisions are deterministic given ``seed``.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from automem_sdk.codec import encode_op
from automem_sdk.env import RoutineRequest
from automem_sdk.llm.base import Completion
from automem_sdk.ops import ActionOp, DoneOp, ReadOp, UpsertOp, WriteOp

__all__ = [
    "DIRECTIONS",
    "MapKnowledge",
    "NLEExplorer",
    "direction_name",
    "open_directions",
    "parse_map",
    "stairs_in_view",
]

#: Compass moves: name -> (dx, dy) with y growing south.
DIRECTIONS: dict[str, tuple[int, int]] = {
    "north": (0, -1),
    "east": (1, 0),
    "south": (0, 1),
    "west": (-1, 0),
    "northeast": (1, -1),
    "southeast": (1, 1),
    "southwest": (-1, 1),
    "northwest": (-1, -1),
}
_ABBR = {
    "north": "n",
    "east": "e",
    "south": "s",
    "west": "w",
    "northeast": "ne",
    "southeast": "se",
    "southwest": "sw",
    "northwest": "nw",
}
_FROM_ABBR = {v: k for k, v in _ABBR.items()}
# Index of each neighbour in the 3x3 ``around`` strings (row by row, player at 4).
_AROUND = {
    "northwest": 0,
    "north": 1,
    "northeast": 2,
    "west": 3,
    "east": 5,
    "southwest": 6,
    "south": 7,
    "southeast": 8,
}
_PASSABLE = set("fdD><mob")
_DOORS = set("dD")


def open_directions(kinds: str, moves: list[str] | None = None) -> list[str]:
    """The directions (of ``moves``, default all eight) that look passable in a 3x3
    ``around_kinds`` string (row by row, player at index 4); no diagonal moves into or
    out of a doorway. A string that is not 9 characters long gives ``moves`` unchanged."""
    moves = list(DIRECTIONS) if moves is None else moves
    if len(kinds) != 9:
        return moves
    out = []
    for d in moves:
        k = kinds[_AROUND[d]]
        if k not in _PASSABLE:
            continue
        if d not in ("north", "east", "south", "west") and k in _DOORS:
            continue  # no diagonal moves into doorways
        out.append(d)
    return out


def direction_name(abbr: str) -> str:
    """``n`` -> ``north`` ... ``nw`` -> ``northwest``; anything else unchanged."""
    return _FROM_ABBR.get(abbr, abbr)


_PROMPT = re.compile(r"\[[yn][a-z]*\]|\? \[|In what direction\?|What do you want to")
_EAT_PROMPT = re.compile(r"What do you want to eat\? \[([A-Za-z])")
_HUNGRY = re.compile(r"^Dlvl:.* (Hungry|Weak|Fainting|Fainted)\b", re.MULTILINE)
_MAP_HEADER = re.compile(r"^map \(columns x=(\d+)\.\.(\d+), rows y=(\d+)\.\.(\d+);")
_CELL = re.compile(r"^(?:(\d+):)?(\d+),(\d+):\s*(.*)$")
_STAIRS = re.compile(r"^(?:(\d+):)?stairs:\s*(\d+),(\d+)\s*$")
Cell = tuple[int, int]


@dataclass
class MapKnowledge:
    """What ``map.md`` says about one dungeon level.

    Attributes:
        visited: visited cells -> their exits (direction names).
        blocked: cells -> directions where a move went nowhere.
        dead_ends: visited cells with a single way out.
        stairs: the staircase down, if recorded.
        lines: every ``key -> value`` line of the file (all levels), to avoid
            rewriting unchanged lines.
    """

    visited: dict[Cell, list[str]] = field(default_factory=dict)
    blocked: dict[Cell, set[str]] = field(default_factory=dict)
    dead_ends: set[Cell] = field(default_factory=set)
    stairs: Cell | None = None
    lines: dict[str, str] = field(default_factory=dict)


def parse_map(text: str, level: int | None = None) -> MapKnowledge:
    """Parse ``map.md`` (keyed lines) for one level (``None``: lines without a level).

    Lines look like ``12,5: visited exits=n,e dead_end blocked=w`` and ``stairs: 20,7``,
    optionally prefixed with a dungeon level (``2:12,5: ...``).
    """
    k = MapKnowledge()
    for raw in text.splitlines():
        line = raw.strip()
        m = _STAIRS.match(line)
        if m:
            lv = int(m.group(1)) if m.group(1) else None
            where = (int(m.group(2)), int(m.group(3)))
            k.lines[f"{lv}:stairs" if lv is not None else "stairs"] = f"{where[0]},{where[1]}"
            if lv == level:
                k.stairs = where
            continue
        m = _CELL.match(line)
        if not m:
            continue
        lv = int(m.group(1)) if m.group(1) else None
        cell = (int(m.group(2)), int(m.group(3)))
        value = m.group(4).strip()
        prefix = f"{lv}:" if lv is not None else ""
        k.lines[f"{prefix}{cell[0]},{cell[1]}"] = value
        if lv != level:
            continue
        words = value.split()
        if "visited" in words:
            exits: list[str] = []
            for w in words:
                if w.startswith("exits="):
                    exits = [_FROM_ABBR[a] for a in w[6:].split(",") if a in _FROM_ABBR]
            k.visited[cell] = exits
        for w in words:
            if w.startswith("blocked="):
                k.blocked[cell] = {_FROM_ABBR[a] for a in w[8:].split(",") if a in _FROM_ABBR}
        if "dead_end" in words:
            k.dead_ends.add(cell)
    return k


def stairs_in_view(observation: str) -> list[Cell]:
    """Positions of ``>`` on the observation's map (absolute map coordinates)."""
    lines = observation.split("\n")
    for i, line in enumerate(lines):
        m = _MAP_HEADER.match(line)
        if not m:
            continue
        x0, y0 = int(m.group(1)), int(m.group(3))
        out = []
        for r, row in enumerate(lines[i + 1 :]):
            if not row:
                break
            for c, ch in enumerate(row):
                if ch == ">":
                    out.append((x0 + c, y0 + r))
        return out
    return []


def _ops(*ops: Any) -> str:
    return "".join(encode_op(op) for op in ops)


class NLEExplorer:
    """Depth-first explorer for NetHack/MiniHack that keeps its map in memory.

    Args:
        memory: use the memory store (``False``: never read or write; the same policy
            with nothing remembered).
        seed: seed for tie-breaking and the random walk (decisions are deterministic
            given the seed and the inputs).
        map_file: the memory file holding the map (the built-in scaffolds' ``map.md``).
        max_map_chars: when the map grows past this, LOG rewrites it keeping only the
            current dungeon level (NetHack; the scaffolds cap map.md at 32-64 KiB).
    """

    def __init__(
        self,
        memory: bool = True,
        seed: int = 0,
        map_file: str = "map.md",
        max_map_chars: int = 24_000,
    ) -> None:
        self.memory = memory
        self.seed = seed
        self.map_file = map_file
        self.max_map_chars = max_map_chars
        self.name = f"nle-explorer{'' if memory else '-nomem'}"
        self._rng = random.Random(seed)

    # ------------------------------------------------------------------ protocol
    def decide(self, request: RoutineRequest) -> Completion:
        """One routine turn: LOG records the map, PLAN reads it and moves."""
        if request.routine == "log":
            text = self._log(request)
        elif request.routine == "plan":
            text = self._plan(request)
        else:
            text = _ops(ActionOp(name=self.choose(request, None)))
        return Completion(text=text, model=self.name)

    # ------------------------------------------------------------------ routines
    def _log(self, request: RoutineRequest) -> str:
        if not self.memory or not _has_position(request.info):
            return _ops(DoneOp())
        if request.turn == 0:
            return _ops(ReadOp(path=self.map_file))
        read = _read_text(request.last_results)
        if read is None:  # memory unavailable
            return _ops(DoneOp())
        info = request.info
        level = _level(info)
        know = parse_map(read, level)
        updates = self._updates(request, know, level)
        if level is not None and len(read) > self.max_map_chars:
            # Forget the other levels: rewrite the map with this level's lines only.
            lines = {k: v for k, v in know.lines.items() if k.startswith(f"{level}:")}
            lines.update(updates)
            content = "".join(f"{k}: {v}\n" for k, v in lines.items())
            return _ops(WriteOp(path=self.map_file, content=content), DoneOp())
        return _ops(*(UpsertOp(path=self.map_file, key=k, value=v) for k, v in updates), DoneOp())

    def _plan(self, request: RoutineRequest) -> str:
        if self.memory and request.turn == 0 and _has_position(request.info):
            return _ops(ReadOp(path=self.map_file))
        know = None
        if self.memory:
            read = _read_text(request.last_results)
            if read is not None:
                know = parse_map(read, _level(request.info))
        return _ops(ActionOp(name=self.choose(request, know)))

    # ------------------------------------------------------------------ memory lines
    def _updates(
        self, request: RoutineRequest, know: MapKnowledge, level: int | None
    ) -> list[tuple[str, str]]:
        """The (key, value) lines of map.md to write now (only those that change)."""
        info = request.info
        pos: Cell = (int(info["x"]), int(info["y"]))
        prefix = f"{level}:" if level is not None else ""
        blocked = set(know.blocked.get(pos, set()))
        last = info.get("action")
        if (
            last in DIRECTIONS
            and info.get("changed") is False
            and (pos in know.visited or pos in know.blocked)
        ):
            blocked.add(str(last))
        exits = [d for d in self._open_dirs(request) if d not in blocked]
        words = ["visited", "exits=" + ",".join(_ABBR[d] for d in exits)]
        if len(exits) <= 1:
            words.append("dead_end")
        if blocked:
            words.append("blocked=" + ",".join(_ABBR[d] for d in DIRECTIONS if d in blocked))
        out = []
        key = f"{prefix}{pos[0]},{pos[1]}"
        value = " ".join(words)
        if know.lines.get(key) != value:
            out.append((key, value))
        seen = stairs_in_view(request.observation)
        if seen:
            sx, sy = min(seen, key=lambda c: abs(c[0] - pos[0]) + abs(c[1] - pos[1]))
            skey = f"{prefix}stairs"
            if know.lines.get(skey) != f"{sx},{sy}":
                out.append((skey, f"{sx},{sy}"))
        return out

    # ------------------------------------------------------------------ policy
    def _moves(self, request: RoutineRequest) -> list[str]:
        return [d for d in DIRECTIONS if d in request.actions]

    def _open_dirs(self, request: RoutineRequest) -> list[str]:
        """Directions that look passable from here (local perception only)."""
        return open_directions(str(request.info.get("around_kinds") or ""), self._moves(request))

    def choose(self, request: RoutineRequest, know: MapKnowledge | None) -> str:
        """The next action, from the observation and (if any) the remembered map."""
        info = request.info
        actions = request.actions
        moves = self._moves(request)
        message = str(info.get("message") or "")
        eat = _EAT_PROMPT.search(message)
        if eat and eat.group(1) in actions:
            return eat.group(1)
        if "esc" in actions and _PROMPT.search(message):
            return "esc"
        if "eat" in actions and _HUNGRY.search(request.observation) and _has_food(request):
            return "eat"
        if not _has_position(info) or not moves:
            return self._rng.choice(actions) if actions else "wait"
        pos: Cell = (int(info["x"]), int(info["y"]))
        stairs = know.stairs if know is not None else None
        seen = stairs_in_view(request.observation)
        if seen:
            stairs = min(seen, key=lambda c: abs(c[0] - pos[0]) + abs(c[1] - pos[1]))
        if "down" in actions and (
            "staircase down here" in message or (stairs is not None and stairs == pos)
        ):
            return "down"
        open_dirs = self._open_dirs(request)
        if know is not None:
            blocked = know.blocked.get(pos, set())
            open_dirs = [d for d in open_dirs if d not in blocked]
            step = self._plan_path(pos, open_dirs, know, stairs, info.get("action"))
            if step is not None:
                return step
            if stairs is None and "search" in actions and self._rng.random() < 0.5:
                return "search"  # level explored, no way down in sight: hidden passages?
        return self._wander(pos, open_dirs or moves, stairs)

    def _wander(self, pos: Cell, dirs: list[str], stairs: Cell | None) -> str:
        """No plan: step towards the stairs if seen, else a random open direction."""
        if stairs is not None:

            def dist(d: str) -> int:
                dx, dy = DIRECTIONS[d]
                return max(abs(pos[0] + dx - stairs[0]), abs(pos[1] + dy - stairs[1]))

            best = min(dist(d) for d in dirs)
            dirs = [d for d in dirs if dist(d) == best]
        return self._rng.choice(dirs)

    def _plan_path(
        self,
        pos: Cell,
        open_here: list[str],
        know: MapKnowledge,
        stairs: Cell | None,
        last: Any,
    ) -> str | None:
        """First step of the shortest remembered route to the stairs or a frontier."""
        first: dict[Cell, str] = {}
        dist: dict[Cell, int] = {pos: 0}
        queue: deque[Cell] = deque([pos])
        frontier: list[Cell] = []
        while queue:
            cell = queue.popleft()
            exits = open_here if cell == pos else know.visited.get(cell)
            if exits is None:
                continue
            blocked = know.blocked.get(cell, set())
            for d in exits:
                if d in blocked:
                    continue
                dx, dy = DIRECTIONS[d]
                nxt = (cell[0] + dx, cell[1] + dy)
                if nxt in dist:
                    continue
                dist[nxt] = dist[cell] + 1
                first[nxt] = first.get(cell, d)
                if nxt == stairs:
                    return first[nxt]
                if nxt in know.visited:
                    queue.append(nxt)
                elif nxt not in know.dead_ends:
                    frontier.append(nxt)
        if not frontier:
            return None

        def cost(c: Cell) -> int:
            if stairs is None:  # nearest frontier first: depth-first exploration
                return dist[c]
            return dist[c] + max(abs(c[0] - stairs[0]), abs(c[1] - stairs[1]))

        best = min(cost(c) for c in frontier)
        near = [c for c in frontier if cost(c) == best]
        keep = [c for c in near if first[c] == last]  # keep going the same way
        return first[self._rng.choice(sorted(keep or near))]


def _has_food(request: RoutineRequest) -> bool:
    """Whether the inventory part of the observation lists something to eat."""
    from automem_sdk.benchmarks.envs.nle_text import nle_text_data

    inventory = request.observation.rsplit("\ninventory:\n", 1)[-1]
    words = nle_text_data()["explorer"]["food_words"]
    return any(w in inventory for w in words)


def _has_position(info: dict[str, Any]) -> bool:
    return "x" in info and "y" in info


def _level(info: dict[str, Any]) -> int | None:
    """Map lines are keyed by dungeon level in NetHack, not in single-level MiniHack."""
    if info.get("game") == "nethack":
        return int(info.get("dlvl", 1))
    return None


def _read_text(results: list[Any]) -> str | None:
    """The text of the first successful read in the previous turn's results."""
    for r in results:
        if getattr(r, "op", None) == "read":
            if not getattr(r, "ok", False):
                return None
            text = str(getattr(r, "text", ""))
            return "" if text.startswith("(") and text.endswith("is empty)") else text
    return None
