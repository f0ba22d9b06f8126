"""Claude's memory tool on an automem store, through the SDK's own tool runner.

``AutomemMemoryTool`` is a ``BetaAbstractMemoryTool`` backend: Claude's ``memory``
tool calls (view, create, str_replace, insert, delete, rename under ``/memories``) land
in a MemoryStore on any fsspec URL, sandboxed, size-limited and journaled, so every
change can be listed and rolled back afterwards.

Run offline:   python examples/anthropic_memory_tool.py --fake [--memory URL]
Run for real:  ANTHROPIC_API_KEY=... python examples/anthropic_memory_tool.py [--model NAME]
"""

from __future__ import annotations

import argparse
import os
import sys

import anthropic
from automem_sdk.adapters import AutomemMemoryTool

from automem_sdk import MemoryStore
from automem_sdk.testing import FakeAnthropicAPI, memory_call

SESSIONS = [
    "I'm Ada. I prefer tea over coffee, and I'm allergic to peanuts. Please remember that.",
    "Actually I switched to coffee. Also note that I live in Lisbon.",
    "Tidy up your memory: keep one file about me.",
]


def fake_claude() -> FakeAnthropicAPI:
    """Scripted replies that use all six memory commands, as Claude does."""
    prefs = "/memories/preferences.md"
    return FakeAnthropicAPI(
        [
            [memory_call("view", path="/memories")],
            [
                memory_call(
                    "create", path=prefs, file_text="# Ada\n- drinks: tea\n- allergy: peanuts\n"
                )
            ],
            "Noted: tea, and no peanuts.",
            [memory_call("view", path=prefs)],
            [
                memory_call(
                    "str_replace", path=prefs, old_str="- drinks: tea", new_str="- drinks: coffee"
                ),
                memory_call("insert", path=prefs, insert_line=1, insert_text="- lives in: Lisbon"),
                memory_call("create", path="/memories/scratch.md", file_text="temp\n"),
            ],
            "Updated: coffee, Lisbon.",
            [memory_call("view", path="/memories")],
            [
                memory_call("rename", old_path=prefs, new_path="/memories/people/ada.md"),
                memory_call("delete", path="/memories/scratch.md"),
            ],
            "Done: everything about you is in /memories/people/ada.md.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fake", action="store_true", help="scripted Claude, no network")
    parser.add_argument("--memory", default="file://./claude-memory", help="memory URL")
    parser.add_argument("--model", default="claude-sonnet-5-5")
    args = parser.parse_args(argv)

    if args.fake:
        import httpx2

        transport = httpx2.MockTransport(fake_claude())
        client = anthropic.Anthropic(
            api_key="fake", http_client=httpx2.Client(transport=transport), max_retries=0
        )
    elif not os.environ.get("ANTHROPIC_API_KEY"):
        print("set ANTHROPIC_API_KEY, or use --fake")
        return 2
    else:
        client = anthropic.Anthropic()

    store = MemoryStore(args.memory)
    memory_tool = AutomemMemoryTool(store)
    for text in SESSIONS:  # each session starts with a fresh conversation
        runner = client.beta.messages.tool_runner(
            model=args.model,
            max_tokens=1024,
            betas=["context-management-2025-06-27"],
            tools=[memory_tool],
            messages=[{"role": "user", "content": text}],
        )
        reply = runner.until_done()
        print(f"user:   {text}\nclaude: {''.join(getattr(b, 'text', '') for b in reply.content)}")

    print("\nmemory files:", store.list())
    for path in store.list():
        print(f"--- {path} ---\n{store.read(path).rstrip()}")
    print("\njournal (every change can be restored with store.restore(version)):")
    for e in store.history():
        print(f"  v{e.version:<3} {e.op:<7} {e.path}{' -> ' + e.dst if e.dst else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
