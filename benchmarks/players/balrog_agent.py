"""BALROG's NaiveAgent protocol on automem's envs, with and without automem memory.

:class:`BalrogNaiveDecider` is a :class:`~automem_sdk.env.Decider` that talks to an LLM
exactly as BALROG's ``NaiveAgent`` with its ``HistoryPromptBuilder`` does (prompts and
settings in the package data file ``data/balrog_protocol.json``):

- the game's instruction prompt is the first message, with role ``user``;
- then the last ``history`` (16) observations with the actions between them: older
  observations as ``Observation:\\n<text>`` (user), actions as the model's own earlier
  answers (assistant), the newest observation as ``Current Observation:\\n<short-term
  context>\\n<text>``, and BALROG's naive instruction appended to that last message
  after a blank line;
- sampling at temperature 1.0 (``max_tokens`` only when given);
- the answer is stripped and reduced to letters, whitespace and colons; if that is
  exactly one of BALROG's action names it is the action, else the game's default
  action is taken (MiniHack ``north``, NetHack ``esc``, Crafter ``Noop``) and the next
  observation starts with BALROG's note "Your previous output did not contain a valid
  action. Defaulted to action: ..."; the history keeps the model's (filtered) answer,
  as BALROG's evaluator does.

Crafter's actions are offered under BALROG's names (``Move West``, ``Make Wood
Pickaxe``) and mapped to the env's (``move_left``). The observation text is the env's:
with ``obs="balrog"`` (:func:`~automem_sdk.benchmarks.registry.make_env`) it is BALROG's
long-term context and ``info["short_term_context"]`` its short-term one (NetHack and
MiniHack: full screen, cursor, inventory); with the default observations the whole text
is the long-term context.

:func:`make_balrog_agent` builds the two bench agents: ``balrog`` (memory off; the
decider acts alone) and ``balrog+memory`` (two-model mode: the same LLM runs automem's
LOG and PLAN memory routines, and the BALROG-protocol decider acts with what memory
returned shown as part of the current observation's short-term context, never kept in
its history). One LLM, one protocol, memory on or off.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from automem_sdk.codec import encode_op
from automem_sdk.env import RoutineRequest
from automem_sdk.llm.base import Completion, LLMClient, Message, Usage
from automem_sdk.ops import ActionOp

if TYPE_CHECKING:
    from automem_sdk.agent import MemoryAgent
    from automem_sdk.scaffold import Scaffold
    from automem_sdk.store import MemoryStore

__all__ = [
    "BalrogHistory",
    "BalrogNaiveDecider",
    "balrog_action_space",
    "balrog_data",
    "balrog_game",
    "balrog_instruction",
    "make_balrog_agent",
    "parse_balrog_action",
]


@lru_cache(maxsize=1)
def balrog_data() -> dict[str, Any]:
    """The protocol data file ``data/balrog_protocol.json`` (parsed once per process)."""
    path = resources.files("automem_sdk.benchmarks.data").joinpath("balrog_protocol.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def balrog_game(env_name: str) -> Literal["minihack", "nethack", "crafter"]:
    """The BALROG env of an automem env name (``minihack/MazeWalk-9x9`` -> ``minihack``).

    Raises:
        ValueError: not a MiniHack, NetHack or Crafter env.
    """
    family = env_name.partition("/")[0]
    if family == "minihack":
        return "minihack"
    if family == "nethack":
        return "nethack"
    if family == "crafter":
        return "crafter"
    raise ValueError(f"no BALROG protocol for env {env_name!r} (crafter, nethack, minihack/*)")


def balrog_action_space(env_name: str, env_actions: list[str]) -> list[str]:
    """The action names BALROG's agent may answer with in this env.

    MiniHack and NetHack: the env's own names (they are the NLE language wrapper's,
    as BALROG's); Crafter: BALROG's 17 names.
    """
    game = balrog_game(env_name)
    if game == "crafter":
        return list(balrog_data()["crafter"]["actions"])
    return list(env_actions)


def balrog_instruction(env_name: str, env_actions: list[str]) -> str:
    """BALROG's instruction prompt for the env (its ``get_instruction_prompt``).

    MiniHack lists the env's actions that BALROG describes and the task's goal; NetHack
    lists BALROG's whole NetHack action table; Crafter its 17 actions and 22
    achievements.
    """
    game = balrog_game(env_name)
    spec = balrog_data()[game]
    if game == "minihack":
        described = {a: spec["actions"][a] for a in env_actions if a in spec["actions"]}
        lines = ",\n".join(f"{a}: {d}" for a, d in described.items())
        task = env_name.lower()
        goal = next((k for k in ("corridor", "quest", "boxoban") if k in task), "default")
        return str(spec["template"]).format(actions=lines, goal=spec["goals"][goal]).strip()
    lines = ",\n".join(f"{a}: {d}" for a, d in spec["actions"].items())
    return str(spec["template"]).format(actions=lines).strip()


def parse_balrog_action(text: str, valid: list[str], default: str) -> tuple[str, bool]:
    """BALROG's action parsing: strip, keep letters/whitespace/colons, exact match.

    Returns:
        (the action taken, whether the answer was valid). The history keeps the
        filtered answer either way.
    """
    filtered = filter_answer(text)
    if filtered in valid:
        return filtered, True
    return default, False


def filter_answer(text: str) -> str:
    """The answer as BALROG's agent keeps it: stripped (its OpenAI client does), then
    every character other than letters, whitespace and ``:`` removed."""
    return re.sub(balrog_data()["action_filter"], "", text.strip())


@dataclass
class _Event:
    kind: Literal["observation", "action"]
    text: str


class BalrogHistory:
    """BALROG's ``HistoryPromptBuilder`` for text: observations and actions in a window.

    Args:
        max_text_history: observations kept (BALROG: 16); the window holds twice as
            many events (observations and the actions between them).
    """

    def __init__(self, max_text_history: int = 16) -> None:
        if max_text_history < 1:
            raise ValueError(f"max_text_history must be >= 1, not {max_text_history}")
        self.max_text_history = max_text_history
        self.instruction = ""
        self._events: deque[_Event] = deque(maxlen=2 * max_text_history)
        self._short_term = ""

    def reset(self) -> None:
        """Forget every event (a new episode)."""
        self._events.clear()
        self._short_term = ""

    def add_observation(self, long_term: str, short_term: str = "") -> None:
        """Append an observation; ``short_term`` is shown only while it is the newest."""
        self._events.append(_Event("observation", long_term))
        self._short_term = short_term

    def add_action(self, action: str) -> None:
        """Append the model's answer to the previous observation."""
        self._events.append(_Event("action", action))

    def messages(self) -> list[Message]:
        """The prompt: instruction, then the window, the newest observation last."""
        data = balrog_data()
        out: list[Message] = []
        if self.instruction:
            out.append(Message(role="user", content=self.instruction))
        events = list(self._events)
        shown = {
            i
            for i in [j for j, e in enumerate(events) if e.kind == "observation"][
                -self.max_text_history :
            ]
        }
        for i, e in enumerate(events):
            if e.kind == "action":
                out.append(Message(role="assistant", content=e.text))
                continue
            parts = []
            if i == len(events) - 1:
                parts.append(data["current_observation_header"])
                if self._short_term:
                    parts.append(self._short_term)
            else:
                parts.append(data["observation_header"])
            if i in shown:
                parts.append(e.text)
            out.append(Message(role="user", content="\n".join(parts)))
        return out


class BalrogNaiveDecider:
    """A task policy speaking BALROG's NaiveAgent protocol (see the module docstring).

    Use it as the ``task_decider`` of a :class:`~automem_sdk.agent.MemoryAgent` in
    ``observe`` mode (memory off) or ``two-model`` mode (memory on); it answers the
    ``act`` routine (and a unified ``plan``) with one ``<|ACTION|>``.

    Args:
        client: the LLM (any :class:`~automem_sdk.llm.base.LLMClient`).
        env_name: the env it plays (chooses the instruction and action names).
        history: BALROG's ``max_text_history``.
        temperature: sampling temperature (BALROG: 1.0; None: the server's default).
        max_tokens: completion cap (None: not sent).

    Attributes:
        sent: the messages of the last request (what the model saw).
        invalid: answers that were not a valid action this episode.
    """

    def __init__(
        self,
        client: LLMClient,
        env_name: str,
        *,
        history: int = 16,
        temperature: float | None = 1.0,
        max_tokens: int | None = None,
    ) -> None:
        self.client = client
        self.env_name = env_name
        self.game = balrog_game(env_name)
        self.history = BalrogHistory(history)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.name = f"balrog-naive:{client.model}"
        self.sent: list[Message] = []
        self.invalid: list[str] = []
        self._pending: str | None = None  # the previous answer, not yet in the history
        self._feedback = ""
        self._valid: list[str] = []
        self._to_env: dict[str, str] = dict(balrog_data()["crafter"]["to_env"])

    def _start(self, request: RoutineRequest) -> None:
        self.history.reset()
        self.history.instruction = balrog_instruction(self.env_name, request.actions)
        self._valid = balrog_action_space(self.env_name, request.actions)
        self._pending = None
        self._feedback = ""
        self.invalid = []

    def _default(self, env_actions: list[str]) -> str:
        default = str(balrog_data()[self.game]["default_action"])
        if self.game != "crafter" and default not in env_actions and env_actions:
            return env_actions[0]
        return default

    def decide(self, request: RoutineRequest) -> Completion:
        """One BALROG step: update the history, ask the model, parse its answer."""
        if request.step == 0 and request.turn == 0:
            self._start(request)
        if request.turn > 0:
            # A retry of the same step (our agent re-asks after an unusable answer):
            # BALROG asks once per step, so answer with the default at once.
            action = self._default(request.actions)
            return Completion(
                text=encode_op(ActionOp(name=self._env_action(action))), model=self.name
            )
        if self._pending is not None:
            self.history.add_action(self._pending)
        long_term = self._feedback + request.observation
        short_term = str(request.info.get("short_term_context") or "")
        if request.memory_context:
            memory = f"memory:\n{request.memory_context}\n"
            short_term = f"{memory}\n{short_term}" if short_term else memory
        self.history.add_observation(long_term, short_term)
        messages = self.history.messages()
        if messages and messages[-1].role == "user":
            last = messages[-1]
            sep = balrog_data()["instruction_separator"]
            messages[-1] = Message(
                role="user", content=last.content + sep + balrog_data()["naive_instruction"]
            )
        self.sent = messages
        request.messages = messages  # the agent's trace records what the model saw
        opts: dict[str, Any] = {}
        if self.temperature is not None:
            opts["temperature"] = self.temperature
        if self.max_tokens is not None:
            opts["max_tokens"] = self.max_tokens
        try:
            completion = self.client.chat(messages, **opts)
        except Exception:
            self._pending = None  # no answer this step: nothing joins the history
            self._feedback = ""
            raise
        answer = filter_answer(completion.text)
        action, ok = parse_balrog_action(
            completion.text, self._valid, self._default(request.actions)
        )
        self._pending = answer
        self._feedback = ""
        if not ok:
            self.invalid.append(answer)
            self._feedback = str(balrog_data()["invalid_action_feedback"]).format(action=action)
        return Completion(
            text=encode_op(ActionOp(name=self._env_action(action))),
            model=completion.model or self.name,
            usage=completion.usage,
            latency_s=completion.latency_s,
            finish_reason=completion.finish_reason,
        )

    def _env_action(self, action: str) -> str:
        return self._to_env.get(action, action) if self.game == "crafter" else action


class _NoMemory:
    """The memory decider of the memory-off ``balrog`` agent (never asked)."""

    name = "none"

    def decide(self, request: RoutineRequest) -> Completion:
        return Completion(text="<|DONE|>", model=self.name, usage=Usage())


def make_balrog_agent(
    store: MemoryStore,
    scaffold: Scaffold | str,
    client: LLMClient,
    env_name: str,
    *,
    memory: bool = False,
    memory_client: Any = None,
    history: int = 16,
    temperature: float | None = 1.0,
    max_tokens: int | None = None,
    wrap_decider: Any = None,
) -> MemoryAgent:
    """The ``balrog`` (``memory=False``) or ``balrog+memory`` agent.

    Args:
        store: the episode's memory store.
        scaffold: automem's scaffold (used by the memory routines).
        client: the LLM of the BALROG-protocol decider.
        env_name: the env it plays.
        memory: wrap automem memory around it (two-model mode).
        memory_client: the memory model's decider (default: ``client`` with the same
            sampling options).
        history: BALROG's ``max_text_history``.
        temperature: sampling temperature of both.
        max_tokens: completion cap of both (None: not sent).
        wrap_decider: applied to each decider (e.g. a failure guard).
    """
    from automem_sdk.agent import LLMDecider, MemoryAgent

    def wrapped(d: Any) -> Any:
        return wrap_decider(d) if wrap_decider is not None else d

    task = wrapped(
        BalrogNaiveDecider(
            client, env_name, history=history, temperature=temperature, max_tokens=max_tokens
        )
    )
    if not memory:
        return MemoryAgent(
            store, scaffold, _NoMemory(), mode="observe", task_decider=task, memory="off"
        )
    if memory_client is None:
        opts: dict[str, Any] = {}
        if temperature is not None:
            opts["temperature"] = temperature
        if max_tokens is not None:
            opts["max_tokens"] = max_tokens
        memory_client = LLMDecider(client, **opts)
    return MemoryAgent(store, scaffold, wrapped(memory_client), mode="two-model", task_decider=task)
