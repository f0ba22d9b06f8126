"""Memory ops as JSON tool schemas (OpenAI and Anthropic tool use), and back.

Tool names are ``memory_<op>`` (``memory_read``, ``memory_append``, ...), scaffold custom
ops as ``memory_<name>`` in lower case, plus ``action`` for task actions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from automem_sdk.ops import (
    MEMORY_OP_NAMES,
    ActionOp,
    CustomOp,
    InvalidOp,
    MemoryOp,
    op_adapter,
    op_spec,
)

if TYPE_CHECKING:
    from automem_sdk.scaffold import Scaffold

__all__ = [
    "MAX_TOOL_ARGUMENT_BYTES",
    "anthropic_tool_schemas",
    "op_from_tool_call",
    "op_to_tool_call",
    "openai_tool_schemas",
    "tool_name",
    "tool_specs",
]

TOOL_PREFIX = "memory_"
MAX_TOOL_ARGUMENT_BYTES = 262_144


def tool_name(op_name: str) -> str:
    """The tool name for a primitive or custom op name."""
    return "action" if op_name == "action" else TOOL_PREFIX + op_name.lower()


def _params(op_name: str) -> dict[str, Any]:
    schema = op_spec(op_name).model.model_json_schema()
    props = {k: _clean(v) for k, v in schema.get("properties", {}).items() if k != "op"}
    required = [r for r in schema.get("required", []) if r != "op"]
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _clean(prop: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in prop.items() if k not in ("title",)}
    if "anyOf" in out:  # Optional[str] -> str (omit to mean None)
        types = [t for t in out.pop("anyOf") if t.get("type") != "null"]
        if len(types) == 1:
            out.update(types[0])
        out.pop("default", None)
    return out


def tool_specs(
    scaffold: Scaffold | None = None,
    actions: Sequence[str] | None = None,
    *,
    include_action: bool = True,
) -> list[dict[str, Any]]:
    """Neutral tool specs: ``{"name", "description", "parameters"}`` (JSON Schema)."""
    enabled = scaffold.ops if scaffold is not None else list(MEMORY_OP_NAMES)
    specs = [
        {"name": tool_name(op), "description": op_spec(op).description, "parameters": _params(op)}
        for op in MEMORY_OP_NAMES
        if op in enabled
    ]
    for c in scaffold.custom_ops if scaffold is not None else []:
        specs.append(
            {
                "name": tool_name(c.name),
                "description": c.description or f"custom op {c.name}",
                "parameters": {
                    "type": "object",
                    "properties": {p: {"type": "string"} for p in c.params},
                    "required": list(c.params),
                    "additionalProperties": False,
                },
            }
        )
    if include_action:
        name_schema: dict[str, Any] = {"type": "string", "description": "the task action to take"}
        if actions:
            name_schema["enum"] = list(actions)
        specs.append(
            {
                "name": "action",
                "description": op_spec("action").description,
                "parameters": {
                    "type": "object",
                    "properties": {"name": name_schema},
                    "required": ["name"],
                    "additionalProperties": False,
                },
            }
        )
    return specs


def openai_tool_schemas(
    scaffold: Scaffold | None = None,
    actions: Sequence[str] | None = None,
    *,
    include_action: bool = True,
) -> list[dict[str, Any]]:
    """Tool schemas for OpenAI-compatible chat completions (``tools=[...]``)."""
    return [
        {"type": "function", "function": spec}
        for spec in tool_specs(scaffold, actions, include_action=include_action)
    ]


def anthropic_tool_schemas(
    scaffold: Scaffold | None = None,
    actions: Sequence[str] | None = None,
    *,
    include_action: bool = True,
) -> list[dict[str, Any]]:
    """Tool schemas for the Anthropic Messages API (``tools=[...]``)."""
    return [
        {"name": s["name"], "description": s["description"], "input_schema": s["parameters"]}
        for s in tool_specs(scaffold, actions, include_action=include_action)
    ]


def op_from_tool_call(
    name: str, arguments: str | dict[str, Any] | None, scaffold: Scaffold | None = None
) -> MemoryOp:
    """Turn a tool call into an op. Never raises: bad calls become :class:`InvalidOp`.

    Args:
        name: the tool name (``memory_append``, ``action``, ...).
        arguments: JSON text (OpenAI) or a dict (Anthropic).
        scaffold: resolves custom op tools.
    """
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments or {}, default=str)
    if len(raw.encode()) > MAX_TOOL_ARGUMENT_BYTES:
        return InvalidOp(
            raw=raw[:200] + "...",
            error=f"tool arguments too large ({len(raw)} bytes; max {MAX_TOOL_ARGUMENT_BYTES})",
        )
    if isinstance(arguments, str):
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return InvalidOp(
                raw=raw[:300],
                error=f"tool '{name}': arguments are not valid JSON ({exc.msg} at char {exc.pos})",
            )
    else:
        args = arguments or {}
    if not isinstance(args, dict):
        return InvalidOp(raw=raw[:300], error=f"tool '{name}': arguments must be a JSON object")
    if name == "action":
        data: dict[str, Any] = {"op": "action", **args}
    elif name.startswith(TOOL_PREFIX):
        op = name[len(TOOL_PREFIX) :]
        if op in MEMORY_OP_NAMES:
            data = {"op": op, **args}
        elif scaffold is not None and scaffold.custom(op) is not None:
            spec = scaffold.custom(op)
            assert spec is not None
            missing = [p for p in spec.params if p not in args]
            if missing:
                return InvalidOp(raw=raw[:300], error=f"tool '{name}': missing arguments {missing}")
            return CustomOp(name=spec.name, args=[str(args[p]) for p in spec.params])
        else:
            return InvalidOp(raw=raw[:300], error=f"unknown tool '{name}'")
    else:
        return InvalidOp(raw=raw[:300], error=f"unknown tool '{name}'")
    try:
        return op_adapter().validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'][1:]) or 'arguments'}: {e['msg']}"
            for e in exc.errors()
        )
        return InvalidOp(raw=raw[:300], error=f"tool '{name}': {problems}")


def op_to_tool_call(op: MemoryOp) -> tuple[str, dict[str, Any]]:
    """The (tool name, arguments) pair for an op (inverse of :func:`op_from_tool_call`)."""
    if isinstance(op, InvalidOp):
        raise ValueError("an invalid op has no tool call")
    if isinstance(op, CustomOp):
        return tool_name(op.name), {f"arg{i}": a for i, a in enumerate(op.args)}
    if isinstance(op, ActionOp):
        return "action", {"name": op.name}
    args = op.model_dump(exclude={"op"}, exclude_none=True)
    return tool_name(op.op), args
