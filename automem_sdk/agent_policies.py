"""One policy per agent mode: who plans and who commits each step's action.

- :class:`UnifiedPolicy`: the memory decider plans and its ``<|ACTION|>`` is the action
  (the fallback action when PLAN ends without one).
- :class:`TwoModelPolicy`: the memory decider runs the memory part of PLAN; the
  unmodified task decider commits the action, seeing what memory returned (and the
  pinned files) only as extra context.
- :class:`ObservePolicy`: no memory PLAN; a foreign policy acts with the pinned files as
  context (or outside the agent: :meth:`~automem_sdk.agent.MemoryAgent.observe`).

The LOG routine is the same in every mode and is run by the agent itself.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from automem_sdk.agent_routine import RoutineRunner
from automem_sdk.deciders import Decider

__all__ = [
    "AgentMode",
    "ModePolicy",
    "ObservePolicy",
    "TwoModelPolicy",
    "UnifiedPolicy",
    "make_policy",
]

AgentMode = Literal["unified", "two-model", "observe"]


class ModePolicy(Protocol):
    """How one mode turns an observation into the step's action."""

    mode: AgentMode

    def choose(
        self, runner: RoutineRunner, decider: Decider, observation: str, info: dict[str, Any]
    ) -> str:
        """Plan (with the memory ``decider``) and return the action to take."""
        ...


class UnifiedPolicy:
    """One decider manages memory and commits the action."""

    mode: AgentMode = "unified"

    def choose(
        self, runner: RoutineRunner, decider: Decider, observation: str, info: dict[str, Any]
    ) -> str:
        """Run PLAN; its action, or the fallback action."""
        out = runner.plan(decider, observation, info, commits_action=True)
        if out.action is None:
            return runner.fallback(runner.ctx.text("plan_without_action"))
        return out.action


class TwoModelPolicy:
    """The memory decider reads memory; the task decider acts.

    Args:
        task: the task policy (never modified).
    """

    mode: AgentMode = "two-model"

    def __init__(self, task: Decider) -> None:
        self.task = task

    def choose(
        self, runner: RoutineRunner, decider: Decider, observation: str, info: dict[str, Any]
    ) -> str:
        """Run the memory part of PLAN, then let the task decider act on what it read."""
        out = runner.plan(decider, observation, info, commits_action=False)
        context = runner.prompts.memory_context(out.results)
        pinned = runner.prompts.pinned()
        memory = "\n".join(x for x in (pinned, context) if x)
        return runner.act(self.task, observation, info, memory)


class ObservePolicy:
    """A foreign policy acts; memory only logs beside it.

    Args:
        task: the foreign policy, or ``None`` when it acts outside the agent (then only
            :meth:`~automem_sdk.agent.MemoryAgent.observe` may be called).
    """

    mode: AgentMode = "observe"

    def __init__(self, task: Decider | None) -> None:
        self.task = task

    def choose(
        self, runner: RoutineRunner, decider: Decider, observation: str, info: dict[str, Any]
    ) -> str:
        """Let the foreign policy act with the pinned files as context.

        Raises:
            ValueError: there is no task policy to ask.
        """
        if self.task is None:
            raise ValueError(
                "observe mode without a task_decider: the foreign policy acts, "
                "so call MemoryAgent.observe(observation, action) instead of step()"
            )
        return runner.act(self.task, observation, info, runner.prompts.pinned())


def make_policy(mode: str, task: Decider | None) -> ModePolicy:
    """The policy for ``mode``.

    Raises:
        ValueError: an unknown mode, or ``two-model`` without a task decider.
    """
    if mode == "unified":
        return UnifiedPolicy()
    if mode == "two-model":
        if task is None:
            raise ValueError("mode 'two-model' needs a task_decider (the policy that acts)")
        return TwoModelPolicy(task)
    if mode == "observe":
        return ObservePolicy(task)
    raise ValueError(f"mode must be unified, two-model or observe, not {mode!r}")
