"""A tiny key-and-door corridor and a keyless explorer that uses memory.

Enough to produce real traces with :func:`automem_sdk.agent.run_episode` in seconds, with
no game installed and no model: the explorer walks east, notes the key when it passes
it, finds the door locked, searches its notes for the key, walks back, picks it up and
opens the door. When it did not note the key it has to wander, so memory matters and
episodes differ in outcome. Some of its notes are noise (never read) and some repeat
what is already stored, so selectors have something to tell apart.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from automem_sdk.env import RoutineRequest, StepResult
from automem_sdk.llm.base import Completion

__all__ = ["KeyDoorEnv", "KeyDoorExplorer", "KeyDoorPlanner", "KeyNoteWriter", "make_toy_traces"]

_KEY_AT = re.compile(r"key at cell (\d+)")


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


def make_toy_traces(
    out_dir: str,
    seeds: Sequence[int],
    *,
    length: int = 8,
    max_steps: int = 20,
    scaffold: str = "generic",
    storage_options: dict[str, Any] | None = None,
) -> list[str]:
    """Play :class:`KeyDoorEnv` with :class:`KeyDoorExplorer` and write one trace per seed.

    Episodes run through :func:`automem_sdk.agent.run_episode` in unified mode, each
    with its own memory store under ``out_dir/memory/``.

    Args:
        out_dir: directory URL; traces go to ``out_dir/traces/seedN.jsonl``.
        seeds: episode seeds.
        length: corridor length.
        max_steps: step cap per episode.
        scaffold: the memory scaffold.
        storage_options: fsspec options.

    Returns:
        The trace URLs, in seed order.
    """
    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.store import MemoryStore

    root = out_dir.rstrip("/")
    urls: list[str] = []
    for seed in seeds:
        store = MemoryStore(f"{root}/memory/seed{seed}", storage_options)
        agent = MemoryAgent(store, scaffold, KeyDoorExplorer(seed))
        url = f"{root}/traces/seed{seed}.jsonl"
        run_episode(
            KeyDoorEnv(length, max_steps),
            agent,
            seed,
            trace=url,
            storage_options=storage_options,
        )
        urls.append(url)
    return urls
