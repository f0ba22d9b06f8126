"""MicroBatchClient gathers concurrent chat calls into batches of any batching client."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from automem_sdk.errors import LLMError
from automem_sdk.llm import Completion, Message, MicroBatchClient
from automem_sdk.llm.base import as_messages


class FakeBatcher:
    """Answers each conversation with its last message, upper-cased; records batches."""

    model = "fake"
    chat_options = frozenset({"temperature"})

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[tuple[int, dict[str, Any]]] = []
        self.fail = fail

    def chat_batch(
        self, conversations: Sequence[Sequence[Message | dict[str, Any]]], **opts: Any
    ) -> list[Completion]:
        self.batches.append((len(conversations), dict(opts)))
        if self.fail:
            raise LLMError("boom")
        return [Completion(text=as_messages(c)[-1].content.upper()) for c in conversations]


def run_threads(client: MicroBatchClient, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    out: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        text, opts = calls[i]
        barrier.wait()
        try:
            out[i] = client.chat([{"role": "user", "content": text}], **opts).text
        except LLMError as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


def test_concurrent_calls_become_one_batch_and_each_gets_its_reply() -> None:
    inner = FakeBatcher()
    client = MicroBatchClient(inner, window_s=30.0, max_batch=3)
    assert run_threads(client, [("a", {}), ("b", {}), ("c", {})]) == ["A", "B", "C"]
    assert inner.batches == [(3, {})]  # the window closed as soon as the batch was full
    assert client.chat_options == inner.chat_options and client.model == "fake"


def test_calls_with_other_options_go_in_another_batch() -> None:
    inner = FakeBatcher()
    client = MicroBatchClient(inner, window_s=0.2, max_batch=4)
    out = run_threads(client, [("a", {}), ("b", {"temperature": 1.0}), ("c", {})])
    assert out == ["A", "B", "C"]
    assert sorted(n for n, _ in inner.batches) == [1, 2] or len(inner.batches) == 3


def test_a_failed_batch_is_raised_in_every_caller() -> None:
    client = MicroBatchClient(FakeBatcher(fail=True), window_s=30.0, max_batch=2)
    out = run_threads(client, [("a", {}), ("b", {})])
    assert all(isinstance(e, LLMError) and "boom" in str(e) for e in out)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="window_s must be > 0"):
        MicroBatchClient(FakeBatcher(), window_s=0)
    with pytest.raises(ValueError, match="max_batch must be >= 1"):
        MicroBatchClient(FakeBatcher(), window_s=1, max_batch=0)
