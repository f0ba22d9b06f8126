"""Packaging: light import, public API resolves, namespace mapping, CLI entry point."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import automem_sdk

HEAVY = [
    "torch",
    "transformers",
    "peft",
    "nle",
    "minihack",
    "crafter",
    "langchain_core",
    "anthropic",
    "s3fs",
    "trl",
]


def test_import_is_light() -> None:
    code = (
        "import sys, json, automem_sdk; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_every_public_name_resolves() -> None:
    for name in automem_sdk.__all__:
        assert getattr(automem_sdk, name) is not None, name


def test_module_all_lists_resolve() -> None:
    for mod in [
        "agent",
        "agent_context",
        "agent_policies",
        "agent_prompts",
        "agent_routine",
        "agent_trace",
        "deciders",
        "op_handlers",
        "op_models",
        "codec",
        "diagnostics",
        "env",
        "errors",
        "ops",
        "scaffold",
        "store",
        "tools",
        "trace",
        "llm",
        "llm.batching",
        "llm.local",
        "llm.local_generate",
        "llm.local_models",
        "llm.options",
        "llm.providers",
    ]:
        m = importlib.import_module(f"automem_sdk.{mod}")
        for name in getattr(m, "__all__", []):
            assert hasattr(m, name), f"automem_sdk.{mod}.{name}"


def test_subpackages_map_into_the_namespace() -> None:
    for sub, folder in [
        ("adapters", "adapters"),
        ("trainers", "trainers"),
        ("benchmarks", "benchmarks"),
    ]:
        mod = importlib.import_module(f"automem_sdk.{sub}")
        assert Path(mod.__file__).parent.name == folder


def test_errors_share_a_base() -> None:
    for name in [
        "MemoryPathError",
        "MemoryLimitError",
        "MemoryNotFoundError",
        "ScaffoldError",
        "TraceError",
        "LLMError",
    ]:
        assert issubclass(getattr(automem_sdk, name), automem_sdk.AutomemError)


def test_cli_entry_point_and_trace_show(tmp_path: Path) -> None:
    from automem_sdk.trace import StepRecord, TraceFooter, TraceHeader, TraceWriter, TurnRecord

    url = str(tmp_path / "t.jsonl")
    with TraceWriter(url) as w:
        w.write(TraceHeader(env="demo/env", seed=5))
        w.write(
            TurnRecord(
                step=0,
                routine="log",
                output="<|DONE|>",
                ops=[{"op": "done"}],
                results=[{"op": "done", "ok": True, "text": "done"}],
            )
        )
        w.write(StepRecord(step=0, action="north", changed=False))
        w.write(TraceFooter(steps=1, progression=0.25))
    out = subprocess.run(
        [sys.executable, "-m", "automem_sdk.cli", "trace", "show", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "demo/env" in out and "north" in out and "progression=0.250" in out
    assert "unproductive_rate" in out
    help_out = subprocess.run(
        [sys.executable, "-m", "automem_sdk.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "trace" in help_out


CORE_MODULES = [
    "agent",
    "codec",
    "diagnostics",
    "env",
    "episodes",
    "episode_result",
    "rundir",
    "atomic",
    "testing",
    "ops",
    "scaffold",
    "store",
    "tools",
    "trace",
    "llm",
]


def test_public_callables_have_docstrings() -> None:
    import inspect

    missing = []
    for mod in CORE_MODULES:
        m = importlib.import_module(f"automem_sdk.{mod}")
        for name in getattr(m, "__all__", []):
            obj = getattr(m, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
                missing.append(f"{mod}.{name}")
    assert missing == []


def test_api_reference_renders_every_core_module() -> None:
    from automem_sdk.apidoc import render_reference

    text = render_reference([f"automem_sdk.{m}" for m in CORE_MODULES])
    for mod in CORE_MODULES:
        assert f"## `automem_sdk.{mod}`" in text
    assert "### `parse_ops(text: str)" in text and "class `MemoryStore" in text


def test_api_reference_is_stable_across_hash_seeds() -> None:
    """Sets render sorted, so the generated reference does not churn between runs."""
    from automem_sdk.apidoc import _stable

    value = {"log": frozenset({"step", "pinned", "feedback"}), "x": ({"b", "a"}, 1)}
    assert _stable(value) == {"log": ["feedback", "pinned", "step"], "x": (["a", "b"], 1)}
