"""Keeping a :class:`~automem_sdk.store.MemoryStore` in step with its journal.

:class:`ReplayMixin`: replaying entries other writers committed (``refresh`` and the
check before each mutation), the content cache and checkpoint, finishing an entry a
killed writer left unapplied, and adopting files changed outside the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from automem_sdk.errors import AutomemError, MemoryConflictError, MemoryLimitError, MemoryPathError
from automem_sdk.store_checkpoint import CHECKPOINT_PATH, Checkpoint
from automem_sdk.store_journal import (
    CommitRace,
    JournalEntry,
    JournalRewritten,
    JsonlJournal,
    ObjectJournal,
    sha256_hex,
)
from automem_sdk.store_state import (
    CACHE_PATH,
    CHECKPOINT_EVERY,
    MTIME_SLACK,
    Manifest,
    StoreState,
    Txn,
    apply_entry,
    fold,
    same_entry,
)

log = logging.getLogger("automem_sdk.store")


class ReplayMixin(StoreState):
    """Journal replay, checkpoints, crash repair and adoption of outside edits."""

    def _checkpoint(self) -> None:
        try:
            blob = self._index.dump_cache()
            self._backend.write_atomic(CACHE_PATH, blob)
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
            return fold(entries, version, self._manifests)
        state = dict(cp.tree)
        for e in self._entries.since(cp.version):
            if e.version > version:
                break
            apply_entry(state, e, self._manifests)
        return state

    def _take(self, entries: list[JournalEntry]) -> None:
        for e in entries:
            expected = len(self._entries) + 1
            if e.version == expected - 1 and self._entries and same_entry(e, self._entries[-1]):
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
            if self._since_checkpoint >= CHECKPOINT_EVERY:
                self._checkpoint()

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
        if now is not None and now == old and mtime is not None and mtime > e.ts + MTIME_SLACK:
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
        txn = Txn()
        for path in self._index.paths():
            if path not in listed:
                self._stage(txn, "sync", path, None)
        for rel, (size, mtime) in listed.items():
            if rel in self._index and self._index.size(rel) == size:
                # same size: unchanged unless touched after its last version (an edit
                # that kept the size), and then only if the bytes really differ
                if mtime is None or mtime <= last_ts.get(rel, 0.0) + MTIME_SLACK:
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
            one = Txn(changes={path: change}, ops=[("sync", path)])
            try:
                self._commit_txn(one, apply=False)
            except CommitRace:  # another writer got there first; adopt on the next open
                self._rollback(Txn(undo={path: txn.undo[path]}))
        return checked
