"""One handler per memory op: ``(store, op, file cap or None) -> OpResult``.

The rows of :data:`automem_sdk.ops.OP_SPECS` point here; call
:func:`automem_sdk.ops.execute_op` rather than these.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from automem_sdk.errors import AutomemError, MemoryNotFoundError
from automem_sdk.op_models import (
    ActionOp,
    AppendOp,
    CountOp,
    CreateOp,
    DeleteOp,
    HeadOp,
    InsertOp,
    InvalidOp,
    ListOp,
    OpResult,
    ReadOp,
    RenameOp,
    ReplaceOp,
    SearchOp,
    TailOp,
    UpsertOp,
    WriteOp,
    error_result,
)

if TYPE_CHECKING:
    from automem_sdk.store import MemoryStore

__all__ = [
    "run_action",
    "run_append",
    "run_count",
    "run_create",
    "run_delete",
    "run_done",
    "run_head",
    "run_insert",
    "run_invalid",
    "run_list",
    "run_read",
    "run_rename",
    "run_replace",
    "run_search",
    "run_tail",
    "run_upsert",
    "run_write",
]


class _OpRefused(AutomemError):
    """An op whose arguments do not fit the file's current content (an agent mistake)."""


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


def _insert_text(old: str, line: int, content: str) -> tuple[str, int]:
    lines = old.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    idx = len(lines) if line == 0 or line > len(lines) else line - 1
    lines.insert(idx, _ensure_newline(content))
    return "".join(lines), idx


def _changed(op: str, path: str, version: int, text: str, **data: Any) -> OpResult:
    return OpResult(op=op, ok=True, text=text, path=path, changed=True, version=version, data=data)


def run_done(_store: MemoryStore, _op: Any, _cap: int | None) -> OpResult:
    return OpResult(op="done", ok=True, text="done")


def run_action(_store: MemoryStore, op: ActionOp, _cap: int | None) -> OpResult:
    return OpResult(op="action", ok=True, text=f"action: {op.name}", data={"action": op.name})


def run_invalid(_store: MemoryStore, op: InvalidOp, _cap: int | None) -> OpResult:
    return OpResult(op="invalid", ok=False, text=f"PARSE ERROR: {op.error}", error=op.error)


def run_list(store: MemoryStore, op: ListOp, _cap: int | None) -> OpResult:
    files = store.list(op.prefix)
    text = "\n".join(files) if files else f"(no files under '{op.prefix or '/'}')"
    return OpResult(op="list", ok=True, text=text, data={"files": files})


def run_search(store: MemoryStore, op: SearchOp, _cap: int | None) -> OpResult:
    path = op.path if op.path not in (None, "", "*") else None
    hits = store.search(op.query, path)
    if not hits:
        text = f"no lines match '{op.query}'" + (f" in {path}" if path else "")
    else:
        text = "\n".join(f"{h.path}:{h.line}: {h.text}" for h in hits)
    data = {"hits": [h.model_dump() for h in hits], "n": len(hits)}
    return OpResult(op="search", ok=True, text=text, path=path, data=data)


def run_read(store: MemoryStore, op: ReadOp, _cap: int | None) -> OpResult:
    content = store.read(op.path)
    text = content if content else f"({op.path} is empty)"
    lines = len(content.splitlines())
    return OpResult(op="read", ok=True, text=text, path=op.path, data={"lines": lines})


def run_head(store: MemoryStore, op: HeadOp, _cap: int | None) -> OpResult:
    sel = store.read(op.path).splitlines()[: op.n]
    text = _numbered(sel, 1) or f"({op.path} is empty)"
    return OpResult(op="head", ok=True, text=text, path=op.path)


def run_tail(store: MemoryStore, op: TailOp, _cap: int | None) -> OpResult:
    lines = store.read(op.path).splitlines()
    start = max(0, len(lines) - op.n)
    text = _numbered(lines[start:], start + 1) or f"({op.path} is empty)"
    return OpResult(op="tail", ok=True, text=text, path=op.path)


def run_count(store: MemoryStore, op: CountOp, _cap: int | None) -> OpResult:
    lines = store.read(op.path).splitlines()
    q = (op.query or "").lower()
    n = sum(1 for ln in lines if q in ln.lower()) if q else len(lines)
    return OpResult(op="count", ok=True, text=f"{n} lines", path=op.path, data={"count": n})


def run_write(store: MemoryStore, op: WriteOp, _cap: int | None) -> OpResult:
    v = store.write(op.path, op.content)
    return _changed("write", op.path, v, f"wrote {len(op.content)} chars to {op.path}")


def run_append(store: MemoryStore, op: AppendOp, cap: int | None) -> OpResult:
    if not op.content.strip():
        return error_result("append", "nothing to append (empty note)", op.path)
    note = _ensure_newline(op.content)
    if cap is None:
        v = store.append(op.path, note)
    else:
        got = store.update(op.path, lambda old: (old or "") + note, max_bytes=cap, op="append")
        v = store.version if got is None else got
    return _changed("append", op.path, v, f"appended to {op.path}")


def run_create(store: MemoryStore, op: CreateOp, _cap: int | None) -> OpResult:
    v = store.create(op.path, op.content)
    return _changed("create", op.path, v, f"created {op.path}")


def run_upsert(store: MemoryStore, op: UpsertOp, cap: int | None) -> OpResult:
    key, value = op.key.strip(), op.value.strip()
    outcome: dict[str, bool] = {}

    def upsert(old: str | None) -> str:
        new, outcome["replaced"] = _upsert_text(old or "", key, value)
        return new

    got = store.update(op.path, upsert, max_bytes=cap)
    if got is None:
        return OpResult(op="upsert", ok=True, text=f"{op.path}: '{op.key}' unchanged", path=op.path)
    verb = "updated" if outcome.get("replaced") else "added"
    return _changed("upsert", op.path, got, f"{verb} '{op.key}' in {op.path}")


def run_replace(store: MemoryStore, op: ReplaceOp, cap: int | None) -> OpResult:
    path, old_text, new_text = op.path, op.old, op.new

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
        return error_result("replace", str(exc), path)
    v = store.version if got is None else got
    return _changed("replace", path, v, f"replaced 1 occurrence in {path}")


def run_insert(store: MemoryStore, op: InsertOp, cap: int | None) -> OpResult:
    where: dict[str, int] = {}

    def insert(old: str | None) -> str:
        new, where["idx"] = _insert_text(old or "", op.line, op.content)
        return new

    got = store.update(op.path, insert, max_bytes=cap)
    v = store.version if got is None else got
    return _changed("insert", op.path, v, f"inserted at line {where['idx'] + 1} of {op.path}")


def run_delete(store: MemoryStore, op: DeleteOp, _cap: int | None) -> OpResult:
    v = store.delete(op.path)
    return _changed("delete", op.path, v, f"deleted {op.path}")


def run_rename(store: MemoryStore, op: RenameOp, _cap: int | None) -> OpResult:
    v = store.rename(op.path, op.dst)
    return _changed("rename", op.path, v, f"renamed {op.path} -> {op.dst}", dst=op.dst)
