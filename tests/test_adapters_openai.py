"""OpenAI-style tool calling: schemas, the dispatcher, and a loop over a mock server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from automem_sdk.adapters import ToolDispatcher, run_tool_loop, tool_calls_of

from automem_sdk import MemoryStore, load_scaffold
from automem_sdk.testing import FakeOpenAIAPI, openai_tool_call
from automem_sdk.tools import MAX_TOOL_ARGUMENT_BYTES


def response(*calls: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": list(calls)},
            }
        ],
    }


class SdkObject:
    """Mimics an SDK response object (``model_dump()``)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def model_dump(self) -> dict[str, Any]:
        return self.data


def test_tools_follow_the_scaffold_and_actions(memory_url: str) -> None:
    d = ToolDispatcher(memory_url, scaffold="minihack", actions=["north", "south"])
    names = [t["function"]["name"] for t in d.tools()]
    assert names[-2:] == ["memory_upsert_map", "action"]
    action = d.tools()[-1]["function"]["parameters"]["properties"]["name"]
    assert action["enum"] == ["north", "south"]
    assert "action" not in [
        t["function"]["name"] for t in ToolDispatcher(memory_url, actions=[]).tools()
    ]
    extra = {"type": "function", "function": {"name": "mine", "parameters": {}}}
    assert ToolDispatcher(memory_url).tools([extra])[-1] is extra


def test_dispatch_runs_calls_in_order_and_answers_each(memory_url: str) -> None:
    d = ToolDispatcher(memory_url)
    out = d.dispatch(
        response(
            openai_tool_call("memory_append", {"path": "n.md", "content": "wood north"}, "c1"),
            openai_tool_call("memory_search", {"query": "WOOD"}, "c2"),
            openai_tool_call(
                "memory_upsert", {"path": "k.md", "key": "tree", "value": "3,4"}, "c3"
            ),
        )
    )
    assert out == [
        {"role": "tool", "tool_call_id": "c1", "content": "appended to n.md"},
        {"role": "tool", "tool_call_id": "c2", "content": "n.md:1: wood north"},
        {"role": "tool", "tool_call_id": "c3", "content": "added 'tree' in k.md"},
    ]
    assert d.memory.read("k.md") == "tree: 3,4\n"
    assert [c.result.ok for c in d.history] == [True, True, True]


def test_accepts_sdk_objects_messages_and_lists(memory_url: str) -> None:
    d = ToolDispatcher(memory_url)
    call = openai_tool_call("memory_list", {}, "x")
    for shape in [
        response(call),
        SdkObject(response(call)),
        response(call)["choices"][0]["message"],
        [call],
    ]:
        assert tool_calls_of(shape)[0]["id"] == "x"
    assert d.dispatch(SdkObject(response(call)))[0]["content"].startswith("(no files")
    assert tool_calls_of({"choices": []}) == [] and tool_calls_of("text") == []
    assert d.dispatch(response(content="no tools")) == []


def test_malformed_calls_become_tool_errors(memory_url: str) -> None:
    d = ToolDispatcher(memory_url, actions=["north"])
    huge = json.dumps({"path": "big.md", "content": "x" * (MAX_TOOL_ARGUMENT_BYTES + 10)})
    out = d.dispatch(
        response(
            openai_tool_call("memory_read", '{"path": "n.md"', "bad-json"),
            openai_tool_call("memory_head", {"path": "n.md", "n": "ten"}, "bad-type"),
            openai_tool_call("memory_append", {"path": 7, "content": ["a"]}, "bad-types"),
            openai_tool_call("memory_teleport", {"path": "n.md"}, "unknown-memory"),
            openai_tool_call("shell", {"cmd": "rm -rf /"}, "unknown"),
            openai_tool_call("memory_write", huge, "huge"),
            openai_tool_call("memory_read", "[1, 2]", "not-object"),
            openai_tool_call("memory_read", {"path": "../../etc/passwd"}, "escape"),
            openai_tool_call("action", {"name": "fly"}, "bad-action"),
            {"id": "no-function", "type": "function"},
            openai_tool_call("memory_append", {"path": "n.md", "content": "still works"}, "ok"),
        )
    )
    by_id = {m["tool_call_id"]: m["content"] for m in out}
    assert by_id["bad-json"].startswith(
        "PARSE ERROR: tool 'memory_read': arguments are not valid JSON"
    )
    assert "n: Input should be a valid integer" in by_id["bad-type"]
    assert "path: Input should be a valid string" in by_id["bad-types"]
    assert "content: Input should be a valid string" in by_id["bad-types"]
    assert by_id["unknown-memory"] == "PARSE ERROR: unknown tool 'memory_teleport'"
    assert by_id["unknown"] == "PARSE ERROR: unknown tool 'shell'"
    assert by_id["huge"].startswith("PARSE ERROR: tool arguments too large")
    assert by_id["not-object"] == "PARSE ERROR: tool 'memory_read': arguments must be a JSON object"
    assert by_id["escape"].startswith("ERROR (read): invalid memory path")
    assert by_id["bad-action"] == "ERROR (action): unknown action 'fly'; choose one of: north"
    assert by_id["no-function"].startswith("PARSE ERROR: malformed tool call")
    assert by_id["ok"] == "appended to n.md"
    assert [c.result.ok for c in d.history].count(True) == 1
    assert d.memory.list() == ["n.md"]


def test_extra_tools_results_are_cut_and_actions_reported(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    store.write("long.md", "y" * 500)
    d = ToolDispatcher(
        store,
        extra_tools={"echo": lambda a: f"echo {a['x']}"},
        actions=["go"],
        max_result_chars=100,
    )
    calls = d.handle(
        [
            openai_tool_call("echo", {"x": 1}, "e"),
            openai_tool_call("echo", "{oops", "e2"),
            openai_tool_call("memory_read", {"path": "long.md"}, "r"),
            openai_tool_call("action", {"name": "go"}, "a"),
        ]
    )
    assert calls[0].content == "echo 1" and calls[0].result.ok
    assert calls[1].content.startswith("PARSE ERROR: tool 'echo'")
    assert calls[2].content == "y" * 100 + "\n[... 400 more chars]"
    assert calls[3].action == "go" and calls[0].action is None


def test_custom_ops_dispatch_through_the_scaffold(memory_url: str) -> None:
    d = ToolDispatcher(memory_url, scaffold=load_scaffold("minihack"))
    out = d.dispatch([openai_tool_call("memory_upsert_map", {"cell": "1,2", "info": "altar"}, "m")])
    assert out[0]["content"].endswith("in map.md")
    assert d.memory.read("map.md") == "1,2: altar\n"
    missing = d.dispatch([openai_tool_call("memory_upsert_map", {"cell": "1,2"}, "m2")])
    assert "missing arguments ['info']" in missing[0]["content"]


def test_the_loop_goes_on_after_errors_over_http(memory_url: str) -> None:
    api = FakeOpenAIAPI(
        [
            {
                "tool_calls": [
                    openai_tool_call("memory_write", '{"path": "plan.md", "content": '),
                    openai_tool_call("memory_nonsense", {}),
                ]
            },
            {
                "tool_calls": [
                    openai_tool_call("memory_write", {"path": "plan.md", "content": "go east"})
                ]
            },
            {"tool_calls": [openai_tool_call("memory_read", {"path": "plan.md"})]},
            {"tool_calls": [openai_tool_call("action", {"name": "east"})]},
            "never reached",
        ]
    )
    http = httpx.Client(transport=httpx.MockTransport(api))

    def send(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        r = http.post(
            "http://vllm/v1/chat/completions",
            json={"model": "m", "messages": messages, "tools": tools},
        )
        r.raise_for_status()
        return r.json()

    d = ToolDispatcher(memory_url, actions=["east", "west"])
    history, action = run_tool_loop(send, [{"role": "user", "content": "move"}], d)
    assert action == "east"
    assert len(api.requests) == 4
    second = api.requests[1]["messages"]
    errors = [m["content"] for m in second if m["role"] == "tool"]
    assert errors[0].startswith("PARSE ERROR") and "not valid JSON" in errors[0]
    assert errors[1] == "PARSE ERROR: unknown tool 'memory_nonsense'"
    assert second[1]["role"] == "assistant" and len(second[1]["tool_calls"]) == 2
    assert [m["role"] for m in history].count("tool") == 5
    assert d.memory.read("plan.md") == "go east"
    assert api.requests[0]["tools"][-1]["function"]["parameters"]["properties"]["name"]["enum"] == [
        "east",
        "west",
    ]


def test_the_loop_stops_on_a_plain_answer_or_the_round_limit(memory_url: str) -> None:
    api = FakeOpenAIAPI(lambda body: {"tool_calls": [openai_tool_call("memory_list", {})]})
    http = httpx.Client(transport=httpx.MockTransport(api))

    def send(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        return http.post("http://x/v1/chat/completions", json={"messages": messages}).json()

    history, action = run_tool_loop(send, [], ToolDispatcher(memory_url), max_rounds=3)
    assert action is None and len(api.requests) == 3
    answer = FakeOpenAIAPI(["plain answer"])
    http = httpx.Client(transport=httpx.MockTransport(answer))
    history, action = run_tool_loop(send, [], ToolDispatcher(memory_url))
    assert history == [{"role": "assistant", "content": "plain answer"}] and action is None


def test_dispatcher_needs_a_known_scaffold(memory_url: str) -> None:
    with pytest.raises(Exception, match="unknown scaffold"):
        ToolDispatcher(memory_url, scaffold="nope")


def test_two_users_on_one_store_through_the_dispatcher(memory_url: str) -> None:
    from automem_sdk.errors import AutomemError

    d = ToolDispatcher(memory_url, namespace="users/{user_id}", actions=[])
    note = {"path": "n.md", "content": "likes tea"}
    d.dispatch([openai_tool_call("memory_append", note, "1")], scope={"user_id": "alice"})
    note = {"path": "n.md", "content": "likes coffee"}
    d.dispatch([openai_tool_call("memory_append", note, "2")], scope={"user_id": "bob"})
    read = [openai_tool_call("memory_read", {"path": "n.md"}, "3")]
    assert d.dispatch(read, scope={"user_id": "alice"})[0]["content"] == "likes tea\n"
    assert d.dispatch(read, scope={"user_id": "bob"})[0]["content"] == "likes coffee\n"
    assert MemoryStore(memory_url + "/users/alice").read("n.md") == "likes tea\n"
    with pytest.raises(AutomemError, match="needs 'user_id'"):
        d.dispatch(read)
    fixed = ToolDispatcher(memory_url, namespace="users/{user_id}", scope={"user_id": "bob"})
    assert fixed.memory.read("n.md") == "likes coffee\n"

    api = FakeOpenAIAPI(
        [{"tool_calls": [openai_tool_call("memory_read", {"path": "n.md"}, "r")]}, "done"]
    )
    client = httpx.Client(transport=httpx.MockTransport(api), base_url="http://llm")

    def send(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        body = {"model": "m", "messages": messages, "tools": tools}
        return client.post("/v1/chat/completions", json=body).json()

    history, _ = run_tool_loop(
        send, [{"role": "user", "content": "go"}], d, scope={"user_id": "alice"}
    )
    assert [m["content"] for m in history if m["role"] == "tool"] == ["likes tea\n"]


def test_own_memory_named_tools_stay_yours(memory_url: str) -> None:
    d = ToolDispatcher(memory_url, extra_tools={"memory_lookup": lambda a: f"found {a['q']}"})
    out = d.dispatch([openai_tool_call("memory_lookup", {"q": "tea"}, "1")])
    assert out[0]["content"] == "found tea"
    with pytest.raises(ValueError, match="memory_read have the name of a memory tool"):
        ToolDispatcher(memory_url, extra_tools={"memory_read": lambda a: "mine"})
