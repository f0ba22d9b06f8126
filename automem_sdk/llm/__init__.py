"""LLM clients behind one protocol, and :func:`make_client` to build one from a string.

Providers (``openai``, ``anthropic``, ``vllm``, ``ollama``, ``llamacpp``, ``local``,
``scripted``) come from one lazy registry (:mod:`automem_sdk.llm.providers`); every
client takes the same typed chat options (:mod:`automem_sdk.llm.options`) and refuses
one it does not support. Importing this package is light: no network, and
``anthropic``, ``torch`` and ``transformers`` are imported only when a client that needs
them is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from automem_sdk.lazy import lazy_exports
from automem_sdk.llm.anthropic_client import AnthropicClient
from automem_sdk.llm.base import Completion, LLMClient, Message, Usage, as_messages
from automem_sdk.llm.batching import MicroBatchClient
from automem_sdk.llm.cache import CachedClient
from automem_sdk.llm.openai_compat import OpenAICompatClient
from automem_sdk.llm.options import CHAT_OPTIONS, ChatOptions
from automem_sdk.llm.providers import BUILTIN_PROVIDERS, Provider, ProviderRegistry
from automem_sdk.llm.retry import LLMStatusError, RetryPolicy
from automem_sdk.llm.scripted import ScriptedClient

if TYPE_CHECKING:
    from automem_sdk.llm.llamacpp_server import LlamaCppClient, LlamaCppServer, LlamaServerClient
    from automem_sdk.llm.local import LocalTransformersClient

__all__ = [
    "BUILTIN_PROVIDERS",
    "CHAT_OPTIONS",
    "SPEC_FORMS",
    "AnthropicClient",
    "CachedClient",
    "ChatOptions",
    "Completion",
    "LLMClient",
    "LLMStatusError",
    "LlamaCppClient",
    "LlamaCppServer",
    "LlamaServerClient",
    "LocalTransformersClient",
    "Message",
    "MicroBatchClient",
    "OpenAICompatClient",
    "Provider",
    "ProviderRegistry",
    "RetryPolicy",
    "ScriptedClient",
    "Usage",
    "as_messages",
    "make_client",
]

#: the spec forms :func:`make_client` accepts (one per built-in provider)
SPEC_FORMS: tuple[str, ...] = tuple(p.form for p in BUILTIN_PROVIDERS.values())

_LAZY = {
    "LocalTransformersClient": "automem_sdk.llm.local",
    "LlamaCppClient": "automem_sdk.llm.llamacpp_server",
    "LlamaServerClient": "automem_sdk.llm.llamacpp_server",
    "LlamaCppServer": "automem_sdk.llm.llamacpp_server",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


def make_client(
    spec: str,
    *,
    env: Mapping[str, str] | None = None,
    providers: ProviderRegistry | None = None,
    **kw: Any,
) -> LLMClient:
    """Build an LLM client from a short string.

    Args:
        spec: one of :data:`SPEC_FORMS`, e.g. ``"openai:gpt-4o-mini"``,
            ``"vllm:memory-lora@http://10.0.0.5:8000/v1"``, ``"ollama:qwen2.5:7b"``,
            ``"local:smollm2-135m"``, ``"scripted"``.
        env: where keys and base URLs are read from (default ``os.environ``).
        providers: the registry to look the provider up in (default: the built-in
            providers, :data:`BUILTIN_PROVIDERS`).
        **kw: passed to the client's constructor (``retry=``, ``timeout=``,
            ``default_params=``, ``replies=`` for ``scripted``, …).

    Returns:
        An object implementing :class:`LLMClient`.

    Raises:
        ValueError: the spec is not one of the known forms (the message lists them).
        LLMError: a required API key or package is missing (with how to install it).
    """
    registry = providers if providers is not None else ProviderRegistry()
    return registry.make(spec, env=env, **kw)
