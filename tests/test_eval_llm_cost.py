"""LLM calls and tokens per episode from traces, with the bench's BALROG agents against
the keyless mock server (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from automem_sdk.benchmarks.harness.llm_cost import llm_costs, print_costs
from automem_sdk.benchmarks.harness.mock_llm_server import answer, serve


def test_mock_server_answers_balrog_prompts_with_a_listed_action() -> None:
    import random

    from automem_sdk.benchmarks.players.balrog_agent import balrog_instruction

    rng = random.Random(0)
    instr = balrog_instruction("crafter", [])
    picks = {answer([{"role": "user", "content": instr}], rng) for _ in range(50)}
    assert picks <= {"Noop", "Move West", "Move East", "Move North", "Move South", "Do",
                     "Sleep", "Place Stone", "Place Table", "Place Furnace", "Place Plant",
                     "Make Wood Pickaxe", "Make Stone Pickaxe", "Make Iron Pickaxe",
                     "Make Wood Sword", "Make Stone Sword", "Make Iron Sword"}  # fmt: skip
    assert len(picks) > 5
    log = [{"role": "system", "content": "s"}, {"role": "user", "content": "Step 0. LOG"}]
    assert answer(log, rng).endswith("<|DONE|>")


@pytest.mark.games
def test_bench_balrog_agents_calls_per_episode(tmp_path: Path) -> None:
    pytest.importorskip("minihack")
    from automem_sdk.benchmarks.harness.runner import BenchConfig, run_benchmark

    server = serve(0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        rows = run_benchmark(
            BenchConfig(
                out=str(tmp_path),
                envs=["minihack/MazeWalk-9x9"],
                agents=["balrog", "balrog+memory"],
                llm=f"vllm:mock@{url}",
                obs="balrog",
                seeds=[0, 1],
                max_steps=6,
                quiet=True,
            )
        )
    finally:
        server.shutdown()
    assert {r.agent for r in rows} == {"balrog@balrog-obs", "balrog+memory@balrog-obs"}
    costs = {c.agent: c for c in llm_costs(tmp_path)}
    plain, mem = costs["balrog@balrog-obs"], costs["balrog+memory@balrog-obs"]
    assert plain.episodes == 2 and plain.calls == plain.steps  # one call per step
    assert plain.calls_by_routine == {"act": plain.steps}
    assert mem.calls_by_routine["act"] == mem.steps and mem.calls > 2 * mem.steps
    assert plain.prompt_tokens > 0 and plain.prompt_chars >= 4 * plain.prompt_tokens - 4 * 64
    table = print_costs(list(costs.values()))
    assert "| balrog@balrog-obs | minihack/MazeWalk-9x9 | 2 |" in table
