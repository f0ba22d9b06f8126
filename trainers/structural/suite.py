"""The sabotage suite: does the structural loop repair a broken scaffold?

Each sabotage breaks a task's stock scaffold in one way (``minihack`` for MiniHack and
the toy maze, ``nethack`` for NetHack), silently (nothing in any error message says so)
or loudly (op errors, refused writes, fallback actions). For each
(task, sabotage) the loop runs keyless with a fixed budget from the sabotaged scaffold;
then the accepted scaffold, the sabotaged start and the stock scaffold are played on
fresh seeds nobody used, and the paired 95% bootstrap interval of (accepted - stock)
decides: **repaired** when it reaches 0 (the accepted scaffold is not measurably worse
than stock), **not repaired** otherwise. A sabotage that does not hurt measurably on the
fresh seeds is marked as such (nothing to repair).

``beyond`` rows start at the stock scaffold itself with the prompt-reading explorer
(:mod:`.sensitive`), where result and context budgets matter; there the question is
whether the loop finds a scaffold that beats stock (interval above 0).

Run::

    python -m automem_sdk.trainers.structural.suite --out runs/suite
    python -m automem_sdk.trainers.structural.suite --out runs/suite --report  # table only
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automem_sdk.trainers.structural.config import AgentConfig, Budget, StructuralConfig
from automem_sdk.trainers.structural.evaluate import EpisodeEvaluator, EvalCache, evaluate_many
from automem_sdk.trainers.structural.gate import paired_ci
from automem_sdk.trainers.structural.seeds import parse_seeds

from automem_sdk.scaffold import Scaffold, load_scaffold

__all__ = [
    "SABOTAGES",
    "TASK_STEPS",
    "Sabotage",
    "SuiteRow",
    "figure",
    "main",
    "plot",
    "run_suite",
    "sabotaged",
    "stock_scaffold",
    "task_steps",
]

#: Episode length per game: a MiniHack maze is walked in 100 steps; on NetHack the
#: explorer needs up to ~850 steps to find and take the first downstairs.
TASK_STEPS: dict[str, int] = {"nethack": 1000}
DEFAULT_STEPS = 100


def stock_scaffold(task: str) -> Scaffold:
    """The stock scaffold a task is played with: ``nethack`` for NetHack, else ``minihack``."""
    return load_scaffold("nethack" if task.split("/")[0] == "nethack" else "minihack")


def task_steps(task: str) -> int:
    """Steps per episode for ``task`` in the suite (:data:`TASK_STEPS`, else 100)."""
    return TASK_STEPS.get(task.split("/")[0], DEFAULT_STEPS)


@dataclass(frozen=True)
class Sabotage:
    """One way to break a scaffold."""

    name: str
    kind: str  # "silent" or "loud"
    what: str
    apply: Callable[[Scaffold], Scaffold]


def _limits(**kw: int) -> Callable[[Scaffold], Scaffold]:
    def f(s: Scaffold) -> Scaffold:
        return s.child(f"sabotage: {kw}", limits=s.limits.model_copy(update=kw))

    return f


def _ops_off(*names: str) -> Callable[[Scaffold], Scaffold]:
    def f(s: Scaffold) -> Scaffold:
        customs = [c for c in s.custom_ops if not any(str(st.get("op")) in names for st in c.steps)]
        return s.child(
            f"sabotage: disable {names}",
            ops=[o for o in s.ops if o not in names],
            custom_ops=customs,
        )

    return f


def _cap(file: str, cap: int) -> Callable[[Scaffold], Scaffold]:
    def f(s: Scaffold) -> Scaffold:
        files = [x.model_copy(update={"max_bytes": cap}) if x.name == file else x for x in s.files]
        return s.child(f"sabotage: {file} cap {cap}", files=files)

    return f


SABOTAGES: dict[str, Sabotage] = {
    s.name: s
    for s in (
        Sabotage(
            "log_ops_1", "silent", "max_log_ops: 1 (the read uses it up)", _limits(max_log_ops=1)
        ),
        Sabotage(
            "log_turns_1",
            "silent",
            "max_log_turns: 1 (LOG ends after its read)",
            _limits(max_log_turns=1),
        ),
        Sabotage("log_off", "silent", "max_log_ops: 0 (LOG never runs)", _limits(max_log_ops=0)),
        Sabotage("map_cap_64", "loud", "map.md capped at 64 bytes", _cap("map.md", 64)),
        Sabotage("upsert_off", "loud", "upsert disabled (and UPSERT_MAP)", _ops_off("upsert")),
        Sabotage("read_off", "loud", "read disabled", _ops_off("read")),
        Sabotage(
            "plan_turns_1",
            "loud",
            "max_plan_turns: 1 (PLAN falls back)",
            _limits(max_plan_turns=1),
        ),
    )
}


def sabotaged(name: str, base: Scaffold | None = None) -> Scaffold:
    """The stock MiniHack scaffold (or ``base``) broken by sabotage ``name``."""
    base = base or load_scaffold("minihack")
    s = SABOTAGES[name].apply(base)
    return s.model_copy(update={"name": f"{name}-{base.name}", "parent": None, "changelog": []})


@dataclass
class SuiteRow:
    """One (task, sabotage) result on the fresh seeds."""

    task: str
    sabotage: str
    kind: str
    n: int
    stock: float
    start: float
    accepted: float
    diff_vs_stock: float
    ci_vs_stock: tuple[float, float]
    start_ci_vs_stock: tuple[float, float]
    verdict: str
    changes: list[str]
    iterations: int
    episodes: int
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def run_one(
    out: Path,
    task: str,
    sabotage: str | None,
    *,
    decider: str,
    iterations: int,
    final_seeds: list[int],
    budget_episodes: int,
    proposer: str,
    quiet: bool = True,
) -> SuiteRow:
    """Run the loop from one sabotaged scaffold (``None``: stock) and score it."""
    import time

    from automem_sdk.trainers.structural.loop import StructuralTrainer
    from automem_sdk.trainers.structural.rundir import RunDir

    t0 = time.perf_counter()
    name = sabotage or f"beyond-{decider}"
    run_dir = out / task.replace("/", "_") / name
    stock = stock_scaffold(task)
    start = sabotaged(sabotage, stock) if sabotage else stock
    start_path = out / "scaffolds" / f"{name}.yaml"
    start_path.parent.mkdir(parents=True, exist_ok=True)
    start_path.write_text(start.to_yaml(), encoding="utf-8")
    agent = AgentConfig(decider=decider, max_steps=task_steps(task))
    cfg = StructuralConfig(
        envs=[task],
        scaffold=str(start_path),
        reflection_seeds=list(range(0, 8)),
        gate_seeds=list(range(100, 116)),
        gate_reserve=list(range(116, 148)),
        iterations=iterations,
        proposer=proposer,
        rule="bootstrap",
        confidence=0.9,
        agent=agent,
        budget=Budget(episodes=budget_episodes),
        final_seeds=final_seeds,
    )
    cache = str(out / "cache")
    trainer = StructuralTrainer(str(run_dir), cfg, cache_dir=cache, quiet=quiet)
    state = trainer.run(resume=True) if RunDir(run_dir).exists() else trainer.run()
    rd = RunDir(run_dir)
    final = rd.read_json(rd.root / "final.json") or trainer.final_evaluation(state)
    units = [(task, s) for s in final_seeds]
    ev = EpisodeEvaluator(agent)
    sv = [x.progression for x in evaluate_many(ev, EvalCache(cache), stock, units)]
    av = [float(x["accepted"]) for x in final["scores"]]
    bv = [float(x["start"]) for x in final["scores"]]
    diff, lo, hi = paired_ci(sv, av, confidence=0.95)
    _, slo, shi = paired_ci(sv, bv, confidence=0.95)
    entries = rd.read_ledger()
    changes = [c for e in entries if e.decision == "accept" for c in e.changelog]
    if sabotage is None:
        verdict = "beats stock" if lo > 0 else "no gain found"
    elif shi >= 0:
        verdict = "no measurable harm"
    else:
        verdict = "repaired" if hi >= 0 else "not repaired"
    return SuiteRow(
        task=task,
        sabotage=name,
        kind=SABOTAGES[sabotage].kind if sabotage else "beyond",
        n=len(units),
        stock=_mean(sv),
        start=_mean(bv),
        accepted=_mean(av),
        diff_vs_stock=diff,
        ci_vs_stock=(lo, hi),
        start_ci_vs_stock=(slo, shi),
        verdict=verdict,
        changes=changes,
        iterations=len(entries),
        episodes=state.spend.episodes + int(final["episodes"]["fresh"]),
        wall_s=round(time.perf_counter() - t0, 1),
    )


def table(rows: list[SuiteRow]) -> str:
    """The suite's results as a Markdown table (progression in %, as BALROG reports it)."""
    head = (
        "| task | sabotage | kind | n | stock | sabotaged | after loop | after - stock "
        "[95% CI] | verdict | accepted changes |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        lo, hi = r.ci_vs_stock
        ch = "; ".join(c.split(" (")[0] for c in r.changes) or "-"
        lines.append(
            f"| {r.task.split('/')[-1]} | {r.sabotage} | {r.kind} | {r.n} | {_pct(r.stock)} | "
            f"{_pct(r.start)} | {_pct(r.accepted)} | {_pct(r.diff_vs_stock, True)} "
            f"[{_pct(lo, True)}, {_pct(hi, True)}] | {r.verdict} | {ch} |"
        )
    return head + "\n".join(lines) + "\n"


def _pct(x: float, signed: bool = False) -> str:
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def plot(rows: list[SuiteRow], path: Path) -> Path | None:
    """Bars of stock / sabotaged / after-loop per row, one panel (own scale) per task,
    titled, with n."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not rows:
        return None
    fig = figure(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figure(rows: list[SuiteRow]) -> Any:
    """The suite's figure (a matplotlib ``Figure``): one panel per task, on its own scale."""
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r.task for r in rows))
    widest = max(sum(1 for r in rows if r.task == t) for t in tasks)
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(max(7.0, 0.7 * widest * len(tasks) + 2), 5), squeeze=False
    )
    w = 0.27
    for ax, task in zip(axes[0], tasks, strict=True):
        mine = [r for r in rows if r.task == task]
        xs = list(range(len(mine)))
        series: list[tuple[str, list[float], str]] = [
            ("stock", [100 * r.stock for r in mine], "0.6"),
            ("sabotaged start", [100 * r.start for r in mine], "tab:red"),
            ("after the loop", [100 * r.accepted for r in mine], "tab:green"),
        ]
        top = max([1e-9, *(y for _, ys, _ in series for y in ys)])
        for k, (label, ys, colour) in enumerate(series):
            bars = ax.bar([x + (k - 1) * w for x in xs], ys, w, label=label, color=colour)
            for b, y in zip(bars, ys, strict=True):
                if y == 0:  # a zero bar stays visible as an outlined sliver
                    b.set_height(top * 0.01)
                    b.set_edgecolor("black")
                    b.set_linewidth(0.6)
        ax.set_xticks(xs)
        ax.set_xticklabels(
            [f"{r.sabotage} ({r.kind})" for r in mine], fontsize=7, rotation=35, ha="right"
        )
        ax.set_ylim(0, top * 1.15)
        ax.set_title(f"{task} (n={mine[0].n} fresh seeds per bar)", fontsize=9)
        ax.set_ylabel("progression on fresh seeds (%)")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("Sabotage suite: keyless structural loop, stock vs sabotaged vs after the loop")
    fig.tight_layout()
    return fig


def run_suite(
    out: str | Path,
    *,
    tasks: list[str],
    sabotages: list[str],
    beyond: list[str],
    iterations: int = 4,
    final_seeds: list[int] | None = None,
    budget_episodes: int = 400,
    quiet: bool = True,
) -> list[SuiteRow]:
    """Run every (task, sabotage) and the ``beyond`` deciders; write suite.json/.md/.png."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    seeds = final_seeds or list(range(5000, 5030))
    rows: list[SuiteRow] = []
    done = root / "rows.jsonl"
    have: dict[tuple[str, str], dict[str, Any]] = {}
    if done.exists():
        for line in done.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            have[(d["task"], d["sabotage"])] = d
    jobs: list[tuple[str, str | None, str, str]] = [
        (t, s, "explorer", "heuristic") for t in tasks for s in sabotages
    ]
    jobs += [(tasks[0], None, d, "heuristic+search") for d in beyond]
    for task, sab, decider, proposer in jobs:
        key = (task, sab or f"beyond-{decider}")
        if key in have:
            d = have[key]
            d["ci_vs_stock"] = tuple(d["ci_vs_stock"])
            d["start_ci_vs_stock"] = tuple(d["start_ci_vs_stock"])
            rows.append(SuiteRow(**d))
            continue
        row = run_one(
            root,
            task,
            sab,
            decider=decider,
            iterations=iterations,
            final_seeds=seeds,
            budget_episodes=budget_episodes,
            proposer=proposer,
            quiet=quiet,
        )
        with done.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row.as_dict()) + "\n")
        print(table([row]).splitlines()[-1], flush=True)
        rows.append(row)
    (root / "suite.json").write_text(
        json.dumps([r.as_dict() for r in rows], indent=1), encoding="utf-8"
    )
    (root / "suite.md").write_text(table(rows), encoding="utf-8")
    plot(rows, root / "suite.png")
    return rows


def confirm(out: str | Path, seeds: list[int]) -> str:
    """Replay each ``beyond`` row's accepted scaffold against stock on a second set of
    fresh seeds (a replication decided after the first table: reported beside it, never
    instead of it). Writes and returns ``confirm.md``."""
    from automem_sdk.trainers.structural.rundir import RunDir

    root = Path(out)
    lines = [
        "| task | player | n | stock | accepted | accepted - stock [95% CI] | wins | losses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run_dir in sorted(root.glob("*/beyond-*")):
        if not (run_dir / "state.json").is_file():
            continue
        rd = RunDir(run_dir)
        cfg = rd.read_config()
        state = rd.read_state()
        task, decider = cfg.envs[0], cfg.agent.decider
        units = [(task, s) for s in seeds]
        ev = EpisodeEvaluator(cfg.agent)
        cache = EvalCache(root / "cache")
        stock = stock_scaffold(task)
        best = rd.load_scaffold(state.best_id)
        sv = [x.progression for x in evaluate_many(ev, cache, stock, units)]
        bv = [x.progression for x in evaluate_many(ev, cache, best, units)]
        diff, lo, hi = paired_ci(sv, bv, confidence=0.95)
        wins = sum(1 for a, b in zip(sv, bv, strict=True) if b > a)
        losses = sum(1 for a, b in zip(sv, bv, strict=True) if b < a)
        lines.append(
            f"| {task.split('/')[-1]} | {decider} | {len(units)} | {_mean(sv):.2f} | "
            f"{_mean(bv):.2f} | {diff:+.3f} [{lo:+.3f}, {hi:+.3f}] | {wins} | {losses} |"
        )
    text = "\n".join(lines) + "\n"
    (root / "confirm.md").write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    """Command line of the suite (see module docstring)."""
    p = argparse.ArgumentParser(prog="python -m automem_sdk.trainers.structural.suite")
    p.add_argument("--out", required=True, help="output directory (resumable)")
    p.add_argument(
        "--task",
        action="append",
        dest="tasks",
        help="env (repeatable; default minihack/MazeWalk-15x15, minihack/MazeWalk-9x9, nethack)",
    )
    p.add_argument(
        "--sabotage",
        action="append",
        dest="sabotages",
        choices=sorted(SABOTAGES),
        help="sabotage (repeatable; default all)",
    )
    p.add_argument(
        "--beyond",
        action="append",
        default=None,
        help="decider for a row that starts at stock (default prompt-explorer; 'none': skip)",
    )
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument("--final-seeds", default="5000-5029", help="fresh seeds for scoring")
    p.add_argument("--budget-episodes", type=int, default=400, help="episodes per loop run")
    p.add_argument("--report", action="store_true", help="print the table of --out and exit")
    p.add_argument(
        "--confirm-seeds",
        metavar="SEEDS",
        help="replay the beyond rows' accepted scaffolds vs stock on these fresh seeds and exit",
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.confirm_seeds:
        print(confirm(out, parse_seeds(args.confirm_seeds)), end="")
        return 0
    if args.report:
        data = json.loads((out / "suite.json").read_text(encoding="utf-8"))
        rows = [SuiteRow(**d) for d in data]
        plot(rows, out / "suite.png")
        print(table(rows), end="")
        return 0
    beyond = [b for b in (args.beyond or ["prompt-explorer"]) if b != "none"]
    rows = run_suite(
        out,
        tasks=args.tasks or ["minihack/MazeWalk-15x15", "minihack/MazeWalk-9x9", "nethack"],
        sabotages=args.sabotages or list(SABOTAGES),
        beyond=beyond,
        iterations=args.iterations,
        final_seeds=parse_seeds(args.final_seeds),
        budget_episodes=args.budget_episodes,
    )
    print(table(rows), end="")
    return 0


if __name__ == "__main__":
    from automem_sdk.cli import quiet_third_party

    quiet_third_party()
    raise SystemExit(main())
