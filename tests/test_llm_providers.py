"""The provider registry: lazy factories, install hints, registries of one's own."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from typing import Any

import pytest

import automem_sdk.llm as llm
from automem_sdk.errors import LLMError
from automem_sdk.llm import BUILTIN_PROVIDERS, SPEC_FORMS, ProviderRegistry, ScriptedClient
from automem_sdk.llm.providers import Provider


def echo_factory(rest: str, env: Mapping[str, str], **kw: Any) -> ScriptedClient:
    """A factory for the tests: replies with ``rest``."""
    return ScriptedClient([rest or env.get("ECHO", "")], model="echo", **kw)


def test_builtin_providers_are_read_only_and_give_the_spec_forms() -> None:
    assert list(BUILTIN_PROVIDERS) == [
        "scripted",
        "openai",
        "anthropic",
        "vllm",
        "ollama",
        "llamacpp",
        "local",
    ]
    assert tuple(p.form for p in BUILTIN_PROVIDERS.values()) == SPEC_FORMS
    with pytest.raises(TypeError):
        BUILTIN_PROVIDERS["x"] = BUILTIN_PROVIDERS["openai"]  # type: ignore[index]
    assert BUILTIN_PROVIDERS["anthropic"].install == "pip install 'automem-sdk[anthropic]'"


def test_make_client_is_a_registry_lookup_not_an_if_chain() -> None:
    source = inspect.getsource(llm.make_client)
    assert "if provider ==" not in source and len(source.splitlines()) < 40


def test_a_registry_of_ones_own() -> None:
    reg = ProviderRegistry()
    reg.register("echo", f"{__name__}:echo_factory", form="echo:TEXT")
    client = llm.make_client("echo:hello", providers=reg, env={})
    assert client.model == "echo" and client.chat([]).text == "hello"
    assert llm.make_client("echo:", providers=reg, env={"ECHO": "from env"}).chat([]).text == (
        "from env"
    )
    assert "echo" not in BUILTIN_PROVIDERS  # the built-in registry did not change
    with pytest.raises(ValueError, match="already registered"):
        reg.register("echo", f"{__name__}:echo_factory")
    reg.register("echo", f"{__name__}:echo_factory", form="echo:TEXT", clobber=True)
    with pytest.raises(ValueError, match="module:function"):
        reg.register("bad", "no_colon_here")
    with pytest.raises(ValueError, match="Known forms") as info:
        llm.make_client("nope:x", providers=reg, env={})
    assert "echo:TEXT" in str(info.value)


def test_a_missing_package_names_its_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = ProviderRegistry(
        {
            "ghost": Provider(
                "ghost",
                f"{__name__}:echo_factory",
                "ghost:MODEL",
                requires=("automem_no_such_module_xyz",),
                install="pip install 'automem-sdk[ghost]'",
            )
        }
    )
    with pytest.raises(LLMError, match=r"needs automem_no_such_module_xyz: pip install"):
        reg.make("ghost:m", env={})


def test_factories_are_imported_only_when_used() -> None:
    import subprocess

    code = (
        "import sys, automem_sdk.llm as m; m.make_client('scripted');"
        "print('automem_sdk.llm.local' in sys.modules, 'automem_sdk.llm.llamacpp_server' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
