"""Writes an agent's trace: the header, one record per routine turn and env step, a footer.

:class:`TraceRecorder` is the agent's only way to a :class:`~automem_sdk.trace.TraceWriter`;
with no writer attached every call is a no-op, so the agent never checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from automem_sdk.env import StepResult
from automem_sdk.llm.base import Completion, Message, Usage
from automem_sdk.ops import InvalidOp, MemoryOp, OpResult
from automem_sdk.trace import StepRecord, TraceFooter, TraceHeader, TraceWriter, TurnRecord

__all__ = ["TraceRecorder"]

Routine = Literal["log", "plan", "act"]


def _jsonable(v: Any) -> bool:
    return isinstance(v, str | int | float | bool | type(None)) or (
        isinstance(v, list | tuple) and all(isinstance(x, str | int | float | bool) for x in v)
    )


class TraceRecorder:
    """The trace of one agent, episode by episode.

    Args:
        writer: a writer to log to (``None``: nothing is recorded until :meth:`open`).
    """

    def __init__(self, writer: TraceWriter | None = None) -> None:
        self.writer = writer
        self.owned = False

    def open(
        self,
        trace: str | TraceWriter,
        header: TraceHeader,
        storage_options: dict[str, Any] | None = None,
    ) -> TraceWriter:
        """Attach a writer (a URL is opened and owned: :meth:`finish` closes it) and
        write ``header``."""
        owned = isinstance(trace, str)
        writer = TraceWriter(trace, storage_options) if isinstance(trace, str) else trace
        self.writer, self.owned = writer, owned
        writer.write(header)
        return writer

    def turn(
        self,
        *,
        step: int,
        routine: Routine,
        turn: int,
        model: str,
        messages: list[Message],
        completion: Completion,
        ops: list[MemoryOp],
        results: list[OpResult],
        action: str | None,
    ) -> None:
        """Record one routine turn: messages in and out, ops, results, action."""
        if self.writer is None:
            return
        self.writer.write(
            TurnRecord(
                step=step,
                routine=routine,
                turn=turn,
                model=model,
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

    def fallback(self, *, step: int, action: str, reason: str) -> None:
        """Record that the fallback action was taken, and why."""
        if self.writer is None:
            return
        self.writer.write(
            TurnRecord(
                step=step,
                routine="act",
                turn=-1,
                model="fallback",
                action=action,
                fallback=True,
                results=[OpResult(op="action", ok=True, text=reason).model_dump()],
            )
        )

    def env_step(self, *, step: int, action: str, result: StepResult) -> None:
        """Record the env's answer to ``action``."""
        if self.writer is None:
            return
        prog = result.info.get("progression")
        self.writer.write(
            StepRecord(
                step=step,
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

    def finish(
        self,
        *,
        steps: int,
        progression: float,
        total_reward: float,
        achievements: Sequence[str],
        usage: Usage,
        n_ops: int,
        wall_s: float,
    ) -> None:
        """Write the footer and close a writer this recorder opened (idempotent)."""
        if self.writer is None or self.writer.closed:
            return
        self.writer.write(
            TraceFooter(
                steps=steps,
                progression=progression,
                total_reward=total_reward,
                achievements=list(achievements),
                usage=usage,
                n_ops=n_ops,
                wall_s=wall_s,
            )
        )
        if self.owned:
            self.writer.close()
