"""Small deterministic envs and deciders for agent tests (no games, no keys)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automem_sdk.env import RoutineRequest, StepResult
from automem_sdk.llm.base import Completion


class CorridorEnv:
    """A 1-D corridor: walk ``east`` to the goal; a key lies at cell 1."""

    name = "test/corridor"
    actions = ["east", "west", "wait"]
    instruction = "Walk east to the goal."

    def __init__(self, length: int = 5) -> None:
        self.length = length
        self.pos = 0

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        self.pos = 0
        return self._obs(), {"progression": 0.0}

    def _obs(self) -> str:
        extra = " A key lies here." if self.pos == 1 else ""
        return f"You are at cell {self.pos} of {self.length}.{extra}"

    def step(self, action: str) -> StepResult:
        before = self.pos
        invalid = action not in self.actions
        if action == "east":
            self.pos = min(self.length, self.pos + 1)
        elif action == "west":
            self.pos = max(0, self.pos - 1)
        won = self.pos == self.length
        return StepResult(
            observation=self._obs(),
            reward=1.0 if won else 0.0,
            terminated=won,
            info={
                "progression": 1.0 if won else self.pos / (2 * self.length),
                "changed": self.pos != before,
                "invalid_action": invalid,
            },
        )

    def close(self) -> None:
        pass


class FnDecider:
    """A Decider from a function of the request."""

    def __init__(self, fn: Callable[[RoutineRequest], str], name: str = "fn") -> None:
        self.fn = fn
        self.name = name
        self.requests: list[RoutineRequest] = []

    def decide(self, request: RoutineRequest) -> Completion:
        self.requests.append(request)
        return Completion(text=self.fn(request), model=self.name)
