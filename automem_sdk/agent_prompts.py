"""Builds every prompt the agent sends, all text from the scaffold or package data.

:class:`PromptBuilder` renders the scaffold's ``system``, ``log``, ``plan`` and ``act``
templates with the episode's state, frames op results for the next turn, and keeps a
routine's messages inside the scaffold's token budget (:meth:`PromptBuilder.fit`).
Every fixed string it adds (notes, placeholders, result framing) is a scaffold message
(:data:`~automem_sdk.scaffold.AGENT_MESSAGES`, package data ``agent_text.yaml``).
"""

from __future__ import annotations

from automem_sdk.agent_context import AgentContext
from automem_sdk.errors import AutomemError
from automem_sdk.llm.base import Message
from automem_sdk.ops import READING_OPS, OpResult

__all__ = ["MAX_INDEX_FILES", "PromptBuilder", "estimate_tokens"]

#: memory files named in the index before "(+N more)"
MAX_INDEX_FILES = 30


def estimate_tokens(text: str) -> int:
    """Cheap token estimate (4 characters per token) used for context budgets."""
    return (len(text) + 3) // 4


class PromptBuilder:
    """The prompts of one agent (see module docstring).

    Args:
        ctx: the agent's shared state.
    """

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx

    # ---------------------------------------------------------------- templates
    def system(self) -> str:
        """The system prompt: instruction, actions, memory files and op vocabulary."""
        sc = self.ctx.scaffold
        return sc.render(
            "system",
            instruction=self.ctx.instruction,
            actions=self.ctx.actions_text(),
            files=sc.describe_files(),
            ops=sc.describe_ops(),
            max_log_ops=sc.limits.max_log_ops,
        )

    def _routine_vars(self, observation: str) -> dict[str, object]:
        """The variables LOG and PLAN prompts share (takes the pending notes)."""
        ctx = self.ctx
        return {
            "observation": observation,
            "step": ctx.step_index,
            "memory_index": self.memory_index(),
            "last_action": ctx.last_action or ctx.text("no_last_action"),
            "feedback": ctx.take_feedback(),
            "pinned": self.pinned(),
        }

    def log(self, observation: str) -> str:
        """The LOG routine's user prompt (takes the pending notes)."""
        sc = self.ctx.scaffold
        return sc.render(
            "log", max_log_ops=sc.limits.max_log_ops, **self._routine_vars(observation)
        )

    def plan(self, observation: str) -> str:
        """The PLAN routine's user prompt (takes the pending notes)."""
        variables = self._routine_vars(observation)
        return self.ctx.scaffold.render("plan", actions=self.ctx.actions_text(), **variables)

    def act(self, observation: str, memory_context: str) -> str:
        """The task policy's prompt: memory only as extra context."""
        ctx = self.ctx
        return ctx.scaffold.render(
            "act",
            observation=observation,
            step=ctx.step_index,
            actions=ctx.actions_text(),
            memory_context=memory_context or ctx.text("nothing_relevant"),
            instruction=ctx.instruction,
        )

    # ------------------------------------------------------------------- memory
    def memory_index(self) -> str:
        """The memory files, as a short list."""
        ctx = self.ctx
        if not ctx.memory_on:
            return ctx.text("memory_disabled")
        try:
            files = ctx.store.list()
        except AutomemError as exc:
            return ctx.text("memory_unlistable", error=exc)
        shown = ", ".join(files[:MAX_INDEX_FILES])
        if len(files) > MAX_INDEX_FILES:
            shown += ctx.text("memory_more", n=len(files) - MAX_INDEX_FILES)
        return shown or ctx.text("memory_empty")

    def pinned(self) -> str:
        """The pinned files' content, within the scaffold's ``pinned_chars``."""
        ctx = self.ctx
        if not ctx.memory_on:
            return ""
        budget = ctx.scaffold.limits.pinned_chars
        parts: list[str] = []
        for f in ctx.scaffold.files:
            if not f.pinned or budget <= 0:
                continue
            try:
                text = ctx.store.read(f.name)
            except AutomemError:
                continue
            if not text.strip():
                continue
            if len(text) > budget:
                text = ctx.text("pinned_cut", text=text[-budget:])
            budget -= len(text)
            parts.append(ctx.text("pinned_file", file=f.name, text=text.rstrip()))
        return "\n".join(parts)

    def memory_context(self, results: list[OpResult]) -> str:
        """What the memory model read in PLAN, as context for the task policy."""
        ctx = self.ctx
        return "\n".join(
            ctx.text("context_result", what=r.op + (" " + r.path if r.path else ""), text=r.text)
            for r in results
            if r.ok and r.op in READING_OPS
        )

    # ------------------------------------------------------------------ results
    def results(self, routine: str, results: list[OpResult], ops_left: int) -> str:
        """The user message after a turn: its op results and what to do next."""
        ctx = self.ctx
        limit = ctx.scaffold.limits.result_chars
        parts = [
            r.text
            if len(r.text) <= limit
            else ctx.text("result_cut", text=r.text[:limit], n=len(r.text) - limit)
            for r in results
        ]
        return ctx.text(
            "results",
            results="\n".join(parts),
            ops_left=max(ops_left, 0),
            next=ctx.text("log_continue" if routine == "log" else "plan_continue"),
        )

    # ------------------------------------------------------------------- budget
    def fit(self, messages: list[Message]) -> list[Message]:
        """Keep the context within the scaffold's token budget.

        Drops the oldest exchanges of the routine first (the system prompt, the
        routine's prompt and the last pair stay); then cuts the longest message in the
        middle, keeping its head and tail.
        """
        budget = self.ctx.scaffold.limits.context_tokens
        total = sum(estimate_tokens(m.content) for m in messages)
        msgs = list(messages)
        while total > budget and len(msgs) > 4:
            dropped = msgs[2:4]
            del msgs[2:4]
            total -= sum(estimate_tokens(m.content) for m in dropped)
        if total > budget:
            i = max(range(len(msgs)), key=lambda k: len(msgs[k].content))
            text = msgs[i].content
            keep = max(200, len(text) - (total - budget) * 4)
            half = keep // 2
            cut = self.ctx.text("context_cut", head=text[:half], tail=text[-half:])
            msgs[i] = Message(role=msgs[i].role, content=cut)
        return msgs
