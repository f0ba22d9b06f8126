"""AnthropicClient through the real ``anthropic.Anthropic`` with a mock HTTP transport."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automem_sdk.errors import LLMError, LLMTimeoutError
from automem_sdk.llm import AnthropicClient, LLMClient, RetryPolicy
from automem_sdk.llm.anthropic_client import to_anthropic_messages
from automem_sdk.llm.retry import LLMStatusError

anthropic = pytest.importorskip("anthropic", reason="the anthropic extra is not installed")
httpx2 = pytest.importorskip("httpx2", reason="anthropic 2.x's HTTP package is not installed")


def message_body(text: str = "<|DONE|>", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 4},
    }
    body.update(extra)
    return body


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


class Recorder:
    def __init__(self, responses: list[Any]) -> None:
        self.responses = responses
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        item = self.responses[min(len(self.requests), len(self.responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def make(
    responses: list[Any], *, slept: list[float] | None = None, attempts: int = 3, **kw: Any
) -> tuple[AnthropicClient, Recorder]:
    rec = Recorder(responses)
    sdk = anthropic.Anthropic(
        api_key="sk-ant-test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(rec)),
        max_retries=0,
    )
    sink = slept if slept is not None else []
    policy = RetryPolicy(max_attempts=attempts, base_delay=0.5, jitter=False, sleep=sink.append)
    return AnthropicClient("claude-test", client=sdk, retry=policy, **kw), rec


MSGS = [
    {"role": "system", "content": "You manage memory."},
    {"role": "user", "content": "Observation: a tree."},
    {"role": "user", "content": "Memory: empty."},
    {"role": "assistant", "content": "<|READ|>notes.md<|END|>"},
    {"role": "tool", "content": "notes.md is empty"},
    {"role": "system", "content": "Answer with ops only."},
]


def test_to_anthropic_messages_separates_system_and_merges_roles() -> None:
    system, turns = to_anthropic_messages(MSGS)
    assert system == "You manage memory.\n\nAnswer with ops only."
    assert turns == [
        {"role": "user", "content": "Observation: a tree.\n\nMemory: empty."},
        {"role": "assistant", "content": "<|READ|>notes.md<|END|>"},
        {"role": "user", "content": "notes.md is empty"},
    ]
    assert to_anthropic_messages([{"role": "user", "content": "x"}])[0] is None


def test_chat_sends_system_separately_and_parses_usage() -> None:
    client, rec = make(
        [httpx2.Response(200, json=message_body("<|APPEND|>notes.md|tree<|END|>"))],
        max_tokens=256,
    )
    assert isinstance(client, LLMClient)
    out = client.chat(MSGS, temperature=0.0, stop="<|DONE|>")
    (req,) = rec.requests
    assert req.method == "POST" and req.url.path == "/v1/messages"
    auth = req.headers.get("x-api-key") or req.headers.get("authorization", "")
    assert auth.endswith("sk-ant-test")
    body = rec.bodies()[0]
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 256
    assert body["system"] == "You manage memory.\n\nAnswer with ops only."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"] == "Observation: a tree.\n\nMemory: empty."
    assert body["temperature"] == 0.0  # sent through extra_body if create() lacks it
    assert body["stop_sequences"] == ["<|DONE|>"]
    assert out.text == "<|APPEND|>notes.md|tree<|END|>"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (21, 4)
    assert out.finish_reason == "end_turn"
    assert out.model == "claude-test"
    assert out.attempts == 1


def test_text_blocks_are_joined_and_other_blocks_ignored() -> None:
    content = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "<|READ|>a.md<|END|>"},
        {"type": "text", "text": "<|DONE|>"},
    ]
    client, _ = make([httpx2.Response(200, json=message_body(content=content))])
    assert client.chat([{"role": "user", "content": "x"}]).text == "<|READ|>a.md<|END|><|DONE|>"


def test_429_with_retry_after_is_retried_by_our_policy() -> None:
    slept: list[float] = []
    client, rec = make(
        [
            httpx2.Response(
                429, headers={"retry-after": "3"}, json=error_body("rate_limit_error", "slow")
            ),
            httpx2.Response(200, json=message_body("ok")),
        ],
        slept=slept,
    )
    out = client.chat(MSGS)
    assert out.text == "ok" and out.attempts == 2
    assert slept == [3.0]
    assert len(rec.requests) == 2  # the SDK itself did not retry


def test_sdk_retries_are_switched_off_even_if_the_client_had_them() -> None:
    rec = Recorder([httpx2.Response(500, json=error_body("api_error", "boom"))])
    sdk = anthropic.Anthropic(
        api_key="k", http_client=httpx2.Client(transport=httpx2.MockTransport(rec)), max_retries=5
    )
    client = AnthropicClient(
        "claude-test", client=sdk, retry=RetryPolicy(max_attempts=2, sleep=lambda _s: None)
    )
    with pytest.raises(LLMStatusError, match="boom") as info:
        client.chat([{"role": "user", "content": "x"}])
    assert info.value.status == 500
    assert len(rec.requests) == 2  # our two attempts, no hidden SDK retries


def test_overloaded_529_is_retried() -> None:
    slept: list[float] = []
    client, _ = make(
        [
            httpx2.Response(529, json=error_body("overloaded_error", "overloaded")),
            httpx2.Response(200, json=message_body("ok")),
        ],
        slept=slept,
    )
    assert client.chat(MSGS).attempts == 2
    assert slept == [0.5]


def test_400_fails_at_once_with_the_server_message() -> None:
    slept: list[float] = []
    client, rec = make(
        [httpx2.Response(400, json=error_body("invalid_request_error", "max_tokens: too big"))],
        slept=slept,
    )
    with pytest.raises(LLMStatusError, match="max_tokens: too big") as info:
        client.chat(MSGS)
    assert info.value.status == 400
    assert len(rec.requests) == 1 and slept == []


def test_timeouts_raise_llm_timeout_error() -> None:
    client, rec = make([httpx2.ReadTimeout("slow")], attempts=2)
    with pytest.raises(LLMTimeoutError, match="after 2 attempts"):
        client.chat(MSGS)
    assert len(rec.requests) == 2


def test_connection_errors_are_retried_then_raised() -> None:
    client, rec = make([httpx2.ConnectError("refused")], attempts=2)
    with pytest.raises(LLMError) as info:
        client.chat(MSGS)
    assert not isinstance(info.value, LLMTimeoutError)
    assert len(rec.requests) == 2


def test_system_only_conversation_is_rejected_before_any_request() -> None:
    client, rec = make([httpx2.Response(200, json=message_body())])
    with pytest.raises(LLMError, match="non-system"):
        client.chat([{"role": "system", "content": "only system"}])
    assert rec.requests == []
