"""The LLM proposer through the real clients on mock transports: the anthropic SDK
(wrapped by AnthropicClient) and the OpenAI-compatible client. The first reply is
invalid; the error goes back to the model; the second reply is accepted by the gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from automem_sdk.trainers.structural import (
    AgentConfig,
    LLMProposer,
    StructuralConfig,
    StructuralTrainer,
)
from automem_sdk.trainers.structural.config import Prices
from automem_sdk.trainers.structural.envs import load_start_scaffold
from automem_sdk.trainers.structural.rundir import RunDir

from automem_sdk.llm import AnthropicClient, OpenAICompatClient, RetryPolicy

anthropic = pytest.importorskip("anthropic", reason="the anthropic extra is not installed")
httpx2 = pytest.importorskip("httpx2", reason="anthropic 2.x's HTTP package is not installed")

NO_RETRY = RetryPolicy(max_attempts=1, jitter=False, sleep=lambda _s: None)


def config() -> StructuralConfig:
    return StructuralConfig(
        envs=["toy/maze-6"],
        scaffold="cramped-map",
        reflection_seeds=[0, 1, 2],
        gate_seeds=list(range(100, 106)),
        iterations=1,
        agent=AgentConfig(max_steps=60),
        proposer="llm (injected)",
        rule="strict-mean",
    )


def invalid_yaml_reply() -> str:
    parent = load_start_scaffold("cramped-map")
    broken = parent.model_copy(
        update={"prompts": parent.prompts.model_copy(update={"plan": "Step {step}. {foo}"})}
    )
    return f"Changelog:\n- shorter plan prompt\n\n```yaml\n{broken.to_yaml()}```\n"


def valid_yaml_reply() -> str:
    parent = load_start_scaffold("cramped-map")
    files = [
        f.model_copy(update={"max_bytes": 4096}) if f.name == "map.md" else f for f in parent.files
    ]
    fixed = parent.model_copy(update={"files": files})
    return (
        "Changelog:\n- raise map.md max_bytes 256 -> 4096: most map writes were refused over "
        f"the cap\n\n```yaml\n{fixed.to_yaml()}```\n"
    )


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("llm-cache"))


def check_run(run: Path, errors_fragment: str) -> None:
    (entry,) = RunDir(run).read_ledger()
    assert entry.decision == "accept", entry.reason
    assert entry.attempts == 2
    assert len(entry.proposal_errors) == 1 and errors_fragment in entry.proposal_errors[0]
    assert entry.changelog[0].startswith("raise map.md max_bytes 256 -> 4096")
    assert entry.candidate_mean is not None and entry.parent_mean is not None
    assert entry.candidate_mean > entry.parent_mean
    best = RunDir(run).load_scaffold(RunDir(run).read_state().best_id)
    assert best.file("map.md") is not None and best.file("map.md").max_bytes == 4096  # type: ignore[union-attr]
    assert best.parent == entry.parent


def test_anthropic_client_invalid_then_accepted(tmp_path: Path, shared_cache: str) -> None:
    replies = [invalid_yaml_reply(), valid_yaml_reply()]
    bodies: list[dict[str, Any]] = []

    def handler(request: Any) -> Any:
        body = json.loads(request.content)
        bodies.append(body)
        text = replies[len(bodies) - 1]
        return httpx2.Response(
            200,
            json={
                "id": f"msg_{len(bodies)}",
                "type": "message",
                "role": "assistant",
                "model": "claude-test",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 1000, "output_tokens": 800},
            },
        )

    sdk = anthropic.Anthropic(
        api_key="x",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )
    client = AnthropicClient("claude-test", client=sdk, retry=NO_RETRY)
    proposer = LLMProposer(client, prices=Prices(input_per_mtok=3.0, output_per_mtok=15.0))
    run = tmp_path / "anthropic"
    StructuralTrainer(
        str(run), config(), proposer=proposer, cache_dir=shared_cache, quiet=True
    ).run()
    check_run(run, "unknown placeholders ['foo']")
    assert len(bodies) == 2
    first, second = bodies
    assert "Changelog:" in first["system"] and "{observation}" in first["system"]
    assert "rejected_over_cap=" in first["messages"][0]["content"]
    assert "Trajectory excerpts around failures" in first["messages"][0]["content"]
    # The retry continues the conversation: the invalid reply, then its error.
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][1]["content"] == replies[0]
    assert "unknown placeholders ['foo']" in second["messages"][2]["content"]
    assert "must include {observation}" in second["messages"][2]["content"]
    (entry,) = RunDir(run).read_ledger()
    assert entry.cost.proposer_tokens == 2 * 1800
    assert entry.cost.usd == pytest.approx(2 * (1000 * 3.0 + 800 * 15.0) / 1e6)
    assert entry.proposer == "llm:claude-test"


def test_openai_compat_client_parse_error_then_json_patch(
    tmp_path: Path, shared_cache: str
) -> None:
    parent = load_start_scaffold("cramped-map")
    index = [f.name for f in parent.files].index("map.md")
    patch = json.dumps([{"op": "replace", "path": f"/files/{index}/max_bytes", "value": 4096}])
    replies = [
        "I would raise the cap of the map file.",
        "Changelog:\n- raise map.md max_bytes 256 -> 4096 (writes refused over cap)\n\n"
        f"```json\n{patch}\n```",
    ]
    requests: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        requests.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "model": "gpt-test",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": replies[len(requests) - 1]},
                    }
                ],
                "usage": {"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000},
            },
        )

    client = OpenAICompatClient(
        "http://llm.test/v1",
        "gpt-test",
        api_key="k",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        retry=NO_RETRY,
    )
    run = tmp_path / "openai"
    trainer = StructuralTrainer(
        str(run), config(), proposer=LLMProposer(client), cache_dir=shared_cache, quiet=True
    )
    trainer.run()
    check_run(run, "no fenced block")
    assert len(requests) == 2
    assert requests[0]["max_tokens"] == 4096
    assert [m["role"] for m in requests[1]["messages"]] == ["system", "user", "assistant", "user"]
    assert "no fenced block" in requests[1]["messages"][-1]["content"]
    # Same candidate content as the anthropic test when run after it: nothing replayed.
    (entry,) = RunDir(run).read_ledger()
    assert entry.cost.proposer_tokens == 2000
