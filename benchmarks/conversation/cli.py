"""``automem bench --env conversation``: the keyless conversational memory benchmark.

``--env conversation`` runs sizes S, M and L (``conversation/M``: one size; repeatable);
``--agent`` picks conditions (``automem``, ``memgpt``, ``history16``; default all;
``automem-miss30``: automem with a memory model that misses 30% of facts);
``--seeds 1000-1029`` or ``--episodes N`` the dialogues; ``--task-llm`` an LLM spec for
the task model (default: the scripted answerer, no key); ``--traces URL`` logs the
automem condition's traces with their outcomes. Writes ``results.jsonl``,
``report.json``, ``report.md`` and ``report.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["bench_conversation", "parse_seeds"]


def parse_seeds(spec: str | None, episodes: int | None, start: int = 1000) -> list[int]:
    """Seeds from ``0-19`` / ``1,5,9`` (``spec``), else ``episodes`` seeds from ``start``.

    Raises:
        UsageError: a malformed seed list.
    """
    from automem_sdk.cli import UsageError

    if not spec:
        return list(range(start, start + (episodes or 30)))
    out: list[int] = []
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise UsageError(f"--seeds {spec!r}: use a range like 1000-1029 or a list 1,5,9") from None
    return out


def bench_conversation(args: argparse.Namespace) -> int:
    """Run the benchmark from ``automem bench`` arguments; print the Markdown report."""
    from automem_sdk.cli import UsageError

    from .dialogue import SIZES
    from .run import CONDITIONS, markdown, run_benchmark, write_report

    sizes: list[str] = []
    for env in args.env:
        name, _, size = env.partition("/")
        if name != "conversation":
            raise UsageError("--env conversation runs alone: give the games in another run")
        if size and size not in SIZES:
            raise UsageError(f"--env {env}: sizes are {', '.join(SIZES)}")
        sizes.extend([size] if size else list(SIZES))
    agents = args.agent or list(CONDITIONS)
    bad = [a for a in agents if a not in CONDITIONS and not re.fullmatch(r"automem-miss\d{1,2}", a)]
    if bad:
        raise UsageError(
            f"--agent {bad[0]}: the conversation agents are {', '.join(CONDITIONS)} and "
            "automem-miss<N> (a memory model that misses N% of facts)"
        )
    factory = None
    spec = getattr(args, "task_llm", None)
    if spec and spec != "planner":
        from automem_sdk.llm import make_client

        def factory() -> Any:
            return make_client(spec)

    seeds = parse_seeds(args.seeds, args.episodes)
    results = run_benchmark(
        seeds,
        sizes=list(dict.fromkeys(sizes)),
        conditions=agents,
        task_model_factory=factory,
        trace_dir=getattr(args, "traces", None),
    )
    rep = write_report(results, args.out, plot=not getattr(args, "no_plot", False))
    if not getattr(args, "quiet", False):
        print(markdown(rep), end="")
    return 0
