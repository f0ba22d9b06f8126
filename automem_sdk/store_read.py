"""The read side of a :class:`~automem_sdk.store.MemoryStore`.

:class:`ReadMixin`: ``read``, ``exists``, ``stat``, ``list``, ``search`` and the
history (``history``, ``manifest``, ``snapshot``, ``diff``). Each public read runs
under the thread lock after catching up with the journal (see :func:`_reader`).
"""

from __future__ import annotations

import builtins
import difflib
import functools
import json
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from automem_sdk.errors import MemoryNotFoundError
from automem_sdk.store_index import SearchHit
from automem_sdk.store_journal import JournalEntry
from automem_sdk.store_state import HORIZON_PATH, FileStat, Manifest, StoreState, apply_entry

_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound=StoreState)


def _reader(fn: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """Run a read-side method under the thread lock, after catching up with the journal."""

    @functools.wraps(fn)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock.thread:
            self._maybe_refresh()
            return fn(self, *args, **kwargs)

    return wrapper


class ReadMixin(StoreState):
    """Reads, searches and the history of the tree."""

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
            apply_entry(state, e, self._manifests)
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
        data = self._backend.read(HORIZON_PATH)
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
