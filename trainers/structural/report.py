"""Report of a structural run: the accepted chain as scaffold diffs, a per-iteration
score table, and a plot of gate scores per iteration.

``automem report DIR`` calls :func:`render_structural_report` when ``DIR`` is a
structural run (:func:`is_structural_run`); ``automem train structural --report DIR``
does the same.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from automem_sdk.trainers.structural.config import StructuralConfig
from automem_sdk.trainers.structural.rundir import (
    LedgerEntry,
    RunDir,
    RunState,
    is_structural_run,
)
from pydantic import BaseModel, Field
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from automem_sdk.scaffold import Scaffold
from automem_sdk.tables import print_whole

__all__ = [
    "ScaffoldDiff",
    "StructuralReport",
    "is_structural_run",
    "plot_gate_scores",
    "render_structural_report",
    "scaffold_diff",
]


class ScaffoldDiff(BaseModel):
    """One accepted step of the chain."""

    iteration: int
    parent: str
    candidate: str
    changelog: list[str] = Field(default_factory=list)
    diff: str


class StructuralReport(BaseModel):
    """What :func:`render_structural_report` found and wrote."""

    run_dir: str
    status: str
    reason: str
    root: str
    best: str
    iterations: int
    accepted: int
    rejected: int
    invalid: int
    chain: list[ScaffoldDiff] = Field(default_factory=list)
    plot: str | None = None
    final: dict[str, Any] | None = None


def _body(s: Scaffold) -> str:
    """YAML of a scaffold without parent/changelog, so diffs show behaviour only."""
    return s.model_copy(update={"parent": None, "changelog": []}).to_yaml()


def scaffold_diff(parent: Scaffold, candidate: Scaffold) -> str:
    """Unified diff of the two scaffolds' YAML (behavioural fields only)."""
    return "".join(
        difflib.unified_diff(
            _body(parent).splitlines(keepends=True),
            _body(candidate).splitlines(keepends=True),
            fromfile=f"{parent.id}.yaml",
            tofile=f"{candidate.id}.yaml",
        )
    )


def plot_gate_scores(entries: list[LedgerEntry], path: Path, title: str = "") -> Path | None:
    """Plot parent and candidate gate means per iteration to a PNG.

    Returns:
        ``path``, or None when matplotlib is missing or there is nothing to plot.
    """
    rows = [e for e in entries if e.parent_mean is not None and e.candidate_mean is not None]
    if not rows:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    xs = [e.iteration for e in rows]
    parent = [float(e.parent_mean or 0.0) for e in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(
        xs,
        parent,
        color="0.45",
        linestyle="--",
        marker="s",
        markersize=5,
        label="parent (accepted so far)",
    )
    for decision, colour, marker in (("accept", "tab:green", "o"), ("reject", "tab:red", "x")):
        px = [e.iteration for e in rows if e.decision == decision]
        py = [float(e.candidate_mean or 0.0) for e in rows if e.decision == decision]
        if px:
            ax.scatter(
                px,
                py,
                color=colour,
                marker=marker,
                s=60,
                label=f"candidate ({decision}ed)",
                zorder=3,
            )
    ax.set_xlabel("iteration")
    ax.set_ylabel("gate score (mean over gate seeds)")
    ax.set_xticks(xs)
    ax.set_title(title or "structural trainer: gate scores")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _faults_by_iteration(
    rd: RunDir, iterations: list[int]
) -> list[tuple[int, list[dict[str, Any]]]]:
    """The silent faults saved with each iteration's reflection (``reflections/NNN.json``)."""
    out: list[tuple[int, list[dict[str, Any]]]] = []
    for it in iterations:
        data = rd.read_json(rd.reflection_path(it))
        if isinstance(data, dict) and data.get("faults"):
            out.append((it, [f for f in data["faults"] if isinstance(f, dict)]))
    return out


def _accepted_chain(rd: RunDir, entries: list[LedgerEntry]) -> list[ScaffoldDiff]:
    """The accepted steps of the ledger, each with its scaffold diff."""
    chain: list[ScaffoldDiff] = []
    for e in entries:
        if e.decision == "accept" and e.candidate is not None:
            parent, cand = rd.load_scaffold(e.parent), rd.load_scaffold(e.candidate)
            chain.append(
                ScaffoldDiff(
                    iteration=e.iteration,
                    parent=e.parent,
                    candidate=e.candidate,
                    changelog=e.changelog,
                    diff=scaffold_diff(parent, cand),
                )
            )
    return chain


def _print_header(console: Console, rd: RunDir, state: RunState, config: StructuralConfig) -> None:
    """The run's status, its configuration and what it spent."""
    console.print(
        f"[bold]Structural run[/bold] {rd.root}  status: {state.status}"
        + (f" ({state.reason})" if state.reason else "")
    )
    console.print(
        f"envs: {', '.join(config.envs)}  gate rule: {config.rule}  metric: {config.metric}  "
        f"proposer: {config.proposer}  gate seeds: {len(config.gate_seeds)}"
        + (f" + {len(config.gate_reserve)} in reserve" if config.gate_reserve else "")
        + (
            f" (refreshed each iteration, stride {config.gate_stride})"
            if config.gate_stride
            else " (the same every iteration: later gate means are selected on them)"
        )
    )
    sp = state.spend
    console.print(
        f"spent: {sp.episodes} episodes, {sp.env_steps} env steps, {sp.tokens} tokens, "
        f"${sp.usd:.4f}   chain: {' -> '.join(state.accepted)}"
    )


def _print_iterations(console: Console, entries: list[LedgerEntry]) -> None:
    """The per-iteration score table, then one note per iteration (reason, changelog)."""
    table = Table(title="Iterations (gate scores: parent -> candidate)")
    table.add_column("iter", justify="right", no_wrap=True)
    table.add_column("candidate", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    table.add_column("gate", justify="right", no_wrap=True)
    table.add_column("delta", justify="right", no_wrap=True)
    table.add_column("eps", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    notes: list[str] = []
    for e in entries:
        colour = {"accept": "green", "reject": "red"}.get(e.decision, "yellow")
        if e.parent_mean is None or e.candidate_mean is None:
            gate, delta = "-", "-"
        else:
            gate = f"{e.parent_mean:.3f} -> {e.candidate_mean:.3f}"
            delta = f"{e.candidate_mean - e.parent_mean:+.3f}"
        change = "; ".join(e.changelog) or "-"
        table.add_row(
            str(e.iteration),
            e.candidate or "-",
            f"[{colour}]{e.decision}[/{colour}]",
            gate,
            delta,
            str(e.cost.episodes),
            str(e.cost.tokens),
        )
        notes.append(
            f"{e.iteration}: [{colour}]{e.decision}[/{colour}] {e.reason}  [dim]{change}[/dim]"
        )
    print_whole(console, table)
    for line in notes:
        console.print(line, highlight=False)


def _print_faults(console: Console, rd: RunDir, entries: list[LedgerEntry]) -> None:
    """The table of silent faults the iterations' reflections saved (nothing if none)."""
    faults = _faults_by_iteration(rd, [e.iteration for e in entries])
    if not faults:
        return
    ft = Table(title="Silent faults in each iteration's reflection (share of episodes/routines)")
    ft.add_column("iter", justify="right", no_wrap=True)
    ft.add_column("fault", no_wrap=True)
    ft.add_column("subject", no_wrap=True)
    ft.add_column("share", justify="right", no_wrap=True)
    ft.add_column("evidence")
    for it, items in faults:
        for f in items:
            ft.add_row(
                str(it),
                str(f.get("name", "")),
                str(f.get("subject", "")),
                f"{float(f.get('share', 0.0)):.2f}",
                str(f.get("evidence", "")),
            )
    print_whole(console, ft)


def _print_chain(console: Console, chain: list[ScaffoldDiff]) -> None:
    """Each accepted step with its changelog and scaffold diff."""
    for step in chain:
        console.print(
            f"[bold green]accepted in iteration {step.iteration}[/bold green]: "
            f"{step.parent} -> {step.candidate}  ({'; '.join(step.changelog)})"
        )
        console.print(Syntax(step.diff or "(no textual change)\n", "diff", word_wrap=True))


def _print_final(console: Console, final: Any, config: StructuralConfig) -> None:
    """The final evaluation (``final.json``), or why there is none."""
    if isinstance(final, dict):
        lo, hi = final["ci95"]
        console.print(f"[bold]Final evaluation on {final['n']} seeds nobody used[/bold]")
        ft = Table()
        for col in ("scaffold", "mean", "n"):
            ft.add_column(col, justify="right" if col != "scaffold" else "left", no_wrap=True)
        ft.add_row(f"start {final['start']}", f"{final['start_mean']:.3f}", str(final["n"]))
        ft.add_row(
            f"accepted {final['accepted']}", f"{final['accepted_mean']:.3f}", str(final["n"])
        )
        print_whole(console, ft)
        console.print(
            f"accepted - start: {final['diff']:+.3f} (paired bootstrap 95% CI {lo:+.3f} .. "
            f"{hi:+.3f}; {final['wins']} seed(s) better, {final['losses']} worse)",
            highlight=False,
        )
    elif config.final_seeds:
        console.print(
            "[yellow]no final evaluation yet (the run has not finished): resume it to play "
            "the final seeds[/yellow]"
        )
    else:
        console.print(
            "[yellow]no final evaluation: give --final-seeds (>= 30 seeds nobody used) for an "
            "unbiased estimate; gate means reuse the seeds the loop selected on[/yellow]"
        )


def render_structural_report(
    run_dir: str | Path,
    *,
    console: Console | None = None,
    plot: bool = True,
    show_diffs: bool = True,
) -> StructuralReport:
    """Print the report of a structural run and write its plot.

    Args:
        run_dir: the run directory.
        console: where to print (default stdout).
        plot: write ``report/gate_scores.png`` in the run directory.
        show_diffs: print the accepted chain's scaffold diffs.

    Returns:
        The report's data.

    Raises:
        RunDirError: ``run_dir`` is not a structural run.
    """
    console = console or Console()
    rd = RunDir(run_dir)
    state = rd.read_state()
    config = rd.read_config()
    entries = rd.read_ledger()
    chain = _accepted_chain(rd, entries)
    counts = {
        d: sum(1 for e in entries if e.decision == d) for d in ("accept", "reject", "invalid")
    }
    _print_header(console, rd, state, config)
    _print_iterations(console, entries)
    _print_faults(console, rd, entries)
    if show_diffs:
        _print_chain(console, chain)
    final = rd.read_json(rd.root / "final.json")
    _print_final(console, final, config)
    png: Path | None = None
    if plot:
        n = max((len(e.scores) for e in entries), default=0)
        title = (
            f"Structural loop: parent vs candidate gate mean per iteration "
            f"(n={n} gate seeds per point, gate rule {config.rule})"
        )
        png = plot_gate_scores(entries, rd.root / "report" / "gate_scores.png", title)
        if png is not None:
            console.print(f"plot: {png}")
    return StructuralReport(
        run_dir=str(rd.root),
        status=state.status,
        reason=state.reason,
        root=state.root_id,
        best=state.best_id,
        iterations=len(entries),
        accepted=counts["accept"],
        rejected=counts["reject"],
        invalid=counts["invalid"],
        chain=chain,
        plot=str(png) if png is not None else None,
        final=final if isinstance(final, dict) else None,
    )
