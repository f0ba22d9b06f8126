"""Keyless players of the toy environments (:mod:`automem_sdk.benchmarks.envs.toy`).

:class:`MapExplorer` emits op tokens like an LLM would and *relies on its memory*: in
LOG it records the current cell and its exits in the map file, in PLAN it reads the map
back and walks towards the nearest unexplored cell (dead-end filling on the known
graph). It reads the scaffold from its prompt (which ops are listed, which files exist)
and parses memory from the text the agent shows it, so scaffold limits (file caps,
disabled ops, result truncation) change what it can do. Without a usable map it walks
at random.

:class:`KeyDoorExplorer` walks the key-and-door corridor, notes the key when it passes
it, searches its notes when the door is locked, walks back and opens the door; when it
did not note the key it has to wander. Some of its notes are noise (never read) and some
repeat what is stored, so selectors have something to tell apart.
:class:`KeyNoteWriter` and :class:`KeyDoorPlanner` are the two halves of the same
behaviour for two-model runs (memory model, task policy).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from automem_sdk.benchmarks.envs.toy import DIRECTIONS

from automem_sdk.env import RoutineRequest
from automem_sdk.llm.base import Completion

__all__ = ["KeyDoorExplorer", "KeyDoorPlanner", "KeyNoteWriter", "MapExplorer"]

_CELL = re.compile(r"^\s*(\d+),(\d+)\s*:\s*(.*)$")
_POS = re.compile(r"You are at (\d+),(\d+)\.")
_EXITS = re.compile(r"Open: ([a-z, ]+)\.")
_KEY_AT = re.compile(r"key at cell (\d+)")
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


class KeyDoorExplorer:
    """A keyless memory-using policy for :class:`KeyDoorEnv`.

    In unified mode it runs LOG and PLAN itself; as the task decider of a two-model
    agent (``act`` turns) it only picks actions, reading the key's cell from the memory
    context the specialist retrieved.

    Args:
        seed: seeds its random choices (reproducible traces).
        p_note: chance of noting the key when passing it.
        p_noise: chance of an extra note that is never read.
        p_redundant: chance of noting the key again on a later visit.
        p_wait: chance of an unproductive ``wait``.
        p_peek: chance of looking at the last notes before acting.
    """

    def __init__(
        self,
        seed: int | None = 0,
        *,
        p_note: float = 0.7,
        p_noise: float = 0.3,
        p_redundant: float = 0.3,
        p_wait: float = 0.05,
        p_peek: float = 0.25,
    ) -> None:
        self.name = "keydoor-explorer"
        self.rng = random.Random(seed)
        self.p_note = p_note
        self.p_noise = p_noise
        self.p_redundant = p_redundant
        self.p_wait = p_wait
        self.p_peek = p_peek
        self.noted: set[int] = set()
        self.door_seen = False
        self.target: int | None = None
        self.searched = False

    def decide(self, request: RoutineRequest) -> Completion:
        """One LOG or PLAN turn as op tokens."""
        text = self._log(request) if request.routine == "log" else self._plan(request)
        return Completion(text=text, model=self.name)

    def _log(self, req: RoutineRequest) -> str:
        if req.turn > 0:
            return "<|DONE|>"
        info = req.info
        pos = int(info.get("pos", 0))
        ops: list[str] = []
        if info.get("key_here"):
            first = pos not in self.noted
            if (first and self.rng.random() < self.p_note) or (
                not first and self.rng.random() < self.p_redundant
            ):
                ops.append(f"<|APPEND|>notes.md|key at cell {pos}<|END|>")
                self.noted.add(pos)
        elif self.rng.random() < self.p_noise:
            ops.append(f"<|APPEND|>notes.md|cell {pos} looked empty<|END|>")
        if info.get("door_here") and not self.door_seen:
            ops.append(f"<|UPSERT|>plan.md|goal|find the key, door at cell {pos}<|END|>")
        ops.append("<|DONE|>")
        return "".join(ops)

    def _plan(self, req: RoutineRequest) -> str:
        info = req.info
        pos = int(info.get("pos", 0))
        if info.get("door_here"):
            self.door_seen = True
        if info.get("has_key"):
            return "<|ACTION|>open<|END|>" if info.get("door_here") else "<|ACTION|>east<|END|>"
        if info.get("key_here") and self.door_seen:
            return "<|ACTION|>pickup<|END|>"
        if self.door_seen and self.target is None:
            if req.routine == "act":
                # Task-model role (two-model mode): memory arrives as context only.
                m = _KEY_AT.search(req.memory_context)
                if m:
                    self.target = int(m.group(1))
            elif not self.searched and req.turn == 0:
                self.searched = True
                return "<|SEARCH|>notes.md|key<|END|>"
            for r in req.last_results:
                m = _KEY_AT.search(str(getattr(r, "text", "")))
                if m:
                    self.target = int(m.group(1))
                    break
        if req.routine == "plan" and req.turn == 0 and self.rng.random() < self.p_peek:
            return "<|TAIL|>notes.md|3<|END|>"
        if self.rng.random() < self.p_wait:
            return "<|ACTION|>wait<|END|>"
        if not self.door_seen:
            return "<|ACTION|>east<|END|>"
        if self.target is not None:
            step = "west" if self.target < pos else "east"
            return f"<|ACTION|>{step}<|END|>"
        return f"<|ACTION|>{'west' if self.rng.random() < 0.6 else 'east'}<|END|>"


class KeyNoteWriter:
    """A scripted memory policy for :class:`KeyDoorEnv` whose single decisions matter.

    LOG notes the key's cell the first time the player stands on it (``key at cell N``,
    or the wrong cell ``N + misfile`` when ``misfile`` is set), the locked door when it
    is found without the key (``door locked at cell D``), and a note that matters to no
    one at the steps in ``noise_at`` (``cell P looked empty``). PLAN reads ``notes.md``.
    Whether a note exists is read from the store, so the policy has no state of its own
    and can continue any episode (counterfactual branches).

    Args:
        store: the episode's memory store.
        misfile: file the key note under a cell this far off (0: the right cell).
        noise_at: steps at which to write the useless note.
    """

    def __init__(self, store: Any, *, misfile: int = 0, noise_at: Sequence[int] = ()) -> None:
        self.store = store
        self.misfile = misfile
        self.noise_at = set(noise_at)
        self.name = "key-note-writer"

    def _notes(self) -> str:
        try:
            return str(self.store.read("notes.md"))
        except Exception:
            return ""

    def decide(self, request: RoutineRequest) -> Completion:
        """One LOG or PLAN turn."""
        if request.routine == "plan":
            return Completion(text="<|READ|>notes.md<|END|><|DONE|>", model=self.name)
        info = request.info
        pos = int(info.get("pos", 0))
        notes = self._notes()
        ops = []
        if info.get("key_here") and "key at cell" not in notes:
            ops.append(f"<|APPEND|>notes.md|key at cell {pos + self.misfile}<|END|>")
        if info.get("door_here") and not info.get("has_key") and "door locked" not in notes:
            ops.append(f"<|APPEND|>notes.md|door locked at cell {pos}<|END|>")
        if request.step in self.noise_at:
            ops.append(f"<|APPEND|>notes.md|cell {pos} looked empty<|END|>")
        return Completion(text="".join(ops) + "<|DONE|>", model=self.name)


class KeyDoorPlanner:
    """A stateless task policy for :class:`KeyDoorEnv` that acts on the memory context.

    It walks east; once the context says the door is locked it goes to the key cell the
    context names and picks the key up, then opens the door. Knowing of a locked door
    but not where the key is, it waits: without the key note the episode is lost.
    """

    name = "keydoor-planner"

    def decide(self, request: RoutineRequest) -> Completion:
        """Commit one action."""
        info = request.info
        pos = int(info.get("pos", 0))
        context = request.memory_context
        keys = [int(m) for m in _KEY_AT.findall(context)]
        if info.get("has_key"):
            action = "open" if info.get("door_here") else "east"
        elif "door locked" not in context:
            action = "east"
        elif info.get("key_here"):
            action = "pickup"
        elif keys:
            action = "west" if keys[-1] < pos else "east" if keys[-1] > pos else "wait"
        else:
            action = "wait"
        return Completion(text=f"<|ACTION|>{action}<|END|>", model=self.name)
