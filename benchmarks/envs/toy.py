"""Toy environments: small, seeded, no game installed, seconds per episode.

:class:`ToyMazeEnv` is a perfect maze (one path between any two cells) generated from
the seed; the goal is the far corner (the structural trainer's offline test bed).
:class:`KeyDoorEnv` is a key-and-door corridor: the key must be fetched from where it
was seen, so memory decides the outcome (the behavioral trainer's test bed). Their
keyless players are in :mod:`automem_sdk.benchmarks.players.toy`.
"""

from __future__ import annotations

import random
from typing import Any

from automem_sdk.env import StepResult

__all__ = ["DIRECTIONS", "KeyDoorEnv", "ToyMazeEnv"]

DIRECTIONS: dict[str, tuple[int, int]] = {
    "north": (0, -1),
    "east": (1, 0),
    "south": (0, 1),
    "west": (-1, 0),
}
_OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


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


class KeyDoorEnv:
    """A 1-D corridor: fetch the key, then open the door at the east end.

    Progression is 0.5 once the key is picked up and 1.0 when the door opens (reward 1).

    Args:
        length: number of cells (the door is in the last one).
        max_steps: the episode is truncated after this many steps.
    """

    name = "toy/keydoor"
    actions = ["east", "west", "pickup", "open", "wait"]
    instruction = "Find the key, then open the locked door at the east end of the corridor."

    def __init__(self, length: int = 8, max_steps: int = 20) -> None:
        self.length = length
        self.max_steps = max_steps
        self.pos = 0
        self.key = 1
        self.has_key = False
        self.opened = False
        self.t = 0

    @property
    def door(self) -> int:
        """The door's cell."""
        return self.length - 1

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """New corridor; the key's cell depends on the seed."""
        rng = random.Random(seed)
        self.key = rng.randint(1, self.length - 3)
        self.pos = 0
        self.has_key = False
        self.opened = False
        self.t = 0
        return self._obs(), self._info(0.0, True, False)

    def _obs(self) -> str:
        parts = [f"You are in a corridor at cell {self.pos} of {self.door}."]
        if self.pos == self.key and not self.has_key:
            parts.append("A key lies here.")
        if self.pos == self.door and not self.opened:
            parts.append("A locked door is here." if not self.has_key else "The door is here.")
        if self.has_key:
            parts.append("You carry a key.")
        return " ".join(parts)

    def _progression(self) -> float:
        return 1.0 if self.opened else 0.5 if self.has_key else 0.0

    def _info(self, prog: float, changed: bool, invalid: bool) -> dict[str, Any]:
        return {
            "progression": prog,
            "changed": changed,
            "invalid_action": invalid,
            "pos": self.pos,
            "key_here": self.pos == self.key and not self.has_key,
            "door_here": self.pos == self.door,
            "has_key": self.has_key,
        }

    def step(self, action: str) -> StepResult:
        """Apply one named action."""
        self.t += 1
        before = (self.pos, self.has_key, self.opened)
        invalid = action not in self.actions
        reward = 0.0
        if action == "east":
            self.pos = min(self.door, self.pos + 1)
        elif action == "west":
            self.pos = max(0, self.pos - 1)
        elif action == "pickup" and self.pos == self.key and not self.has_key:
            self.has_key = True
        elif action == "open" and self.pos == self.door and self.has_key:
            self.opened = True
            reward = 1.0
        changed = (self.pos, self.has_key, self.opened) != before
        return StepResult(
            observation=self._obs(),
            reward=reward,
            terminated=self.opened,
            truncated=not self.opened and self.t >= self.max_steps,
            info=self._info(self._progression(), changed, invalid),
        )

    def close(self) -> None:
        """Nothing to release."""
