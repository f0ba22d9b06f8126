"""What the parts of :class:`~automem_sdk.store.MemoryStore` share: its state and types.

:class:`MemoryStore <automem_sdk.store.MemoryStore>` is assembled from mixins, one module
each (:mod:`~automem_sdk.store_replay`, :mod:`~automem_sdk.store_commit`,
:mod:`~automem_sdk.store_write`, :mod:`~automem_sdk.store_read`,
:mod:`~automem_sdk.store_versions`). Each mixin subclasses :class:`StoreState`, which
declares the store's attributes and the methods one mixin calls on another, so every
part type-checks on its own and none imports ``store.py``. Also here:
the value types (:class:`FileStat`, :class:`StoreLimits`), the staging records of a
commit, the tree-manifest helpers and the store's tuning constants.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from pydantic import BaseModel, Field

from automem_sdk.store_paths import RESERVED_DIR

if TYPE_CHECKING:
    import random

    from fsspec import AbstractFileSystem

    from automem_sdk.store_checkpoint import EntryLog
    from automem_sdk.store_index import SearchIndex
    from automem_sdk.store_journal import (
        Backend,
        JournalEntry,
        JsonlJournal,
        ObjectJournal,
        ObjectStore,
        StoreLock,
    )

Manifest = dict[str, tuple[str, int]]
"""``path -> (sha256, size)``: the state of the tree at one version."""

CACHE_PATH = f"{RESERVED_DIR}/index.json"
HORIZON_PATH = f"{RESERVED_DIR}/horizon.json"  # the oldest version kept by compact
CHECKPOINT_EVERY = 2000  # mutations between content-cache rewrites
CHECKPOINT_MIN = 128  # objects read on open before a content cache is worth writing
CHECKPOINT_ON_CLOSE = 16  # mutations since the last cache that make close() rewrite it
MAX_ATTEMPTS = 200  # commits lost to other writers before giving up
MTIME_SLACK = 0.5  # seconds: coarse filesystem clocks
INLINE_MAX = 4096  # contents up to this size ride in the journal entry (no object)
MIN_DELTA_SIZE = 512  # smaller contents are carried whole

_R = TypeVar("_R")


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
class Staged:
    """One path's new content in a :class:`Txn` (``text``/``data``/``sha`` ``None``: removed)."""

    op: str
    text: str | None
    data: bytes | None
    sha: str | None
    size: int


@dataclass
class Txn:
    """Changes staged for one commit (one mutation, or a whole ``MemoryStore.batch``)."""

    changes: dict[str, Staged] = field(default_factory=dict)
    undo: dict[str, tuple[str, str, int] | None] = field(default_factory=dict)
    ops: list[tuple[str, str]] = field(default_factory=list)
    rename: tuple[str, str] | None = None
    bodies: list[Callable[[Txn], object]] = field(default_factory=list)


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


def fold(entries: list[JournalEntry], upto: int, manifests: ManifestLoader) -> Manifest:
    """The tree after applying ``entries`` up to version ``upto``, from an empty one."""
    state: Manifest = {}
    for e in entries:
        if e.version > upto:
            break
        apply_entry(state, e, manifests)
    return state


@contextmanager
def gc_paused() -> Iterator[None]:
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


def same_entry(a: JournalEntry, b: JournalEntry) -> bool:
    """Whether ``a`` and ``b`` are one commit (a duplicated journal line)."""
    return (a.version, a.op, a.path, a.ts, a.sha256) == (b.version, b.op, b.path, b.ts, b.sha256)


def apply_entry(state: Manifest, e: JournalEntry, manifests: ManifestLoader) -> None:
    """Change the tree ``state`` in place as entry ``e`` did."""
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


class ManifestLoader:
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


def manifest_bytes(manifest: Manifest) -> bytes:
    """The stored form of a tree manifest (the object a ``restore`` entry points to)."""
    files = {p: [sha, size] for p, (sha, size) in sorted(manifest.items())}
    return json.dumps({"schema_version": 1, "files": files}, separators=(",", ":")).encode()


class StoreState:
    """The attributes of a store and the methods its mixins call on one another.

    The base of every mixin of :class:`~automem_sdk.store.MemoryStore`. Only the
    attribute annotations exist at run time; the methods are declared for the type
    checker alone (each is defined in the module named above it), so a mixin calls
    another's method with its signature checked, and nothing here can shadow it.
    """

    url: str
    limits: StoreLimits
    read_only: bool
    auto_refresh: bool
    commit_retries: int
    _rng: random.Random
    _batch: Txn | None
    _batch_thread: int
    _fs: AbstractFileSystem
    _backend: Backend
    _objects: ObjectStore
    _manifests: ManifestLoader
    _lock: StoreLock
    _entries: EntryLog
    _changed: dict[str, float]  # path -> time of its last version
    _unapplied: int  # a committed version whose tree update failed
    _index: SearchIndex
    _since_checkpoint: int
    _journal: JsonlJournal | ObjectJournal

    if TYPE_CHECKING:
        # store.py
        def _reload(self) -> None: ...

        # store_replay.py
        def _checkpoint(self) -> None: ...
        def _manifest_at(self, version: int) -> Manifest: ...
        def _take(self, entries: list[JournalEntry]) -> None: ...
        def _catch_up(self, *, locked: bool) -> None: ...
        def _maybe_refresh(self) -> None: ...
        def _mutation(self, *, force: bool = False) -> AbstractContextManager[None]: ...
        def _redo(self, version: int) -> None: ...
        def _apply_tree(self, before: Manifest, target: Manifest, *, verify: bool) -> None: ...
        def _adopt_external(self) -> int: ...

        # store_commit.py
        def normalize(self, path: str) -> str: ...
        def _prefix(self, prefix: str) -> str: ...
        def _encode(self, path: str, text: str) -> bytes: ...
        def _check_target(self, path: str) -> None: ...
        def _check_limits(self, path: str, new_size: int) -> None: ...
        def _stage(
            self, txn: Txn, op: str, path: str, text: str | None, data: bytes | None = None
        ) -> None: ...
        def _rollback(self, txn: Txn) -> None: ...
        def _commit_txn(self, txn: Txn, *, apply: bool = True) -> int: ...
        def _check_writable(self) -> None: ...
        def _transact(self, body: Callable[[Txn], _R]) -> tuple[_R, int]: ...
        def _backoff(self, attempt: int) -> None: ...

        # store_write.py
        def write(self, path: str, text: str, *, if_match: str | None = None) -> int: ...
        def delete(self, path: str, *, if_match: str | None = None) -> int: ...

        # store_read.py
        @property
        def version(self) -> int: ...
        def _check_version(self, version: int) -> None: ...
        def _refuse_dropped(self, version: int) -> None: ...
