"""Every adapter example runs offline (``--fake``) and leaves real memory files behind."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from automem_sdk import MemoryStore, read_trace

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def run(name: str, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_custom_agent(tmp_path: Path) -> None:
    url = (tmp_path / "mem").as_uri()
    out = run("custom_agent.py", ["--fake", "--memory", url], tmp_path)
    assert "agent: Hi Ada! Order 42 is still due to ship on Friday." in out
    assert re.search(r"ERROR memory_upsert: PARSE ERROR: .*not valid JSON", out)
    store = MemoryStore(url)
    assert store.read("profile.md") == "name: Ada\n"
    assert store.read("notes.md") == "order 42: delayed at the depot, ships Friday\n"


@pytest.mark.skipif(not have("langchain", "langchain_core"), reason="needs langchain v1")
def test_langchain_agent(tmp_path: Path) -> None:
    url = (tmp_path / "mem").as_uri()
    trace = tmp_path / "lc-trace.jsonl"
    out = run("langchain_agent.py", ["--fake", "--memory", url, "--trace", str(trace)], tmp_path)
    assert "agent: It is sunny and 24 C in Lisbon. Have a good trip!" in out
    assert "agent: You are going to Lisbon." in out  # recalled from memory only
    store = MemoryStore(url)
    assert store.read("notes.md") == (
        "I'm planning a trip to Lisbon. What's the weather in Lisbon?\n"
    )
    t = read_trace(str(trace))
    assert t.complete and [turn.routine for turn in t.turns] == ["log", "log"]


def test_langchain_example_adds_at_most_ten_lines_for_memory() -> None:
    code = (EXAMPLES / "langchain_agent.py").read_text().split('"""', 2)[2]  # after the docstring
    lines = code.splitlines()
    marked = [ln for ln in lines if ln.rstrip().endswith("# +memory")]
    assert 1 <= len(marked) <= 10, marked
    assert any("with_memory(agent" in ln for ln in marked)
    unmarked = [ln for ln in lines if ln not in marked]
    assert not any(
        w in ln for ln in unmarked for w in ("with_memory", "ScriptedClient", ".finish(")
    )


@pytest.mark.skipif(not have("anthropic", "httpx2"), reason="needs the anthropic extra")
def test_anthropic_memory_tool(tmp_path: Path) -> None:
    url = (tmp_path / "mem").as_uri()
    out = run("anthropic_memory_tool.py", ["--fake", "--memory", url], tmp_path)
    assert "claude: Done: everything about you is in /memories/people/ada.md." in out
    store = MemoryStore(url)
    assert store.list() == ["people/ada.md"]
    assert store.read("people/ada.md") == (
        "# Ada\n- lives in: Lisbon\n- drinks: coffee\n- allergy: peanuts\n"
    )
    assert (tmp_path / "mem" / "people" / "ada.md").is_file()
    assert [e.op for e in store.history()] == [
        "create",
        "write",
        "write",
        "create",
        "rename",
        "delete",
    ]


def test_two_model_vllm(tmp_path: Path) -> None:
    url = (tmp_path / "mem").as_uri()
    for seed in (1, 5):
        out = run("two_model_vllm.py", ["--fake", "--memory", url, "--seed", str(seed)], tmp_path)
        assert "progression=1.00" in out
        assert "models in the trace: Qwen/Qwen2.5-7B-Instruct, memory-lora" in out
        trace = read_trace(url + "-trace.jsonl")
        assert trace.header.mode == "two-model"
        assert trace.header.models == {"memory": "memory-lora", "task": "Qwen/Qwen2.5-7B-Instruct"}
        assert {t.routine for t in trace.turns if t.model == "memory-lora"} == {"log", "plan"}
        assert {t.routine for t in trace.turns if t.model != "memory-lora"} == {"act"}
    store = MemoryStore(url)
    code = re.search(r"door code: (\d+)", store.read("notes.md"))
    assert code is not None and code.group(1) in ("1234", "4711", "9052")


@pytest.mark.s3
def test_s3_memory(tmp_path: Path, s3_store_url: tuple[str, dict[str, Any]]) -> None:
    url, opts = s3_store_url
    endpoint = opts["client_kwargs"]["endpoint_url"]
    out = run(
        "s3_memory.py",
        ["--fake", "--memory", url, "--endpoint-url", endpoint],
        tmp_path,
        {"FSSPEC_S3_KEY": "testing", "FSSPEC_S3_SECRET": "testing"},
    )
    assert "A locked door." in out and "-> open door" in out
    assert "memory_search(key): notes.md:1: A hall. A small key lies under the mat." in out
    store = MemoryStore(url, opts)
    assert store.read("notes.md") == "A hall. A small key lies under the mat.\n"
    assert [e.op for e in store.history()][-1] == "append"


@pytest.mark.s3
@pytest.mark.slow
@pytest.mark.skipif(not have("moto", "s3fs"), reason="needs moto[server] and s3fs")
def test_s3_memory_starts_its_own_server(tmp_path: Path) -> None:
    out = run("s3_memory.py", ["--fake"], tmp_path)
    assert "journal of s3://automem-demo/agents/run-1:" in out
    assert "+A hall. A small key lies under the mat." in out


def test_examples_without_fake_explain_what_they_need(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "OPENAI_BASE_URL": ""}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "custom_agent.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stdout
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "s3_memory.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--memory s3://" in proc.stdout


@pytest.mark.skipif(not have("langgraph"), reason="needs langchain v1 (langgraph)")
def test_readme_langgraph_store_example_runs_as_written() -> None:
    readme = (ROOT / "README.md").read_text()
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "AutomemStore(" in b
    )
    code = block.replace("memory://langgraph-demo", "memory://readme-lg-" + os.urandom(4).hex())
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.splitlines() == ["{'drink': 'tea', 'visits': 3}", "[('users', 'alice')]"]
