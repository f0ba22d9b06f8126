"""LLM clients behind one protocol, and :func:`make_client` to build one from a string.

Importing this package is light: no network, and ``anthropic``, ``torch`` and
``transformers`` are imported only when a client that needs them is created.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from automem_sdk.llm.anthropic_client import AnthropicClient
from automem_sdk.llm.base import Completion, LLMClient, Message, Usage, as_messages
from automem_sdk.llm.cache import CachedClient
from automem_sdk.llm.openai_compat import OpenAICompatClient
from automem_sdk.llm.retry import LLMStatusError, RetryPolicy
from automem_sdk.llm.scripted import ScriptedClient

if TYPE_CHECKING:
    from automem_sdk.llm.llamacpp_server import LlamaCppServer, LlamaServerClient
    from automem_sdk.llm.local import LocalTransformersClient

__all__ = [
    "SPEC_FORMS",
    "AnthropicClient",
    "CachedClient",
    "Completion",
    "LLMClient",
    "LLMStatusError",
    "LlamaCppServer",
    "LlamaServerClient",
    "LocalTransformersClient",
    "Message",
    "OpenAICompatClient",
    "RetryPolicy",
    "ScriptedClient",
    "Usage",
    "as_messages",
    "make_client",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
VLLM_BASE_URL = "http://127.0.0.1:8000/v1"
OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1"
LLAMACPP_BASE_URL = "http://127.0.0.1:8080/v1"

SPEC_FORMS: tuple[str, ...] = (
    "scripted",
    "openai:MODEL  (OPENAI_API_KEY, optional OPENAI_BASE_URL)",
    "anthropic:MODEL  (ANTHROPIC_API_KEY)",
    "vllm:MODEL[@http://host:port/v1]  (a LoRA adapter is a MODEL; VLLM_API_KEY optional)",
    "ollama:MODEL[@http://host:port/v1]  (OLLAMA_HOST optional)",
    "llamacpp:[MODEL@]http://host:port/v1",
    "local:smollm2-135m | local:PATH  (extra [local]; backend='auto'|'llamacpp'|'transformers')",
)

DEFAULT_SCRIPTED_REPLY = "<|DONE|>"


_LAZY = {
    "LocalTransformersClient": "automem_sdk.llm.local",
    "LlamaServerClient": "automem_sdk.llm.llamacpp_server",
    "LlamaCppServer": "automem_sdk.llm.llamacpp_server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _unknown(spec: str, why: str) -> ValueError:
    forms = "\n  ".join(SPEC_FORMS)
    return ValueError(f"cannot make an LLM client from {spec!r}: {why}. Known forms:\n  {forms}")


def _split_at_url(rest: str) -> tuple[str, str | None]:
    """``"MODEL@http://h:p/v1"`` -> ``("MODEL", "http://h:p/v1")``; no ``@URL`` -> None."""
    for marker in ("@http://", "@https://"):
        i = rest.find(marker)
        if i >= 0:
            return rest[:i], rest[i + 1 :]
    return rest, None


def make_client(spec: str, *, env: Mapping[str, str] | None = None, **kw: Any) -> LLMClient:
    """Build an LLM client from a short string.

    Args:
        spec: one of :data:`SPEC_FORMS`, e.g. ``"openai:gpt-4o-mini"``,
            ``"vllm:memory-lora@http://10.0.0.5:8000/v1"``, ``"ollama:qwen2.5:7b"``,
            ``"local:smollm2-135m"``, ``"scripted"``.
        env: where keys and base URLs are read from (default ``os.environ``).
        **kw: passed to the client's constructor (``retry=``, ``timeout=``,
            ``default_params=``, ``replies=`` for ``scripted``, …).

    Returns:
        An object implementing :class:`LLMClient`.

    Raises:
        ValueError: the spec is not one of the known forms (the message lists them).
        LLMError: a required API key is missing.
    """
    from automem_sdk.errors import LLMError

    environ: Mapping[str, str] = os.environ if env is None else env
    spec = spec.strip()
    provider, sep, rest = spec.partition(":")
    provider = provider.lower()
    if provider == "scripted":
        replies = kw.pop("replies", None)
        if replies is None:
            replies = [rest] if rest else [DEFAULT_SCRIPTED_REPLY]
            kw.setdefault("when_exhausted", "cycle")
        return ScriptedClient(replies, **kw)
    if not sep:
        raise _unknown(spec, "missing 'provider:'")
    if provider == "openai":
        if not rest:
            raise _unknown(spec, "openai needs a model name")
        base = kw.pop("base_url", None) or environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
        key = kw.pop("api_key", None) or environ.get("OPENAI_API_KEY")
        if not key and base.rstrip("/") == OPENAI_BASE_URL:
            raise LLMError("openai:MODEL needs an API key: set OPENAI_API_KEY or pass api_key=")
        return OpenAICompatClient(base, rest, api_key=key, **kw)
    if provider == "anthropic":
        if not rest:
            raise _unknown(spec, "anthropic needs a model name")
        if "client" not in kw:
            key = kw.pop("api_key", None) or environ.get("ANTHROPIC_API_KEY")
            if not key:
                raise LLMError(
                    "anthropic:MODEL needs an API key: set ANTHROPIC_API_KEY or pass api_key="
                )
            kw["api_key"] = key
        return AnthropicClient(rest, **kw)
    if provider in ("vllm", "ollama"):
        model, url = _split_at_url(rest)
        if not model:
            raise _unknown(spec, f"{provider} needs a model name")
        if provider == "vllm":
            base = url or VLLM_BASE_URL
            key = kw.pop("api_key", None) or environ.get("VLLM_API_KEY")
        else:
            host = environ.get("OLLAMA_HOST")
            default = f"{host.rstrip('/')}/v1" if host else OLLAMA_BASE_URL
            if host and "://" not in host:
                default = f"http://{host.rstrip('/')}/v1"
            base = url or default
            key = kw.pop("api_key", None)
        return OpenAICompatClient(base, model, api_key=key, **kw)
    if provider == "llamacpp":
        model, url = _split_at_url(rest)
        if url is None and model.startswith(("http://", "https://")):
            model, url = "", model
        return OpenAICompatClient(
            url or LLAMACPP_BASE_URL, model or "default", api_key=kw.pop("api_key", None), **kw
        )
    if provider == "local":
        if not rest:
            raise _unknown(spec, "local needs a model alias or path")
        from automem_sdk.llm.local import make_local_client

        local: LLMClient = make_local_client(rest, **kw)
        return local
    raise _unknown(spec, f"unknown provider {provider!r}")
