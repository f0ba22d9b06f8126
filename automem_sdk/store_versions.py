"""Operations on the versions of a :class:`~automem_sdk.store.MemoryStore`.

:class:`VersionsMixin`: ``restore`` (the tree of an old version, journaled as a new
one), ``compact`` (drop old versions, delete what nothing refers to) and ``redact``
(purge content from every stored version).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time

from automem_sdk.errors import AutomemError, MemoryConflictError, MemoryLimitError
from automem_sdk.store_checkpoint import CHECKPOINT_PATH
from automem_sdk.store_compact import CompactResult, collect_garbage, plan_compaction
from automem_sdk.store_journal import (
    CommitRace,
    JournalChange,
    JournalEntry,
    JsonlJournal,
    ObjectStore,
    sha256_hex,
)
from automem_sdk.store_rewrite import strip_carried, strip_carried_objects
from automem_sdk.store_state import (
    HORIZON_PATH,
    INLINE_MAX,
    MAX_ATTEMPTS,
    Manifest,
    StoreState,
    apply_entry,
    manifest_bytes,
)


class VersionsMixin(StoreState):
    """Restore, compact and redact."""

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
        for attempt in range(MAX_ATTEMPTS):
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
        blob = manifest_bytes(target)
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
                self._manifests, INLINE_MAX,
            )  # fmt: skip
            if horizon == 0:  # nothing dropped: keep the journal, collect garbage only
                plan.entries = entries
            for sha, data in plan.materialise.items():
                self._objects.put(sha, data)
            if horizon > old:
                body = json.dumps({"horizon": horizon}).encode()
                self._backend.write_atomic(HORIZON_PATH, body)  # for stores open elsewhere
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
                apply_entry(state, e, self._manifests)
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
