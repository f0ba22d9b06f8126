"""The MemGPT/Letta-style baseline: frozen core blocks plus archival insert/search."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from automem_sdk.benchmarks.players.memgpt import is_frozen, load_memgpt_scaffold

from automem_sdk.agent import MemoryAgent, run_episode
from automem_sdk.llm import ScriptedClient
from automem_sdk.llm.base import Message
from automem_sdk.store import MemoryStore
from automem_sdk.trace import read_trace

GAMES = ("minihack/MazeWalk-9x9", "crafter", "nethack")


def _yaml_path() -> str:
    return str(resources.files("automem_sdk.benchmarks.data").joinpath("memgpt.yaml"))


def test_scaffold_is_core_blocks_plus_archival_and_frozen() -> None:
    sc = load_memgpt_scaffold()
    assert [f.name for f in sc.files if f.pinned] == [
        "core/persona.md",
        "core/task.md",
        "core/notes.md",
    ]
    assert [f.name for f in sc.files if not f.pinned] == ["archival.md"]
    assert sorted(sc.ops) == ["append", "replace", "search"]  # nothing reads a whole file
    assert {c.name for c in sc.custom_ops} == {
        "CORE_MEMORY_APPEND",
        "CORE_MEMORY_REPLACE",
        "ARCHIVAL_MEMORY_INSERT",
        "ARCHIVAL_MEMORY_SEARCH",
    }
    assert is_frozen("memgpt") and is_frozen(_yaml_path())
    assert not is_frozen("minihack")
    from automem_sdk.benchmarks.players.memgpt import resolve_scaffold

    assert resolve_scaffold(_yaml_path()) == sc  # the file itself is usable as --scaffold
    assert resolve_scaffold("minihack") == "minihack"


def test_structural_trainer_refuses_to_edit_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "automem_sdk.cli", "train", "structural"),
            *("--run-dir", str(tmp_path / "run"), "--env", "toy/maze-5"),
            *("--scaffold", _yaml_path(), "--reflection-seeds", "0", "--gate-seeds", "1"),
            *("--iterations", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "frozen" in proc.stderr, proc.stderr
    assert not (tmp_path / "run" / "state.json").exists()  # no candidate was ever made


def _scripted_llm(env_actions: list[str]) -> ScriptedClient:
    """A model that uses MemGPT's functions: core append, archival insert and search."""

    def reply(messages: list[Message]) -> str:
        last = messages[-1].content
        if "LOG:" in messages[1].content and last == messages[1].content:
            return (
                "<|CORE_MEMORY_APPEND|>notes|step seen<|END|>"
                "<|ARCHIVAL_MEMORY_INSERT|>fact: walls everywhere<|END|><|DONE|>"
            )
        if "PLAN:" in messages[1].content and last == messages[1].content:
            return "<|SEARCH|>archival.md|fact<|END|>"
        return f"<|ACTION|>{env_actions[0]}<|END|>"

    return ScriptedClient(reply)


@pytest.mark.games
@pytest.mark.parametrize("env_name", GAMES)
def test_an_llm_agent_uses_the_memgpt_functions(env_name: str, tmp_path: Path) -> None:
    pytest.importorskip("minihack" if env_name != "crafter" else "crafter")
    from automem_sdk.benchmarks.registry import make_env

    env = make_env(env_name, max_steps=3)
    try:
        store = MemoryStore(str(tmp_path / "mem"))
        agent = MemoryAgent(store, load_memgpt_scaffold(), _scripted_llm(env.actions))
        res = run_episode(env, agent, 0, max_steps=3, trace=str(tmp_path / "t.jsonl"))
    finally:
        env.close()
    assert res.steps == 3
    assert store.read("core/notes.md").count("step seen") == 3
    assert store.read("archival.md").count("fact: walls everywhere") == 3
    trace = read_trace(str(tmp_path / "t.jsonl"))
    plans = [t for t in trace.turns if t.routine == "plan" and t.turn == 0]
    assert "step seen" in plans[-1].messages[1].content  # core memory shown in every prompt
    searches = [r for t in plans for r in t.results if r["op"] == "search"]
    assert searches and all(r["ok"] for r in searches)
    assert "walls everywhere" in searches[-1]["text"]


@pytest.mark.games
def test_the_explorer_runs_memgpt_shaped_in_all_three_games(tmp_path: Path) -> None:
    pytest.importorskip("minihack")
    pytest.importorskip("crafter")
    from automem_sdk.benchmarks.harness.runner import BenchConfig, run_benchmark

    rows = run_benchmark(
        BenchConfig(
            out=str(tmp_path),
            envs=list(GAMES),
            agents=["explorer"],
            seeds=[0],
            max_steps=40,
            scaffold="memgpt",
            quiet=True,
        )
    )
    assert {r.agent for r in rows} == {"explorer@memgpt"} and len(rows) == 3
    assert all(r.n_ops > 0 for r in rows)
    mem = tmp_path / "memory" / "explorer@memgpt"
    maze = (mem / "minihack" / "MazeWalk-9x9" / "0" / "archival.md").read_text()
    assert "visited exits=" in maze  # the map lives in archival memory
    notes = (mem / "crafter" / "0" / "core" / "notes.md").read_text()
    assert ":" in notes and "," in notes  # resource locations in the notes core block
    assert not (mem / "crafter" / "0" / "resources.md").exists()
