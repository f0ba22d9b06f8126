"""Compaction: drop old versions and the content nothing kept refers to.

:meth:`MemoryStore.compact <automem_sdk.store.MemoryStore.compact>` keeps the versions
from a *horizon* ``h`` on: the journal is rewritten to start with one ``snapshot`` entry
holding the whole tree at ``h`` (small contents carried in it, larger ones as content
objects), followed by the kept entries unchanged. Every kept version reads back exactly
as before; asking for an older one raises a clear error. Content objects and packs that
no kept entry reaches are then deleted (batched on object stores).

On object stores another writer may have stored a content object whose journal entry
is not written yet, so only objects older than a grace period are deleted there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from automem_sdk.store_journal import JournalChange, JournalEntry, ObjectStore
from automem_sdk.store_paths import RESERVED_DIR

if TYPE_CHECKING:
    from automem_sdk.store_journal import Backend

__all__ = ["CompactResult", "CompactionPlan", "collect_garbage", "plan_compaction"]

Manifest = dict[str, tuple[str, int]]


@dataclass
class CompactResult:
    """What :meth:`MemoryStore.compact` did.

    Attributes:
        horizon: the oldest version kept (0: nothing was dropped).
        versions_dropped: versions no longer readable.
        objects_deleted: content objects and packs deleted.
        bytes_freed: their size in bytes.
    """

    horizon: int
    versions_dropped: int
    objects_deleted: int
    bytes_freed: int


@dataclass
class CompactionPlan:
    """The rewritten journal and the objects it needs (see :func:`plan_compaction`)."""

    entries: list[JournalEntry]
    materialise: dict[str, bytes] = field(default_factory=dict)
    live_objects: set[str] = field(default_factory=set)
    live_packs: set[str] = field(default_factory=set)


def _carried(c: JournalEntry | JournalChange) -> bool:
    return c.data is not None or c.delta is not None


def plan_compaction(
    entries: list[JournalEntry],
    horizon: int,
    tree_at_horizon: Manifest,
    objects: ObjectStore,
    manifests: Callable[[str], Manifest],
    inline_max: int,
) -> CompactionPlan:
    """Plan the journal that keeps versions ``horizon..`` of ``entries``.

    ``objects`` resolves every content the plan must keep (it reads dropped entries'
    carried contents before they go).
    """
    kept = [e for e in entries if e.version > horizon]
    plan = CompactionPlan(entries=[])
    known: set[str] = set()
    changes: list[JournalChange] = []
    for path, (sha, size) in sorted(tree_at_horizon.items()):
        data = objects.get(sha)
        known.add(sha)
        if len(data) <= inline_max:
            changes.append(JournalChange(op="snapshot", path=path, sha256=sha, size=size,
                                         data=data.decode("utf-8")))  # fmt: skip
        else:
            plan.materialise[sha] = data
            changes.append(JournalChange(op="snapshot", path=path, sha256=sha, size=size))
    ts = next((e.ts for e in entries if e.version == horizon), time.time())
    snapshot = JournalEntry(version=horizon, op="snapshot", path="", changes=changes, ts=ts)
    for e in kept:  # contents a kept restore brings back from before the horizon
        if e.op == "restore" and e.sha256:
            plan.live_objects.add(e.sha256)
            for sha, _size in manifests(e.sha256).values():
                if sha not in known:
                    plan.materialise[sha] = objects.get(sha)
                    known.add(sha)
        known.update(t[1] for t in e.touched() if t[1])
    out: list[JournalEntry] = [snapshot]
    for e in kept:
        e = _rebased(e, known, objects, plan)
        out.append(e)
        if e.pack:
            plan.live_packs.add(e.pack)
        if e.op in ("restore", "redact", "rename"):
            continue
        for c in e.changes if e.changes is not None else [e]:
            if c.sha256 and not _carried(c) and not e.pack:
                plan.live_objects.add(c.sha256)
    plan.live_objects |= set(plan.materialise)
    plan.entries = out
    return plan


def _rebased(
    e: JournalEntry, known: set[str], objects: ObjectStore, plan: CompactionPlan
) -> JournalEntry:
    """``e`` with every delta whose base is gone replaced by a whole content object."""
    if e.delta is not None and e.sha256 and e.delta.base not in known:
        plan.materialise[e.sha256] = objects.get(e.sha256)
        return e.model_copy(update={"delta": None})
    if not e.changes or not any(c.delta is not None and c.delta.base not in known
                                for c in e.changes):  # fmt: skip
        return e
    changes = []
    for c in e.changes:
        if c.delta is not None and c.sha256 and c.delta.base not in known:
            plan.materialise[c.sha256] = objects.get(c.sha256)
            c = c.model_copy(update={"delta": None})
        changes.append(c)
    return e.model_copy(update={"changes": changes})


def collect_garbage(backend: Backend, plan: CompactionPlan, *, grace_s: float) -> tuple[int, int]:
    """Delete content objects and packs the plan does not keep.

    On object stores, objects modified less than ``grace_s`` seconds ago are kept (a
    concurrent writer may be about to commit an entry that needs them).

    Returns:
        ``(objects deleted, bytes freed)``.
    """
    root = f"{RESERVED_DIR}/objects"
    try:
        found = backend.fs.find(root, detail=True)
    except FileNotFoundError:
        return 0, 0
    now = time.time()
    doomed: list[str] = []
    freed = 0
    for name, info in found.items():
        rel = name.lstrip("/")
        parts = rel[len(root) + 1 :].split("/")
        if len(parts) != 2:
            continue
        if parts[0] == "packs":
            live = parts[1].removesuffix(".json") in plan.live_packs
        else:
            live = parts[0] + parts[1] in plan.live_objects
        if live:
            continue
        if not backend.appendable:
            modified = info.get("LastModified") or info.get("mtime")
            stamp = modified.timestamp() if hasattr(modified, "timestamp") else None
            if stamp is None or now - stamp < grace_s:
                continue
        doomed.append(rel)
        freed += int(info.get("size") or 0)
    backend.remove_many(doomed)
    return len(doomed), freed
