"""make_client string specs, the package's public names, and import lightness."""

from __future__ import annotations

import subprocess
import sys

import pytest

import automem_sdk.llm as llm
from automem_sdk.errors import LLMError
from automem_sdk.llm import (
    AnthropicClient,
    LLMClient,
    OpenAICompatClient,
    RetryPolicy,
    ScriptedClient,
    make_client,
)


def test_public_names_are_exported() -> None:
    for name in llm.__all__:
        assert getattr(llm, name) is not None, name


def test_scripted_spec_defaults_to_a_cycling_done_reply() -> None:
    client = make_client("scripted")
    assert isinstance(client, ScriptedClient) and isinstance(client, LLMClient)
    assert [client.chat([{"role": "user", "content": "x"}]).text for _ in range(3)] == [
        "<|DONE|>"
    ] * 3
    custom = make_client("scripted", replies=["a"], model="demo")
    assert custom.model == "demo" and custom.chat([]).text == "a"
    assert make_client("scripted:<|ACTION|>noop<|END|>").chat([]).text == "<|ACTION|>noop<|END|>"


def test_openai_spec_reads_key_and_base_url_from_env() -> None:
    client = make_client("openai:gpt-4o-mini", env={"OPENAI_API_KEY": "sk-x"})
    assert isinstance(client, OpenAICompatClient)
    assert client.model == "gpt-4o-mini" and client.base_url == "https://api.openai.com/v1"
    assert client._headers["Authorization"] == "Bearer sk-x"
    proxy = make_client("openai:m", env={"OPENAI_BASE_URL": "http://proxy.test/v1/"})
    assert isinstance(proxy, OpenAICompatClient) and proxy.base_url == "http://proxy.test/v1"
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        make_client("openai:gpt-4o-mini", env={})


def test_vllm_ollama_llamacpp_specs() -> None:
    policy = RetryPolicy(max_attempts=1)
    v = make_client("vllm:memory-lora@http://10.0.0.5:8000/v1", env={}, retry=policy)
    assert isinstance(v, OpenAICompatClient)
    assert (v.model, v.base_url) == ("memory-lora", "http://10.0.0.5:8000/v1")
    assert v.retry is policy
    v2 = make_client("vllm:Qwen/Qwen2.5-0.5B-Instruct", env={})
    assert isinstance(v2, OpenAICompatClient) and v2.base_url == "http://127.0.0.1:8000/v1"
    o = make_client("ollama:qwen2.5:7b", env={})
    assert isinstance(o, OpenAICompatClient)
    assert (o.model, o.base_url) == ("qwen2.5:7b", "http://127.0.0.1:11434/v1")
    o2 = make_client("ollama:llama3", env={"OLLAMA_HOST": "gpu-box:11434"})
    assert isinstance(o2, OpenAICompatClient) and o2.base_url == "http://gpu-box:11434/v1"
    c = make_client("llamacpp:http://127.0.0.1:9001/v1", env={})
    assert isinstance(c, OpenAICompatClient) and c.base_url == "http://127.0.0.1:9001/v1"
    c2 = make_client("llamacpp:smol@http://127.0.0.1:9001/v1", env={})
    assert isinstance(c2, OpenAICompatClient) and c2.model == "smol"


def test_anthropic_spec_needs_a_key() -> None:
    pytest.importorskip("anthropic")
    client = make_client("anthropic:claude-test", env={"ANTHROPIC_API_KEY": "sk-ant"})
    assert isinstance(client, AnthropicClient) and client.model == "claude-test"
    with pytest.raises(LLMError, match="ANTHROPIC_API_KEY"):
        make_client("anthropic:claude-test", env={})


@pytest.mark.parametrize(
    "spec", ["gpt-4o", "nope:model", "openai:", "vllm:@http://h:1/v1", "local:"]
)
def test_unknown_specs_list_the_known_forms(spec: str) -> None:
    with pytest.raises(ValueError, match="Known forms") as info:
        make_client(spec, env={})
    assert "vllm:MODEL" in str(info.value) and "local:smollm2-135m" in str(info.value)


def test_importing_the_package_is_light() -> None:
    code = (
        "import sys, automem_sdk.llm as m; m.make_client('scripted');"
        "heavy = [x for x in ('torch', 'transformers', 'anthropic') if x in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
