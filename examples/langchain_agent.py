"""An existing LangChain agent (``create_agent``) given a memory with ``with_memory``.

The agent, its model and its tools are unchanged. The lines marked ``+memory`` are all
that memory adds: before each request the relevant notes go just before it (never into the thread);
after it, a memory model records what matters (the LOG routine), logged to a trace.

Run offline:   python examples/langchain_agent.py --fake [--memory URL]
Run for real:  python examples/langchain_agent.py --model openai:gpt-4o-mini
               (any ``init_chat_model`` spec; its provider package and API key)
"""

from __future__ import annotations

import argparse
import sys

from automem_sdk.adapters import with_memory  # +memory
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool

from automem_sdk.llm import ScriptedClient  # +memory
from automem_sdk.testing import FakeToolChatModel


@tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"It is sunny and 24 C in {city}."


def fake_agent_model(messages: list[BaseMessage]) -> AIMessage:
    """A scripted agent model: calls the weather tool, answers, recalls from its prompt.

    The wrapper puts memory in the prompt just before the request (never in the thread).
    """
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(content=f"{last.content} Have a good trip!")
    question = str(last.content)
    if "weather" in question:
        city = question.rstrip("?").split()[-1]
        call = {"name": "get_weather", "args": {"city": city}, "id": "w1"}
        return AIMessage(content="", tool_calls=[call])
    prompt = " ".join(str(m.content) for m in messages[:-1])  # memory is in here
    trip = next((city for city in ("Lisbon", "Porto") if city in prompt), None)
    return AIMessage(content=f"You are going to {trip}." if trip else "I don't know.")


def fake_memory(prompt: str) -> str:  # +memory
    seen = prompt.split("User: ", 1)[-1].split("\n", 1)[0]  # +memory
    return f"<|APPEND|>notes.md|{seen}<|END|><|DONE|>" if "trip" in seen else "<|DONE|>"  # +memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fake", action="store_true", help="scripted models, no network")
    parser.add_argument("--memory", default="file://./langchain-memory", help="memory URL")
    parser.add_argument("--model", default="openai:gpt-4o-mini", help="init_chat_model spec")
    parser.add_argument("--trace", default="langchain-trace.jsonl")  # +memory
    args = parser.parse_args(argv)
    if args.fake:
        model = FakeToolChatModel.from_function(fake_agent_model)
    else:
        from langchain.chat_models import init_chat_model

        model = init_chat_model(args.model)

    # Your existing agent, unchanged.
    agent = create_agent(model, tools=[get_weather], system_prompt="You are a travel assistant.")

    mem = ScriptedClient(lambda m: fake_memory(m[-1].content)) if args.fake else model  # +memory
    agent = with_memory(agent, args.memory, llm=mem, trace=args.trace)  # +memory

    for question in [
        "I'm planning a trip to Lisbon. What's the weather in Lisbon?",
        "Remind me: where am I going?",
    ]:
        answer = agent.invoke({"messages": [{"role": "user", "content": question}]})
        print(f"user:  {question}\nagent: {answer['messages'][-1].content}")
    agent.finish()  # +memory
    print("notes.md:", agent.store.read("notes.md").strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
