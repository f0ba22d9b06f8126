"""LangChain: memory tools, the Runnable wrapper, and the create_agent middleware."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automem_sdk import MemoryStore, load_scaffold, read_trace
from automem_sdk.errors import LLMError
from automem_sdk.llm import ScriptedClient

pytest.importorskip("langchain_core", reason="the langchain extra is not installed")

from automem_sdk.adapters import LangChainLLM, memory_tools, with_memory
from automem_sdk.adapters.langchain_tools import op_args_model, run_memory_tool
from automem_sdk.adapters.langchain_wrapper import inject_context, response_text
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from automem_sdk.ops import MEMORY_OP_NAMES, ReadOp, UpsertOp
from automem_sdk.testing import FakeToolChatModel
from automem_sdk.tools import MAX_TOOL_ARGUMENT_BYTES


def log_model(note_prefix: str = "") -> ScriptedClient:
    """A memory model whose LOG appends the user's request to notes.md."""

    def reply(messages: list[Any]) -> str:
        prompt = messages[-1].content
        if "LOG routine" not in prompt:
            return "<|DONE|>"
        request = prompt.split("User: ", 1)[1].split("\n", 1)[0]
        return f"<|APPEND|>notes.md|{note_prefix}{request}<|END|><|DONE|>"

    return ScriptedClient(reply)


def call(tool: Any, args: dict[str, Any]) -> ToolMessage:
    out = tool.invoke({"type": "tool_call", "id": "t1", "name": tool.name, "args": args})
    assert isinstance(out, ToolMessage)
    return out


# ----------------------------------------------------------------------------- tools
def test_one_tool_per_enabled_op_with_schemas_from_the_op_models(memory_url: str) -> None:
    tools = memory_tools(memory_url)
    assert [t.name for t in tools] == [f"memory_{op}" for op in MEMORY_OP_NAMES]
    head = {t.name: t for t in tools}["memory_head"]
    schema = head.args_schema.model_json_schema()  # type: ignore[union-attr]
    assert schema["properties"]["n"]["maximum"] == 200 and schema["required"] == ["path"]
    assert op_args_model("upsert").model_fields.keys() == UpsertOp.model_fields.keys() - {"op"}
    assert op_args_model("read").__doc__ == ReadOp.__doc__
    narrow = load_scaffold("generic").child("read-only", ops=["read", "search", "append"])
    assert [t.name for t in memory_tools(memory_url, narrow)] == [
        "memory_read",
        "memory_search",
        "memory_append",
    ]
    custom = [t.name for t in memory_tools(memory_url, "minihack")]
    assert custom[-1] == "memory_upsert_map"


def test_tools_write_real_files_and_errors_come_back_as_messages(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    tools = {t.name: t for t in memory_tools(store, "minihack")}
    assert call(tools["memory_upsert_map"], {"cell": "2,3", "info": "door"}).status == "success"
    assert store.read("map.md") == "2,3: door\n"
    assert tools["memory_search"].invoke({"query": "door"}) == "map.md:1: 2,3: door"
    bad_type = call(tools["memory_head"], {"path": "map.md", "n": "ten"})
    assert bad_type.status == "error"
    assert (
        bad_type.content
        == "PARSE ERROR: tool 'memory_head': n: Input should be a valid integer, unable to parse string as an integer"
    )
    extra = call(tools["memory_read"], {"path": "map.md", "bogus": 1})
    assert extra.status == "error" and "bogus: Extra inputs are not permitted" in extra.content
    missing = call(tools["memory_read"], {"path": "nothing.md"})
    assert (
        missing.status == "error" and missing.content == "ERROR (read): nothing.md does not exist"
    )
    huge = call(tools["memory_write"], {"path": "big.md", "content": "x" * MAX_TOOL_ARGUMENT_BYTES})
    assert huge.status == "error" and "too large" in huge.content
    escape = call(tools["memory_write"], {"path": "../x.md", "content": "x"})
    assert escape.status == "error" and "invalid memory path" in escape.content
    assert store.list() == ["map.md"]


def test_run_memory_tool_reports_bad_json_and_unknown_tools(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    bad = run_memory_tool(store, "memory_append", '{"path": "n.md",')
    assert not bad.ok and "not valid JSON" in bad.text
    assert run_memory_tool(store, "memory_fly", {}).text == "PARSE ERROR: unknown tool 'memory_fly'"
    assert run_memory_tool(store, "memory_append", {"path": "n.md", "content": "ok"}).ok


# --------------------------------------------------------------------------- wrapper
def test_inject_context_keeps_the_input_shape_and_does_not_mutate() -> None:
    msgs = [SystemMessage(content="be brief"), HumanMessage(content="hi")]
    out = inject_context(msgs, "MEM")
    assert [m.content for m in out] == ["be brief\n\nMEM", "hi"] and msgs[0].content == "be brief"
    assert [m.content for m in inject_context("hi", "MEM")] == ["MEM", "hi"]
    state = {"messages": [{"role": "user", "content": "hi"}], "other": 1}
    new = inject_context(state, "MEM")
    assert new["other"] == 1 and isinstance(new["messages"][0], SystemMessage)
    assert state["messages"] == [{"role": "user", "content": "hi"}]
    assert inject_context({"question": "q"}, "MEM") == {"question": "q", "memory": "MEM"}
    assert inject_context({"memory": "mine"}, "MEM") == {"memory": "mine"}
    value = ChatPromptTemplate.from_messages([("human", "{q}")]).invoke({"q": "x"})
    assert [type(m) for m in inject_context(value, "MEM")] == [SystemMessage, HumanMessage]
    assert inject_context(42, "MEM") == 42


def test_wrapped_chat_model_sees_memory_and_logs_each_step(memory_url: str) -> None:
    model = FakeToolChatModel.from_function(
        lambda msgs: AIMessage(
            content="noted" if "Lisbon" not in str(msgs[0].content) else "Lisbon!"
        )
    )
    store = MemoryStore(memory_url)
    wrapped = with_memory(model, store, llm=log_model("trip: "), trace=memory_url + "-t.jsonl")
    first = wrapped.invoke("I am going to Lisbon")
    assert isinstance(first, AIMessage) and first.content == "noted"
    assert store.read("notes.md") == "trip: I am going to Lisbon\n"
    second = wrapped.invoke([HumanMessage(content="where am I going?")])
    assert second.content == "Lisbon!"
    system = model.seen[1][0]
    assert isinstance(system, SystemMessage) and "trip: I am going to Lisbon" in system.content
    assert [r.op for r in wrapped.last_results] == ["append", "done"]
    wrapped.finish()
    trace = read_trace(memory_url + "-t.jsonl")
    assert trace.complete and trace.header.mode == "observe"
    assert [t.routine for t in trace.turns] == ["log", "log"]
    assert trace.turns[0].ops[0]["op"] == "append"


def test_wrapper_leaves_the_runnable_and_its_output_alone(memory_url: str) -> None:
    seen: list[Any] = []

    def chain(value: dict[str, Any]) -> dict[str, Any]:
        seen.append(value)
        return {"answer": value["question"].upper(), "raw": [1, 2]}

    inner = RunnableLambda(chain)
    wrapped = with_memory(inner, memory_url, llm=log_model())
    out = wrapped.invoke({"question": "hello"})
    assert out == {"answer": "HELLO", "raw": [1, 2]}
    assert seen[0]["question"] == "hello" and seen[0]["memory"].startswith("Memory (notes")
    assert wrapped.bound is inner
    assert MemoryStore(memory_url).read("notes.md") == "question: hello\n"
    plain = with_memory(inner, memory_url + "-2", inject=False)
    assert plain.agent is None and plain.log_step({}, {}) == []
    plain.invoke({"question": "x"})
    assert "memory" not in seen[-1]
    with pytest.raises(ValueError, match="memory model"):
        plain.start_trace(memory_url + "-t.jsonl")


def test_wrapper_defaults_to_the_chat_model_as_memory_model(memory_url: str) -> None:
    model = FakeToolChatModel.scripted(
        [AIMessage(content="hello"), AIMessage(content="<|APPEND|>notes.md|greeted<|END|><|DONE|>")]
    )
    wrapped = with_memory(model, memory_url)
    assert wrapped.invoke("hi").content == "hello"
    assert MemoryStore(memory_url).read("notes.md") == "greeted\n"
    assert "LOG routine" in model.seen[1][-1].content


def test_async_invoke(memory_url: str) -> None:
    import asyncio

    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="ok"))
    wrapped = with_memory(model, memory_url, llm=log_model())
    assert asyncio.run(wrapped.ainvoke("async hello")).content == "ok"
    assert MemoryStore(memory_url).read("notes.md") == "async hello\n"


def test_response_text_describes_tool_calls() -> None:
    msgs = [
        HumanMessage(content="old"),
        AIMessage(content="old answer"),
        HumanMessage(content="weather?"),
        AIMessage(content="", tool_calls=[{"name": "w", "args": {"c": "Oslo"}, "id": "1"}]),
        ToolMessage(content="rain", tool_call_id="1", name="w"),
        AIMessage(content="It rains."),
    ]
    assert response_text({"messages": msgs}) == (
        '(called tool w {"c": "Oslo"})\n(tool w returned: rain)\nIt rains.'
    )
    assert response_text({"output": 3}) == "3" and response_text("x") == "x"


def test_langchain_llm_counts_tokens_and_maps_errors() -> None:
    msg = AIMessage(
        content="<|DONE|>",
        usage_metadata={"input_tokens": 7, "output_tokens": 2, "total_tokens": 9},
    )
    model = FakeToolChatModel.scripted([msg])
    client = LangChainLLM(model, name="fake")
    done = client.chat([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    assert done.text == "<|DONE|>" and done.usage.prompt_tokens == 7 and done.model == "fake"
    assert [type(m) for m in model.seen[0]] == [SystemMessage, HumanMessage]
    with pytest.raises(LLMError, match="StopIteration"):
        client.chat([{"role": "user", "content": "again"}])  # the script ran out


# ------------------------------------------------------------------------ middleware
def weather_tool() -> Any:
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return f"sunny in {city}"

    return get_weather


def test_middleware_injects_routes_and_logs(memory_url: str) -> None:
    agents = pytest.importorskip("langchain.agents", reason="langchain v1 is not installed")
    from automem_sdk.adapters import MemoryMiddleware

    store = MemoryStore(memory_url)
    store.write("notes.md", "user likes Paris\n")
    model = FakeToolChatModel.scripted(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "get_weather", "args": {"city": "Paris"}, "id": "1"},
                    {
                        "name": "memory_append",
                        "args": {"path": "notes.md", "content": "asked"},
                        "id": "2",
                    },
                    {"name": "memory_head", "args": {"path": "notes.md", "n": "x"}, "id": "3"},
                    {"name": "memory_warp", "args": {}, "id": "4"},
                    {
                        "name": "memory_write",
                        "args": {"path": "b.md", "content": "x" * 300_000},
                        "id": "5",
                    },
                ],
            ),
            AIMessage(content="Sunny in Paris."),
        ]
    )
    middleware = MemoryMiddleware(store, llm=log_model("log: "), trace=memory_url + "-t.jsonl")
    agent = agents.create_agent(
        model, tools=[weather_tool()], middleware=[middleware], system_prompt="Be helpful."
    )
    out = agent.invoke({"messages": [{"role": "user", "content": "Weather in Paris?"}]})
    assert out["messages"][-1].content == "Sunny in Paris."
    tool_msgs = {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}
    assert tool_msgs["1"].content == "sunny in Paris" and tool_msgs["2"].status == "success"
    assert tool_msgs["3"].status == "error" and "valid integer" in tool_msgs["3"].content
    # memory_warp is no tool of the middleware's: the agent's tool node answers it
    assert tool_msgs["4"].status == "error" and "memory_warp is not a valid tool" in (
        tool_msgs["4"].content
    )
    assert tool_msgs["5"].status == "error" and "too large" in tool_msgs["5"].content
    system = model.seen[0][0]
    assert system.content.startswith("Be helpful.\n\nMemory (notes")
    assert "user likes Paris" in system.content
    assert "memory_append" in model.bound_tools and "get_weather" in model.bound_tools
    assert store.read("notes.md") == "user likes Paris\nasked\nlog: Weather in Paris?\n"
    assert len(middleware.routed) == 2  # the bad head call never reached the store
    middleware.finish()
    assert [t.routine for t in read_trace(memory_url + "-t.jsonl").turns] == ["log"]


def test_middleware_without_memory_model_only_reads_and_routes(memory_url: str) -> None:
    agents = pytest.importorskip("langchain.agents", reason="langchain v1 is not installed")
    from automem_sdk.adapters import MemoryMiddleware

    model = FakeToolChatModel.scripted([AIMessage(content="hi")])
    middleware = MemoryMiddleware(memory_url, expose_tools=False)
    agent = agents.create_agent(model, tools=[], middleware=[middleware])
    agent.invoke({"messages": [{"role": "user", "content": "hello"}]})
    assert "memory_read" not in model.bound_tools
    assert isinstance(model.seen[0][0], SystemMessage)
    assert MemoryStore(memory_url).list() == []
    with pytest.raises(ValueError, match="memory model"):
        MemoryMiddleware(memory_url, trace=memory_url + "-t.jsonl")


def test_fake_model_records_and_binds() -> None:
    model = FakeToolChatModel.scripted(["a", AIMessage(content="b")])
    assert model.bind_tools([weather_tool(), {"name": "d"}]) is model
    assert model.bound_tools == ["get_weather", "d"]
    assert [model.invoke("x").content, model.invoke("y").content] == ["a", "b"]
    assert [m[0].content for m in model.seen] == ["x", "y"]
    assert (
        json.dumps([str(type(m[0]).__name__) for m in model.seen])
        == '["HumanMessage", "HumanMessage"]'
    )
