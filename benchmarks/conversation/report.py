"""Reports of the conversational benchmark: accuracy tables, paired bootstrap contrasts
(by size and by question type), a plot, and the files ``write_report`` leaves."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .dialogue import QUESTION_TYPES, SIZES
from .run import CONDITIONS, QuestionResult

__all__ = ["Report", "build_report", "markdown", "write_report"]


@dataclass
class Report:
    """Accuracy tables and paired contrasts of a benchmark run.

    ``contrasts`` rows hold ``contrast`` (``A - B``), ``n`` (seeds), one
    ``[estimate, low, high]`` per size and ``all``, and ``by_type`` (question type ->
    the same triple; the paired unit is a dialogue).
    """

    n_seeds: int
    sizes: list[str]
    conditions: list[str]
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)
    by_size: dict[str, dict[str, float]] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    memory_bytes: dict[str, dict[str, float]] = field(default_factory=dict)
    n_questions: dict[str, int] = field(default_factory=dict)
    contrasts: list[dict[str, Any]] = field(default_factory=list)


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs) if xs else float("nan")


def _pairs(conds: list[str], reference: str | None) -> list[tuple[str, str]]:
    """(A, B) contrasts: ``automem`` minus each other condition when it ran and no
    ``reference`` is named, else each other condition minus the reference (the first
    condition when none is named)."""
    if reference is None and "automem" in conds:
        return [("automem", c) for c in conds if c != "automem"]
    ref = reference if reference is not None else conds[0]
    return [(c, ref) for c in conds if c != ref]


def _contrast(
    results: Sequence[QuestionResult], a: str, b: str, sizes: list[str], resamples: int
) -> dict[str, Any]:
    from automem_sdk.benchmarks.harness.stats import paired_bootstrap

    cell: dict[tuple[str, int, str], list[float]] = {}
    typed: dict[tuple[str, int, str, str], list[float]] = {}
    for r in results:
        cell.setdefault((r.condition, r.seed, r.size), []).append(float(r.correct))
        typed.setdefault((r.condition, r.seed, r.size, r.qtype), []).append(float(r.correct))
    units = sorted({(seed, s) for (c, seed, s) in cell if c == a and (b, seed, s) in cell})
    diffs = {
        "conversation": {
            s: [
                _mean(cell[(a, seed, z)]) - _mean(cell[(b, seed, z)]) for seed, z in units if z == s
            ]
            for s in sizes
        }
    }
    boot = paired_bootstrap(diffs, resamples=resamples)
    row: dict[str, Any] = {"contrast": f"{a} - {b}", "n": len({seed for seed, _ in units})}
    for s in sizes:
        iv = boot.tasks[("conversation", s)]
        row[s] = [iv.estimate, iv.low, iv.high]
    assert boot.overall is not None
    row["all"] = [boot.overall.estimate, boot.overall.low, boot.overall.high]
    by_type: dict[str, list[float]] = {}
    for t in QUESTION_TYPES:
        xs = [
            _mean(typed[(a, seed, z, t)]) - _mean(typed[(b, seed, z, t)])
            for seed, z in units
            if (a, seed, z, t) in typed and (b, seed, z, t) in typed
        ]
        if xs:
            tb = paired_bootstrap({"conversation": {t: xs}}, resamples=resamples)
            iv = tb.tasks[("conversation", t)]
            by_type[t] = [iv.estimate, iv.low, iv.high]
    row["by_type"] = by_type
    return row


def build_report(
    results: Sequence[QuestionResult], *, resamples: int = 5000, reference: str | None = None
) -> Report:
    """Accuracy by condition x question type and x size, tokens per question, and the
    paired bootstrap of the contrasts (see :func:`_pairs`; per seed and size, and per
    question type).

    Args:
        results: question results of one run.
        resamples: bootstrap resamples.
        reference: the condition the others are compared with (``None``: ``automem``
            minus each other condition, else the first condition).
    """
    seen = list(dict.fromkeys(r.condition for r in results))
    conds = [c for c in CONDITIONS if c in seen] + [c for c in seen if c not in CONDITIONS]
    if reference is not None or "automem" not in seen:
        conds = seen  # custom labels keep the order they were given in
    sizes = [s for s in SIZES if any(r.size == s for r in results)]
    seeds = sorted({r.seed for r in results})
    rep = Report(n_seeds=len(seeds), sizes=sizes, conditions=conds)
    for c in conds:
        rs = [r for r in results if r.condition == c]
        rep.overall[c] = _mean([float(r.correct) for r in rs])
        rep.tokens[c] = _mean([float(r.prompt_tokens) for r in rs])
        rep.n_questions[c] = len(rs)
        rep.by_type[c] = {
            t: _mean([float(r.correct) for r in rs if r.qtype == t]) for t in QUESTION_TYPES
        }
        rep.by_size[c] = {s: _mean([float(r.correct) for r in rs if r.size == s]) for s in sizes}
        rep.memory_bytes[c] = {
            s: _mean([float(r.memory_bytes) for r in rs if r.size == s]) for s in sizes
        }
    if len(conds) > 1:
        for a, b in _pairs(conds, reference):
            rep.contrasts.append(_contrast(results, a, b, sizes, resamples))
    return rep


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f}"


def _ci(x: Sequence[float]) -> str:
    return f"{100 * x[0]:+.1f} [{100 * x[1]:+.1f}, {100 * x[2]:+.1f}]"


def _contrast_lines(rep: Report) -> list[str]:
    lines = [
        "",
        "Paired difference in accuracy (points, 95% bootstrap CI over seeds)",
        "",
        "| contrast | n seeds | " + " | ".join(f"size {s}" for s in rep.sizes) + " | all |",
        "|---" * (3 + len(rep.sizes)) + "|",
    ]
    for row in rep.contrasts:
        cells = [_ci(row[k]) for k in [*rep.sizes, "all"]]
        lines.append(f"| {row['contrast']} | {row['n']} | " + " | ".join(cells) + " |")
    types = [t for t in QUESTION_TYPES if any(t in r.get("by_type", {}) for r in rep.contrasts)]
    if types:
        lines += [
            "",
            "Paired difference by question type (points, 95% bootstrap CI over dialogues)",
            "",
            "| contrast | " + " | ".join(types) + " |",
            "|---" * (1 + len(types)) + "|",
        ]
        for row in rep.contrasts:
            bt = row.get("by_type", {})
            cells = [_ci(bt[t]) if t in bt else "-" for t in types]
            lines.append(f"| {row['contrast']} | " + " | ".join(cells) + " |")
    return lines


def markdown(rep: Report) -> str:
    """The report as Markdown tables (accuracy in %, 95% paired bootstrap CIs)."""
    lines = [
        f"Accuracy (%) on {rep.n_seeds} seeds x sizes {', '.join(rep.sizes)} "
        "(questions per condition: "
        + ", ".join(f"{c} {rep.n_questions[c]}" for c in rep.conditions)
        + ")",
        "",
        "| condition | all | "
        + " | ".join(QUESTION_TYPES)
        + " | "
        + " | ".join(f"size {s}" for s in rep.sizes)
        + " | words/question |",
        "|---" * (3 + len(QUESTION_TYPES) + len(rep.sizes)) + "|",
    ]
    for c in rep.conditions:
        cells = [_pct(rep.overall[c])]
        cells += [_pct(rep.by_type[c][t]) for t in QUESTION_TYPES]
        cells += [_pct(rep.by_size[c][s]) for s in rep.sizes]
        cells.append(f"{rep.tokens[c]:.0f}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    if rep.contrasts:
        lines += _contrast_lines(rep)
    mem = [c for c in rep.conditions if any(v for v in rep.memory_bytes[c].values())]
    if mem:
        lines += ["", "Memory size (bytes in the store after the dialogue, mean)", ""]
        lines += ["| condition | " + " | ".join(f"size {s}" for s in rep.sizes) + " |"]
        lines += ["|---" * (1 + len(rep.sizes)) + "|"]
        for c in mem:
            lines.append(
                f"| {c} | " + " | ".join(f"{rep.memory_bytes[c][s]:.0f}" for s in rep.sizes) + " |"
            )
    return "\n".join(lines) + "\n"


def _plot(rep: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(1, len(rep.conditions))
    for i, c in enumerate(rep.conditions):
        xs = [k + i * width for k in range(len(QUESTION_TYPES))]
        a.bar(xs, [100 * rep.by_type[c][t] for t in QUESTION_TYPES], width, label=c)
        style = ("-", "--", ":", "-.")[i % 4]
        b.plot(
            rep.sizes,
            [100 * rep.by_size[c][s] for s in rep.sizes],
            marker="os^D"[i % 4],
            linestyle=style,
            label=c,
        )
    a.set_xticks([k + 0.4 - width / 2 for k in range(len(QUESTION_TYPES))], QUESTION_TYPES)
    a.set_ylabel("accuracy (%)")
    a.set_title(f"By question type ({rep.n_seeds} seeds)")
    b.set_xlabel("memory size (facts and sessions: S < M < L)")
    b.set_title("By memory size (overlapping lines: equal scores)")
    b.set_ylabel("accuracy (%)")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.suptitle("Conversational memory benchmark (keyless, scripted task model)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    results: Sequence[QuestionResult],
    out: str | Path,
    *,
    plot: bool = True,
    reference: str | None = None,
) -> Report:
    """Write ``results.jsonl``, ``report.json``, ``report.md`` (and ``report.png``);
    ``reference`` as in :func:`build_report`."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "results.jsonl", "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(asdict(r)) + "\n")
    rep = build_report(results, reference=reference)
    (root / "report.json").write_text(json.dumps(asdict(rep), indent=1), encoding="utf-8")
    (root / "report.md").write_text(markdown(rep), encoding="utf-8")
    if plot:
        _plot(rep, root / "report.png")
    return rep
