"""Two-model evaluation: the memory specialist runs memory, the task model acts.

Each *side* (e.g. ``before`` = the base model, ``after`` = base + adapter) plays the
same seeds in ``two-model`` mode: the specialist runs LOG and the memory part of PLAN,
and a fresh, unchanged task decider commits every action. Traces are written and
diagnosed, so the report shows progression together with redundant writes,
unproductive actions and op validity per side. Each episode is played by the core
runner, :func:`automem_sdk.episodes.play_episode`, and recorded as its
:class:`~automem_sdk.episode_result.EpisodeResult`.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import mean, stdev
from typing import Any

from pydantic import BaseModel, Field

from automem_sdk.agent import MemoryAgent
from automem_sdk.env import Decider, TextEnv
from automem_sdk.episode_result import EpisodeResult
from automem_sdk.episodes import EpisodeJob, play_episode
from automem_sdk.llm.base import LLMClient
from automem_sdk.scaffold import Scaffold
from automem_sdk.store import MemoryStore

__all__ = ["EvalReport", "SideReport", "evaluate_two_model", "report_table"]

DeciderLike = Decider | LLMClient | Callable[[str, str], str]

#: Diagnostics shown per side (keys of :meth:`Diagnostics.summary` plus progression).
REPORT_KEYS = (
    "progression",
    "redundant_writes",
    "redundant_write_rate",
    "writes_never_read",
    "unproductive_rate",
    "op_validity",
    "fallback_actions",
    "ops/step",
)


class SideReport(BaseModel):
    """Every episode of one side and the means."""

    label: str
    model: str
    episodes: list[EpisodeResult] = Field(default_factory=list)

    def mean(self, key: str) -> float:
        """Mean of ``key`` (``progression`` or a diagnostics key) over episodes."""
        vals = [
            e.progression if key == "progression" else e.diagnostics.get(key, 0.0)
            for e in self.episodes
        ]
        return mean(vals) if vals else 0.0

    def se(self, key: str) -> float:
        """Standard error of ``key``."""
        vals = [
            e.progression if key == "progression" else e.diagnostics.get(key, 0.0)
            for e in self.episodes
        ]
        return stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else 0.0


class EvalReport(BaseModel):
    """All sides, same env and seeds."""

    env: str
    seeds: list[int]
    sides: list[SideReport]

    def summary(self) -> dict[str, dict[str, float]]:
        """label -> key -> mean."""
        return {s.label: {k: s.mean(k) for k in REPORT_KEYS} for s in self.sides}


def _name(d: DeciderLike) -> str:
    return str(getattr(d, "name", None) or getattr(d, "model", None) or type(d).__name__)


@dataclass(frozen=True)
class _Setup:
    """What every episode of one evaluation shares."""

    root: str
    scaffold: Scaffold | str
    max_steps: int | None
    storage_options: dict[str, Any] | None
    keep_traces: bool


def _play_one(
    setup: _Setup,
    env: TextEnv,
    label: str,
    seed: int,
    specialist: DeciderLike,
    task: DeciderLike,
) -> EpisodeResult:
    """One two-model episode of side ``label`` (the env is closed after)."""
    memory_url = f"{setup.root}/{label}/memory-seed{seed}"
    store = MemoryStore(memory_url, setup.storage_options)
    agent = MemoryAgent(store, setup.scaffold, specialist, mode="two-model", task_decider=task)
    job = EpisodeJob(
        env=env.name,
        seed=seed,
        agent=label,
        key=f"{label}/seed{seed}",
        mode="two-model",
        max_steps=setup.max_steps,
        memory_url=memory_url,
        clear_memory=False,
        trace_url=f"{setup.root}/{label}/seed{seed}.jsonl",
        storage_options=setup.storage_options or {},
        header_extra={"eval_side": label},
        labels={"side": label},
    )
    try:
        res = play_episode(job, env=env, agent=agent)
    finally:
        env.close()
    return res if setup.keep_traces else res.model_copy(update={"trace_url": None})


def evaluate_two_model(
    env_factory: Callable[[], TextEnv],
    seeds: Sequence[int],
    specialists: Mapping[str, DeciderLike],
    task_factory: Callable[[], DeciderLike],
    *,
    scaffold: Scaffold | str = "generic",
    max_steps: int | None = None,
    out_dir: str | None = None,
    storage_options: dict[str, Any] | None = None,
    quiet: bool = False,
) -> EvalReport:
    """Play ``seeds`` once per specialist in two-model mode and diagnose the traces.

    Args:
        env_factory: a fresh env per episode.
        seeds: the episode seeds (the same for every side).
        specialists: label -> memory model (an LLM client such as
            ``OpenAICompatClient(url, model=ADAPTER_NAME)`` or :class:`~automem_sdk.llm.local.LocalTransformersClient`).
        task_factory: a fresh, unchanged task decider per episode.
        scaffold: the memory scaffold.
        max_steps: step cap per episode.
        out_dir: where traces (``LABEL/seedN.jsonl``) and memory stores go; a temporary
            directory when None.
        storage_options: fsspec options for ``out_dir``.
        quiet: no progress bar.

    Returns:
        The report (render it with :func:`report_table`).
    """
    from rich.progress import Progress

    tmp = tempfile.TemporaryDirectory(prefix="automem-eval-") if out_dir is None else None
    root = (tmp.name if tmp is not None else str(out_dir)).rstrip("/")
    setup = _Setup(
        root=root,
        scaffold=scaffold,
        max_steps=max_steps,
        storage_options=storage_options,
        keep_traces=tmp is None,
    )
    env_name = ""
    sides: list[SideReport] = []
    try:
        with Progress(disable=quiet) as progress:
            bar = progress.add_task("two-model eval", total=len(seeds) * len(specialists))
            for label, specialist in specialists.items():
                side = SideReport(label=label, model=_name(specialist))
                for seed in seeds:
                    env = env_factory()
                    env_name = env.name
                    res = _play_one(setup, env, label, seed, specialist, task_factory())
                    side.episodes.append(res)
                    progress.advance(bar)
                sides.append(side)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return EvalReport(env=env_name, seeds=list(seeds), sides=sides)


def report_table(report: EvalReport) -> Any:
    """A rich table: one row per diagnostic, one column per side (mean ± SE)."""
    from rich.table import Table

    table = Table(title=f"two-model evaluation: {report.env} ({len(report.seeds)} seeds)")
    table.add_column("metric")
    for side in report.sides:
        table.add_column(f"{side.label}\n{side.model}", justify="right")
    if len(report.sides) == 2:
        table.add_column("delta", justify="right")
    for key in REPORT_KEYS:
        row = [key]
        for side in report.sides:
            row.append(f"{side.mean(key):.3f} ± {side.se(key):.3f}")
        if len(report.sides) == 2:
            row.append(f"{report.sides[1].mean(key) - report.sides[0].mean(key):+.3f}")
        table.add_row(*row)
    return table
