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

Concurrency: on local disk, mutations take an ``flock`` on ``.automem/lock`` and replay
entries written by other processes first, so several processes can write to one store.
Other filesystems have no lock: they assume a single writer at a time (a second writer
that committed since our last read is detected by probing the next journal key before
each commit, and caught up with). Stores on local disk and in memory also check the
journal before reads and searches, so they see other writers' changes; on object stores
call :meth:`MemoryStore.refresh`. Files changed *outside* the store (an editor, ``cp``)
are adopted as ``sync`` entries when a store is opened (detected by size).

Durability: by default against process crashes (a killed writer loses nothing it
committed). ``MemoryStore(..., durable=True)`` on local disk also ``fsync``-s each
object, journal line and file (and the directories they land in) before a mutation
returns, so committed changes survive a power loss too, at the price of a few
milliseconds per write (``python -m automem_sdk.perf`` measures it).
"""

from __future__ import annotations

import builtins
import difflib
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from pydantic import BaseModel, Field

from automem_sdk.errors import (
    AutomemError,
    MemoryConflictError,
    MemoryContentError,
    MemoryLimitError,
    MemoryNotFoundError,
    MemoryPathError,
)
from automem_sdk.store_index import SearchHit, SearchIndex, load_cache
from automem_sdk.store_journal import (
    Backend,
    JournalEntry,
    JsonlJournal,
    Layout,
    ObjectJournal,
    ObjectStore,
    StoreLock,
    read_format,
    sha256_hex,
    write_format,
)
from automem_sdk.store_paths import RESERVED_DIR, check_inside, validate_path, validate_prefix

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
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
_CHECKPOINT_EVERY = 2000  # mutations between content-cache rewrites
_CHECKPOINT_MIN = 128  # objects read on open before a content cache is worth writing
_CHECKPOINT_ON_CLOSE = 16  # mutations since the last cache that make close() rewrite it
_PUT_OPS = frozenset({"write", "append", "create", "sync"})


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
    for e in entries[:upto]:
        _apply_entry(state, e, manifests)
    return state


def _apply_entry(state: Manifest, e: JournalEntry, manifests: _ManifestLoader) -> None:
    if e.op == "restore":
        state.clear()
        if e.sha256:
            state.update(manifests(e.sha256))
    elif e.op == "rename":
        state.pop(e.path, None)
        if e.dst and e.sha256:
            state[e.dst] = (e.sha256, e.size)
    elif e.sha256 is None:
        state.pop(e.path, None)
    else:
        state[e.path] = (e.sha256, e.size)


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

    Raises:
        AutomemError: the store's on-disk format is unsupported or it is damaged.
    """

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        limits: StoreLimits | None = None,
        *,
        auto_refresh: bool | None = None,
        durable: bool = False,
    ) -> None:
        import fsspec
        from fsspec.implementations.dirfs import DirFileSystem
        from fsspec.implementations.local import LocalFileSystem

        self.url = url
        self.limits = limits or StoreLimits()
        base, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        base.makedirs(root, exist_ok=True)
        protocol = base.protocol if isinstance(base.protocol, str) else base.protocol[0]
        local_root: str | None = None
        if isinstance(base, LocalFileSystem):
            import os

            local_root = os.path.realpath(root)
            if os.path.islink(os.path.join(local_root, RESERVED_DIR)):
                raise MemoryPathError(f"{RESERVED_DIR}/ in {url} is a symlink; refusing to use it")
            os.makedirs(os.path.join(local_root, RESERVED_DIR, "tmp"), exist_ok=True)
        self._fs: AbstractFileSystem = DirFileSystem(path=root, fs=base)
        self._backend = Backend(self._fs, protocol, local_root, durable=durable)
        self._objects = ObjectStore(self._backend)
        self._manifests = _ManifestLoader(self._objects)
        self._lock = StoreLock(
            None if local_root is None else self._backend.local(f"{RESERVED_DIR}/lock")
        )
        self._entries: list[JournalEntry] = []
        self._index = SearchIndex()
        self._since_checkpoint = 0
        with self._lock:
            fmt = read_format(self._backend)
            if fmt is None:
                layout: Layout = "jsonl" if self._backend.appendable else "objects"
                has_jsonl = self._backend.exists(JsonlJournal.PATH)
                chosen: Layout = "jsonl" if has_jsonl else layout
                write_format(self._backend, chosen)
                fmt = {"journal": chosen}
            self._journal: JsonlJournal | ObjectJournal = (
                JsonlJournal(self._backend)
                if fmt.get("journal") == "jsonl"
                else ObjectJournal(self._backend)
            )
            self.auto_refresh = (
                self._journal.layout == "jsonl" if auto_refresh is None else auto_refresh
            )
            self._open()

    # ================================================================== lifecycle
    def _open(self) -> None:
        self._backend.clean_tmp()
        self._take(self._journal.read_new())
        manifest = _fold(self._entries, len(self._entries), self._manifests)
        if self._entries:
            self._redo(len(self._entries))
        cache: dict[str, str] = {}
        cached = self._backend.read(_CACHE_PATH)
        if cached is not None:
            try:
                cache = load_cache(cached)
            except AutomemError as exc:
                log.warning("ignoring the index cache of %s: %s", self.url, exc)
        loaded = 0
        for path, (sha, size) in manifest.items():
            text = cache.get(sha)
            if text is None or sha256_hex(text.encode("utf-8", "surrogatepass")) != sha:
                text = self._objects.get(sha).decode("utf-8")
                loaded += 1
            self._index.put(path, text, sha, size)
        self._adopt_external()
        if loaded >= _CHECKPOINT_MIN:
            self._checkpoint()

    def close(self) -> None:
        """Rewrite the content cache if many mutations made it stale; release the lock file."""
        with self._lock:
            if self._since_checkpoint >= _CHECKPOINT_ON_CLOSE:
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
            self._backend.write_atomic(_CACHE_PATH, self._index.dump_cache())
            self._journal.compact(self._entries)
        except OSError as exc:  # a cache: failing to write it only slows reopening
            log.warning("could not write the index cache of %s: %s", self.url, exc)
        self._since_checkpoint = 0

    # ================================================================== journal replay
    def _take(self, entries: list[JournalEntry]) -> None:
        for e in entries:
            expected = len(self._entries) + 1
            if e.version != expected:
                raise AutomemError(
                    f"journal of {self.url} is inconsistent: expected version {expected}, "
                    f"found {e.version} ({e.op} {e.path!r})"
                )
            self._entries.append(e)

    def _catch_up(self, *, locked: bool) -> None:
        """Replay entries other writers committed; with the lock, repair their last one."""
        new = self._journal.read_new()
        if not new:
            return
        start = len(self._entries)
        self._take(new)
        if any(e.op == "restore" for e in new):
            target = _fold(self._entries, len(self._entries), self._manifests)
            changes: dict[str, tuple[str, int] | None] = {
                p: None for p in self._index.paths() if p not in target
            }
            changes.update(target)
        else:
            changes = {}
            for e in self._entries[start:]:
                if e.op == "rename":
                    changes[e.path] = None
                    if e.dst and e.sha256:
                        changes[e.dst] = (e.sha256, e.size)
                else:
                    changes[e.path] = None if e.sha256 is None else (e.sha256, e.size)
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
        if locked:
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
    def _mutation(self) -> Iterator[None]:
        with self._lock:
            if self._journal.changed():
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
        for e in reversed(self._entries[: version - 1]):
            if e.op == "restore":
                got = self._manifests(e.sha256).get(path) if e.sha256 else None
                return None if got is None else got[0]
            if e.op == "rename":
                if e.dst == path:
                    return e.sha256
                if e.path == path:
                    return None
            elif e.path == path:
                return e.sha256
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
            before = _fold(self._entries, version - 1, self._manifests)
            target = self._manifests(e.sha256) if e.sha256 else {}
            self._apply_tree(before, target, verify=True)
            return
        old = self._state_before(version, e.path)
        now = self._tree_sha(e.path)
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

    def _adopt_external(self) -> None:
        """Journal files created, changed (by size) or removed outside the store."""
        listed = self._backend.list_files()
        for path in self._index.paths():
            if path not in listed:
                self._commit("sync", path, None, apply=False)
        for rel, size in sorted(listed.items()):
            if rel in self._index and self._index.size(rel) == size:
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
            self._commit("sync", path, text, data=data, apply=False)

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
    def _commit(
        self,
        op: str,
        path: str,
        text: str | None,
        *,
        data: bytes | None = None,
        dst: str | None = None,
        apply: bool = True,
    ) -> int:
        """Object first, then the journal line (the commit point), then the tree."""
        sha: str | None = None
        size = 0
        if text is not None:
            data = text.encode("utf-8") if data is None else data
            sha = sha256_hex(data)
            size = len(data)
            self._objects.put(sha, data)
        elif op == "rename":
            sha = self._index.sha(path)
            size = self._index.size(path)
        entry = JournalEntry(
            version=len(self._entries) + 1,
            op=op,
            path=path,
            dst=dst,
            sha256=sha,
            size=size,
            ts=time.time(),
        )
        self._journal.append(entry)
        self._entries.append(entry)
        self._since_checkpoint += 1
        try:
            if op == "rename":
                assert dst is not None and sha is not None
                moved = self._index.text(path) or ""
                self._index.remove(path)
                self._index.put(dst, moved, sha, size)
                if apply:
                    self._backend.move(path, dst, moved.encode("utf-8"))
            elif text is None:
                self._index.remove(path)
                if apply:
                    self._backend.remove(path)
            else:
                assert data is not None and sha is not None
                self._index.put(path, text, sha, size)
                if apply:
                    self._backend.write_atomic(path, data)
        except OSError as exc:
            raise AutomemError(
                f"{path}: version {entry.version} is committed but the file could not be "
                f"updated ({exc}); it is repaired when the store is next opened"
            ) from exc
        return entry.version

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

    def write(self, path: str, text: str) -> int:
        """Create or replace ``path`` with ``text``.

        Returns:
            The new version.

        Raises:
            MemoryPathError: invalid path.
            MemoryLimitError: a size or count limit would be exceeded.
            MemoryConflictError: ``path`` is a directory or under a file.
        """
        p = self.normalize(path)
        data = self._encode(p, text)
        with self._mutation():
            self._check_limits(p, len(data))
            return self._commit("write", p, text, data=data)

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
        with self._mutation():
            new = (self._index.text(p) or "") + text
            data = new.encode("utf-8")
            self._check_limits(p, len(data))
            return self._commit("append", p, new, data=data)

    def create(self, path: str, text: str = "") -> int:
        """Create ``path``; it must not exist.

        Returns:
            The new version.

        Raises:
            MemoryConflictError: the file (or a directory of that name) exists.
            MemoryPathError: invalid path.
            MemoryLimitError: a size or count limit would be exceeded.
        """
        p = self.normalize(path)
        data = self._encode(p, text)
        with self._mutation():
            if p in self._index:
                raise MemoryConflictError(f"{p} already exists")
            self._check_limits(p, len(data))
            return self._commit("create", p, text, data=data)

    def delete(self, path: str) -> int:
        """Delete ``path``.

        Returns:
            The new version.

        Raises:
            MemoryPathError: invalid path.
            MemoryNotFoundError: no such file.
        """
        p = self.normalize(path)
        with self._mutation():
            if p not in self._index:
                what = "is a directory" if self._index.is_dir(p) else "does not exist"
                raise MemoryNotFoundError(f"cannot delete {p}: it {what}")
            return self._commit("delete", p, None)

    def rename(self, src: str, dst: str) -> int:
        """Move the file ``src`` to ``dst``; ``dst`` must not exist.

        Returns:
            The new version.

        Raises:
            MemoryPathError: invalid path.
            MemoryNotFoundError: ``src`` does not exist.
            MemoryConflictError: ``dst`` exists, or is a directory or under a file.
        """
        s = self.normalize(src)
        d = self.normalize(dst)
        with self._mutation():
            if s not in self._index:
                raise MemoryNotFoundError(f"cannot rename {s}: it does not exist")
            if d in self._index or d == s:
                raise MemoryConflictError(f"cannot rename {s} to {d}: {d} already exists")
            self._check_target(d)
            return self._commit("rename", s, None, dst=d)

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
            if e.path == p or e.dst == p or (e.op == "restore" and state.get(p) != before):
                out.append(e)
        return out

    def _check_version(self, version: int) -> None:
        if not isinstance(version, int) or not 0 <= version <= len(self._entries):
            raise MemoryNotFoundError(
                f"no version {version!r} in {self.url}; versions are 0..{len(self._entries)}"
            )

    @_reader
    def manifest(self, version: int | None = None) -> dict[str, tuple[str, int]]:
        """``path -> (sha256, size)`` of the tree at ``version`` (default: now).

        Raises:
            MemoryNotFoundError: no such version.
        """
        if version is None:
            return self._index.manifest()
        self._check_version(version)
        return _fold(self._entries, version, self._manifests)

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
        """
        with self._mutation():
            self._check_version(version)
            target = _fold(self._entries, version, self._manifests)
            total = sum(size for _sha, size in target.values())
            if len(target) > self.limits.max_files or total > self.limits.max_store_bytes:
                raise MemoryLimitError(
                    f"version {version} has {len(target)} files / {total} bytes, over the "
                    f"limits (max_files={self.limits.max_files}, "
                    f"max_store_bytes={self.limits.max_store_bytes})"
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
            self._entries.append(entry)
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
