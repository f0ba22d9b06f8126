"""Storage plumbing for :class:`~automem_sdk.store.MemoryStore`: files, objects, journal, lock.

Layout of a store root (everything of ours lives under ``.automem/``)::

    notes.md, plans/today.md, ...      the user's files (the "tree")
    .automem/format.json               {"schema_version": 2, "journal": "jsonl" | "objects"}
    .automem/journal.jsonl             one JournalEntry per line      (appendable backends)
    .automem/journal/<version>.json    one JournalEntry per object    (object stores)
    .automem/journal/seg-<version>.jsonl  compacted entries 1..version (object stores)
    .automem/objects/<sh>/<a256>       content-addressed file versions (sha256 of the bytes)
                                       too big to ride in their journal entry (format 2
                                       carries small contents and deltas in the entry)
    .automem/index.json                content cache by sha256 (speeds up reopening)
    .automem/checkpoint.json           the tree at version k, where entry k ends (open
                                       reads the journal after it only)
    .automem/horizon.json              the oldest version kept by compact()
    .automem/lock, .automem/tmp/       local only: flock file, temp files for atomic renames

Journal lines are appended with one write each. A process killed mid-append leaves a
*torn* last line with no newline; readers only consume complete lines, and the next
writer (which holds the lock, so the fragment cannot belong to a live writer) starts its
line with a newline so the fragment becomes an unparseable line that is skipped. A prefix
of a JSON object is never valid JSON, so a fragment can never be mistaken for an entry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from automem_sdk.errors import AutomemError, MemoryConflictError
from automem_sdk.store_backend import Backend, sha256_hex
from automem_sdk.store_delta import Delta
from automem_sdk.store_objects import ObjectStore
from automem_sdk.store_paths import RESERVED_DIR

if TYPE_CHECKING:
    pass

__all__ = [
    "FORMAT_VERSION",
    "Backend",
    "CommitRace",
    "Delta",
    "JournalChange",
    "JournalEntry",
    "JournalRewritten",
    "JsonlJournal",
    "Layout",
    "ObjectJournal",
    "ObjectStore",
    "StoreLock",
    "read_format",
    "root_lock",
    "sha256_hex",
    "write_format",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
"""On-disk format version written to ``.automem/format.json``.

Format 2 adds deltas and small contents carried in journal entries (``delta``,
``data``) and checkpoints; a format-1 store is migrated when opened for writing (its
entries are valid format-2 entries, so nothing is rewritten)."""

Layout = Literal["jsonl", "objects"]

_ENTRY_NAME = re.compile(r"^(\d{12})\.json$")
_SEGMENT_NAME = re.compile(r"^seg-(\d{12})\.jsonl$")


class CommitRace(MemoryConflictError):
    """Another writer took the next journal version first: catch up and try again."""


class JournalRewritten(AutomemError):
    """Another store compacted (rewrote) the journal: read the store again from disk."""


class JournalChange(BaseModel):
    """One file's net change inside a ``batch`` entry.

    Attributes:
        op: the last mutation of the file in the batch (``write``, ``append``, ...).
        path: the file.
        sha256: address of its new content, ``None`` when it was removed.
        size: size in bytes of the new content.
        delta: the new content as an edit of the file's previous version.
        data: a small new content carried whole.
    """

    model_config = ConfigDict(frozen=True)

    op: str
    path: str
    sha256: str | None = None
    size: int = 0
    delta: Delta | None = None
    data: str | None = None


class JournalEntry(BaseModel):
    """One committed mutation of a store.

    Attributes:
        version: 1-based, contiguous version number assigned under the store lock.
        op: ``write``, ``append``, ``create``, ``delete``, ``rename``, ``restore``,
            ``batch``, ``sync`` (a change made outside the store, adopted when the store
            was opened) or ``redact`` (old contents purged; ``changes`` lists them and
            ``path`` holds the reason).
        path: the file touched (``""`` for ``restore``).
        dst: rename target, else ``None``.
        sha256: address of the file's new content (``restore``: of the tree manifest);
            ``None`` when the file was removed.
        size: size in bytes of the new content (``restore``: of the whole tree).
        ts: Unix time of the commit.
        target: for ``restore``, the version that was restored.
        changes: for ``batch`` (many mutations committed as one version), each file's
            net change.
        pack: for ``batch`` on object stores, the address of the one object that holds
            the batch's new contents (one PUT instead of one per file).
        data: a small new content carried in the entry itself (no separate content
            object: one file or PUT fewer per write, one read fewer on open).
        delta: the new content as an edit of the file's previous version (format 2).
    """

    model_config = ConfigDict(frozen=True)

    version: int
    op: str
    path: str
    dst: str | None = None
    sha256: str | None = None
    size: int = 0
    ts: float
    target: int | None = None
    changes: list[JournalChange] | None = None
    pack: str | None = None
    data: str | None = None
    delta: Delta | None = None

    def touched(self) -> list[tuple[str, str | None, int]]:
        """``(path, new sha256 or None, size)`` for every file this entry changes.

        ``restore`` entries are not covered (they replace the whole tree).
        """
        if self.op == "redact":
            return []  # it purges old contents; the tree does not change
        if self.changes is not None:
            return [(c.path, c.sha256, c.size) for c in self.changes]
        if self.op == "rename":
            out: list[tuple[str, str | None, int]] = [(self.path, None, 0)]
            if self.dst and self.sha256:
                out.append((self.dst, self.sha256, self.size))
            return out
        return [(self.path, self.sha256, self.size)]

    def to_line(self) -> bytes:
        """Serialise as one compact JSON line (no trailing newline)."""
        return self.model_dump_json(exclude_none=True).encode("utf-8")


def _parse_lines(data: bytes, where: str) -> list[JournalEntry]:
    out: list[JournalEntry] = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            out.append(JournalEntry.model_validate_json(raw))
        except (ValidationError, ValueError):
            log.debug("skipping a torn or unreadable journal line in %s: %r", where, raw[:80])
    return out


class JsonlJournal:
    """Journal as one append-only JSONL file (local disk and in-memory filesystems)."""

    layout: Layout = "jsonl"
    PATH = f"{RESERVED_DIR}/journal.jsonl"

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._offset = 0  # end of the last complete line consumed
        self._seen = 0  # file size when last read
        self._partial = False  # bytes after _offset that do not end a line
        self.last_line = b""  # the raw journal line of the last entry consumed
        self._ident: Any = None  # Backend.ident of the journal file when first read

    def start_at(self, offset: int, line_len: int, line_sha: str) -> bool:
        """Continue after a checkpoint whose entry's line (``line_len`` bytes, hash
        ``line_sha``) ends at byte ``offset``.

        Returns ``False`` (nothing changed) when the journal does not hold that line
        there: it was rewritten or truncated since, and must be read from the start.
        """
        start = offset - line_len - 1
        if line_len <= 0 or start < 0:
            return False
        data = self._backend.read_from(self.PATH, start)
        line = data[:line_len]
        if data[line_len : line_len + 1] != b"\n" or sha256_hex(line) != line_sha:
            return False
        self._offset = self._seen = offset
        self.last_line = line
        return True

    def position(self) -> tuple[int, bytes]:
        """``(offset after the last entry consumed, its raw line)`` for a checkpoint."""
        return self._offset, self.last_line

    def read_prefix(self, upto: int) -> list[JournalEntry]:
        """Entries ``1..upto`` (read from the start of the journal)."""
        data = self._backend.read_from(self.PATH, 0)[: self._offset]
        out: list[JournalEntry] = []
        for e in _parse_lines(data, self.PATH):
            if e.version > upto:
                break
            if out and e.version == out[-1].version and e == out[-1]:
                continue  # an exact duplicate line (see MemoryStore._take)
            out.append(e)
        return out

    def _replaced(self) -> bool:
        ident = self._backend.ident(self.PATH)
        if self._ident is None:
            self._ident = ident
            return False
        return ident is not None and ident != self._ident

    def _grown(self) -> bool:
        if self._replaced():
            return True
        size = self._backend.size(self.PATH)
        if size is not None:
            return size != self._seen
        return bool(self._backend.read_from(self.PATH, self._seen))

    def changed(self) -> bool:
        """Cheap check: has the journal grown since it was last read?"""
        return self._grown()

    def read_new(self) -> list[JournalEntry]:
        """Return the complete entries appended since the last call.

        Raises:
            JournalRewritten: the journal file was replaced (compacted) since.
        """
        if self._replaced():
            raise JournalRewritten("the journal was rewritten by another store; reopen")
        data = self._backend.read_from(self.PATH, self._offset)
        self._seen = self._offset + len(data)
        cut = data.rfind(b"\n") + 1
        if data:
            self._partial = cut < len(data)
        out = _parse_lines(data[:cut], self.PATH) if cut else []
        if out:
            body = data[:cut].rstrip(b"\n")
            self.last_line = body[body.rfind(b"\n") + 1 :]
        if self._partial:
            # a complete entry whose newline was lost (a crash between the two, or an
            # editor) is an entry: take it; the next append starts with a newline
            tail = _parse_lines(data[cut:], self.PATH)
            if tail:
                log.warning("%s: last line had no newline; taking it as entry %d",
                            self.PATH, tail[-1].version)  # fmt: skip
                out.extend(tail)
                self.last_line = b""  # not a checkpoint anchor: the next append fixes it
                cut = len(data)
        self._offset += cut
        return out

    #: a cheap check before each locked write (a ``stat`` or a short tail read)
    probe_before_write = True

    def append(self, entry: JournalEntry) -> None:
        """Append ``entry``; the caller holds the lock and has just called :meth:`read_new`.

        Raises:
            CommitRace: another writer appended since the last read.
        """
        if self._grown():
            raise CommitRace("the journal changed during a locked write; retry")
        body = entry.to_line()
        line = (b"\n" if self._partial else b"") + body + b"\n"
        self._backend.append_bytes(self.PATH, line)
        self._seen += len(line)
        self._offset = self._seen
        self._partial = False
        self.last_line = body
        if self._ident is None:
            self._ident = self._backend.ident(self.PATH)

    def rewrite(self, entries: list[JournalEntry]) -> None:
        """Replace the journal with ``entries`` (compaction; the caller holds the lock)."""
        blob = b"".join(e.to_line() + b"\n" for e in entries)
        self._backend.write_atomic(self.PATH, blob)
        self._offset = self._seen = len(blob)
        self._partial = False
        self.last_line = entries[-1].to_line() if entries else b""
        self._ident = self._backend.ident(self.PATH)

    def compact(self, entries: list[JournalEntry]) -> None:
        """Nothing to do: the JSONL journal is already one file."""


class ObjectJournal:
    """Journal as one object per entry (object stores: every commit is one atomic PUT).

    Multi-writer protocol: entry ``v`` is created *put-if-absent* (s3fs sends
    ``IfNoneMatch: *``), so two writers can never both take version ``v``; the loser
    gets :class:`CommitRace`, catches up with the winner's entries and tries again. No
    probe precedes a commit. On a backend without conditional writes
    (``Backend.conditional`` is false) the next key is probed before the PUT instead,
    which is safe for one writer at a time only.
    """

    layout: Layout = "objects"
    DIR = f"{RESERVED_DIR}/journal"

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._last = 0
        self.probe_before_write = not backend.conditional

    def start_at(self, version: int) -> None:
        """Continue after a checkpoint at ``version`` (entries up to it are not read)."""
        self._last = version

    def read_prefix(self, upto: int) -> list[JournalEntry]:
        """Entries ``1..upto`` (a fresh read of the journal)."""
        return [e for e in ObjectJournal(self._backend).read_new() if e.version <= upto]

    @classmethod
    def entry_path(cls, version: int) -> str:
        """Relative path of the object holding entry ``version``."""
        return f"{cls.DIR}/{version:012d}.json"

    def changed(self) -> bool:
        """Probe whether the entry after the last one read exists (one GET request)."""
        self._backend.invalidate(self.DIR)
        return self._backend.read(self.entry_path(self._last + 1)) is not None

    def read_new(self) -> list[JournalEntry]:
        """Return the entries committed since the last call."""
        self._backend.invalidate(self.DIR)
        try:
            names = [n.rsplit("/", 1)[-1] for n in self._backend.fs.ls(self.DIR, detail=False)]
        except FileNotFoundError:
            return []
        segments = sorted(int(m.group(1)) for n in names if (m := _SEGMENT_NAME.match(n)))
        versions = sorted(int(m.group(1)) for n in names if (m := _ENTRY_NAME.match(n)))
        out: list[JournalEntry] = []
        last = self._last
        if segments and segments[-1] > last:
            seg = segments[-1]
            blob = self._backend.read(f"{self.DIR}/seg-{seg:012d}.jsonl") or b""
            out.extend(e for e in _parse_lines(blob, self.DIR) if e.version > last)
            last = max(last, seg)
        for v in versions:
            if v <= last:
                continue
            if v != last + 1:
                break  # a gap: the entry in between is not visible yet
            data = self._backend.read(self.entry_path(v))
            if data is None:
                break
            got = _parse_lines(data, self.entry_path(v))
            if not got:
                break
            out.extend(got)
            last = v
        if out:
            self._last = max(self._last, out[-1].version)
        return out

    def append(self, entry: JournalEntry) -> None:
        """Create ``entry``'s object; one conditional PUT.

        Raises:
            CommitRace: another writer already took this version.
        """
        if not self._backend.create_only(self.entry_path(entry.version), entry.to_line() + b"\n"):
            raise CommitRace(f"version {entry.version} was taken by another writer; retry")
        self._last = entry.version

    def compact(self, entries: list[JournalEntry]) -> None:
        """Fold all entries into one segment object and drop the per-entry objects."""
        if not entries:
            return
        last = entries[-1].version
        blob = b"".join(e.to_line() + b"\n" for e in entries)
        self._backend.write_atomic(f"{self.DIR}/seg-{last:012d}.jsonl", blob)
        self._backend.invalidate(self.DIR)
        doomed: list[str] = []
        for name in self._backend.fs.ls(self.DIR, detail=False):
            base = name.rsplit("/", 1)[-1]
            entry = _ENTRY_NAME.match(base)
            seg = _SEGMENT_NAME.match(base)
            if (entry and int(entry.group(1)) <= last) or (seg and int(seg.group(1)) < last):
                doomed.append(f"{self.DIR}/{base}")
        self._backend.remove_many(doomed)


def read_format(backend: Backend) -> dict[str, Any] | None:
    """Read ``.automem/format.json`` (``None`` if the store has none yet).

    Raises:
        AutomemError: the store was written by a newer, unsupported format version.
    """
    data = backend.read(f"{RESERVED_DIR}/format.json")
    if data is None:
        return None
    try:
        fmt: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise AutomemError(f"store format file is unreadable: {exc}") from exc
    version = int(fmt.get("schema_version", 0))
    fmt["schema_version"] = version
    if version > FORMAT_VERSION:
        raise AutomemError(
            f"store format version {version} is newer than this automem supports "
            f"({FORMAT_VERSION}); upgrade automem-sdk"
        )
    return fmt


def write_format(backend: Backend, layout: Layout) -> None:
    """Write ``.automem/format.json`` for a new store."""
    body = {"schema_version": FORMAT_VERSION, "journal": layout}
    backend.write_atomic(f"{RESERVED_DIR}/format.json", json.dumps(body).encode())


# ``memory://`` is one process-wide filesystem, so the lock that guards a root in it must
# be process-wide too: every MemoryStore object opened on that root shares it. (The one
# piece of module state in the store, and it only ever holds locks.)
_ROOT_LOCKS: dict[str, threading.RLock] = {}
_ROOT_LOCKS_GUARD = threading.Lock()


def root_lock(key: str) -> threading.RLock:
    """The process-wide re-entrant lock of the store root ``key`` (e.g. ``memory:/x``)."""
    with _ROOT_LOCKS_GUARD:
        lock = _ROOT_LOCKS.get(key)
        if lock is None:
            lock = _ROOT_LOCKS[key] = threading.RLock()
        return lock


class StoreLock:
    """Re-entrant mutation lock: a thread lock plus, on local disk, an ``flock``.

    ``flock`` locks belong to an open file description, so two stores in one process
    exclude each other as two processes do. The file is reopened after a ``fork``.

    Args:
        path: local path of the lock file, or ``None`` (thread lock only).
        thread_lock: the in-process lock to use (shared by every store on one
            ``memory://`` root); a private one by default.
    """

    def __init__(self, path: str | None, thread_lock: threading.RLock | None = None) -> None:
        self._path = path
        self._thread = thread_lock if thread_lock is not None else threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    @property
    def thread(self) -> threading.RLock:
        """The in-process lock alone (for readers that only need thread safety)."""
        return self._thread

    def __enter__(self) -> StoreLock:
        self._thread.acquire()
        try:
            if self._depth == 0 and self._path is not None:
                self._flock()
        except BaseException:
            self._thread.release()
            raise
        self._depth += 1
        return self

    def _flock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        assert self._path is not None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                import fcntl

                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def close(self) -> None:
        """Close the lock file."""
        with self._thread:
            if self._fd is not None and self._pid == os.getpid():
                with contextlib.suppress(OSError):
                    os.close(self._fd)
            self._fd = None
