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
import hashlib
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from automem_sdk.errors import AutomemError, MemoryConflictError
from automem_sdk.store_delta import MAX_CHAIN, Delta, apply_deltas
from automem_sdk.store_paths import RESERVED_DIR

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

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

_APPENDABLE_PROTOCOLS = frozenset({"file", "local", "memory"})
# Object stores whose fsspec backend sends ``pipe_file(..., mode="create")`` as a real
# conditional PUT (s3fs: ``IfNoneMatch: *``). Elsewhere the journal assumes one writer.
_CONDITIONAL_PROTOCOLS = frozenset({"s3", "s3a"})
_ENTRY_NAME = re.compile(r"^(\d{12})\.json$")
_SEGMENT_NAME = re.compile(r"^seg-(\d{12})\.jsonl$")


class CommitRace(MemoryConflictError):
    """Another writer took the next journal version first: catch up and try again."""


class JournalRewritten(AutomemError):
    """Another store compacted (rewrote) the journal: read the store again from disk."""


def sha256_hex(data: bytes) -> str:
    """Return the hex sha256 of ``data`` (the address of a content object)."""
    return hashlib.sha256(data).hexdigest()


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


class Backend:
    """The store root on one fsspec filesystem, with the few operations the store needs.

    Args:
        fs: a filesystem rooted at the store (a ``DirFileSystem``); paths are relative.
        protocol: the underlying filesystem's protocol (``file``, ``memory``, ``s3``...).
        local_root: the resolved local directory when the store is on local disk.
    """

    def __init__(
        self,
        fs: AbstractFileSystem,
        protocol: str,
        local_root: str | None,
        *,
        durable: bool = False,
        file_mode: int = 0o600,
        dir_mode: int = 0o700,
    ) -> None:
        self.fs = fs
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.protocol = protocol
        self.local_root = local_root
        self.appendable = protocol in _APPENDABLE_PROTOCOLS
        self.conditional = protocol in _CONDITIONAL_PROTOCOLS
        self.durable = durable and local_root is not None

    def invalidate(self, rel: str = "") -> None:
        """Drop fsspec's cached listing of ``rel`` (other writers may have written there).

        fsspec backends drop a path and its parents, not its children, so callers name
        the folder they are about to list.
        """
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(rel)

    def create_only(self, rel: str, data: bytes) -> bool:
        """Write ``rel`` only if it does not exist (one conditional PUT on object stores).

        Returns:
            ``False`` if the object already existed (nothing was written).
        """
        if self.conditional:
            try:
                self.fs.pipe_file(rel, data, mode="create")
            except FileExistsError:
                return False
            return True
        if self.exists(rel):  # single-writer backends: a probe, then the PUT
            return False
        self.write_atomic(rel, data)
        return True

    def _missing_dirs(self, path: str) -> list[str]:
        """The directories ``os.makedirs(path)`` would create, deepest first (durable only)."""
        missing: list[str] = []
        while self.durable and path and not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        return missing

    def _sync_dir(self, path: str) -> None:
        """``fsync`` a local directory so a rename or new entry in it survives power loss."""
        if not self.durable:
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- paths -------------------------------------------------------------------------
    def local(self, rel: str) -> str:
        """Absolute local path of ``rel`` (local stores only)."""
        assert self.local_root is not None
        return os.path.join(self.local_root, *rel.split("/"))

    # -- reading -----------------------------------------------------------------------
    def read(self, rel: str) -> bytes | None:
        """Return the bytes of ``rel`` or ``None`` if it does not exist."""
        try:
            if self.local_root is not None:
                with open(self.local(rel), "rb") as fh:
                    return fh.read()
            if self.conditional:
                # one GET: s3fs otherwise sizes the object first from its listing cache,
                # which misses objects other writers added (a false "missing object")
                return bytes(self.fs.cat_file(rel, max_concurrency=1))
            return bytes(self.fs.cat_file(rel))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def exists(self, rel: str) -> bool:
        """Whether a file (or object) exists at ``rel``."""
        if self.local_root is not None:
            return os.path.isfile(self.local(rel))
        return bool(self.fs.isfile(rel))

    def list_files(self) -> dict[str, int]:
        """All regular files of the tree (reserved directory excluded) with their sizes.

        On local disk, symlinks are skipped and never followed, and a folder that is a
        store of its own (a scoped sub-store with its own ``.automem/``) is skipped.
        """
        return {rel: size for rel, (size, _mtime) in self.list_files_detail().items()}

    def list_files_detail(self) -> dict[str, tuple[int, float | None]]:
        """Like :meth:`list_files`, with each file's mtime (``None`` off local disk)."""
        out: dict[str, tuple[int, float | None]] = {}
        if self.local_root is not None:
            self._scan_local(self.local_root, "", out, top=True)
            return out
        found: dict[str, dict[str, Any]] = self.fs.find("", detail=True)
        marker = f"/{RESERVED_DIR}/"
        # folders that hold a store of their own (a scoped sub-store): skipped whole
        nested = {
            "/" + rel[: rel.casefold().index(marker) + 1]
            for rel in (n.lstrip("/") for n in found)
            if marker in "/" + rel.casefold() and not rel.casefold().startswith(RESERVED_DIR)
        }
        for name, info in found.items():
            rel = name.lstrip("/")
            if info.get("type") != "file" or rel.split("/", 1)[0].casefold() == RESERVED_DIR:
                continue
            if nested and any(("/" + rel).startswith(n) for n in nested):
                continue
            out[rel] = (int(info.get("size") or 0), None)
        return out

    def _scan_local(
        self, path: str, rel: str, out: dict[str, tuple[int, float | None]], *, top: bool
    ) -> None:
        """Walk a local folder with ``os.scandir`` (one ``lstat`` per file, no joins)."""
        import stat as stat_mod

        try:
            it = os.scandir(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        subdirs: list[tuple[str, str]] = []
        with it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if stat_mod.S_ISREG(st.st_mode):
                    out[rel + entry.name] = (st.st_size, st.st_mtime)
                elif stat_mod.S_ISDIR(st.st_mode):
                    if top and entry.name.casefold() == RESERVED_DIR:
                        continue
                    subdirs.append((entry.path, rel + entry.name + "/"))
        for sub, sub_rel in subdirs:
            if not os.path.isdir(os.path.join(sub, RESERVED_DIR)):  # a store of its own
                self._scan_local(sub, sub_rel, out, top=False)

    def mtime(self, rel: str) -> float | None:
        """Modification time of a local file (``None`` if missing or not local)."""
        if self.local_root is None:
            return None
        try:
            return os.stat(self.local(rel)).st_mtime
        except OSError:
            return None

    # -- writing -----------------------------------------------------------------------
    def write_atomic(self, rel: str, data: bytes) -> None:
        """Replace ``rel`` with ``data`` atomically (temp + rename locally, one PUT elsewhere).

        With ``durable``, the temp file is ``fsync``-ed before the rename and the
        directory after it, so the new content (not an empty file) survives a power loss.
        """
        if self.local_root is not None:
            target = self.local(rel)
            tmp = self.local(f"{RESERVED_DIR}/tmp/{uuid.uuid4().hex}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.file_mode)
            try:
                os.fchmod(fd, self.file_mode)  # whatever the umask
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    if self.durable:
                        fh.flush()
                        os.fsync(fh.fileno())
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise
            parent = os.path.dirname(target)
            created = self._missing_dirs(parent)
            try:
                self.makedirs(parent)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise
            for directory in (parent, *(os.path.dirname(d) for d in created)):
                self._sync_dir(directory)
            return
        self.fs.pipe_file(rel, data)

    def makedirs(self, path: str) -> None:
        """Create a local directory and its missing parents with ``dir_mode``."""
        if os.path.isdir(path):
            return
        parent = os.path.dirname(path)
        if parent and parent != path:
            self.makedirs(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, self.dir_mode)
            os.chmod(path, self.dir_mode)  # whatever the umask

    def remove(self, rel: str) -> None:
        """Remove a file if it exists; on local disk also prune emptied parent directories."""
        if self.local_root is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.local(rel))
            self._prune(rel)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(rel)

    def write_many(self, files: dict[str, bytes]) -> None:
        """Write many files; on object stores as concurrent PUTs (fsspec ``pipe``)."""
        if self.local_root is not None or len(files) < 2:
            for rel, data in files.items():
                self.write_atomic(rel, data)
            return
        self.fs.pipe(files)

    def remove_many(self, rels: list[str]) -> None:
        """Remove many files; on object stores in batched requests (S3: 1,000 keys each)."""
        if not rels:
            return
        if self.local_root is not None:
            for rel in rels:
                self.remove(rel)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(rels)

    def move(self, src: str, dst: str, data: bytes) -> None:
        """Move ``src`` to ``dst`` (``data`` is its content, used where a move is a copy)."""
        if self.local_root is not None:
            target = self.local(dst)
            self.makedirs(os.path.dirname(target))
            try:
                os.replace(self.local(src), target)
            except FileNotFoundError:
                self.write_atomic(dst, data)
            self._sync_dir(os.path.dirname(target))
            self._prune(src)
            return
        self.write_atomic(dst, data)
        self.remove(src)

    def _prune(self, rel: str) -> None:
        parts = rel.split("/")[:-1]
        while parts:
            try:
                os.rmdir(self.local("/".join(parts)))
            except OSError:
                return
            parts.pop()

    def append_bytes(self, rel: str, data: bytes) -> None:
        """Append ``data`` to ``rel`` with a single write (appendable backends only)."""
        if self.local_root is not None:
            fd = os.open(self.local(rel), os.O_WRONLY | os.O_APPEND | os.O_CREAT, self.file_mode)
            try:
                start = os.fstat(fd).st_size
                try:
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(28, f"short write ({written} of {len(data)} bytes)")
                    if self.durable:
                        os.fsync(fd)
                except OSError:
                    # leave no torn line behind: the entry is not committed
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
            return
        with self.fs.open(rel, "ab") as fh:
            fh.write(data)

    def ident(self, rel: str) -> Any:
        """An identity of file ``rel`` that changes when it is replaced (not appended to):
        inode on local disk, creation time in memory; ``None`` elsewhere or if missing."""
        try:
            if self.local_root is not None:
                st = os.stat(self.local(rel))
                return (st.st_dev, st.st_ino)
            if self.protocol == "memory":
                return self.fs.info(rel).get("created")
        except FileNotFoundError:
            return None
        return None

    def size(self, rel: str) -> int | None:
        """Size of ``rel`` in bytes (0 if missing) where that is one cheap call, else ``None``.

        Only local disk qualifies: ``MemoryFileSystem.size`` scans every key of the
        process-wide memory store, and object stores need a request.
        """
        if self.local_root is None:
            return None
        try:
            return os.stat(self.local(rel)).st_size
        except FileNotFoundError:
            return 0

    def read_from(self, rel: str, start: int) -> bytes:
        """Bytes of ``rel`` from offset ``start`` to its end (``b""`` if it is missing)."""
        try:
            if self.local_root is not None:
                with open(self.local(rel), "rb") as fh:
                    fh.seek(start)
                    return fh.read()
            return bytes(self.fs.cat_file(rel, start=start))
        except FileNotFoundError:
            return b""

    def clean_tmp(self) -> None:
        """Remove temp files left by killed writers (call only while holding the lock)."""
        if self.local_root is None:
            return
        tmp_dir = self.local(f"{RESERVED_DIR}/tmp")
        self.makedirs(tmp_dir)
        for name in os.listdir(tmp_dir):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(tmp_dir, name))


class ObjectStore:
    """Content-addressed, immutable blobs under ``.automem/objects``.

    A batch committed on an object store keeps its new contents in one *pack* object
    (``objects/packs/<sha>.json``: ``{"objects": {sha: text}}``) so that it costs one PUT;
    :meth:`register_pack` tells the store which addresses a pack holds.
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._packs: dict[str, str] = {}  # object sha -> pack sha
        self._inline: dict[str, str] = {}  # object sha -> text carried by a journal entry
        self._deltas: dict[str, Delta] = {}  # object sha -> its delta against its base
        self._chain: dict[str, tuple[int, int]] = {}  # delta sha -> (edits, delta bytes)
        self._sizes: dict[str, int] = {}  # sha -> size in bytes, as entries record it
        self.redacted: dict[str, str] = {}  # object sha -> why and when it was purged
        self.on_miss: Callable[[], bool] | None = None  # reads older entries; True if any
        self._pack_cache: tuple[str, dict[str, str]] | None = None

    @staticmethod
    def path(sha: str) -> str:
        """Relative path of the object with address ``sha``."""
        return f"{RESERVED_DIR}/objects/{sha[:2]}/{sha[2:]}"

    @staticmethod
    def pack_path(sha: str) -> str:
        """Relative path of the pack object with address ``sha``."""
        return f"{RESERVED_DIR}/objects/packs/{sha}.json"

    def put(self, sha: str, data: bytes) -> None:
        """Store ``data`` under ``sha`` (no-op locally if it is already there)."""
        rel = self.path(sha)
        if self._backend.local_root is not None and os.path.exists(self._backend.local(rel)):
            return
        self._backend.write_atomic(rel, data)

    def put_pack(self, objects: dict[str, bytes]) -> str:
        """Store many objects as one pack object; returns the pack's address."""
        body = {"schema_version": 1, "objects": {s: d.decode("utf-8") for s, d in objects.items()}}
        blob = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        sha = sha256_hex(blob)
        self._backend.write_atomic(self.pack_path(sha), blob)
        return sha

    def register_inline(self, sha: str, text: str) -> None:
        """Record content that a journal entry carries inline."""
        self._inline.setdefault(sha, text)

    def register_delta(self, sha: str, delta: Delta) -> None:
        """Record that a journal entry stores ``sha`` as ``delta``.

        The chain depth counts edits only: a pure append (nothing of the base replaced)
        costs no copying when the chain is applied, so only its bytes count.
        """
        if sha in self._deltas or sha in self._inline:
            return
        depth, cost = self._chain.get(delta.base, (0, 0))
        pure = delta.tail == 0 and delta.head == self._sizes.get(delta.base, -1)
        self._deltas[sha] = delta
        self._chain[sha] = (depth + (0 if pure else 1), cost + len(delta.data))

    def seed_chains(self, chains: dict[str, tuple[int, int]]) -> None:
        """Chain lengths of contents whose entries are not read yet (from a checkpoint)."""
        for sha, c in chains.items():
            self._chain.setdefault(sha, c)

    def chain(self, sha: str) -> tuple[int, int]:
        """``(deltas, bytes)`` between ``sha`` and the full copy it is rebuilt from."""
        return self._chain.get(sha, (0, 0))

    def delta_worth(self, base: str, delta_bytes: int, size: int) -> bool:
        """Whether a delta of ``delta_bytes`` on ``base`` keeps the chain cheap to read."""
        depth, cost = self.chain(base)
        return depth < MAX_CHAIN and cost + delta_bytes <= max(size, 4096)

    def register_entry(self, e: Any) -> None:
        """Record the contents that journal entry ``e`` carries (inline data, deltas, pack)."""
        if e.sha256 and e.op != "restore":
            self._sizes[e.sha256] = e.size
        for c in e.changes or ():
            if c.sha256:
                self._sizes[c.sha256] = c.size
        if e.pack and e.changes:
            self.register_pack(e.pack, [c.sha256 for c in e.changes if c.sha256])
        if e.data is not None and e.sha256:
            self.register_inline(e.sha256, e.data)
        elif e.data is not None:
            self.register_inline(sha256_hex(e.data.encode("utf-8")), e.data)
        if e.delta is not None and e.sha256:
            self.register_delta(e.sha256, e.delta)
        for c in e.changes or ():
            if c.sha256 and c.data is not None:
                self.register_inline(c.sha256, c.data)
            elif c.sha256 and c.delta is not None:
                self.register_delta(c.sha256, c.delta)

    def dependents(self, shas: set[str]) -> list[str]:
        """Addresses outside ``shas`` stored as deltas whose chain passes through ``shas``."""
        out: list[str] = []
        for sha in self._deltas:
            cur, seen = sha, set()
            while cur in self._deltas and cur not in shas and cur not in seen:
                seen.add(cur)
                cur = self._deltas[cur].base
            if cur in shas and sha not in shas:
                out.append(sha)
        return out

    def make_whole(self, sha: str, data: bytes) -> None:
        """Store ``sha`` as a full object from now on (its delta's base is going away)."""
        self.put(sha, data)
        self._deltas.pop(sha, None)
        self._chain.pop(sha, None)

    def forget(self, shas: set[str]) -> None:
        """Drop what this process holds of ``shas`` (purged contents)."""
        for sha in shas:
            self._inline.pop(sha, None)
            self._deltas.pop(sha, None)
            self._chain.pop(sha, None)

    def register_pack(self, pack: str, shas: list[str]) -> None:
        """Record that pack ``pack`` holds the objects ``shas``."""
        for sha in shas:
            self._packs.setdefault(sha, pack)

    def _from_pack(self, pack: str, sha: str) -> bytes | None:
        if self._pack_cache is None or self._pack_cache[0] != pack:
            blob = self._backend.read(self.pack_path(pack))
            if blob is None:
                return None
            try:
                objects = json.loads(blob)["objects"]
            except (ValueError, KeyError, TypeError):
                return None
            self._pack_cache = (pack, objects)
        text = self._pack_cache[1].get(sha)
        return None if text is None else text.encode("utf-8")

    def get(self, sha: str) -> bytes:
        """Return the verified bytes of object ``sha``.

        Raises:
            AutomemError: the object is missing or its content does not match its address.
        """
        chain: list[Delta] = []
        seen: set[str] = set()
        cur = sha
        while True:
            why = self.redacted.get(cur)
            if why is not None:
                raise AutomemError(f"that version's content was redacted ({why})")
            data = self._whole(cur)
            if data is not None:
                break
            delta = self._deltas.get(cur)
            if delta is None and self.on_miss is not None and self.on_miss():
                return self.get(sha)  # the entries before a checkpoint were just read
            if delta is None or cur in seen:
                raise AutomemError(f"store is damaged: content object {cur[:12]}... is missing")
            chain.append(delta)
            seen.add(cur)
            cur = delta.base
        if chain:
            try:
                data = apply_deltas(data, chain[::-1])
            except ValueError:
                data = b""
        if sha256_hex(data) != sha:
            raise AutomemError(f"store is damaged: content object {sha[:12]}... is corrupt")
        return data

    def _whole(self, sha: str) -> bytes | None:
        """The bytes of ``sha`` if they are stored whole (inline, in a pack, an object)."""
        inline = self._inline.get(sha)
        if inline is not None:
            return inline.encode("utf-8")
        pack = self._packs.get(sha)
        data = self._from_pack(pack, sha) if pack is not None else None
        if data is None and sha not in self._deltas:
            data = self._backend.read(self.path(sha))
        return data


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
