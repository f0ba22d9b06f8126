"""Content objects of a store: whole, in packs, carried by journal entries, or deltas.

:class:`ObjectStore` resolves a content address (sha256) to verified bytes wherever the
content lives: a journal entry that carries it, a pack, an object file under
``.automem/objects``, or a chain of deltas back to one of those.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from automem_sdk.errors import AutomemError
from automem_sdk.store_backend import Backend, sha256_hex
from automem_sdk.store_delta import MAX_CHAIN, Delta, apply_deltas
from automem_sdk.store_paths import RESERVED_DIR

__all__ = ["ObjectStore"]


class ObjectStore:
    """Content-addressed, immutable blobs under ``.automem/objects``.

    A batch committed on an object store keeps its new contents in one *pack* object
    (``objects/packs/<sha>.json``: ``{"objects": {sha: text}}``) so that it costs one PUT;
    :meth:`register_pack` tells the store which addresses a pack holds.
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._packs: dict[str, str] = {}  # object sha -> pack sha
        self._inline: dict[str, str] = {}  # object sha -> text carried by a journal entry
        self._deltas: dict[str, Delta] = {}  # object sha -> its delta against its base
        self._chain: dict[str, tuple[int, int]] = {}  # delta sha -> (edits, delta bytes)
        self._sizes: dict[str, int] = {}  # sha -> size in bytes, as entries record it
        self.redacted: dict[str, str] = {}  # object sha -> why and when it was purged
        self.on_miss: Callable[[], bool] | None = None  # reads older entries; True if any
        self._pack_cache: tuple[str, dict[str, str]] | None = None

    @staticmethod
    def path(sha: str) -> str:
        """Relative path of the object with address ``sha``."""
        return f"{RESERVED_DIR}/objects/{sha[:2]}/{sha[2:]}"

    @staticmethod
    def pack_path(sha: str) -> str:
        """Relative path of the pack object with address ``sha``."""
        return f"{RESERVED_DIR}/objects/packs/{sha}.json"

    def put(self, sha: str, data: bytes) -> None:
        """Store ``data`` under ``sha`` (no-op locally if it is already there)."""
        rel = self.path(sha)
        if self._backend.local_root is not None and os.path.exists(self._backend.local(rel)):
            return
        self._backend.write_atomic(rel, data)

    def put_pack(self, objects: dict[str, bytes]) -> str:
        """Store many objects as one pack object; returns the pack's address."""
        body = {"schema_version": 1, "objects": {s: d.decode("utf-8") for s, d in objects.items()}}
        blob = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        sha = sha256_hex(blob)
        self._backend.write_atomic(self.pack_path(sha), blob)
        return sha

    def register_inline(self, sha: str, text: str) -> None:
        """Record content that a journal entry carries inline."""
        self._inline.setdefault(sha, text)

    def register_delta(self, sha: str, delta: Delta) -> None:
        """Record that a journal entry stores ``sha`` as ``delta``.

        The chain depth counts edits only: a pure append (nothing of the base replaced)
        costs no copying when the chain is applied, so only its bytes count.
        """
        if sha in self._deltas or sha in self._inline:
            return
        depth, cost = self._chain.get(delta.base, (0, 0))
        pure = delta.tail == 0 and delta.head == self._sizes.get(delta.base, -1)
        self._deltas[sha] = delta
        self._chain[sha] = (depth + (0 if pure else 1), cost + len(delta.data))

    def seed_chains(self, chains: dict[str, tuple[int, int]]) -> None:
        """Chain lengths of contents whose entries are not read yet (from a checkpoint)."""
        for sha, c in chains.items():
            self._chain.setdefault(sha, c)

    def chain(self, sha: str) -> tuple[int, int]:
        """``(deltas, bytes)`` between ``sha`` and the full copy it is rebuilt from."""
        return self._chain.get(sha, (0, 0))

    def delta_worth(self, base: str, delta_bytes: int, size: int) -> bool:
        """Whether a delta of ``delta_bytes`` on ``base`` keeps the chain cheap to read."""
        depth, cost = self.chain(base)
        return depth < MAX_CHAIN and cost + delta_bytes <= max(size, 4096)

    def register_entry(self, e: Any) -> None:
        """Record the contents that journal entry ``e`` carries (inline data, deltas, pack)."""
        if e.sha256 and e.op != "restore":
            self._sizes[e.sha256] = e.size
        for c in e.changes or ():
            if c.sha256:
                self._sizes[c.sha256] = c.size
        if e.pack and e.changes:
            self.register_pack(e.pack, [c.sha256 for c in e.changes if c.sha256])
        if e.data is not None and e.sha256:
            self.register_inline(e.sha256, e.data)
        elif e.data is not None:
            self.register_inline(sha256_hex(e.data.encode("utf-8")), e.data)
        if e.delta is not None and e.sha256:
            self.register_delta(e.sha256, e.delta)
        for c in e.changes or ():
            if c.sha256 and c.data is not None:
                self.register_inline(c.sha256, c.data)
            elif c.sha256 and c.delta is not None:
                self.register_delta(c.sha256, c.delta)

    def dependents(self, shas: set[str]) -> list[str]:
        """Addresses outside ``shas`` stored as deltas whose chain passes through ``shas``."""
        out: list[str] = []
        for sha in self._deltas:
            cur, seen = sha, set()
            while cur in self._deltas and cur not in shas and cur not in seen:
                seen.add(cur)
                cur = self._deltas[cur].base
            if cur in shas and sha not in shas:
                out.append(sha)
        return out

    def make_whole(self, sha: str, data: bytes) -> None:
        """Store ``sha`` as a full object from now on (its delta's base is going away)."""
        self.put(sha, data)
        self._deltas.pop(sha, None)
        self._chain.pop(sha, None)

    def forget(self, shas: set[str]) -> None:
        """Drop what this process holds of ``shas`` (purged contents)."""
        for sha in shas:
            self._inline.pop(sha, None)
            self._deltas.pop(sha, None)
            self._chain.pop(sha, None)

    def register_pack(self, pack: str, shas: list[str]) -> None:
        """Record that pack ``pack`` holds the objects ``shas``."""
        for sha in shas:
            self._packs.setdefault(sha, pack)

    def _from_pack(self, pack: str, sha: str) -> bytes | None:
        if self._pack_cache is None or self._pack_cache[0] != pack:
            blob = self._backend.read(self.pack_path(pack))
            if blob is None:
                return None
            try:
                objects = json.loads(blob)["objects"]
            except (ValueError, KeyError, TypeError):
                return None
            self._pack_cache = (pack, objects)
        text = self._pack_cache[1].get(sha)
        return None if text is None else text.encode("utf-8")

    def get(self, sha: str) -> bytes:
        """Return the verified bytes of object ``sha``.

        Raises:
            AutomemError: the object is missing or its content does not match its address.
        """
        chain: list[Delta] = []
        seen: set[str] = set()
        cur = sha
        while True:
            why = self.redacted.get(cur)
            if why is not None:
                raise AutomemError(f"that version's content was redacted ({why})")
            data = self._whole(cur)
            if data is not None:
                break
            delta = self._deltas.get(cur)
            if delta is None and self.on_miss is not None and self.on_miss():
                return self.get(sha)  # the entries before a checkpoint were just read
            if delta is None or cur in seen:
                raise AutomemError(f"store is damaged: content object {cur[:12]}... is missing")
            chain.append(delta)
            seen.add(cur)
            cur = delta.base
        if chain:
            try:
                data = apply_deltas(data, chain[::-1])
            except ValueError:
                data = b""
        if sha256_hex(data) != sha:
            raise AutomemError(f"store is damaged: content object {sha[:12]}... is corrupt")
        return data

    def _whole(self, sha: str) -> bytes | None:
        """The bytes of ``sha`` if they are stored whole (inline, in a pack, an object)."""
        inline = self._inline.get(sha)
        if inline is not None:
            return inline.encode("utf-8")
        pack = self._packs.get(sha)
        data = self._from_pack(pack, sha) if pack is not None else None
        if data is None and sha not in self._deltas:
            data = self._backend.read(self.path(sha))
        return data
