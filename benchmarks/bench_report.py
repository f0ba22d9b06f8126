"""``automem report DIR``: benchmark tables (BALROG aggregation), comparison, diagnostics, plot.

Aggregation follows BALROG: a task's score is the mean progression over its episodes;
an env's score is the mean over all of its episodes (MiniHack is one env made of eight
tasks), with standard error ``std / sqrt(n)`` (population std, ``ddof=0``, as BALROG's
``np.std``); the overall score is the mean of the env means, with standard error
``sqrt(sum(se_env ** 2)) / n_envs``. Scores are progression in percent.

The comparison table pairs two agents (``explorer`` vs ``explorer-nomem`` by default)
seed by seed: per task the mean paired difference ± its standard error over the seeds
both agents played. Trace diagnostics (redundant writes, unproductive actions, tokens
per step, ...) are averaged per agent and env.

``DIR`` may also be a structural trainer run (its own report is rendered) or a pipeline
output folder (its ``report.json`` is printed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from automem_sdk.errors import AutomemError

from .bench_runner import EpisodeSummary, load_episodes

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "AgentScores",
    "BenchReport",
    "Comparison",
    "ComparisonRow",
    "Score",
    "aggregate",
    "build_report",
    "env_family",
    "mean_se",
    "print_report",
    "report_dir",
    "write_report",
]

DEFAULT_COMPARE: tuple[str, str] = ("explorer", "explorer-nomem")
_DIAG_KEYS = (
    "steps",
    "ops/step",
    "redundant_writes",
    "writes_never_read",
    "unproductive_rate",
    "op_validity",
    "tokens/step",
)

_SHORT = {
    "ops/step": "ops/st",
    "redundant_writes": "redund",
    "writes_never_read": "unread",
    "unproductive_rate": "unprod",
    "op_validity": "valid",
    "tokens/step": "tok/st",
}


def _label(level: str, name: str) -> str:
    """Row label: tasks indented under their env (``  MazeWalk-9x9``), envs as ``minihack *``."""
    if level == "task":
        family, _, task = name.partition("/")
        return f"  {task}" if task else f"  {family}"
    return f"{name} *" if level == "env" else "overall"


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}"


class Score(BaseModel):
    """A mean with its standard error over ``n`` episodes (or envs)."""

    name: str
    n: int
    mean: float
    se: float


class AgentScores(BaseModel):
    """One agent's scores: per task, per env, overall, and mean diagnostics per env."""

    agent: str
    tasks: list[Score] = Field(default_factory=list)
    envs: list[Score] = Field(default_factory=list)
    overall: Score
    diagnostics: dict[str, dict[str, float]] = Field(default_factory=dict)


class ComparisonRow(BaseModel):
    """Agent A vs agent B on one task (or env, or overall) over common seeds."""

    name: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    diff_se: float


class Comparison(BaseModel):
    """Paired comparison of two agents."""

    a: str
    b: str
    tasks: list[ComparisonRow] = Field(default_factory=list)
    envs: list[ComparisonRow] = Field(default_factory=list)
    overall: ComparisonRow | None = None


class BenchReport(BaseModel):
    """Everything ``automem report`` prints for a benchmark folder."""

    agents: list[AgentScores] = Field(default_factory=list)
    comparison: Comparison | None = None
    n_episodes: int = 0


def mean_se(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error ``std / sqrt(n)`` with the population std (BALROG).

    Raises:
        ValueError: ``xs`` is empty.
    """
    if not xs:
        raise ValueError("mean_se of no values")
    n = len(xs)
    m = math.fsum(xs) / n
    var = math.fsum((x - m) ** 2 for x in xs) / n
    return m, math.sqrt(var) / math.sqrt(n)


def aggregate(by_env: Mapping[str, Sequence[float]]) -> tuple[list[Score], Score]:
    """BALROG aggregation of per-episode scores grouped by env.

    Returns:
        (per-env scores, overall score): overall mean = mean of env means, overall SE =
        ``sqrt(sum(se_i ** 2)) / n_envs``.
    """
    envs = []
    for name, xs in by_env.items():
        if xs:
            m, se = mean_se(list(xs))
            envs.append(Score(name=name, n=len(xs), mean=m, se=se))
    if not envs:
        return [], Score(name="overall", n=0, mean=0.0, se=0.0)
    k = len(envs)
    overall = Score(
        name="overall",
        n=sum(e.n for e in envs),
        mean=math.fsum(e.mean for e in envs) / k,
        se=math.sqrt(math.fsum(e.se**2 for e in envs)) / k,
    )
    return envs, overall


def env_family(env: str) -> str:
    """The BALROG env an env name belongs to (``minihack/MazeWalk-9x9`` -> ``minihack``)."""
    return env.partition("/")[0]


def _pct(rows: Iterable[EpisodeSummary]) -> list[float]:
    return [100.0 * r.progression for r in rows]


def _agent_scores(agent: str, rows: list[EpisodeSummary]) -> AgentScores:
    tasks: list[Score] = []
    by_env: dict[str, list[float]] = {}
    for env in sorted({r.env for r in rows}):
        sel = [r for r in rows if r.env == env]
        m, se = mean_se(_pct(sel))
        tasks.append(Score(name=env, n=len(sel), mean=m, se=se))
        by_env.setdefault(env_family(env), []).extend(_pct(sel))
    envs, overall = aggregate(by_env)
    diagnostics: dict[str, dict[str, float]] = {}
    for fam in by_env:
        sel = [r for r in rows if env_family(r.env) == fam]
        diagnostics[fam] = {
            k: math.fsum(r.diagnostics.get(k, 0.0) for r in sel) / len(sel) for k in _DIAG_KEYS
        }
    return AgentScores(
        agent=agent, tasks=tasks, envs=envs, overall=overall, diagnostics=diagnostics
    )


def _paired(name: str, pairs: list[tuple[float, float]]) -> ComparisonRow:
    diffs = [a - b for a, b in pairs]
    dm, dse = mean_se(diffs)
    return ComparisonRow(
        name=name,
        n=len(pairs),
        mean_a=math.fsum(a for a, _ in pairs) / len(pairs),
        mean_b=math.fsum(b for _, b in pairs) / len(pairs),
        diff=dm,
        diff_se=dse,
    )


def _compare(rows: list[EpisodeSummary], a: str, b: str) -> Comparison | None:
    index = {(r.agent, r.env, r.seed): 100.0 * r.progression for r in rows}
    envs = sorted({r.env for r in rows if r.agent == a} & {r.env for r in rows if r.agent == b})
    if not envs:
        return None
    comp = Comparison(a=a, b=b)
    fam_pairs: dict[str, list[tuple[float, float]]] = {}
    for env in envs:
        seeds = sorted(
            {r.seed for r in rows if r.agent == a and r.env == env}
            & {r.seed for r in rows if r.agent == b and r.env == env}
        )
        if not seeds:
            continue
        pairs = [(index[(a, env, s)], index[(b, env, s)]) for s in seeds]
        comp.tasks.append(_paired(env, pairs))
        fam_pairs.setdefault(env_family(env), []).extend(pairs)
    if not comp.tasks:
        return None
    comp.envs = [_paired(f, p) for f, p in fam_pairs.items()]
    k = len(comp.envs)
    comp.overall = ComparisonRow(
        name="overall",
        n=sum(e.n for e in comp.envs),
        mean_a=math.fsum(e.mean_a for e in comp.envs) / k,
        mean_b=math.fsum(e.mean_b for e in comp.envs) / k,
        diff=math.fsum(e.diff for e in comp.envs) / k,
        diff_se=math.sqrt(math.fsum(e.diff_se**2 for e in comp.envs)) / k,
    )
    return comp


def build_report(
    rows: Sequence[EpisodeSummary], compare: tuple[str, str] | None = None
) -> BenchReport:
    """Scores per agent and the paired comparison of ``compare`` (default explorer vs
    explorer-nomem, when both were played)."""
    rows = list(rows)
    agents = sorted({r.agent for r in rows})
    report = BenchReport(
        agents=[_agent_scores(a, [r for r in rows if r.agent == a]) for a in agents],
        n_episodes=len(rows),
    )
    a, b = compare or DEFAULT_COMPARE
    if a in agents and b in agents:
        report.comparison = _compare(rows, a, b)
    elif compare is not None:
        raise AutomemError(f"--compare {a} {b}: the folder holds agents {', '.join(agents)}")
    return report


def _ms(s: Score) -> str:
    return f"{s.mean:.1f} ± {s.se:.1f}"


def print_report(
    report: BenchReport,
    *,
    console: Console | None = None,
    diagnostics: bool = True,
    compare: bool = True,
) -> None:
    """Print the score table (per task, per env, overall), comparison and diagnostics."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not report.agents:
        console.print("no finished episodes")
        return
    t = Table(
        title="Progression % (mean ± SE); * = env: mean over all its episodes; overall = BALROG"
    )
    t.add_column("env / task", no_wrap=True)
    t.add_column("n", justify="right", min_width=2)
    for a in report.agents:
        t.add_column(a.agent, justify="right", no_wrap=True)
    names: list[tuple[str, str]] = []
    for level in ("task", "env"):
        for a in report.agents:
            for s in a.tasks if level == "task" else a.envs:
                if (level, s.name) not in names:
                    names.append((level, s.name))
    names.append(("overall", "overall"))
    for i, (level, name) in enumerate(names):
        cells: list[str] = []
        ns: list[int] = []
        for a in report.agents:
            pool = {"task": a.tasks, "env": a.envs, "overall": [a.overall]}[level]
            found = next((x for x in pool if x.name == name), None)
            cells.append(_ms(found) if found is not None else "")
            ns += [found.n] if found is not None else []
        label = _label(level, name)
        last_of_level = i + 1 == len(names) or names[i + 1][0] != level
        t.add_row(label, "/".join(map(str, sorted(set(ns)))), *cells, end_section=last_of_level)
    console.print(t)
    comp = report.comparison
    if compare and comp is not None:
        c = Table(
            title=f"A = {comp.a} vs B = {comp.b}: paired over common seeds (progression %, A - B ± SE)"
        )
        c.add_column("env / task", no_wrap=True)
        for col in ("n", comp.a, comp.b, "A - B"):
            c.add_column(col, justify="right")
        rows = [("task", r) for r in comp.tasks] + [("env", r) for r in comp.envs]
        if comp.overall is not None:
            rows.append(("overall", comp.overall))
        for level, r in rows:
            c.add_row(
                _label(level, r.name),
                str(r.n),
                f"{r.mean_a:.1f}",
                f"{r.mean_b:.1f}",
                f"{r.diff:+.1f} ± {r.diff_se:.1f}",
            )
        console.print(c)
    if diagnostics:
        d = Table(title="Trace diagnostics (mean per episode)")
        d.add_column("agent", no_wrap=True)
        d.add_column("env", no_wrap=True)
        for k in _DIAG_KEYS:
            d.add_column(_SHORT.get(k, k), justify="right")
        for a in report.agents:
            for env, vals in a.diagnostics.items():
                d.add_row(a.agent, env, *(_num(vals.get(k, 0.0)) for k in _DIAG_KEYS))
        console.print(d)


def _markdown(report: BenchReport) -> str:
    lines = ["| agent | level | env / task | n | progression % |", "|---|---|---|---|---|"]
    for a in report.agents:
        for level, scores in (("task", a.tasks), ("env", a.envs), ("overall", [a.overall])):
            for s in scores:
                lines.append(f"| {a.agent} | {level} | {s.name} | {s.n} | {_ms(s)} |")
    comp = report.comparison
    if comp is not None:
        lines += [
            "",
            f"| {comp.a} vs {comp.b} | n | {comp.a} | {comp.b} | diff ± SE |",
            "|---|---|---|---|---|",
        ]
        rows = [*comp.tasks, *comp.envs, *([comp.overall] if comp.overall else [])]
        for r in rows:
            lines.append(
                f"| {r.name} | {r.n} | {r.mean_a:.1f} | {r.mean_b:.1f} | "
                f"{r.diff:+.1f} ± {r.diff_se:.1f} |"
            )
    lines += ["", "| agent | env | " + " | ".join(_DIAG_KEYS) + " |"]
    lines.append("|---|---|" + "---|" * len(_DIAG_KEYS))
    for a in report.agents:
        for env, vals in a.diagnostics.items():
            cells = " | ".join(f"{vals.get(k, 0.0):.2f}" for k in _DIAG_KEYS)
            lines.append(f"| {a.agent} | {env} | {cells} |")
    return "\n".join(lines) + "\n"


def _plot(report: BenchReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(s.name for a in report.agents for s in a.tasks))
    labels.append("overall")
    k = max(1, len(report.agents))
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(labels) * (1 + k / 3)), 3.8))
    for i, a in enumerate(report.agents):
        xs, ys, es = [], [], []
        for j, name in enumerate(labels):
            s = (
                a.overall
                if name == "overall"
                else next((x for x in a.tasks if x.name == name), None)
            )
            if s is not None:
                xs.append(j + i * width)
                ys.append(s.mean)
                es.append(s.se)
        ax.bar(xs, ys, width, yerr=es, label=a.agent, capsize=3)
    ax.set_xticks([j + width * (k - 1) / 2 for j in range(len(labels))])
    ax.set_xticklabels([n.split("/")[-1] for n in labels], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("progression % (mean ± SE)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: BenchReport, out: str | Path, *, plot: bool = True) -> list[Path]:
    """Write ``bench_report.json``, ``bench_report.md`` and (``plot``) ``bench_report.png``.

    Returns:
        The paths written.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / "bench_report.json", root / "bench_report.md"]
    paths[0].write_text(report.model_dump_json(indent=1), encoding="utf-8")
    paths[1].write_text(_markdown(report), encoding="utf-8")
    if plot and report.agents:
        paths.append(root / "bench_report.png")
        _plot(report, paths[-1])
    return paths


def _print_pipeline(root: Path, console: Console) -> None:
    from rich.table import Table

    data = json.loads((root / "report.json").read_text(encoding="utf-8"))
    rows = data.get("rows", [])
    cols = list(dict.fromkeys(k for r in rows for k in r))
    t = Table(title=f"pipeline {data.get('name', '')}: stages {data.get('stages', {})}")
    for c in cols:
        t.add_column(c, justify="left" if c in ("stage", "env", "scaffold") else "right")
    for r in rows:
        t.add_row(
            *(f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols)
        )
    console.print(t)
    if (root / "progression.png").exists():
        console.print(f"plot: {root / 'progression.png'}")


def report_dir(
    path: str | Path,
    *,
    compare: tuple[str, str] | None = None,
    plot: bool = True,
    console: Console | None = None,
) -> BenchReport | None:
    """Print the report of a benchmark folder (or a structural / pipeline run).

    Returns:
        The benchmark report, or None for a structural or pipeline run.

    Raises:
        AutomemError: the folder is none of those.
    """
    from rich.console import Console

    console = console or Console()
    root = Path(path)
    if not root.is_dir():
        raise AutomemError(f"{root}: no such folder")
    try:
        from automem_sdk.trainers.structural import is_structural_run, render_structural_report
    except ImportError:  # pragma: no cover - trainers not installed
        pass
    else:
        if is_structural_run(root):
            render_structural_report(root, console=console, plot=plot)
            return None
    if (root / "episodes").is_dir():
        report = build_report(load_episodes(root), compare)
        print_report(report, console=console)
        written = write_report(report, root, plot=plot)
        console.print("wrote " + ", ".join(str(p) for p in written))
        return report
    if (root / "report.json").is_file():
        _print_pipeline(root, console)
        return None
    raise AutomemError(
        f"{root}: not a benchmark folder (no episodes/), structural run or pipeline output"
    )
