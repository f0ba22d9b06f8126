"""MemoryAgent: routines, modes, fallbacks, traces, budgets, and a 10k-output fuzz."""

from __future__ import annotations

import random

import pytest

from automem_sdk import MemoryStore, read_trace, run_episode, wrap
from automem_sdk.agent import MemoryAgent, estimate_tokens
from automem_sdk.codec import encode_ops
from automem_sdk.diagnostics import diagnose
from automem_sdk.env import RoutineRequest
from automem_sdk.errors import LLMTimeoutError
from automem_sdk.llm.base import Completion
from automem_sdk.ops import AppendOp, ReadOp, SearchOp, UpsertOp

from .agent_helpers import CorridorEnv, FnDecider


def unified(req: RoutineRequest) -> str:
    if req.routine == "log":
        return f"<|APPEND|>notes.md|{req.observation}<|END|><|DONE|>"
    if req.turn == 0:
        return "<|SEARCH|>notes.md|key<|END|>"
    return "<|ACTION|>east<|END|>"


def test_unified_episode_writes_memory_and_trace(memory_url: str, tmp_path) -> None:
    store = MemoryStore(memory_url)
    agent = MemoryAgent(store, "generic", FnDecider(unified))
    trace = str(tmp_path / "ep.jsonl.gz")
    res = run_episode(CorridorEnv(), agent, seed=3, trace=trace)
    assert res.progression == 1.0 and res.steps == 5
    notes = store.read("notes.md").splitlines()
    assert notes[0] == "You are at cell 0 of 5." and len(notes) == 5
    tr = read_trace(trace)
    assert tr.complete and tr.header.seed == 3 and tr.header.scaffold_id == agent.scaffold.id
    assert [s.action for s in tr.steps] == ["east"] * 5
    routines = {(t.step, t.routine, t.turn) for t in tr.turns}
    assert (0, "log", 0) in routines and (0, "plan", 1) in routines
    search_turn = next(t for t in tr.turns if t.routine == "plan" and t.turn == 0 and t.step == 2)
    assert "A key lies here" in search_turn.results[0]["text"]
    # The second PLAN turn saw the search results in its context.
    plan1 = next(t for t in tr.turns if t.routine == "plan" and t.turn == 1 and t.step == 2)
    assert "A key lies here" in plan1.messages[-1].content


def test_two_model_task_policy_sees_memory_only_as_context(memory_url: str) -> None:
    seen: list[str] = []

    def policy(observation: str, memory: str) -> str:
        seen.append(memory)
        return "east"

    mem = FnDecider(
        lambda r: (
            "<|UPSERT|>notes.md|last|" + r.observation + "<|END|><|DONE|>"
            if r.routine == "log"
            else "<|READ|>notes.md<|END|><|ACTION|>west<|END|>"
        )
    )
    agent = wrap(policy, MemoryStore(memory_url), llm=mem, actions=CorridorEnv.actions)
    assert agent.mode == "two-model"
    res = run_episode(CorridorEnv(), agent, seed=0)
    assert res.progression == 1.0  # the memory model's 'west' was not taken
    assert "last: You are at cell 0" in seen[0]


def test_memory_off_blocks_ops_and_skips_log(memory_url: str) -> None:
    dec = FnDecider(unified)
    store = MemoryStore(memory_url)
    agent = MemoryAgent(store, "generic", dec, memory="off")
    run_episode(CorridorEnv(), agent, seed=0, max_steps=2)
    assert all(r.routine == "plan" for r in dec.requests)
    assert store.list() == []


def test_unknown_action_is_an_observation_then_fallback(memory_url: str, tmp_path) -> None:
    dec = FnDecider(lambda r: "<|ACTION|>fly<|END|>" if r.routine == "plan" else "<|DONE|>")
    agent = MemoryAgent(MemoryStore(memory_url), "nethack", dec, actions=CorridorEnv.actions)
    trace = str(tmp_path / "t.jsonl")
    run_episode(CorridorEnv(), agent, seed=0, max_steps=2, trace=trace)
    assert "unknown action 'fly'" in dec.requests[2].messages[-1].content
    tr = read_trace(trace)
    assert [s.action for s in tr.steps] == ["wait", "wait"]  # nethack's fallback action
    # the fallback is reported to the model in the next step's prompt
    step1 = [m.content for r in dec.requests if r.step == 1 for m in r.messages]
    assert any("fallback action 'wait'" in m for m in step1)
    fallbacks = [t for t in tr.turns if t.fallback]
    assert [t.action for t in fallbacks] == ["wait", "wait"]
    assert diagnose(tr).fallback_actions == 2


def test_model_timeout_becomes_fallback(memory_url: str) -> None:
    class Flaky:
        name = "flaky"

        def decide(self, request: RoutineRequest) -> Completion:
            raise LLMTimeoutError("timed out after 3 attempts")

    agent = MemoryAgent(MemoryStore(memory_url), "generic", Flaky(), actions=["a", "b"])
    agent.reset()
    assert agent.step("obs") == "a"


def test_observe_mode_logs_beside_a_foreign_policy(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    mem = FnDecider(lambda r: f"<|APPEND|>notes.md|{r.observation}<|END|><|DONE|>")
    agent = MemoryAgent(store, "generic", mem, mode="observe", task_decider=lambda o, m: "east")
    res = run_episode(CorridorEnv(), agent, seed=0)
    assert res.progression == 1.0
    assert len(store.read("notes.md").splitlines()) == 5
    assert all(r.routine == "log" for r in mem.requests)


def test_log_op_budget_enforced(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    many = "".join(f"<|APPEND|>notes.md|n{i}<|END|>" for i in range(10)) + "<|DONE|>"
    agent = MemoryAgent(
        store,
        "generic",
        FnDecider(lambda r: many if r.routine == "log" else "<|ACTION|>east<|END|>"),
    )
    agent.reset(actions=CorridorEnv.actions)
    agent.step("x")
    assert len(store.read("notes.md").splitlines()) == agent.scaffold.limits.max_log_ops


def test_context_stays_within_budget(memory_url: str) -> None:
    dec = FnDecider(lambda r: "<|READ|>big.md<|END|>" if r.routine == "plan" else "<|DONE|>")
    store = MemoryStore(memory_url)
    store.write("big.md", "x" * 10_000 + "\n")
    agent = MemoryAgent(store, "generic", dec, actions=["east"])
    agent.reset()
    agent.step("huge observation " * 2000)
    budget = agent.scaffold.limits.context_tokens
    for req in dec.requests:
        assert sum(estimate_tokens(m.content) for m in req.messages) <= budget * 1.05


def test_scaffold_file_cap_is_an_error_result(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    agent = MemoryAgent(
        store,
        "generic",
        FnDecider(
            lambda r: (
                "<|WRITE|>plan.md|" + "y" * 5000 + "<|END|><|DONE|>"
                if r.routine == "log"
                else "<|ACTION|>a<|END|>"
            )
        ),
        actions=["a"],
    )
    agent.reset()
    agent.step("o")
    assert store.read("plan.md") == ""  # plan.md caps at 2048 bytes in the generic scaffold


def test_diagnostics_count_redundant_and_unread(memory_url: str, tmp_path) -> None:
    dec = FnDecider(
        lambda r: (
            "<|APPEND|>notes.md|same<|END|><|UPSERT|>notes.md|k|v<|END|><|DONE|>"
            if r.routine == "log"
            else "<|SEARCH|>notes.md|nothing-here<|END|><|ACTION|>wait<|END|>"
        )
    )
    agent = MemoryAgent(MemoryStore(memory_url), "generic", dec, actions=CorridorEnv.actions)
    trace = str(tmp_path / "d.jsonl")
    run_episode(CorridorEnv(), agent, seed=0, max_steps=3, trace=trace)
    d = diagnose(read_trace(trace))
    assert d.n_writes == 6
    assert d.redundant_writes == 4  # 2 repeated appends + 2 unchanged upserts
    assert d.empty_searches == 3 and d.unproductive_actions == 3
    assert d.op_validity == 1.0


OUTPUT_PIECES = [
    encode_ops([AppendOp(path="notes.md", content="tree at 3,4")]),
    encode_ops([SearchOp(query="tree")]),
    encode_ops([ReadOp(path="../../etc/passwd")]),
    encode_ops([UpsertOp(path="map.md", key="1,2", value="wall")]),
    "<|ACTION|>east<|END|>",
    "<|ACTION|>teleport<|END|>",
    "<|DONE|>",
    "<|WRITE|>/abs.md|x<|END|>",
    "<|REPLACE|>notes.md|tree|bush<|END|>",
    "<|INSERT|>notes.md|-3|x<|END|>",
    "<|RENAME|>notes.md|notes.md<|END|>",
    "<|DELETE|>nope.md<|END|>",
    "<|UPSERT_MAP|>1,1|x<|END|>",
    "<|HEAD|>notes.md|99999<|END|>",
    "<|LIST|><|END|>",
    "<|COUNT|>notes.md|<|END|>",
    "<|CREATE|>a%2e%2e/x.md|y<|END|>",
    "I think I should go east.",
    "",
]


def _mutate(rng: random.Random, s: str) -> str:
    chars = list(s)
    for _ in range(rng.randint(0, 4)):
        i = rng.randrange(len(chars) + 1)
        r = rng.random()
        if r < 0.3 and chars:
            del chars[min(i, len(chars) - 1)]
        elif r < 0.7:
            chars.insert(
                i, rng.choice(["<", "|", ">", "\\", "\x00", "\n", "é", "<|END|>", "..", "/"])
            )
        else:
            chars.insert(i, chr(rng.randrange(1, 0x2FFF)))
    return "".join(chars)


@pytest.mark.slow
def test_fuzz_10k_outputs_never_escape(memory_url: str) -> None:
    rng = random.Random(1234)
    produced = 0

    def fuzz(req: RoutineRequest) -> str:
        nonlocal produced
        produced += 1
        k = rng.randint(1, 4)
        text = "".join(rng.choice(OUTPUT_PIECES) for _ in range(k))
        if rng.random() < 0.6:
            text = _mutate(rng, text)
        if rng.random() < 0.05:
            text = "".join(chr(rng.randrange(0, 0x10FFF)) for _ in range(rng.randint(0, 80)))
        return text

    store = MemoryStore(memory_url)
    agent = MemoryAgent(store, "minihack", FnDecider(fuzz), actions=CorridorEnv.actions)
    agent.reset()
    trace = memory_url + "-fuzz.jsonl"
    agent.start_trace(trace)
    observed = 0
    while produced < 10_000:
        action = agent.step(f"observation {observed}")
        assert action in CorridorEnv.actions
        observed += 1
    agent.finish()
    turns = [t for t in read_trace(trace).turns if not t.fallback]
    assert len(turns) == produced >= 10_000
    for t in turns:
        # every output became ops, or an error the agent sees in its next message
        assert t.results, t.output
        valid = [op for op in t.ops if op["op"] != "invalid"]
        errors = [r for r in t.results if not r["ok"]]
        if not valid:
            assert errors and all(e["text"].startswith(("ERROR", "PARSE ERROR")) for e in errors)
    assert sum(1 for t in turns if any(not r["ok"] for r in t.results)) > 1000
    assert sum(1 for t in turns if any(r["ok"] and r["changed"] for r in t.results)) > 100


def test_observe_api_for_foreign_loops(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    mem = FnDecider(lambda r: f"<|APPEND|>notes.md|{r.observation}<|END|><|DONE|>")
    agent = MemoryAgent(store, "generic", mem, mode="observe")
    agent.reset()
    results = agent.observe("saw a key", "pick up")
    assert [r.op for r in results] == ["append", "done"] and results[0].ok
    assert store.read("notes.md") == "saw a key\n"
    with pytest.raises(ValueError, match="observe"):
        agent.step("x")


def test_requests_carry_the_ops_each_routine_accepts(memory_url: str) -> None:
    mem = FnDecider(unified)
    run_episode(CorridorEnv(), MemoryAgent(MemoryStore(memory_url), "generic", mem), seed=0)
    tokens = set(MemoryAgent(MemoryStore(memory_url), "generic", mem).scaffold.op_tokens())
    log = [set(r.allowed_ops) for r in mem.requests if r.routine == "log"]
    plan = [set(r.allowed_ops) for r in mem.requests if r.routine == "plan"]
    assert log and all(a == tokens - {"ACTION"} for a in log)  # ACTION is an error in LOG
    assert plan and all(a == tokens for a in plan)  # unified PLAN commits the action

    memory = FnDecider(lambda r: "<|DONE|>")
    policy = FnDecider(lambda r: "<|ACTION|>east<|END|>")
    agent = MemoryAgent(
        MemoryStore(memory_url), "generic", memory, mode="two-model", task_decider=policy
    )
    run_episode(CorridorEnv(), agent, seed=0)
    assert all("ACTION" not in r.allowed_ops for r in memory.requests)  # the memory model
    assert policy.requests and all(r.allowed_ops == ["ACTION"] for r in policy.requests)


def test_llm_decider_passes_the_allowed_ops_as_grammar() -> None:
    from automem_sdk.agent import LLMDecider
    from automem_sdk.llm.base import Message

    calls: list[dict[str, object]] = []

    class Recorder:
        model = "recorder"

        def chat(self, messages: list[Message], **opts: object) -> Completion:
            calls.append(opts)
            return Completion(text="<|DONE|>", model=self.model)

    req = RoutineRequest(
        routine="log",
        step=0,
        turn=0,
        messages=[],
        observation="",
        actions=[],
        allowed_ops=["READ", "DONE"],
    )
    LLMDecider(Recorder(), temperature=0.0).decide(req)
    LLMDecider(Recorder(), constrain_ops=True, temperature=0.0).decide(req)
    assert calls == [{"temperature": 0.0}, {"temperature": 0.0, "grammar": ["READ", "DONE"]}]
