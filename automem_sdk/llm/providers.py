"""One registry of LLM providers: ``name -> factory path + install hint``, loaded lazily.

Like fsspec's protocol registry: :func:`~automem_sdk.llm.make_client` splits a spec
``"provider:rest"``, looks the provider up in a :class:`ProviderRegistry` and imports its
factory only then, so ``import automem_sdk.llm`` stays light and a missing optional
package is reported with the command that installs it. A factory is
``fn(rest, env, **kw) -> LLMClient``; :meth:`ProviderRegistry.register` adds one to a
registry of your own (the built-in one, :data:`BUILTIN_PROVIDERS`, is immutable).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from automem_sdk.errors import LLMError

if TYPE_CHECKING:
    from automem_sdk.llm.base import LLMClient

__all__ = [
    "BUILTIN_PROVIDERS",
    "Provider",
    "ProviderRegistry",
    "SpecError",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
VLLM_BASE_URL = "http://127.0.0.1:8000/v1"
OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1"
LLAMACPP_BASE_URL = "http://127.0.0.1:8080/v1"
DEFAULT_SCRIPTED_REPLY = "<|DONE|>"

Factory = Callable[..., "LLMClient"]


class SpecError(ValueError):
    """A spec that names no known provider or lacks a part it needs (the message lists
    the known forms)."""


@dataclass(frozen=True)
class Provider:
    """One provider of LLM clients.

    Attributes:
        name: the spec prefix (``"openai"`` in ``"openai:gpt-4o-mini"``).
        factory: ``"module:function"`` building the client from ``(rest, env, **kw)``.
        form: the spec form shown in error messages and docs.
        requires: modules that must be importable (checked before the factory runs).
        install: what to run when one of them is missing.
    """

    name: str
    factory: str
    form: str
    requires: tuple[str, ...] = ()
    install: str = ""

    def load(self) -> Factory:
        """Import the factory, or say which package to install.

        Raises:
            LLMError: a required module is missing (with :attr:`install`).
        """
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            raise LLMError(f"the {self.name!r} provider needs {', '.join(missing)}: {self.install}")
        module, _, attr = self.factory.partition(":")
        fn: Factory = getattr(importlib.import_module(module), attr)
        return fn


class ProviderRegistry(Mapping[str, Provider]):
    """Providers by name; build clients from specs with :meth:`make`.

    Args:
        providers: the initial providers (default: :data:`BUILTIN_PROVIDERS`).
    """

    def __init__(self, providers: Mapping[str, Provider] | None = None) -> None:
        self._providers: dict[str, Provider] = dict(
            BUILTIN_PROVIDERS if providers is None else providers
        )

    def __getitem__(self, name: str) -> Provider:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def register(
        self,
        name: str,
        factory: str,
        *,
        form: str = "",
        requires: tuple[str, ...] = (),
        install: str = "",
        clobber: bool = False,
    ) -> Provider:
        """Add a provider (``factory`` is ``"module:function"``).

        Raises:
            ValueError: ``name`` is taken (pass ``clobber=True`` to replace it), or
                ``factory`` is not ``module:function``.
        """
        if name in self._providers and not clobber:
            raise ValueError(f"provider {name!r} is already registered (clobber=True replaces)")
        if factory.count(":") != 1 or not all(factory.split(":")):
            raise ValueError(f"factory must be 'module:function', got {factory!r}")
        provider = Provider(name, factory, form or f"{name}:...", requires, install)
        self._providers[name] = provider
        return provider

    @property
    def forms(self) -> tuple[str, ...]:
        """The spec forms of every provider, for messages and docs."""
        return tuple(p.form for p in self._providers.values())

    def error(self, spec: str, why: str) -> SpecError:
        """The error for a spec this registry cannot build (lists the known forms)."""
        forms = "\n  ".join(self.forms)
        return SpecError(f"cannot make an LLM client from {spec!r}: {why}. Known forms:\n  {forms}")

    def make(self, spec: str, *, env: Mapping[str, str] | None = None, **kw: Any) -> LLMClient:
        """Build a client from ``"provider:rest"`` (see :func:`~automem_sdk.llm.make_client`).

        Raises:
            SpecError: unknown provider or a malformed spec.
            LLMError: a required package or API key is missing.
        """
        environ: Mapping[str, str] = os.environ if env is None else env
        spec = spec.strip()
        name, sep, rest = spec.partition(":")
        provider = self._providers.get(name.lower())
        if provider is None:
            why = "missing 'provider:'" if not sep else f"unknown provider {name.lower()!r}"
            raise self.error(spec, why)
        if not sep and name.lower() != "scripted":
            raise self.error(spec, "missing 'provider:'")
        try:
            return provider.load()(rest, environ, **kw)
        except SpecError as exc:
            raise self.error(spec, str(exc)) from None


def split_at_url(rest: str) -> tuple[str, str | None]:
    """``"MODEL@http://h:p/v1"`` -> ``("MODEL", "http://h:p/v1")``; no ``@URL`` -> None."""
    for marker in ("@http://", "@https://"):
        i = rest.find(marker)
        if i >= 0:
            return rest[:i], rest[i + 1 :]
    return rest, None


# ------------------------------------------------------------------- factories
def scripted_client(rest: str, env: Mapping[str, str], **kw: Any) -> LLMClient:
    """``scripted`` / ``scripted:REPLY``: a :class:`~automem_sdk.llm.ScriptedClient`."""
    from automem_sdk.llm.scripted import ScriptedClient

    replies = kw.pop("replies", None)
    if replies is None:
        replies = [rest] if rest else [DEFAULT_SCRIPTED_REPLY]
        kw.setdefault("when_exhausted", "cycle")
    return ScriptedClient(replies, **kw)


def openai_client(rest: str, env: Mapping[str, str], **kw: Any) -> LLMClient:
    """``openai:MODEL``: OpenAI (or ``OPENAI_BASE_URL``), key from ``OPENAI_API_KEY``."""
    from automem_sdk.llm.openai_compat import OpenAICompatClient

    if not rest:
        raise SpecError("openai needs a model name")
    base = kw.pop("base_url", None) or env.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
    key = kw.pop("api_key", None) or env.get("OPENAI_API_KEY")
    if not key and base.rstrip("/") == OPENAI_BASE_URL:
        raise LLMError("openai:MODEL needs an API key: set OPENAI_API_KEY or pass api_key=")
    return OpenAICompatClient(base, rest, api_key=key, **kw)


def anthropic_client(rest: str, env: Mapping[str, str], **kw: Any) -> LLMClient:
    """``anthropic:MODEL``: the Messages API, key from ``ANTHROPIC_API_KEY``."""
    from automem_sdk.llm.anthropic_client import AnthropicClient

    if not rest:
        raise SpecError("anthropic needs a model name")
    if "client" not in kw:
        key = kw.pop("api_key", None) or env.get("ANTHROPIC_API_KEY")
        if not key:
            raise LLMError(
                "anthropic:MODEL needs an API key: set ANTHROPIC_API_KEY or pass api_key="
            )
        kw["api_key"] = key
    return AnthropicClient(rest, **kw)


def vllm_client(rest: str, env: Mapping[str, str], **kw: Any) -> LLMClient:
    """``vllm:MODEL[@URL]``: vLLM's OpenAI server (a LoRA adapter is a MODEL)."""
    from automem_sdk.llm.openai_compat import OpenAICompatClient

    model, url = split_at_url(rest)
    if not model:
        raise SpecError("vllm needs a model name")
    key = kw.pop("api_key", None) or env.get("VLLM_API_KEY")
    return OpenAICompatClient(url or VLLM_BASE_URL, model, api_key=key, **kw)


def ollama_client(rest: str, env: Mapping[str, str], **kw: Any) -> LLMClient:
    """``ollama:MODEL[@URL]``: Ollama's OpenAI endpoint (``OLLAMA_HOST`` honoured)."""
    from automem_sdk.llm.openai_compat import OpenAICompatClient

    model, url = split_at_url(rest)
    if not model:
        raise SpecError("ollama needs a model name")
    host = env.get("OLLAMA_HOST")
    default = f"{host.rstrip('/')}/v1" if host else OLLAMA_BASE_URL
    if host and "://" not in host:
        default = f"http://{host.rstrip('/')}/v1"
    return OpenAICompatClient(url or default, model, api_key=kw.pop("api_key", None), **kw)


def llamacpp_client(rest: str, env: Mapping[str, str], **kw: Any) -> LLMClient:
    """``llamacpp:[MODEL@]URL``: a running llama.cpp server (op grammar as GBNF)."""
    from automem_sdk.llm.llamacpp_server import LlamaCppClient

    model, url = split_at_url(rest)
    if url is None and model.startswith(("http://", "https://")):
        model, url = "", model
    return LlamaCppClient(
        url or LLAMACPP_BASE_URL, model or "default", api_key=kw.pop("api_key", None), **kw
    )


def local_client(rest: str, env: Mapping[str, str], **kw: Any) -> LLMClient:
    """``local:ALIAS|PATH``: an in-process model (transformers) or a llama.cpp child."""
    from automem_sdk.llm.local import make_local_client

    if not rest:
        raise SpecError("local needs a model alias or path")
    client: LLMClient = make_local_client(rest, **kw)
    return client


_HERE = "automem_sdk.llm.providers"
BUILTIN_PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {
        p.name: p
        for p in (
            Provider("scripted", f"{_HERE}:scripted_client", "scripted"),
            Provider(
                "openai",
                f"{_HERE}:openai_client",
                "openai:MODEL  (OPENAI_API_KEY, optional OPENAI_BASE_URL)",
            ),
            Provider(
                "anthropic",
                f"{_HERE}:anthropic_client",
                "anthropic:MODEL  (ANTHROPIC_API_KEY)",
                requires=("anthropic",),
                install="pip install 'automem-sdk[anthropic]'",
            ),
            Provider(
                "vllm",
                f"{_HERE}:vllm_client",
                "vllm:MODEL[@http://host:port/v1]  (a LoRA adapter is a MODEL; "
                "VLLM_API_KEY optional)",
            ),
            Provider(
                "ollama",
                f"{_HERE}:ollama_client",
                "ollama:MODEL[@http://host:port/v1]  (OLLAMA_HOST optional)",
            ),
            Provider(
                "llamacpp", f"{_HERE}:llamacpp_client", "llamacpp:[MODEL@]http://host:port/v1"
            ),
            Provider(
                "local",
                f"{_HERE}:local_client",
                "local:smollm2-135m | local:PATH  (extra [local]; "
                "backend='auto'|'llamacpp'|'transformers')",
            ),
        )
    }
)
"""The providers :func:`~automem_sdk.llm.make_client` knows (read-only)."""
