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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from automem_sdk.codec import parse_ops
from automem_sdk.env import Decider, RoutineRequest, StepResult, TextEnv
from automem_sdk.errors import AutomemError, LLMError
from automem_sdk.llm.base import Completion, LLMClient, Message, Usage
from automem_sdk.ops import (
    MEMORY_OP_NAMES,
    ActionOp,
    CustomOp,
    DoneOp,
    InvalidOp,
    MemoryOp,
    OpResult,
    execute_op,
)
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.trace import StepRecord, TraceFooter, TraceHeader, TraceWriter, TurnRecord

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

AgentMode = Literal["unified", "two-model", "observe"]
_MEMORY_OFF = "memory is disabled for this agent"


def estimate_tokens(text: str) -> int:
    """Cheap token estimate (4 characters per token) used for context budgets."""
    return (len(text) + 3) // 4


class LLMDecider:
    """Adapts any :class:`~automem_sdk.llm.base.LLMClient` to the :class:`Decider` protocol.

    Args:
        client: the model.
        constrain_ops: pass each turn's ``allowed_ops`` as ``grammar=`` so the model can
            only write ops the agent accepts there (clients with a restricted op grammar:
            :class:`~automem_sdk.llm.local.LocalTransformersClient`,
            :class:`~automem_sdk.llm.llamacpp_server.LlamaServerClient`).
        **chat_opts: passed to every ``chat`` call.
    """

    def __init__(self, client: LLMClient, *, constrain_ops: bool = False, **chat_opts: Any) -> None:
        self.client = client
        self.constrain_ops = constrain_ops
        self.chat_opts = chat_opts
        self.name = client.model

    def decide(self, request: RoutineRequest) -> Completion:
        """Send the routine's messages to the model."""
        opts = dict(self.chat_opts)
        if self.constrain_ops and request.allowed_ops:
            opts["grammar"] = list(request.allowed_ops)
        return self.client.chat(request.messages, **opts)


class CallablePolicy:
    """Adapts ``fn(observation, memory_context) -> str`` to the :class:`Decider` protocol.

    The function returns an action name (or op tokens); it is your existing policy.
    """

    def __init__(self, fn: Callable[[str, str], str], name: str | None = None) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "policy"))

    def decide(self, request: RoutineRequest) -> Completion:
        """Call the policy with the observation and memory context."""
        return Completion(
            text=self.fn(request.observation, request.memory_context), model=self.name
        )


def as_decider(obj: Decider | LLMClient | Callable[[str, str], str]) -> Decider:
    """Turn a Decider, an LLM client or a plain callable into a Decider.

    Raises:
        TypeError: ``obj`` is none of those.
    """
    if isinstance(obj, Decider):
        return obj
    if isinstance(obj, LLMClient):
        return LLMDecider(obj)
    if callable(obj):
        return CallablePolicy(obj)
    raise TypeError(
        f"expected a Decider, an LLM client or a callable policy, got {type(obj).__name__}"
    )


@dataclass
class _Routine:
    action: str | None = None
    fallback: bool = False
    results: list[OpResult] = field(default_factory=list)


class EpisodeResult(BaseModel):
    """Outcome of :func:`run_episode`."""

    env: str
    seed: int | None
    progression: float
    steps: int
    total_reward: float
    achievements: list[str] = Field(default_factory=list)
    trace_url: str | None = None
    usage: Usage = Field(default_factory=Usage)
    n_ops: int = 0
    wall_s: float = 0.0


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
    """

    def __init__(
        self,
        store: MemoryStore,
        scaffold: Scaffold | str = "generic",
        decider: Decider | LLMClient | Callable[[str, str], str] | None = None,
        *,
        mode: AgentMode = "unified",
        task_decider: Decider | LLMClient | Callable[[str, str], str] | None = None,
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
        if mode == "two-model" and task_decider is None:
            raise ValueError("mode 'two-model' needs a task_decider (the policy that acts)")
        self.store = store
        self.scaffold = load_scaffold(scaffold)
        self.decider = as_decider(decider)
        self.task_decider = as_decider(task_decider) if task_decider is not None else None
        self.mode: AgentMode = mode
        self.memory = memory
        self.instruction = instruction
        self.actions: list[str] | None = list(actions) if actions is not None else None
        self.trace = trace
        self.batch_writes = batch_writes
        self.step_index = 0
        self.usage = Usage()
        self.n_ops = 0
        self._feedback: list[str] = []
        self._last_action = ""
        self._initialised = False
        self._owns_trace = False

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
            self.actions = list(actions)
        self.trace = trace
        self.step_index = 0
        self.usage = Usage()
        self.n_ops = 0
        self._feedback = []
        self._last_action = ""
        self._init_files()

    def _init_files(self) -> None:
        self._initialised = True
        if self.memory == "off":
            return
        existing = set(self.store.list())
        for f in self.scaffold.files:
            if f.name not in existing:
                try:
                    self.store.write(f.name, f.initial)
                except AutomemError as exc:
                    self._feedback.append(f"could not create {f.name}: {exc}")

    @property
    def models(self) -> dict[str, str]:
        """Names of the deciders, for trace headers."""
        out = {"memory": self.decider.name}
        if self.task_decider is not None:
            out["task"] = self.task_decider.name
        return out

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
        observation = _clean_text(observation)
        info = info or {}
        if info.get("invalid_action"):
            self._feedback.append(f"the action '{self._last_action}' was invalid here")
        if self.memory == "on" and self.scaffold.limits.max_log_ops > 0:
            self.log(observation, info)
        action = self.plan(observation, info)
        self._last_action = action
        self.step_index += 1
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
        if self.memory == "on":
            results = self.log(_clean_text(observation), info or {})
        self._last_action = action
        self.step_index += 1
        return results

    def log(self, observation: str, info: dict[str, Any]) -> list[OpResult]:
        """Run the LOG routine; return its op results."""
        lim = self.scaffold.limits
        prompt = self.scaffold.render(
            "log",
            observation=observation,
            step=self.step_index,
            memory_index=self._memory_index(),
            last_action=self._last_action or "(none)",
            feedback=self._take_feedback(),
            pinned=self._pinned(),
            max_log_ops=lim.max_log_ops,
        )
        out = self._run(
            "log", self.decider, observation, info, prompt, lim.max_log_turns, lim.max_log_ops
        )
        return out.results

    def plan(self, observation: str, info: dict[str, Any]) -> str:
        """Run PLAN (and, in two-model/observe modes, the task policy); return the action."""
        lim = self.scaffold.limits
        actions_txt = ", ".join(self.actions) if self.actions else "(any)"
        if self.mode == "observe":
            if self.task_decider is None:
                raise ValueError(
                    "observe mode without a task_decider: the foreign policy acts, "
                    "so call MemoryAgent.observe(observation, action) instead of step()"
                )
            return self._act(observation, info, self._pinned())
        prompt = self.scaffold.render(
            "plan",
            observation=observation,
            step=self.step_index,
            memory_index=self._memory_index(),
            actions=actions_txt,
            feedback=self._take_feedback(),
            pinned=self._pinned(),
            last_action=self._last_action or "(none)",
        )
        out = self._run(
            "plan", self.decider, observation, info, prompt, lim.max_plan_turns, lim.max_plan_ops
        )
        if self.mode == "unified":
            if out.action is None:
                return self._fallback("PLAN ended without an action")
            return out.action
        context = "\n".join(
            f"[{r.op}{' ' + r.path if r.path else ''}]\n{r.text}"
            for r in out.results
            if r.ok and r.op in ("read", "head", "tail", "search", "count", "list")
        )
        pinned = self._pinned()
        return self._act(observation, info, "\n".join(x for x in (pinned, context) if x))

    # --------------------------------------------------------------- internals
    def _take_feedback(self) -> str:
        text = "\n".join(f"Note: {f}" for f in self._feedback)
        self._feedback = []
        return text

    def _memory_index(self) -> str:
        if self.memory == "off":
            return "(memory disabled)"
        try:
            files = self.store.list()
        except AutomemError as exc:
            return f"(cannot list memory: {exc})"
        shown = ", ".join(files[:30])
        return shown + (f" ... (+{len(files) - 30} more)" if len(files) > 30 else "") or "(empty)"

    def _pinned(self) -> str:
        if self.memory == "off":
            return ""
        budget = self.scaffold.limits.pinned_chars
        parts: list[str] = []
        for f in self.scaffold.files:
            if not f.pinned or budget <= 0:
                continue
            try:
                text = self.store.read(f.name)
            except AutomemError:
                continue
            if not text.strip():
                continue
            if len(text) > budget:
                text = "...\n" + text[-budget:]
            budget -= len(text)
            parts.append(f"--- {f.name} ---\n{text.rstrip()}")
        return "\n".join(parts)

    def _system(self) -> str:
        return self.scaffold.render(
            "system",
            instruction=self.instruction,
            actions=", ".join(self.actions) if self.actions else "(any)",
            files=self.scaffold.describe_files(),
            ops=self.scaffold.describe_ops(),
            max_log_ops=self.scaffold.limits.max_log_ops,
        )

    def _fit(self, messages: list[Message]) -> list[Message]:
        """Keep the context within the scaffold's token budget."""
        budget = self.scaffold.limits.context_tokens
        total = sum(estimate_tokens(m.content) for m in messages)
        msgs = list(messages)
        # Drop the oldest exchanges of this routine first (keep system, prompt, last pair).
        while total > budget and len(msgs) > 4:
            dropped = msgs[2:4]
            del msgs[2:4]
            total -= sum(estimate_tokens(m.content) for m in dropped)
        if total > budget:
            # Truncate the longest message in the middle, keeping head and tail.
            i = max(range(len(msgs)), key=lambda k: len(msgs[k].content))
            text = msgs[i].content
            keep = max(200, len(text) - (total - budget) * 4)
            half = keep // 2
            msgs[i] = Message(role=msgs[i].role, content=text[:half] + "\n[...]\n" + text[-half:])
        return msgs

    def _resolve_action(self, name: str) -> str | None:
        if self.actions is None:
            return name
        if name in self.actions:
            return name
        lowered = {a.lower(): a for a in self.actions}
        return lowered.get(name.strip().lower())

    def _fallback(self, reason: str) -> str:
        fb = self.scaffold.fallback_action
        action = (fb if fb in self.actions else self.actions[0]) if self.actions else fb or "wait"
        self._feedback.append(f"{reason}; the fallback action '{action}' was taken")
        if self.trace is not None:
            self.trace.write(
                TurnRecord(
                    step=self.step_index,
                    routine="act",
                    turn=-1,
                    model="fallback",
                    action=action,
                    fallback=True,
                    results=[OpResult(op="action", ok=True, text=reason).model_dump()],
                )
            )
        return action

    def _run(
        self,
        routine: Literal["log", "plan"],
        decider: Decider,
        observation: str,
        info: dict[str, Any],
        prompt: str,
        max_turns: int,
        max_ops: int,
    ) -> _Routine:
        messages = [
            Message(role="system", content=self._system()),
            Message(role="user", content=prompt),
        ]
        out = _Routine()
        ops_used = 0
        last_results: list[OpResult] = []
        for turn in range(max_turns):
            fitted = self._fit(messages)
            request = RoutineRequest(
                routine=routine,
                step=self.step_index,
                turn=turn,
                messages=fitted,
                observation=observation,
                actions=list(self.actions or []),
                info=info,
                last_results=last_results,
                allowed_ops=self._allowed_ops(routine),
            )
            completion, error = self._decide(decider, request)
            ops = parse_ops(completion.text) if error is None else []
            results: list[OpResult] = []
            done = False
            if error is not None:
                results.append(OpResult(op="model", ok=False, text=f"ERROR: {error}", error=error))
                done = True
            elif not ops:
                results.append(
                    OpResult(
                        op="invalid",
                        ok=False,
                        text="ERROR: empty reply; emit op tokens",
                        error="empty reply",
                    )
                )
            for op in ops:
                res, stop, action = self._apply(routine, op, ops_used >= max_ops)
                results.append(res)
                if res.changed or (res.ok and res.op not in ("done", "action")):
                    ops_used += 1
                if action is not None:
                    out.action = action
                if stop:
                    done = True
                    break
            out.results.extend(results)
            self._record_turn(routine, turn, decider, fitted, completion, ops, results, out.action)
            keep_going = routine == "plan" and self.mode == "unified" and error is None
            if out.action is not None or (done and not keep_going):
                break
            if routine == "log" and ops_used >= max_ops:
                break
            last_results = results
            messages = [
                *messages,
                Message(role="assistant", content=completion.text),
                Message(
                    role="user", content=self._feedback_text(routine, results, max_ops - ops_used)
                ),
            ]
        return out

    def _allowed_ops(self, routine: str) -> list[str]:
        """Op tokens this routine acts on: the scaffold's ops; ``ACTION`` only in a
        unified PLAN (in LOG it is an error, in the memory model's PLAN it just ends)."""
        tokens = self.scaffold.op_tokens()
        if routine == "plan" and self.mode == "unified":
            return tokens
        return [t for t in tokens if t != "ACTION"]

    def _decide(self, decider: Decider, request: RoutineRequest) -> tuple[Completion, str | None]:
        t0 = time.perf_counter()
        try:
            completion = decider.decide(request)
        except LLMError as exc:
            return Completion(text="", model=decider.name, latency_s=time.perf_counter() - t0), (
                f"the model failed: {exc}"
            )
        update: dict[str, Any] = {}
        if not completion.latency_s:
            update["latency_s"] = time.perf_counter() - t0
        clean = _clean_text(completion.text)
        if clean != completion.text:
            update["text"] = clean  # lone surrogates etc. cannot be stored or logged
        if update:
            completion = completion.model_copy(update=update)
        self.usage = Usage(
            prompt_tokens=self.usage.prompt_tokens + completion.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens + completion.usage.completion_tokens,
        )
        return completion, None

    def _apply(
        self, routine: str, op: MemoryOp, exhausted: bool
    ) -> tuple[OpResult, bool, str | None]:
        """Run one parsed op. Returns (result, stop routine, committed action)."""
        if isinstance(op, DoneOp):
            return OpResult(op="done", ok=True, text="done"), True, None
        if isinstance(op, ActionOp):
            if routine == "log":
                return (
                    _error("action", "actions are chosen in PLAN, not LOG; end LOG with <|DONE|>"),
                    False,
                    None,
                )
            if self.mode != "unified":
                # The memory model's part of PLAN ends here; the task model acts.
                return OpResult(op="action", ok=True, text="memory part of PLAN done"), True, None
            resolved = self._resolve_action(op.name)
            if resolved is None:
                valid = ", ".join(self.actions or [])
                return (
                    _error("action", f"unknown action '{op.name}'; choose one of: {valid}"),
                    False,
                    None,
                )
            return (
                OpResult(
                    op="action", ok=True, text=f"action: {resolved}", data={"action": resolved}
                ),
                True,
                resolved,
            )
        if isinstance(op, InvalidOp):
            return execute_op(self.store, op, self.scaffold), False, None
        if self.memory == "off" and (op.op in MEMORY_OP_NAMES or isinstance(op, CustomOp)):
            return _error(op.op, _MEMORY_OFF), False, None
        if exhausted:
            hint = "end with <|DONE|>" if routine == "log" else "commit an <|ACTION|>"
            return _error(op.op, f"no memory ops left in this routine; {hint}"), False, None
        result = execute_op(self.store, op, self.scaffold)
        self.n_ops += 1
        return result, False, None

    def _feedback_text(self, routine: str, results: list[OpResult], ops_left: int) -> str:
        limit = self.scaffold.limits.result_chars
        parts = []
        for r in results:
            text = (
                r.text
                if len(r.text) <= limit
                else r.text[:limit] + f"\n[... {len(r.text) - limit} more chars]"
            )
            parts.append(text)
        tail = (
            "Continue LOG, or end with <|DONE|>."
            if routine == "log"
            else "Continue: read more memory, or commit one <|ACTION|>name<|END|>."
        )
        return "Results:\n" + "\n".join(parts) + f"\n({max(ops_left, 0)} memory ops left) {tail}"

    def _record_turn(
        self,
        routine: Literal["log", "plan", "act"],
        turn: int,
        decider: Decider,
        messages: list[Message],
        completion: Completion,
        ops: list[MemoryOp],
        results: list[OpResult],
        action: str | None,
    ) -> None:
        if self.trace is None:
            return
        self.trace.write(
            TurnRecord(
                step=self.step_index,
                routine=routine,
                turn=turn,
                model=decider.name,
                messages=messages,
                output=completion.text,
                ops=[op.model_dump() for op in ops],
                results=[r.model_dump() for r in results],
                parse_errors=[op.error for op in ops if isinstance(op, InvalidOp)],
                action=action,
                usage=completion.usage,
                latency_s=completion.latency_s,
            )
        )

    def _act(self, observation: str, info: dict[str, Any], memory_context: str) -> str:
        """Let the task decider commit an action, with memory as extra context only."""
        assert self.task_decider is not None
        actions_txt = ", ".join(self.actions) if self.actions else "(any)"
        prompt = self.scaffold.render(
            "act",
            observation=observation,
            step=self.step_index,
            actions=actions_txt,
            memory_context=memory_context or "(nothing relevant)",
            instruction=self.instruction,
        )
        messages = [Message(role="user", content=prompt)]
        for turn in range(2):
            request = RoutineRequest(
                routine="act",
                step=self.step_index,
                turn=turn,
                messages=self._fit(messages),
                observation=observation,
                actions=list(self.actions or []),
                info=info,
                memory_context=memory_context,
                allowed_ops=["ACTION"],
            )
            completion, error = self._decide(self.task_decider, request)
            ops = parse_ops(completion.text) if error is None else []
            action = self._action_from(completion.text, ops) if error is None else None
            result = (
                OpResult(op="action", ok=True, text=f"action: {action}", data={"action": action})
                if action is not None
                else _error(
                    "action", error or f"no valid action found; choose one of: {actions_txt}"
                )
            )
            self._record_turn(
                "act", turn, self.task_decider, request.messages, completion, ops, [result], action
            )
            if action is not None:
                return action
            if error is not None:
                break
            messages = [
                *messages,
                Message(role="assistant", content=completion.text),
                Message(role="user", content=result.text),
            ]
        said = completion.text.strip()[:80]
        return self._fallback(
            f"the task policy's answer {said!r} is not one of the actions ({actions_txt})"
        )

    def _action_from(self, text: str, ops: list[MemoryOp]) -> str | None:
        for op in ops:
            if isinstance(op, ActionOp):
                return self._resolve_action(op.name)
        # An unmodified task model may answer with a bare action name.
        bare = self._resolve_action(text.strip())
        if bare is not None and text.strip():
            return bare
        if self.actions:
            low = text.lower()
            hits = [a for a in sorted(self.actions, key=len, reverse=True) if a.lower() in low]
            return hits[0] if hits else None
        return None

    # ------------------------------------------------------------------ trace
    def record_step(self, action: str, result: StepResult) -> None:
        """Log the env's answer to ``action`` (called by :func:`run_episode`)."""
        if self.trace is None:
            return
        prog = result.info.get("progression")
        self.trace.write(
            StepRecord(
                step=self.step_index - 1,
                action=action,
                reward=result.reward,
                terminated=result.terminated,
                truncated=result.truncated,
                observation=result.observation,
                changed=result.info.get("changed"),
                progression=float(prog) if prog is not None else None,
                info={k: v for k, v in result.info.items() if _jsonable(v)},
            )
        )

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
        from automem_sdk import __version__

        owned = isinstance(trace, str)
        writer = TraceWriter(trace, storage_options) if isinstance(trace, str) else trace
        self.trace = writer
        self._owns_trace = owned
        writer.write(
            TraceHeader(
                episode_id=f"{env}/{seed}",
                env=env,
                task=env,
                seed=seed,
                scaffold_id=self.scaffold.id,
                mode=self.mode if self.memory == "on" else f"{self.mode}/memory-off",
                models=self.models,
                sdk_version=__version__,
                memory_url=str(getattr(self.store, "url", "")),
                config=dict(config or {}),
            )
        )
        return writer

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
        if self.trace is None or self.trace.closed:
            return
        self.trace.write(
            TraceFooter(
                steps=self.step_index if steps is None else steps,
                progression=progression,
                total_reward=total_reward,
                achievements=list(achievements),
                usage=self.usage,
                n_ops=self.n_ops,
                wall_s=wall_s,
            )
        )
        if self._owns_trace:
            self.trace.close()


def _clean_text(text: str) -> str:
    """Replace what UTF-8 cannot carry (lone surrogates) so text can be stored and logged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _error(op: str, message: str) -> OpResult:
    return OpResult(op=op, ok=False, text=f"ERROR ({op}): {message}", error=message)


def _jsonable(v: Any) -> bool:
    return isinstance(v, str | int | float | bool | type(None)) or (
        isinstance(v, list | tuple) and all(isinstance(x, str | int | float | bool) for x in v)
    )


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
        while max_steps is None or steps < max_steps:
            action = agent.step(observation, info=info)
            result = env.step(action)
            agent.record_step(action, result)
            steps += 1
            total_reward += result.reward
            observation, info = result.observation, result.info
            if "progression" in info:
                progression = max(progression, float(info["progression"]))
            if info.get("achievements"):
                achievements = list(info["achievements"])
            if on_step is not None:
                on_step(steps)
            if result.terminated or result.truncated:
                break
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
