"""MemoryAgent's parts: text from the scaffold, one policy per mode, the shared context."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import automem_sdk
from automem_sdk import MemoryStore, run_episode
from automem_sdk.agent import MemoryAgent
from automem_sdk.agent_context import AgentContext
from automem_sdk.agent_policies import ObservePolicy, TwoModelPolicy, UnifiedPolicy, make_policy
from automem_sdk.deciders import ExternalPolicy, RoutineRequest
from automem_sdk.errors import ScaffoldError
from automem_sdk.scaffold import AGENT_MESSAGES, DEFAULT_ACT_PROMPT, Prompts, load_scaffold

from .agent_helpers import CorridorEnv, FnDecider

AGENT_MODULES = ["agent", "agent_prompts", "agent_routine", "agent_policies", "agent_context"]


def test_every_agent_message_is_used_and_none_is_written_in_code() -> None:
    strings: set[str] = set()
    for name in AGENT_MODULES:
        tree = ast.parse((Path(automem_sdk.__file__).parent / f"{name}.py").read_text())
        strings |= {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
    assert {k for k in AGENT_MESSAGES if k in strings} == set(AGENT_MESSAGES)
    for key, text in AGENT_MESSAGES.items():
        fixed = max(text.replace("{", "}").split("}")[::2], key=len)  # longest literal part
        if len(fixed) > 12:
            assert not any(fixed in s for s in strings), f"{key}: {fixed!r} is in the code"
    assert Prompts.model_fields["act"].default == DEFAULT_ACT_PROMPT


def test_scaffold_messages_change_what_the_model_reads(memory_url: str) -> None:
    base = load_scaffold("generic")
    custom = base.child(
        "French framing",
        messages={
            "results": "Résultats:\n{results}\n[{ops_left} restantes] {next}",
            "plan_continue": "Continuez.",
            "fallback_taken": "repli {action} ({reason})",
            "plan_without_action": "pas d'action",
        },
    ).check()
    assert custom.id != base.id and load_scaffold("generic").id == base.id
    replies = iter(["<|READ|>notes.md<|END|>", "<|DONE|>", "<|DONE|>", "<|DONE|>"])
    dec = FnDecider(lambda r: "<|DONE|>" if r.routine == "log" else next(replies, "<|DONE|>"))
    agent = MemoryAgent(MemoryStore(memory_url), custom, dec, actions=CorridorEnv.actions)
    agent.reset(actions=CorridorEnv.actions)
    assert agent.step("You are at cell 0.") == "east"  # the fallback: the first action
    plan = [r for r in dec.requests if r.routine == "plan"]
    assert plan[1].messages[-1].content.startswith("Résultats:\n")
    assert plan[1].messages[-1].content.endswith("restantes] Continuez.")
    agent.step("You are at cell 0.")
    log_prompt = [r for r in dec.requests if r.routine == "log"][-1].messages[-1].content
    assert "Note: repli east (pas d'action)" in log_prompt


def test_bad_message_overrides_are_refused() -> None:
    base = load_scaffold("generic")
    with pytest.raises(ScaffoldError, match="unknown messages \\['nope'\\]"):
        base.child("x", messages={"nope": "hi"})
    with pytest.raises(ScaffoldError, match="message 'note' uses unknown placeholders \\['who'\\]"):
        base.child("x", messages={"note": "{who}: {text}"}).check()
    assert base.child("x", messages={"note": ""}).message("note", text="t") == ""  # blanked
    with pytest.raises(KeyError):
        base.message("no_such_message")
    round_trip = load_scaffold("generic").to_yaml()
    assert "messages" not in round_trip  # defaults are not written out


def test_one_policy_per_mode() -> None:
    assert isinstance(make_policy("unified", None), UnifiedPolicy)
    task = ExternalPolicy("outside")
    assert isinstance(make_policy("two-model", task), TwoModelPolicy)
    assert isinstance(make_policy("observe", None), ObservePolicy)
    with pytest.raises(ValueError, match="needs a task_decider"):
        make_policy("two-model", None)
    with pytest.raises(ValueError, match="mode must be"):
        make_policy("solo", None)


def test_observe_mode_with_an_external_policy(memory_url: str) -> None:
    dec = FnDecider(lambda r: "<|APPEND|>notes.md|seen<|END|><|DONE|>")
    agent = MemoryAgent(
        MemoryStore(memory_url),
        "generic",
        dec,
        mode="observe",
        task_decider=ExternalPolicy("my-agent"),
    )
    assert agent.models == {"memory": "fn", "task": "my-agent"}
    results = agent.observe("obs", "north")
    assert any(r.op == "append" and r.ok for r in results)
    with pytest.raises(RuntimeError, match="acts outside the agent"):
        agent.step("obs")


def test_context_resolves_actions_and_counts_usage(memory_url: str) -> None:
    ctx = AgentContext(MemoryStore(memory_url), load_scaffold("generic"), actions=["North"])
    assert ctx.resolve_action(" north ") == "North" and ctx.resolve_action("up") is None
    assert ctx.actions_text() == "North"
    ctx.actions = None
    assert ctx.actions_text() == AGENT_MESSAGES["any_action"] and ctx.resolve_action("x") == "x"
    ctx.feedback.append("hello")
    assert ctx.take_feedback() == "Note: hello" and ctx.feedback == []


def test_episode_state_lives_in_the_context(memory_url: str) -> None:
    def play(r: RoutineRequest) -> str:
        return "<|DONE|>" if r.routine == "log" else "<|ACTION|>east<|END|>"

    agent = MemoryAgent(MemoryStore(memory_url), "generic", FnDecider(play))
    res = run_episode(CorridorEnv(), agent, seed=0)
    assert res.steps == agent.step_index == agent.ctx.step_index == 5
    agent.step_index = 2  # adapters and replay set it
    assert agent.ctx.step_index == 2
