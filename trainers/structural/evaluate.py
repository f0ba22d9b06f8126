"""Evaluate: play a scaffold on (env, seed) pairs, with a cache keyed by what decides the result.

:class:`EpisodeEvaluator` plays each episode with the core runner,
:func:`automem_sdk.episodes.play_episode` (a fresh memory directory per episode, the
trace logged and diagnosed, the memory files at the end kept). :class:`EvalCache` stores
each :class:`~automem_sdk.episode_result.EpisodeResult` (and its trace) under a key made
of the scaffold id, env, seed and agent settings, so a resumed run or a rerun on the
same cache plays nothing twice. :func:`evaluate_many` fans episodes out to a process
pool when asked.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from automem_sdk.trainers.structural.config import AgentConfig
from pydantic import BaseModel

from automem_sdk.episode_result import EpisodeResult
from automem_sdk.episodes import EpisodeJob, memory_snapshot, play_episode
from automem_sdk.rundir import atomic_write
from automem_sdk.scaffold import Scaffold

__all__ = [
    "CACHE_VERSION",
    "EpisodeEvaluator",
    "EvalCache",
    "EvalStats",
    "Evaluator",
    "cache_key",
    "evaluate_many",
    "memory_snapshot",
]

CACHE_VERSION = 1


@runtime_checkable
class Evaluator(Protocol):
    """Plays one episode of ``scaffold`` and scores it."""

    def evaluate(
        self, scaffold: Scaffold, env: str, seed: int, *, trace: str | None = None
    ) -> EpisodeResult:
        """Play ``env`` at ``seed`` with ``scaffold``; log the trace to ``trace`` if given."""
        ...

    def fingerprint(self) -> str:
        """Identifies the settings that change results (part of the cache key)."""
        ...


class EpisodeEvaluator:
    """The default evaluator: a :class:`~automem_sdk.agent.MemoryAgent` on a fresh store.

    Args:
        agent: decider, mode and step cap.
        storage_options: fsspec options for trace URLs.
    """

    def __init__(
        self, agent: AgentConfig | None = None, storage_options: dict[str, Any] | None = None
    ) -> None:
        self.agent = agent or AgentConfig()
        self.storage_options = storage_options

    def fingerprint(self) -> str:
        """The agent settings' hash."""
        return str(self.agent.fingerprint())

    def job(self, scaffold: Scaffold, env: str, seed: int, trace: str | None = None) -> EpisodeJob:
        """The core job that plays ``scaffold`` on ``env`` at ``seed``."""
        cfg = self.agent
        factories = "automem_sdk.trainers.structural.envs"
        return EpisodeJob(
            env=env,
            seed=seed,
            agent="structural",
            decider=cfg.decider,
            task_decider=cfg.task_decider,
            scaffold=scaffold.id,
            scaffold_yaml=scaffold.to_yaml(),
            mode=cfg.mode,
            memory=cfg.memory,
            max_steps=cfg.max_steps,
            snapshot_memory=True,
            trace_url=trace,
            storage_options=self.storage_options or {},
            env_factory=f"{factories}:make_env",
            decider_factory=f"{factories}:make_decider",
            header_extra={"trainer": "structural", "agent": cfg.model_dump(mode="json")},
        )

    def evaluate(
        self, scaffold: Scaffold, env: str, seed: int, *, trace: str | None = None
    ) -> EpisodeResult:
        """Play one episode in a fresh temporary memory directory."""
        return play_episode(self.job(scaffold, env, seed, trace))


def cache_key(scaffold_id: str, env: str, seed: int, agent_fingerprint: str) -> str:
    """The evaluation cache key of one episode (24 hex chars)."""
    blob = json.dumps(
        {
            "v": CACHE_VERSION,
            "scaffold": scaffold_id,
            "env": env,
            "seed": seed,
            "agent": agent_fingerprint,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class EvalCache:
    """Episode scores on disk, one JSON file per key (trace next to it).

    Args:
        root: the cache directory (created on demand).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / key[:2]

    def path(self, key: str) -> Path:
        """Where the score for ``key`` lives."""
        return self._dir(key) / f"{key}.json"

    def trace_path(self, key: str) -> Path:
        """Where the trace for ``key`` lives."""
        return self._dir(key) / f"{key}.trace.jsonl.gz"

    def trace_of(self, score: EpisodeResult) -> Path | None:
        """The trace file of a cached score, if it has one on disk."""
        if not score.trace_url:
            return None
        path = self._dir(score.trace_url.split(".", 1)[0]) / score.trace_url
        return path if path.exists() else None

    def get(self, key: str) -> EpisodeResult | None:
        """The cached score, or None (also for an unreadable entry)."""
        p = self.path(key)
        if not p.exists():
            return None
        try:
            return EpisodeResult.model_validate_json(p.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def put(self, key: str, score: EpisodeResult) -> None:
        """Store ``score`` atomically."""
        atomic_write(self.path(key), score.model_dump_json(indent=1))

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0


class EvalStats(BaseModel):
    """What :func:`evaluate_many` did: episodes played now vs. taken from the cache."""

    fresh: int = 0
    cached: int = 0


def _run_job(evaluator: Evaluator, scaffold_yaml: str, env: str, seed: int, trace: str) -> str:
    scaffold = Scaffold.from_yaml(scaffold_yaml)
    return evaluator.evaluate(scaffold, env, seed, trace=trace).model_dump_json()


def evaluate_many(
    evaluator: Evaluator,
    cache: EvalCache,
    scaffold: Scaffold,
    units: Sequence[tuple[str, int]],
    *,
    workers: int = 1,
    before_episode: Callable[[str], None] | None = None,
    on_done: Callable[[str, EpisodeResult, bool], None] | None = None,
    stats: EvalStats | None = None,
) -> list[EpisodeResult]:
    """Score ``scaffold`` on every (env, seed) in ``units``, in order, using the cache.

    Args:
        evaluator: plays missing episodes.
        cache: where scores are looked up and stored.
        scaffold: the scaffold to play.
        units: (env, seed) pairs.
        workers: process-pool size for missing episodes (1 = in this process; the
            evaluator must be picklable otherwise).
        before_episode: called with each key before it is looked up or played; may
            raise to stop (STOP file, budget).
        on_done: called with each key, its score and whether it was played now.
        stats: counters updated in place.

    Returns:
        One score per unit, in the order of ``units``.
    """
    stats = stats if stats is not None else EvalStats()
    fp = evaluator.fingerprint()
    keys = [cache_key(scaffold.id, env, seed, fp) for env, seed in units]
    out: dict[str, EpisodeResult] = {}
    missing: list[tuple[str, str, int]] = []
    for key, (env, seed) in zip(keys, units, strict=True):
        if before_episode is not None:
            before_episode(key)
        hit = cache.get(key)
        if hit is not None:
            out[key] = hit
            stats.cached += 1
            if on_done is not None:
                on_done(key, hit, False)
            continue
        if workers <= 1:
            out[key] = _play(evaluator, cache, scaffold, key, env, seed, stats, on_done)
        else:
            missing.append((key, env, seed))
    if missing:
        ctx = get_context("spawn")
        yaml_text = scaffold.to_yaml()
        for key, _env, _seed in missing:
            cache.trace_path(key).parent.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {
                key: pool.submit(
                    _run_job, evaluator, yaml_text, env, seed, str(cache.trace_path(key))
                )
                for key, env, seed in missing
            }
            for key, _env, _seed in missing:
                score = EpisodeResult.model_validate_json(futures[key].result())
                out[key] = _store(cache, key, score, stats, on_done)
    return [out[k] for k in keys]


def _play(
    evaluator: Evaluator,
    cache: EvalCache,
    scaffold: Scaffold,
    key: str,
    env: str,
    seed: int,
    stats: EvalStats,
    on_done: Callable[[str, EpisodeResult, bool], None] | None,
) -> EpisodeResult:
    trace = cache.trace_path(key)
    trace.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    score = evaluator.evaluate(scaffold, env, seed, trace=str(trace))
    if not score.wall_s:
        score = score.model_copy(update={"wall_s": time.perf_counter() - t0})
    return _store(cache, key, score, stats, on_done)


def _store(
    cache: EvalCache,
    key: str,
    score: EpisodeResult,
    stats: EvalStats,
    on_done: Callable[[str, EpisodeResult, bool], None] | None,
) -> EpisodeResult:
    trace = cache.trace_path(key)
    if trace.exists():
        score = score.model_copy(update={"trace_url": trace.name})
    cache.put(key, score)
    stats.fresh += 1
    if on_done is not None:
        on_done(key, score, True)
    return score
