"""Play one episode from a picklable description: :class:`EpisodeJob` -> :class:`EpisodeResult`.

Every runner plays episodes through :func:`play_episode`: the bench
(:mod:`automem_sdk.benchmarks.harness.runner`), the structural trainer's evaluator, the
pipeline, two-model (behavioral) evaluation and studies. A job says *what* to play;
:func:`play_episode` builds the env, the memory store and the agent, plays with
:func:`automem_sdk.agent.run_episode`, diagnoses the trace
(:func:`automem_sdk.diagnostics.diagnose`) and returns one :class:`EpisodeResult`.
Many jobs, resumable, over a local or ``s3://`` run directory:
:mod:`automem_sdk.rundir`.

How names resolve (the core imports no benchmark or trainer): a job names its
factories by import path, ``"package.module:function"``, the way fsspec names its
implementations; they are imported when the episode is played, in whichever process
or Ray worker plays it, so a job stays a small picklable value.

- ``env_factory`` (default :data:`DEFAULT_ENV_FACTORY`, the benchmarks registry's
  ``make_env``) is called as ``factory(job.env, max_steps=job.max_steps,
  **job.env_options)`` and returns a :class:`~automem_sdk.env.TextEnv`.
- ``decider_factory`` is called as ``factory(spec, job.env, job.seed)`` for
  ``job.decider`` and ``job.task_decider`` (default: the spec is an LLM client spec for
  :func:`automem_sdk.llm.make_client`; the structural trainer's
  ``trainers.structural.envs:make_decider`` also knows ``explorer``).
- ``agent_factory`` replaces agent building altogether: ``factory(job, store)`` returns
  a :class:`~automem_sdk.agent.MemoryAgent` (the bench's agents use it).

In-process callers may pass ready objects instead: ``play_episode(job, env=...,
agent=...)`` (an agent over a model loaded once, for instance).

Example::

    from automem_sdk.episodes import EpisodeJob, play_episode

    job = EpisodeJob(env="toy/maze-5", seed=0, decider="scripted:<|DONE|>",
                     trace_url="out/trace.jsonl.gz")
    result = play_episode(job)
    print(result.progression, result.diagnostics["op_validity"])
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from automem_sdk.agent_policies import AgentMode
from automem_sdk.episode_result import EpisodeResult
from automem_sdk.errors import AutomemError

if TYPE_CHECKING:
    from automem_sdk.agent import MemoryAgent
    from automem_sdk.env import Decider, TextEnv
    from automem_sdk.llm.base import LLMClient
    from automem_sdk.scaffold import Scaffold
    from automem_sdk.store import MemoryStore

__all__ = [
    "DEFAULT_ENV_FACTORY",
    "EpisodeJob",
    "EpisodeResult",
    "build_agent",
    "job_scaffold",
    "make_job_env",
    "memory_snapshot",
    "play_episode",
    "resolve_factory",
]

#: The env factory of a job that names none: the one env registry.
DEFAULT_ENV_FACTORY = "automem_sdk.benchmarks.registry:make_env"


class EpisodeJob(BaseModel):
    """One episode to play: plain data, picklable for process pools and Ray workers.

    Attributes:
        env: the env name (resolved by ``env_factory``).
        seed: the episode seed.
        agent: a label for the player (rows, folders); also the default key's head.
        key: the job's key in a run directory (default ``<agent>/<env>/<seed>``).
        decider: the memory model's spec (resolved by ``decider_factory``).
        task_decider: the task policy's spec (``two-model`` / ``observe``).
        scaffold: a built-in scaffold name or a YAML/JSON path.
        scaffold_yaml: the scaffold itself (wins over ``scaffold``).
        mode: ``unified``, ``two-model`` or ``observe``.
        memory: ``off`` for the no-memory baseline.
        max_steps: the step cap (None: the env's own).
        memory_url: the episode's memory store (None: a temporary folder, removed after).
        clear_memory: empty ``memory_url`` first (a killed run's leftovers go).
        store_limits: :class:`~automem_sdk.store.StoreLimits` fields for the store.
        snapshot_memory: put the memory files at the end into the result.
        trace_url: where the trace goes (None: not traced, no diagnostics).
        storage_options: fsspec options for ``memory_url`` and ``trace_url``.
        env_factory: ``"module:function"`` that builds the env (see module docstring).
        env_options: extra keyword arguments of the env factory.
        close_env: close the env after the episode (off for an env factory that caches).
        decider_factory: ``"module:function"`` that builds deciders from specs.
        agent_factory: ``"module:function"`` that builds the whole agent.
        options: settings for the agent factory (free form).
        header_extra: extra ``config`` fields of the trace header.
        labels: tags copied into the result (``stage``, ``side``, ...).
        run_id: the run that plays it (copied into the result).
    """

    env: str
    seed: int
    agent: str = ""
    key: str = ""
    decider: str | None = None
    task_decider: str | None = None
    scaffold: str = "generic"
    scaffold_yaml: str | None = None
    mode: AgentMode = "unified"
    memory: Literal["on", "off"] = "on"
    max_steps: int | None = None
    memory_url: str | None = None
    clear_memory: bool = True
    store_limits: dict[str, int] | None = None
    snapshot_memory: bool = False
    trace_url: str | None = None
    storage_options: dict[str, Any] = Field(default_factory=dict)
    env_factory: str = DEFAULT_ENV_FACTORY
    env_options: dict[str, Any] = Field(default_factory=dict)
    close_env: bool = True
    decider_factory: str | None = None
    agent_factory: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    header_extra: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    run_id: str = ""

    @property
    def job_key(self) -> str:
        """``key``, or ``<agent>/<env>/<seed>`` when it is empty."""
        return self.key or f"{self.agent or 'agent'}/{self.env}/{self.seed}"


def resolve_factory(path: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` and return the function.

    Raises:
        AutomemError: a malformed path, or nothing importable there.
    """
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise AutomemError(f"factory {path!r} must look like 'package.module:function'")
    try:
        fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise AutomemError(f"cannot import factory {path!r}: {exc}") from exc
    return fn


def make_job_env(job: EpisodeJob) -> TextEnv:
    """The env of ``job``, from its ``env_factory``."""
    factory = resolve_factory(job.env_factory)
    env: TextEnv = factory(job.env, max_steps=job.max_steps, **job.env_options)
    return env


def job_scaffold(job: EpisodeJob) -> Scaffold:
    """The scaffold of ``job``: ``scaffold_yaml`` if given, else ``scaffold`` loaded."""
    from automem_sdk.scaffold import Scaffold, load_scaffold

    if job.scaffold_yaml is not None:
        return Scaffold.from_yaml(job.scaffold_yaml)
    return load_scaffold(job.scaffold)


def _llm_decider(spec: str, env: str, seed: int) -> LLMClient:
    """The default decider factory: ``spec`` is an LLM client spec."""
    from automem_sdk.llm import make_client

    client: LLMClient = make_client(spec)
    return client


def build_agent(job: EpisodeJob, store: MemoryStore) -> MemoryAgent:
    """The default agent: ``job.decider`` (and ``task_decider``) on ``store``.

    Raises:
        AutomemError: the job names no decider.
    """
    from automem_sdk.agent import MemoryAgent

    if not job.decider:
        raise AutomemError(f"job {job.job_key}: no decider (set decider or agent_factory)")
    make: Callable[[str, str, int], Decider | LLMClient] = (
        resolve_factory(job.decider_factory) if job.decider_factory else _llm_decider
    )
    task = make(job.task_decider, job.env, job.seed) if job.task_decider else None
    return MemoryAgent(
        store,
        job_scaffold(job),
        make(job.decider, job.env, job.seed),
        mode=job.mode,
        task_decider=task,
        memory=job.memory,
    )


def memory_snapshot(store: Any, *, max_files: int = 12, max_chars: int = 4000) -> dict[str, str]:
    """The files of ``store`` at the end of an episode (each cut to ``max_chars``).

    Silent-fault diagnostics use it (a file that stayed empty) and the structural LLM
    proposer sees it (what memory held when the episode ended).
    """
    out: dict[str, str] = {}
    try:
        names = list(store.list())
    except AutomemError:
        return out
    for name in names[:max_files]:
        try:
            text = str(store.read(name))
        except AutomemError:
            continue
        out[name] = text if len(text) <= max_chars else text[:max_chars] + "\n[...]"
    return out


@contextmanager
def _memory_at(job: EpisodeJob) -> Iterator[str]:
    """The episode's memory URL (emptied first), or a temporary folder removed after."""
    if job.memory_url is None:
        with tempfile.TemporaryDirectory(prefix="automem-episode-") as tmp:
            yield Path(tmp).as_uri()
        return
    if job.clear_memory:
        import fsspec

        fs, root = fsspec.core.url_to_fs(job.memory_url, **job.storage_options)
        if fs.exists(root):
            fs.rm(root, recursive=True)
    yield job.memory_url


def _job_store(job: EpisodeJob, url: str) -> MemoryStore:
    from automem_sdk.store import MemoryStore, StoreLimits

    limits = StoreLimits(**job.store_limits) if job.store_limits else None
    return MemoryStore(url, job.storage_options or None, limits=limits)


def _job_agent(job: EpisodeJob, url: str) -> MemoryAgent:
    store = _job_store(job, url)
    if job.agent_factory:
        agent: MemoryAgent = resolve_factory(job.agent_factory)(job, store)
        return agent
    return build_agent(job, store)


def _diagnostics(job: EpisodeJob) -> dict[str, float]:
    if job.trace_url is None:
        return {}
    from automem_sdk.diagnostics import diagnose
    from automem_sdk.trace import read_trace

    return diagnose(read_trace(job.trace_url, job.storage_options or None)).summary()


def play_episode(
    job: EpisodeJob,
    *,
    env: TextEnv | None = None,
    agent: MemoryAgent | None = None,
    on_step: Callable[[int], None] | None = None,
) -> EpisodeResult:
    """Play ``job`` and return its result, diagnostics included.

    Args:
        job: what to play.
        env: a ready env (else ``job.env_factory`` builds one; closed after if
            ``job.close_env``). A given env is left open.
        agent: a ready agent (its store is used as is; ``memory_url`` and the factories
            are ignored).
        on_step: called with the step index after each step (progress bars).

    Returns:
        The result: the episode's outcome plus the job's agent label, key, scaffold,
        mode, step cap, memory URL (and snapshot), labels, run id, pid and end time.

    Raises:
        AutomemError: a factory cannot be imported, or the job names no decider.
    """
    from automem_sdk.agent import run_episode

    game = env if env is not None else make_job_env(job)
    try:
        with _memory_at(job) as url:
            player = agent if agent is not None else _job_agent(job, url)
            if job.trace_url is not None and "://" not in job.trace_url:
                Path(job.trace_url).parent.mkdir(parents=True, exist_ok=True)
            res = run_episode(
                game,
                player,
                job.seed,
                max_steps=job.max_steps,
                trace=job.trace_url,
                storage_options=job.storage_options or None,
                header_extra=job.header_extra,
                on_step=on_step,
            )
            snapshot = memory_snapshot(player.store) if job.snapshot_memory else None
    finally:
        if env is None and job.close_env:
            game.close()
    memory_url = str(getattr(player.store, "url", "")) if agent is not None else job.memory_url
    return res.model_copy(
        update={
            "diagnostics": _diagnostics(job),
            "agent": job.agent,
            "key": job.job_key,
            "scaffold": job.scaffold,
            "scaffold_id": player.scaffold.id,
            "mode": player.mode,
            "max_steps": job.max_steps,
            "memory_url": memory_url or "",
            "memory": snapshot,
            "labels": dict(job.labels),
            "run_id": job.run_id,
            "pid": os.getpid(),
            "finished": time.time(),
        }
    )
