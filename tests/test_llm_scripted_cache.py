"""ScriptedClient determinism and CachedClient hits/misses over fsspec."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import fsspec
import pytest

from automem_sdk.errors import LLMError
from automem_sdk.llm import CachedClient, LLMClient, Message, ScriptedClient
from automem_sdk.llm.cache import cache_key

USER = [{"role": "user", "content": "look around the room"}]


def test_scripted_replies_in_order_with_word_usage() -> None:
    client = ScriptedClient(["<|DONE|>", "<|ACTION|>north<|END|> now"], model="demo")
    assert isinstance(client, LLMClient)
    first = client.chat([{"role": "system", "content": "be brief"}, *USER], temperature=0)
    second = client.chat(USER)
    assert (first.text, second.text) == ("<|DONE|>", "<|ACTION|>north<|END|> now")
    assert first.usage.prompt_tokens == 2 + 4 and first.usage.completion_tokens == 1
    assert second.usage.completion_tokens == 2
    assert first.model == "demo"
    assert client.calls[0][1] == {"temperature": 0}
    assert [m.role for m in client.calls[0][0]] == ["system", "user"]
    assert client.remaining == 0


def test_scripted_raises_clearly_when_exhausted() -> None:
    client = ScriptedClient(["a"])
    client.chat(USER)
    with pytest.raises(LLMError, match="ran out of replies after 1"):
        client.chat(USER)


@pytest.mark.parametrize(
    ("mode", "expected"), [("cycle", ["a", "b", "a", "b"]), ("repeat_last", ["a", "b", "b", "b"])]
)
def test_scripted_exhaustion_modes(mode: str, expected: list[str]) -> None:
    client = ScriptedClient(["a", "b"], when_exhausted=mode)  # type: ignore[arg-type]
    assert [client.chat(USER).text for _ in range(4)] == expected


def test_scripted_function_sees_messages() -> None:
    def reply(messages: list[Message]) -> str:
        return f"<|ACTION|>{messages[-1].content.split()[0]}<|END|>"

    client = ScriptedClient(reply)
    assert client.chat(USER).text == "<|ACTION|>look<|END|>"
    assert client.remaining is None


def test_scripted_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ScriptedClient([])
    with pytest.raises(ValueError):
        ScriptedClient(["a"], when_exhausted="loop")  # type: ignore[arg-type]
    bad = ScriptedClient(lambda _m: 3)  # type: ignore[arg-type,return-value]
    with pytest.raises(LLMError, match="expected str"):
        bad.chat(USER)


def test_cache_key_depends_on_model_messages_and_params() -> None:
    base = cache_key("m", USER, {"temperature": 0})
    assert base == cache_key(
        "m", [Message(role="user", content="look around the room")], {"temperature": 0}
    )
    assert base != cache_key("m2", USER, {"temperature": 0})
    assert base != cache_key("m", USER, {"temperature": 1})
    assert base != cache_key("m", [{"role": "user", "content": "look"}], {"temperature": 0})
    assert len(base) == 64


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_cached_client_hits_and_misses(scheme: str, tmp_path: Path) -> None:
    url = (
        f"file://{tmp_path}/cache" if scheme == "file" else f"memory://llm-cache-{uuid.uuid4().hex}"
    )
    inner = ScriptedClient(["one", "two", "three"])
    client = CachedClient(inner, url)
    assert isinstance(client, LLMClient) and client.model == "scripted"

    a = client.chat(USER, temperature=0)
    b = client.chat(USER, temperature=0)
    c = client.chat(USER, temperature=0.7)
    d = client.chat(USER, temperature=0)

    assert (a.text, b.text, c.text, d.text) == ("one", "one", "two", "one")
    assert (a.cached, b.cached, c.cached, d.cached) == (False, True, False, True)
    assert (client.hits, client.misses) == (2, 2)
    assert len(inner.calls) == 2
    assert b.usage == a.usage

    fs, root = fsspec.core.url_to_fs(url)
    files = [p for p in fs.find(root) if p.endswith(".json")]
    assert len(files) == 2
    record = json.loads(fs.cat_file(files[0]))
    assert record["completion"]["cached"] is False
    assert not [p for p in fs.find(root) if p.endswith(".tmp")]

    # a fresh client over the same URL sees the stored replies
    again = CachedClient(ScriptedClient(["never"]), url)
    assert again.chat(USER, temperature=0).text == "one"
    assert (again.hits, again.misses) == (1, 0)


def test_corrupt_cache_entry_is_a_miss_and_is_rewritten(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/c"
    client = CachedClient(ScriptedClient(["fresh", "second"]), url)
    key = cache_key("scripted", USER, {})
    path = client.path_for(key)
    client._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    client._fs.pipe_file(path, b"{not json")
    assert client.chat(USER).text == "fresh"
    assert client.misses == 1
    assert client.chat(USER).cached is True
