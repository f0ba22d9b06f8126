"""OpenAICompatClient over the real HTTP protocol through httpx.MockTransport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from automem_sdk.errors import LLMError, LLMTimeoutError
from automem_sdk.llm import LLMClient, Message, OpenAICompatClient, RetryPolicy
from automem_sdk.llm.retry import LLMStatusError

BASE = "http://vllm.test:8000/v1"


def completion_body(text: str = "<|DONE|>", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": "served-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }
    body.update(extra)
    return body


class Recorder:
    """An httpx transport handler that records requests and replays scripted responses."""

    def __init__(self, responses: list[httpx.Response | Exception]) -> None:
        self.responses = responses
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses[min(len(self.requests), len(self.responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def make(
    responses: list[httpx.Response | Exception],
    *,
    slept: list[float] | None = None,
    attempts: int = 4,
    **kw: Any,
) -> tuple[OpenAICompatClient, Recorder]:
    rec = Recorder(responses)
    sink = slept if slept is not None else []
    policy = RetryPolicy(max_attempts=attempts, base_delay=0.5, jitter=False, sleep=sink.append)
    client = OpenAICompatClient(
        BASE,
        kw.pop("model", "memory-lora"),
        http_client=httpx.Client(transport=httpx.MockTransport(rec)),
        retry=policy,
        **kw,
    )
    return client, rec


MSGS: list[Message | dict[str, Any]] = [
    Message(role="system", content="You manage memory."),
    {"role": "user", "content": "Observation: a tree."},
]


def test_chat_sends_model_messages_params_and_parses_usage() -> None:
    client, rec = make(
        [httpx.Response(200, json=completion_body("<|APPEND|>notes.md|tree<|END|>"))],
        api_key="sk-test",
        default_params={"temperature": 0.0, "max_tokens": 64},
    )
    assert isinstance(client, LLMClient)
    out = client.chat(MSGS, max_tokens=32, stop=["<|DONE|>"])
    (req,) = rec.requests
    assert req.method == "POST"
    assert str(req.url) == f"{BASE}/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test"
    body = rec.bodies()[0]
    assert body["model"] == "memory-lora"  # a vLLM LoRA adapter is addressed by name
    assert body["messages"] == [
        {"role": "system", "content": "You manage memory."},
        {"role": "user", "content": "Observation: a tree."},
    ]
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == 32  # per-call option overrides the default
    assert body["stop"] == ["<|DONE|>"]
    assert out.text == "<|APPEND|>notes.md|tree<|END|>"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (11, 3)
    assert out.usage.total_tokens == 14
    assert out.finish_reason == "stop"
    assert out.model == "served-model"
    assert out.attempts == 1
    assert out.latency_s >= 0.0
    assert not out.cached


def test_model_can_be_overridden_per_call_and_no_key_sends_no_auth() -> None:
    client, rec = make([httpx.Response(200, json=completion_body())])
    client.chat(MSGS, model="other-adapter")
    assert rec.bodies()[0]["model"] == "other-adapter"
    assert "authorization" not in rec.requests[0].headers


def test_429_with_retry_after_is_honoured_then_succeeds() -> None:
    slept: list[float] = []
    client, rec = make(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow"}}),
            httpx.Response(200, json=completion_body("ok")),
        ],
        slept=slept,
    )
    out = client.chat(MSGS)
    assert out.text == "ok"
    assert out.attempts == 2
    assert slept == [7.0]
    assert len(rec.requests) == 2
    assert rec.bodies()[0] == rec.bodies()[1]  # the same request is replayed


def test_503_then_success_uses_backoff() -> None:
    slept: list[float] = []
    client, _ = make(
        [
            httpx.Response(503, text="overloaded"),
            httpx.Response(500, text="oops"),
            httpx.Response(200, json=completion_body("fine")),
        ],
        slept=slept,
    )
    out = client.chat(MSGS)
    assert out.text == "fine" and out.attempts == 3
    assert slept == [0.5, 1.0]


def test_persistent_5xx_raises_status_error_with_body_excerpt() -> None:
    client, rec = make([httpx.Response(502, text="upstream exploded")], attempts=3)
    with pytest.raises(LLMStatusError, match="upstream exploded") as info:
        client.chat(MSGS)
    assert info.value.status == 502 and info.value.attempts == 3
    assert len(rec.requests) == 3


def test_timeouts_raise_llm_timeout_error_after_all_attempts() -> None:
    slept: list[float] = []
    client, rec = make([httpx.ReadTimeout("read timed out")], attempts=3, slept=slept)
    with pytest.raises(LLMTimeoutError, match="after 3 attempts"):
        client.chat(MSGS)
    assert len(rec.requests) == 3
    assert slept == [0.5, 1.0]


def test_timeout_then_success() -> None:
    client, _ = make([httpx.ConnectTimeout("no"), httpx.Response(200, json=completion_body("x"))])
    assert client.chat(MSGS).attempts == 2


def test_connection_error_is_retried_then_reported() -> None:
    client, rec = make([httpx.ConnectError("connection refused")], attempts=2)
    with pytest.raises(LLMError, match="connection refused") as info:
        client.chat(MSGS)
    assert not isinstance(info.value, LLMTimeoutError)
    assert len(rec.requests) == 2


def test_non_retryable_400_fails_at_once_with_server_message() -> None:
    slept: list[float] = []
    client, rec = make(
        [
            httpx.Response(
                400, json={"error": {"message": "max_tokens is too large", "type": "invalid"}}
            )
        ],
        slept=slept,
    )
    with pytest.raises(LLMStatusError, match="max_tokens is too large") as info:
        client.chat(MSGS)
    assert info.value.status == 400
    assert len(rec.requests) == 1 and slept == []


def test_404_unknown_adapter_fails_at_once() -> None:
    client, rec = make([httpx.Response(404, json={"detail": "model 'nope' not found"})])
    with pytest.raises(LLMStatusError, match="not found"):
        client.chat(MSGS, model="nope")
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (httpx.Response(200, text="<html>gateway</html>"), "not JSON"),
        (httpx.Response(200, json={"id": "x", "choices": []}), "no choices"),
        (httpx.Response(200, json={"id": "x"}), "no choices"),
        (httpx.Response(200, json=[1, 2]), "expected a JSON object"),
        (httpx.Response(200, json={"choices": [{"index": 0}]}), "without a message"),
    ],
)
def test_malformed_replies_raise_clear_llm_errors(response: httpx.Response, match: str) -> None:
    client, rec = make([response])
    with pytest.raises(LLMError, match=match):
        client.chat(MSGS)
    assert len(rec.requests) == 1  # malformed replies are not retried


def test_missing_usage_and_null_content_are_tolerated() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": None}}]}
    client, _ = make([httpx.Response(200, json=body)])
    out = client.chat(MSGS)
    assert out.text == "" and out.usage.total_tokens == 0
    assert out.model == "memory-lora" and out.finish_reason is None


def test_list_models_reads_the_model_list() -> None:
    models = {
        "object": "list",
        "data": [
            {"id": "Qwen/Qwen2.5-0.5B-Instruct", "object": "model"},
            {"id": "memory-lora", "object": "model", "parent": "Qwen/Qwen2.5-0.5B-Instruct"},
        ],
    }
    client, rec = make([httpx.Response(200, json=models)])
    assert client.list_models() == ["Qwen/Qwen2.5-0.5B-Instruct", "memory-lora"]
    assert rec.requests[0].method == "GET"
    assert str(rec.requests[0].url) == f"{BASE}/models"


def test_list_models_rejects_other_shapes() -> None:
    client, _ = make([httpx.Response(200, json={"models": []})])
    with pytest.raises(LLMError, match="no model list"):
        client.list_models()


def test_real_socket_server_roundtrip() -> None:
    """A real HTTP server on 127.0.0.1 (no mocks) answering the OpenAI protocol."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            seen.append(json.loads(self.rfile.read(length)))
            data = json.dumps(completion_body("pong")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with OpenAICompatClient(f"http://127.0.0.1:{port}/v1/", "m", timeout=10.0) as client:
            out = client.chat([{"role": "user", "content": "ping"}], temperature=0)
        assert out.text == "pong"
        assert seen == [
            {"model": "m", "messages": [{"role": "user", "content": "ping"}], "temperature": 0}
        ]
    finally:
        server.shutdown()
        server.server_close()
