"""Do the selectors tell good memory decisions from bad ones? Measured on labelled writes.

``python -m automem_sdk.trainers.behavioral.credit_eval --out DIR [--seeds 24] [--steps 100]``

A map teacher that files 30% of its map lines under the wrong cell
(:class:`~.population.NoisyMemoryPolicy`, member ``misfile30``) plays MiniHack episodes
in two-model mode with the memory-consuming task policy; every write it made is
labelled. Each selector then picks turns (and, for the decision-level ones, writes
within them), and the table shows, over the write ops that would enter the training
targets: how many, the share that are corrupted (misfiled), and the share of all
correct writes kept, with 95% bootstrap intervals over episodes (resampled with
replacement), plus each selector's cost. Results: ``DIR/credit_eval.md`` and
``DIR/credit_eval.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from automem_sdk.trainers.behavioral.population import Member, play_population, read_labels
from automem_sdk.trainers.behavioral.selectors import Selection
from automem_sdk.trainers.behavioral.traces import NON_MEMORY_OPS, LoadedTrace, turn_key
from pydantic import BaseModel

__all__ = [
    "DEFAULT_SELECTORS",
    "WriteScore",
    "bootstrap_ratio",
    "main",
    "nle_context",
    "score_selection",
    "task_policy",
]

#: Selectors compared by default (the README's old default first).
DEFAULT_SELECTORS: tuple[str, ...] = (
    "all",
    "outcome:0.5 | hindsight",
    "hindsight",
    "usage",
    "counterfactual:30",
    "verified",
    "outcome:0.5 & verified",
)


class WriteScore(BaseModel):
    """Labelled writes that a selection would train on, per episode and in total."""

    selector: str
    selected: dict[str, int]
    totals: dict[str, int]
    per_trace: dict[str, dict[str, int]]
    per_trace_totals: dict[str, dict[str, int]]
    wall_s: float = 0.0
    cost: dict[str, float] = {}

    @property
    def n_writes(self) -> int:
        """Labelled writes selected."""
        return sum(self.selected.values())

    @property
    def corrupted_share(self) -> float:
        """Misfiled writes among the selected writes."""
        return self.selected.get("misfiled", 0) / max(self.n_writes, 1)

    @property
    def correct_kept(self) -> float:
        """Selected correct writes over all correct writes."""
        return self.selected.get("good", 0) / max(self.totals.get("good", 0), 1)


def score_selection(
    traces: Sequence[LoadedTrace], selections: Sequence[Selection], selector: str
) -> WriteScore:
    """Count the labelled writes each selection keeps (all of a turn's ops, or ``ops``)."""
    turns = {turn_key(lt.url, t): t for lt in traces for t in lt.trace.turns}
    labels = {lt.url: read_labels(lt.url) for lt in traces}
    per: dict[str, dict[str, int]] = {lt.url: {} for lt in traces}
    tot: dict[str, dict[str, int]] = {lt.url: {} for lt in traces}
    for lt in traces:
        for t in lt.trace.turns:
            if t.routine != "log":  # the population labels LOG writes only
                continue
            for i, _raw in enumerate(t.ops[: len(t.results)]):
                lab = labels[lt.url].get((t.step, t.turn, i))
                if lab is not None and t.results[i].get("ok"):
                    tot[lt.url][lab] = tot[lt.url].get(lab, 0) + 1
    for sel in selections:
        t = turns.get(sel.key)
        if t is None or t.routine != "log":
            continue
        keep = set(sel.ops) if sel.ops is not None else None
        for i, raw in enumerate(t.ops[: len(t.results)]):
            if str(raw.get("op", "")) in NON_MEMORY_OPS or (keep is not None and i not in keep):
                continue
            lab = labels[sel.trace].get((t.step, t.turn, i))
            if lab is not None and t.results[i].get("ok"):
                per[sel.trace][lab] = per[sel.trace].get(lab, 0) + 1
    selected: dict[str, int] = {}
    totals: dict[str, int] = {}
    for url in per:
        for k, v in per[url].items():
            selected[k] = selected.get(k, 0) + v
        for k, v in tot[url].items():
            totals[k] = totals.get(k, 0) + v
    return WriteScore(
        selector=selector, selected=selected, totals=totals, per_trace=per, per_trace_totals=tot
    )


def bootstrap_ratio(
    score: WriteScore,
    fn: Callable[[dict[str, int], dict[str, int]], float],
    *,
    n: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile interval of ``fn(selected, totals)`` over episodes resampled."""
    urls = sorted(score.per_trace)
    rng = random.Random(seed)
    vals = []
    for _ in range(n):
        sel: dict[str, int] = {}
        tot: dict[str, int] = {}
        for u in (rng.choice(urls) for _ in urls):
            for k, v in score.per_trace[u].items():
                sel[k] = sel.get(k, 0) + v
            for k, v in score.per_trace_totals[u].items():
                tot[k] = tot.get(k, 0) + v
        vals.append(fn(sel, tot))
    vals.sort()
    return vals[int(0.025 * n)], vals[int(0.975 * n) - 1]


def _share(sel: dict[str, int], _tot: dict[str, int]) -> float:
    return sel.get("misfiled", 0) / max(sum(sel.values()), 1)


def _kept(sel: dict[str, int], tot: dict[str, int]) -> float:
    return sel.get("good", 0) / max(tot.get("good", 0), 1)


def task_policy(env_name: str, seed: int) -> Any:
    """The memory-consuming task policy of two-model evaluation for ``env_name``: the
    benchmarks registry's ``make_task_policy`` (a scripted planner that acts only on
    what the memory routine returned)."""
    from automem_sdk.benchmarks.registry import make_task_policy

    return make_task_policy(env_name, seed=seed)


def nle_context(task: str, *, horizon_policy: str = "teacher") -> Any:
    """A :class:`~.credit.CreditContext` for a MiniHack/NetHack task of the study setup.

    The env is the compact observation wrapper, the task policy
    :func:`task_policy`, counterfactual branches continue with the clean map teacher,
    and the verifier is :class:`~.credit.NLEMapVerifier`.
    """
    from automem_sdk.benchmarks.envs.compact import CompactObservation
    from automem_sdk.benchmarks.players.map_teacher import MapTeacher, map_scaffold
    from automem_sdk.benchmarks.registry import make_env
    from automem_sdk.trainers.behavioral.credit import CreditContext, NLEMapVerifier

    del horizon_policy
    return CreditContext(
        env_factory=lambda: CompactObservation(make_env(task)),
        task_factory=lambda seed: task_policy(task, seed),
        memory_factory=lambda store, seed: MapTeacher(store, seed),
        scaffold=map_scaffold(),
        verifier=NLEMapVerifier(),
    )


def run(
    out: Path,
    tasks: Sequence[str],
    seeds: Sequence[int],
    steps: int,
    selectors: Sequence[str],
    member: Member,
) -> list[dict[str, Any]]:
    """Play the labelled population (once; reused when present) and score each selector."""
    from automem_sdk.benchmarks.envs.compact import CompactObservation
    from automem_sdk.benchmarks.players.map_teacher import MapTeacher, map_scaffold
    from automem_sdk.benchmarks.registry import make_env
    from automem_sdk.trainers.behavioral.selectors import parse_selector
    from automem_sdk.trainers.behavioral.traces import load_traces

    rows_path = out / "population.json"
    if not rows_path.is_file():
        rows: list[dict[str, Any]] = []
        for task in tasks:
            rows += play_population(
                out,
                lambda task=task: CompactObservation(make_env(task)),
                seeds,
                [member],
                base_factory=lambda store, seed: MapTeacher(store, seed),
                task_factory=lambda seed, task=task: task_policy(task, seed),
                scaffold=map_scaffold(),
                max_steps=steps,
                tag=task.replace("/", "-") + "-",
            )
        rows_path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    traces = load_traces(str(out / "traces"))
    by_env: dict[str, list[LoadedTrace]] = {}
    for lt in traces:
        by_env.setdefault(lt.env, []).append(lt)
    results = []
    for spec in selectors:
        t0 = time.perf_counter()
        selections: list[Selection] = []
        cost: dict[str, float] = {}
        for env, group in sorted(by_env.items()):
            ctx = nle_context(env)
            try:
                selections += parse_selector(spec, context=ctx).select(group)
            finally:
                ctx.close()
            for k, v in ctx.stats.as_dict().items():
                cost[k] = cost.get(k, 0.0) + v
        score = score_selection(traces, selections, spec)
        score.wall_s = time.perf_counter() - t0
        score.cost = cost
        lo, hi = bootstrap_ratio(score, _share)
        klo, khi = bootstrap_ratio(score, _kept)
        results.append(
            {
                "selector": spec,
                "episodes": len(traces),
                "writes": score.n_writes,
                "selected": score.selected,
                "totals": score.totals,
                "corrupted_share": score.corrupted_share,
                "corrupted_ci": [lo, hi],
                "correct_kept": score.correct_kept,
                "correct_kept_ci": [klo, khi],
                "wall_s": score.wall_s,
                "env_steps": cost.get("env_steps", 0.0),
                "policy_calls": cost.get("policy_calls", 0.0),
                "replay_mismatches": cost.get("replay_mismatches", 0.0),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    return results


def _table(results: Sequence[dict[str, Any]], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| selector | writes selected | corrupted share [95% CI] | correct writes kept [95% CI] "
        "| redundant selected | CPU s | env steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lo, hi = r["corrupted_ci"]
        klo, khi = r["correct_kept_ci"]
        lines.append(
            f"| `{r['selector']}` | {r['writes']} | {r['corrupted_share']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] | {r['correct_kept']:.3f} [{klo:.3f}, {khi:.3f}] | "
            f"{r['selected'].get('redundant', 0)} | {r['wall_s']:.1f} | {int(r['env_steps'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--tasks", default="minihack/MazeWalk-15x15,minihack/Corridor-R3")
    p.add_argument("--seeds", type=int, default=24, help="seeds per task (from 2000)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--misfile", type=float, default=0.3)
    p.add_argument("--select", action="append", help="selector spec (repeatable)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in args.tasks.split(",") if t]
    member = Member(name=f"misfile{int(args.misfile * 100)}", misfile=args.misfile)
    results = run(
        out,
        tasks,
        list(range(2000, 2000 + args.seeds)),
        args.steps,
        args.select or list(DEFAULT_SELECTORS),
        member,
    )
    (out / "credit_eval.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    n = results[0]["episodes"] if results else 0
    title = (
        f"Selected write ops under a teacher that misfiles {args.misfile:.0%} of its map lines "
        f"({n} episodes: {', '.join(tasks)}, {args.steps} steps; CI over episodes)"
    )
    (out / "credit_eval.md").write_text(_table(results, title), encoding="utf-8")
    print(_table(results, title))
    return 0


if __name__ == "__main__":
    from automem_sdk.cli import quiet_third_party

    quiet_third_party()
    raise SystemExit(main())
