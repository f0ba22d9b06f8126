"""Proposers: the search proposer only produces valid scaffolds, the LLM proposer's prompt
holds what the issue asks (checked through a scripted client in a real loop), chains,
frozen scaffolds, and the keyless players that read memory from their prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from automem_sdk.trainers.structural import (
    AgentConfig,
    LLMProposer,
    StructuralConfig,
    StructuralError,
    StructuralTrainer,
)
from automem_sdk.trainers.structural.envs import (
    describe_agent,
    is_frozen,
    load_start_scaffold,
)
from automem_sdk.trainers.structural.loop import make_proposer
from automem_sdk.trainers.structural.proposal import ChainProposer, NoProposal
from automem_sdk.trainers.structural.reflect import Attempt, Reflection
from automem_sdk.trainers.structural.rundir import RunDir
from automem_sdk.trainers.structural.search import FAMILIES, SearchProposer
from automem_sdk.trainers.structural.validate import validate_candidate

from automem_sdk.llm import ScriptedClient
from automem_sdk.scaffold import load_scaffold


@pytest.mark.parametrize("start", ["minihack", "generic", "crafter", "cramped-map"])
def test_search_proposer_only_produces_valid_scaffolds(start: str) -> None:
    parent = load_start_scaffold(start)
    actions = ["north", "south", "east", "west", "noop", "wait"]
    sp = SearchProposer(seed=1, actions=actions)
    cands = sp.candidates(parent, Reflection(scaffold_id=parent.id), 60)
    assert len(cands) >= 30
    families = set()
    for p in cands:
        assert validate_candidate(p.scaffold, parent, actions=actions) == [], p.changelog
        assert p.scaffold.parent == parent.id and p.scaffold.id != parent.id
        fam = p.changelog[0].split(":")[1]
        assert fam in FAMILIES
        families.add(fam)
    assert families == set(FAMILIES)
    assert len({p.scaffold.id for p in cands}) == len(cands)


def test_search_proposer_is_deterministic_skips_tried_and_uses_its_bandit() -> None:
    parent = load_scaffold("minihack")
    r = Reflection(scaffold_id=parent.id)
    a = SearchProposer(seed=3).propose(parent, r)
    b = SearchProposer(seed=3).propose(parent, r)
    assert a.scaffold.id == b.scaffold.id
    fam = a.changelog[0].split(":")[1]
    tried = Attempt(
        iteration=1,
        parent=parent.id,
        candidate=a.scaffold.id,
        changelog=a.changelog,
        decision="accept",
        reason="",
    )
    r2 = Reflection(scaffold_id=parent.id, history=[tried])
    nxt = SearchProposer(seed=3).propose(parent, r2)
    assert nxt.scaffold.id != a.scaffold.id
    # Every family tried once, one of them accepted: UCB1 goes back to the winner.
    hist = [
        Attempt(
            iteration=i,
            parent="p",
            candidate=f"c{i}",
            changelog=[f"search:{f}: x"],
            decision="accept" if f == fam else "reject",
            reason="",
        )
        for i, f in enumerate(FAMILIES)
    ]
    import random

    picks = [
        SearchProposer(seed=0).choose_family(
            Reflection(scaffold_id="p", history=hist), random.Random(k)
        )
        for k in range(5)
    ]
    assert set(picks) == {fam}
    with pytest.raises(ValueError, match="unknown search families"):
        SearchProposer(families=["nope"])


def test_chain_asks_the_next_proposer_when_one_has_nothing() -> None:
    parent = load_scaffold("minihack")
    cfg = StructuralConfig(envs=["toy/maze-6"], gate_seeds=[1], proposer="heuristic+search")
    chain = make_proposer(cfg)
    assert isinstance(chain, ChainProposer) and chain.name == "heuristic+search"
    p = chain.propose(parent, Reflection(scaffold_id=parent.id))
    assert p.proposer == "search"

    class Empty:
        name = "empty"

        def propose(self, *_a: object, **_k: object) -> object:
            raise NoProposal("nothing")

    with pytest.raises(NoProposal, match="empty: nothing"):
        ChainProposer([Empty()]).propose(parent, Reflection(scaffold_id=parent.id))  # type: ignore[list-item]


def test_frozen_scaffold_is_refused(tmp_path: Path) -> None:
    body = load_scaffold("minihack").to_yaml()
    frozen = tmp_path / "memgpt.yaml"
    frozen.write_text(body + "frozen: true\n", encoding="utf-8")
    plain = tmp_path / "plain.yaml"
    plain.write_text(body, encoding="utf-8")
    assert is_frozen(str(frozen)) and not is_frozen(str(plain)) and not is_frozen("minihack")
    cfg = StructuralConfig(
        envs=["toy/maze-6"], scaffold=str(frozen), reflection_seeds=[0], gate_seeds=[1]
    )
    with pytest.raises(StructuralError, match="frozen: true"):
        StructuralTrainer(str(tmp_path / "run"), cfg, quiet=True).run()
    assert not (tmp_path / "run" / "state.json").exists()


def _patch_reply(cap: int) -> str:
    """Set map.md's cap (a JSON Patch on files/0)."""
    return (
        "Changelog:\n- raise map.md max_bytes (writes refused over its cap)\n\n```json\n"
        + json.dumps([{"op": "replace", "path": "/files/0/max_bytes", "value": cap}])
        + "\n```\n"
    )


def test_llm_proposer_prompt_holds_episodes_memory_gate_results_and_the_player(
    tmp_path: Path,
) -> None:
    client = ScriptedClient([_patch_reply(4096), _patch_reply(8192)])
    cfg = StructuralConfig(
        envs=["toy/maze-6"],
        scaffold="cramped-map",
        reflection_seeds=[0, 1, 2],
        gate_seeds=list(range(100, 104)),
        iterations=2,
        agent=AgentConfig(max_steps=60),
        proposer="llm (injected)",
        excerpt_chars=12000,
    )
    run = tmp_path / "llm"
    StructuralTrainer(
        str(run), cfg, proposer=LLMProposer(client, excerpt_chars=12000), quiet=True
    ).run()
    entries = RunDir(run).read_ledger()
    assert entries[0].decision == "accept"
    assert len(client.calls) == 2
    first = client.calls[0][0][-1].content
    second = client.calls[1][0][-1].content
    # What plays and what it reacts to.
    assert "What plays: mode unified" in first and "keyless scripted explorer" in first
    # Silent faults, named.
    assert "Silent faults" in first
    # The best and the worst episode side by side, with memory at the end.
    assert "Best episode (for contrast):" in first and "Worst episode:" in first
    assert "memory at the end:" in first and "--- map.md ---" in first
    # Per-seed gate results of the candidate tried in iteration 1.
    assert "Per-seed gate results of past candidates" in second
    seeds = ", ".join(f"{s.seed}:{s.parent:g}->{s.candidate:g}" for s in entries[0].scores)
    assert seeds in second


def test_describe_agent_names_what_reacts() -> None:
    text = describe_agent(AgentConfig(decider="prompt-explorer", max_steps=50))
    assert "result_chars" in text and "at most 50 steps" in text
    assert "an LLM" in describe_agent(AgentConfig(decider="openai:gpt-4o-mini"))


def test_prompt_explorer_sees_only_what_the_prompt_shows() -> None:
    pytest.importorskip("minihack")
    from automem_sdk.trainers.structural.evaluate import EpisodeEvaluator

    stock = load_scaffold("minihack")
    roomy = stock.child("more", limits=stock.limits.model_copy(update={"result_chars": 16000}))
    ev = EpisodeEvaluator(AgentConfig(decider="prompt-explorer", max_steps=100))
    plain = EpisodeEvaluator(AgentConfig(decider="explorer", max_steps=100))
    # Seed 301 of MazeWalk-15x15: the map outgrows 1500 characters before the exit.
    cut = ev.evaluate(stock, "minihack/MazeWalk-15x15", 301).progression
    full = ev.evaluate(roomy, "minihack/MazeWalk-15x15", 301).progression
    assert (cut, full) == (0.0, 1.0)
    # The structured-results explorer cannot tell the two apart.
    a = plain.evaluate(stock, "minihack/MazeWalk-15x15", 301).progression
    b = plain.evaluate(roomy, "minihack/MazeWalk-15x15", 301).progression
    assert a == b == 1.0
    with pytest.raises(StructuralError, match="NetHack and MiniHack only"):
        from automem_sdk.trainers.structural.envs import make_decider

        make_decider("prompt-explorer", "toy/maze-6")


def test_keyless_decider_names_resolve() -> None:
    pytest.importorskip("minihack")
    from automem_sdk.trainers.structural.envs import make_decider

    assert make_decider("task-policy", "minihack/MazeWalk-9x9").name == "nle-map-planner"
    assert make_decider("prompt-planner", "minihack/MazeWalk-9x9").name == "prompt-planner"
    assert make_decider("prompt-explorer", "nethack").name == "prompt-explorer"


def test_search_draws_the_limits_silent_faults_point_at() -> None:
    from automem_sdk.trainers.structural.faults import Fault

    parent = load_scaffold("minihack")
    fault = Fault(name="log_budget_exhausted", subject="ops", share=1.0)
    plain = Reflection(scaffold_id=parent.id)
    hinted = Reflection(scaffold_id=parent.id, faults=[fault])

    def share(r: Reflection) -> float:
        firsts = [SearchProposer(seed=k, families=["limits"]).propose(parent, r) for k in range(40)]
        return sum("max_log_ops" in p.changelog[0] for p in firsts) / len(firsts)

    assert share(plain) < 0.3
    assert share(hinted) > 0.4


def test_the_memgpt_baseline_is_refused_by_name_and_by_path(tmp_path: Path) -> None:
    bench = pytest.importorskip("automem_sdk.benchmarks.players.memgpt")
    assert is_frozen("memgpt")
    from importlib import resources

    path = resources.files("automem_sdk.benchmarks.data").joinpath("memgpt.yaml")
    assert is_frozen(str(path))
    assert bench.is_frozen("memgpt")
    for spec in ("memgpt", str(path)):
        cfg = StructuralConfig(
            envs=["toy/maze-6"], scaffold=spec, reflection_seeds=[0], gate_seeds=[1]
        )
        with pytest.raises(StructuralError, match="frozen: true"):
            StructuralTrainer(str(tmp_path / "run"), cfg, quiet=True).run()
