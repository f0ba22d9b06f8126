"""LLM calls and tokens per episode, measured from a benchmark folder's traces.

``python -m automem_sdk.benchmarks.harness.llm_cost OUT`` reads every trace under
``OUT/traces`` and prints, per agent and env: episodes, steps, LLM calls, prompt and
completion tokens (as the server reported them in each turn's ``usage``) and prompt
characters, per episode and per step. A call is a turn whose usage is non-zero (keyless
scripted players report none), so the memory routines' calls and the task policy's
calls are both counted, and split by routine (``log``, ``plan``, ``act``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

__all__ = ["CostRow", "llm_costs", "main", "print_costs"]


class CostRow(BaseModel):
    """Means per episode for one (agent, env)."""

    agent: str
    env: str
    episodes: int
    steps: float
    calls: float
    calls_by_routine: dict[str, float] = Field(default_factory=dict)
    prompt_tokens: float
    completion_tokens: float
    prompt_chars: float

    @property
    def calls_per_step(self) -> float:
        """LLM calls per env step."""
        return self.calls / self.steps if self.steps else 0.0

    @property
    def prompt_tokens_per_call(self) -> float:
        """Mean prompt tokens of one call."""
        return self.prompt_tokens / self.calls if self.calls else 0.0


def llm_costs(out: str | Path) -> list[CostRow]:
    """Per (agent, env) means over the traces in ``OUT/traces/<agent>/<env>/<seed>``."""
    from automem_sdk.trace import read_trace

    root = Path(out) / "traces"
    groups: dict[tuple[str, str], list[dict[str, float]]] = {}
    for path in sorted(root.rglob("*.jsonl*")):
        rel = path.relative_to(root).parts
        agent, env = rel[0], "/".join(rel[1:-1])
        trace = read_trace(str(path))
        ep: dict[str, float] = {"steps": float(len(trace.steps))}
        for t in trace.turns:
            if t.usage.prompt_tokens + t.usage.completion_tokens == 0:
                continue
            ep["calls"] = ep.get("calls", 0.0) + 1
            ep[f"calls:{t.routine}"] = ep.get(f"calls:{t.routine}", 0.0) + 1
            ep["prompt_tokens"] = ep.get("prompt_tokens", 0.0) + t.usage.prompt_tokens
            ep["completion_tokens"] = ep.get("completion_tokens", 0.0) + t.usage.completion_tokens
            ep["prompt_chars"] = ep.get("prompt_chars", 0.0) + sum(
                len(m.content) for m in t.messages
            )
        groups.setdefault((agent, env), []).append(ep)
    rows = []
    for (agent, env), eps in sorted(groups.items()):
        n = len(eps)

        def mean(key: str, eps: Sequence[dict[str, float]] = eps, n: int = n) -> float:
            return math.fsum(e.get(key, 0.0) for e in eps) / n

        routines = sorted({k.split(":", 1)[1] for e in eps for k in e if k.startswith("calls:")})
        rows.append(
            CostRow(
                agent=agent,
                env=env,
                episodes=n,
                steps=mean("steps"),
                calls=mean("calls"),
                calls_by_routine={r: mean(f"calls:{r}") for r in routines},
                prompt_tokens=mean("prompt_tokens"),
                completion_tokens=mean("completion_tokens"),
                prompt_chars=mean("prompt_chars"),
            )
        )
    return rows


def print_costs(rows: Sequence[CostRow]) -> str:
    """The rows as a Markdown table (also printed by :func:`main`)."""
    head = (
        "| agent | env | episodes | steps/ep | LLM calls/ep | calls/step | calls by routine "
        "| prompt tokens/ep | completion tokens/ep | prompt tokens/call | prompt chars/ep |"
    )
    lines = [head, "|---" * 11 + "|"]
    for r in rows:
        by = ", ".join(f"{k} {v:.0f}" for k, v in r.calls_by_routine.items()) or "-"
        lines.append(
            f"| {r.agent} | {r.env} | {r.episodes} | {r.steps:.0f} | {r.calls:.0f} | "
            f"{r.calls_per_step:.2f} | {by} | {r.prompt_tokens:,.0f} | "
            f"{r.completion_tokens:,.0f} | {r.prompt_tokens_per_call:,.0f} | "
            f"{r.prompt_chars:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the cost table of a benchmark folder."""
    p = argparse.ArgumentParser(description="LLM calls and tokens per episode, from traces")
    p.add_argument("out", help="an automem bench --out folder")
    args = p.parse_args(argv)
    print(print_costs(llm_costs(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
