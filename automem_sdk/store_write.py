"""The mutations of a :class:`~automem_sdk.store.MemoryStore`.

:class:`WriteMixin`: ``write``, ``append``, ``update``, ``replace``, ``create``,
``delete`` and ``rename``, each a body staged and committed by
:meth:`~automem_sdk.store_commit.CommitMixin._transact`, with the ``if_match``
preconditions they share.
"""

from __future__ import annotations

from collections.abc import Callable

from automem_sdk.errors import (
    AutomemError,
    MemoryConflictError,
    MemoryLimitError,
    MemoryNotFoundError,
)
from automem_sdk.store_journal import sha256_hex
from automem_sdk.store_state import StoreState, Txn


class WriteMixin(StoreState):
    """The public mutations and their preconditions."""

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

        def body(txn: Txn) -> None:
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

        def body(txn: Txn) -> None:
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

        def body(txn: Txn) -> bool:
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

        def body(txn: Txn) -> None:
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

        def body(txn: Txn) -> None:
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

        def body(txn: Txn) -> None:
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
