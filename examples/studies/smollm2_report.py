"""The SmolLM2 study's episode record and its report: mean ± SE per task and side.

:class:`EpisodeRecord` is what the study's ``eval`` stage writes per episode;
:func:`build_report` aggregates them, :func:`report_table`, :func:`report_markdown` and
:func:`plot_report` render the aggregate. Used by ``smollm2_study.py`` next to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from pydantic import model_validator
from rich.table import Table

from automem_sdk.episode_result import EpisodeResult

__all__ = [
    "SIDE_ORDER",
    "EpisodeRecord",
    "build_report",
    "plot_report",
    "report_figure",
    "report_markdown",
    "report_table",
    "side_rank",
]

#: Every evaluation side, in report order.
SIDE_ORDER: tuple[str, ...] = ("no-memory", "base", "base-grammar", "lora", "teacher")


class EpisodeRecord(EpisodeResult):
    """One evaluated episode (``DIR/eval/episodes/SIDE/TASK/seedN.json``).

    The core :class:`~automem_sdk.episode_result.EpisodeResult` of
    :func:`~automem_sdk.episodes.play_episode` (``agent`` is the side, ``diagnostics``
    the trace's summary) plus the study's measures: the memory's map against the cells
    the player stood on, turn and write counts, and the memory model's own usage (LOG
    and PLAN turns only; the task policy is scripted). Records written before it took
    ``EpisodeResult`` as its base (``side`` instead of ``agent``) still load.
    """

    cells_visited: int = 0
    map_lines: int = 0
    map_recall: float = 0.0
    map_precision: float | None = None
    turns: int = 0
    valid_turns: int = 0
    n_writes: int = 0
    redundant_writes: int = 0
    unproductive_actions: int = 0
    mem_prompt_tokens: int = 0
    mem_completion_tokens: int = 0
    mem_latency_s: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _side_is_agent(cls, data: Any) -> Any:
        if isinstance(data, dict) and "side" in data:
            data = dict(data)
            data.setdefault("agent", data.pop("side"))
        return data

    @property
    def side(self) -> str:
        """The evaluation side that played it (the result's ``agent``)."""
        return self.agent

    @property
    def tokens_per_s(self) -> float:
        """Memory-model completion tokens per second of its calls."""
        return self.mem_completion_tokens / self.mem_latency_s if self.mem_latency_s else 0.0


_METRICS: tuple[tuple[str, str], ...] = (
    ("progression", "progression"),
    ("op_validity", "op validity"),
    ("redundant_writes", "redundant writes"),
    ("unproductive_rate", "unproductive actions"),
    ("cells_visited", "cells visited"),
    ("map_recall", "map recall"),
    ("tok_s", "tok/s"),
)


def _metric(rec: EpisodeRecord, key: str) -> float | None:
    if key == "progression":
        return rec.progression
    if key == "cells_visited":
        return float(rec.cells_visited)
    if key == "map_recall":
        return rec.map_recall
    if key == "redundant_writes":
        return float(rec.redundant_writes)
    if key == "tok_s":
        return rec.tokens_per_s if rec.mem_completion_tokens else None
    if key == "op_validity":  # memory turns only: the memory-off side has none
        if rec.side == "no-memory":
            return None
        return rec.valid_turns / rec.turns if rec.turns else None
    return rec.diagnostics.get(key)


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    m = mean(values)
    se = stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return m, se


def side_rank(side: str) -> int:
    """The position of ``side`` in :data:`SIDE_ORDER` (unknown sides last)."""
    return SIDE_ORDER.index(side) if side in SIDE_ORDER else len(SIDE_ORDER)


def _rows(records: Sequence[EpisodeRecord], tasks: Sequence[str]) -> list[dict[str, Any]]:
    """Mean ± SE of each metric per task and side (plus pooled ``all`` rows for 2+ tasks)."""
    groups: list[tuple[str, list[EpisodeRecord]]] = []
    for task in [*tasks, "all"] if len(tasks) > 1 else tasks:
        for side in sorted({r.side for r in records}, key=side_rank):
            eps = [r for r in records if r.side == side and (task == "all" or r.env == task)]
            if eps:
                groups.append((task, eps))
    rows: list[dict[str, Any]] = []
    for task, eps in groups:
        row: dict[str, Any] = {"task": task, "side": eps[0].side, "n": len(eps)}
        for key, _label in _METRICS:
            vals = [v for v in (_metric(r, key) for r in eps) if v is not None]
            row[key] = list(_mean_se(vals)) if vals else None
        rows.append(row)
    return rows


def _throughput(records: Sequence[EpisodeRecord], stages: dict[str, Any]) -> dict[str, Any]:
    """Memory-model generation per side, and the LoRA training figures."""
    gen: dict[str, Any] = {}
    for side in sorted({r.side for r in records}, key=side_rank):
        eps = [r for r in records if r.side == side]
        toks = sum(r.mem_completion_tokens for r in eps)
        lat = sum(r.mem_latency_s for r in eps)
        if toks:
            gen[side] = {
                "completion_tokens": toks,
                "prompt_tokens": sum(r.mem_prompt_tokens for r in eps),
                "memory_model_s": lat,
                "tok_s": toks / lat if lat else 0.0,
                "calls": sum(r.turns for r in eps),
            }
    train = stages.get("train") or {}
    export = stages.get("export") or {}
    return {
        "generation": gen,
        "backend": "llamacpp" if export.get("gguf_adapter") else "transformers",
        "training_tok_s": train.get("tokens_per_s"),
        "training_tokens": train.get("train_tokens"),
        "training_steps": train.get("steps"),
        "training_s": train.get("wall_s"),
        "loss_before": train.get("loss_before"),
        "loss_after": train.get("loss_after"),
    }


def build_report(
    records: Sequence[EpisodeRecord],
    config: dict[str, Any],
    stages: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Aggregate episodes: per task and side, mean ± SE of each metric, plus throughput.

    Args:
        records: the evaluated episodes.
        config: the study's settings (``tasks``, ``seeds``, ``steps`` are used).
        stages: ``stage -> output`` of the finished stages (training figures, dataset
            counts, the teacher's and the export's results).

    Returns:
        A JSON-able dict with ``config``, ``rows`` (task, side, n, metric -> [mean, se]),
        ``throughput``, ``dataset``, ``teacher`` and ``export``.
    """
    stages = stages or {}
    return {
        "config": config,
        "rows": _rows(records, config["tasks"]),
        "throughput": _throughput(records, stages),
        "dataset": (stages.get("dataset") or {}).get("counts"),
        "teacher": {k: v for k, v in (stages.get("teacher") or {}).items() if k != "traces"},
        "export": {
            k: v
            for k, v in (stages.get("export") or {}).items()
            if k in ("problems", "peft_max_logit_diff", "gguf_info")
        },
    }


def _fmt(cell: Any, key: str) -> str:
    if not cell:
        return "-"
    m, se = cell
    if key in ("tok_s", "cells_visited"):
        return f"{m:.1f} ± {se:.1f}"
    return f"{m:.2f} ± {se:.2f}"


def report_table(report: dict[str, Any]) -> Table:
    """The report as a rich table (one row per task and side)."""
    cfg = report["config"]
    table = Table(
        title=f"SmolLM2 memory specialist, two-model mode ({cfg['seeds']} seeds, "
        f"{cfg['steps']} steps, mean ± SE)"
    )
    table.add_column("task")
    table.add_column("side")
    table.add_column("n", justify="right")
    for _key, label in _METRICS:
        table.add_column(label, justify="right")
    for row in report["rows"]:
        table.add_row(
            row["task"],
            row["side"],
            str(row["n"]),
            *[_fmt(row[k], k) for k, _ in _METRICS],
        )
    return table


def _num(x: Any, fmt: str = ".1f") -> str:
    return "-" if x is None else format(float(x), fmt)


def report_markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table plus throughput lines."""
    head = "| task | side | n | " + " | ".join(label for _, label in _METRICS) + " |"
    sep = "|" + "---|" * (3 + len(_METRICS))
    lines = [head, sep]
    for row in report["rows"]:
        cells = [_fmt(row[k], k) for k, _ in _METRICS]
        lines.append(f"| {row['task']} | {row['side']} | {row['n']} | " + " | ".join(cells) + " |")
    thr = report["throughput"]
    lines.append("")
    for side, g in thr["generation"].items():
        lines.append(
            f"- generation ({thr['backend']}), {side}: {g['tok_s']:.1f} tok/s "
            f"({g['completion_tokens']} completion tokens in {g['memory_model_s']:.0f} s "
            f"over {g['calls']} calls)"
        )
    if thr.get("training_tok_s"):
        lines.append(
            f"- LoRA training: {_num(thr['training_tok_s'])} tok/s "
            f"({_num(thr.get('training_tokens'), '.0f')} tokens, "
            f"{_num(thr.get('training_steps'), '.0f')} steps, "
            f"{_num(thr.get('training_s'), '.0f')} s; target loss "
            f"{_num(thr.get('loss_before'), '.3f')} -> {_num(thr.get('loss_after'), '.3f')})"
        )
    return "\n".join(lines) + "\n"


def plot_report(report: dict[str, Any], path: Path) -> bool:
    """Bar charts (mean ± SE per task and side) of op validity, progression, cells visited.

    Returns:
        False when matplotlib is not installed (nothing written).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig = report_figure(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def report_figure(report: dict[str, Any]) -> Any:
    """The report's figure (a matplotlib ``Figure``; needs matplotlib)."""
    import matplotlib.pyplot as plt

    rows = [r for r in report["rows"] if r["task"] != "all"]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    sides = sorted({r["side"] for r in rows}, key=side_rank)
    panels = [
        ("op_validity", "op validity"),
        ("progression", "progression"),
        ("cells_visited", "cells visited"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    width = 0.8 / max(len(sides), 1)
    for ax, (key, label) in zip(axes, panels, strict=True):
        for i, side in enumerate(sides):
            means, errs, gone = [], [], []
            for task in tasks:
                cell = next((r[key] for r in rows if r["task"] == task and r["side"] == side), None)
                means.append(cell[0] if cell else 0.0)
                errs.append(cell[1] if cell else 0.0)
                gone.append(cell is None)
            xs = [t + (i - (len(sides) - 1) / 2) * width for t in range(len(tasks))]
            # outlined, so that a zero bar shows; a missing cell is labelled, not drawn as 0
            ax.bar(xs, means, width, yerr=errs, capsize=3, label=side, edgecolor="black")
            for x, missing in zip(xs, gone, strict=True):
                if missing:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
        ax.set_xticks(range(len(tasks)))
        ax.set_xticklabels([t.split("/")[-1] for t in tasks])
        ax.set_title(label)
    # one legend under the panels, where it covers no bar
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(len(sides), 1), fontsize=8)
    cfg = report["config"]
    fig.suptitle(
        f"SmolLM2-135M memory specialist: base vs LoRA ({cfg['seeds']} seeds, "
        f"{cfg['steps']} steps, mean ± SE)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
