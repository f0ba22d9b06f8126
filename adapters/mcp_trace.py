"""The MCP server's trace: every tool call as one observe-mode :class:`TurnRecord`.

The server cannot see the client's conversation. What it does see is recorded as the
turn's prompt: the namespace, the memory files before the call and the session's
earlier calls with their results; the call itself is the turn's output and its op the
target, so ``automem train behavioral dataset`` learns *which memory call comes next
given what memory showed so far*, without the answer in the prompt.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

from automem_sdk.llm.base import Message
from automem_sdk.ops import MUTATING_OPS, InvalidOp, MemoryOp, OpResult
from automem_sdk.outcomes import record_conversation
from automem_sdk.scaffold import Scaffold
from automem_sdk.trace import TraceFooter, TraceHeader, TraceWriter, TurnRecord

__all__ = ["CallRecorder"]

_CALL_CHARS = 4_000
_RESULT_CHARS = 300


class CallRecorder:
    """Writes one turn per tool call to a trace (thread-safe).

    Args:
        trace: a trace URL (``.jsonl`` / ``.jsonl.gz``) or an open writer, or ``None``
            to only count calls.
        scaffold: the served scaffold (its id goes in the header).
        memory_url: the served store URL.
        config: extra header settings (namespace template, tool sets).
        storage_options: fsspec options for a trace URL.
        history: earlier calls of the same client and namespace shown in each prompt.
    """

    def __init__(
        self,
        trace: str | TraceWriter | None,
        scaffold: Scaffold,
        memory_url: str,
        *,
        config: dict[str, Any] | None = None,
        storage_options: dict[str, Any] | None = None,
        history: int = 6,
    ) -> None:
        from automem_sdk import __version__

        self.scaffold = scaffold
        self.n_calls = 0
        self._step = 0
        self._lock = threading.Lock()
        self._history: dict[tuple[str, str], deque[str]] = {}
        self._keep = history
        self._owns = isinstance(trace, str)
        self.writer: TraceWriter | None = (
            TraceWriter(trace, storage_options) if isinstance(trace, str) else trace
        )
        if self.writer is not None:
            self.writer.write(
                TraceHeader(
                    episode_id="mcp",
                    env="mcp",
                    task="mcp",
                    scaffold_id=scaffold.id,
                    mode="observe",
                    models={"memory": "mcp-client"},
                    sdk_version=__version__,
                    memory_url=memory_url,
                    config=dict(config or {}),
                )
            )

    def record(
        self,
        tool: str,
        args: dict[str, Any],
        client: str,
        namespace: str,
        op: MemoryOp,
        result: OpResult,
        files: list[str] | None = None,
        conversation_id: str | None = None,
    ) -> None:
        """Record one call.

        Args:
            tool: the tool name.
            args: its arguments.
            client: the client's name (from its ``initialize``).
            namespace: the filled namespace (``""`` for the shared store).
            op: the op the call stood for (an :class:`InvalidOp` for a refused call).
            result: what the call returned.
            files: the memory files before the call, when known.
            conversation_id: the client's conversation, when it says (a step record
                ties the call's step to it, so outcomes find the call).
        """
        call = json.dumps({"tool": tool, "arguments": args}, default=str, ensure_ascii=False)
        call = call[:_CALL_CHARS]
        with self._lock:
            self.n_calls += 1
            past = self._history.setdefault((client, namespace), deque(maxlen=self._keep))
            earlier = "\n".join(past) or "(none: this is the first call)"
            shown = (
                result.text
                if len(result.text) <= _RESULT_CHARS
                else result.text[:_RESULT_CHARS] + " ..."
            )
            past.append(f"{call}\n-> {'ok' if result.ok else 'error'}: {shown}")
            if self.writer is None or self.writer.closed:
                return
            step, self._step = self._step, self._step + 1
            where = f"namespace {namespace!r}" if namespace else "the shared store"
            index = "(unknown)" if files is None else ", ".join(files[:30]) or "(empty)"
            self.writer.write(
                TurnRecord(
                    step=step,
                    routine="log" if op.op in MUTATING_OPS else "plan",
                    model=client,
                    messages=[
                        Message(
                            role="system",
                            content=f"MCP client {client!r} using automem memory on {where} "
                            f"(scaffold {self.scaffold.name} {self.scaffold.id}).",
                        ),
                        Message(
                            role="user",
                            content=f"Memory files: {index}\nEarlier calls:\n{earlier}\n"
                            "Next memory tool call:",
                        ),
                    ],
                    output=call,
                    ops=[op.model_dump()],
                    results=[result.model_dump()],
                    parse_errors=[op.error] if isinstance(op, InvalidOp) else [],
                )
            )
            record_conversation(
                self.writer,
                step=step,
                conversation_id=conversation_id,
                action=tool,
                info={"client": client, "namespace": namespace},
            )

    def close(self) -> None:
        """Write the footer; close the trace if this recorder opened it (idempotent)."""
        with self._lock:
            writer, self.writer = self.writer, None
            if writer is None or writer.closed:
                return
            writer.write(TraceFooter(steps=self._step, n_ops=self.n_calls))
            if self._owns:
                writer.close()
