"""MemoryAgent: wraps any policy's action space with memory operations.

Each env step runs two routines. **LOG** (after the observation): the memory model
records what matters, up to ``max_log_ops`` ops, ending with ``<|DONE|>``. **PLAN**: the
model reads or searches memory and must end with a task action; a fallback action is
used if it does not. Modes:

- ``unified``: one decider does memory and commits the action.
- ``two-model``: the memory decider runs LOG and the memory part of PLAN; the
  unmodified task decider commits the action, seeing memory only as extra context.
- ``observe``: a non-LLM or foreign policy acts; memory runs beside it (LOG only, plus
  pinned files as context for the policy).

Agent mistakes (unparseable output, bad ops, unknown actions, a model that times out)
become observations in the next turn and are logged in the trace; bugs raise.

The agent is a thin front over its parts, one concern each: the routine runner
(:mod:`automem_sdk.agent_routine`), a policy per mode (:mod:`automem_sdk.agent_policies`),
the prompt builder (:mod:`automem_sdk.agent_prompts`, every string from the scaffold or
package data) and the trace recorder (:mod:`automem_sdk.agent_trace`), sharing one
:class:`~automem_sdk.agent_context.AgentContext`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from automem_sdk._version import __version__
from automem_sdk.agent_context import AgentContext, clean_text
from automem_sdk.agent_policies import AgentMode, make_policy
from automem_sdk.agent_prompts import PromptBuilder, estimate_tokens
from automem_sdk.agent_routine import RoutineRunner
from automem_sdk.agent_trace import TraceRecorder
from automem_sdk.deciders import CallablePolicy, Decider, LLMDecider, as_decider
from automem_sdk.env import StepResult, TextEnv
from automem_sdk.episode_result import EpisodeResult
from automem_sdk.errors import AutomemError
from automem_sdk.llm.base import LLMClient, Usage
from automem_sdk.ops import OpResult
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.trace import TraceHeader, TraceWriter

if TYPE_CHECKING:
    from automem_sdk.store import MemoryStore

__all__ = [
    "AgentMode",
    "CallablePolicy",
    "EpisodeResult",
    "LLMDecider",
    "MemoryAgent",
    "as_decider",
    "estimate_tokens",
    "run_episode",
    "wrap",
]

PolicyLike = Decider | LLMClient | Callable[[str, str], str]


class MemoryAgent:
    """An agent whose action space is extended with memory ops (see module docstring).

    Args:
        store: where memory lives.
        scaffold: a :class:`Scaffold`, a built-in name or a YAML/JSON path.
        decider: the memory model (an LLM client, a Decider, or in ``unified`` mode the
            only model).
        mode: ``unified``, ``two-model`` or ``observe``.
        task_decider: the task policy for ``two-model`` / ``observe`` (an LLM client, a
            Decider or ``fn(observation, memory_context) -> action``). Never modified.
        memory: ``"off"`` disables memory (ops return an error result, LOG is skipped):
            the baseline for with/without comparisons.
        instruction: the task description for the system prompt.
        actions: the allowed task actions (None = any string).
        trace: a TraceWriter the agent logs turns to (set per episode by :meth:`reset`).
        batch_writes: commit each step's memory writes as one journal version
            (``MemoryStore.batch``). On S3 a step then costs one PUT per changed file
            plus two, instead of three per write; but the store's lock is held for the
            whole step (LLM calls included), so other writers on a local store wait, and
            a process killed mid-step loses that step's writes.

    Raises:
        ValueError: an unknown mode, no decider, or ``two-model`` without a task decider.
    """

    def __init__(
        self,
        store: MemoryStore,
        scaffold: Scaffold | str = "generic",
        decider: PolicyLike | None = None,
        *,
        mode: AgentMode = "unified",
        task_decider: PolicyLike | None = None,
        memory: Literal["on", "off"] = "on",
        instruction: str = "",
        actions: Sequence[str] | None = None,
        trace: TraceWriter | None = None,
        batch_writes: bool = False,
    ) -> None:
        if mode not in ("unified", "two-model", "observe"):
            raise ValueError(f"mode must be unified, two-model or observe, not {mode!r}")
        if decider is None:
            raise ValueError("MemoryAgent needs a decider (the memory model)")
        self.decider = as_decider(decider)
        self.task_decider = as_decider(task_decider) if task_decider is not None else None
        self.policy = make_policy(mode, self.task_decider)
        self.mode: AgentMode = mode
        self.batch_writes = batch_writes
        self.ctx = AgentContext(
            store=store,
            scaffold=load_scaffold(scaffold),
            memory_on=memory == "on",
            instruction=instruction,
            actions=list(actions) if actions is not None else None,
        )
        self.recorder = TraceRecorder(trace)
        self.prompts = PromptBuilder(self.ctx)
        self.runner = RoutineRunner(self.ctx, self.prompts, self.recorder)
        self._initialised = False

    # ------------------------------------------------------------- state views
    @property
    def store(self) -> MemoryStore:
        """Where memory lives."""
        return self.ctx.store

    @property
    def scaffold(self) -> Scaffold:
        """The memory scaffolding."""
        return self.ctx.scaffold

    @property
    def memory(self) -> Literal["on", "off"]:
        """``"on"``, or ``"off"`` for the no-memory baseline."""
        return "on" if self.ctx.memory_on else "off"

    @property
    def instruction(self) -> str:
        """The task description."""
        return self.ctx.instruction

    @instruction.setter
    def instruction(self, value: str) -> None:
        self.ctx.instruction = value

    @property
    def actions(self) -> list[str] | None:
        """The allowed task actions (``None``: any string)."""
        return self.ctx.actions

    @actions.setter
    def actions(self, value: Sequence[str] | None) -> None:
        self.ctx.actions = list(value) if value is not None else None

    @property
    def trace(self) -> TraceWriter | None:
        """The trace writer turns go to (``None``: not traced)."""
        return self.recorder.writer

    @trace.setter
    def trace(self, writer: TraceWriter | None) -> None:
        self.recorder.writer, self.recorder.owned = writer, False

    @property
    def step_index(self) -> int:
        """The current env step of the episode."""
        return self.ctx.step_index

    @step_index.setter
    def step_index(self, value: int) -> None:
        self.ctx.step_index = value

    @property
    def usage(self) -> Usage:
        """Tokens used this episode."""
        return self.ctx.usage

    @property
    def n_ops(self) -> int:
        """Memory ops run this episode."""
        return self.ctx.n_ops

    @property
    def models(self) -> dict[str, str]:
        """Names of the deciders, for trace headers."""
        out = {"memory": self.decider.name}
        if self.task_decider is not None:
            out["task"] = self.task_decider.name
        return out

    # ------------------------------------------------------------------ setup
    def reset(
        self,
        *,
        instruction: str | None = None,
        actions: Sequence[str] | None = None,
        trace: TraceWriter | None = None,
    ) -> None:
        """Start a new episode: new instruction/actions/trace; memory files are kept."""
        if instruction is not None:
            self.instruction = instruction
        if actions is not None:
            self.actions = actions
        self.trace = trace
        self.ctx.new_episode()
        self._init_files()

    def _init_files(self) -> None:
        self._initialised = True
        if not self.ctx.memory_on:
            return
        existing = set(self.store.list())
        for f in self.scaffold.files:
            if f.name not in existing:
                try:
                    self.store.write(f.name, f.initial)
                except AutomemError as exc:
                    self.ctx.feedback.append(
                        self.ctx.text("file_not_created", file=f.name, error=exc)
                    )

    # ------------------------------------------------------------------- step
    def step(self, observation: str, *, info: dict[str, Any] | None = None) -> str:
        """Run LOG and PLAN for one observation and return the action to take."""
        if self.batch_writes:
            with self.store.batch():
                return self._step(observation, info)
        return self._step(observation, info)

    def _step(self, observation: str, info: dict[str, Any] | None) -> str:
        if not self._initialised:
            self._init_files()
        observation = clean_text(observation)
        info = info or {}
        if info.get("invalid_action"):
            self.ctx.feedback.append(self.ctx.text("invalid_action", action=self.ctx.last_action))
        if self.ctx.memory_on and self.scaffold.limits.max_log_ops > 0:
            self.log(observation, info)
        action = self.plan(observation, info)
        self.ctx.last_action = action
        self.ctx.step_index += 1
        return action

    def observe(
        self, observation: str, action: str, *, info: dict[str, Any] | None = None
    ) -> list[OpResult]:
        """Record a step whose action a foreign policy already chose (LOG only).

        Returns:
            The LOG routine's op results (empty with memory off).
        """
        if not self._initialised:
            self._init_files()
        results: list[OpResult] = []
        if self.ctx.memory_on:
            results = self.log(clean_text(observation), info or {})
        self.ctx.last_action = action
        self.ctx.step_index += 1
        return results

    def log(self, observation: str, info: dict[str, Any]) -> list[OpResult]:
        """Run the LOG routine; return its op results."""
        return self.runner.log(self.decider, observation, info)

    def plan(self, observation: str, info: dict[str, Any]) -> str:
        """Run PLAN (and, in two-model/observe modes, the task policy); return the action.

        Raises:
            ValueError: observe mode without a task decider (call :meth:`observe`).
        """
        return self.policy.choose(self.runner, self.decider, observation, info)

    # ------------------------------------------------------------------ trace
    def record_step(self, action: str, result: StepResult) -> None:
        """Log the env's answer to ``action`` (called by :func:`run_episode`)."""
        self.recorder.env_step(step=self.step_index - 1, action=action, result=result)

    def start_trace(
        self,
        trace: str | TraceWriter,
        *,
        env: str = "custom",
        seed: int | None = None,
        config: dict[str, Any] | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> TraceWriter:
        """Open a trace (URL or writer) and write its header; later turns go there."""
        header = TraceHeader(
            episode_id=f"{env}/{seed}",
            env=env,
            task=env,
            seed=seed,
            scaffold_id=self.scaffold.id,
            mode=self.mode if self.ctx.memory_on else f"{self.mode}/memory-off",
            models=self.models,
            sdk_version=__version__,
            memory_url=str(getattr(self.store, "url", "")),
            config=dict(config or {}),
        )
        return self.recorder.open(trace, header, storage_options)

    def finish(
        self,
        *,
        steps: int | None = None,
        progression: float = 0.0,
        total_reward: float = 0.0,
        achievements: Sequence[str] = (),
        wall_s: float = 0.0,
    ) -> None:
        """Write the trace footer and close a trace this agent opened (idempotent)."""
        self.recorder.finish(
            steps=self.step_index if steps is None else steps,
            progression=progression,
            total_reward=total_reward,
            achievements=achievements,
            usage=self.usage,
            n_ops=self.n_ops,
            wall_s=wall_s,
        )


def _progress(
    info: dict[str, Any], progression: float, achievements: list[str]
) -> tuple[float, list[str]]:
    """The best progression so far and the latest achievements, after one step."""
    if "progression" in info:
        progression = max(progression, float(info["progression"]))
    if info.get("achievements"):
        achievements = list(info["achievements"])
    return progression, achievements


def run_episode(
    env: TextEnv,
    agent: MemoryAgent,
    seed: int | None,
    *,
    max_steps: int | None = None,
    trace: str | TraceWriter | None = None,
    storage_options: dict[str, Any] | None = None,
    header_extra: dict[str, Any] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> EpisodeResult:
    """Play one episode of ``env`` with ``agent``, logging a trace.

    Args:
        env: the text environment.
        agent: the memory agent (its store is used as is; give each episode its own).
        seed: the episode seed (reproducible worlds).
        max_steps: step cap (None = the env's own limit).
        trace: a trace URL (``.jsonl``/``.jsonl.gz``), an open writer, or None.
        storage_options: fsspec options for a trace URL.
        header_extra: extra ``config`` fields for the trace header.
        on_step: called with the step index after each step (progress bars).

    Returns:
        The episode summary.
    """
    t0 = time.perf_counter()
    observation, info = env.reset(seed=seed)
    agent.reset(instruction=env.instruction, actions=env.actions)
    writer = None
    if trace is not None:
        writer = agent.start_trace(
            trace, env=env.name, seed=seed, config=header_extra, storage_options=storage_options
        )
    try:
        steps = 0
        total_reward = 0.0
        progression = float(info.get("progression", 0.0) or 0.0)
        achievements: list[str] = list(info.get("achievements", []) or [])
        terminated = truncated = False
        while max_steps is None or steps < max_steps:
            action = agent.step(observation, info=info)
            result = env.step(action)
            agent.record_step(action, result)
            steps += 1
            total_reward += result.reward
            observation, info = result.observation, result.info
            progression, achievements = _progress(info, progression, achievements)
            if on_step is not None:
                on_step(steps)
            if result.terminated or result.truncated:
                terminated, truncated = result.terminated, result.truncated
                break
        else:
            truncated = True  # max_steps reached
        wall = time.perf_counter() - t0
        agent.finish(
            steps=steps,
            progression=progression,
            total_reward=total_reward,
            achievements=achievements,
            wall_s=wall,
        )
        return EpisodeResult(
            env=env.name,
            seed=seed,
            progression=progression,
            steps=steps,
            total_reward=total_reward,
            terminated=terminated,
            truncated=truncated,
            achievements=achievements,
            trace_url=writer.url if writer is not None else None,
            usage=agent.usage,
            n_ops=agent.n_ops,
            wall_s=wall,
        )
    finally:
        if writer is not None and isinstance(trace, str):
            writer.close()


def wrap(
    policy: Decider | LLMClient | Callable[[str, str], str],
    memory: MemoryStore | str,
    *,
    llm: Decider | LLMClient | None = None,
    scaffold: Scaffold | str = "generic",
    actions: Sequence[str] | None = None,
    instruction: str = "",
    storage_options: dict[str, Any] | None = None,
    trace: TraceWriter | str | None = None,
) -> MemoryAgent:
    """Give an existing agent a file-based memory, without touching its policy.

    - ``wrap(llm_client, memory)``: unified mode; the same model manages memory and acts.
    - ``wrap(policy, memory, llm=memory_model)``: two-model mode; ``memory_model`` runs
      the memory routines, ``policy`` (your agent: an LLM client, a Decider or
      ``fn(observation, memory_context) -> action``) commits every action.

    Args:
        policy: the existing agent.
        memory: a :class:`MemoryStore` or an fsspec URL (``file://``, ``s3://``, ...).
        llm: the memory model for two-model mode.
        scaffold: the memory scaffolding (built-in name, path or object).
        actions: allowed actions (None = any).
        instruction: task description for prompts.
        storage_options: fsspec options when ``memory`` is a URL.
        trace: a TraceWriter or trace URL to log every turn to (call
            :meth:`MemoryAgent.finish` at the end to write the footer).

    Returns:
        The wrapped agent; call :meth:`MemoryAgent.step` with each observation.
    """
    from automem_sdk.store import MemoryStore

    store = MemoryStore(memory, storage_options) if isinstance(memory, str) else memory
    if llm is None:
        if not isinstance(policy, Decider | LLMClient):
            raise ValueError(
                "a plain callable policy cannot manage memory itself: pass llm=<memory model>"
            )
        agent = MemoryAgent(store, scaffold, policy, instruction=instruction, actions=actions)
    else:
        agent = MemoryAgent(
            store,
            scaffold,
            llm,
            mode="two-model",
            task_decider=policy,
            instruction=instruction,
            actions=actions,
        )
    if trace is not None:
        agent.start_trace(trace)
    return agent
