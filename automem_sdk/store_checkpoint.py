"""Checkpoints: open a store by reading its last checkpoint and the journal after it.

``.automem/checkpoint.json`` records, at version *k*: the tree (path -> sha256, size and
the time of its last change), where entry *k* ends in the journal (a byte offset and the
hash of that line, so a rewritten or truncated journal is detected and the checkpoint
ignored), the delta-chain lengths of the current contents and what was redacted. Opening
reads it and the journal's tail only; the entries before *k* are read when something
asks for them (history, an old version, a diff), never on open.

Object stores write the same checkpoint; there the tail is the per-entry objects after
version *k*, so opening costs a constant number of requests plus one per new version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, overload

from automem_sdk.errors import AutomemError
from automem_sdk.store_journal import JournalEntry, sha256_hex
from automem_sdk.store_paths import RESERVED_DIR

__all__ = ["CHECKPOINT_PATH", "Checkpoint", "EntryLog"]

log = logging.getLogger(__name__)

CHECKPOINT_PATH = f"{RESERVED_DIR}/checkpoint.json"
_SCHEMA = 1

Manifest = dict[str, tuple[str, int]]


@dataclass
class Checkpoint:
    """The state of a store at one version (see the module docstring)."""

    version: int
    tree: Manifest
    changed: dict[str, float]
    last: JournalEntry | None
    offset: int = 0
    line_sha: str = ""
    line_len: int = -1
    horizon: int = 0
    cache_sha: str = ""  # sha256 of the content cache written with this checkpoint
    chains: dict[str, tuple[int, int]] = field(default_factory=dict)
    redacted: dict[str, str] = field(default_factory=dict)

    def dump(self) -> bytes:
        """Serialise as JSON."""
        body: dict[str, Any] = {
            "schema_version": _SCHEMA,
            "version": self.version,
            "offset": self.offset,
            "line_sha256": self.line_sha,
            "line_len": self.line_len,
            "horizon": self.horizon,
            "cache_sha256": self.cache_sha,
            "last": None if self.last is None else _header(self.last),
            "tree": {p: [s, n, self.changed.get(p, 0.0)] for p, (s, n) in self.tree.items()},
            "chains": {s: list(c) for s, c in self.chains.items()},
            "redacted": self.redacted,
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def load(cls, data: bytes) -> Checkpoint | None:
        """Parse a checkpoint; ``None`` (with a debug log) if it is unreadable or newer."""
        try:
            body = json.loads(data)
            if int(body.get("schema_version", 0)) != _SCHEMA:
                return None
            tree = {p: (str(v[0]), int(v[1])) for p, v in body["tree"].items()}
            changed = {p: float(v[2]) for p, v in body["tree"].items()}
            last = body.get("last")
            return cls(
                version=int(body["version"]),
                tree=tree,
                changed=changed,
                last=None if last is None else JournalEntry.model_validate(last),
                offset=int(body.get("offset", 0)),
                line_sha=str(body.get("line_sha256", "")),
                line_len=int(body.get("line_len", -1)),
                horizon=int(body.get("horizon", 0)),
                cache_sha=str(body.get("cache_sha256", "")),
                chains={s: (int(c[0]), int(c[1])) for s, c in body.get("chains", {}).items()},
                redacted={str(k): str(v) for k, v in body.get("redacted", {}).items()},
            )
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.debug("ignoring an unreadable checkpoint: %s", exc)
            return None

    def matches(self, line: bytes) -> bool:
        """Whether ``line`` (without its newline) is the journal line of this version."""
        return sha256_hex(line) == self.line_sha


def _header(e: JournalEntry) -> dict[str, Any]:
    """``e`` without the contents it carries (a checkpoint only needs to recognise it)."""
    body: dict[str, Any] = json.loads(e.model_copy(update={"changes": None}).to_line())
    body.pop("data", None)
    body.pop("delta", None)
    return body


class EntryLog:
    """The journal's entries, ``log[v - 1]`` being version ``v``.

    The part before a checkpoint is read on first use, and versions before
    :attr:`horizon` were dropped by :meth:`~automem_sdk.store.MemoryStore.compact` (the
    journal then starts with a ``snapshot`` entry at the horizon). ``len(log)`` is the
    current version without reading anything.
    """

    def __init__(self) -> None:
        self._items: list[JournalEntry] = []
        self._start = 1  # version of _items[0]
        self._pending = False  # versions before _start are not read yet
        self._loader: Callable[[int], list[JournalEntry]] | None = None
        self.checkpoint: Checkpoint | None = None
        self.horizon = 0  # versions below it were dropped; its state is a snapshot entry

    def start_at(self, cp: Checkpoint, loader: Callable[[int], list[JournalEntry]]) -> None:
        """Begin after checkpoint ``cp``; ``loader(k)`` returns the entries up to ``k``."""
        self._items, self._start, self._pending = [], cp.version + 1, True
        self._loader, self.checkpoint, self.horizon = loader, cp, cp.horizon

    @property
    def base(self) -> int:
        """Entries up to this version are not read yet (0: all are)."""
        return self._start - 1 if self._pending else 0

    def load(self) -> bool:
        """Read the entries before the checkpoint; ``True`` if anything was read."""
        if not self._pending or self._loader is None:
            return False
        upto = self._start - 1
        older = self._loader(upto)
        first = older[0].version if older and older[0].op == "snapshot" else 1
        if [e.version for e in older] != list(range(first, upto + 1)):
            raise AutomemError(
                f"journal entries before the checkpoint (version {upto}) are missing "
                "or out of order; see `automem memory fsck`"
            )
        self._items = older + self._items
        self._start, self._pending = first, False
        self.horizon = first if first > 1 else self.horizon
        return True

    def dropped(self, version: int) -> bool:
        """Whether ``version`` was dropped by a compaction."""
        return version < self.horizon

    def since(self, version: int) -> list[JournalEntry]:
        """Entries after ``version`` (from the loaded tail when possible)."""
        if version < self._start - 1:
            self.load()
        return self._items[max(0, version - (self._start - 1)) :]

    def tail(self) -> list[JournalEntry]:
        """The loaded entries (those after the checkpoint until :meth:`load`)."""
        return self._items

    def __len__(self) -> int:
        return self._start - 1 + len(self._items)

    def __bool__(self) -> bool:
        return len(self) > 0

    @overload
    def __getitem__(self, i: int) -> JournalEntry: ...
    @overload
    def __getitem__(self, i: slice) -> list[JournalEntry]: ...
    def __getitem__(self, i: int | slice) -> JournalEntry | list[JournalEntry]:
        if isinstance(i, slice):
            if i.step is not None:
                raise ValueError("EntryLog slices take no step")
            self.load()
            lo = 0 if i.start is None else i.start
            hi = len(self) if i.stop is None else i.stop
            off = self._start - 1
            return self._items[max(0, lo - off) : max(0, hi - off)]
        version = (i if i >= 0 else len(self) + i) + 1
        if version >= self._start:
            return self._items[version - self._start]
        cp = self.checkpoint
        if self._pending and cp is not None and cp.last is not None and version == cp.version:
            return cp.last
        if self.load() and version >= self._start:
            return self._items[version - self._start]
        raise AutomemError(f"version {version} was dropped by compact (kept: {self.horizon}..)")

    def __iter__(self) -> Iterator[JournalEntry]:
        self.load()
        return iter(self._items)

    def __reversed__(self) -> Iterator[JournalEntry]:
        self.load()
        return reversed(self._items)

    def append(self, entry: JournalEntry) -> None:
        """Add the next entry (a ``snapshot`` first: the journal was compacted)."""
        if not self._items and not self._pending and entry.op == "snapshot":
            self._start = self.horizon = entry.version
        self._items.append(entry)
