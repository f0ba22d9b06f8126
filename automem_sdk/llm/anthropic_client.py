"""A client for Anthropic's Messages API through the official ``anthropic`` SDK.

The SDK is imported lazily (extra ``[anthropic]``). Retries are ours: the SDK's own
retries are switched off (``max_retries=0``) and its errors are mapped onto
:class:`~automem_sdk.llm.retry.RetryPolicy`, so every client in the package backs off
the same way.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from typing import Any

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Message, Usage, as_messages
from automem_sdk.llm.options import check_chat_options
from automem_sdk.llm.retry import (
    LLMStatusError,
    RetryableFailure,
    RetryPolicy,
    body_excerpt,
    parse_retry_after,
)

__all__ = ["AnthropicClient", "to_anthropic_messages"]

_OVERLOADED = 529  # Anthropic's "overloaded" status, always retried like a 503


def to_anthropic_messages(
    messages: Sequence[Message | dict[str, Any]],
) -> tuple[str | None, list[dict[str, str]]]:
    """Split chat messages into Anthropic's ``system`` and ``messages`` arguments.

    System messages (wherever they appear) are joined into ``system``; ``tool``
    messages are sent as user turns; consecutive turns with the same role are merged
    (the Messages API requires alternating roles).

    Args:
        messages: the conversation in the core :class:`Message` form.

    Returns:
        ``(system or None, [{"role": ..., "content": ...}, ...])``.
    """
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for msg in as_messages(messages):
        if msg.role == "system":
            system.append(msg.content)
            continue
        role = "assistant" if msg.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = f"{turns[-1]['content']}\n\n{msg.content}"
        else:
            turns.append({"role": role, "content": msg.content})
    return ("\n\n".join(system) if system else None), turns


def _status_message(exc: Any) -> str:
    """The server's error message from an ``anthropic.APIStatusError``."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return body_excerpt(err["message"])
    return body_excerpt(str(getattr(exc, "message", exc)))


def _create_params(client: Any) -> frozenset[str] | None:
    """Keyword names ``client.messages.create`` accepts (``None``: anything goes)."""
    try:
        sig = inspect.signature(client.messages.create)
    except (AttributeError, TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return frozenset(sig.parameters)


_OPTIONS = frozenset({"model", "max_tokens", "temperature", "top_p", "stop", "extra_body"})


class AnthropicClient:
    """Chat with a Claude model through the ``anthropic`` SDK.

    Args:
        model: the model name, e.g. ``"claude-sonnet-4-5"``.
        client: an ``anthropic.Anthropic`` instance to use (tests build one on a mock
            HTTP transport); its own retries are switched off with
            ``with_options(max_retries=0)``.
        api_key: used when ``client`` is ``None``; ``None`` lets the SDK read
            ``ANTHROPIC_API_KEY``.
        max_tokens: default ``max_tokens`` (the API requires one).
        retry: the retry policy for timeouts, connection errors, 429 and 5xx
            (Anthropic's 529 "overloaded" is retried too).
        timeout: request timeout in seconds for the client created here.

    Raises:
        LLMError: the ``anthropic`` package is not installed.
    """

    #: the :data:`~automem_sdk.llm.options.CHAT_OPTIONS` this client takes (no ``seed``)
    chat_options: frozenset[str] = _OPTIONS

    def __init__(
        self,
        model: str,
        *,
        client: Any | None = None,
        api_key: str | None = None,
        max_tokens: int = 1024,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
    ) -> None:
        try:
            import anthropic
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise LLMError(
                "AnthropicClient needs the anthropic package: pip install 'automem-sdk[anthropic]'"
            ) from exc
        self._anthropic = anthropic
        self.model = model
        self.max_tokens = max_tokens
        self.retry = retry if retry is not None else RetryPolicy()
        if client is None:
            client = anthropic.Anthropic(api_key=api_key, max_retries=0, timeout=timeout)
        elif callable(getattr(client, "with_options", None)):
            client = client.with_options(max_retries=0)
        self._client = client
        self._accepted = _create_params(client)

    def __repr__(self) -> str:
        return f"AnthropicClient(model={self.model!r})"

    def build_request(
        self, messages: Sequence[Message | dict[str, Any]], **opts: Any
    ) -> dict[str, Any]:
        """The keyword arguments :meth:`chat` passes to ``messages.create``.

        Raises:
            LLMError: no non-system message, or an option this client does not take.
        """
        check_chat_options(type(self).__name__, opts, self.chat_options)
        system, turns = to_anthropic_messages(messages)
        if not turns:
            raise LLMError("the Anthropic Messages API needs at least one non-system message")
        params = dict(opts)
        if "stop" in params:
            stop = params.pop("stop")
            if stop is not None:
                params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        request: dict[str, Any] = {
            "model": params.pop("model", None) or self.model,
            "max_tokens": int(params.pop("max_tokens", None) or self.max_tokens),
            "messages": turns,
        }
        if system is not None:
            request["system"] = system
        accepted = self._accepted
        extra: dict[str, Any] = dict(params.pop("extra_body", None) or {})
        for name, value in params.items():
            if accepted is None or name in accepted:
                request[name] = value
            else:  # e.g. temperature on SDK versions whose create() no longer lists it
                extra[name] = value
        if extra:
            request["extra_body"] = extra
        return request

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Send the conversation to the Messages API.

        Args:
            messages: the conversation; system messages go to ``system=``.
            **opts: ``max_tokens``, ``temperature``, ``top_p``, ``stop`` (mapped to
                ``stop_sequences``), ``model``, and ``extra_body`` for any other
                request field; an option this SDK version's ``messages.create`` does not
                list (e.g. ``temperature`` in anthropic 2.x) is sent through
                ``extra_body``. Other options (``seed``, ``grammar``) raise.

        Returns:
            The concatenated text blocks with usage, latency, stop reason and attempts.

        Raises:
            LLMError: the request failed, the reply had no text, or an option is not
                one this client takes.
            LLMStatusError: the server answered with an error status.
            LLMTimeoutError: every attempt timed out.
        """
        request = self.build_request(messages, **opts)
        anthropic = self._anthropic
        what = f"Anthropic messages.create({request['model']})"

        def attempt(_n: int) -> Any:
            try:
                return self._client.messages.create(**request)
            except anthropic.APITimeoutError as exc:
                raise RetryableFailure(f"{type(exc).__name__}: {exc}", timeout=True) from exc
            except anthropic.APIConnectionError as exc:
                raise RetryableFailure(f"{type(exc).__name__}: {exc}") from exc
            except anthropic.APIStatusError as exc:
                status = int(exc.status_code)
                message = _status_message(exc)
                if self.retry.is_retryable_status(status) or status == _OVERLOADED:
                    raise RetryableFailure(
                        f"HTTP {status}",
                        status=status,
                        body=message,
                        retry_after=parse_retry_after(exc.response.headers, now=self.retry.clock),
                    ) from exc
                raise LLMStatusError(
                    f"{what} failed with HTTP {status}: {message}", status=status, body=message
                ) from exc

        start = time.perf_counter()
        response, attempts = self.retry.call(attempt, what=what)
        latency = time.perf_counter() - start
        blocks = getattr(response, "content", None) or []
        text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", None) == "text")
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            model=str(getattr(response, "model", None) or request["model"]),
            usage=Usage(
                prompt_tokens=int(getattr(usage, "input_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "output_tokens", 0) or 0),
            ),
            latency_s=latency,
            finish_reason=getattr(response, "stop_reason", None),
            attempts=attempts,
        )
