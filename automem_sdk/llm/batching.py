"""Gather ``chat`` calls from concurrent threads into batches, around any batching client.

:class:`MicroBatchClient` wraps a client that has ``chat_batch(conversations, **opts)``
(e.g. :class:`~automem_sdk.llm.local.LocalTransformersClient`), the way
:class:`~automem_sdk.llm.cache.CachedClient` wraps any client: calls made within
``window_s`` of each other with the same options are answered by one ``chat_batch``
call. Parallel episodes in one process then share the model's batch dimension.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from automem_sdk.llm.base import Completion, Message, as_messages
from automem_sdk.llm.options import declared_options

__all__ = ["BatchingClient", "MicroBatchClient"]


class BatchingClient(Protocol):
    """A client that answers several conversations in one call."""

    model: str

    def chat_batch(
        self, conversations: Sequence[Sequence[Message | dict[str, Any]]], **opts: Any
    ) -> list[Completion]:
        """One completion per conversation, in order."""
        ...


@dataclass
class _Job:
    messages: list[Message]
    opts: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Completion | None = None
    error: BaseException | None = None


class MicroBatchClient:
    """Answer concurrent ``chat`` calls with batched ``chat_batch`` calls of ``inner``.

    The first caller of a window leads: it waits up to ``window_s`` (or until
    ``max_batch`` calls queue), sends the queued calls whose options equal its own as
    one batch, and repeats while calls remain; every caller gets its own completion, or
    the batch's exception.

    Args:
        inner: the batching client.
        window_s: how long a leader waits for more calls (``> 0``).
        max_batch: the largest batch sent.

    Raises:
        ValueError: ``window_s`` is not positive or ``max_batch`` below 1.
    """

    def __init__(self, inner: BatchingClient, *, window_s: float, max_batch: int = 8) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.inner = inner
        self.model = inner.model
        self.window_s = window_s
        self.max_batch = max_batch
        self._queue: list[_Job] = []
        self._cv = threading.Condition()
        self._leader = False

    def __repr__(self) -> str:
        return f"MicroBatchClient({self.inner!r}, window_s={self.window_s})"

    @property
    def chat_options(self) -> frozenset[str] | None:
        """The options the inner client takes (``None``: it does not say)."""
        return declared_options(self.inner)

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Queue the call, lead a batch if no one does, and return this call's reply.

        Raises:
            Exception: whatever the inner ``chat_batch`` raised for this call's batch.
        """
        job = _Job(as_messages(messages), dict(opts))
        with self._cv:
            self._queue.append(job)
            self._cv.notify_all()
            lead = not self._leader
            if lead:
                self._leader = True
        if lead:
            self._lead()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def chat_batch(
        self, conversations: Sequence[Sequence[Message | dict[str, Any]]], **opts: Any
    ) -> list[Completion]:
        """Pass a ready batch straight to the inner client."""
        return self.inner.chat_batch(conversations, **opts)

    def _take_group(self) -> list[_Job] | None:
        with self._cv:
            if not self._queue:
                self._leader = False
                return None
            deadline = time.monotonic() + self.window_s
            while len(self._queue) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            first = self._queue[0]
            group = [j for j in self._queue if j.opts == first.opts][: self.max_batch]
            for j in group:
                self._queue.remove(j)
            return group

    def _lead(self) -> None:
        while (group := self._take_group()) is not None:
            try:
                results = self.inner.chat_batch([j.messages for j in group], **group[0].opts)
            except BaseException as exc:  # delivered to every waiting caller
                for j in group:
                    j.error = exc
                    j.done.set()
            else:
                for j, res in zip(group, results, strict=True):
                    j.result = res
                    j.done.set()
