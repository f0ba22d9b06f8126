"""An optional response cache in front of any LLM client, stored through fsspec."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import fsspec
from pydantic import ValidationError

from automem_sdk.atomic import atomic_write_fs
from automem_sdk.llm.base import Completion, LLMClient, Message, as_messages
from automem_sdk.llm.options import declared_options

__all__ = ["CachedClient", "cache_key"]

_KEY_VERSION = 1


def cache_key(
    model: str, messages: Sequence[Message | dict[str, Any]], params: Mapping[str, Any]
) -> str:
    """The SHA-256 hex digest identifying one request.

    Args:
        model: the model name.
        messages: the conversation.
        params: request options (``temperature``, ``max_tokens``, …); must be JSON-able
            (other values are keyed by their ``repr``).

    Returns:
        A 64-character hex string.
    """
    payload = {
        "v": _KEY_VERSION,
        "model": model,
        "messages": [m.model_dump() for m in as_messages(messages)],
        "params": dict(params),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CachedClient:
    """Answers repeated requests from a cache of JSON files (any fsspec URL).

    The key is a hash of (model, messages, params), so only identical requests hit.
    With sampling (``temperature > 0``) a hit replays the first sampled reply: use the
    cache for deterministic evaluation and replays, not for sampling diversity.

    Args:
        inner: the client that answers cache misses.
        cache_url: a directory URL (``file://…``, ``memory://…``, ``s3://…``, or a path).
        storage_options: passed to fsspec.

    Attributes:
        hits: number of requests answered from the cache.
        misses: number of requests forwarded to ``inner``.

    A hit returns the stored completion with ``cached=True`` and ``latency_s`` set to
    the time the lookup took; usage is that of the original request. A corrupt cache
    file counts as a miss and is overwritten.
    """

    def __init__(
        self,
        inner: LLMClient,
        cache_url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.inner = inner
        self.model = inner.model
        self.cache_url = cache_url.rstrip("/")
        fs, root = fsspec.core.url_to_fs(self.cache_url, **dict(storage_options or {}))
        self._fs = fs
        self._root = root.rstrip("/")
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CachedClient({self.inner!r}, cache_url={self.cache_url!r})"

    @property
    def chat_options(self) -> frozenset[str] | None:
        """The options the inner client takes (``None``: it does not say)."""
        return declared_options(self.inner)

    def path_for(self, key: str) -> str:
        """The filesystem path of one cache entry."""
        return f"{self._root}/{key[:2]}/{key}.json"

    def _load(self, path: str) -> Completion | None:
        try:
            raw = self._fs.cat_file(path)
        except FileNotFoundError:
            return None
        try:
            record = json.loads(raw)
            return Completion.model_validate(record["completion"])
        except (ValueError, KeyError, TypeError, ValidationError):
            return None

    def _store(self, path: str, key: str, completion: Completion) -> None:
        record = {"key": key, "model": self.model, "completion": completion.model_dump()}
        data = json.dumps(record, ensure_ascii=False).encode("utf-8")
        atomic_write_fs(self._fs, path, data)

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Return a cached completion or ask ``inner`` and store its reply."""
        start = time.perf_counter()
        model = str(opts.get("model") or self.model)
        key = cache_key(model, messages, {k: v for k, v in opts.items() if k != "model"})
        path = self.path_for(key)
        hit = self._load(path)
        if hit is not None:
            with self._lock:
                self.hits += 1
            return hit.model_copy(update={"cached": True, "latency_s": time.perf_counter() - start})
        completion = self.inner.chat(messages, **opts)
        with self._lock:
            self.misses += 1
        self._store(path, key, completion.model_copy(update={"cached": False}))
        return completion
