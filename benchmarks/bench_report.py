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
from typing import TYPE_CHECKING, Any

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


def _fit(console: Console, table: Any) -> None:
    """Print ``table`` whole: in a terminal it fits the width (labels fold, numbers never
    wrap); piped, the table is as wide as it needs to be, so nothing is cut."""
    if console.is_terminal:
        console.print(table)
        return
    width = console.width
    need = console.measure(table, options=console.options.update(width=10_000)).maximum
    console.width = max(width, need)
    try:
        console.print(table)
    finally:
        console.width = width


def _numeric(table: Any, name: str, cells: Sequence[str]) -> None:
    """A right-aligned column that never wraps and is as wide as its longest cell."""
    width = max([len(name), *(len(c) for c in cells)])
    table.add_column(name, justify="right", no_wrap=True, min_width=width)


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
    console.print(
        "[bold]Progression % (mean ± SE); * = env: mean over all its episodes; "
        "overall = BALROG; n = episodes per agent[/]"
    )
    t = Table()
    t.add_column("env / task", overflow="fold")
    names: list[tuple[str, str]] = []
    for level in ("task", "env"):
        for a in report.agents:
            for s in a.tasks if level == "task" else a.envs:
                if (level, s.name) not in names:
                    names.append((level, s.name))
    names.append(("overall", "overall"))
    body: list[tuple[str, str, list[str], bool]] = []
    for i, (level, name) in enumerate(names):
        cells: list[str] = []
        ns: list[int] = []
        for a in report.agents:
            pool = {"task": a.tasks, "env": a.envs, "overall": [a.overall]}[level]
            found = next((x for x in pool if x.name == name), None)
            cells.append(_ms(found) if found is not None else "-")
            ns += [found.n] if found is not None else []
        last_of_level = i + 1 == len(names) or names[i + 1][0] != level
        body.append(
            (_label(level, name), "/".join(map(str, sorted(set(ns)))), cells, last_of_level)
        )
    _numeric(t, "n", [b[1] for b in body])
    for j, a in enumerate(report.agents):
        _numeric(t, a.agent, [b[2][j] for b in body])
    for label, n, cells, last in body:
        t.add_row(label, n, *cells, end_section=last)
    _fit(console, t)
    missing = [
        f"{a.agent} has no {name}"
        for level, name in names
        if level == "task"
        for a in report.agents
        if not any(x.name == name for x in a.tasks)
    ]
    if missing:
        console.print("missing (-): " + "; ".join(missing), highlight=False)
    comp = report.comparison
    if compare and comp is not None:
        console.print(
            f"[bold]A = {comp.a} vs B = {comp.b}: paired over common seeds "
            "(progression %, A - B ± SE; n = seeds both played)[/]"
        )
        c = Table()
        c.add_column("env / task", overflow="fold")
        rows = [("task", r) for r in comp.tasks] + [("env", r) for r in comp.envs]
        if comp.overall is not None:
            rows.append(("overall", comp.overall))
        comp_cells = [
            [
                str(r.n),
                f"{r.mean_a:.1f}",
                f"{r.mean_b:.1f}",
                f"{r.diff:+.1f} ± {r.diff_se:.1f}",
            ]
            for _, r in rows
        ]
        for j, col in enumerate(("n", comp.a, comp.b, "A - B")):
            _numeric(c, col, [row[j] for row in comp_cells])
        for (level, r), row in zip(rows, comp_cells, strict=True):
            c.add_row(_label(level, r.name), *row)
        _fit(console, c)
    if diagnostics:
        legend = ", ".join(f"{v} = {k}" for k, v in _SHORT.items())
        console.print(f"[bold]Trace diagnostics (mean per episode)[/] ({legend})")
        d = Table()
        d.add_column("agent", overflow="fold")
        d.add_column("env", overflow="fold")
        drows = [
            (a.agent, env, [_num(vals.get(k, 0.0)) for k in _DIAG_KEYS])
            for a in report.agents
            for env, vals in a.diagnostics.items()
        ]
        for j, k in enumerate(_DIAG_KEYS):
            _numeric(d, _SHORT.get(k, k), [r[2][j] for r in drows])
        for agent, env, vals in drows:
            d.add_row(agent, env, *vals)
        _fit(console, d)


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
    import matplotlib.pyplot as plt

    fig = _figure(report)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure(report: BenchReport) -> Any:
    """Grouped bars per task (and overall): mean ± SE, each bar labelled with its mean and
    n; a zero bar is drawn as a marked baseline; a task an agent did not play is marked
    "no episodes"; unequal n within a group is noted under the plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(s.name for a in report.agents for s in a.tasks))
    labels.append("overall")
    k = max(1, len(report.agents))
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) * (1 + k / 3)), 4.6))
    top = max([s.mean + s.se for a in report.agents for s in [*a.tasks, a.overall]] + [1.0])
    missing: list[str] = []
    ns_by_label: dict[str, set[int]] = {}
    for i, a in enumerate(report.agents):
        xs, ys, es = [], [], []
        for j, name in enumerate(labels):
            x = j + i * width
            s = (
                a.overall
                if name == "overall"
                else next((t for t in a.tasks if t.name == name), None)
            )
            if s is None:
                missing.append(f"{a.agent}: {name.split('/')[-1]}")
                ax.text(x, top * 0.02, "no episodes", rotation=90, ha="center", va="bottom",
                        fontsize=6, color="0.4")  # fmt: skip
                continue
            xs.append(x)
            ys.append(s.mean)
            es.append(s.se)
            ns_by_label.setdefault(name, set()).add(s.n)
            ax.text(x, s.mean + s.se + top * 0.02, f"{s.mean:.0f}\nn={s.n}", ha="center",
                    va="bottom", fontsize=6)  # fmt: skip
        bars = ax.bar(xs, ys, width, yerr=es, label=a.agent, capsize=3)
        color = bars.patches[0].get_facecolor() if bars.patches else None
        zero = [x for x, y in zip(xs, ys, strict=True) if y == 0]
        if zero:  # a zero bar has no height: draw its baseline so it is seen
            ax.scatter(zero, [0] * len(zero), marker="_", s=300, linewidths=3, color=color,
                       zorder=3, clip_on=False)  # fmt: skip
    ax.set_xticks([j + width * (k - 1) / 2 for j in range(len(labels))])
    ax.set_xticklabels([n.split("/")[-1] for n in labels], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("progression % (mean ± SE)")
    ax.set_ylim(0, top * 1.25)
    n_total = report.n_episodes
    ax.set_title(
        f"Progression per task and overall (BALROG aggregation), {n_total} episodes",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    notes = []
    unequal = [n.split("/")[-1] for n, ns in ns_by_label.items() if len(ns) > 1]
    if unequal:
        notes.append("unequal n between agents: " + ", ".join(unequal))
    if missing:
        notes.append("no episodes: " + "; ".join(missing))
    if notes:
        fig.text(0.01, 0.01, "\n".join(notes), fontsize=7, ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.04 * len(notes), 1, 1))
    return fig


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


def _print_pipeline(root: Path, console: Console, fmt: str = "table") -> None:
    from rich.table import Table

    data = json.loads((root / "report.json").read_text(encoding="utf-8"))
    rows = data.get("rows", [])
    cols = list(dict.fromkeys(k for r in rows for k in r))
    if fmt != "table":
        from automem_sdk.cli import emit_table

        emit_table(
            f"pipeline {data.get('name', '')}",
            cols,
            [[r.get(c) for c in cols] for r in rows],
            fmt=fmt,
        )
        return
    console.print(f"[bold]pipeline {data.get('name', '')}[/]: stages {data.get('stages', {})}")
    t = Table()
    text_cols = [c for c in cols if not any(isinstance(r.get(c), int | float) for r in rows)]
    cells = [
        [f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols]
        for r in rows
    ]
    for j, c in enumerate(cols):
        if c in text_cols:
            t.add_column(c, overflow="fold")
        else:
            _numeric(t, c, [row[j] for row in cells])
    for row in cells:
        t.add_row(*row)
    _fit(console, t)
    if (root / "progression.png").exists():
        console.print(f"plot: {root / 'progression.png'}")


def _flat_rows(report: BenchReport) -> tuple[list[str], list[list[object]]]:
    cols = ["agent", "level", "name", "n", "mean", "se"]
    rows: list[list[object]] = []
    for a in report.agents:
        for level, scores in (("task", a.tasks), ("env", a.envs), ("overall", [a.overall])):
            rows += [[a.agent, level, s.name, s.n, s.mean, s.se] for s in scores]
    return cols, rows


def report_dir(
    path: str | Path,
    *,
    compare: tuple[str, str] | None = None,
    plot: bool = True,
    console: Console | None = None,
    fmt: str = "table",
) -> BenchReport | None:
    """Print the report of a benchmark folder (or a structural / pipeline run).

    Args:
        path: the folder.
        compare: the two agents of the paired comparison.
        plot: write the PNG.
        console: where the tables go.
        fmt: ``table`` (rich tables), or ``md``/``csv``/``json`` printed to stdout for
            piping (a structural run always renders its own report).

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
        written = write_report(report, root, plot=plot)
        if fmt == "md":
            print(_markdown(report), end="")
        elif fmt == "json":
            print(report.model_dump_json(indent=1))
        elif fmt == "csv":
            from automem_sdk.cli import emit_table

            emit_table("progression %", *_flat_rows(report), fmt="csv")
        else:
            print_report(report, console=console)
            console.print("wrote " + ", ".join(str(p) for p in written))
        return report
    if (root / "report.json").is_file():
        _print_pipeline(root, console, fmt)
        return None
    raise AutomemError(
        f"{root}: not a benchmark folder (no episodes/), structural run or pipeline output"
    )
