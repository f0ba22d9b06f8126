"""The text token syntax agents speak, compatible with AutoMem's.

``<|APPEND|>notes.md|saw a tree at 3,4<|END|>``, ``<|ACTION|>move_left<|END|>``,
``<|DONE|>``. Inside arguments ``\\|`` is a literal ``|``, ``\\\\`` a backslash and
``\\<`` a ``<``. :func:`parse_ops` is total: any string becomes a list of ops, where
malformed spans are :class:`~automem_sdk.ops.InvalidOp` items with a message.
:func:`encode_ops` is its inverse: ``parse_ops(encode_ops(ops)) == ops``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import ValidationError

from automem_sdk.ops import (
    OP_SPECS,
    CustomOp,
    DoneOp,
    InvalidOp,
    MemoryOp,
    SearchOp,
    op_adapter,
    op_spec,
    spec_for_token,
)

__all__ = ["END", "OP_FIELDS", "encode_op", "encode_ops", "parse_ops", "token_name"]

END = "<|END|>"
MAX_RAW = 300

#: token name -> (op, ordered argument fields, number of required fields), from
#: :data:`~automem_sdk.ops.OP_SPECS`
OP_FIELDS: dict[str, tuple[str, tuple[str, ...], int]] = {
    s.token: (s.name, s.fields, s.required) for s in OP_SPECS if s.token
}
_TOKEN = re.compile(r"<\|([A-Za-z][A-Za-z0-9_]*)\|>")
_SYNTAX_HINT = (
    "write ops as <|OP|>arg|arg<|END|>, e.g. <|READ|>notes.md<|END|> or <|ACTION|>north<|END|>"
)


def token_name(op: MemoryOp) -> str:
    """The token name of an op (``READ``, ``ACTION``, a custom op's own name)."""
    if isinstance(op, CustomOp):
        return op.name
    return op_spec(op.op).token or op.op.upper()


def _escape(arg: str) -> str:
    return arg.replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")


def _unescape(arg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(arg):
        c = arg[i]
        if c == "\\" and i + 1 < len(arg) and arg[i + 1] in "\\|<":
            out.append(arg[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _escaped(text: str, pos: int) -> bool:
    """Whether the character at ``pos`` is preceded by an odd number of backslashes."""
    n = 0
    while pos - n - 1 >= 0 and text[pos - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def _split(body: str, maxsplit: int) -> list[str]:
    parts: list[str] = []
    start = 0
    i = 0
    while i < len(body) and (maxsplit < 0 or len(parts) < maxsplit):
        if body[i] == "\\":
            i += 2
            continue
        if body[i] == "|":
            parts.append(body[start:i])
            start = i + 1
        i += 1
    parts.append(body[start:])
    return [_unescape(p) for p in parts]


def encode_op(op: MemoryOp) -> str:
    """Encode one op in token syntax.

    Raises:
        ValueError: for an :class:`InvalidOp` (it has no canonical form).
    """
    if isinstance(op, InvalidOp):
        raise ValueError("an invalid op has no encoding")
    if isinstance(op, DoneOp):
        return "<|DONE|>"
    if isinstance(op, CustomOp):
        return f"<|{op.name}|>" + "|".join(_escape(a) for a in op.args) + END
    spec = op_spec(op.op)
    values = ["" if getattr(op, f) is None else str(getattr(op, f)) for f in spec.fields]
    # Drop trailing optional arguments that hold their default.
    while len(values) > spec.required and values[-1] == spec.default(spec.fields[len(values) - 1]):
        values.pop()
    if isinstance(op, SearchOp):
        values = [op.path or "*", op.query]
    return f"<|{spec.token}|>" + "|".join(_escape(v) for v in values) + END


def encode_ops(ops: Iterable[MemoryOp]) -> str:
    """Encode a sequence of ops, one per line."""
    return "\n".join(encode_op(op) for op in ops)


def _invalid(raw: str, error: str) -> InvalidOp:
    if len(raw) > MAX_RAW:
        raw = raw[: MAX_RAW - 3] + "..."
    return InvalidOp(raw=raw, error=error)


def _build(name: str, body: str, raw: str) -> MemoryOp:
    spec = spec_for_token(name)
    if spec is None:
        try:
            return CustomOp(name=name, args=_split(body, -1) if body else [])
        except ValidationError as exc:
            return _invalid(raw, f"bad custom op {name}: {_first_error(exc)}")
    op, fields, required = spec.name, spec.fields, spec.required
    if not fields:
        return op_adapter().validate_python({"op": op})
    args = _split(body, len(fields) - 1) if body or required else []
    if body == "" and required == 0:
        args = []
    if name == "SEARCH" and len(args) == 1:
        args = ["", args[0]]  # <|SEARCH|>keyword<|END|> searches every file
    if len(args) < required:
        need = "|".join(fields[:required])
        return _invalid(raw, f"{name} needs {required} argument(s): <|{name}|>{need}<|END|>")
    data: dict[str, object] = {"op": op}
    for f, v in zip(fields, args, strict=False):
        if spec.model.model_fields[f].annotation is int:
            try:
                data[f] = int(v.strip())
            except ValueError:
                return _invalid(raw, f"{name}: '{f}' must be an integer, got {v.strip()[:40]!r}")
        else:
            data[f] = v
    if name == "SEARCH" and not str(data.get("query", "")).strip():
        return _invalid(raw, "SEARCH needs a keyword: <|SEARCH|>file|keyword<|END|>")
    try:
        return op_adapter().validate_python(data)
    except ValidationError as exc:
        return _invalid(raw, f"{name}: {_first_error(exc)}")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("op",))
    return f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid"))


def _next_end(text: str, start: int) -> int:
    pos = text.find(END, start)
    while pos != -1 and _escaped(text, pos):
        pos = text.find(END, pos + 1)
    return pos


def parse_ops(text: str) -> list[MemoryOp]:
    """Parse model output into ops. Never raises.

    Text outside tokens (the model's reasoning) is ignored. A span that cannot be parsed
    becomes an :class:`InvalidOp` with a message the agent can act on; output with no
    tokens at all becomes one :class:`InvalidOp`. Empty output gives ``[]``.

    Args:
        text: raw model output.

    Returns:
        The ops in order of appearance.
    """
    if not isinstance(text, str):
        return [_invalid(repr(text), "model output is not text")]
    ops: list[MemoryOp] = []
    pos = 0
    found = False
    while True:
        m = _TOKEN.search(text, pos)
        while m is not None and _escaped(text, m.start()):
            m = _TOKEN.search(text, m.start() + 1)
        if m is None:
            break
        found = True
        name = m.group(1).upper()
        if name == "END":
            ops.append(
                _invalid(text[m.start() : m.end() + 40], "<|END|> without an opening op token")
            )
            pos = m.end()
            continue
        if name == "DONE":
            ops.append(DoneOp())
            pos = m.end()
            rest = text[pos:]
            stripped = rest.lstrip()
            if stripped.startswith(END):
                pos += len(rest) - len(stripped) + len(END)
            continue
        end = _next_end(text, m.end())
        nxt = _TOKEN.search(text, m.end())
        while nxt is not None and (_escaped(text, nxt.start()) or nxt.group(1).upper() == "END"):
            nxt = _TOKEN.search(text, nxt.start() + 1)
        if end == -1 or (nxt is not None and nxt.start() < end):
            stop = nxt.start() if nxt is not None else len(text)
            if nxt is None:
                ops.append(
                    _invalid(text[m.start() : stop], f"{name} is missing its closing <|END|>")
                )
                break
            # Lenient: an op directly followed by another op token is closed there.
            op = _build(name, text[m.end() : stop].rstrip("\n"), text[m.start() : stop])
            if isinstance(op, InvalidOp):
                op = _invalid(op.raw, op.error + " (missing <|END|>)")
            ops.append(op)
            pos = stop
            continue
        ops.append(_build(name, text[m.end() : end], text[m.start() : end + len(END)]))
        pos = end + len(END)
    if not found and text.strip():
        ops.append(_invalid(text, f"no op tokens found; {_SYNTAX_HINT}"))
    return ops
