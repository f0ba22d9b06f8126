"""Typed chat options: every client refuses an option it does not take, before any request."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from automem_sdk.deciders import LLMDecider
from automem_sdk.errors import LLMError
from automem_sdk.llm import (
    CHAT_OPTIONS,
    CachedClient,
    LlamaCppClient,
    OpenAICompatClient,
    ScriptedClient,
    make_client,
)
from automem_sdk.llm.options import check_chat_options, supports_option

MSGS = [{"role": "user", "content": "hi"}]
REPLY = {
    "model": "m",
    "choices": [{"message": {"role": "assistant", "content": "<|DONE|>"}, "finish_reason": "stop"}],
}


def http_client(bodies: list[dict[str, Any]]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=REPLY)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_rule_names_unknown_unsupported_and_badly_typed_options() -> None:
    supported = frozenset({"temperature"})
    with pytest.raises(LLMError, match=r"unknown chat option\(s\) \['logprobs'\] for C;"):
        check_chat_options("C", {"logprobs": True}, supported)
    with pytest.raises(LLMError, match=r"C does not support the chat option\(s\) \['seed'\]"):
        check_chat_options("C", {"seed": 1}, supported)
    with pytest.raises(LLMError, match="bad chat option temperature for C"):
        check_chat_options("C", {"temperature": "hot"}, supported)
    assert check_chat_options("C", {"temperature": 0}, supported) == {"temperature": 0}


def test_openai_compatible_client_refuses_grammar_and_sends_extra_body() -> None:
    bodies: list[dict[str, Any]] = []
    client = OpenAICompatClient("http://srv.test/v1", "m", http_client=http_client(bodies))
    with pytest.raises(LLMError, match=r"does not support the chat option\(s\) \['grammar'\]"):
        client.chat(MSGS, grammar=["READ", "DONE"])
    with pytest.raises(LLMError, match="unknown chat option"):
        client.chat(MSGS, response_format={"type": "json_object"})
    assert bodies == []  # nothing was sent
    client.chat(MSGS, temperature=0, extra_body={"response_format": {"type": "json_object"}})
    assert bodies[-1]["response_format"] == {"type": "json_object"}
    assert "extra_body" not in bodies[-1] and bodies[-1]["temperature"] == 0
    with pytest.raises(LLMError, match="does not support"):
        OpenAICompatClient("http://srv.test/v1", "m", default_params={"grammar": True})


def test_llamacpp_spec_sends_the_op_grammar_as_gbnf() -> None:
    bodies: list[dict[str, Any]] = []
    client = make_client("llamacpp:http://srv.test/v1", env={}, http_client=http_client(bodies))
    assert isinstance(client, LlamaCppClient) and isinstance(client, OpenAICompatClient)
    client.chat(MSGS, grammar=["READ", "DONE"])
    grammar = bodies[-1]["grammar"]
    assert isinstance(grammar, str) and '"READ"' in grammar and "root" in grammar
    client.chat(MSGS)
    assert "grammar" not in bodies[-1]
    LLMDecider(client, constrain_ops=True)  # accepted: the client has an op grammar


def test_constrain_ops_on_a_client_without_grammar_is_refused_up_front() -> None:
    plain = make_client("vllm:m", env={})
    with pytest.raises(LLMError, match="constrain_ops=True needs a client with an op grammar"):
        LLMDecider(plain, constrain_ops=True)
    assert not supports_option(plain, "grammar") and supports_option(plain, "seed")


def test_anthropic_refuses_seed() -> None:
    pytest.importorskip("anthropic")
    client = make_client("anthropic:claude-test", env={"ANTHROPIC_API_KEY": "k"})
    with pytest.raises(LLMError, match=r"does not support the chat option\(s\) \['seed'\]"):
        client.chat(MSGS, seed=1)


def test_scripted_and_cached_clients_follow_the_same_rule(tmp_path: Any) -> None:
    scripted = ScriptedClient(["a", "b"])
    assert scripted.chat_options == frozenset(CHAT_OPTIONS)
    scripted.chat(MSGS, grammar=True, seed=3)
    with pytest.raises(LLMError, match="unknown chat option"):
        scripted.chat(MSGS, n=2)
    cached = CachedClient(OpenAICompatClient("http://srv.test/v1", "m"), str(tmp_path))
    assert cached.chat_options == OpenAICompatClient.chat_options
