"""``automem bench --env conversation``: the keyless conversational memory benchmark.

``--env conversation`` runs sizes S, M and L (``conversation/M``: one size; repeatable);
``--agent`` picks conditions (``automem``, ``memgpt``, ``history16``; default all;
``automem-miss30``: automem with a memory model that misses 30% of facts;
``[LABEL=]automem[@SCAFFOLD][+WRITER]``: automem on another scaffold and memory model,
e.g. ``start=automem@chat-cramped+follow``; with such labels every condition is
compared with the first; ``--scaffold`` / ``--memory-llm`` set them for ``automem``);
``--seeds 1000-1029`` or ``--episodes N`` the dialogues; ``--task-llm`` an LLM spec for
the task model (default: the scripted answerer, no key); ``--traces URL`` logs the
automem condition's traces with their outcomes. Writes ``results.jsonl``,
``report.json``, ``report.md`` and ``report.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
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


def _agents(args: argparse.Namespace) -> list[str]:
    """The conditions of ``--agent`` (``--scaffold`` / ``--memory-llm`` given: the plain
    ``automem`` agent runs on that scaffold with that memory model).

    Raises:
        UsageError: an unknown condition.
    """
    from automem_sdk.cli import UsageError

    from .run import CONDITIONS, parse_condition

    agents = list(args.agent or CONDITIONS)
    scaffold = getattr(args, "scaffold", None)
    writer = getattr(args, "memory_llm", None)
    if scaffold or writer:
        plain = "automem" + (f"@{scaffold}" if scaffold else "") + (f"+{writer}" if writer else "")
        agents = [f"automem={plain}" if a == "automem" else a for a in agents]
    for a in agents:
        try:
            parse_condition(a)
        except ValueError:
            raise UsageError(
                f"--agent {a}: the conversation agents are {', '.join(CONDITIONS)}, "
                "automem-miss<N> (a memory model that misses N% of facts) and "
                "[LABEL=]automem[@SCAFFOLD][+WRITER] (WRITER: facts, follow, "
                "follow-miss<N>, hf:BASE[,ADAPTER] or an LLM spec)"
            ) from None
    return agents


def bench_conversation(args: argparse.Namespace) -> int:
    """Run the benchmark from ``automem bench`` arguments; print the Markdown report."""
    from automem_sdk.cli import UsageError

    from .dialogue import SIZES
    from .report import markdown, write_report
    from .run import run_benchmark

    sizes: list[str] = []
    for env in args.env:
        name, _, size = env.partition("/")
        if name != "conversation":
            raise UsageError("--env conversation runs alone: give the games in another run")
        if size and size not in SIZES:
            raise UsageError(f"--env {env}: sizes are {', '.join(SIZES)}")
        sizes.extend([size] if size else list(SIZES))
    agents = _agents(args)
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
    from .run import parse_condition

    labelled = any("=" in a for a in agents)
    reference = parse_condition(agents[0]).label if labelled else None
    rep = write_report(
        results, args.out, plot=not getattr(args, "no_plot", False), reference=reference
    )
    if not getattr(args, "quiet", False):
        print(markdown(rep), end="")
    return 0
