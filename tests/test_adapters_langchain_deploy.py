"""LangChain adapters as deployments use them: checkpointed threads, streaming, scoping,
tracing, several middleware instances, background LOG."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

pytest.importorskip("langchain.agents", reason="langchain v1 is not installed")

from automem_sdk.adapters import MemoryMiddleware, memory_tools, with_memory
from automem_sdk.adapters.langchain_wrapper import MEMORY_MESSAGE_PREFIX, MemoryRunnable
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from automem_sdk import MemoryStore
from automem_sdk.errors import AutomemError
from automem_sdk.llm import ScriptedClient
from automem_sdk.testing import FakeToolChatModel


def log_model(seen: list[str] | None = None) -> ScriptedClient:
    """A memory model whose LOG appends the user's request to notes.md."""

    def reply(messages: list[Any]) -> str:
        text = messages[-1].content
        if "LOG routine" not in text:
            return "<|DONE|>"
        if seen is not None:
            seen.append(text)
        request = text.split("User: ", 1)[1].split("\n", 1)[0]
        return f"<|APPEND|>notes.md|{request}<|END|><|DONE|>"

    return ScriptedClient(reply)


@tool
def get_weather(city: str) -> str:
    """Weather in a city."""
    return f"rain in {city}"


class StreamingToolModel(FakeToolChatModel):
    """``FakeToolChatModel`` that also streams tool calls (one chunk per word, then calls)."""

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        message = self._generate(messages, stop, run_manager, **kw).generations[0].message
        assert isinstance(message, AIMessage) and isinstance(message.content, str)
        for word in re.split(r"(\s)", message.content):
            if word:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=word, id=message.id))
                if run_manager:
                    run_manager.on_llm_new_token(word, chunk=chunk)
                yield chunk
        calls = [
            {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
            for i, c in enumerate(message.tool_calls)
        ]
        if calls:
            part = AIMessageChunk(content="", id=message.id, tool_call_chunks=calls)  # type: ignore[arg-type]
            chunk = ChatGenerationChunk(message=part)
            if run_manager:
                run_manager.on_llm_new_token("", chunk=chunk)
            yield chunk


def weather_agent_model() -> FakeToolChatModel:
    """Calls get_weather once per request, then answers from the tool's result."""

    def respond(msgs: list[BaseMessage]) -> AIMessage:
        if isinstance(msgs[-1], ToolMessage):
            return AIMessage(content=f"It says {msgs[-1].content} today")
        city = str(msgs[-1].content).split()[-1]
        return AIMessage(
            content="", tool_calls=[{"name": "get_weather", "args": {"city": city}, "id": "w1"}]
        )

    return StreamingToolModel(responder=respond)


def system_positions(prompt: list[BaseMessage]) -> list[int]:
    return [i for i, m in enumerate(prompt) if isinstance(m, SystemMessage)]


def shape(out: dict[str, Any]) -> tuple[list[str], list[str]]:
    return sorted(out), [type(m).__name__ for m in out["messages"]]


# ------------------------------------------------------------- threads and shape
def test_five_turns_with_a_checkpointer_keep_the_thread_clean(memory_url: str) -> None:
    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="ok"))
    agent = create_agent(model, tools=[], system_prompt="Be brief.", checkpointer=InMemorySaver())
    plain = create_agent(
        FakeToolChatModel.from_function(lambda msgs: AIMessage(content="ok")),
        tools=[],
        system_prompt="Be brief.",
        checkpointer=InMemorySaver(),
    )
    wrapped = with_memory(agent, memory_url, llm=log_model())
    config = {"configurable": {"thread_id": "t1"}}
    for turn in range(5):
        request = {"messages": [{"role": "user", "content": f"note number {turn} about Lisbon"}]}
        out = wrapped.invoke(request, config)
        assert shape(out) == shape(plain.invoke(request, config))
        assert not any(str(m.id).startswith(MEMORY_MESSAGE_PREFIX) for m in out["messages"])
    state = wrapped.get_state(config).values["messages"]
    assert [type(m).__name__ for m in state] == ["HumanMessage", "AIMessage"] * 5
    assert not any(isinstance(m, SystemMessage) for m in state)
    assert not any("Memory (notes" in str(m.content) for m in state)
    assert len(model.seen) == 5
    for prompt in model.seen:  # one leading system prompt, never a second one further down
        assert system_positions(prompt) == [0]
    last = model.seen[-1]
    assert "note number 3 about Lisbon" in str(last[-2].content)  # memory of earlier turns
    assert last[-1].content == "note number 4 about Lisbon"
    assert len(last) == 2 * 4 + 3  # system, 4 earlier turns, memory, request


def test_five_turns_through_langchain_anthropic_on_a_checkpointer(memory_url: str) -> None:
    """The issue's failure: from turn 2 langchain-anthropic's formatter refused the prompt
    ("Received multiple non-consecutive system messages"). Real ChatAnthropic, real
    anthropic client, the Messages API scripted behind httpx2's MockTransport."""
    pytest.importorskip("langchain_anthropic", reason="langchain-anthropic is not installed")
    httpx2 = pytest.importorskip("httpx2", reason="anthropic 2.x's HTTP package is missing")
    import anthropic
    from langchain_anthropic import ChatAnthropic

    from automem_sdk.testing import FakeAnthropicAPI

    api = FakeAnthropicAPI([f"answer {i}" for i in range(5)])
    model = ChatAnthropic(model="claude-test", api_key="test", max_retries=0)  # type: ignore[call-arg]
    model.__dict__["_client"] = anthropic.Anthropic(
        api_key="test", http_client=httpx2.Client(transport=httpx2.MockTransport(api))
    )
    agent = create_agent(model, tools=[], system_prompt="Be brief.", checkpointer=InMemorySaver())
    wrapped = with_memory(agent, memory_url, llm=log_model())
    config = {"configurable": {"thread_id": "claude"}}
    for turn in range(5):
        text = f"fact {turn}: likes Lisbon"
        out = wrapped.invoke({"messages": [{"role": "user", "content": text}]}, config)
        assert out["messages"][-1].content == f"answer {turn}"
    assert len(api.requests) == 5
    assert all(
        r["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}]) for r in api.requests
    )
    last = api.requests[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant"] * 4 + ["user"]
    assert "fact 3: likes Lisbon" in json.dumps(last[-1])  # memory rides with the request
    state = wrapped.get_state(config).values["messages"]
    assert len(state) == 10 and not any("Memory (notes" in str(m.content) for m in state)


def test_async_turns_keep_the_thread_clean_too(memory_url: str) -> None:
    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="ok"))
    agent = create_agent(model, tools=[], checkpointer=InMemorySaver())
    wrapped = with_memory(agent, memory_url, llm=log_model())
    config = {"configurable": {"thread_id": "a1"}}

    async def run() -> None:
        for turn in range(3):
            await wrapped.ainvoke({"messages": [{"role": "user", "content": f"hi {turn}"}]}, config)

    asyncio.run(run())
    state = wrapped.get_state(config).values["messages"]
    assert [type(m).__name__ for m in state] == ["HumanMessage", "AIMessage"] * 3
    assert MemoryStore(memory_url).read("notes.md") == "hi 0\nhi 1\nhi 2\n"


# ------------------------------------------------------------------- streaming
def _chunk_kind(chunk: Any) -> Any:
    if isinstance(chunk, tuple) and isinstance(chunk[0], str):  # several modes: (mode, data)
        return (chunk[0], _chunk_kind(chunk[1]))
    if isinstance(chunk, tuple):  # messages mode: (message chunk, metadata)
        return (type(chunk[0]).__name__, chunk[1].get("langgraph_node"))
    if isinstance(chunk, dict):
        return tuple(sorted(chunk))
    return type(chunk).__name__


@pytest.mark.parametrize("mode", [None, "updates", "messages", "values", ["updates", "messages"]])
def test_stream_passes_the_agent_chunks_through(memory_url: str, mode: Any) -> None:
    plain = create_agent(weather_agent_model(), tools=[get_weather])
    seen: list[str] = []
    wrapped = with_memory(
        create_agent(weather_agent_model(), tools=[get_weather]), memory_url, llm=log_model(seen)
    )
    request = {"messages": [{"role": "user", "content": "weather in Oslo"}]}
    kwargs = {} if mode is None else {"stream_mode": mode}
    want = [_chunk_kind(c) for c in plain.stream(request, **kwargs)]
    got = [_chunk_kind(c) for c in wrapped.stream(request, **kwargs)]
    assert got == want and len(got) >= 3
    assert "It says rain in Oslo today" in seen[0]  # LOG got the final answer as text
    assert "(called tool get_weather" in seen[0] and "AIMessageChunk" not in seen[0]


def test_stream_of_a_chat_model_yields_its_chunks_and_logs_the_sum(memory_url: str) -> None:
    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="one two three"))
    seen: list[str] = []
    wrapped = with_memory(model, memory_url, llm=log_model(seen))
    chunks = list(wrapped.stream("count please"))
    assert [c.content for c in chunks] == ["one", " ", "two", " ", "three"]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "Assistant: one two three" in seen[0] or "one two three" in seen[0]

    async def collect() -> list[Any]:
        return [c async for c in wrapped.astream("again")]

    assert len(asyncio.run(collect())) == 5 and len(seen) == 2


def test_astream_events_are_the_wrapped_runnables(memory_url: str) -> None:
    model = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="a b"))
    wrapped = with_memory(model, memory_url, llm=log_model())

    async def events(r: Any) -> list[str]:
        return [e["event"] async for e in r.astream_events("hello there", version="v2")]

    plain = FakeToolChatModel.from_function(lambda msgs: AIMessage(content="a b"))
    assert asyncio.run(events(wrapped)) == asyncio.run(events(plain))
    assert MemoryStore(memory_url).read("notes.md") == "hello there\n"


# ----------------------------------------------------------------- delegation
def test_wrapper_is_a_drop_in_for_graph_and_chat_model(memory_url: str) -> None:
    agent = create_agent(
        FakeToolChatModel.from_function(lambda m: AIMessage(content="x")),
        tools=[],
        checkpointer=InMemorySaver(),
    )
    wrapped = with_memory(agent, memory_url)
    config = {"configurable": {"thread_id": "d"}}
    wrapped.invoke({"messages": [{"role": "user", "content": "hi"}]}, config)
    assert len(wrapped.get_state(config).values["messages"]) == 2
    assert wrapped.checkpointer is agent.checkpointer
    assert wrapped.get_graph().nodes.keys() == agent.get_graph().nodes.keys()
    model = FakeToolChatModel.from_function(lambda m: AIMessage(content=str(m[0].content)))
    MemoryStore(memory_url + "-m").write("notes.md", "likes tea\n")
    chat = with_memory(model, memory_url + "-m")
    bound = chat.bind_tools([get_weather])
    assert isinstance(bound, MemoryRunnable) and model.bound_tools == ["get_weather"]
    assert "likes tea" in bound.invoke("what do I like?").content
    with pytest.raises(AttributeError):
        _ = chat.no_such_attribute


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.chains: dict[UUID, tuple[str, UUID | None]] = {}
        self.models: list[UUID | None] = []
        self.tools: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self.chains[run_id] = (str(kw.get("name")), kw.get("parent_run_id"))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.models.append(kw.get("parent_run_id"))

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.tools.append(str((serialized or {}).get("name") or kw.get("name")))


def test_memory_model_calls_are_child_runs_of_the_caller(memory_url: str) -> None:
    memory_model = FakeToolChatModel.scripted(
        [AIMessage(content="<|APPEND|>notes.md|seen<|END|><|DONE|>")]
    )
    chat = FakeToolChatModel.from_function(lambda m: AIMessage(content="hi"))
    wrapped = with_memory(chat, memory_url, llm=memory_model)
    outer = RunnableLambda(lambda x, config: wrapped.invoke(x, config)).with_config(
        run_name="caller"
    )
    rec = Recorder()
    outer.invoke("hello", {"callbacks": [rec]})
    by_name = {name: (rid, parent) for rid, (name, parent) in rec.chains.items()}
    caller_id = by_name["caller"][0]
    log_id, log_parent = by_name["automem_log"]
    assert log_parent == caller_id
    assert rec.models == [caller_id, log_id]  # the task model, then the memory model
    assert MemoryStore(memory_url).read("notes.md") == "seen\n"


# ---------------------------------------------------------------------- scoping
def test_two_users_on_one_store_through_with_memory(memory_url: str) -> None:
    model = FakeToolChatModel.from_function(lambda m: AIMessage(content="ok"))
    agent = create_agent(model, tools=[], checkpointer=InMemorySaver())
    wrapped = with_memory(agent, memory_url, llm=log_model(), namespace="users/{user_id}")

    def ask(user: str, text: str) -> None:
        config = {"configurable": {"thread_id": user, "user_id": user}}
        wrapped.invoke({"messages": [{"role": "user", "content": text}]}, config)

    ask("alice", "alice secret garden")
    ask("bob", "bob secret garage")
    ask("alice", "what was my secret?")
    ask("bob", "what was my secret?")
    prompts = ["\n".join(str(m.content) for m in p) for p in model.seen]
    assert "garden" in prompts[2] and "garage" not in prompts[2]
    assert "garage" in prompts[3] and "garden" not in prompts[3]
    assert MemoryStore(memory_url + "/users/alice").read("notes.md").startswith("alice secret")
    with pytest.raises(AutomemError, match="needs 'user_id'"):
        wrapped.invoke(
            {"messages": [{"role": "user", "content": "x"}]}, {"configurable": {"thread_id": "z"}}
        )


def test_namespace_from_the_runtime_context(memory_url: str) -> None:
    from dataclasses import dataclass

    @dataclass
    class Ctx:
        user_id: str

    model = FakeToolChatModel.from_function(lambda m: AIMessage(content="ok"))
    agent = create_agent(model, tools=[], context_schema=Ctx)
    wrapped = with_memory(agent, memory_url, llm=log_model(), namespace="users/{user_id}")
    wrapped.invoke(
        {"messages": [{"role": "user", "content": "carol likes jazz"}]}, context=Ctx("c")
    )
    assert MemoryStore(memory_url + "/users/c").read("notes.md") == "carol likes jazz\n"
    with pytest.raises(AutomemError, match="store's URL"):
        with_memory(agent, MemoryStore(memory_url), namespace="users/{user_id}")


def test_two_users_through_the_middleware_and_its_tools(memory_url: str) -> None:
    def respond(msgs: list[BaseMessage]) -> AIMessage:
        if isinstance(msgs[-1], ToolMessage):
            return AIMessage(content="done")
        note = str(msgs[-1].content)
        call = {"name": "memory_append", "args": {"path": "n.md", "content": note}, "id": "m"}
        return AIMessage(content="", tool_calls=[call])

    model = FakeToolChatModel.from_function(respond)
    middleware = MemoryMiddleware(memory_url, namespace="users/{user_id}")
    agent = create_agent(model, tools=[], middleware=[middleware])
    for user in ("alice", "bob"):
        agent.invoke(
            {"messages": [{"role": "user", "content": f"{user} note"}]},
            {"configurable": {"user_id": user}},
        )
    agent.invoke(
        {"messages": [{"role": "user", "content": "again"}]}, {"configurable": {"user_id": "bob"}}
    )
    assert MemoryStore(memory_url + "/users/alice").read("n.md") == "alice note\n"
    assert MemoryStore(memory_url + "/users/bob").read("n.md") == "bob note\nagain\n"
    last_prompt = str(model.seen[-2][0].content)  # bob's third request, first model call
    assert "bob note" in last_prompt and "alice" not in last_prompt
    with pytest.raises(AutomemError, match="needs 'user_id'"):
        agent.invoke({"messages": [{"role": "user", "content": "x"}]})
    tools = {t.name: t for t in memory_tools(memory_url, namespace="users/{user_id}")}
    read = tools["memory_read"].invoke({"path": "n.md"}, {"configurable": {"user_id": "alice"}})
    assert read == "alice note\n"
    call = {"type": "tool_call", "id": "1", "name": "memory_read", "args": {"path": "n.md"}}
    missing = tools["memory_read"].invoke(call)
    assert missing.status == "error" and "needs 'user_id'" in missing.content


# ------------------------------------------------------------------- middleware
def test_middleware_routes_only_its_own_tools_and_shows_them_as_tool_runs(
    memory_url: str,
) -> None:
    @tool
    def memory_lookup(topic: str) -> str:
        """The user's own memory_* tool."""
        return f"looked up {topic}"

    model = FakeToolChatModel.scripted(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "memory_lookup", "args": {"topic": "tea"}, "id": "1"},
                    {"name": "memory_append", "args": {"path": "a.md", "content": "x"}, "id": "2"},
                    {"name": "work_append", "args": {"path": "w.md", "content": "y"}, "id": "3"},
                ],
            ),
            AIMessage(content="done"),
        ]
    )
    home = MemoryMiddleware(memory_url + "-home")
    work = MemoryMiddleware(memory_url + "-work", name="work")
    agent = create_agent(model, tools=[memory_lookup], middleware=[home, work])
    rec = Recorder()
    out = agent.invoke({"messages": [{"role": "user", "content": "go"}]}, {"callbacks": [rec]})
    msgs = {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}
    assert msgs["1"].content == "looked up tea"
    assert msgs["2"].content == "appended to a.md" and msgs["3"].content == "appended to w.md"
    assert MemoryStore(memory_url + "-home").list() == ["a.md"]
    assert MemoryStore(memory_url + "-work").list() == ["w.md"]
    assert {"memory_lookup", "memory_append", "work_append"} <= set(rec.tools)
    assert work.name == "work" and next(t.name for t in work.tools) == "work_read"
    with pytest.raises(ValueError, match="letters"):
        MemoryMiddleware(memory_url, name="no spaces")


def test_middleware_without_tools_executes_no_memory_tool_call(memory_url: str) -> None:
    model = FakeToolChatModel.scripted(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "memory_write", "args": {"path": "x.md", "content": "x"}, "id": "1"}
                ],
            ),
            AIMessage(content="done"),
        ]
    )
    middleware = MemoryMiddleware(memory_url, expose_tools=False)
    agent = create_agent(model, tools=[get_weather], middleware=[middleware])
    out = agent.invoke({"messages": [{"role": "user", "content": "write it"}]})
    assert MemoryStore(memory_url).list() == []
    answer = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert answer.status == "error" and "memory_write is not a valid tool" in answer.content
    assert middleware.routed == []


# ---------------------------------------------------------------- background LOG
class SlowMemoryModel:
    """A memory model that blocks in each call until released (at most ``hold_s``)."""

    model = "slow"

    def __init__(self, hold_s: float = 1.0) -> None:
        self.release = threading.Event()
        self.hold_s = hold_s
        self.calls = 0
        self.threads: list[str] = []

    def chat(self, messages: Any, **opts: Any) -> Any:
        from automem_sdk.llm.base import Completion

        self.calls += 1
        self.threads.append(threading.current_thread().name)
        self.release.wait(self.hold_s)
        text = messages[-1]["content"] if isinstance(messages[-1], dict) else messages[-1].content
        note = text.split("User: ", 1)[1].split("\n", 1)[0] if "User: " in text else "?"
        return Completion(text=f"<|APPEND|>notes.md|{note}<|END|><|DONE|>", model="slow")


def _first_chunk_s(runnable: Any, text: str) -> float:
    t0 = time.perf_counter()
    stream = iter(runnable.stream({"messages": [{"role": "user", "content": text}]}))
    next(stream)
    took = time.perf_counter() - t0
    for _rest in stream:
        pass
    return took


def test_background_log_keeps_the_first_chunk_fast(memory_url: str) -> None:
    slow = SlowMemoryModel(hold_s=30.0)  # held until released: inline LOG would block
    model = FakeToolChatModel.from_function(lambda m: AIMessage(content="a b c"))
    plain = create_agent(model, [])
    wrapped = with_memory(create_agent(model, []), memory_url, llm=slow, background=True)
    plain_s = [_first_chunk_s(plain, f"turn {turn}") for turn in range(2)]
    wrapped_s = [_first_chunk_s(wrapped, f"turn {turn}") for turn in range(2)]
    print("time to first chunk (s), unwrapped vs background LOG:", plain_s, wrapped_s)
    # both requests streamed to the end while the memory model was still held
    assert not slow.release.is_set() and not MemoryStore(memory_url).read("notes.md")
    assert slow.threads == ["automem-background-log"] * len(slow.threads)
    slow.release.set()
    wrapped.finish()  # flushes: every exchange is logged
    assert MemoryStore(memory_url).read("notes.md").splitlines() in (
        ["turn 0", "turn 1"],
        ["turn 0"],  # both exchanges merged into one LOG routine (debounced per namespace)
    )


def test_background_log_merges_exchanges_per_namespace(memory_url: str) -> None:
    slow = SlowMemoryModel(hold_s=5.0)
    model = FakeToolChatModel.from_function(lambda m: AIMessage(content="ok"))
    wrapped = with_memory(model, memory_url, llm=slow, background=True, namespace="users/{user_id}")
    for user, text in [("a", "a one"), ("b", "b one"), ("a", "a two"), ("a", "a three")]:
        wrapped.invoke(text, {"configurable": {"user_id": user}})
    assert wrapped.memory.background is not None and wrapped.memory.background.pending == 4
    slow.release.set()
    wrapped.finish()
    assert wrapped.memory.background.pending == 0
    assert slow.calls <= 3  # "a two" and "a three" waited together at most
    assert MemoryStore(memory_url + "/users/b").read("notes.md") == "b one\n"


def test_background_log_is_flushed_when_the_interpreter_exits(tmp_path: Any) -> None:
    import subprocess
    import sys

    url = (tmp_path / "mem").as_uri()
    code = f"""
import time
from automem_sdk.adapters import with_memory
from automem_sdk.testing import FakeToolChatModel
from automem_sdk.llm.base import Completion
from langchain_core.messages import AIMessage

class Slow:
    model = "slow"
    def chat(self, messages, **opts):
        time.sleep(0.3)
        text = messages[-1]["content"] if isinstance(messages[-1], dict) else messages[-1].content
        if "User: " not in text:
            return Completion(text="<|DONE|>", model="slow")
        note = text.split("User: ", 1)[1].split(chr(10), 1)[0]
        return Completion(text=f"<|APPEND|>notes.md|{{note}}<|END|><|DONE|>", model="slow")

model = FakeToolChatModel.from_function(lambda m: AIMessage(content="ok"))
wrapped = with_memory(model, {url!r}, llm=Slow(), background=True)
wrapped.invoke("remember the blue door")
print("pending at exit:", wrapped.memory.background.pending)
"""  # no finish(): the exit hook flushes
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "pending at exit: 1" in out.stdout
    assert MemoryStore(url).read("notes.md") == "remember the blue door\n"


@pytest.mark.parametrize("mode", [None, "updates", "messages"])
def test_astream_and_events_of_a_wrapped_graph_match_the_unwrapped(
    memory_url: str, mode: Any
) -> None:
    plain = create_agent(weather_agent_model(), tools=[get_weather])
    seen: list[str] = []
    wrapped = with_memory(
        create_agent(weather_agent_model(), tools=[get_weather]), memory_url, llm=log_model(seen)
    )
    request = {"messages": [{"role": "user", "content": "weather in Oslo"}]}
    kwargs = {} if mode is None else {"stream_mode": mode}

    async def chunks(r: Any) -> list[Any]:
        return [_chunk_kind(c) async for c in r.astream(request, **kwargs)]

    async def events(r: Any) -> list[tuple[str, str]]:
        out = []
        async for e in r.astream_events(request, version="v2"):
            assert MEMORY_MESSAGE_PREFIX not in str(e)  # the memory message never shows
            out.append((e["event"], e["name"]))
        return out

    assert asyncio.run(chunks(wrapped)) == asyncio.run(chunks(plain))
    assert "It says rain in Oslo today" in seen[-1]
    if mode is None:
        assert asyncio.run(events(wrapped)) == asyncio.run(events(plain))
        assert len(seen) == 2 and "It says rain in Oslo today" in seen[-1]
