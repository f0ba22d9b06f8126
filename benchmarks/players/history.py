"""No-memory twins of the explorers that keep a BALROG-style history window instead.

An LLM agent without memory still has its recent history in context: BALROG's agents
see the last 16 observations and the actions between them. A fair baseline for a
memory agent is therefore the same policy with that window, not a stateless one.
:class:`HistoryExplorer` is that twin for the scripted explorers: it uses no memory
store; each step it rebuilds what it knows from the last ``window`` steps it saw (plus
the current one) and decides with the same policy the memory explorer uses:

- NetHack/MiniHack: the map lines the explorer's LOG would have written, replayed over
  the window only (cells visited longer ago are forgotten).
- Crafter: the last place each resource kind was seen within the window.

:class:`BlankMemoryModel` is the opposite control for two-model evaluation: a memory
model that writes and reads nothing.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from automem_sdk.codec import encode_op
from automem_sdk.env import RoutineRequest
from automem_sdk.llm.base import Completion
from automem_sdk.ops import ActionOp, DoneOp

__all__ = ["DEFAULT_HISTORY", "BlankMemoryModel", "HistoryExplorer"]

#: BALROG's ``max_text_history``: observations kept in the prompt.
DEFAULT_HISTORY = 16


@dataclass
class _Seen:
    observation: str
    info: dict[str, Any]
    actions: list[str]


class HistoryExplorer:
    """The keyless explorer of ``env_name`` deciding from the last ``window`` steps only.

    Use it with the agent's memory off (``MemoryAgent(..., memory="off")``).

    Args:
        env_name: ``crafter``, ``nethack`` or ``minihack/<Task>``.
        window: past steps kept (BALROG: 16); 0 is the stateless explorer.
        seed: tie-breaking seed (re-seeded at step 0 of every episode).

    Raises:
        ValueError: a negative window.
    """

    def __init__(self, env_name: str, window: int = DEFAULT_HISTORY, seed: int = 0) -> None:
        if window < 0:
            raise ValueError(f"history window must be >= 0, not {window}")
        self.env_name = env_name
        self.window = window
        self.seed = seed
        self.crafter = env_name == "crafter"
        self.name = f"explorer-hist{window}"
        self._past: deque[_Seen] = deque(maxlen=window if window else 1)
        self._policy: Any
        if self.crafter:
            from .crafter_memory import CrafterExplorer

            self._policy = CrafterExplorer(memory=False, seed=seed)
        else:
            from .nle_explorer import NLEExplorer

            self._policy = NLEExplorer(memory=False, seed=seed)

    def decide(self, request: RoutineRequest) -> Completion:
        """``<|DONE|>`` in LOG; in PLAN/ACT one action from the window and the view."""
        if request.routine == "log":
            return Completion(text=encode_op(DoneOp()), model=self.name)
        if request.step == 0 and request.turn == 0:
            self._past.clear()
            self._policy._rng = random.Random(self.seed)
        action = self._crafter_action(request) if self.crafter else self._nle_action(request)
        if request.turn == 0 and self.window:
            self._past.append(_Seen(request.observation, dict(request.info), request.actions))
        return Completion(text=encode_op(ActionOp(name=action)), model=self.name)

    # ------------------------------------------------------------------ NLE
    def _nle_action(self, request: RoutineRequest) -> str:
        from .nle_explorer import _has_position, _level, parse_map

        know = None
        if self.window and _has_position(request.info):
            level = _level(request.info)
            lines: dict[str, str] = {}
            for seen in [*self._past, _Seen(request.observation, request.info, request.actions)]:
                if not _has_position(seen.info):
                    continue
                past = RoutineRequest(
                    routine="log",
                    step=0,
                    turn=1,
                    messages=[],
                    observation=seen.observation,
                    actions=seen.actions,
                    info=seen.info,
                )
                text = "".join(f"{k}: {v}\n" for k, v in lines.items())
                lv = _level(seen.info)
                lines.update(self._policy._updates(past, parse_map(text, lv), lv))
            know = parse_map("".join(f"{k}: {v}\n" for k, v in lines.items()), level)
        action: str = self._policy.choose(request, know)
        return action

    # ------------------------------------------------------------------ Crafter
    def _crafter_action(self, request: RoutineRequest) -> str:
        from .crafter_memory import REMEMBERED_KINDS, _in_view

        known: dict[str, tuple[int, int]] = {}
        for seen in self._past:
            info = seen.info
            if "x" not in info:
                continue
            pos = (int(info["x"]), int(info["y"]))
            nearest = info.get("nearest") or {}
            for k in REMEMBERED_KINDS:
                if k in nearest:
                    known[k] = (int(nearest[k][0]), int(nearest[k][1]))
                elif k in known and _in_view(pos, known[k]):
                    del known[k]
        action: str = self._policy.choose(request.info, known, request.actions)
        return action


class BlankMemoryModel:
    """A memory model that writes and reads nothing (a control for two-model evaluation).

    LOG ends at once with ``<|DONE|>``; the memory part of PLAN ends at once too, so the
    task policy sees only the scaffold's pinned files as they were created.
    """

    def __init__(self) -> None:
        self.name = "blank-memory"

    def decide(self, request: RoutineRequest) -> Completion:
        """``<|DONE|>`` in LOG, an empty hand-over to the task policy in PLAN."""
        if request.routine == "log":
            return Completion(text=encode_op(DoneOp()), model=self.name)
        fallback = request.actions[0] if request.actions else "wait"
        return Completion(text=encode_op(ActionOp(name=fallback)), model=self.name)
