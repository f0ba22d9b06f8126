"""The adapters package: light import, lazy names, clear errors for missing extras, docs."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import automem_sdk.adapters as adapters


def test_import_is_light() -> None:
    code = (
        "import sys, json, automem_sdk.adapters as a, automem_sdk.testing as t; "
        "a.ToolDispatcher; a.memory_context; t.FakeOpenAIAPI; t.ScriptedClient; t.local_s3; "
        "print(json.dumps([m for m in ('langchain_core', 'langchain', 'anthropic') "
        "if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in adapters.__all__:
        obj = getattr(adapters, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name
    assert sorted(adapters.__dir__()) == sorted(adapters.__all__)


def test_fakes_live_in_testing_and_name_their_extra() -> None:
    import automem_sdk.testing as testing

    for name in testing.__all__:
        obj = getattr(testing, name)
        assert inspect.getdoc(obj), name
        assert name not in adapters.__all__, name
    assert sorted(testing.__dir__()) == sorted(testing.__all__)


def test_a_missing_extra_is_named() -> None:
    code = (
        "import sys; sys.modules['anthropic'] = None; sys.modules['langchain'] = None\n"
        "import automem_sdk.adapters as a\n"
        "for name in ('AutomemMemoryTool', 'MemoryMiddleware'):\n"
        "    try:\n"
        "        getattr(a, name)\n"
        "    except a.MissingExtraError as exc:\n"
        "        print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "AutomemMemoryTool needs 'anthropic': pip install 'automem-sdk[anthropic]'"
    assert lines[1].startswith("MemoryMiddleware needs 'langchain'")
    assert issubclass(adapters.MissingExtraError, ImportError)


def test_api_reference_renders_the_adapters() -> None:
    from automem_sdk.apidoc import render_module

    text = "\n".join(render_module("automem_sdk.adapters"))
    assert "class `AutomemMemoryTool" in text and "### `memory_tools(" in text
