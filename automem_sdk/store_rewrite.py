"""In-place journal rewrites that keep every line's offset and every object's name
(redaction).

Format 2 carries small contents and deltas inside journal lines, so purging a content
means editing the lines that carry it. Each such line is rewritten *to the same length*
(the shorter JSON padded with spaces, which JSON ignores), so no other line moves: a
reader in another process that has consumed the journal up to some offset stays
correct, and a writer appending at the end is unaffected.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pydantic import ValidationError

from automem_sdk.store_journal import (
    JournalChange,
    JournalEntry,
    JsonlJournal,
    ObjectJournal,
    ObjectStore,
    _parse_lines,
)

if TYPE_CHECKING:
    from automem_sdk.store_journal import Backend

__all__ = ["strip_carried", "strip_carried_objects"]


def _stripped(entry: JournalEntry, shas: set[str]) -> JournalEntry | None:
    """``entry`` without the carried contents of ``shas`` (``None``: nothing to strip)."""
    changed = False
    update: dict[str, object] = {}
    if entry.sha256 in shas and (entry.data is not None or entry.delta is not None):
        update.update(data=None, delta=None)
        changed = True
    if entry.changes:
        changes: list[JournalChange] = []
        for c in entry.changes:
            if c.sha256 in shas and (c.data is not None or c.delta is not None):
                c = c.model_copy(update={"data": None, "delta": None})
                changed = True
            changes.append(c)
        update["changes"] = changes
    return entry.model_copy(update=update) if changed else None


def strip_carried(backend: Backend, shas: set[str]) -> int:
    """Remove the contents of ``shas`` from every JSONL journal line that carries them.

    The caller holds the store lock. Returns the number of lines rewritten.
    """
    if not shas:
        return 0
    rel = JsonlJournal.PATH
    data = backend.read(rel) or b""
    edits: list[tuple[int, bytes]] = []
    offset = 0
    for raw in data.split(b"\n"):
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip() or not any(s.encode() in raw for s in shas):
            continue
        try:
            entry = JournalEntry.model_validate_json(raw)
        except (ValidationError, ValueError):
            continue
        new = _stripped(entry, shas)
        if new is None:
            continue
        line = new.to_line()
        if len(line) > len(raw):  # cannot happen: fields are only removed
            raise AssertionError("a stripped journal line grew")
        edits.append((start, line + b" " * (len(raw) - len(line))))
    if not edits:
        return 0
    if backend.local_root is not None:
        fd = os.open(backend.local(rel), os.O_WRONLY)
        try:
            for start, line in edits:
                os.pwrite(fd, line, start)
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        buf = bytearray(data)
        for start, line in edits:
            buf[start : start + len(line)] = line
        backend.fs.pipe_file(rel, bytes(buf))
    return len(edits)


def _carrying(backend: Backend, folder: str, needles: list[bytes]) -> list[tuple[str, bytes]]:
    """``(path, bytes)`` of every object directly in ``folder`` that holds a needle."""
    backend.invalidate(folder)
    try:
        names = backend.fs.ls(folder, detail=False)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        rel = f"{folder}/{name.rsplit('/', 1)[-1]}"
        blob = backend.read(rel)
        if blob is not None and any(n in blob for n in needles):
            out.append((rel, blob))
    return out


def strip_carried_objects(backend: Backend, shas: set[str]) -> int:
    """Object stores: rewrite every journal object and pack that carries ``shas``.

    Entry objects and segments keep their names (versions do not move), packs keep
    their address (entries refer to it; each content in a pack is verified by its own
    sha256). Returns the number of objects rewritten.
    """
    import json

    if not shas:
        return 0
    needles = [s.encode() for s in shas]
    rewritten = 0
    for rel, blob in _carrying(backend, ObjectJournal.DIR, needles):
        entries = _parse_lines(blob, rel)
        new = [_stripped(e, shas) or e for e in entries]
        if new != entries:
            backend.write_atomic(rel, b"".join(e.to_line() + b"\n" for e in new))
            rewritten += 1
    packs = ObjectStore.pack_path("x").rsplit("/", 1)[0]
    for rel, blob in _carrying(backend, packs, needles):
        body = json.loads(blob)
        objects = {k: v for k, v in body.get("objects", {}).items() if k not in shas}
        if len(objects) != len(body.get("objects", {})):
            body["objects"] = objects
            backend.write_atomic(rel, json.dumps(body, ensure_ascii=False).encode("utf-8"))
            rewritten += 1
    return rewritten
