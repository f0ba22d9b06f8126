"""LangGraph: an automem memory store as a ``langgraph.store.base.BaseStore``.

:class:`AutomemStore` serves ``create_agent(store=...)``, ``runtime.store`` in tools and
nodes, and LangMem's ``create_manage_memory_tool`` / ``create_search_memory_tool`` from
a :class:`~automem_sdk.store.MemoryStore` on any fsspec URL (``file://``, ``memory://``,
``s3://``, ...). The layout is plain files, so the same memory can be read with
``automem memory ls``, diffed, rolled back and given to the other adapters:

- a namespace is a path prefix: ``("users", "alice")`` is the folder ``users/alice``;
- an item is one JSON file, ``users/alice/<key>.json``, holding its namespace, key,
  value, timestamps and (with ``index=``) its embeddings;
- labels and keys are encoded reversibly into safe file names (letters, digits, ``_``
  and ``-`` kept; every other character as ``=XX`` per UTF-8 byte), so any key works
  inside the store's sandbox; a name longer than the store's limit is shortened with a
  hash (the JSON keeps the real one);
- every :meth:`AutomemStore.batch` commits as one journal version.

Search takes a namespace prefix, a ``filter`` (exact values and ``$eq $ne $gt $gte $lt
$lte``, nested dicts and lists compared as LangGraph's stores do), ``limit``, ``offset``
and a ``query``: by default a keyword search (items holding any of the query's words,
ranked by the share of words found); with ``index={"embed": fn, "dims": n}`` (a
LangChain ``Embeddings`` or a function from texts to vectors, as LangGraph's ``index=``
takes) a semantic search by cosine similarity. Without a query, the most recently
updated items come first (as LangGraph's Postgres and SQLite stores order them).

TTL is supported (``put(..., ttl=minutes)``, ``ttl={"default_ttl": ...,
"refresh_on_read": ...}``): an item past its expiry is never returned nor listed, a read
with ``refresh_ttl`` pushes the expiry back (one journal version per batch), and
:meth:`AutomemStore.sweep_ttl` deletes expired items. An emptied namespace is no longer
listed (``InMemoryStore`` keeps listing it).

Requires the ``[langchain]`` extra (``langgraph`` comes with ``langchain`` v1).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from automem_sdk.errors import AutomemError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from automem_sdk.store import MemoryStore, StoreLimits

__all__ = ["ITEM_SUFFIX", "AutomemStore", "decode_name", "encode_name"]

ITEM_SUFFIX = ".json"
"""File suffix of an item: ``<namespace folders>/<encoded key>.json``."""

_KEEP = re.compile(r"[A-Za-z0-9_-]")
_ESCAPED = re.compile(r"=([0-9A-F]{2})")
_EMPTY = "="
_WORD = re.compile(r"\w+")
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_SCHEMA = 1


def _escape(ch: str) -> str:
    return "".join(f"={b:02X}" for b in ch.encode("utf-8"))


def encode_name(text: str) -> str:
    """A namespace label or key as a safe file-name segment (reversible: :func:`decode_name`).

    Letters, digits, ``_`` and ``-`` are kept; every other character becomes ``=XX`` per
    UTF-8 byte; the empty string is ``=``; a Windows device name (``CON``, ``nul``...)
    gets its first letter escaped.
    """
    if not text:
        return _EMPTY
    out = "".join(ch if _KEEP.fullmatch(ch) else _escape(ch) for ch in text)
    if out.upper() in _DEVICES:
        out = _escape(out[0]) + out[1:]
    return out


def decode_name(segment: str) -> str:
    """The label or key that :func:`encode_name` turned into ``segment``.

    Raises:
        ValueError: ``segment`` is not an encoded name.
    """
    if segment == _EMPTY:
        return ""
    if "~" in segment:
        raise ValueError(f"{segment!r} is a shortened name (the item file holds the real one)")
    raw = bytearray()
    i = 0
    while i < len(segment):
        m = _ESCAPED.match(segment, i)
        if m:
            raw.append(int(m.group(1), 16))
            i = m.end()
        elif _KEEP.fullmatch(segment[i]):
            raw.extend(segment[i].encode("ascii"))
            i += 1
        else:
            raise ValueError(f"{segment!r} is not an encoded name (at {segment[i]!r})")
    return raw.decode("utf-8")


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------- filters
def _compare(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if any(k.startswith("$") for k in wanted):
            return all(_operator(value, k, v) for k, v in wanted.items())
        return isinstance(value, dict) and all(_compare(value.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(wanted)
            and all(_compare(a, b) for a, b in zip(value, wanted, strict=True))
        )
    return bool(value == wanted)


_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})


def _check_filter(wanted: Any) -> None:
    if isinstance(wanted, dict):
        for k, v in wanted.items():
            if isinstance(k, str) and k.startswith("$") and k not in _OPERATORS:
                raise ValueError(
                    f"unsupported filter operator {k!r}: use $eq $ne $gt $gte $lt $lte"
                )
            _check_filter(v)
    elif isinstance(wanted, list | tuple):
        for v in wanted:
            _check_filter(v)


def _number(value: Any, operator: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"filter {operator}: {value!r} is not a number") from exc


def _operator(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return bool(value == operand)
    if operator == "$ne":
        return bool(value != operand)
    if operator in ("$gt", "$gte", "$lt", "$lte"):
        if value is None:
            return False
        a, b = _number(value, operator), _number(operand, operator)
        return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[operator]
    raise ValueError(f"unsupported filter operator {operator!r}: use $eq $ne $gt $gte $lt $lte")


def _matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = (
        zip(namespace, path, strict=False)
        if condition.match_type == "prefix"
        else zip(reversed(namespace), reversed(path), strict=False)
    )
    if condition.match_type not in ("prefix", "suffix"):
        raise ValueError(f"unsupported match type {condition.match_type!r}: use prefix or suffix")
    return all(p == "*" or n == p for n, p in pairs)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


def _vectors(
    jobs: list[tuple[int, str, str]], embedded: Sequence[Sequence[float]]
) -> dict[int, dict[str, list[float]]]:
    if len(embedded) != len(jobs):
        raise ValueError(
            f"the embedding function returned {len(embedded)} vectors for {len(jobs)} texts"
        )
    out: dict[int, dict[str, list[float]]] = {}
    for (i, field, _text), vector in zip(jobs, embedded, strict=True):
        out.setdefault(i, {})[field] = [float(x) for x in vector]
    return out


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))


class _Record:
    """One parsed item file."""

    __slots__ = (
        "created_at",
        "data",
        "expires_at",
        "key",
        "namespace",
        "ttl",
        "updated_at",
        "value",
        "vectors",
    )

    def __init__(self, data: dict[str, Any]) -> None:
        self.namespace: tuple[str, ...] = tuple(data["namespace"])
        self.key: str = data["key"]
        self.value: dict[str, Any] = data["value"]
        self.created_at = datetime.fromisoformat(data["created_at"])
        self.updated_at = datetime.fromisoformat(data["updated_at"])
        self.vectors: dict[str, list[float]] = data.get("vectors") or {}
        self.ttl: float | None = data.get("ttl_minutes")
        expires = data.get("expires_at")
        self.expires_at = datetime.fromisoformat(expires) if expires else None
        self.data = data

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def item(self) -> Item:
        return Item(
            value=copy.deepcopy(self.value),  # the caller may change it; the cache may not
            key=self.key,
            namespace=self.namespace,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def hit(self, score: float | None = None) -> SearchItem:
        return SearchItem(
            namespace=self.namespace,
            key=self.key,
            value=copy.deepcopy(self.value),
            created_at=self.created_at,
            updated_at=self.updated_at,
            score=score,
        )


class AutomemStore(BaseStore):
    """A LangGraph ``BaseStore`` whose items are JSON files in an automem memory store.

    Args:
        memory: a :class:`~automem_sdk.store.MemoryStore` or an fsspec URL.
        storage_options: fsspec options when ``memory`` is a URL.
        limits: the store's limits when ``memory`` is a URL (file size, depth, ...).
        index: semantic search: ``{"embed": ..., "dims": n, "fields": ["$"]}`` as
            LangGraph's ``index=`` takes (a LangChain ``Embeddings``, a function from a
            list of texts to vectors, or an ``init_embeddings`` provider string);
            ``None`` keeps the keyword search.
        ttl: TTL defaults, as LangGraph's ``TTLConfig`` (``default_ttl`` in minutes,
            ``refresh_on_read``); ``sweep_interval_minutes`` is not used (call
            :meth:`sweep_ttl`).
        clock: the time source (UTC ``datetime``), for tests.

    Raises:
        ValueError: ``index`` without ``embed``.

    Example:
        >>> store = AutomemStore("memory://lg-doc")
        >>> store.put(("users", "alice"), "prefs", {"drink": "tea"})
        >>> store.get(("users", "alice"), "prefs").value
        {'drink': 'tea'}
        >>> store.memory.list()
        ['users/alice/prefs.json']
    """

    supports_ttl: bool = True

    __slots__ = ("_cache", "_clock", "_lock", "embeddings", "index_config", "memory", "ttl_config")

    def __init__(
        self,
        memory: MemoryStore | str,
        *,
        storage_options: dict[str, Any] | None = None,
        limits: StoreLimits | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from automem_sdk.store import MemoryStore

        if isinstance(memory, str):
            memory = MemoryStore(memory, storage_options, limits)
        self.memory: MemoryStore = memory
        self.index_config: IndexConfig | None = None
        self.embeddings: Embeddings | None = None
        if index is not None:
            if not index.get("embed"):
                raise ValueError(
                    "index= needs 'embed' (an Embeddings or a texts -> vectors function)"
                )
            self.index_config = dict(index)  # type: ignore[assignment]
            self.embeddings = ensure_embeddings(index["embed"])
        self.ttl_config = ttl
        self._clock = clock or _now
        self._cache: dict[str, tuple[str, _Record]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AutomemStore({self.memory.url!r})"

    # ------------------------------------------------------------- layout
    def _segment(self, text: str) -> str:
        name = encode_name(text)
        room = self.memory.limits.max_name_len - len(ITEM_SUFFIX)
        if len(name.encode("utf-8")) <= room:
            return name
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        return f"{name[: room - 17]}~{digest}"

    def path_of(self, namespace: tuple[str, ...], key: str) -> str:
        """The file that holds the item ``key`` of ``namespace``.

        Raises:
            InvalidNamespaceError: the namespace is deeper, or the path longer, than the
                store's limits allow (raise ``StoreLimits.max_depth`` / ``max_path_len``).
        """
        lim = self.memory.limits
        if len(namespace) + 1 > lim.max_depth:
            raise InvalidNamespaceError(
                f"namespace {namespace} has {len(namespace)} labels; this store holds at most "
                f"{lim.max_depth - 1} (open it with StoreLimits(max_depth=...) for deeper ones)"
            )
        path = "/".join([*(self._segment(n) for n in namespace), self._segment(key) + ITEM_SUFFIX])
        if len(path.encode("utf-8")) > lim.max_path_len:
            raise InvalidNamespaceError(
                f"namespace {namespace} with key {key[:40]!r} needs a {len(path)}-byte path; "
                f"this store allows {lim.max_path_len} (use shorter labels, or "
                "StoreLimits(max_path_len=...))"
            )
        return path

    def _prefix(self, namespace: tuple[str, ...]) -> str:
        return "/".join(self._segment(n) for n in namespace)

    def _parse(self, path: str, sha: str, text: str | None = None) -> _Record | None:
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == sha:
            return cached[1]
        try:
            data = json.loads(self.memory.read(path) if text is None else text)
            record = _Record(data)
        except (AutomemError, ValueError, KeyError, TypeError):
            return None  # not an item file (another tool's note in the same store)
        with self._lock:
            self._cache[path] = (sha, record)
        return record

    def _load(self, path: str) -> _Record | None:
        try:
            text, sha = self.memory.read_with_sha(path)
        except AutomemError:
            return None
        return self._parse(path, sha, text)

    def _records(self, prefix: tuple[str, ...] = (), *, expired: bool = False) -> list[_Record]:
        now = self._clock()
        top = self._prefix(prefix)
        out: list[_Record] = []
        for path, (sha, _size) in self.memory.manifest().items():
            if not path.endswith(ITEM_SUFFIX) or "/" not in path:
                continue
            if top and not path.startswith(top + "/"):
                continue
            record = self._parse(path, sha)
            if (
                record is not None
                and record.namespace[: len(prefix)] == prefix
                and record.expired(now) == expired
            ):
                out.append(record)
        return out

    # ------------------------------------------------------------------ ops
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run LangGraph store ops; every put and delete of the batch is one journal version.

        Reads see the store as it was before the batch's writes (as in LangGraph's
        stores); of several puts to one key, the last wins; a batch that fails (a value
        that is not JSON, a limit) writes nothing.

        Raises:
            InvalidNamespaceError: a malformed namespace or label, or one past the
                store's depth or path-length limits.
            ValueError: an unknown op or filter operator, or a value that is not JSON.
            NotImplementedError: a TTL (not supported).
        """
        ops, puts = self._check(ops)
        queries, jobs = self._to_embed(ops, puts)
        qv: dict[str, list[float]] = {}
        dv: list[list[float]] = []
        if self.embeddings is not None:
            qv = {q: list(self.embeddings.embed_query(q)) for q in queries}
            dv = self.embeddings.embed_documents([t for _i, _f, t in jobs]) if jobs else []
        return self._execute(ops, puts, qv, _vectors(jobs, dv))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch`: embeddings through the async API, store work in a thread."""
        ops, puts = self._check(ops)
        queries, jobs = self._to_embed(ops, puts)
        qv: dict[str, list[float]] = {}
        dv: list[list[float]] = []
        if self.embeddings is not None:
            found = await asyncio.gather(*(self.embeddings.aembed_query(q) for q in queries))
            qv = {q: list(v) for q, v in zip(queries, found, strict=True)}
            if jobs:
                dv = await self.embeddings.aembed_documents([t for _i, _f, t in jobs])
        return await asyncio.to_thread(self._execute, ops, puts, qv, _vectors(jobs, dv))

    def _check(self, ops: Iterable[Op]) -> tuple[list[Op], list[PutOp]]:
        ops = list(ops)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            validate_op_namespace(op)
            if isinstance(op, PutOp):
                if not op.namespace:
                    raise InvalidNamespaceError("Namespace cannot be empty.")
                if op.namespace[0] == "langgraph":
                    raise InvalidNamespaceError(
                        f'Root label for namespace cannot be "langgraph". Got: {op.namespace}'
                    )
                if op.ttl is not None and (not isinstance(op.ttl, int | float) or op.ttl <= 0):
                    raise ValueError(f"ttl must be a positive number of minutes, got {op.ttl!r}")
                self.path_of(tuple(op.namespace), op.key)  # limits fail before any write
                puts[(tuple(op.namespace), op.key)] = op
            elif isinstance(op, SearchOp):
                _check_filter(op.filter)
            elif not isinstance(op, GetOp | ListNamespacesOp):
                raise ValueError(f"unknown store operation {type(op).__name__}")
        return ops, list(puts.values())

    def _to_embed(
        self, ops: list[Op], puts: list[PutOp]
    ) -> tuple[list[str], list[tuple[int, str, str]]]:
        if self.embeddings is None:
            return [], []
        queries = list(
            dict.fromkeys(op.query for op in ops if isinstance(op, SearchOp) and op.query)
        )
        jobs: list[tuple[int, str, str]] = []
        for i, op in enumerate(puts):
            if op.value is not None and op.index is not False:
                index = None if op.index is None else list(op.index)
                jobs.extend((i, field, text) for field, text in self._texts(op.value, index))
        return queries, jobs

    def _execute(
        self,
        ops: list[Op],
        puts: list[PutOp],
        queries: dict[str, list[float]],
        vectors: dict[int, dict[str, list[float]]],
    ) -> list[Result]:
        if self.memory.auto_refresh is False:
            self.memory.refresh()
        results: list[Result] = []
        touched: dict[tuple[tuple[str, ...], str], _Record] = {}
        for op in ops:
            if isinstance(op, GetOp):
                record = self._get(op)
                results.append(record.item() if record is not None else None)
                if record is not None and record.ttl is not None and op.refresh_ttl:
                    touched[(record.namespace, record.key)] = record
            elif isinstance(op, SearchOp):
                found = self._search(op, queries.get(op.query or ""))
                results.append([r.hit(score) for score, r in found])
                if op.refresh_ttl:
                    touched.update(((r.namespace, r.key), r) for _s, r in found if r.ttl)
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            else:
                results.append(None)
        written = {(tuple(op.namespace), op.key) for op in puts}
        refresh = [r for k, r in touched.items() if k not in written]
        if puts or refresh:
            self._apply(puts, vectors, refresh)
        return results

    def sweep_ttl(self) -> int:
        """Delete every expired item (one journal version); return how many."""
        if self.memory.auto_refresh is False:
            self.memory.refresh()
        expired = self._records(expired=True)
        if expired:
            with self.memory.batch():
                for r in expired:
                    path = self.path_of(r.namespace, r.key)
                    if self.memory.exists(path):
                        self.memory.delete(path)
        return len(expired)

    async def asweep_ttl(self) -> int:
        """Async :meth:`sweep_ttl`."""
        return await asyncio.to_thread(self.sweep_ttl)

    def _get(self, op: GetOp) -> _Record | None:
        record = self._load(self.path_of(tuple(op.namespace), op.key))
        if record is None or record.expired(self._clock()):
            return None
        return record

    def _texts(self, value: Mapping[str, Any], index: list[str] | None) -> list[tuple[str, str]]:
        fields = index if index is not None else (self.index_config or {}).get("fields") or ["$"]
        out: list[tuple[str, str]] = []
        for field in fields:
            texts = (
                [json.dumps(value, ensure_ascii=False)]
                if field == "$"
                else get_text_at_path(value, tokenize_path(field))
            )
            if len(texts) == 1:
                out.append((field, texts[0]))
            else:
                out.extend((f"{field}.{i}", t) for i, t in enumerate(texts))
        return out

    def _ttl_of(self, op: PutOp) -> float | None:
        # put() has already filled in ttl_config's default_ttl when no ttl was given
        return None if op.ttl is None else float(op.ttl)

    def _apply(
        self,
        puts: list[PutOp],
        vectors: dict[int, dict[str, list[float]]],
        refresh: Sequence[_Record] = (),
    ) -> None:
        clock = self._clock()
        now = clock.isoformat()
        with self.memory.batch():
            for r in refresh:  # reads pushed these items' expiry back
                assert r.ttl is not None
                pushed = {**r.data, "expires_at": (clock + timedelta(minutes=r.ttl)).isoformat()}
                text = json.dumps(pushed, ensure_ascii=False, indent=1)
                self.memory.write(self.path_of(r.namespace, r.key), text + "\n")
            for i, op in enumerate(puts):
                ns = tuple(op.namespace)
                path = self.path_of(ns, op.key)
                if op.value is None:
                    if self.memory.exists(path):
                        self.memory.delete(path)
                    continue
                old = self._load(path)
                created = old.created_at.isoformat() if old is not None else now
                data: dict[str, Any] = {
                    "schema_version": _SCHEMA,
                    "namespace": list(ns),
                    "key": op.key,
                    "value": op.value,
                    "created_at": created,
                    "updated_at": now,
                }
                if i in vectors:
                    data["vectors"] = vectors[i]
                ttl = self._ttl_of(op)
                if ttl is not None:
                    data["ttl_minutes"] = ttl
                    data["expires_at"] = (clock + timedelta(minutes=ttl)).isoformat()
                try:
                    text = json.dumps(data, ensure_ascii=False, indent=1)
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"item {op.key!r} of {ns}: the value is not JSON ({exc}); store "
                        "dicts of strings, numbers, booleans, None, lists and dicts"
                    ) from exc
                self.memory.write(path, text + "\n")

    def _search(
        self, op: SearchOp, query: list[float] | None = None
    ) -> list[tuple[float | None, _Record]]:
        prefix = tuple(op.namespace_prefix)
        records = [
            r
            for r in self._records(prefix)
            if not op.filter or all(_compare(r.value.get(k), v) for k, v in op.filter.items())
        ]
        records.sort(key=lambda r: (r.namespace, r.key))
        records.sort(key=lambda r: r.updated_at, reverse=True)
        lo, hi = op.offset, op.offset + op.limit
        if not op.query:
            return [(None, r) for r in records[lo:hi]]
        if query is not None:
            scored = [
                (max(_cosine(query, v) for v in r.vectors.values()), r)
                for r in records
                if r.vectors
            ]
            scored.sort(key=lambda sr: sr[0], reverse=True)
            kept: list[tuple[float | None, _Record]] = list(scored[lo:hi])
            if len(kept) < op.limit:  # items stored without embeddings come last, unscored
                kept.extend((None, r) for r in records if not r.vectors)
            return kept[: op.limit]
        words = _words(op.query)
        ranked: list[tuple[float, _Record]] = []
        for r in records:
            have = set(_words(" ".join(t for _f, t in self._texts(r.value, None))))
            found = sum(1 for w in words if w in have)
            if found:
                ranked.append((found / len(words), r))
        ranked.sort(key=lambda sr: sr[0], reverse=True)
        return [(score, r) for score, r in ranked[lo:hi]]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        found = {r.namespace for r in self._records()}
        spaces = [ns for ns in found if all(_matches(c, ns) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            spaces = list({ns[: op.max_depth] for ns in spaces})
        return sorted(spaces)[op.offset : op.offset + op.limit]
