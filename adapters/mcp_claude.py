"""Claude's memory tool (view, create, str_replace, insert, delete, rename) for the MCP server.

The commands run in :class:`~automem_sdk.adapters.anthropic_memory.AutomemMemoryTool`
(same paths under ``/memories``, same sandbox, same result and error texts); this module
adds the MCP tool schema and the automem op each command stands for, so traces of
Claude-tool calls read like traces of op calls.

Requires the ``[anthropic]`` extra.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from automem_sdk.errors import AutomemError
from automem_sdk.ops import (
    MUTATING_OPS,
    CreateOp,
    DeleteOp,
    InsertOp,
    InvalidOp,
    ListOp,
    MemoryOp,
    OpResult,
    ReadOp,
    RenameOp,
    ReplaceOp,
)

if TYPE_CHECKING:
    from automem_sdk.adapters.anthropic_memory import AutomemMemoryTool

    from automem_sdk.store import MemoryStore

__all__ = ["CLAUDE_DESCRIPTION", "CLAUDE_TOOL", "ClaudeTools", "claude_op", "claude_tool_schema"]

#: Name of the tool holding Claude's memory-tool commands.
CLAUDE_TOOL = "memory"


def claude_tool_schema() -> dict[str, Any]:
    """JSON Schema of the Claude memory tool's input (all six commands in one object)."""
    s = {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "command": {
                "type": "string",
                "enum": ["view", "create", "str_replace", "insert", "delete", "rename"],
            },
            "path": {**s, "description": "a path under /memories"},
            "view_range": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 2,
                "maxItems": 2,
                "description": "view: [first_line, last_line] (-1 = to the end)",
            },
            "file_text": {**s, "description": "create: the new file's content"},
            "old_str": {**s, "description": "str_replace: the exact, unique text to replace"},
            "new_str": {**s, "description": "str_replace: the replacement"},
            "insert_line": {"type": "integer", "description": "insert: after this line (0 = top)"},
            "insert_text": {**s, "description": "insert: the text to insert"},
            "old_path": {**s, "description": "rename: the current path"},
            "new_path": {**s, "description": "rename: the new path"},
        },
        "required": ["command"],
    }


CLAUDE_DESCRIPTION = (
    "Claude's memory tool: view a directory or file, create, str_replace, insert, delete "
    "or rename files under /memories. Check /memories before starting a task and record "
    "progress there as you go."
)


class ClaudeTools:
    """Runs Claude memory-tool commands on stores (one :class:`AutomemMemoryTool` per store).

    Args:
        max_input_bytes: a command whose JSON input is larger is refused.

    Raises:
        ImportError: the ``anthropic`` package (the ``[anthropic]`` extra) is missing.
    """

    def __init__(self, max_input_bytes: int) -> None:
        import automem_sdk.adapters.anthropic_memory  # noqa: F401  (fail now, not at a call)

        self.max_input_bytes = max_input_bytes
        self._tools: dict[int, AutomemMemoryTool] = {}
        self._lock = threading.Lock()

    def call(self, store: MemoryStore, args: dict[str, Any]) -> tuple[MemoryOp, OpResult]:
        """Run one command; a mistake is an ``ok=False`` result with the tool's error text."""
        from anthropic.lib.tools import ToolError
        from automem_sdk.adapters.anthropic_memory import AutomemMemoryTool

        with self._lock:
            tool = self._tools.get(id(store))
            if tool is None:
                tool = self._tools[id(store)] = AutomemMemoryTool(
                    store, max_input_bytes=self.max_input_bytes
                )
        op = claude_op(store, args)
        command = str(args.get("command", "invalid"))
        try:
            text = tool.call(args)
            ok = True
        except ToolError as exc:
            text, ok = _tool_error_text(exc), False
        except OSError as exc:
            text, ok = f"Error: the memory store failed: {exc.strerror or exc}", False
        result = OpResult(
            op=op.op if op.op != "invalid" else command,
            ok=ok,
            text=text,
            path=getattr(op, "path", None),
            error=None if ok else text,
            changed=ok and op.op in MUTATING_OPS,
        )
        return op, result


def _tool_error_text(exc: BaseException) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, str):
        return content
    return str(exc)


def claude_op(store: MemoryStore, args: Mapping[str, Any]) -> MemoryOp:
    """The automem op a Claude memory-tool command stands for (for the trace)."""
    command = args.get("command")

    def rel(key: str) -> str:
        value = str(args.get(key, ""))
        return value[len("/memories") :].lstrip("/") if value.startswith("/memories") else value

    try:
        if command == "view":
            path = rel("path")
            if path and store.exists(path):
                return ReadOp(path=path)
            return ListOp(prefix=path)
        if command == "create":
            return CreateOp(path=rel("path"), content=str(args.get("file_text", "")))
        if command == "str_replace":
            return ReplaceOp(
                path=rel("path"), old=str(args.get("old_str", "")), new=str(args.get("new_str", ""))
            )
        if command == "insert":
            line = args.get("insert_line")
            n = line + 1 if isinstance(line, int) and not isinstance(line, bool) else 0
            return InsertOp(
                path=rel("path"), line=max(n, 0), content=str(args.get("insert_text", ""))
            )
        if command == "delete":
            return DeleteOp(path=rel("path"))
        if command == "rename":
            return RenameOp(path=rel("old_path"), dst=rel("new_path"))
    except (ValueError, AutomemError) as exc:
        return InvalidOp(raw=json.dumps(dict(args), default=str)[:300], error=str(exc)[:300])
    return InvalidOp(
        raw=json.dumps(dict(args), default=str)[:300], error=f"unknown command {command!r}"
    )
