"""``automem report DIR``: benchmark tables (BALROG aggregation), comparisons, diagnostics, plot.

Aggregation follows BALROG: a task's score is the mean progression over its episodes;
an env's score is the mean over all of its episodes (MiniHack is one env made of eight
tasks), with standard error ``std / sqrt(n)`` (population std, ``ddof=0``, as BALROG's
``np.std``); the overall score is the mean of the env means, with standard error
``sqrt(sum(se_env ** 2)) / n_envs``. Scores are progression in percent. BALROG's own
overall averages its six games; the overall here is over the games the folder holds, and
every table and plot says how many.

Comparisons pair two agents seed by seed (the same worlds): per task, env and overall
the mean paired difference with a 95% paired bootstrap confidence interval over seeds
(:func:`~automem_sdk.benchmarks.harness.stats.paired_bootstrap`, stratified by task). By default
each memory agent is compared with its no-memory baselines when both were played:
``explorer`` vs ``explorer-hist16`` (the BALROG-style history window twin) and vs
``explorer-stateless`` (and vs ``explorer@memgpt``, the same explorer on the MemGPT-style
scaffold), ``balrog+memory`` vs ``balrog``, and two-model runs with the scripted map
keeper vs the blank memory model.

Every table counts episodes (``n``) and lists missing ones: episodes a run planned
(``OUT/runs/*.plan.json``) but did not finish, or, for folders without plans, seeds
another agent played in the same env. Trace diagnostics (redundant writes, unproductive
actions, tokens per step, ...) are averaged per agent and env.

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

from automem_sdk.episode_result import EpisodeResult
from automem_sdk.errors import AutomemError
from automem_sdk.tables import numeric_column, print_whole

from .runner import load_episodes, load_plan
from .stats import DEFAULT_RESAMPLES, paired_bootstrap

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "DEFAULT_CONTRASTS",
    "HEADLINE_MIN_SEEDS",
    "AgentScores",
    "BenchReport",
    "Comparison",
    "ComparisonRow",
    "MissingEpisodes",
    "Score",
    "aggregate",
    "build_report",
    "default_contrasts",
    "env_family",
    "mean_se",
    "print_report",
    "report_dir",
    "write_report",
]

#: Memory agent vs baseline pairs compared by default, when both were played.
DEFAULT_CONTRASTS: tuple[tuple[str, str], ...] = (
    ("explorer", "explorer-hist16"),
    ("explorer", "explorer-stateless"),
    ("explorer", "explorer@memgpt"),
    ("explorer", "explorer-nomem"),
    ("explorer-hist16", "explorer-stateless"),
    ("balrog+memory", "balrog"),
    ("tm-explorer+planner", "tm-blank+planner"),
)
#: Seeds a headline comparison should have per task (fewer are flagged).
HEADLINE_MIN_SEEDS = 30
#: Games BALROG's overall score averages over.
BALROG_GAMES = 6
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


def _label(level: str, name: str, n_games: int = 0) -> str:
    """Row label: tasks indented under their env (``  MazeWalk-9x9``), envs as ``minihack *``,
    overall as ``overall (mean of N games)``."""
    if level == "task":
        family, _, task = name.partition("/")
        return f"  {task}" if task else f"  {family}"
    if level == "env":
        return f"{name} *"
    return overall_label(n_games)


def overall_label(n_games: int) -> str:
    """``overall (mean of 2 games)``: BALROG's overall is a mean over its 6 games."""
    if n_games <= 0:
        return "overall"
    return f"overall (mean of {n_games} game{'s' if n_games != 1 else ''})"


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}"


class Score(BaseModel):
    """A mean with its standard error over ``n`` episodes (or envs).

    ``missing`` counts the episodes expected but not finished (see the module docstring).
    """

    name: str
    n: int
    mean: float
    se: float
    missing: int = 0


class AgentScores(BaseModel):
    """One agent's scores: per task, per env, overall, and mean diagnostics per env."""

    agent: str
    tasks: list[Score] = Field(default_factory=list)
    envs: list[Score] = Field(default_factory=list)
    overall: Score
    diagnostics: dict[str, dict[str, float]] = Field(default_factory=dict)


class ComparisonRow(BaseModel):
    """Agent A vs agent B on one task (or env, or overall) over common seeds.

    ``ci_low``/``ci_high`` bound the paired bootstrap confidence interval of ``diff``;
    ``unpaired`` counts seeds only one of the two agents finished (left out).
    """

    name: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    diff_se: float
    ci_low: float = 0.0
    ci_high: float = 0.0
    unpaired: int = 0


class Comparison(BaseModel):
    """Paired comparison of two agents (``level`` confidence, bootstrap ``resamples``)."""

    a: str
    b: str
    level: float = 0.95
    resamples: int = DEFAULT_RESAMPLES
    tasks: list[ComparisonRow] = Field(default_factory=list)
    envs: list[ComparisonRow] = Field(default_factory=list)
    overall: ComparisonRow | None = None


class MissingEpisodes(BaseModel):
    """Seeds an agent was expected to play in an env but did not finish."""

    agent: str
    env: str
    expected: int
    seeds: list[int] = Field(default_factory=list)


class BenchReport(BaseModel):
    """Everything ``automem report`` prints for a benchmark folder.

    ``n_games`` is the number of envs (BALROG games) the overall score averages over.
    """

    agents: list[AgentScores] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)
    missing: list[MissingEpisodes] = Field(default_factory=list)
    n_episodes: int = 0
    n_expected: int = 0
    n_games: int = 0

    @property
    def comparison(self) -> Comparison | None:
        """The first comparison (None when there is none)."""
        return self.comparisons[0] if self.comparisons else None

    @property
    def n_missing(self) -> int:
        """Episodes expected but not finished."""
        return sum(len(m.seeds) for m in self.missing)


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


def _pct(rows: Iterable[EpisodeResult]) -> list[float]:
    return [100.0 * r.progression for r in rows]


def _agent_scores(
    agent: str, rows: list[EpisodeResult], missing: Mapping[str, int] | None = None
) -> AgentScores:
    missing = missing or {}
    tasks: list[Score] = []
    by_env: dict[str, list[float]] = {}
    for env in sorted({r.env for r in rows}):
        sel = [r for r in rows if r.env == env]
        m, se = mean_se(_pct(sel))
        tasks.append(Score(name=env, n=len(sel), mean=m, se=se, missing=missing.get(env, 0)))
        by_env.setdefault(env_family(env), []).extend(_pct(sel))
    envs, overall = aggregate(by_env)
    for e in envs:
        e.missing = sum(v for k, v in missing.items() if env_family(k) == e.name)
    overall.missing = sum(missing.values())
    diagnostics: dict[str, dict[str, float]] = {}
    for fam in by_env:
        sel = [r for r in rows if env_family(r.env) == fam]
        diagnostics[fam] = {
            k: math.fsum(r.diagnostics.get(k, 0.0) for r in sel) / len(sel) for k in _DIAG_KEYS
        }
    return AgentScores(
        agent=agent, tasks=tasks, envs=envs, overall=overall, diagnostics=diagnostics
    )


def _row(name: str, pairs: list[tuple[float, float]], lo: float, hi: float) -> ComparisonRow:
    diffs = [a - b for a, b in pairs]
    dm, dse = mean_se(diffs)
    return ComparisonRow(
        name=name,
        n=len(pairs),
        mean_a=math.fsum(a for a, _ in pairs) / len(pairs),
        mean_b=math.fsum(b for _, b in pairs) / len(pairs),
        diff=dm,
        diff_se=dse,
        ci_low=lo,
        ci_high=hi,
    )


def _compare(
    rows: list[EpisodeResult],
    a: str,
    b: str,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
) -> Comparison | None:
    index = {(r.agent, r.env, r.seed): 100.0 * r.progression for r in rows}
    envs = sorted({r.env for r in rows if r.agent == a} & {r.env for r in rows if r.agent == b})
    pairs_by: dict[str, dict[str, list[tuple[float, float]]]] = {}
    unpaired: dict[str, int] = {}
    for env in envs:
        sa = {r.seed or 0 for r in rows if r.agent == a and r.env == env}
        sb = {r.seed or 0 for r in rows if r.agent == b and r.env == env}
        seeds = sorted(sa & sb)
        if seeds:
            pairs = [(index[(a, env, s)], index[(b, env, s)]) for s in seeds]
            pairs_by.setdefault(env_family(env), {})[env] = pairs
            unpaired[env] = len(sa ^ sb)
    if not pairs_by:
        return None
    boot = paired_bootstrap(
        {f: {t: [x - y for x, y in p] for t, p in ts.items()} for f, ts in pairs_by.items()},
        resamples=resamples,
        level=level,
    )
    comp = Comparison(a=a, b=b, level=level, resamples=resamples)
    for fam, ts in pairs_by.items():
        for env, pairs in ts.items():
            ci = boot.tasks[(fam, env)]
            comp.tasks.append(_row(env, pairs, ci.low, ci.high))
            comp.tasks[-1].unpaired = unpaired[env]
    comp.tasks.sort(key=lambda r: r.name)
    for fam, ts in pairs_by.items():
        pooled = [p for pairs in ts.values() for p in pairs]
        ci = boot.envs[fam]
        comp.envs.append(_row(fam, pooled, ci.low, ci.high))
        comp.envs[-1].unpaired = sum(unpaired[e] for e in ts)
    k = len(comp.envs)
    assert boot.overall is not None
    comp.overall = ComparisonRow(
        name="overall",
        n=sum(e.n for e in comp.envs),
        mean_a=math.fsum(e.mean_a for e in comp.envs) / k,
        mean_b=math.fsum(e.mean_b for e in comp.envs) / k,
        diff=math.fsum(e.diff for e in comp.envs) / k,
        diff_se=math.sqrt(math.fsum(e.diff_se**2 for e in comp.envs)) / k,
        ci_low=boot.overall.low,
        ci_high=boot.overall.high,
        unpaired=sum(e.unpaired for e in comp.envs),
    )
    return comp


def default_contrasts(agents: Iterable[str]) -> list[tuple[str, str]]:
    """The :data:`DEFAULT_CONTRASTS` (and ``explorer`` vs any ``explorer-hist<N>``) whose
    two agents are both in ``agents``."""
    present = set(agents)
    # Labels may carry run suffixes (``balrog@balrog-obs``): pair names with equal ones.
    suffixes = sorted({"@" + n.split("@", 1)[1] if "@" in n else "" for n in present})
    pairs: list[tuple[str, str]] = []
    for sfx in suffixes:
        for a, b in DEFAULT_CONTRASTS:
            a2, b2 = a + sfx, b if "@" in b else b + sfx
            if a2 != b2 and a2 in present and b2 in present and (a2, b2) not in pairs:
                pairs.append((a2, b2))
        base = "explorer" + sfx
        for name in sorted(present):
            hist = name.removesuffix(sfx) if sfx else name
            if (
                hist.startswith("explorer-hist")
                and hist != "explorer-hist16"
                and name.endswith(sfx)
                and base in present
            ):
                pairs.append((base, name))
    return pairs


def _missing(
    rows: list[EpisodeResult], expected: Mapping[tuple[str, str], set[int]] | None
) -> list[MissingEpisodes]:
    played: dict[tuple[str, str], set[int]] = {}
    for r in rows:
        played.setdefault((r.agent, r.env), set()).add(r.seed or 0)
    if expected is None or not expected:
        # No plan: an env's expected seeds are those any agent played there.
        by_env: dict[str, set[int]] = {}
        for (_, env), seeds in played.items():
            by_env.setdefault(env, set()).update(seeds)
        expected = {(a, e): by_env[e] for (a, e) in played}
    out = []
    for (agent, env), seeds in sorted(expected.items()):
        lost = sorted(seeds - played.get((agent, env), set()))
        if lost:
            out.append(MissingEpisodes(agent=agent, env=env, expected=len(seeds), seeds=lost))
    return out


def build_report(
    rows: Sequence[EpisodeResult],
    compare: tuple[str, str] | Sequence[tuple[str, str]] | None = None,
    *,
    expected: Mapping[tuple[str, str], set[int]] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> BenchReport:
    """Scores per agent, missing episodes, and paired comparisons.

    Args:
        rows: finished episodes.
        compare: one ``(A, B)`` pair or several (default: :func:`default_contrasts`).
        expected: ``(agent, env) -> seeds`` planned (default: per env, the seeds any
            agent played there).
        resamples: bootstrap resamples per comparison.

    Raises:
        AutomemError: an agent of ``compare`` is not in ``rows``.
    """
    rows = list(rows)
    agents = sorted({r.agent for r in rows})
    missing = _missing(rows, expected)
    lost: dict[str, dict[str, int]] = {}
    for m in missing:
        lost.setdefault(m.agent, {})[m.env] = len(m.seeds)
    scores = [_agent_scores(a, [r for r in rows if r.agent == a], lost.get(a)) for a in agents]
    # Agents that were planned but finished nothing still count as missing.
    report = BenchReport(
        agents=scores,
        missing=missing,
        n_episodes=len(rows),
        n_expected=len(rows) + sum(len(m.seeds) for m in missing),
        n_games=len({env_family(r.env) for r in rows}),
    )
    if compare is None:
        pairs = default_contrasts(agents)
    elif compare and isinstance(compare[0], str):
        pairs = [(str(compare[0]), str(compare[1]))]
    else:
        pairs = [(str(p[0]), str(p[1])) for p in compare]
    for a, b in pairs:
        if compare is not None and not (a in agents and b in agents):
            raise AutomemError(f"--compare {a} {b}: the folder holds agents {', '.join(agents)}")
        comp = _compare(rows, a, b, resamples=resamples)
        if comp is not None:
            report.comparisons.append(comp)
    return report


def _ms(s: Score) -> str:
    return f"{s.mean:.1f} ± {s.se:.1f}"


def _ci(r: ComparisonRow) -> str:
    return f"[{r.ci_low:+.1f}, {r.ci_high:+.1f}]"


def missing_text(report: BenchReport) -> str:
    """One line: no missing episodes, or which agent/env lacks how many (and which seeds)."""
    if not report.missing:
        return f"missing episodes: none ({report.n_episodes} of {report.n_expected} finished)"
    parts = []
    for m in report.missing:
        seeds = ", ".join(map(str, m.seeds[:8])) + (" ..." if len(m.seeds) > 8 else "")
        parts.append(f"{m.agent} {m.env}: {len(m.seeds)} of {m.expected} (seeds {seeds})")
    return f"missing episodes ({report.n_missing} of {report.n_expected}): " + "; ".join(parts)


def _print_comparison(console: Console, comp: Comparison, n_games: int) -> None:
    from rich.table import Table

    pct = f"{comp.level * 100:.0f}%"
    console.print(
        f"[bold]A = {comp.a} vs B = {comp.b}: paired over common seeds (progression %; "
        f"A - B with its {pct} paired bootstrap CI, {comp.resamples} resamples of seeds; "
        "n = seeds both played, unpaired = seeds only one played)[/]"
    )
    c = Table()
    c.add_column("env / task", overflow="fold")
    rows = [("task", r) for r in comp.tasks] + [("env", r) for r in comp.envs]
    if comp.overall is not None:
        rows.append(("overall", comp.overall))
    cells = [
        [
            str(r.n),
            str(r.unpaired),
            f"{r.mean_a:.1f}",
            f"{r.mean_b:.1f}",
            f"{r.diff:+.1f}",
            _ci(r),
        ]
        for _, r in rows
    ]
    for j, col in enumerate(("n", "unpaired", comp.a, comp.b, "A - B", f"{pct} CI")):
        numeric_column(c, col, [row[j] for row in cells])
    for (level, r), row in zip(rows, cells, strict=True):
        c.add_row(_label(level, r.name, n_games), *row)
    print_whole(console, c)
    few = [r.name for r in comp.tasks if r.n < HEADLINE_MIN_SEEDS]
    if few:
        console.print(
            f"note: fewer than {HEADLINE_MIN_SEEDS} paired seeds for "
            + ", ".join(few)
            + " (headline tables use at least 30)",
            highlight=False,
        )


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
        "[bold]Progression % (mean ± SE); n = episodes per agent; * = env: mean over all "
        f"its episodes; overall = mean of the {report.n_games} game(s) here "
        f"(BALROG's overall averages {BALROG_GAMES}); {report.n_episodes} of "
        f"{report.n_expected} expected episodes finished[/]"
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
            (
                _label(level, name, report.n_games),
                "/".join(map(str, sorted(set(ns)))),
                cells,
                last_of_level,
            )
        )
    numeric_column(t, "n", [b[1] for b in body])
    for j, a in enumerate(report.agents):
        numeric_column(t, a.agent, [b[2][j] for b in body])
    for label, n, cells, last in body:
        t.add_row(label, n, *cells, end_section=last)
    print_whole(console, t)
    absent = [
        f"{a.agent} has no {name}"
        for level, name in names
        if level == "task"
        for a in report.agents
        if not any(x.name == name for x in a.tasks)
    ]
    if absent:
        console.print("not played (-): " + "; ".join(absent), highlight=False)
    console.print(missing_text(report), highlight=False)
    for comp in report.comparisons if compare else []:
        _print_comparison(console, comp, report.n_games)
    if diagnostics:
        _print_diagnostics(console, report)


def _print_diagnostics(console: Console, report: BenchReport) -> None:
    """The trace diagnostics table: mean per episode, one row per agent and env."""
    from rich.table import Table

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
        numeric_column(d, _SHORT.get(k, k), [r[2][j] for r in drows])
    for agent, env, vals in drows:
        d.add_row(agent, env, *vals)
    print_whole(console, d)


def _markdown(report: BenchReport) -> str:
    lines = [
        f"Progression % (mean ± SE); overall = mean of {report.n_games} game(s) "
        f"(BALROG's overall averages {BALROG_GAMES}); {missing_text(report)}.",
        "",
        "| agent | level | env / task | n | missing | progression % |",
        "|---|---|---|---|---|---|",
    ]
    for a in report.agents:
        for level, scores in (("task", a.tasks), ("env", a.envs), ("overall", [a.overall])):
            for s in scores:
                name = overall_label(report.n_games) if level == "overall" else s.name
                lines.append(f"| {a.agent} | {level} | {name} | {s.n} | {s.missing} | {_ms(s)} |")
    for table in headline_tables(report):
        lines += ["", table]
    lines += ["", "| agent | env | " + " | ".join(_DIAG_KEYS) + " |"]
    lines.append("|---|---|" + "---|" * len(_DIAG_KEYS))
    for a in report.agents:
        for env, vals in a.diagnostics.items():
            cells = " | ".join(f"{vals.get(k, 0.0):.2f}" for k in _DIAG_KEYS)
            lines.append(f"| {a.agent} | {env} | {cells} |")
    return "\n".join(lines) + "\n"


def headline_tables(report: BenchReport) -> list[str]:
    """Markdown tables, one per agent A compared with baselines B1, B2, ...: a row per
    task, env and overall with n, each agent's mean and each A - B with its CI."""
    groups: dict[str, list[Comparison]] = {}
    for comp in report.comparisons:
        groups.setdefault(comp.a, []).append(comp)
    out = []
    for a, comps in groups.items():
        pct = f"{comps[0].level * 100:.0f}%"
        head = ["env / task", "n (seeds)", a, *(c.b for c in comps)]
        head += [f"{a} - {c.b} ({pct} CI)" for c in comps]
        lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        keys: list[tuple[str, str]] = []
        for c in comps:
            for level, rows in (("task", c.tasks), ("env", c.envs)):
                for r in rows:
                    if (level, r.name) not in keys:
                        keys.append((level, r.name))
        keys.append(("overall", "overall"))
        for level, name in keys:
            found: list[ComparisonRow | None] = []
            for c in comps:
                pool: list[ComparisonRow | None] = (
                    list(c.tasks)
                    if level == "task"
                    else list(c.envs)
                    if level == "env"
                    else [c.overall]
                )
                found.append(next((r for r in pool if r is not None and r.name == name), None))
            first = next((r for r in found if r is not None), None)
            if first is None:
                continue
            ns = sorted({r.n for r in found if r is not None})
            label = _label(level, name, report.n_games).strip()
            cells = [label, "/".join(map(str, ns)), f"{first.mean_a:.1f}"]
            cells += [f"{r.mean_b:.1f}" if r is not None else "-" for r in found]
            cells += [f"{r.diff:+.1f} {_ci(r)}" if r is not None else "-" for r in found]
            lines.append("| " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return out


def _plot(report: BenchReport, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = _figure(report)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure(report: BenchReport) -> Any:
    """Grouped bars per task (and overall): mean ± SE, each bar labelled with its mean and
    n (and missing episodes); a zero bar is drawn as a marked baseline; a task an agent
    did not play is marked "no episodes"; unequal n within a group is noted under the
    plot. With comparisons, a second panel shows each A - B with its CI per task and
    overall, the zero line drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(s.name for a in report.agents for s in a.tasks))
    labels.append("overall")
    k = max(1, len(report.agents))
    width = 0.8 / k
    wide = max(6.0, 0.9 * len(labels) * (1 + k / 3))
    if report.comparisons:
        fig, (ax, dax) = plt.subplots(
            2, 1, figsize=(wide, 8.4), gridspec_kw={"height_ratios": [4.6, 3.2]}
        )
    else:
        fig, ax = plt.subplots(figsize=(wide, 4.6))
        dax = None
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
            tag = f"{s.mean:.0f}\nn={s.n}" + (f"\n{s.missing} missing" if s.missing else "")
            ax.text(x, s.mean + s.se + top * 0.02, tag, ha="center", va="bottom",
                    fontsize=6)  # fmt: skip
        bars = ax.bar(xs, ys, width, yerr=es, label=a.agent, capsize=3)
        color = bars.patches[0].get_facecolor() if bars.patches else None
        zero = [x for x, y in zip(xs, ys, strict=True) if y == 0]
        if zero:  # a zero bar has no height: draw its baseline so it is seen
            ax.scatter(zero, [0] * len(zero), marker="_", s=300, linewidths=3, color=color,
                       zorder=3, clip_on=False)  # fmt: skip
    ax.set_xticks([j + width * (k - 1) / 2 for j in range(len(labels))])
    ticks = [_tick(n, report.n_games) for n in labels]
    ax.set_xticklabels(ticks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("progression % (mean ± SE)")
    ax.set_ylim(0, top * 1.25)
    n_total = report.n_episodes
    lost = f", {report.n_missing} missing" if report.n_missing else ", none missing"
    ax.set_title(
        f"Progression per task and overall (mean of {report.n_games} game(s); BALROG "
        f"averages {BALROG_GAMES})\n{n_total} of {report.n_expected} episodes{lost}",
        fontsize=10,
    )
    if dax is not None:
        _diff_panel(dax, report)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    notes = []
    unequal = [n.split("/")[-1] for n, ns in ns_by_label.items() if len(ns) > 1]
    if unequal:
        notes.append("unequal n between agents: " + ", ".join(unequal))
    if missing:
        notes.append("no episodes: " + "; ".join(missing))
    if notes:
        fig.text(0.01, 0.01, "\n".join(notes), fontsize=7, ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.04 * len(notes) / (2 if dax is not None else 1), 1, 1))
    return fig


def _tick(name: str, n_games: int) -> str:
    return overall_label(n_games).replace(" (", "\n(") if name == "overall" else name.split("/")[-1]


def _diff_panel(ax: Any, report: BenchReport) -> None:
    """A - B per task and overall with the bootstrap CI as error bars, zero line drawn."""
    comps = report.comparisons
    labels = [*dict.fromkeys(r.name for c in comps for r in c.tasks), "overall"]
    k = len(comps)
    width = 0.8 / k
    for i, c in enumerate(comps):
        xs, ys, lo, hi = [], [], [], []
        for j, name in enumerate(labels):
            r = (
                c.overall
                if name == "overall"
                else next((t for t in c.tasks if t.name == name), None)
            )
            if r is None:
                continue
            xs.append(j + i * width)
            ys.append(r.diff)
            lo.append(r.diff - r.ci_low)
            hi.append(r.ci_high - r.diff)
            ax.text(xs[-1], r.ci_high, f"{r.diff:+.0f}\nn={r.n}", ha="center", va="bottom",
                    fontsize=6)  # fmt: skip
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3, label=f"{c.a} - {c.b}")
    ax.axhline(0, color="0.3", linewidth=1)
    rows = [r for c in comps for r in [*c.tasks, *([c.overall] if c.overall else [])]]
    hi_all = max([r.ci_high for r in rows] + [0.0])
    lo_all = min([r.ci_low for r in rows] + [0.0])
    pad = max(1.0, (hi_all - lo_all) * 0.2)
    ax.set_ylim(lo_all - pad / 2, hi_all + pad)
    ax.set_xticks([j + width * (k - 1) / 2 for j in range(len(labels))])
    ax.set_xticklabels([_tick(n, report.n_games) for n in labels], rotation=30, ha="right",
                       fontsize=8)  # fmt: skip
    pct = f"{comps[0].level * 100:.0f}%"
    ax.set_ylabel(f"A - B, progression points ({pct} CI)")
    ax.set_title(f"Paired differences over common seeds, {pct} paired bootstrap CIs", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


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
    from automem_sdk.trainers.pipeline import print_summary

    data = json.loads((root / "report.json").read_text(encoding="utf-8"))
    if fmt == "table":
        console.print(f"[bold]pipeline {data.get('name', '')}[/]: stages {data.get('stages', {})}")
    print_summary(data.get("rows", []), fmt=fmt, console=console)
    if fmt == "table" and (root / "progression.png").exists():
        console.print(f"plot: {root / 'progression.png'}")


def _flat_rows(report: BenchReport) -> tuple[list[str], list[list[object]]]:
    cols = ["agent", "level", "name", "n", "missing", "mean", "se"]
    rows: list[list[object]] = []
    for a in report.agents:
        for level, scores in (("task", a.tasks), ("env", a.envs), ("overall", [a.overall])):
            rows += [[a.agent, level, s.name, s.n, s.missing, s.mean, s.se] for s in scores]
    return cols, rows


def report_dir(
    path: str | Path,
    *,
    compare: tuple[str, str] | Sequence[tuple[str, str]] | None = None,
    plot: bool = True,
    console: Console | None = None,
    fmt: str = "table",
) -> BenchReport | None:
    """Print the report of a benchmark folder (or a structural / pipeline run).

    Args:
        path: the folder.
        compare: the agent pair(s) of the paired comparisons (default:
            :func:`default_contrasts`).
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
        report = build_report(load_episodes(root), compare, expected=load_plan(root))
        written = write_report(report, root, plot=plot)
        if fmt == "md":
            print(_markdown(report), end="")
        elif fmt == "json":
            print(report.model_dump_json(indent=1))
        elif fmt == "csv":
            from automem_sdk.tables import emit_table

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
