"""Runs the agent's routines: LOG, PLAN and the task policy's act turn.

A routine is a short loop of turns: the decider writes op tokens, they are parsed and
run against the store, and their results go back as the next user message, until the
routine ends (``<|DONE|>``, an action, its turn or op budget). Agent mistakes
(unparseable output, bad ops, unknown actions, a model that fails) become results the
model sees next; a routine that ends without an action leads to the fallback action.
Whether the memory decider's ``<|ACTION|>`` commits the action (unified mode) or just
ends its part of PLAN (two-model mode) is the caller's ``commits_action``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from automem_sdk.agent_context import AgentContext, clean_text
from automem_sdk.agent_prompts import PromptBuilder
from automem_sdk.agent_trace import TraceRecorder
from automem_sdk.codec import parse_ops
from automem_sdk.deciders import Decider, RoutineRequest
from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Message
from automem_sdk.ops import (
    MEMORY_OP_NAMES,
    ActionOp,
    CustomOp,
    DoneOp,
    InvalidOp,
    MemoryOp,
    OpResult,
    error_result,
    execute_op,
)

__all__ = ["RoutineOutcome", "RoutineRunner"]

#: turns the task policy gets to name a valid action
ACT_TURNS = 2


@dataclass
class RoutineOutcome:
    """What a routine produced: the committed action (if any) and every op result."""

    action: str | None = None
    results: list[OpResult] = field(default_factory=list)


@dataclass
class _Turn:
    completion: Completion
    ops: list[MemoryOp]
    results: list[OpResult]
    error: str | None
    done: bool = False
    ops_used: int = 0
    action: str | None = None


class RoutineRunner:
    """Runs routines for one agent (see module docstring).

    Args:
        ctx: the agent's shared state.
        prompts: builds the prompts and result messages.
        recorder: where turns are logged.
    """

    def __init__(self, ctx: AgentContext, prompts: PromptBuilder, recorder: TraceRecorder) -> None:
        self.ctx = ctx
        self.prompts = prompts
        self.recorder = recorder

    # ----------------------------------------------------------------- routines
    def log(self, decider: Decider, observation: str, info: dict[str, Any]) -> list[OpResult]:
        """Run LOG: record what matters, up to ``max_log_ops`` ops; return the results."""
        lim = self.ctx.scaffold.limits
        prompt = self.prompts.log(observation)
        out = self._routine(
            "log", decider, observation, info, prompt, lim.max_log_turns, lim.max_log_ops, False
        )
        return out.results

    def plan(
        self, decider: Decider, observation: str, info: dict[str, Any], *, commits_action: bool
    ) -> RoutineOutcome:
        """Run PLAN: read memory and (if ``commits_action``) commit the next action."""
        lim = self.ctx.scaffold.limits
        prompt = self.prompts.plan(observation)
        return self._routine(
            "plan",
            decider,
            observation,
            info,
            prompt,
            lim.max_plan_turns,
            lim.max_plan_ops,
            commits_action,
        )

    def allowed_ops(self, routine: str, *, commits_action: bool) -> list[str]:
        """Op tokens a routine acts on: the scaffold's ops; ``ACTION`` only in a PLAN
        that commits actions (in LOG it is an error, in the memory model's PLAN of
        two-model mode it just ends the routine)."""
        tokens = self.ctx.scaffold.op_tokens()
        if routine == "plan" and commits_action:
            return tokens
        return [t for t in tokens if t != "ACTION"]

    def _routine(
        self,
        routine: Literal["log", "plan"],
        decider: Decider,
        observation: str,
        info: dict[str, Any],
        prompt: str,
        max_turns: int,
        max_ops: int,
        commits_action: bool,
    ) -> RoutineOutcome:
        ctx = self.ctx
        messages = [
            Message(role="system", content=self.prompts.system()),
            Message(role="user", content=prompt),
        ]
        out = RoutineOutcome()
        ops_used = 0
        last_results: list[OpResult] = []
        for turn in range(max_turns):
            request = self._request(
                routine,
                turn,
                messages,
                observation,
                info,
                last_results=last_results,
                allowed_ops=self.allowed_ops(routine, commits_action=commits_action),
            )
            t = self._turn(routine, decider, request, max_ops - ops_used, commits_action)
            ops_used += t.ops_used
            out.action = t.action if t.action is not None else out.action
            out.results.extend(t.results)
            self.recorder.turn(
                step=ctx.step_index,
                routine=routine,
                turn=turn,
                model=decider.name,
                messages=request.messages,
                completion=t.completion,
                ops=t.ops,
                results=t.results,
                action=out.action,
            )
            keep_going = routine == "plan" and commits_action and t.error is None
            if out.action is not None or (t.done and not keep_going):
                break
            if routine == "log" and ops_used >= max_ops:
                break
            last_results = t.results
            feedback = self.prompts.results(routine, t.results, max_ops - ops_used)
            messages = [
                *messages,
                Message(role="assistant", content=t.completion.text),
                Message(role="user", content=feedback),
            ]
        return out

    def _request(
        self,
        routine: Literal["log", "plan", "act"],
        turn: int,
        messages: list[Message],
        observation: str,
        info: dict[str, Any],
        **extra: Any,
    ) -> RoutineRequest:
        """The request for one turn, its messages fitted to the context budget."""
        return RoutineRequest(
            routine=routine,
            step=self.ctx.step_index,
            turn=turn,
            messages=self.prompts.fit(messages),
            observation=observation,
            actions=list(self.ctx.actions or []),
            info=info,
            **extra,
        )

    def _turn(
        self,
        routine: Literal["log", "plan"],
        decider: Decider,
        request: RoutineRequest,
        ops_left: int,
        commits_action: bool,
    ) -> _Turn:
        """One decision and its ops."""
        ctx = self.ctx
        completion, error = self.decide(decider, request)
        t = _Turn(completion, parse_ops(completion.text) if error is None else [], [], error)
        if error is not None:
            text = ctx.text("model_error", error=error)
            t.results.append(OpResult(op="model", ok=False, text=text, error=error))
            t.done = True
        elif not t.ops:
            text = ctx.text("empty_reply")
            t.results.append(OpResult(op="invalid", ok=False, text=text, error="empty reply"))
        for op in t.ops:
            res, stop, action = self.apply(routine, op, t.ops_used >= ops_left, commits_action)
            t.results.append(res)
            if res.changed or (res.ok and res.op not in ("done", "action")):
                t.ops_used += 1
            if action is not None:
                t.action = action
            if stop:
                t.done = True
                break
        return t

    # ---------------------------------------------------------------------- ops
    def apply(
        self, routine: str, op: MemoryOp, exhausted: bool, commits_action: bool
    ) -> tuple[OpResult, bool, str | None]:
        """Run one parsed op. Returns (result, stop the routine, committed action)."""
        ctx = self.ctx
        if isinstance(op, DoneOp):
            return execute_op(ctx.store, op), True, None
        if isinstance(op, ActionOp):
            return self._action(routine, op, commits_action)
        if isinstance(op, InvalidOp):
            return execute_op(ctx.store, op, ctx.scaffold), False, None
        if not ctx.memory_on and (op.op in MEMORY_OP_NAMES or isinstance(op, CustomOp)):
            return ctx.error(op.op, "memory_off"), False, None
        if exhausted:
            which = "ops_exhausted_log" if routine == "log" else "ops_exhausted_plan"
            return ctx.error(op.op, which), False, None
        result = execute_op(ctx.store, op, ctx.scaffold)
        ctx.n_ops += 1
        return result, False, None

    def _action(
        self, routine: str, op: ActionOp, commits_action: bool
    ) -> tuple[OpResult, bool, str | None]:
        ctx = self.ctx
        if routine == "log":
            return ctx.error("action", "action_in_log"), False, None
        if not commits_action:
            # The memory model's part of PLAN ends here; the task model acts.
            text = ctx.text("memory_plan_done")
            return OpResult(op="action", ok=True, text=text), True, None
        resolved = ctx.resolve_action(op.name)
        if resolved is None:
            valid = ", ".join(ctx.actions or [])
            return ctx.error("action", "unknown_action", action=op.name, actions=valid), False, None
        return execute_op(ctx.store, ActionOp(name=resolved)), True, resolved

    def decide(self, decider: Decider, request: RoutineRequest) -> tuple[Completion, str | None]:
        """Ask the decider; a model failure becomes ``(empty completion, message)``."""
        t0 = time.perf_counter()
        try:
            completion = decider.decide(request)
        except LLMError as exc:
            failed = Completion(text="", model=decider.name, latency_s=time.perf_counter() - t0)
            return failed, self.ctx.text("model_failed", error=exc)
        update: dict[str, Any] = {}
        if not completion.latency_s:
            update["latency_s"] = time.perf_counter() - t0
        clean = clean_text(completion.text)
        if clean != completion.text:
            update["text"] = clean  # lone surrogates etc. cannot be stored or logged
        if update:
            completion = completion.model_copy(update=update)
        self.ctx.add_usage(completion.usage)
        return completion, None

    # ---------------------------------------------------------------------- act
    def act(
        self, decider: Decider, observation: str, info: dict[str, Any], memory_context: str
    ) -> str:
        """Let the task policy commit an action, with memory as extra context only."""
        ctx = self.ctx
        messages = [Message(role="user", content=self.prompts.act(observation, memory_context))]
        completion = Completion(text="")
        for turn in range(ACT_TURNS):
            request = self._request(
                "act",
                turn,
                messages,
                observation,
                info,
                memory_context=memory_context,
                allowed_ops=["ACTION"],
            )
            completion, error = self.decide(decider, request)
            ops = parse_ops(completion.text) if error is None else []
            action = self._action_from(completion.text, ops) if error is None else None
            if action is not None:
                result = execute_op(ctx.store, ActionOp(name=action))
            elif error is not None:
                result = error_result("action", error)
            else:
                result = ctx.error("action", "no_valid_action", actions=ctx.actions_text())
            self.recorder.turn(
                step=ctx.step_index,
                routine="act",
                turn=turn,
                model=decider.name,
                messages=request.messages,
                completion=completion,
                ops=ops,
                results=[result],
                action=action,
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
        said = repr(completion.text.strip()[:80])
        reason = ctx.text("policy_answer_unknown", said=said, actions=ctx.actions_text())
        return self.fallback(reason)

    def _action_from(self, text: str, ops: list[MemoryOp]) -> str | None:
        ctx = self.ctx
        for op in ops:
            if isinstance(op, ActionOp):
                return ctx.resolve_action(op.name)
        # An unmodified task model may answer with a bare action name.
        bare = ctx.resolve_action(text.strip())
        if bare is not None and text.strip():
            return bare
        if ctx.actions:
            low = text.lower()
            hits = [a for a in sorted(ctx.actions, key=len, reverse=True) if a.lower() in low]
            return hits[0] if hits else None
        return None

    def fallback(self, reason: str) -> str:
        """Take the fallback action (noted for the model's next turn and in the trace)."""
        ctx = self.ctx
        fb = ctx.scaffold.fallback_action
        actions = ctx.actions
        action = (fb if fb in actions else actions[0]) if actions else fb or "wait"
        ctx.feedback.append(ctx.text("fallback_taken", reason=reason, action=action))
        self.recorder.fallback(step=ctx.step_index, action=action, reason=reason)
        return action
