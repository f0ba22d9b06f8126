"""A keyless OpenAI-compatible server for dry runs of the LLM agents (no model).

``python -m automem_sdk.benchmarks.harness.mock_llm_server --port 8011`` serves
``POST /v1/chat/completions`` on 127.0.0.1. It answers a BALROG-protocol prompt (the
first message is a ``user`` instruction listing the actions as ``name: description``)
with one of the listed actions drawn from a seeded generator, and automem's memory
routines (the first message is the scaffold's ``system`` prompt) with a fixed, valid op
script: LOG appends one short note and ends, PLAN reads the notes and hands over.

It exists to measure what a protocol costs before renting a GPU: LLM calls per episode
are exactly what a real model would need (they depend on the protocol, not the
answers), and prompt sizes are the real prompts. Its ``usage`` reports tokens as
characters / 4, so token counts from its traces are estimates; a vLLM server reports
its tokenizer's counts in the same trace fields.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MockLLMHandler", "answer", "serve"]

_ACTION_LINE = re.compile(r"^([A-Za-z][A-Za-z :]*?): ", re.MULTILINE)


def _estimate(text: str) -> int:
    return (len(text) + 3) // 4


def answer(messages: list[dict[str, Any]], rng: random.Random) -> str:
    """The reply to one request (see the module docstring)."""
    first = messages[0] if messages else {"role": "user", "content": ""}
    if first.get("role") == "system":
        prompt = str(messages[1]["content"]) if len(messages) > 1 else ""
        if len(messages) > 2:  # a follow-up turn of the routine: end it
            return "<|DONE|>" if "LOG" in prompt else "<|ACTION|>x<|END|>"
        if "LOG" in prompt:
            return "<|APPEND|>notes.md|step noted<|END|><|DONE|>"
        return "<|READ|>notes.md<|END|>"
    head = str(first.get("content", "")).split("\n\nIn a moment", 1)[0]
    head = head.split("These are the game achievements", 1)[0]
    actions = [a for a in _ACTION_LINE.findall(head) if a not in ("Tip", "Tips")]
    return rng.choice(actions) if actions else "wait"


class MockLLMHandler(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions`` with OpenAI's request and response shapes."""

    rng = random.Random(0)
    lock = threading.Lock()

    def do_POST(self) -> None:
        """Answer one chat completion."""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        messages = body.get("messages", [])
        with self.lock:
            text = answer(messages, self.rng)
        prompt = sum(_estimate(str(m.get("content", ""))) for m in messages)
        reply = {
            "id": "mock",
            "object": "chat.completion",
            "model": body.get("model", "mock"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": _estimate(text),
                "total_tokens": prompt + _estimate(text),
            },
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def serve(port: int, seed: int = 0) -> ThreadingHTTPServer:
    """Start the server on 127.0.0.1:``port`` in a daemon thread; returns it."""
    MockLLMHandler.rng = random.Random(seed)
    server = ThreadingHTTPServer(("127.0.0.1", port), MockLLMHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8011)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    MockLLMHandler.rng = random.Random(args.seed)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), MockLLMHandler)
    print(f"mock LLM on http://127.0.0.1:{args.port}/v1 (Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
