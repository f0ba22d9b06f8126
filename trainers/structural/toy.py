"""A small maze and a keyless map explorer: the structural trainer's offline test bed.

:class:`ToyMazeEnv` is a perfect maze (one path between any two cells) generated from
the seed; the goal is the far corner. :class:`MapExplorer` is a :class:`Decider` that
emits op tokens like an LLM would and *relies on its memory*: in LOG it records the
current cell and its exits in the map file, in PLAN it reads the map back and walks
towards the nearest unexplored cell (dead-end filling on the known graph). It reads the
scaffold from its prompt (which ops are listed, which files exist) and parses memory
from the text the agent shows it, so scaffold limits (file caps, disabled ops, result
truncation) change what it can do. Without a usable map it walks at random.
"""

from __future__ import annotations

import random
import re
from typing import Any

from automem_sdk.env import RoutineRequest, StepResult
from automem_sdk.llm.base import Completion

__all__ = ["DIRECTIONS", "MapExplorer", "ToyMazeEnv"]

DIRECTIONS: dict[str, tuple[int, int]] = {
    "north": (0, -1),
    "east": (1, 0),
    "south": (0, 1),
    "west": (-1, 0),
}
_CELL = re.compile(r"^\s*(\d+),(\d+)\s*:\s*(.*)$")
_POS = re.compile(r"You are at (\d+),(\d+)\.")
_EXITS = re.compile(r"Open: ([a-z, ]+)\.")


class ToyMazeEnv:
    """A ``size`` x ``size`` perfect maze; reach the far corner within the step cap.

    Args:
        size: cells per side.
        max_steps: the episode's step limit (``truncated`` after it).
    """

    instruction = (
        "Find the exit of the maze. You see only the open directions around you; "
        "remember where you have been."
    )
    actions = [*DIRECTIONS, "wait"]

    def __init__(self, size: int = 6, max_steps: int = 80) -> None:
        self.size = size
        self.max_steps = max_steps
        self.name = f"toy/maze-{size}"
        self.open: dict[tuple[int, int], set[str]] = {}
        self.pos = (0, 0)
        self.goal = (size - 1, size - 1)
        self.steps = 0

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """Generate the maze for ``seed`` and stand at the top-left corner."""
        rng = random.Random(seed)
        n = self.size
        self.open = {(x, y): set() for x in range(n) for y in range(n)}
        stack = [(0, 0)]
        seen = {(0, 0)}
        while stack:
            x, y = stack[-1]
            options = [
                (d, (x + dx, y + dy))
                for d, (dx, dy) in DIRECTIONS.items()
                if (x + dx, y + dy) in self.open and (x + dx, y + dy) not in seen
            ]
            if not options:
                stack.pop()
                continue
            d, nxt = rng.choice(options)
            self.open[(x, y)].add(d)
            self.open[nxt].add(_OPPOSITE[d])
            seen.add(nxt)
            stack.append(nxt)
        self.pos = (0, 0)
        self.steps = 0
        return self._obs(""), self._info(changed=True, invalid=False)

    def _obs(self, msg: str) -> str:
        x, y = self.pos
        exits = ", ".join(d for d in DIRECTIONS if d in self.open[self.pos])
        text = f"You are at {x},{y}. Open: {exits}."
        if self.pos == self.goal:
            text += " You found the exit!"
        return (msg + " " + text).strip()

    def _info(self, *, changed: bool, invalid: bool) -> dict[str, Any]:
        won = self.pos == self.goal
        return {
            "progression": 1.0 if won else 0.0,
            "changed": changed,
            "invalid_action": invalid,
            "pos": list(self.pos),
        }

    def step(self, action: str) -> StepResult:
        """Move one cell if the way is open; bumping into a wall changes nothing."""
        self.steps += 1
        invalid = action not in self.actions
        before = self.pos
        msg = ""
        if action in DIRECTIONS:
            if action in self.open[self.pos]:
                dx, dy = DIRECTIONS[action]
                self.pos = (self.pos[0] + dx, self.pos[1] + dy)
            else:
                msg = "A wall blocks the way."
        won = self.pos == self.goal
        return StepResult(
            observation=self._obs(msg),
            reward=1.0 if won else 0.0,
            terminated=won,
            truncated=not won and self.steps >= self.max_steps,
            info=self._info(changed=self.pos != before, invalid=invalid),
        )

    def close(self) -> None:
        """Nothing to release."""


_OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


def _parse_obs(text: str) -> tuple[tuple[int, int] | None, list[str]]:
    pos = _POS.search(text)
    exits = _EXITS.search(text)
    where = (int(pos.group(1)), int(pos.group(2))) if pos else None
    dirs = [d.strip() for d in exits.group(1).split(",") if d.strip()] if exits else []
    return where, [d for d in dirs if d in DIRECTIONS]


class MapExplorer:
    """A keyless explorer for :class:`ToyMazeEnv` that depends on its map file.

    LOG: ``UPSERT`` (or ``APPEND`` when the scaffold does not list UPSERT) the current
    cell's exits into the map file, and a line into the notes file at dead ends.
    PLAN turn 0: ``READ`` the map; turn 1: parse what the agent showed and move towards
    the nearest cell not yet explored (or at random when the map is unusable).

    Args:
        map_file: the file to keep the map in when the scaffold names no keyed file.
        notes_file: where dead ends are noted (skipped if the scaffold has no such file).
    """

    def __init__(self, map_file: str = "map.md", notes_file: str = "notes.md") -> None:
        self.name = "map-explorer"
        self.default_map = map_file
        self.notes_file = notes_file

    # ------------------------------------------------------------------ scaffold
    @staticmethod
    def _system(request: RoutineRequest) -> str:
        return next((m.content for m in request.messages if m.role == "system"), "")

    def _files(self, request: RoutineRequest) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in self._system(request).splitlines():
            m = re.match(r"^- ([^:\s]+): .*\[([^;\]]+)", line)
            if m:
                out[m.group(1)] = m.group(2)
        return out

    def _map_file(self, files: dict[str, str]) -> str:
        keyed = [name for name, fmt in files.items() if "key" in fmt]
        if self.default_map in files or not keyed:
            return self.default_map
        return keyed[0]

    # -------------------------------------------------------------------- decide
    def decide(self, request: RoutineRequest) -> Completion:
        """Emit op tokens for one routine turn."""
        if request.routine == "log":
            text = self._log(request)
        elif request.turn == 0:
            text = f"<|READ|>{self._map_file(self._files(request))}<|END|>"
        else:
            text = f"<|ACTION|>{self._choose(request)}<|END|>"
        return Completion(text=text, model=self.name)

    def _log(self, request: RoutineRequest) -> str:
        if request.turn > 0:
            return "<|DONE|>"
        pos, exits = _parse_obs(request.observation)
        if pos is None:
            return "<|DONE|>"
        system = self._system(request)
        files = self._files(request)
        map_file = self._map_file(files)
        key, value = f"{pos[0]},{pos[1]}", "exits=" + "/".join(exits)
        if "<|UPSERT|>" in system:
            out = f"<|UPSERT|>{map_file}|{key}|{value}<|END|>"
        else:
            out = f"<|APPEND|>{map_file}|{key}: {value}<|END|>"
        if len(exits) == 1 and self.notes_file in files and "<|APPEND|>" in system:
            out += f"<|APPEND|>{self.notes_file}|dead end at {key}<|END|>"
        return out + "<|DONE|>"

    def _choose(self, request: RoutineRequest) -> str:
        pos, exits = _parse_obs(request.observation)
        if pos is None or not exits:
            return "wait"
        shown = request.messages[-1].content if request.messages else ""
        known: dict[tuple[int, int], list[str]] = {}
        for line in shown.splitlines():
            m = _CELL.match(line)
            if m and "exits=" in m.group(3):
                dirs = m.group(3).split("exits=", 1)[1].split()[0].split("/")
                known[(int(m.group(1)), int(m.group(2)))] = [d for d in dirs if d in DIRECTIONS]
        known[pos] = exits
        options = _next_steps(pos, known) or exits
        rng = random.Random(f"{pos}/{request.step}")
        return rng.choice(sorted(options))


def _next_steps(start: tuple[int, int], known: dict[tuple[int, int], list[str]]) -> list[str]:
    """First moves of the shortest known paths from ``start`` to cells not yet in ``known``."""
    frontier = [(start, "")]
    seen = {start}
    while frontier:
        found: set[str] = set()
        nxt: list[tuple[tuple[int, int], str]] = []
        for cell, first in frontier:
            for d in known.get(cell, []):
                dx, dy = DIRECTIONS[d]
                to = (cell[0] + dx, cell[1] + dy)
                if to in seen:
                    continue
                move = first or d
                if to not in known:
                    found.add(move)
                    continue
                seen.add(to)
                nxt.append((to, move))
        if found:
            return sorted(found)
        frontier = nxt
    return []
