"""Agent memory on S3: one agent writes it, another process reads it, the journal shows how.

Only the URL and fsspec's ``storage_options`` change from local disk. Credentials come
from the usual places (environment, IAM role, ``~/.aws``); ``FSSPEC_S3_*`` variables
(e.g. ``FSSPEC_S3_ENDPOINT_URL`` for MinIO or another S3-compatible service) are read
by fsspec.

Run offline:   python examples/s3_memory.py --fake          (a local moto S3 server)
               python examples/s3_memory.py --fake --memory s3://bucket/prefix
Run for real:  python examples/s3_memory.py --memory s3://bucket/agents/run-1 \\
                   --llm anthropic:claude-haiku-4-5   (any make_client spec)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from automem_sdk.adapters import ToolDispatcher

from automem_sdk import MemoryStore, wrap
from automem_sdk.llm import ScriptedClient, make_client
from automem_sdk.testing import openai_tool_call

ROOMS = ["A hall. A small key lies under the mat.", "A long corridor.", "A locked door."]


def my_agent(observation: str, memory: str) -> str:
    """The existing policy, unchanged: memory arrives only as extra context."""
    return "open door" if "door" in observation and "key" in memory else "explore"


def scripted_memory_model(messages: Any) -> str:
    """LOG: note rooms with a key; PLAN: look the key up."""
    prompt = messages[-1].content
    if "LOG routine" in prompt:
        seen = prompt.split("Observation:\n", 1)[1].split("\n", 1)[0]
        return f"<|APPEND|>notes.md|{seen}<|END|><|DONE|>" if "key" in seen else "<|DONE|>"
    return "<|SEARCH|>notes.md|key<|END|><|DONE|>"


def local_s3() -> tuple[str, dict[str, Any], Any]:
    """Start moto's S3 server on 127.0.0.1 with one bucket (needs ``moto[server]``)."""
    from automem_sdk.testing import local_s3 as serve

    server = serve("automem-demo")
    options = server.__enter__()
    return "s3://automem-demo/agents/run-1", options, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--fake", action="store_true", help="offline: a local S3 server if no --memory"
    )
    parser.add_argument("--memory", help="s3://bucket/prefix (default with --fake: local moto)")
    parser.add_argument("--endpoint-url", help="an S3-compatible endpoint (MinIO, moto, ...)")
    parser.add_argument("--llm", help="memory model, a make_client spec (default: scripted)")
    args = parser.parse_args(argv)

    server = None
    options: dict[str, Any] = {}
    url = args.memory
    if url is None:
        if not args.fake:
            print("pass --memory s3://bucket/prefix (or --fake for a local S3 server)")
            return 2
        url, options, server = local_s3()
    if args.endpoint_url:
        options["client_kwargs"] = {"endpoint_url": args.endpoint_url}
    llm = make_client(args.llm) if args.llm else ScriptedClient(scripted_memory_model)
    try:
        # Agent 1: an existing policy wrapped with memory that lives on S3.
        agent = wrap(my_agent, memory=url, storage_options=options, llm=llm,
                     actions=["explore", "open door"])  # fmt: skip
        for obs in ROOMS:
            print(f"{obs:42} -> {agent.step(obs)}")

        # Elsewhere (another process or machine): the same memory through tool calls.
        reader = ToolDispatcher(MemoryStore(url, options))
        call = openai_tool_call("memory_search", {"query": "key"}, call_id="c1")
        print("memory_search(key):", reader.dispatch([call])[0]["content"])

        store = reader.memory
        print(f"journal of {url}:")
        for e in store.history():
            print(f"  v{e.version} {e.op} {e.path} ({e.size} bytes)")
        print(store.diff(0, store.version) or "(no changes)")
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
