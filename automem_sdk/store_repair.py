"""Check and repair a store's journal and objects (``automem memory fsck|repair URL``).

:func:`fsck` reads a store's raw files and lists every problem without changing
anything. :func:`repair` fixes what can be fixed and never deletes user content:

* unreadable journal lines (garbage, a torn fragment) are moved to
  ``.automem/journal.rejected.jsonl`` with their line numbers, then dropped from the
  journal;
* an exact duplicate of a journal line is dropped (the first copy is kept);
* a missing or corrupt content object is rebuilt from any tree file whose bytes have
  that sha256 (a corrupt one is first set aside under ``.automem/rejected/``);
* the user's files are never removed or rewritten; what no longer matches the journal is
  adopted as a new ``sync`` version when the store is next opened.

Versions whose content cannot be rebuilt stay listed in the report (their history and
diffs fail clearly); the current tree always opens.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from automem_sdk.errors import AutomemError
from automem_sdk.store_journal import JournalEntry, JsonlJournal, ObjectStore, sha256_hex
from automem_sdk.store_paths import RESERVED_DIR

if TYPE_CHECKING:
    from automem_sdk.store_journal import Backend

__all__ = ["Problem", "StoreReport", "fsck", "repair"]

_REJECTED = f"{RESERVED_DIR}/journal.rejected.jsonl"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a store.

    Attributes:
        kind: ``unreadable-line``, ``duplicate-line``, ``torn-last-line``,
            ``version-gap``, ``missing-object``, ``corrupt-object``.
        where: the journal line number, or the object's sha256.
        detail: a sentence for people.
        fixable: whether :func:`repair` can fix it.
    """

    kind: str
    where: str
    detail: str
    fixable: bool


@dataclass
class StoreReport:
    """What :func:`fsck` found (and, after :func:`repair`, what was fixed)."""

    url: str
    versions: int = 0
    problems: list[Problem] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def lines(self) -> list[str]:
        """The report as lines of text."""
        out = [f"{self.url}: {self.versions} versions, {len(self.problems)} problem(s)"]
        out += [
            f"  {p.kind:16} {p.where:>14}  {p.detail}{'' if p.fixable else '  (not fixable)'}"
            for p in self.problems
        ]
        out += [f"  fixed: {f}" for f in self.fixed]
        return out


def _open_backend(url: str, storage_options: dict[str, Any] | None) -> Backend:
    import fsspec
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    from automem_sdk.store_journal import Backend

    base, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if not base.exists(root):
        raise AutomemError(f"no memory store at {url}")
    protocol = base.protocol if isinstance(base.protocol, str) else base.protocol[0]
    local = os.path.realpath(root) if isinstance(base, LocalFileSystem) else None
    backend = Backend(DirFileSystem(path=root, fs=base), protocol, local)
    if not backend.exists(f"{RESERVED_DIR}/format.json"):
        raise AutomemError(f"{url} is not a memory store (no {RESERVED_DIR}/format.json)")
    return backend


def _journal_lines(backend: Backend) -> tuple[list[bytes], bool]:
    data = backend.read(JsonlJournal.PATH) or b""
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"), bool(
        data and not data.endswith(b"\n")
    )


def _scan(backend: Backend, report: StoreReport) -> tuple[list[JournalEntry], list[int]]:
    """Parse the journal; return the good entries and the line numbers to drop."""
    lines, torn = _journal_lines(backend)
    entries: list[JournalEntry] = []
    drop: list[int] = []
    seen: set[bytes] = set()
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        if raw in seen:
            report.problems.append(
                Problem("duplicate-line", f"line {n}", "an exact copy of an earlier line", True)
            )
            drop.append(n)
            continue
        try:
            entry = JournalEntry.model_validate_json(raw)
        except (ValidationError, ValueError):
            last = n == len(lines) and torn
            kind = "torn-last-line" if last else "unreadable-line"
            report.problems.append(Problem(kind, f"line {n}", f"not an entry: {raw[:60]!r}", True))
            drop.append(n)
            continue
        seen.add(raw)
        expected = entries[-1].version + 1 if entries else 1
        if not entries and entry.op == "snapshot":
            expected = entry.version  # a compacted journal starts at its horizon
        if entry.version != expected:
            report.problems.append(
                Problem(
                    "version-gap",
                    f"line {n}",
                    f"version {entry.version} where {expected} was expected",
                    False,
                )
            )
            continue
        entries.append(entry)
    report.versions = entries[-1].version if entries else 0
    return entries, drop


def _needed_objects(entries: list[JournalEntry]) -> set[str]:
    shas: set[str] = set()
    purged = {c.sha256 for e in entries if e.op == "redact" for c in e.changes or [] if c.sha256}
    for e in entries:
        if e.data is not None or e.delta is not None or e.op == "rename":
            continue  # carried by the entry itself (whole or as a delta), or moved
        if e.changes is not None:
            if e.pack is None:
                shas.update(
                    c.sha256 for c in e.changes if c.sha256 and c.data is None and c.delta is None
                )
        elif e.sha256:
            shas.add(e.sha256)
    return shas - purged


def _tree_by_sha(backend: Backend) -> dict[str, str]:
    out: dict[str, str] = {}
    for rel in backend.list_files():
        data = backend.read(rel)
        if data is not None:
            out.setdefault(sha256_hex(data), rel)
    return out


def fsck(url: str, storage_options: dict[str, Any] | None = None) -> StoreReport:
    """List every problem of the store at ``url``; change nothing.

    Raises:
        AutomemError: there is no store at ``url``.
    """
    backend = _open_backend(url, storage_options)
    report = StoreReport(url)
    if backend.appendable:
        entries, _drop = _scan(backend, report)
    else:
        from automem_sdk.store_journal import ObjectJournal

        entries = ObjectJournal(backend).read_new()
        report.versions = entries[-1].version if entries else 0
    objects = ObjectStore(backend)
    tree = _tree_by_sha(backend) if entries else {}
    for sha in sorted(_needed_objects(entries)):
        data = backend.read(objects.path(sha))
        if data is None:
            report.problems.append(
                Problem("missing-object", sha[:12], "content object is missing", sha in tree)
            )
        elif sha256_hex(data) != sha:
            report.problems.append(
                Problem(
                    "corrupt-object", sha[:12], "content does not match its address", sha in tree
                )
            )
    return report


def repair(url: str, storage_options: dict[str, Any] | None = None) -> StoreReport:
    """Fix what can be fixed (see the module docstring); never delete user content.

    Stop other writers first: repair rewrites the journal of a local store.

    Returns:
        The report, with ``fixed`` listing what was done and ``problems`` what is left.

    Raises:
        AutomemError: there is no store at ``url``.
    """
    backend = _open_backend(url, storage_options)
    report = fsck(url, storage_options)
    if report.ok:
        return report
    if backend.appendable:
        lines, _torn = _journal_lines(backend)
        scratch = StoreReport(url)
        _entries, drop = _scan(backend, scratch)
        if drop:
            rejected = [
                json.dumps({"line": n, "text": lines[n - 1].decode("utf-8", "replace")})
                for n in drop
            ]
            old = backend.read(_REJECTED) or b""
            backend.write_atomic(_REJECTED, old + ("\n".join(rejected) + "\n").encode())
            keep = [raw for n, raw in enumerate(lines, 1) if n not in set(drop) and raw.strip()]
            backend.write_atomic(JsonlJournal.PATH, b"".join(raw + b"\n" for raw in keep))
            report.fixed.append(f"{len(drop)} journal line(s) set aside in {_REJECTED}")
    tree = _tree_by_sha(backend)
    objects = ObjectStore(backend)
    left: list[Problem] = []
    for p in report.problems:
        if p.kind not in ("missing-object", "corrupt-object"):
            if not p.fixable:
                left.append(p)
            continue
        sha = next((s for s in tree if s.startswith(p.where)), None)
        if sha is None:
            left.append(p)
            continue
        path = objects.path(sha)
        if p.kind == "corrupt-object":
            bad = backend.read(path) or b""
            backend.write_atomic(f"{RESERVED_DIR}/rejected/{sha}", bad)
        data = backend.read(tree[sha])
        assert data is not None
        backend.write_atomic(path, data)
        report.fixed.append(f"object {sha[:12]} rebuilt from {tree[sha]}")
    report.problems = left
    return report
