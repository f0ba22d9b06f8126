"""The one record of a played episode: :class:`EpisodeResult`.

Every runner writes it: :func:`automem_sdk.agent.run_episode` (the bare outcome),
:func:`automem_sdk.episodes.play_episode` (plus who played, the scaffold, memory and
the trace's diagnostics), the bench (``OUT/episodes/<agent>/<env>/<seed>.json``), the
structural trainer's evaluation cache, the pipeline and two-model evaluation. It lives
in a module of its own so that :mod:`automem_sdk.agent` and
:mod:`automem_sdk.episodes` can both import it.

Episode JSON written before this model (bench ``EpisodeSummary``: ``trace``,
``prompt_tokens``, ``completion_tokens``; structural ``EpisodeScore``: ``reward``;
pipeline ``EpisodeRow``: ``tokens``, ``stage``) still loads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from automem_sdk.llm.base import Usage

__all__ = ["EPISODE_SCHEMA_VERSION", "EpisodeResult"]

#: Version of the episode record on disk (readers accept this one and older).
EPISODE_SCHEMA_VERSION = 1


class EpisodeResult(BaseModel):
    """The outcome of one episode.

    Attributes:
        env: the env name.
        seed: the episode seed.
        progression: the best progression reached (0..1).
        steps: env steps taken.
        total_reward: summed env reward (also :attr:`reward`).
        terminated: the env ended the episode (won or lost).
        truncated: the env's step limit or ``max_steps`` ended it.
        achievements: the env's achievements at the end (Crafter).
        usage: tokens the agent's models used.
        n_ops: memory ops run.
        wall_s: seconds the episode took.
        trace_url: where its trace was written (None: not traced). For the structural
            cache, the trace file's name next to the record.
        diagnostics: :meth:`automem_sdk.diagnostics.Diagnostics.summary` of the trace.
        agent: the label of who played (bench agent name, eval side, ...).
        key: the job's key in its run directory (``<agent>/<env>/<seed>``).
        scaffold: the scaffold the job asked for (name or path).
        scaffold_id: the id of the scaffold played.
        mode: the agent mode (``unified``, ``two-model``, ``observe``).
        max_steps: the step cap the job asked for.
        memory_url: where the episode's memory store lived.
        memory: the memory files at the end, when the job asked for a snapshot.
        labels: the caller's tags (``stage``, ``side``, ...).
        run_id: the run that played it.
        pid: the process that played it.
        finished: when it finished (Unix time).
    """

    schema_version: int = EPISODE_SCHEMA_VERSION
    env: str
    seed: int | None = None
    progression: float = 0.0
    steps: int = 0
    total_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    achievements: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    n_ops: int = 0
    wall_s: float = 0.0
    trace_url: str | None = None
    diagnostics: dict[str, float] = Field(default_factory=dict)
    agent: str = ""
    key: str = ""
    scaffold: str = ""
    scaffold_id: str = ""
    mode: str = ""
    max_steps: int | None = None
    memory_url: str = ""
    memory: dict[str, str] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    run_id: str = ""
    pid: int = 0
    finished: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _legacy_fields(cls, data: Any) -> Any:
        """Read the episode records of the five models this one replaced."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "trace" in data and "trace_url" not in data:
            data["trace_url"] = data.pop("trace") or None
        if "reward" in data and "total_reward" not in data:
            data["total_reward"] = data.pop("reward")
        if "usage" not in data and ("prompt_tokens" in data or "completion_tokens" in data):
            data["usage"] = {
                "prompt_tokens": data.pop("prompt_tokens", 0),
                "completion_tokens": data.pop("completion_tokens", 0),
            }
        if "usage" not in data and "tokens" in data:
            data["usage"] = {"prompt_tokens": data.pop("tokens"), "completion_tokens": 0}
        if "stage" in data:
            data["labels"] = {**data.get("labels", {}), "stage": str(data.pop("stage"))}
        return data

    @property
    def reward(self) -> float:
        """The summed env reward."""
        return self.total_reward

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens the agent's models used."""
        return self.usage.total_tokens

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens the agent's models used."""
        return self.usage.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        """Completion tokens the agent's models used."""
        return self.usage.completion_tokens

    @property
    def task(self) -> str:
        """The env's task: ``minihack/MazeWalk-9x9`` -> ``MazeWalk-9x9`` (else the env)."""
        return self.env.partition("/")[2] or self.env

    @property
    def stage(self) -> str:
        """The pipeline stage that played it (the ``stage`` label; empty if none)."""
        return self.labels.get("stage", "")

    def metric(self, name: str) -> float:
        """The gate metric called ``name``: ``reward``, else ``progression``."""
        return self.total_reward if name == "reward" else self.progression
