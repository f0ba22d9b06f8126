"""Quickstart: give an existing agent a file-based memory in a few lines.

Run: python examples/quickstart.py [MEMORY_URL]   (default: a local folder)
"""

import sys

from automem_sdk import read_trace, wrap
from automem_sdk.llm import ScriptedClient


def my_agent(observation: str, memory: str) -> str:
    """Your existing policy, unchanged: memory only arrives as extra context."""
    return "open door" if "door" in observation and "key" in memory else "explore"


def memory_model(messages) -> str:
    """A scripted memory model so this runs with no API key (swap in a real LLM client)."""
    prompt = messages[-1].content
    if "LOG routine" in prompt:
        seen = prompt.split("Observation:\n", 1)[1].split("\n", 1)[0]
        return f"<|APPEND|>notes.md|{seen}<|END|><|DONE|>" if "key" in seen else "<|DONE|>"
    return "<|SEARCH|>notes.md|key<|END|><|DONE|>"  # PLAN: recall what matters


url = sys.argv[1] if len(sys.argv) > 1 else "file://./quickstart-memory"
agent = wrap(
    my_agent,
    memory=url,
    llm=ScriptedClient(memory_model),
    actions=["explore", "open door"],
    trace=url.rstrip("/") + "-trace.jsonl",
)
for obs in ["A hall. A small key lies here.", "A long corridor.", "A locked door."]:
    print(f"{obs:32} -> {agent.step(obs)}")
agent.finish()

print("notes.md:", agent.store.read("notes.md").strip())
print("trace turns:", len(read_trace(url.rstrip("/") + "-trace.jsonl").turns))
