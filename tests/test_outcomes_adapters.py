"""Outcomes attached to traces written by each adapter, found by conversation id.

The LangChain wrapper and middleware read the id from the call's ``configurable``
(``thread_id`` or ``conversation_id``); the Claude memory tool takes it as an attribute;
the MCP server from the request's ``_meta`` or an ``X-Automem-Conversation-Id`` value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automem_sdk import MemoryStore, read_trace
from automem_sdk.llm import ScriptedClient
from automem_sdk.outcomes import (
    OutcomeError,
    attach_outcome,
    conversations,
    load_outcomes,
    read_outcomes,
)


def log_model() -> ScriptedClient:
    """A memory model whose LOG appends the user's request to notes.md."""

    def reply(messages: list[Any]) -> str:
        prompt = messages[-1].content
        if "LOG routine" not in prompt:
            return "<|DONE|>"
        request = prompt.split("User: ", 1)[1].split("\n", 1)[0]
        return f"<|APPEND|>notes.md|{request}<|END|><|DONE|>"

    return ScriptedClient(reply)


def test_langchain_wrapper_threads_get_outcomes(tmp_path: Path) -> None:
    pytest.importorskip("langchain_core")
    from automem_sdk.adapters import with_memory
    from langchain_core.messages import AIMessage

    from automem_sdk.testing import FakeToolChatModel

    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="ok"))
    trace = str(tmp_path / "traces" / "{namespace}.jsonl")
    wrapped = with_memory(
        model,
        (tmp_path / "memory").as_uri(),
        namespace="users/{user_id}",
        llm=log_model(),
        trace=trace,
    )
    for user, thread, text in [
        ("ada", "t-1", "I live in Lyon"),
        ("ada", "t-1", "and I like tea"),
        ("ada", "t-2", "book a table"),
        ("bo", "t-3", "hello"),
    ]:
        wrapped.invoke(text, config={"configurable": {"user_id": user, "thread_id": thread}})
    wrapped.invoke("no thread", config={"configurable": {"user_id": "ada"}})
    wrapped.finish()
    ada = str(tmp_path / "traces" / "users-ada.jsonl")
    tr = read_trace(ada)
    assert conversations(tr) == {"t-1": [0, 1], "t-2": [2]}
    assert [t.routine for t in tr.turns] == ["log"] * 4  # the LOG turns are unchanged
    [o] = attach_outcome(str(tmp_path / "traces"), conversation_id="t-2", passed=False)
    assert o.trace == ada
    attach_outcome(str(tmp_path / "traces"), conversation_id="t-1", rating=5, rating_scale=5)
    assert load_outcomes(ada).step_values() == {0: 1.0, 1: 1.0, 2: 0.0}
    with pytest.raises(OutcomeError, match="no trace below"):
        attach_outcome(str(tmp_path / "traces"), conversation_id="t-404", score=1)


def test_middleware_records_the_thread_of_each_agent_run(tmp_path: Path) -> None:
    agents = pytest.importorskip("langchain.agents", reason="langchain v1 is not installed")
    from automem_sdk.adapters import MemoryMiddleware
    from langchain_core.messages import AIMessage
    from langgraph.checkpoint.memory import InMemorySaver

    from automem_sdk.testing import FakeToolChatModel

    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="done"))
    url = str(tmp_path / "mw.jsonl")
    middleware = MemoryMiddleware(
        MemoryStore((tmp_path / "m").as_uri()), llm=log_model(), trace=url
    )
    agent = agents.create_agent(model, middleware=[middleware], checkpointer=InMemorySaver())
    for thread, text in [("chat-a", "remember the door code 1234"), ("chat-b", "hi")]:
        agent.invoke(
            {"messages": [{"role": "user", "content": text}]},
            config={"configurable": {"thread_id": thread}},
        )
    middleware.finish()
    assert conversations(read_trace(url)) == {"chat-a": [0], "chat-b": [1]}
    [o] = attach_outcome(url, conversation_id="chat-a", score=0.9, source="judge:test")
    assert o.step is None and load_outcomes(url).step_values() == {0: 0.9}


def test_claude_memory_tool_calls_are_traced_with_their_conversation(tmp_path: Path) -> None:
    anthropic = pytest.importorskip("anthropic")
    httpx2 = pytest.importorskip("httpx2")
    from automem_sdk.adapters.anthropic_memory import AutomemMemoryTool

    from automem_sdk.testing import FakeAnthropicAPI, memory_call

    url = str(tmp_path / "claude.jsonl.gz")
    tool = AutomemMemoryTool((tmp_path / "m").as_uri(), trace=url, conversation_id="conv-1")

    def converse(turns: list[Any]) -> None:
        api = FakeAnthropicAPI(turns)
        client = anthropic.Anthropic(
            api_key="test", http_client=httpx2.Client(transport=httpx2.MockTransport(api)),
            max_retries=0,
        )  # fmt: skip
        client.beta.messages.tool_runner(
            model="claude-test", max_tokens=64, tools=[tool],
            messages=[{"role": "user", "content": "go"}],
        ).until_done()  # fmt: skip

    notes = "/memories/notes.md"
    converse([[memory_call("create", path=notes, file_text="tea\n")], "ok"])
    tool.conversation_id = "conv-2"
    converse([[memory_call("view", path=notes)], [memory_call("delete", path="/x.md")], "ok"])
    tool.finish()
    tr = read_trace(url)
    assert tr.complete and [t.ops[0]["op"] for t in tr.turns] == ["create", "read", "delete"]
    assert tr.turns[2].results[0]["ok"] is False  # the refused call is traced too
    assert conversations(tr) == {"conv-1": [0], "conv-2": [1, 2]}
    attach_outcome(url, conversation_id="conv-2", step=1, score=1.0)
    attach_outcome(url, conversation_id="conv-1", label="resolved")
    to = load_outcomes(url, labels={"resolved": 0.5})
    assert to.step_values() == {0: 0.5, 1: 1.0}


def test_mcp_server_records_the_conversation_from_meta_and_scope(tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    import anyio
    from automem_sdk.adapters.mcp_server import MemoryMCPServer
    from mcp import ClientSession
    from mcp.client._memory import InMemoryTransport

    url = str(tmp_path / "mcp.jsonl")
    server = MemoryMCPServer((tmp_path / "m").as_uri(), trace=url)

    async def scenario() -> None:
        async with (
            InMemoryTransport(server.build()) as (read, write),
            ClientSession(read, write) as s,
        ):
            await s.initialize()
            await s.call_tool(
                "memory_append", {"path": "n.md", "content": "x"},
                meta={"conversation_id": "m-1"},  # type: ignore[arg-type]
            )  # fmt: skip
            await s.call_tool("memory_read", {"path": "n.md"}, meta={"thread_id": "m-2"})  # type: ignore[arg-type]
            await s.call_tool("memory_read", {"path": "n.md"})

    anyio.run(scenario)
    fixed = MemoryMCPServer(
        (tmp_path / "m").as_uri(), scope={"conversation_id": "m-3"}, trace=str(tmp_path / "b.jsonl")
    )
    fixed.call_tool("memory_read", {"path": "n.md"})
    fixed.close()
    server.close()
    tr = read_trace(url)
    assert len(tr.turns) == 3
    assert conversations(tr) == {"m-1": [0], "m-2": [1]}
    assert conversations(read_trace(str(tmp_path / "b.jsonl"))) == {"m-3": [0]}
    [o] = attach_outcome(str(tmp_path), conversation_id="m-2", passed=True)
    assert o.trace == url and [x.passed for x in read_outcomes(url)] == [True]
    with pytest.raises(OutcomeError, match="step 2 is not in conversation 'm-1'"):
        attach_outcome(url, conversation_id="m-1", step=2, score=1)


def test_tool_dispatcher_traces_memory_calls_with_the_scopes_conversation(tmp_path: Path) -> None:
    from automem_sdk.adapters.openai_tools import ToolDispatcher

    url = str(tmp_path / "dispatch.jsonl")
    d = ToolDispatcher(
        (tmp_path / "m").as_uri(),
        namespace="users/{user_id}",
        scope={"user_id": "ada"},
        extra_tools={"weather": lambda args: "sunny"},
        trace=url,
    )

    def response(*calls: tuple[str, str]) -> dict[str, Any]:
        return {
            "role": "assistant",
            "tool_calls": [
                {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
                for i, (n, a) in enumerate(calls)
            ],
        }

    d.dispatch(
        response(("memory_append", '{"path": "n.md", "content": "tea"}'), ("weather", "{}")),
        scope={"thread_id": "th-1"},
    )
    d.dispatch(response(("memory_read", '{"path": "gone.md"}')), scope={"thread_id": "th-2"})
    d.dispatch(response(("memory_read", '{"path": "n.md"}')))  # no conversation id
    d.finish()
    tr = read_trace(url)
    assert [t.ops[0]["op"] for t in tr.turns] == ["append", "read", "read"]  # not 'weather'
    assert tr.turns[1].results[0]["ok"] is False
    assert conversations(tr) == {"th-1": [0], "th-2": [1]}
    assert tr.steps[0].info["namespace"] == "users/ada"
    attach_outcome(url, conversation_id="th-1", score=1.0)
    assert load_outcomes(url).step_values() == {0: 1.0}


def test_async_claude_tool_and_its_scoped_copies_share_one_trace(tmp_path: Path) -> None:
    pytest.importorskip("anthropic")
    import asyncio

    from automem_sdk.adapters.anthropic_memory import AsyncAutomemMemoryTool

    url = str(tmp_path / "async.jsonl")
    base = AsyncAutomemMemoryTool(
        (tmp_path / "m").as_uri(), namespace="users/{user_id}", scope={"user_id": "ada"},
        trace=url, conversation_id="a-1",
    )  # fmt: skip
    bo = base.scoped(user_id="bo")
    bo.sync.conversation_id = "b-1"
    create = {"command": "create", "path": "/memories/n.md", "file_text": "x\n"}
    asyncio.run(base.call(create))
    asyncio.run(bo.call(create))
    base.finish()
    tr = read_trace(url)
    assert tr.complete and conversations(tr) == {"a-1": [0], "b-1": [1]}
    assert [s.info["namespace"] for s in tr.steps] == ["users/ada", "users/bo"]


def test_background_log_batches_never_mix_conversations(tmp_path: Path) -> None:
    pytest.importorskip("langchain_core")
    from automem_sdk.adapters import with_memory
    from langchain_core.messages import AIMessage

    from automem_sdk.testing import FakeToolChatModel

    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="ok"))
    url = str(tmp_path / "bg.jsonl")
    wrapped = with_memory(
        model, (tmp_path / "m").as_uri(), llm=log_model(), trace=url,
        background=True, debounce_s=30.0,
    )  # fmt: skip
    for thread, text in [("a", "one"), ("b", "two"), ("a", "three")]:
        wrapped.invoke(text, config={"configurable": {"thread_id": thread}})
    wrapped.finish()  # flushes: the debounce is skipped, nothing waits 30 s
    tr = read_trace(url)
    convs = conversations(tr)
    assert sorted(convs) == ["a", "b"] and len(convs["a"]) == 1 and len(convs["b"]) == 1
    prompt_a = next(t for t in tr.turns if t.step == convs["a"][0]).messages[-1].content
    assert "User: one" in prompt_a and "User: three" in prompt_a  # one batch, one conversation
    assert "User: two" not in prompt_a


@pytest.mark.s3
def test_on_s3_a_wrapped_agents_trace_gets_outcomes_and_becomes_a_replay_set(
    s3_url: tuple[str, dict[str, Any]],
) -> None:
    pytest.importorskip("langchain_core")
    from automem_sdk.adapters import with_memory
    from automem_sdk.benchmarks.harness.replay import replay_set_from_traces
    from langchain_core.messages import AIMessage

    from automem_sdk.testing import FakeToolChatModel
    from automem_sdk.trace import TraceWriter, list_traces

    base, options = s3_url
    url = base + "/traces/agent.jsonl.gz"
    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="sure"))
    writer = TraceWriter(url, options)
    wrapped = with_memory(
        model, MemoryStore(base + "/memory", options), llm=log_model(), trace=writer
    )
    for thread, text in [("t-1", "I like tea"), ("t-2", "what do I like?")]:
        wrapped.invoke(text, config={"configurable": {"thread_id": thread}})
    wrapped.finish()
    writer.close()  # a writer passed in is the caller's to close
    [o] = attach_outcome(base + "/traces", conversation_id="t-2", passed=True,
                         storage_options=options)  # fmt: skip
    assert o.trace == url and list_traces(base + "/traces", options) == [url]
    [ep] = replay_set_from_traces([url], options)
    assert [(t.conversation_id, t.user) for t in ep.turns] == [
        ("t-1", "I like tea"),
        ("t-2", "what do I like?"),
    ]
    assert ep.recorded_outcome == 1.0
