"""How a :class:`~automem_sdk.store.MemoryStore` commits a change.

:class:`CommitMixin`: path and content validation, staging changes in a
:class:`~automem_sdk.store_state.Txn`, the commit itself (content objects first, then
the journal entry, which is the commit point, then the tree), the retry loop of a
read-modify-write that lost the race to another writer, and :meth:`CommitMixin.batch`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from automem_sdk.errors import (
    AutomemError,
    MemoryConflictError,
    MemoryContentError,
    MemoryLimitError,
    MemoryReadOnlyError,
)
from automem_sdk.store_delta import Delta, make_delta
from automem_sdk.store_journal import CommitRace, JournalChange, JournalEntry, sha256_hex
from automem_sdk.store_paths import check_inside, validate_path, validate_prefix
from automem_sdk.store_state import (
    CHECKPOINT_EVERY,
    INLINE_MAX,
    MAX_ATTEMPTS,
    MIN_DELTA_SIZE,
    Staged,
    StoreState,
    Txn,
)

_R = TypeVar("_R")


class CommitMixin(StoreState):
    """Validation, staging, committing, transactions and batches."""

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

    def _stage(
        self, txn: Txn, op: str, path: str, text: str | None, data: bytes | None = None
    ) -> None:
        """Record ``path``'s new content (``None``: removed) in ``txn`` and in the index."""
        if path not in txn.undo:
            old = self._index.text(path)
            txn.undo[path] = (
                None if old is None else (old, self._index.sha(path) or "", self._index.size(path))
            )
        if text is None:
            self._index.remove(path)
            txn.changes[path] = Staged(op, None, None, None, 0)
        else:
            data = text.encode("utf-8") if data is None else data
            sha = sha256_hex(data)
            self._index.put(path, text, sha, len(data))
            txn.changes[path] = Staged(op, text, data, sha, len(data))
        txn.ops.append((op, path))

    def _rollback(self, txn: Txn) -> None:
        """Undo ``txn``'s index changes (nothing of it was committed)."""
        for path, old in txn.undo.items():
            if old is None:
                self._index.remove(path)
            else:
                self._index.put(path, old[0], old[1], old[2])
        txn.undo.clear()
        txn.changes.clear()
        txn.ops.clear()

    def _entry_for(self, txn: Txn, version: int) -> tuple[JournalEntry, dict[str, bytes]]:
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

    def _commit_txn(self, txn: Txn, *, apply: bool = True) -> int:
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
        self, path: str, sha: str, data: bytes, txn: Txn
    ) -> tuple[Delta | None, str | None]:
        """How a new content rides in its journal entry: a delta, whole, or not at all."""
        old = txn.undo.get(path)
        if old is not None and old[1] and old[1] != sha and len(data) > MIN_DELTA_SIZE:
            delta = make_delta(old[1], old[0].encode("utf-8"), data)
            if delta is not None and self._objects.delta_worth(old[1], len(delta.data), len(data)):
                return delta, None
        if len(data) <= INLINE_MAX:
            return None, data.decode("utf-8")
        return None, None

    def _carry(
        self, entry: JournalEntry, objects: dict[str, bytes], txn: Txn
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

    def _transact(self, body: Callable[[Txn], _R]) -> tuple[_R, int]:
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
        for attempt in range(MAX_ATTEMPTS):
            with self._mutation(force=attempt > 0):
                txn = Txn()
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
            f"{self.url}: gave up after {MAX_ATTEMPTS} attempts; other writers kept "
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
            txn = Txn()
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
                for attempt in range(MAX_ATTEMPTS):
                    try:
                        self._commit_txn(txn)
                        return
                    except CommitRace:
                        self.commit_retries += 1
                        bodies = txn.bodies
                        self._rollback(txn)
                        self._catch_up(locked=True)
                        txn = Txn()
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
                    f"{self.url}: batch gave up after {MAX_ATTEMPTS} attempts; other "
                    "writers kept committing first"
                )
            finally:
                self._batch = None
                if self._since_checkpoint >= CHECKPOINT_EVERY:
                    self._checkpoint()
