"""Typed ``chat()`` options, and the rule for an option a client does not support.

Every client takes the same named options (:class:`ChatOptions`); each declares in its
``chat_options`` attribute which of them it understands. An option outside that set is
refused with :class:`~automem_sdk.errors.LLMError` before any request is made; nothing
is forwarded blindly. Server-specific request fields go in ``extra_body`` (OpenAI
compatible servers, Anthropic), which is sent as given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from automem_sdk.errors import LLMError

__all__ = [
    "CHAT_OPTIONS",
    "ChatOptions",
    "check_chat_options",
    "declared_options",
    "supports_option",
]


class ChatOptions(TypedDict, total=False):
    """The options ``chat(messages, **opts)`` may take (see :data:`CHAT_OPTIONS`)."""

    model: str
    max_tokens: int | None
    temperature: float | None
    top_p: float | None
    seed: int | None
    stop: str | Sequence[str] | None
    grammar: bool | Sequence[str] | str | None
    extra_body: Mapping[str, Any] | None


#: option -> what it does and which clients take it
CHAT_OPTIONS: dict[str, str] = {
    "model": "use this model (or vLLM LoRA adapter) for the call; every client",
    "max_tokens": "cap on generated tokens; every client",
    "temperature": "sampling temperature (0 = greedy); every client",
    "top_p": "nucleus sampling; every client",
    "seed": "sampling seed; OpenAI-compatible, llama.cpp, local, scripted (not Anthropic)",
    "stop": "stop string(s), cut from the reply; every client",
    "grammar": "the op grammar: True/False or op names (llama.cpp also a GBNF string); "
    "llama.cpp server and local clients only",
    "extra_body": "server-specific request fields sent as given; OpenAI-compatible, Anthropic",
}

_ADAPTER: TypeAdapter[ChatOptions] = TypeAdapter(ChatOptions)


def check_chat_options(
    client: str, opts: Mapping[str, Any], supported: frozenset[str]
) -> ChatOptions:
    """Refuse an option ``client`` does not take, or a value of the wrong type.

    Args:
        client: the client's name for the message (``"OpenAICompatClient"``).
        opts: the call's options.
        supported: the options this client takes.

    Returns:
        The options, validated (pass the original ones on: validation may turn ``0``
        into ``0.0``, which would change cache keys).

    Raises:
        LLMError: an unknown option, one this client does not support, or a bad value.
    """
    unknown = sorted(set(opts) - set(CHAT_OPTIONS))
    if unknown:
        raise LLMError(
            f"unknown chat option(s) {unknown} for {client}; known: {sorted(CHAT_OPTIONS)} "
            "(send server-specific fields in extra_body=)"
        )
    refused = sorted(set(opts) - supported)
    if refused:
        raise LLMError(
            f"{client} does not support the chat option(s) {refused}; it takes {sorted(supported)}"
        )
    try:
        return _ADAPTER.validate_python(dict(opts))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ()))
        raise LLMError(f"bad chat option {where} for {client}: {err.get('msg')}") from None


def supports_option(client: object, name: str) -> bool:
    """Whether ``client`` declares the chat option ``name`` (clients that declare no
    ``chat_options`` are assumed to take it)."""
    declared = declared_options(client)
    return declared is None or name in declared


def declared_options(client: object) -> frozenset[str] | None:
    """The chat options ``client`` declares (``None``: it does not say); wrappers such as
    the cache report their inner client's."""
    declared = getattr(client, "chat_options", None)
    return None if declared is None else frozenset(declared)
