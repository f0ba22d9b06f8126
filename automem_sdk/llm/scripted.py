"""A deterministic client for tests and keyless demos."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Message, Usage, as_messages
from automem_sdk.llm.options import CHAT_OPTIONS, check_chat_options

__all__ = ["ScriptedClient", "count_words"]

Reply = str | Callable[[list[Message]], str]


def count_words(text: str) -> int:
    """Deterministic token count used by the scripted client: whitespace-separated words."""
    return len(text.split())


class ScriptedClient:
    """Replies from a fixed script or a function, with no network and no model.

    Args:
        replies: a list of replies returned in order, or a function of the messages.
        model: the model name reported in completions.
        when_exhausted: with a list, ``"raise"`` raises :class:`LLMError` once every reply
            was used; ``"cycle"`` starts again from the first; ``"repeat_last"`` keeps
            returning the last one.

    Attributes:
        calls: every ``(messages, opts)`` received, in order, for assertions.

    Usage counts whitespace-separated words of the prompt (all message contents) and of
    the reply, so tests can assert exact numbers.

    Example:
        >>> c = ScriptedClient(["<|DONE|>", "<|ACTION|>noop<|END|>"])
        >>> c.chat([{"role": "user", "content": "go"}]).text
        '<|DONE|>'
    """

    #: every chat option is accepted (and recorded in :attr:`calls`); unknown ones raise
    chat_options: frozenset[str] = frozenset(CHAT_OPTIONS)

    def __init__(
        self,
        replies: Sequence[str] | Callable[[list[Message]], str],
        model: str = "scripted",
        *,
        when_exhausted: Literal["raise", "cycle", "repeat_last"] = "raise",
    ) -> None:
        if when_exhausted not in ("raise", "cycle", "repeat_last"):
            raise ValueError(
                f"when_exhausted must be 'raise', 'cycle' or 'repeat_last', got {when_exhausted!r}"
            )
        self._fn: Callable[[list[Message]], str] | None = None
        self._replies: list[str] = []
        if callable(replies):
            self._fn = replies
        else:
            self._replies = [str(r) for r in replies]
            if not self._replies:
                raise ValueError("ScriptedClient needs at least one reply (or a function)")
        self.model = model
        self.when_exhausted = when_exhausted
        self.calls: list[tuple[list[Message], dict[str, Any]]] = []
        self._index = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        kind = "function" if self._fn is not None else f"{len(self._replies)} replies"
        return f"ScriptedClient({kind}, model={self.model!r})"

    @property
    def remaining(self) -> int | None:
        """Replies left before the script runs out (``None`` for a function script)."""
        if self._fn is not None:
            return None
        return max(0, len(self._replies) - self._index)

    def _next_reply(self, messages: list[Message]) -> str:
        if self._fn is not None:
            reply = self._fn(messages)
            if not isinstance(reply, str):
                raise LLMError(
                    f"ScriptedClient function returned {type(reply).__name__}, expected str"
                )
            return reply
        n = len(self._replies)
        i = self._index
        if i >= n:
            if self.when_exhausted == "raise":
                raise LLMError(
                    f"ScriptedClient ran out of replies after {n} call(s); pass more replies "
                    "or when_exhausted='cycle'"
                )
            i = i % n if self.when_exhausted == "cycle" else n - 1
        self._index += 1
        return self._replies[i]

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Return the next scripted reply.

        Raises:
            LLMError: the script ran out (with ``when_exhausted="raise"``), or an
                unknown option.
        """
        check_chat_options(type(self).__name__, opts, self.chat_options)
        msgs = as_messages(messages)
        with self._lock:
            self.calls.append((msgs, dict(opts)))
            text = self._next_reply(msgs)
        return Completion(
            text=text,
            model=self.model,
            usage=Usage(
                prompt_tokens=sum(count_words(m.content) for m in msgs),
                completion_tokens=count_words(text),
            ),
            latency_s=0.0,
            finish_reason="stop",
            attempts=1,
        )
