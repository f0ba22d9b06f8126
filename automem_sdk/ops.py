"""Memory operations: a pydantic discriminated union, each executed against a store.

Every op returns an :class:`OpResult` with text for the model and structured fields for
code. Mistakes the *agent* made (a missing file, a bad argument, a limit, a path escape)
come back as ``ok=False`` results; only bugs in our own code raise.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from automem_sdk.errors import AutomemError, MemoryNotFoundError

if TYPE_CHECKING:
    from automem_sdk.scaffold import Scaffold
    from automem_sdk.store import MemoryStore

__all__ = [
    "MEMORY_OP_NAMES",
    "MUTATING_OPS",
    "READING_OPS",
    "ActionOp",
    "AppendOp",
    "CountOp",
    "CreateOp",
    "CustomOp",
    "DeleteOp",
    "DoneOp",
    "HeadOp",
    "InsertOp",
    "InvalidOp",
    "ListOp",
    "MemoryOp",
    "OpResult",
    "ReadOp",
    "RenameOp",
    "ReplaceOp",
    "SearchOp",
    "TailOp",
    "UpsertOp",
    "WriteOp",
    "execute_op",
    "op_adapter",
    "op_from_dict",
]

MAX_LINES = 200


_STRIPPED = ("path", "dst", "prefix", "name", "key", "query")


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator(*_STRIPPED, mode="before", check_fields=False)
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v


class ReadOp(_Op):
    """Read a whole file."""

    op: Literal["read"] = "read"
    path: str


class HeadOp(_Op):
    """First ``n`` lines of a file."""

    op: Literal["head"] = "head"
    path: str
    n: int = Field(default=20, ge=1, le=MAX_LINES)


class TailOp(_Op):
    """Last ``n`` lines of a file."""

    op: Literal["tail"] = "tail"
    path: str
    n: int = Field(default=20, ge=1, le=MAX_LINES)


class SearchOp(_Op):
    """Lines containing ``query`` (case-insensitive), in one file or all files."""

    op: Literal["search"] = "search"
    query: str = Field(min_length=1)
    path: str | None = None

    @field_validator("path", mode="after")
    @classmethod
    def _all_files(cls, v: str | None) -> str | None:
        return None if v in ("", "*") else v


class CountOp(_Op):
    """Number of lines in a file (that contain ``query``, if given)."""

    op: Literal["count"] = "count"
    path: str
    query: str | None = None

    @field_validator("query", mode="after")
    @classmethod
    def _no_empty(cls, v: str | None) -> str | None:
        return v or None


class ListOp(_Op):
    """Files under a prefix."""

    op: Literal["list"] = "list"
    prefix: str = ""


class WriteOp(_Op):
    """Replace a file's whole content (creates it)."""

    op: Literal["write"] = "write"
    path: str
    content: str


class AppendOp(_Op):
    """Append a line (a newline is added when missing)."""

    op: Literal["append"] = "append"
    path: str
    content: str


class CreateOp(_Op):
    """Create a new file; fails if it exists."""

    op: Literal["create"] = "create"
    path: str
    content: str = ""


class UpsertOp(_Op):
    """Set the keyed line ``key: value`` (replaced if the key exists, else appended)."""

    op: Literal["upsert"] = "upsert"
    path: str
    key: str = Field(min_length=1)
    value: str


class ReplaceOp(_Op):
    """Replace one exact occurrence of ``old`` with ``new``."""

    op: Literal["replace"] = "replace"
    path: str
    old: str = Field(min_length=1)
    new: str


class InsertOp(_Op):
    """Insert text before 1-based ``line`` (0 or past the end appends)."""

    op: Literal["insert"] = "insert"
    path: str
    line: int = Field(ge=0)
    content: str


class DeleteOp(_Op):
    """Delete a file."""

    op: Literal["delete"] = "delete"
    path: str


class RenameOp(_Op):
    """Rename (move) a file."""

    op: Literal["rename"] = "rename"
    path: str
    dst: str


class DoneOp(_Op):
    """End the current routine."""

    op: Literal["done"] = "done"


class ActionOp(_Op):
    """Commit a task action (ends PLAN)."""

    op: Literal["action"] = "action"
    name: str


class CustomOp(_Op):
    """A scaffold-declared op composed of primitives (e.g. ``UPSERT_MAP``)."""

    op: Literal["custom"] = "custom"
    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    args: list[str] = Field(default_factory=list)

    @field_validator("name", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("args", mode="after")
    @classmethod
    def _no_lone_empty(cls, v: list[str]) -> list[str]:
        return [] if v == [""] else v


class InvalidOp(_Op):
    """A span of model output that could not be parsed; executing it reports the error."""

    op: Literal["invalid"] = "invalid"
    raw: str
    error: str


MemoryOp = Annotated[
    ReadOp
    | HeadOp
    | TailOp
    | SearchOp
    | CountOp
    | ListOp
    | WriteOp
    | AppendOp
    | CreateOp
    | UpsertOp
    | ReplaceOp
    | InsertOp
    | DeleteOp
    | RenameOp
    | DoneOp
    | ActionOp
    | CustomOp
    | InvalidOp,
    Field(discriminator="op"),
]

_ADAPTER: TypeAdapter[MemoryOp] = TypeAdapter(MemoryOp)

READING_OPS = frozenset({"read", "head", "tail", "search", "count", "list"})
MUTATING_OPS = frozenset(
    {"write", "append", "create", "upsert", "replace", "insert", "delete", "rename"}
)
MEMORY_OP_NAMES: tuple[str, ...] = (
    "read",
    "head",
    "tail",
    "search",
    "count",
    "list",
    "write",
    "append",
    "create",
    "upsert",
    "replace",
    "insert",
    "delete",
    "rename",
)


def op_adapter() -> TypeAdapter[MemoryOp]:
    """The pydantic adapter that validates any op dict into a :data:`MemoryOp`."""
    return _ADAPTER


def op_from_dict(data: dict[str, Any]) -> MemoryOp:
    """Validate a dict (e.g. a trace's ``ops`` entry) into an op.

    Raises:
        pydantic.ValidationError: the dict is not a valid op.
    """
    return _ADAPTER.validate_python(data)


class OpResult(BaseModel):
    """Outcome of one op: ``text`` for the model, the rest for code."""

    op: str
    ok: bool
    text: str
    path: str | None = None
    error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    changed: bool = False
    version: int | None = None


class _OpRefused(AutomemError):
    """An op whose arguments do not fit the file's current content (an agent mistake)."""


def _err(op: str, message: str, path: str | None = None) -> OpResult:
    return OpResult(op=op, ok=False, text=f"ERROR ({op}): {message}", path=path, error=message)


def _numbered(lines: list[str], start: int) -> str:
    return "\n".join(f"{start + i}: {line}" for i, line in enumerate(lines))


def _upsert_text(text: str, key: str, value: str) -> tuple[str, bool]:
    """Return the new text and whether an existing key line was replaced."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:.*$", re.MULTILINE)
    line = f"{key}: {value}"
    if pattern.search(text):
        return pattern.sub(lambda _m: line, text, count=1), True
    if text and not text.endswith("\n"):
        text += "\n"
    return text + line + "\n", False


def _ensure_newline(content: str) -> str:
    return content if content.endswith("\n") else content + "\n"


def execute_op(
    store: MemoryStore,
    op: MemoryOp,
    scaffold: Scaffold | None = None,
    *,
    _depth: int = 0,
) -> OpResult:
    """Run one op against a store.

    Agent mistakes (missing files, limits, path escapes, bad arguments) become
    ``ok=False`` results. ``done`` and ``action`` are control ops: they return an ok
    result and do not touch the store.

    Args:
        store: the memory store.
        op: the op to run.
        scaffold: supplies custom op definitions and the enabled vocabulary.

    Returns:
        The op's result.
    """
    name = op.op
    if scaffold is not None and name in MEMORY_OP_NAMES and not scaffold.allows(name):
        return _err(name, f"op '{name}' is not enabled in this scaffold")
    try:
        cap_error = _cap_error(store, op, scaffold)
        if cap_error:
            return _err(name, cap_error, getattr(op, "path", None))
        return _execute(store, op, scaffold, _depth)
    except AutomemError as exc:
        return _err(name, str(exc), getattr(op, "path", None))


def _file_cap(store: MemoryStore, path: str, scaffold: Scaffold | None) -> int | None:
    """The scaffold's size cap of ``path`` (looked up on the normalised path), if any."""
    if scaffold is None:
        return None
    try:
        norm = store.normalize(path)
    except AutomemError:
        return None
    spec = scaffold.file(norm)
    return None if spec is None else spec.max_bytes


def _cap_error(store: MemoryStore, op: MemoryOp, scaffold: Scaffold | None) -> str | None:
    """Refuse a write or create whose new content is over the scaffold's file cap.

    Ops that grow a file from its current content (append, insert, upsert, replace) are
    checked inside the store's critical section instead (``update(max_bytes=...)``).
    """
    if op.op not in ("write", "create"):
        return None
    path: str = getattr(op, "path", "")
    cap = _file_cap(store, path, scaffold)
    size = len(getattr(op, "content", "").encode())
    if cap is not None and size > cap:
        return (
            f"{path} would grow to {size} bytes, over its cap of {cap}; "
            "summarise or replace old lines instead"
        )
    return None


def _insert_text(old: str, line: int, content: str) -> tuple[str, int]:
    lines = old.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    idx = len(lines) if line == 0 or line > len(lines) else line - 1
    lines.insert(idx, _ensure_newline(content))
    return "".join(lines), idx


def _execute(store: MemoryStore, op: MemoryOp, scaffold: Scaffold | None, depth: int) -> OpResult:
    if isinstance(op, DoneOp):
        return OpResult(op="done", ok=True, text="done")
    if isinstance(op, ActionOp):
        return OpResult(op="action", ok=True, text=f"action: {op.name}", data={"action": op.name})
    if isinstance(op, InvalidOp):
        return OpResult(op="invalid", ok=False, text=f"PARSE ERROR: {op.error}", error=op.error)
    if isinstance(op, CustomOp):
        if scaffold is None:
            return _err("custom", f"unknown op '{op.name}' (no scaffold declares it)")
        if depth > 3:
            return _err("custom", f"custom op '{op.name}' nests too deeply")
        try:
            steps = scaffold.expand_custom(op)
        except AutomemError as exc:
            return _err(op.name.lower(), str(exc))
        results = [execute_op(store, s, scaffold, _depth=depth + 1) for s in steps]
        ok = all(r.ok for r in results)
        return OpResult(
            op=op.name.lower(),
            ok=ok,
            text="\n".join(r.text for r in results),
            path=next((r.path for r in results if r.path), None),
            error=next((r.error for r in results if r.error), None),
            changed=any(r.changed for r in results),
            version=max((r.version for r in results if r.version is not None), default=None),
            data={"steps": [r.model_dump() for r in results]},
        )
    if isinstance(op, ListOp):
        files = store.list(op.prefix)
        text = "\n".join(files) if files else f"(no files under '{op.prefix or '/'}')"
        return OpResult(op="list", ok=True, text=text, data={"files": files})
    if isinstance(op, SearchOp):
        path = op.path if op.path not in (None, "", "*") else None
        hits = store.search(op.query, path)
        if not hits:
            text = f"no lines match '{op.query}'" + (f" in {path}" if path else "")
        else:
            text = "\n".join(f"{h.path}:{h.line}: {h.text}" for h in hits)
        return OpResult(
            op="search",
            ok=True,
            text=text,
            path=path,
            data={"hits": [h.model_dump() for h in hits], "n": len(hits)},
        )
    path = op.path
    if isinstance(op, ReadOp | HeadOp | TailOp | CountOp):
        content = store.read(path)
        lines = content.splitlines()
        if isinstance(op, ReadOp):
            text = content if content else f"({path} is empty)"
            return OpResult(op="read", ok=True, text=text, path=path, data={"lines": len(lines)})
        if isinstance(op, HeadOp):
            sel = lines[: op.n]
            return OpResult(
                op="head", ok=True, text=_numbered(sel, 1) or f"({path} is empty)", path=path
            )
        if isinstance(op, TailOp):
            start = max(0, len(lines) - op.n)
            text = _numbered(lines[start:], start + 1) or f"({path} is empty)"
            return OpResult(op="tail", ok=True, text=text, path=path)
        q = (op.query or "").lower()
        n = sum(1 for ln in lines if q in ln.lower()) if q else len(lines)
        return OpResult(op="count", ok=True, text=f"{n} lines", path=path, data={"count": n})
    if isinstance(op, WriteOp):
        v = store.write(path, op.content)
        return _changed("write", path, v, f"wrote {len(op.content)} chars to {path}")
    cap = _file_cap(store, path, scaffold)
    if isinstance(op, AppendOp):
        if not op.content.strip():
            return _err("append", "nothing to append (empty note)", path)
        note = _ensure_newline(op.content)
        if cap is None:
            v = store.append(path, note)
        else:
            got = store.update(path, lambda old: (old or "") + note, max_bytes=cap, op="append")
            v = store.version if got is None else got
        return _changed("append", path, v, f"appended to {path}")
    if isinstance(op, CreateOp):
        v = store.create(path, op.content)
        return _changed("create", path, v, f"created {path}")
    if isinstance(op, UpsertOp):
        key, value = op.key.strip(), op.value.strip()
        outcome: dict[str, bool] = {}

        def upsert(old: str | None) -> str:
            new, outcome["replaced"] = _upsert_text(old or "", key, value)
            return new

        got = store.update(path, upsert, max_bytes=cap)
        if got is None:
            return OpResult(op="upsert", ok=True, text=f"{path}: '{op.key}' unchanged", path=path)
        verb = "updated" if outcome.get("replaced") else "added"
        return _changed("upsert", path, got, f"{verb} '{op.key}' in {path}")
    if isinstance(op, ReplaceOp):
        old_text, new_text = op.old, op.new

        def replace(old: str | None) -> str:
            if old is None:
                raise MemoryNotFoundError(f"{path} does not exist")
            count = old.count(old_text)
            if count == 0:
                raise _OpRefused(f"text not found in {path}: {old_text[:80]!r}")
            if count > 1:
                raise _OpRefused(f"text occurs {count} times in {path}; make it unique")
            return old.replace(old_text, new_text, 1)

        try:
            got = store.update(path, replace, max_bytes=cap)
        except _OpRefused as exc:
            return _err("replace", str(exc), path)
        v = store.version if got is None else got
        return _changed("replace", path, v, f"replaced 1 occurrence in {path}")
    if isinstance(op, InsertOp):
        where: dict[str, int] = {}

        def insert(old: str | None) -> str:
            new, where["idx"] = _insert_text(old or "", op.line, op.content)
            return new

        got = store.update(path, insert, max_bytes=cap)
        v = store.version if got is None else got
        return _changed("insert", path, v, f"inserted at line {where['idx'] + 1} of {path}")
    if isinstance(op, DeleteOp):
        v = store.delete(path)
        return _changed("delete", path, v, f"deleted {path}")
    if isinstance(op, RenameOp):
        v = store.rename(path, op.dst)
        return _changed("rename", path, v, f"renamed {path} -> {op.dst}", dst=op.dst)
    raise AssertionError(f"unhandled op {op!r}")  # pragma: no cover - union is exhaustive


def _changed(op: str, path: str, version: int, text: str, **data: Any) -> OpResult:
    return OpResult(op=op, ok=True, text=text, path=path, changed=True, version=version, data=data)
