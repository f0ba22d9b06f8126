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

import logging
import random
from typing import TYPE_CHECKING, Any

from automem_sdk.errors import (
    AutomemError,
    MemoryContentError,
    MemoryNotFoundError,
    MemoryPathError,
)
from automem_sdk.store_checkpoint import CHECKPOINT_PATH, Checkpoint, EntryLog
from automem_sdk.store_commit import CommitMixin
from automem_sdk.store_compact import CompactResult
from automem_sdk.store_index import SearchHit, SearchIndex, load_cache
from automem_sdk.store_journal import (
    FORMAT_VERSION,
    Backend,
    JournalEntry,
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
from automem_sdk.store_paths import RESERVED_DIR
from automem_sdk.store_read import ReadMixin
from automem_sdk.store_replay import ReplayMixin
from automem_sdk.store_state import (
    CACHE_PATH,
    CHECKPOINT_MIN,
    CHECKPOINT_ON_CLOSE,
    FileStat,
    ManifestLoader,
    StoreLimits,
    gc_paused,
)
from automem_sdk.store_versions import VersionsMixin
from automem_sdk.store_write import WriteMixin

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


class MemoryStore(VersionsMixin, WriteMixin, ReadMixin, CommitMixin, ReplayMixin):
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
        self.url = url
        self.limits = limits or StoreLimits()
        self.read_only = read_only
        self._rng = random.Random()
        self._batch = None
        self._batch_thread = 0
        self.commit_retries = 0
        """Commits lost to another writer and retried (a contention figure for perf)."""
        protocol, root = self._connect(
            storage_options, durable=durable, create=create, create_bucket=create_bucket,
            file_mode=file_mode, dir_mode=dir_mode,
        )  # fmt: skip
        self._objects = ObjectStore(self._backend)
        self._manifests = ManifestLoader(self._objects)
        lock_file = None
        if self._backend.local_root is not None and not self.read_only:
            lock_file = self._backend.local(f"{RESERVED_DIR}/lock")
        shared = root_lock(f"{protocol}:{root}") if protocol == "memory" else None
        self._lock = StoreLock(lock_file, shared)
        self._entries = EntryLog()
        self._changed = {}
        self._unapplied = 0
        self._index = SearchIndex()
        self._since_checkpoint = 0
        with self._lock:
            self._start(protocol, auto_refresh)

    # ================================================================== lifecycle
    def _connect(
        self, storage_options: dict[str, Any] | None, *, durable: bool, create: bool,
        create_bucket: bool, file_mode: int, dir_mode: int,
    ) -> tuple[str, str]:  # fmt: skip
        """Reach the root (creating it if allowed) and set up the backend.

        Returns:
            The fsspec protocol and the root path.
        """
        import fsspec
        from fsspec.implementations.dirfs import DirFileSystem
        from fsspec.implementations.local import LocalFileSystem

        url = self.url
        base, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        protocol = base.protocol if isinstance(base.protocol, str) else base.protocol[0]
        _ensure_root(base, protocol, root, url, create=create and not self.read_only,
                     create_bucket=create_bucket, dir_mode=dir_mode)  # fmt: skip
        local_root: str | None = None
        if isinstance(base, LocalFileSystem):
            import os

            local_root = os.path.realpath(root)
            if os.path.islink(os.path.join(local_root, RESERVED_DIR)):
                raise MemoryPathError(f"{RESERVED_DIR}/ in {url} is a symlink; refusing to use it")
        self._fs = DirFileSystem(path=root, fs=base)
        self._backend = Backend(
            self._fs, protocol, local_root, durable=durable, file_mode=file_mode,
            dir_mode=dir_mode,
        )  # fmt: skip
        if local_root is not None and not self.read_only:
            try:
                self._backend.makedirs(self._backend.local(f"{RESERVED_DIR}/tmp"))
            except OSError as exc:
                if exc.errno not in _READ_ONLY_ERRNOS:
                    raise
                log.warning("%s is not writable (%s): opening it read-only", url, exc)
                self.read_only = True
        return protocol, root

    def _start(self, protocol: str, auto_refresh: bool | None) -> None:
        """Pick the journal the format marker names (writing it if new), then open."""
        url = self.url
        fmt = read_format(self._backend)
        if fmt is None:
            layout: Layout = "jsonl" if self._backend.appendable else "objects"
            has_jsonl = self._backend.exists(JsonlJournal.PATH)
            chosen: Layout = "jsonl" if has_jsonl else layout
            if not self.read_only:
                write_format(self._backend, chosen)
            fmt = {"journal": chosen, "schema_version": FORMAT_VERSION}
        self._journal = (
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

    def _open(self) -> None:
        with gc_paused():  # opening allocates ~10 objects per file and frees none of them
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
        cached = self._backend.read(CACHE_PATH)
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
        if not self.read_only and max(loaded, len(tail), checked) >= CHECKPOINT_MIN:
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
            if self._since_checkpoint >= CHECKPOINT_ON_CLOSE and not self.read_only:
                self._checkpoint()
        self._lock.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryStore({self.url!r}, version={len(self._entries)}, files={len(self._index)})"

    def _reload(self) -> None:
        """Read the whole store again (its journal was rewritten)."""
        with self._lock:
            self._entries = EntryLog()
            self._changed = {}
            self._objects = ObjectStore(self._backend)
            self._manifests = ManifestLoader(self._objects)
            self._index = SearchIndex()
            self._journal = type(self._journal)(self._backend)
            self._open()
