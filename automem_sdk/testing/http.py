"""Scripted model servers for keyless demos and tests, as HTTP mock-transport handlers.

Real client libraries talk to them: pass an instance as the handler of
``httpx.MockTransport`` (OpenAI-compatible clients, vLLM) or ``httpx2.MockTransport``
(``anthropic`` 2.x); it answers each request with the next scripted turn and records
what it was sent.

>>> import httpx
>>> api = FakeOpenAIAPI([{"content": "hello"}])
>>> http = httpx.Client(transport=httpx.MockTransport(api))
>>> http.post("http://fake/v1/chat/completions", json={"model": "m", "messages": []}).json()[
...     "choices"][0]["message"]["content"]
'hello'
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FakeAnthropicAPI", "FakeOpenAIAPI", "memory_call", "openai_tool_call"]

Body = dict[str, Any]


def _response(request: Any, status: int, body: Body) -> Any:
    """A response of the request's own HTTP library (``httpx`` or ``httpx2``)."""
    lib = importlib.import_module(type(request).__module__.split(".")[0])
    return lib.Response(status, json=body)


def memory_call(command: str, **fields: Any) -> Body:
    """A ``tool_use`` block calling the Anthropic memory tool (``name="memory"``)."""
    return {"type": "tool_use", "name": "memory", "input": {"command": command, **fields}}


def openai_tool_call(name: str, arguments: str | Body, call_id: str | None = None) -> Body:
    """An OpenAI ``tool_calls`` entry; a ``str`` is sent verbatim (even if not JSON)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call: Body = {"type": "function", "function": {"name": name, "arguments": args}}
    if call_id is not None:
        call["id"] = call_id
    return call


class FakeAnthropicAPI:
    """A scripted Anthropic Messages API.

    Args:
        turns: one entry per model reply: a list of content blocks (``text`` /
            ``tool_use`` dicts; ``tool_use`` ids are filled in), a string (a text
            reply), or a function of the request body returning either.
        model: the model name in replies.

    Attributes:
        requests: every request body received, in order.
        tool_results: every ``tool_result`` block received, in order.

    Once the script is used up, every further request gets a final text reply.
    """

    def __init__(
        self,
        turns: Sequence[list[Body] | str | Callable[[Body], list[Body] | str]],
        model: str = "claude-fake",
    ) -> None:
        self.turns = list(turns)
        self.model = model
        self.requests: list[Body] = []
        self.tool_results: list[Body] = []
        self._ids = 0

    def __call__(self, request: Any) -> Any:
        body = json.loads(request.content or b"{}")
        self.requests.append(body)
        for msg in body.get("messages", []):
            content = msg.get("content")
            if msg.get("role") == "user" and isinstance(content, list):
                self.tool_results += [b for b in content if b.get("type") == "tool_result"]
        i = len(self.requests) - 1
        turn = self.turns[i] if i < len(self.turns) else "(end of script)"
        if callable(turn):
            turn = turn(body)
        blocks = [{"type": "text", "text": turn}] if isinstance(turn, str) else list(turn)
        out = []
        for b in blocks:
            b = dict(b)
            if b.get("type") == "tool_use" and "id" not in b:
                self._ids += 1
                b["id"] = f"toolu_{self._ids:04d}"
            out.append(b)
        uses_tools = any(b.get("type") == "tool_use" for b in out)
        reply = {
            "id": f"msg_{i + 1:04d}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": out,
            "stop_reason": "tool_use" if uses_tools else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
        return _response(request, 200, reply)

    def result_texts(self) -> list[str]:
        """The text of every tool result received (errors included)."""
        out = []
        for r in self.tool_results:
            c = r.get("content")
            if isinstance(c, list):
                c = "".join(b.get("text", "") for b in c if isinstance(b, dict))
            out.append(str(c))
        return out


class FakeOpenAIAPI:
    """A scripted OpenAI-compatible ``/chat/completions`` server (OpenAI, vLLM, ...).

    Args:
        turns: one entry per reply: an assistant message dict (``content`` and/or
            ``tool_calls``; ids are filled in), a string (a text reply), or a function
            of the request body returning either. A single function serves every
            request (e.g. a vLLM server answering per ``model`` name).

    Attributes:
        requests: every request body received, in order.
    """

    def __init__(self, turns: Sequence[Body | str] | Callable[[Body], Body | str]) -> None:
        self.turns = turns
        self.requests: list[Body] = []
        self._ids = 0

    def __call__(self, request: Any) -> Any:
        if not str(request.url).endswith("/chat/completions"):
            return _response(request, 404, {"error": {"message": f"no route {request.url}"}})
        body = json.loads(request.content or b"{}")
        self.requests.append(body)
        if callable(self.turns):
            turn: Body | str = self.turns(body)
        else:
            i = len(self.requests) - 1
            turn = self.turns[i] if i < len(self.turns) else "(end of script)"
        message: Body = {"content": turn} if isinstance(turn, str) else dict(turn)
        message.setdefault("content", None)
        message["role"] = "assistant"
        calls = []
        for c in message.get("tool_calls") or []:
            c = dict(c)
            if "id" not in c:
                self._ids += 1
                c["id"] = f"call_{self._ids:04d}"
            calls.append(c)
        if calls:
            message["tool_calls"] = calls
        else:
            message.pop("tool_calls", None)
        text = message.get("content") or ""
        reply = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": sum(
                    len(str(m.get("content", "")).split()) for m in body.get("messages", [])
                ),
                "completion_tokens": len(str(text).split()),
                "total_tokens": 0,
            },
        }
        return _response(request, 200, reply)
