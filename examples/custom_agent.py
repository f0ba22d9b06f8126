"""Your own tool-calling agent loop, with memory tools, on any OpenAI-compatible server.

A small support agent with one task tool (``lookup_order``) gets automem's memory tools
through ``ToolDispatcher``: the schemas go in ``tools=[...]``, and every tool call of a
reply (memory or not) is answered with a tool message. Two conversations share one
memory, so the second one knows who the user is.

Run offline:   python examples/custom_agent.py --fake [--memory URL]
Run for real:  OPENAI_API_KEY=... python examples/custom_agent.py --model gpt-4o-mini
               python examples/custom_agent.py --base-url http://localhost:8000/v1 --model NAME
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import httpx
from automem_sdk.adapters import ToolDispatcher, run_tool_loop

from automem_sdk.testing import FakeOpenAIAPI, openai_tool_call

SYSTEM = (
    "You are a support agent. You have a persistent memory: read profile.md and notes.md "
    "before answering, and record the user's name (memory_upsert on profile.md) and facts "
    "about their orders (memory_append on notes.md)."
)
ORDERS = {"42": "order 42: delayed at the depot, ships Friday"}
LOOKUP_ORDER = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up an order's status.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}


def lookup_order(args: dict[str, Any]) -> str:
    """The agent's own task tool."""
    return ORDERS.get(str(args.get("order_id")), "no such order")


def fake_server() -> FakeOpenAIAPI:
    """A scripted model: it makes one malformed call, gets the error back, and goes on."""
    return FakeOpenAIAPI(
        [
            {
                "tool_calls": [
                    openai_tool_call("lookup_order", {"order_id": "42"}),
                    openai_tool_call("memory_upsert", '{"path": "profile.md", "key": "name"'),
                ]
            },
            {
                "tool_calls": [
                    openai_tool_call(
                        "memory_upsert", {"path": "profile.md", "key": "name", "value": "Ada"}
                    ),
                    openai_tool_call(
                        "memory_append", {"path": "notes.md", "content": ORDERS["42"]}
                    ),
                ]
            },
            "Sorry Ada, order 42 is delayed at the depot and ships Friday.",
            {
                "tool_calls": [
                    openai_tool_call("memory_read", {"path": "profile.md"}),
                    openai_tool_call("memory_search", {"query": "order 42"}),
                ]
            },
            "Hi Ada! Order 42 is still due to ship on Friday.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fake", action="store_true", help="scripted model, no network")
    parser.add_argument("--memory", default="file://./custom-agent-memory", help="memory URL")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", ""))
    args = parser.parse_args(argv)

    if args.fake:
        http = httpx.Client(transport=httpx.MockTransport(fake_server()))
        base, headers = "http://fake/v1", {}
    else:
        base = args.base_url or "https://api.openai.com/v1"
        key = os.environ.get("OPENAI_API_KEY")
        if not key and "api.openai.com" in base:
            print("set OPENAI_API_KEY, pass --base-url for a local server, or use --fake")
            return 2
        http = httpx.Client(timeout=120)
        headers = {"Authorization": f"Bearer {key}"} if key else {}

    def send(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        body = {"model": args.model, "messages": messages, "tools": tools}
        response = http.post(f"{base.rstrip('/')}/chat/completions", json=body, headers=headers)
        response.raise_for_status()
        return response.json()

    memory = ToolDispatcher(args.memory, actions=[], extra_tools={"lookup_order": lookup_order})
    for question in ["Hi, I'm Ada. Where is my order 42?", "Any news on my order?"]:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        history, _ = run_tool_loop(send, messages, memory, extra_tool_schemas=[LOOKUP_ORDER])
        print(f"user:  {question}\nagent: {history[-1]['content']}")
    for call in memory.history:
        status = "ok   " if call.result.ok else "ERROR"
        print(f"  {status} {call.name}: {call.content.splitlines()[0][:90]}")
    print("profile.md:", memory.memory.read("profile.md").strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
