"""MemoryStore: a sandboxed, journaled tree of text files behind any fsspec URL.

>>> store = MemoryStore("memory://demo")
>>> store.write("notes.md", "wood is north\\n")
1
>>> [h.line for h in store.search("WOOD")]
[1]

Guarantees:

* **Sandbox.** Every path goes through :func:`~automem_sdk.store_paths.validate_path`
  (no ``..``, absolute/URL paths, NUL/control characters, backslashes, ``%XX``
  escapes, glob characters, over-long or over-deep names, nothing under ``.automem/``),
  and on local disk a symlink leading out of the root is refused.
* **Limits.** :class:`StoreLimits` bounds file size, store size and file count.
* **Atomic writes.** Local disk: temp file + ``os.replace``. Other filesystems: one PUT.
* **Journal.** Every mutation is first stored as a content-addressed object, then
  appended to the journal (this is the commit point), then applied to the tree. On open,
  and whenever another writer's entries are replayed under the lock, the last entry is
  re-applied if its effect is missing, so a writer killed at any moment leaves a store
  where every file equals its last committed version. ``history``, ``snapshot``,
  ``diff`` and ``restore`` work from the journal and the objects.
* **Search index** (:mod:`automem_sdk.store_index`) updated on every mutation and by
  replaying journal entries written by other stores/processes.

Concurrency: every mutation, including every read-modify-write (``append``,
:meth:`MemoryStore.update`, ``replace`` and the ops built on them), reads the current
content and commits inside one critical section, so no writer loses another's update:

* local disk: the thread lock plus an ``flock`` on ``.automem/lock``; entries written by
  other processes are replayed first;
* ``memory://``: one process-wide lock per root, shared by every store object on it;
* object stores (S3): journal entry ``v`` is created put-if-absent
  (``IfNoneMatch: *``); a writer that loses the race catches up with the winner's
  entries and runs its mutation again on the new state (no HEAD or LIST before a
  commit). A backend without conditional writes is logged at open and is safe for one
  writer at a time only.

Callers can make a write conditional on what they read: ``stat(path).sha256`` or
``read_with_sha(path)``, then ``write/replace/delete/rename(..., if_match=sha)``; a
mismatch raises :class:`~automem_sdk.errors.MemoryConflictError` (with the current
sha) and changes nothing, unless the store already holds what was asked (a retried
request succeeds). ``with store.batch():`` commits many mutations as one version.
Stores on local disk and in memory check the journal before reads and searches, so
they see other writers' changes; on object stores call :meth:`MemoryStore.refresh`.
Files changed *outside* the store (an editor, ``cp``) are adopted as ``sync`` entries
when a store is opened (detected by size).

Durability: by default against process crashes (a killed writer loses nothing it
committed). ``MemoryStore(..., durable=True)`` on local disk also ``fsync``-s each
object, journal line and file (and the directories they land in) before a mutation
returns, so committed changes survive a power loss too, at the price of a few
milliseconds per write (``python -m automem_sdk.perf`` measures it).
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, NamedTuple, ParamSpec, TypeVar

from pydantic import BaseModel, Field

from automem_sdk.errors import (
    AutomemError,
    MemoryConflictError,
    MemoryContentError,
    MemoryLimitError,
    MemoryNotFoundError,
    MemoryPathError,
    MemoryReadOnlyError,
)
from automem_sdk.store_checkpoint import CHECKPOINT_PATH, Checkpoint, EntryLog
from automem_sdk.store_compact import CompactResult, collect_garbage, plan_compaction
from automem_sdk.store_delta import Delta, make_delta
from automem_sdk.store_index import SearchHit, SearchIndex, load_cache
from automem_sdk.store_journal import (
    FORMAT_VERSION,
    Backend,
    CommitRace,
    JournalChange,
    JournalEntry,
    JournalRewritten,
    JsonlJournal,
    Layout,
    ObjectJournal,
    ObjectStore,
    StoreLock,
    read_format,
    root_lock,
    sha256_hex,
    write_format,
)
from automem_sdk.store_paths import RESERVED_DIR, check_inside, validate_path, validate_prefix
from automem_sdk.store_rewrite import strip_carried, strip_carried_objects

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "CompactResult",
    "FileStat",
    "JournalEntry",
    "MemoryContentError",
    "MemoryStore",
    "SearchHit",
    "StoreLimits",
]

log = logging.getLogger(__name__)

Manifest = dict[str, tuple[str, int]]
"""``path -> (sha256, size)``: the state of the tree at one version."""

_CACHE_PATH = f"{RESERVED_DIR}/index.json"
_HORIZON_PATH = f"{RESERVED_DIR}/horizon.json"  # the oldest version kept by compact
_CHECKPOINT_EVERY = 2000  # mutations between content-cache rewrites
_CHECKPOINT_MIN = 128  # objects read on open before a content cache is worth writing
_CHECKPOINT_ON_CLOSE = 16  # mutations since the last cache that make close() rewrite it
_MAX_ATTEMPTS = 200  # commits lost to other writers before giving up
_MTIME_SLACK = 0.5  # seconds: coarse filesystem clocks
_INLINE_MAX = 4096  # contents up to this size ride in the journal entry (no object)
_MIN_DELTA_SIZE = 512  # smaller contents are carried whole


class FileStat(NamedTuple):
    """What :meth:`MemoryStore.stat` returns.

    Attributes:
        path: canonical path.
        sha256: hex sha256 of the content (pass it as ``if_match``).
        size: size in UTF-8 bytes.
        version: the last version that changed the file.
    """

    path: str
    sha256: str
    size: int
    version: int


@dataclass
class _Staged:
    op: str
    text: str | None
    data: bytes | None
    sha: str | None
    size: int


@dataclass
class _Txn:
    """Changes staged for one commit (one mutation, or a whole :meth:`MemoryStore.batch`)."""

    changes: dict[str, _Staged] = field(default_factory=dict)
    undo: dict[str, tuple[str, str, int] | None] = field(default_factory=dict)
    ops: list[tuple[str, str]] = field(default_factory=list)
    rename: tuple[str, str] | None = None
    bodies: list[Callable[[_Txn], object]] = field(default_factory=list)


class StoreLimits(BaseModel):
    """Size and shape limits of a store.

    Attributes:
        max_file_bytes: largest file, in UTF-8 bytes.
        max_store_bytes: total size of all files.
        max_files: number of files.
        max_path_len: longest path, in UTF-8 bytes.
        max_name_len: longest path segment, in UTF-8 bytes.
        max_depth: most path segments.
    """

    max_file_bytes: int = Field(default=262_144, ge=0)
    max_store_bytes: int = Field(default=16 << 20, ge=0)
    max_files: int = Field(default=2_000, ge=0)
    max_path_len: int = Field(default=255, ge=1)
    max_name_len: int = Field(default=128, ge=1)
    max_depth: int = Field(default=8, ge=1)


def _fold(entries: list[JournalEntry], upto: int, manifests: _ManifestLoader) -> Manifest:
    state: Manifest = {}
    for e in entries:
        if e.version > upto:
            break
        _apply_entry(state, e, manifests)
    return state


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk load (it would rescan the
    growing heap many times); restore it after."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _same(a: JournalEntry, b: JournalEntry) -> bool:
    """Whether ``a`` and ``b`` are one commit (a duplicated journal line)."""
    return (a.version, a.op, a.path, a.ts, a.sha256) == (b.version, b.op, b.path, b.ts, b.sha256)


def _apply_entry(state: Manifest, e: JournalEntry, manifests: _ManifestLoader) -> None:
    if e.op == "restore":
        state.clear()
        if e.sha256:
            state.update(manifests(e.sha256))
    elif e.op == "snapshot":  # the whole tree at the horizon of a compacted journal
        state.clear()
        state.update({c.path: (c.sha256, c.size) for c in e.changes or () if c.sha256})
    else:
        for path, sha, size in e.touched():
            if sha is None:
                state.pop(path, None)
            else:
                state[path] = (sha, size)


class _ManifestLoader:
    """Reads (and caches) the tree manifests that ``restore`` entries point to."""

    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects
        self._cache: dict[str, Manifest] = {}

    def __call__(self, sha: str) -> Manifest:
        got = self._cache.get(sha)
        if got is None:
            body = json.loads(self._objects.get(sha))
            got = {p: (str(v[0]), int(v[1])) for p, v in body["files"].items()}
            self._cache[sha] = got
        return got


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reader(
    fn: Callable[Concatenate[MemoryStore, _P], _R],
) -> Callable[Concatenate[MemoryStore, _P], _R]:
    """Run a read-side method under the thread lock, after catching up with the journal."""

    @functools.wraps(fn)
    def wrapper(self: MemoryStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock.thread:
            self._maybe_refresh()
            return fn(self, *args, **kwargs)

    return wrapper


def _manifest_bytes(manifest: Manifest) -> bytes:
    files = {p: [sha, size] for p, (sha, size) in sorted(manifest.items())}
    return json.dumps({"schema_version": 1, "files": files}, separators=(",", ":")).encode()


_READ_ONLY_ERRNOS = frozenset({30, 13, 1})  # EROFS, EACCES, EPERM


def _ensure_root(
    base: AbstractFileSystem, protocol: str, root: str, url: str, *, create: bool,
    create_bucket: bool, dir_mode: int = 0o700,
) -> None:  # fmt: skip
    """Make sure the store root exists; create it only when asked (never a bucket, unless told).

    Raises:
        MemoryNotFoundError: the root (or its bucket) is missing and may not be created.
    """
    if protocol in ("s3", "s3a", "gcs", "gs", "abfs", "az"):
        bucket = root.split("/", 1)[0]
        try:
            base.info(bucket)
            missing = False
        except FileNotFoundError:
            missing = True
        except Exception as exc:  # credentials, endpoint, permissions: say which
            raise AutomemError(
                f"cannot reach bucket {bucket!r} of {url}: {type(exc).__name__}: {exc} "
                "(check the credentials and endpoint_url in storage_options)"
            ) from exc
        if missing:
            if not create_bucket:
                raise MemoryNotFoundError(
                    f"bucket {bucket!r} of {url} does not exist (create it, or pass "
                    "create_bucket=True / the CLI's --create)"
                )
            base.mkdir(bucket)
        return  # a prefix needs no creating
    if create and protocol in ("file", "local"):
        import os

        if not os.path.isdir(root):
            absent: list[str] = []
            path = os.path.abspath(root)
            while not os.path.isdir(path):
                absent.append(path)
                path = os.path.dirname(path)
            for folder in reversed(absent):  # each folder it creates gets dir_mode
                os.makedirs(folder, mode=dir_mode, exist_ok=True)
                os.chmod(folder, dir_mode)
    elif create:
        base.makedirs(root, exist_ok=True)
    elif not base.exists(root):
        raise MemoryNotFoundError(f"no memory store at {url} (nothing was created)")


class MemoryStore:
    """A directory tree of UTF-8 text files behind an fsspec URL, sandboxed and journaled.

    Args:
        url: any fsspec URL or local path (``file:///...``, ``s3://bucket/prefix``,
            ``memory://name``, ``./mem``). The root is created if missing.
        storage_options: passed straight to fsspec (e.g. s3fs credentials, endpoint).
        limits: size and shape limits (defaults: :class:`StoreLimits`).
        auto_refresh: check the journal for other writers before each read/search.
            Defaults to ``True`` where that check is a cheap ``stat`` (local disk,
            memory) and ``False`` on object stores (call :meth:`refresh` there).
        durable: on local disk, ``fsync`` every object, journal line and file before a
            mutation returns, so it survives a power loss (object stores are durable
            once a PUT returns; ``memory://`` ignores it).
        read_only: open for reading only: nothing is created or written (no lock file,
            no adoption of outside edits into the journal, no repair); mutations raise
            :class:`~automem_sdk.errors.MemoryReadOnlyError`. A local store on a
            read-only volume (EROFS/EACCES) is opened read-only with a warning.
        create: create a missing root folder (ignored with ``read_only``); with
            ``False`` a missing store raises instead.
        create_bucket: on object stores, create a missing bucket (never done otherwise).
        file_mode: permissions of local files the store writes (default ``0o600``,
            whatever the umask; ``0o640`` to share with a group).
        dir_mode: permissions of local folders the store creates (default ``0o700``).

    Raises:
        AutomemError: the store's on-disk format is unsupported or it is damaged.
        MemoryNotFoundError: the root or bucket is missing and may not be created.
    """

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        limits: StoreLimits | None = None,
        *,
        auto_refresh: bool | None = None,
        durable: bool = False,
        read_only: bool = False,
        create: bool = True,
        create_bucket: bool = False,
        file_mode: int = 0o600,
        dir_mode: int = 0o700,
    ) -> None:
        import fsspec
        from fsspec.implementations.dirfs import DirFileSystem
        from fsspec.implementations.local import LocalFileSystem

        self.url = url
        self.limits = limits or StoreLimits()
        self.read_only = read_only
        self._rng = random.Random()
        self._batch: _Txn | None = None
        self._batch_thread = 0
        self.commit_retries = 0
        """Commits lost to another writer and retried (a contention figure for perf)."""
        base, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        protocol = base.protocol if isinstance(base.protocol, str) else base.protocol[0]
        _ensure_root(base, protocol, root, url, create=create and not read_only,
                     create_bucket=create_bucket, dir_mode=dir_mode)  # fmt: skip
        local_root: str | None = None
        if isinstance(base, LocalFileSystem):
            import os

            local_root = os.path.realpath(root)
            if os.path.islink(os.path.join(local_root, RESERVED_DIR)):
                raise MemoryPathError(f"{RESERVED_DIR}/ in {url} is a symlink; refusing to use it")
        self._fs: AbstractFileSystem = DirFileSystem(path=root, fs=base)
        self._backend = Backend(
            self._fs, protocol, local_root, durable=durable, file_mode=file_mode,
            dir_mode=dir_mode,
        )  # fmt: skip
        if local_root is not None and not read_only:
            try:
                self._backend.makedirs(self._backend.local(f"{RESERVED_DIR}/tmp"))
            except OSError as exc:
                if exc.errno not in _READ_ONLY_ERRNOS:
                    raise
                log.warning("%s is not writable (%s): opening it read-only", url, exc)
                self.read_only = True
        self._objects = ObjectStore(self._backend)
        self._manifests = _ManifestLoader(self._objects)
        lock_file = None
        if local_root is not None and not self.read_only:
            lock_file = self._backend.local(f"{RESERVED_DIR}/lock")
        shared = root_lock(f"{protocol}:{root}") if protocol == "memory" else None
        self._lock = StoreLock(lock_file, shared)
        self._entries = EntryLog()
        self._changed: dict[str, float] = {}  # path -> time of its last version
        self._unapplied = 0  # a committed version whose tree update failed
        self._index = SearchIndex()
        self._since_checkpoint = 0
        with self._lock:
            fmt = read_format(self._backend)
            if fmt is None:
                layout: Layout = "jsonl" if self._backend.appendable else "objects"
                has_jsonl = self._backend.exists(JsonlJournal.PATH)
                chosen: Layout = "jsonl" if has_jsonl else layout
                if not self.read_only:
                    write_format(self._backend, chosen)
                fmt = {"journal": chosen, "schema_version": FORMAT_VERSION}
            self._journal: JsonlJournal | ObjectJournal = (
                JsonlJournal(self._backend)
                if fmt.get("journal") == "jsonl"
                else ObjectJournal(self._backend)
            )
            if not self._backend.appendable and not self._backend.conditional:
                log.info(
                    "%s: %s has no conditional writes; the store assumes one writer at a time",
                    url, protocol,
                )  # fmt: skip
            self.auto_refresh = (
                self._journal.layout == "jsonl" if auto_refresh is None else auto_refresh
            )
            self._open()
            if fmt.get("schema_version", FORMAT_VERSION) < FORMAT_VERSION and not self.read_only:
                # format-1 entries are valid format-2 entries: only the marker changes
                write_format(self._backend, self._journal.layout)
                log.info("%s: migrated the store to format %d", url, FORMAT_VERSION)

    # ================================================================== lifecycle
    def _open(self) -> None:
        with _gc_paused():  # opening allocates ~10 objects per file and frees none of them
            self._open_now()

    def _open_now(self) -> None:
        if not self.read_only:
            self._backend.clean_tmp()
        self._objects.on_miss = self._entries.load
        self._resume_from_checkpoint()
        tail = self._journal.read_new()
        self._take(tail)
        manifest = self._manifest_at(len(self._entries))
        if len(self._entries) > self._entries.base and not self.read_only:
            self._redo(len(self._entries))
        cache: dict[str, str] = {}
        cached = self._backend.read(_CACHE_PATH)
        trusted = False  # the whole cache is the one the checkpoint recorded: no per-text hash
        if cached is not None:
            try:
                cache = load_cache(cached)
            except AutomemError as exc:
                log.warning("ignoring the index cache of %s: %s", self.url, exc)
            cp = self._entries.checkpoint
            trusted = bool(cp and cp.cache_sha and cp.cache_sha == sha256_hex(cached))
        loaded = 0
        for path, (sha, size) in manifest.items():
            text = cache.get(sha)
            if text is None or (
                not trusted and sha256_hex(text.encode("utf-8", "surrogatepass")) != sha
            ):
                text = self._load_current(path, sha)
                loaded += 1
                if text is None:
                    continue  # left to _adopt_external: the tree file becomes a new version
            self._index.put_lazy(path, text, sha, size)
        checked = self._adopt_external()
        if not self.read_only and max(loaded, len(tail), checked) >= _CHECKPOINT_MIN:
            self._checkpoint()  # the next open starts here (and reads none of that again)

    def _resume_from_checkpoint(self) -> None:
        """Start from ``.automem/checkpoint.json`` if it matches the journal (see there)."""
        data = self._backend.read(CHECKPOINT_PATH)
        cp = Checkpoint.load(data) if data is not None else None
        if cp is None or cp.version <= 0 or cp.last is None:
            return
        if isinstance(self._journal, JsonlJournal):
            if not self._journal.start_at(cp.offset, cp.line_len, cp.line_sha):
                log.debug("%s: the checkpoint does not match the journal; replaying", self.url)
                return
        else:
            self._journal.start_at(cp.version)
        self._entries.start_at(cp, self._read_prefix)
        self._changed = dict(cp.changed)
        self._objects.redacted.update(cp.redacted)
        self._objects.seed_chains(cp.chains)

    def _read_prefix(self, upto: int) -> list[JournalEntry]:
        older = self._journal.read_prefix(upto)
        for e in older:
            self._register(e)
        return older

    def _load_current(self, path: str, sha: str) -> str | None:
        """The text of ``path``'s current version; from the tree if its object is damaged.

        Returns ``None`` (with a warning) when neither the object nor the tree file holds
        that version: the file on disk is then adopted as a new version, never lost.
        """
        try:
            return self._objects.get(sha).decode("utf-8")
        except AutomemError as exc:
            data = self._backend.read(path)
            if data is not None and sha256_hex(data) == sha:
                if not self.read_only:
                    self._objects.put(sha, data)  # rebuilt from the identical file
                log.warning("%s: %s; rebuilt it from %s", self.url, exc, path)
                return data.decode("utf-8")
            log.warning(
                "%s: %s and %s on disk differs; adopting the file as it is "
                "(automem memory fsck lists what history is lost)", self.url, exc, path,
            )  # fmt: skip
            return None

    def close(self) -> None:
        """Rewrite the content cache if many mutations made it stale; release the lock file."""
        with self._lock:
            if self._since_checkpoint >= _CHECKPOINT_ON_CLOSE and not self.read_only:
                self._checkpoint()
        self._lock.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryStore({self.url!r}, version={len(self._entries)}, files={len(self._index)})"

    def _checkpoint(self) -> None:
        try:
            blob = self._index.dump_cache()
            self._backend.write_atomic(_CACHE_PATH, blob)
            if isinstance(self._journal, ObjectJournal):
                self._journal.compact(list(self._entries))
            cp = self._make_checkpoint()
            if cp is not None:
                cp.cache_sha = sha256_hex(blob)
                self._backend.write_atomic(CHECKPOINT_PATH, cp.dump())
        except OSError as exc:  # a cache: failing to write it only slows reopening
            log.warning("could not write the index cache of %s: %s", self.url, exc)
        self._since_checkpoint = 0

    def _make_checkpoint(self) -> Checkpoint | None:
        if not self._entries:
            return None
        last = self._entries[-1]
        offset, line = 0, b""
        if isinstance(self._journal, JsonlJournal):
            offset, line = self._journal.position()
            try:
                if not line or JournalEntry.model_validate_json(line) != last:
                    return None  # the journal's last line is not an entry: no anchor
            except ValueError:
                return None
        tree = self._index.manifest()
        return Checkpoint(
            version=last.version, tree=tree, last=last, offset=offset,
            line_sha=sha256_hex(line), line_len=len(line),
            changed={p: self._changed.get(p, 0.0) for p in tree},
            chains={sha: c for sha, _n in tree.values() if (c := self._objects.chain(sha))[0]},
            redacted=dict(self._objects.redacted), horizon=self._entries.horizon,
        )  # fmt: skip

    def _manifest_at(self, version: int) -> Manifest:
        """The tree at ``version``, from the checkpoint when it is at or before it."""
        cp = self._entries.checkpoint
        if cp is None or version < cp.version:
            entries = list(self._entries)  # reads what is before the checkpoint
            self._refuse_dropped(version)
            return _fold(entries, version, self._manifests)
        state = dict(cp.tree)
        for e in self._entries.since(cp.version):
            if e.version > version:
                break
            _apply_entry(state, e, self._manifests)
        return state

    # ================================================================== journal replay
    def _take(self, entries: list[JournalEntry]) -> None:
        for e in entries:
            expected = len(self._entries) + 1
            if e.version == expected - 1 and self._entries and _same(e, self._entries[-1]):
                log.warning("%s: journal line for version %d is duplicated; skipping the "
                            "copy (automem memory repair removes it)", self.url, e.version)  # fmt: skip
                continue
            if e.op == "snapshot" and not self._entries:
                pass  # a compacted journal starts at its horizon
            elif e.op == "snapshot" and e.version > expected:
                raise JournalRewritten(f"{self.url}: the journal was compacted by another store")
            elif e.version != expected:
                raise AutomemError(
                    f"journal of {self.url} is inconsistent: expected version {expected}, "
                    f"found {e.version} ({e.op} {e.path!r}); see `automem memory fsck`"
                )
            self._entries.append(e)
            self._register(e)
            if e.op == "restore" and e.sha256:
                for path in self._manifests(e.sha256):
                    self._changed[path] = e.ts
            elif e.op != "restore":
                for path, _sha, _size in e.touched():
                    self._changed[path] = e.ts

    def _register(self, e: JournalEntry) -> None:
        """Record the contents entry ``e`` carries and the contents it purged."""
        self._objects.register_entry(e)
        if e.op == "redact" and e.changes:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(e.ts))
            for c in e.changes:
                if c.sha256:
                    self._objects.redacted[c.sha256] = f"version {e.version}, {when}: {e.path}"

    def _catch_up(self, *, locked: bool) -> None:
        """Replay entries other writers committed; with the lock, repair their last one."""
        try:
            new = self._journal.read_new()
            if not new:
                return
            start = len(self._entries)
            self._take(new)
        except JournalRewritten:
            log.info("%s: the journal was compacted by another store; reading it again", self.url)
            self._reload()
            return
        if any(e.op == "restore" for e in new):
            target = self._manifest_at(len(self._entries))
            changes: dict[str, tuple[str, int] | None] = {
                p: None for p in self._index.paths() if p not in target
            }
            changes.update(target)
        else:
            changes = {}
            for e in self._entries.since(start):
                for path, sha, size in e.touched():
                    changes[path] = None if sha is None else (sha, size)
        texts = self._index.texts_by_sha() if len(changes) > 64 else {}
        for path, val in changes.items():
            if val is None:
                self._index.remove(path)
            elif self._index.sha(path) != val[0]:
                text = texts.get(val[0])
                if text is None:
                    text = self._objects.get(val[0]).decode("utf-8")
                self._index.put(path, text, val[0], val[1])
        self._since_checkpoint += len(new)
        if locked and self._journal.layout == "jsonl":
            # under the flock no other writer is live, so an unapplied last entry belongs
            # to a killed one; on object stores a live writer may still be applying it
            self._redo(len(self._entries))

    def refresh(self) -> int:
        """Replay journal entries committed by other stores or processes.

        Returns:
            The current version.
        """
        with self._lock.thread:
            self._catch_up(locked=False)
            return len(self._entries)

    def _maybe_refresh(self) -> None:
        if self.auto_refresh and self._journal.changed():
            self._catch_up(locked=False)

    @contextmanager
    def _mutation(self, *, force: bool = False) -> Iterator[None]:
        with self._lock:
            if self._unapplied:  # a tree update failed (disk full): finish it first
                try:
                    self._redo(self._unapplied)
                except OSError as exc:
                    raise AutomemError(
                        f"{self.url}: version {self._unapplied} is committed but its files "
                        f"still cannot be written ({exc}); free space and retry"
                    ) from exc
                self._unapplied = 0
            if force or (self._journal.probe_before_write and self._journal.changed()):
                self._catch_up(locked=True)
            yield
            if self._since_checkpoint >= _CHECKPOINT_EVERY:
                self._checkpoint()

    # ================================================================== recovery
    def _tree_sha(self, path: str) -> str | None:
        data = self._backend.read(path)
        return None if data is None else sha256_hex(data)

    def _state_before(self, version: int, path: str) -> str | None:
        """Content address of ``path`` just before entry ``version`` (``None``: absent)."""
        cp = self._entries.checkpoint
        if cp is not None and version - 1 >= cp.version:
            got = self._manifest_at(version - 1).get(path)
            return None if got is None else got[0]
        for e in reversed(self._entries[: version - 1]):
            if e.op == "snapshot":
                hit = next((c for c in e.changes or () if c.path == path), None)
                return None if hit is None else hit.sha256
            if e.op == "restore":
                got = self._manifests(e.sha256).get(path) if e.sha256 else None
                return None if got is None else got[0]
            for p, sha, _size in e.touched():
                if p == path:
                    return sha
        return None

    def _redo(self, version: int) -> None:
        """Finish entry ``version`` if a killed writer left it unapplied.

        A path is rewritten only while the tree still shows its state *before* the
        entry; a file that shows neither the old nor the new state was changed outside
        the store and is left for :meth:`_adopt_external`. (Removing, outside the store,
        a file that the very last entry created is indistinguishable from a writer
        killed before creating it; the file is then recreated.)
        """
        e = self._entries[version - 1]
        if e.op == "restore":
            before = self._manifest_at(version - 1)
            target = self._manifests(e.sha256) if e.sha256 else {}
            self._apply_tree(before, target, verify=True)
            return
        if e.op in ("redact", "snapshot"):
            return  # changes nothing in the tree
        if e.changes is not None:
            for c in e.changes:
                old, now = self._state_before(version, c.path), self._tree_sha(c.path)
                if now == old and now != c.sha256:
                    if c.sha256 is None:
                        self._backend.remove(c.path)
                    else:
                        self._backend.write_atomic(c.path, self._objects.get(c.sha256))
            return
        old = self._state_before(version, e.path)
        now = self._tree_sha(e.path)
        mtime = self._backend.mtime(e.path)
        if now is not None and now == old and mtime is not None and mtime > e.ts + _MTIME_SLACK:
            # the file shows its old content but was written *after* the commit: reverted
            # outside the store, not a writer killed before applying; adopt it instead
            return
        if e.op == "rename":
            if e.dst is None or e.sha256 is None:
                return
            if now == old and now is not None and self._tree_sha(e.dst) is None:
                self._backend.move(e.path, e.dst, self._objects.get(e.sha256))
            elif now == old and self._tree_sha(e.dst) == e.sha256:
                self._backend.remove(e.path)  # a copy-then-delete move was cut short
        elif now == old and now != e.sha256:
            if e.sha256 is None:
                self._backend.remove(e.path)
            else:
                self._backend.write_atomic(e.path, self._objects.get(e.sha256))

    def _apply_tree(self, before: Manifest, target: Manifest, *, verify: bool) -> None:
        """Turn the tree from ``before`` into ``target`` (removals first, then writes).

        With ``verify`` (repairing a restore cut short), each path is checked on disk and
        only changed while it still shows its ``before`` state.
        """
        texts = self._index.texts_by_sha()
        for path in sorted(set(before) - set(target), reverse=True):
            if not verify or self._tree_sha(path) == before[path][0]:
                self._backend.remove(path)
        for path, (sha, _size) in sorted(target.items()):
            old = before.get(path, (None, 0))[0]
            if old == sha or (verify and self._tree_sha(path) != old):
                continue
            text = texts.get(sha)
            data = text.encode("utf-8") if text is not None else self._objects.get(sha)
            self._backend.write_atomic(path, data)

    def _adopt_external(self) -> int:
        """Journal files created, changed (by size) or removed outside the store.

        Read-only stores show the outside changes without journaling them.

        Returns:
            How many same-size files had to be read to tell (a checkpoint saves that).
        """
        checked = 0
        listed = self._backend.list_files_detail()
        last_ts = self._changed
        txn = _Txn()
        for path in self._index.paths():
            if path not in listed:
                self._stage(txn, "sync", path, None)
        for rel, (size, mtime) in listed.items():
            if rel in self._index and self._index.size(rel) == size:
                # same size: unchanged unless touched after its last version (an edit
                # that kept the size), and then only if the bytes really differ
                if mtime is None or mtime <= last_ts.get(rel, 0.0) + _MTIME_SLACK:
                    continue
                data = self._backend.read(rel)
                checked += 1
                if data is None or sha256_hex(data) == self._index.sha(rel):
                    if mtime is not None:
                        self._changed[rel] = mtime  # checked: not read again next time
                    continue
            try:
                path = self.normalize(rel)
                if path != rel:
                    raise MemoryPathError(f"{rel!r} is not in canonical form ({path!r})")
            except MemoryPathError as exc:
                log.warning("not adopting %s into %s: %s", rel, self.url, exc)
                continue
            data = self._backend.read(rel)
            if data is None:
                continue
            try:
                text = data.decode("utf-8")
                self._check_limits(path, len(data))
            except (UnicodeDecodeError, MemoryLimitError, MemoryConflictError) as exc:
                log.warning("not adopting %s into %s: %s", rel, self.url, exc)
                continue
            self._stage(txn, "sync", path, text, data)
        if self.read_only or not txn.changes:
            return checked
        # one entry per adopted file (history stays per file, as before)
        staged = sorted(txn.changes.items())
        for path, change in staged:
            one = _Txn(changes={path: change}, ops=[("sync", path)])
            try:
                self._commit_txn(one, apply=False)
            except CommitRace:  # another writer got there first; adopt on the next open
                self._rollback(_Txn(undo={path: txn.undo[path]}))
        return checked

    # ================================================================== validation
    def normalize(self, path: str) -> str:
        """Validate ``path`` and return its canonical relative form.

        Args:
            path: a path relative to the store root.

        Returns:
            The canonical path (``./a//`` style oddities are rejected, ``./a`` -> ``a``).

        Raises:
            MemoryPathError: the path is invalid or (on local disk) a symlink leads
                outside the root.
        """
        lim = self.limits
        norm = validate_path(
            path, max_path_len=lim.max_path_len, max_name_len=lim.max_name_len,
            max_depth=lim.max_depth,
        )  # fmt: skip
        if self._backend.local_root is not None:
            check_inside(self._backend.local_root, norm)
        return norm

    def _prefix(self, prefix: str) -> str:
        lim = self.limits
        norm = validate_prefix(
            prefix, max_path_len=lim.max_path_len, max_name_len=lim.max_name_len,
            max_depth=lim.max_depth,
        )  # fmt: skip
        if norm and self._backend.local_root is not None:
            check_inside(self._backend.local_root, norm)
        return norm

    def _encode(self, path: str, text: str) -> bytes:
        if not isinstance(text, str):
            raise MemoryContentError(f"{path}: content must be str, got {type(text).__name__}")
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MemoryContentError(f"{path}: content is not valid text ({exc.reason})") from exc

    def _check_target(self, path: str) -> None:
        if self._index.is_dir(path):
            raise MemoryConflictError(f"{path} is a directory")
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in self._index:
                raise MemoryConflictError(f"cannot create {path}: {parent} is a file")

    def _check_limits(self, path: str, new_size: int) -> None:
        lim = self.limits
        if new_size > lim.max_file_bytes:
            raise MemoryLimitError(
                f"{path} would be {new_size} bytes, over the per-file limit of "
                f"{lim.max_file_bytes} bytes (max_file_bytes)"
            )
        exists = path in self._index
        if not exists:
            self._check_target(path)
            if len(self._index) >= lim.max_files:
                raise MemoryLimitError(
                    f"cannot create {path}: the store already holds {len(self._index)} files "
                    f"(max_files={lim.max_files})"
                )
        total = self._index.total_bytes - self._index.size(path) + new_size
        if total > lim.max_store_bytes:
            raise MemoryLimitError(
                f"writing {path} would bring the store to {total} bytes, over the limit of "
                f"{lim.max_store_bytes} bytes (max_store_bytes)"
            )

    # ================================================================== commit
    def _stage(
        self, txn: _Txn, op: str, path: str, text: str | None, data: bytes | None = None
    ) -> None:
        """Record ``path``'s new content (``None``: removed) in ``txn`` and in the index."""
        if path not in txn.undo:
            old = self._index.text(path)
            txn.undo[path] = (
                None if old is None else (old, self._index.sha(path) or "", self._index.size(path))
            )
        if text is None:
            self._index.remove(path)
            txn.changes[path] = _Staged(op, None, None, None, 0)
        else:
            data = text.encode("utf-8") if data is None else data
            sha = sha256_hex(data)
            self._index.put(path, text, sha, len(data))
            txn.changes[path] = _Staged(op, text, data, sha, len(data))
        txn.ops.append((op, path))

    def _rollback(self, txn: _Txn) -> None:
        """Undo ``txn``'s index changes (nothing of it was committed)."""
        for path, old in txn.undo.items():
            if old is None:
                self._index.remove(path)
            else:
                self._index.put(path, old[0], old[1], old[2])
        txn.undo.clear()
        txn.changes.clear()
        txn.ops.clear()

    def _entry_for(self, txn: _Txn, version: int) -> tuple[JournalEntry, dict[str, bytes]]:
        """The journal entry that commits ``txn``, and the content objects it needs."""
        objects = {c.sha: c.data for c in txn.changes.values() if c.sha and c.data is not None}
        now = time.time()
        if len(txn.ops) == 1 or (txn.rename is not None and len(txn.ops) == 2):
            if txn.rename is not None:
                src, dst = txn.rename
                moved = txn.changes[dst]
                entry = JournalEntry(
                    version=version, op="rename", path=src, dst=dst,
                    sha256=moved.sha, size=moved.size, ts=now,
                )  # fmt: skip
                return entry, {}
            ((path, c),) = txn.changes.items()
            entry = JournalEntry(
                version=version, op=c.op, path=path, sha256=c.sha, size=c.size, ts=now
            )
            return entry, objects
        changes = [
            JournalChange(op=c.op, path=path, sha256=c.sha, size=c.size)
            for path, c in txn.changes.items()
        ]
        entry = JournalEntry(version=version, op="batch", path="", changes=changes, ts=now)
        return entry, objects

    def _commit_txn(self, txn: _Txn, *, apply: bool = True) -> int:
        """Objects first, then the journal entry (the commit point), then the tree.

        Raises:
            CommitRace: another writer took the version (nothing was committed).
        """
        if not txn.changes:
            return len(self._entries)
        entry, objects = self._entry_for(txn, len(self._entries) + 1)
        entry, objects = self._carry(entry, objects, txn)
        try:
            if len(objects) > 1 and not self._backend.appendable:
                pack = self._objects.put_pack(objects)  # one PUT for the whole batch
                entry = entry.model_copy(update={"pack": pack})
            else:
                for sha, data in objects.items():
                    self._objects.put(sha, data)
        except OSError as exc:  # disk full, quota: the entry is not written, nothing changes
            raise AutomemError(
                f"{self.url}: could not store the content of version {entry.version} "
                f"({exc}); nothing was changed: free space (or fix the volume) and retry"
            ) from exc
        try:
            self._journal.append(entry)
        except OSError as exc:  # disk full, quota, I/O error: nothing is committed
            raise AutomemError(
                f"{self.url}: could not commit version {entry.version} ({exc}); nothing "
                "was changed: free space (or fix the volume) and retry"
            ) from exc
        self._take([entry])
        self._since_checkpoint += max(1, len(txn.changes))  # a big batch earns a checkpoint
        if not apply:
            return entry.version
        try:
            if entry.op == "rename" and entry.dst is not None:
                self._backend.move(entry.path, entry.dst, txn.changes[entry.dst].data or b"")
            else:
                gone = [path for path, c in txn.changes.items() if c.data is None]
                self._backend.write_many(
                    {path: c.data for path, c in txn.changes.items() if c.data is not None}
                )
                for path in gone:
                    self._backend.remove(path)
            applied = time.time()  # files written after the entry's ts: not outside edits
            for path in txn.changes:
                self._changed[path] = applied
        except OSError as exc:
            self._unapplied = entry.version  # retried before the next mutation
            txn.undo.clear()  # the version stands: the caller must not roll the index back
            raise AutomemError(
                f"version {entry.version} is committed but the tree could not be updated "
                f"({exc}); it is written before the next change, or when the store is next "
                "opened"
            ) from exc
        return entry.version

    def _representation(
        self, path: str, sha: str, data: bytes, txn: _Txn
    ) -> tuple[Delta | None, str | None]:
        """How a new content rides in its journal entry: a delta, whole, or not at all."""
        old = txn.undo.get(path)
        if old is not None and old[1] and old[1] != sha and len(data) > _MIN_DELTA_SIZE:
            delta = make_delta(old[1], old[0].encode("utf-8"), data)
            if delta is not None and self._objects.delta_worth(old[1], len(delta.data), len(data)):
                return delta, None
        if len(data) <= _INLINE_MAX:
            return None, data.decode("utf-8")
        return None, None

    def _carry(
        self, entry: JournalEntry, objects: dict[str, bytes], txn: _Txn
    ) -> tuple[JournalEntry, dict[str, bytes]]:
        """Move small contents and deltas into ``entry``; the rest stay content objects."""
        if not objects:
            return entry, objects
        rest = dict(objects)
        if entry.changes is None:
            if entry.sha256 is None or entry.sha256 not in objects:
                return entry, objects
            delta, text = self._representation(entry.path, entry.sha256, objects[entry.sha256], txn)
            if delta is None and text is None:
                return entry, objects
            return entry.model_copy(update={"delta": delta, "data": text}), {}
        changes = []
        for c in entry.changes:
            if c.sha256 is not None and c.sha256 in rest:
                delta, text = self._representation(c.path, c.sha256, rest[c.sha256], txn)
                if delta is not None or text is not None:
                    rest.pop(c.sha256)
                    c = c.model_copy(update={"delta": delta, "data": text})
            changes.append(c)
        return entry.model_copy(update={"changes": changes}), rest

    def _check_writable(self) -> None:
        if self.read_only:
            raise MemoryReadOnlyError(
                f"{self.url} is open read-only; open it with MemoryStore(url) to change it"
            )

    def _transact(self, body: Callable[[_Txn], _R]) -> tuple[_R, int]:
        """Run ``body`` (checks + staging) and commit what it staged as one version.

        ``body`` reads the current state inside the critical section, so every
        read-modify-write is atomic: on local disk under the thread lock and the
        ``flock``; on object stores the commit is conditional and, if another writer
        took the version, ``body`` runs again on the caught-up state. Inside
        :meth:`batch` the staged changes join the batch instead.

        Returns:
            ``body``'s result and the version that commits it.
        """
        self._check_writable()
        batch = self._batch
        if batch is not None and self._batch_thread == threading.get_ident():
            out = body(batch)
            batch.bodies.append(body)
            return out, len(self._entries) + 1
        for attempt in range(_MAX_ATTEMPTS):
            with self._mutation(force=attempt > 0):
                txn = _Txn()
                try:
                    out = body(txn)
                    return out, self._commit_txn(txn)
                except CommitRace:
                    self._rollback(txn)
                    self.commit_retries += 1
                except BaseException:
                    self._rollback(txn)
                    raise
            self._backoff(attempt)
        raise MemoryConflictError(
            f"{self.url}: gave up after {_MAX_ATTEMPTS} attempts; other writers kept "
            "committing first"
        )

    def _backoff(self, attempt: int) -> None:
        time.sleep(min(0.2, 0.002 * (2 ** min(attempt, 7))) * (0.5 + self._rng.random()))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Commit every mutation made inside the block as one journal version.

        Reads inside the block see the block's own changes. Nothing is committed if the
        block raises, or if the process dies inside it. The block holds the store's lock
        (other threads and, on local disk, other processes wait); on object stores the
        commit is one conditional PUT of the journal entry, one PUT of a pack holding the
        new contents and one PUT per changed file, and if another writer committed first
        the block's mutations are replayed on the new state. Versions returned inside the
        block are the version the batch will get (if no other writer intervenes).

        Raises:
            MemoryConflictError: a precondition (``if_match``) failed while replaying.
        """
        self._check_writable()
        if self._batch is not None and self._batch_thread == threading.get_ident():
            yield  # nested: join the outer batch
            return
        with self._lock:
            txn = _Txn()
            self._batch, self._batch_thread = txn, threading.get_ident()
            try:
                if self._journal.probe_before_write and self._journal.changed():
                    self._catch_up(locked=True)
                try:
                    yield
                except BaseException:
                    self._rollback(txn)
                    raise
                self._batch = None
                for attempt in range(_MAX_ATTEMPTS):
                    try:
                        self._commit_txn(txn)
                        return
                    except CommitRace:
                        self.commit_retries += 1
                        bodies = txn.bodies
                        self._rollback(txn)
                        self._catch_up(locked=True)
                        txn = _Txn()
                        try:
                            for body in bodies:
                                body(txn)
                                txn.bodies.append(body)
                        except BaseException:
                            self._rollback(txn)
                            raise
                    self._backoff(attempt)
                self._rollback(txn)
                raise MemoryConflictError(
                    f"{self.url}: batch gave up after {_MAX_ATTEMPTS} attempts; other "
                    "writers kept committing first"
                )
            finally:
                self._batch = None
                if self._since_checkpoint >= _CHECKPOINT_EVERY:
                    self._checkpoint()

    # ================================================================== preconditions
    def _precondition(
        self, path: str, if_match: str | None, wanted: Callable[[], str | None]
    ) -> bool:
        """Check ``if_match`` against ``path``'s current sha256.

        Returns:
            ``True`` if the write should go ahead, ``False`` if the store already holds
            what was asked (a retried request: success, nothing to do).

        Raises:
            MemoryConflictError: the file changed since the caller read it.
        """
        current = self._index.sha(path)
        if if_match is None or current == if_match:
            return True
        try:
            goal = wanted()
        except AutomemError:
            goal = None
        if goal is not None and goal == current:
            return False
        raise MemoryConflictError(
            f"{path} changed since you read it (expected sha256 {if_match[:12]}..., now "
            f"{'absent' if current is None else current[:12] + '...'}): read it again",
            path=path,
            current_sha256=current,
        )

    def _old_text(self, sha: str) -> str | None:
        """The text with address ``sha`` if the store ever held it."""
        try:
            return self._objects.get(sha).decode("utf-8")
        except (AutomemError, UnicodeDecodeError):
            return None

    # ================================================================== public API
    @property
    @_reader
    def version(self) -> int:
        """Current journal version (0 for an empty, never-written store)."""
        return len(self._entries)

    @_reader
    def read(self, path: str) -> str:
        """Return the content of ``path``.

        Raises:
            MemoryPathError: invalid path.
            MemoryNotFoundError: no such file.
        """
        p = self.normalize(path)
        text = self._index.text(p)
        if text is None:
            what = "is a directory" if self._index.is_dir(p) else "does not exist"
            raise MemoryNotFoundError(f"{p} {what}")
        return text

    @_reader
    def exists(self, path: str) -> bool:
        """Whether the file ``path`` exists.

        Raises:
            MemoryPathError: invalid path.
        """
        p = self.normalize(path)
        return p in self._index

    def write(self, path: str, text: str, *, if_match: str | None = None) -> int:
        """Create or replace ``path`` with ``text``.

        Args:
            path: the file.
            text: its new content.
            if_match: only write if the file's current sha256 is this (from
                :meth:`stat` or :meth:`read_with_sha`); if it already holds ``text``
                the call succeeds without a new version (a retried request). That rule
                compares content only: two writers that both ask for the same new
                content both succeed, so a counter should put something of the writer's
                own in its content (as the tests do).

        Returns:
            The new version.

        Raises:
            MemoryPathError: invalid path.
            MemoryLimitError: a size or count limit would be exceeded.
            MemoryConflictError: ``path`` is a directory or under a file, or it changed
                since ``if_match`` was read.
        """
        p = self.normalize(path)
        data = self._encode(p, text)

        def body(txn: _Txn) -> None:
            if self._precondition(p, if_match, lambda: sha256_hex(data)):
                self._check_limits(p, len(data))
                self._stage(txn, "write", p, text, data)

        return self._transact(body)[1]

    def append(self, path: str, text: str) -> int:
        """Append ``text`` verbatim to ``path`` (created if missing; add your own newline).

        Returns:
            The new version.

        Raises:
            MemoryPathError: invalid path.
            MemoryLimitError: a size or count limit would be exceeded.
            MemoryConflictError: ``path`` is a directory or under a file.
        """
        p = self.normalize(path)
        self._encode(p, text)

        def body(txn: _Txn) -> None:
            new = (self._index.text(p) or "") + text
            data = new.encode("utf-8")
            self._check_limits(p, len(data))
            self._stage(txn, "append", p, new, data)

        return self._transact(body)[1]

    def update(
        self,
        path: str,
        fn: Callable[[str | None], str | None],
        *,
        if_match: str | None = None,
        max_bytes: int | None = None,
        op: str = "write",
    ) -> int | None:
        """Atomically replace ``path``'s content with ``fn(current)``.

        ``fn`` gets the current text (``None`` if the file does not exist) *inside* the
        store's critical section and returns the new text, or ``None`` to change
        nothing. It may raise an :class:`AutomemError` to refuse (nothing changes). On
        object stores ``fn`` may run more than once (after another writer won the
        race), so it must be a pure function of its argument.

        Args:
            path: the file.
            fn: current text -> new text (or ``None``: leave it).
            if_match: only update if the current sha256 is this; if applying ``fn`` to
                that version gives what the file holds now, succeed without a change.
            max_bytes: a per-file cap tighter than the store's ``max_file_bytes``.
            op: the name recorded in the journal (``upsert``, ``replace``, ...).

        Returns:
            The new version, or ``None`` if ``fn`` changed nothing.

        Raises:
            MemoryConflictError: the file changed since ``if_match`` was read.
            MemoryLimitError: the new content is over a cap.
        """
        p = self.normalize(path)

        def wanted() -> str | None:
            old = self._old_text(if_match or "")
            new = fn(old) if old is not None else None
            return None if new is None else sha256_hex(self._encode(p, new))

        def body(txn: _Txn) -> bool:
            if not self._precondition(p, if_match, wanted):
                return False
            current = self._index.text(p)
            new = fn(current)
            if new is None or new == current:
                return False
            data = self._encode(p, new)
            if max_bytes is not None and len(data) > max_bytes:
                raise MemoryLimitError(
                    f"{p} would grow to {len(data)} bytes, over its cap of {max_bytes}; "
                    "summarise or replace old lines instead"
                )
            self._check_limits(p, len(data))
            self._stage(txn, op, p, new, data)
            return True

        changed, version = self._transact(body)
        return version if changed else None

    def replace(self, path: str, old: str, new: str, *, if_match: str | None = None) -> int:
        """Replace the one occurrence of ``old`` in ``path`` by ``new``.

        Returns:
            The new version (the current one if the result equals the content).

        Raises:
            MemoryNotFoundError: no such file.
            MemoryConflictError: ``old`` occurs zero or several times, or the file
                changed since ``if_match`` was read.
        """
        p = self.normalize(path)

        def fn(text: str | None) -> str:
            if text is None:
                raise MemoryNotFoundError(f"{p} does not exist")
            count = text.count(old) if old else 0
            if count != 1:
                why = "not found" if count == 0 else f"found {count} times; make it unique"
                raise MemoryConflictError(f"text to replace {why} in {p}: {old[:80]!r}", path=p)
            return text.replace(old, new, 1)

        version = self.update(p, fn, if_match=if_match)
        return self.version if version is None else version

    def create(self, path: str, text: str = "") -> int:
        """Create ``path``; it must not exist (if-none-match).

        A retried create whose content is already stored succeeds without a new version.

        Returns:
            The new version.

        Raises:
            MemoryConflictError: the file (or a directory of that name) exists with
                other content.
            MemoryPathError: invalid path.
            MemoryLimitError: a size or count limit would be exceeded.
        """
        p = self.normalize(path)
        data = self._encode(p, text)

        def body(txn: _Txn) -> None:
            if p in self._index:
                if self._index.sha(p) == sha256_hex(data):
                    return
                raise MemoryConflictError(f"{p} already exists", path=p)
            self._check_limits(p, len(data))
            self._stage(txn, "create", p, text, data)

        return self._transact(body)[1]

    def delete(self, path: str, *, if_match: str | None = None) -> int:
        """Delete ``path``.

        Args:
            path: the file.
            if_match: only delete if the current sha256 is this; if the file is
                already gone the call succeeds.

        Returns:
            The new version.

        Raises:
            MemoryPathError: invalid path.
            MemoryNotFoundError: no such file (without ``if_match``).
            MemoryConflictError: the file changed since ``if_match`` was read.
        """
        p = self.normalize(path)

        def body(txn: _Txn) -> None:
            if if_match is not None and p not in self._index and not self._index.is_dir(p):
                return  # already gone: a retried delete succeeds
            if not self._precondition(p, if_match, lambda: None):
                return
            if p not in self._index:
                what = "is a directory" if self._index.is_dir(p) else "does not exist"
                raise MemoryNotFoundError(f"cannot delete {p}: it {what}")
            self._stage(txn, "delete", p, None)

        return self._transact(body)[1]

    def rename(self, src: str, dst: str, *, if_match: str | None = None) -> int:
        """Move the file ``src`` to ``dst``; ``dst`` must not exist.

        Args:
            src: the file to move.
            dst: its new path.
            if_match: only move if ``src``'s sha256 is this; if ``src`` is gone and
                ``dst`` holds that content (a retried move), the call succeeds.

        Returns:
            The new version.

        Raises:
            MemoryPathError: invalid path.
            MemoryNotFoundError: ``src`` does not exist.
            MemoryConflictError: ``dst`` exists, or is a directory or under a file, or
                ``src`` changed since ``if_match`` was read.
        """
        s = self.normalize(src)
        d = self.normalize(dst)

        def body(txn: _Txn) -> None:
            if if_match is not None and s not in self._index and self._index.sha(d) == if_match:
                return
            if not self._precondition(s, if_match, lambda: None):
                return
            if s not in self._index:
                raise MemoryNotFoundError(f"cannot rename {s}: it does not exist")
            if d in self._index or d == s:
                raise MemoryConflictError(f"cannot rename {s} to {d}: {d} already exists", path=d)
            self._check_target(d)
            text = self._index.text(s) or ""
            self._stage(txn, "rename", s, None)
            self._stage(txn, "rename", d, text)
            if len(txn.ops) == 2:
                txn.rename = (s, d)

        return self._transact(body)[1]

    @_reader
    def stat(self, path: str) -> FileStat:
        """The current sha256, size and last-changing version of ``path``.

        Pass ``stat(path).sha256`` as ``if_match`` to make a later write conditional.

        Raises:
            MemoryPathError: invalid path.
            MemoryNotFoundError: no such file.
        """
        p = self.normalize(path)
        sha = self._index.sha(p)
        if sha is None:
            what = "is a directory" if self._index.is_dir(p) else "does not exist"
            raise MemoryNotFoundError(f"{p} {what}")
        version = next(
            (e.version for e in reversed(self._entries) if any(t[0] == p for t in e.touched())
             or e.op == "restore"),
            0,
        )  # fmt: skip
        return FileStat(path=p, sha256=sha, size=self._index.size(p), version=version)

    @_reader
    def read_with_sha(self, path: str) -> tuple[str, str]:
        """``(text, sha256)`` of ``path``, read together (for a later ``if_match``).

        Raises:
            MemoryPathError: invalid path.
            MemoryNotFoundError: no such file.
        """
        text = self.read(path)
        sha = self._index.sha(self.normalize(path))
        assert sha is not None
        return text, sha

    @_reader
    def list(self, prefix: str = "") -> list[str]:
        """Sorted relative paths of the files under ``prefix`` (a directory; ``""`` = all).

        Raises:
            MemoryPathError: invalid prefix.
        """
        pre = self._prefix(prefix)
        paths = self._index.paths()
        if not pre:
            return paths
        under = pre + "/"
        return [p for p in paths if p == pre or p.startswith(under)]

    @_reader
    def search(
        self, query: str, path: str | None = None, *, limit: int = 50
    ) -> builtins.list[SearchHit]:
        """Lines containing ``query`` (case-insensitive substring), in path/line order.

        Args:
            query: text to find; an empty query finds nothing.
            path: restrict to one file or a directory (``None``/``""``/``*`` = all).
            limit: maximum number of hits.

        Returns:
            The hits.

        Raises:
            MemoryPathError: invalid ``path``.
            MemoryNotFoundError: ``path`` names neither a file nor a directory.
        """
        scope = self._prefix(path) if path else ""
        if scope and scope not in self._index and not self._index.is_dir(scope):
            raise MemoryNotFoundError(f"{scope} does not exist")
        return self._index.search(query, scope or None, limit)

    @_reader
    def total_bytes(self) -> int:
        """Total size of all files in UTF-8 bytes."""
        return self._index.total_bytes

    @_reader
    def history(self, path: str | None = None) -> builtins.list[JournalEntry]:
        """Journal entries, oldest first; with ``path``, those that changed that file.

        Raises:
            MemoryPathError: invalid path.
        """
        if path is None:
            return list(self._entries)
        p = self.normalize(path)
        out: builtins.list[JournalEntry] = []
        state: Manifest = {}
        for e in self._entries:
            before = state.get(p)
            _apply_entry(state, e, self._manifests)
            if e.path == p or e.dst == p or state.get(p) != before:
                out.append(e)
        return out

    def _check_version(self, version: int) -> None:
        if not isinstance(version, int) or not 0 <= version <= len(self._entries):
            raise MemoryNotFoundError(
                f"no version {version!r} in {self.url}; versions are "
                f"{self._entries.horizon}..{len(self._entries)}"
            )
        if version < len(self._entries) and not self._entries.dropped(version):
            # another store may have compacted since: its horizon is on disk (one read)
            self._entries.horizon = max(self._entries.horizon, self._stored_horizon())
        self._refuse_dropped(version)

    def _refuse_dropped(self, version: int) -> None:
        if self._entries.dropped(version):
            raise MemoryNotFoundError(
                f"version {version} of {self.url} was dropped by compact; versions "
                f"{self._entries.horizon}..{len(self._entries)} are kept"
            )

    def _stored_horizon(self) -> int:
        data = self._backend.read(_HORIZON_PATH)
        try:
            return int(json.loads(data)["horizon"]) if data else 0
        except (ValueError, KeyError, TypeError):
            return 0

    @_reader
    def manifest(self, version: int | None = None) -> dict[str, tuple[str, int]]:
        """``path -> (sha256, size)`` of the tree at ``version`` (default: now).

        Raises:
            MemoryNotFoundError: no such version.
        """
        if version is None:
            return self._index.manifest()
        self._check_version(version)
        return self._manifest_at(version)

    @_reader
    def snapshot(self, version: int | None = None) -> dict[str, str]:
        """The whole tree (``path -> text``) at ``version`` (default: now).

        Raises:
            MemoryNotFoundError: no such version.
        """
        manifest = self.manifest(version)
        texts = self._index.texts_by_sha()
        out: dict[str, str] = {}
        for path, (sha, _size) in sorted(manifest.items()):
            text = texts.get(sha)
            out[path] = text if text is not None else self._objects.get(sha).decode("utf-8")
        return out

    def diff(self, v1: int, v2: int) -> str:
        """Unified diff from the tree at ``v1`` to the tree at ``v2`` (``""`` if equal).

        Raises:
            MemoryNotFoundError: no such version.
        """
        a, b = self.snapshot(v1), self.snapshot(v2)
        chunks: builtins.list[str] = []
        for path in sorted(set(a) | set(b)):
            old, new = a.get(path), b.get(path)
            if old == new:
                continue
            lines = difflib.unified_diff(
                (old or "").splitlines(),
                (new or "").splitlines(),
                fromfile=f"a/{path}" if old is not None else "/dev/null",
                tofile=f"b/{path}" if new is not None else "/dev/null",
                fromfiledate=f"v{v1}",
                tofiledate=f"v{v2}",
                lineterm="",
            )
            body = "\n".join(lines)
            if not body:  # only a trailing-newline or empty-file change
                body = (
                    f"--- {'a/' + path if old is not None else '/dev/null'}\tv{v1}\n"
                    f"+++ {'b/' + path if new is not None else '/dev/null'}\tv{v2}"
                )
            chunks.append(body)
        return "\n".join(chunks) + ("\n" if chunks else "")

    def restore(self, version: int) -> int:
        """Bring the whole tree back to ``version``; journaled as a new version.

        Returns:
            The new version.

        Raises:
            MemoryNotFoundError: no such version.
            MemoryLimitError: the old tree does not fit the current limits.
            AutomemError: called inside :meth:`batch`.
        """
        self._check_writable()
        if self._batch is not None and self._batch_thread == threading.get_ident():
            raise AutomemError("restore() cannot run inside a batch")
        for attempt in range(_MAX_ATTEMPTS):
            with self._mutation(force=attempt > 0):
                try:
                    return self._restore_locked(version)
                except CommitRace:
                    pass
            self._backoff(attempt)
        raise MemoryConflictError(f"{self.url}: restore gave up; other writers kept committing")

    def _restore_locked(self, version: int) -> int:
        self._check_version(version)
        target = self._manifest_at(version)
        total = sum(size for _sha, size in target.values())
        lim = self.limits
        too_big = [p for p, (_s, size) in target.items() if size > lim.max_file_bytes]
        if len(target) > lim.max_files or total > lim.max_store_bytes or too_big:
            raise MemoryLimitError(
                f"version {version} has {len(target)} files / {total} bytes"
                + (
                    f" ({too_big[0]} is over max_file_bytes={lim.max_file_bytes})"
                    if too_big
                    else ""
                )
                + f", over the limits (max_files={lim.max_files}, "
                f"max_store_bytes={lim.max_store_bytes})"
            )
        blob = _manifest_bytes(target)
        sha = sha256_hex(blob)
        self._objects.put(sha, blob)
        before = self._index.manifest()
        entry = JournalEntry(
            version=len(self._entries) + 1,
            op="restore",
            path="",
            sha256=sha,
            size=total,
            ts=time.time(),
            target=version,
        )
        self._journal.append(entry)
        self._take([entry])
        self._since_checkpoint += 1
        self._apply_tree(before, target, verify=False)
        texts = self._index.texts_by_sha()
        for path in before:
            if path not in target:
                self._index.remove(path)
        for path, (fsha, size) in target.items():
            if self._index.sha(path) != fsha:
                text = texts.get(fsha)
                if text is None:
                    text = self._objects.get(fsha).decode("utf-8")
                self._index.put(path, text, fsha, size)
        return entry.version

    # ================================================================== forgetting
    def compact(
        self,
        *,
        keep_last: int | None = None,
        since: int | None = None,
        grace_s: float = 3600.0,
    ) -> CompactResult:
        """Drop old versions and delete the content nothing kept refers to.

        Args:
            keep_last: keep the last ``keep_last`` versions (at least 1).
            since: keep versions ``since`` and later.
            grace_s: on object stores, content objects written less than this many
                seconds ago are never deleted (another writer may be committing them).

        With neither ``keep_last`` nor ``since``, every version is kept and only content
        objects no version refers to (left by failed commits) are deleted. Versions
        before the horizon are gone afterwards: reading one raises
        :class:`~automem_sdk.errors.MemoryNotFoundError` naming the versions kept.

        Returns:
            What was dropped and deleted.

        Raises:
            AutomemError: both or invalid arguments.
        """
        self._check_writable()
        if keep_last is not None and since is not None:
            raise AutomemError("compact() takes keep_last= or since=, not both")
        if keep_last is not None and keep_last < 1:
            raise AutomemError("compact(keep_last=N) needs N >= 1")
        with self._lock:
            self._catch_up(locked=True)
            entries = list(self._entries)
            version, old = len(self._entries), self._entries.horizon
            horizon = old
            if keep_last is not None:
                horizon = max(old, version - keep_last + 1)
            elif since is not None:
                self._check_version(since)
                horizon = max(old, since)
            horizon = min(horizon, version)
            plan = plan_compaction(
                entries, horizon, self._manifest_at(horizon), self._objects,
                self._manifests, _INLINE_MAX,
            )  # fmt: skip
            if horizon == 0:  # nothing dropped: keep the journal, collect garbage only
                plan.entries = entries
            for sha, data in plan.materialise.items():
                self._objects.put(sha, data)
            if horizon > old:
                body = json.dumps({"horizon": horizon}).encode()
                self._backend.write_atomic(_HORIZON_PATH, body)  # for stores open elsewhere
                if isinstance(self._journal, JsonlJournal):
                    self._journal.rewrite(plan.entries)
                else:
                    self._journal.compact(plan.entries)
            deleted, freed = collect_garbage(self._backend, plan, grace_s=grace_s)
            with contextlib.suppress(FileNotFoundError):
                self._backend.remove(CHECKPOINT_PATH)  # it describes the old journal
            self._reload()
            self._checkpoint()
            return CompactResult(horizon, max(0, horizon - max(old, 1)), deleted, freed)

    def _reload(self) -> None:
        """Read the whole store again (its journal was rewritten)."""
        with self._lock:
            self._entries = EntryLog()
            self._changed = {}
            self._objects = ObjectStore(self._backend)
            self._manifests = _ManifestLoader(self._objects)
            self._index = SearchIndex()
            self._journal = type(self._journal)(self._backend)
            self._open()

    def _purge_carried(self, doomed: set[str]) -> None:
        """Cut ``doomed`` contents out of journal lines; keep every other version readable."""
        keep = self._objects.dependents(doomed)
        for sha in keep:  # their deltas build on purged contents: store them whole first
            self._objects.make_whole(sha, self._objects.get(sha))
        if self._backend.appendable:
            strip_carried(self._backend, doomed | set(keep))
        else:
            strip_carried_objects(self._backend, doomed | set(keep))
        self._objects.forget(doomed)

    def redact(
        self,
        *,
        path: str | None = None,
        pattern: str | None = None,
        versions: tuple[int, int] | None = None,
        reason: str = "redacted",
    ) -> int:
        """Purge content from every stored version (a user asked to be forgotten).

        With ``path``, every version of that file is purged and the file is deleted.
        With ``pattern`` (a regular expression), matching text is cut out of the current
        files (a new version) and every old version containing it is purged. With
        ``versions=(first, last)``, the contents those versions wrote are purged (the
        current files are kept: delete or rewrite one first to purge it too). The
        journal keeps its entries; a ``redact`` entry records what was purged, when and
        why, and reading a purged version raises a clear error.

        Returns:
            The version of the ``redact`` entry.

        Raises:
            AutomemError: not exactly one of ``path``, ``pattern`` and ``versions``.
        """
        import re

        self._check_writable()
        if sum(x is not None for x in (path, pattern, versions)) != 1:
            raise AutomemError("redact() needs exactly one of path=, pattern= or versions=")
        if versions is not None:
            first, last = versions
            self._check_version(first)
            self._check_version(last)
        regex = re.compile(pattern) if pattern is not None else None
        target = self.normalize(path) if path is not None else None
        with self._lock:
            self._catch_up(locked=True)
            if target is not None and target in self._index:
                self.delete(target)
            if regex is not None:
                for p in self._index.paths():
                    text = self._index.text(p) or ""
                    if regex.search(text):
                        self.write(p, regex.sub("[redacted]", text))
            doomed: dict[str, str] = {}
            state: Manifest = {}
            for e in self._entries:
                _apply_entry(state, e, self._manifests)
                if e.op == "restore":
                    continue  # its sha256 is a tree manifest, not a content
                for p, sha, _size in e.touched():
                    if sha is None or sha in doomed or sha in self._objects.redacted:
                        continue
                    by_path = target is not None and p == target
                    by_version = versions is not None and versions[0] <= e.version <= versions[1]
                    if by_path or by_version:
                        doomed[sha] = p
                    elif regex is not None:
                        try:
                            old = self._objects.get(sha).decode("utf-8")
                        except AutomemError:
                            continue
                        if regex.search(old):
                            doomed[sha] = p
            live = {sha for sha, _ in self._index.manifest().values()}
            doomed = {sha: p for sha, p in doomed.items() if sha not in live}
            self._purge_carried(set(doomed))
            entry = JournalEntry(
                version=len(self._entries) + 1, op="redact", path=reason[:200], ts=time.time(),
                changes=[JournalChange(op="redact", path=p, sha256=s) for s, p in doomed.items()],
            )  # fmt: skip
            self._journal.append(entry)
            self._take([entry])
            self._backend.remove_many([ObjectStore.path(sha) for sha in doomed])
            self._reload()  # nothing in memory keeps a purged text either
            self._checkpoint()  # the content cache must not keep a purged text
            return entry.version
