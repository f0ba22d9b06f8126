"""What a structural run is configured with (saved in the run directory as config.json)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from automem_sdk.llm.base import Usage

__all__ = [
    "AgentConfig",
    "Budget",
    "GateRuleName",
    "Prices",
    "StructuralConfig",
]

GateRuleName = Literal["strict-mean", "no-regression", "bootstrap", "sign-test"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentConfig(_Model):
    """How candidates are played: the decider and the episode settings.

    Attributes:
        decider: ``"explorer"`` for the env's keyless explorer, or an LLM client spec
            accepted by :func:`automem_sdk.llm.make_client` (``"openai:gpt-4o-mini"``, …).
        mode: the :class:`~automem_sdk.agent.MemoryAgent` mode (``two-model`` and
            ``observe`` need ``task_decider``).
        task_decider: the task policy for ``two-model``/``observe`` (same forms).
        memory: ``"off"`` plays the baseline without memory.
        max_steps: step cap per episode (None = the env's own).
    """

    decider: str = "explorer"
    mode: Literal["unified", "two-model", "observe"] = "unified"
    task_decider: str | None = None
    memory: Literal["on", "off"] = "on"
    max_steps: int | None = Field(default=None, ge=1)

    def fingerprint(self) -> str:
        """A short hash of these settings (part of every evaluation cache key)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


class Prices(_Model):
    """Price of tokens in US dollars per million (0 = free, e.g. a local model)."""

    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)

    def cost(self, usage: Usage) -> float:
        """Dollars for ``usage``."""
        return (
            usage.prompt_tokens * self.input_per_mtok
            + usage.completion_tokens * self.output_per_mtok
        ) / 1e6


class Budget(_Model):
    """Limits on what a run may spend (None = unlimited).

    Every evaluation the run's decisions use counts once, whether it ran now or came
    from the cache, so a resumed run or a rerun on a warm cache stops at the same place.
    """

    episodes: int | None = Field(default=None, ge=0)
    env_steps: int | None = Field(default=None, ge=0)
    tokens: int | None = Field(default=None, ge=0)
    usd: float | None = Field(default=None, ge=0)


class StructuralConfig(_Model):
    """Everything that decides what a structural run does.

    Attributes:
        envs: env names (``automem_sdk.benchmarks`` registry names or ``toy/maze-N``).
        scaffold: the starting scaffold (built-in name or YAML/JSON path).
        reflection_seeds: seeds whose rollouts the proposer reads.
        gate_seeds: seeds candidates are judged on (disjoint from reflection seeds).
        allow_seed_overlap: accept overlapping seed sets.
        traces: a directory of logged traces to reflect on instead of fresh rollouts.
        iterations: reflect-propose-gate rounds.
        proposer: ``"heuristic"`` or an LLM client spec for the LLM proposer.
        proposer_retries: extra attempts when a proposal is invalid.
        proposer_max_tokens: reply budget of the LLM proposer.
        rule: gate rule (default ``bootstrap``: paired bootstrap of the mean difference).
        min_delta: margin the candidate's mean must beat the parent's by.
        confidence: one-sided confidence of ``bootstrap`` and ``sign-test`` over the whole
            gate (1 - the false-accept rate it allows for a change that does nothing).
        gate_reserve: extra gate seeds for a sequential gate: while a candidate is
            undecided (not accepted, mean difference above ``min_delta``) the next
            ``len(gate_seeds)`` of them are added and the rule asked again; each look
            runs at ``1 - (1 - confidence) / looks`` so the error rate stays as set.
        gate_stride: refresh the gate seeds between iterations: iteration ``i`` uses
            every gate (and reserve) seed plus ``(i - 1) * gate_stride`` (0 = reuse).
        final_seeds: seeds nobody used (not reflection, not any iteration's gate) on
            which the accepted scaffold is compared with the start when the run ends.
        bootstrap_samples: bootstrap resamples.
        rng_seed: seed of the bootstrap RNG.
        metric: per-episode score the gate compares.
        agent: how episodes are played.
        budget: spending limits.
        agent_prices: token prices of the agent's model.
        proposer_prices: token prices of the proposer's model.
        excerpt_chars: size of the trace excerpts shown to an LLM proposer.
    """

    envs: list[str] = Field(min_length=1)
    scaffold: str = "generic"
    reflection_seeds: list[int] = Field(default_factory=list)
    gate_seeds: list[int] = Field(min_length=1)
    allow_seed_overlap: bool = False
    traces: str | None = None
    iterations: int = Field(default=5, ge=0)
    proposer: str = "heuristic"
    proposer_retries: int = Field(default=2, ge=0, le=20)
    proposer_max_tokens: int = Field(default=4096, ge=256)
    rule: GateRuleName = "bootstrap"
    min_delta: float = Field(default=0.0, ge=0)
    confidence: float = Field(default=0.9, gt=0, lt=1)
    bootstrap_samples: int = Field(default=2000, ge=100)
    rng_seed: int = 0
    metric: Literal["progression", "reward"] = "progression"
    agent: AgentConfig = Field(default_factory=AgentConfig)
    budget: Budget = Field(default_factory=Budget)
    agent_prices: Prices = Field(default_factory=Prices)
    proposer_prices: Prices = Field(default_factory=Prices)
    excerpt_chars: int = Field(default=6000, ge=500)
    gate_reserve: list[int] = Field(default_factory=list)
    gate_stride: int = Field(default=0, ge=0)
    final_seeds: list[int] = Field(default_factory=list)

    @field_validator("reflection_seeds", "gate_seeds", "gate_reserve", "final_seeds")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        return list(dict.fromkeys(v))

    def looks(self) -> int:
        """How many times a sequential gate may ask its rule (1 without a reserve)."""
        n = len(self.gate_seeds)
        return 1 + -(-len(self.gate_reserve) // n) if self.gate_reserve else 1

    def gate_units(self, iteration: int, look: int = 1) -> list[int]:
        """The gate seeds of ``iteration`` (1-based) at sequential look ``look``."""
        n = len(self.gate_seeds)
        seeds = [*self.gate_seeds, *self.gate_reserve[: (look - 1) * n]]
        shift = (iteration - 1) * self.gate_stride
        return [s + shift for s in seeds]

    def all_gate_seeds(self) -> list[int]:
        """Every seed any iteration's gate may use (to check disjointness)."""
        out: list[int] = []
        for it in range(1, max(1, self.iterations) + 1):
            out.extend(self.gate_units(it, self.looks()))
            if not self.gate_stride:
                break
        return list(dict.fromkeys(out))

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready form for config.json and the run state."""
        return self.model_dump(mode="json")
