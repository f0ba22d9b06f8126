"""Benchmark runner: many (agent, env, seed) episodes, in parallel, resumable.

Layout of an output folder ``OUT``::

    OUT/episodes/<agent>/<env>/<seed>.json     one EpisodeResult per finished episode
    OUT/traces/<agent>/<env>/<seed>.jsonl.gz   the episode's trace (core trace format)
    OUT/memory/<agent>/<env>/<seed>/           the episode's memory store (default)
    OUT/runs/<run_id>.jsonl                    one line per episode a run started

``OUT`` is a core run directory (:class:`automem_sdk.rundir.RunDir`) and each episode
a core :class:`~automem_sdk.episodes.EpisodeJob` played by
:func:`~automem_sdk.episodes.play_episode` (this module supplies the env and agent
factories, :func:`bench_env` and :func:`bench_agent`). An episode JSON is written
atomically once the episode is over: it is the "finished" marker. A rerun skips every
episode that has one and plays the others from scratch (their memory folder is emptied
first), so a killed run goes on where it stopped and no episode is counted twice.

Agents (``--agent``): ``random`` (uniform over the env's actions, seeded; memory off),
``explorer`` (the keyless explorer of :func:`~automem_sdk.benchmarks.registry.make_explorer`,
memory on), ``explorer-hist16`` (its no-memory twin deciding from a BALROG-style window
of the last 16 steps: the fair baseline; ``explorer-hist<N>`` for another window),
``explorer-stateless`` (the explorer with memory off and no history: a floor;
``explorer-nomem`` is its deprecated name), ``explorer-trunc`` (memory on with tiny
:class:`~automem_sdk.store.StoreLimits`), ``llm`` (a model from
:func:`automem_sdk.llm.make_client`, ``--llm SPEC``) and ``two-model`` (a memory model,
``memory_llm``, runs the memory routines and a task policy, ``task_llm``, acts; the
default task policy is the scripted planner of
:func:`~automem_sdk.benchmarks.registry.make_task_policy`, which acts on what memory
returned; its rows are named ``tm-<memory>+<task>``).

Before any episode starts the configuration is checked (env names, Boxoban level
files, model specs), and an LLM that fails ``max_llm_failures`` times in a row stops
the episode and the run with its error.

Executors: ``process`` (a local process pool, ``--workers``) or ``ray`` (episodes spread
over a Ray cluster; ``RAY_ADDRESS`` picks the cluster, else a local one starts; needs
the ``[ray]`` extra).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, field_validator

from automem_sdk.episode_result import EpisodeResult
from automem_sdk.episodes import EpisodeJob, play_episode
from automem_sdk.errors import AutomemError, LLMError
from automem_sdk.llm.base import Completion
from automem_sdk.rundir import RunDir, RunDirError, atomic_write, play_jobs

if TYPE_CHECKING:
    from automem_sdk.agent import MemoryAgent
    from automem_sdk.env import RoutineRequest, TextEnv
    from automem_sdk.store import MemoryStore

__all__ = [
    "BENCH_AGENTS",
    "DEPRECATED_AGENTS",
    "TRUNC_LIMITS",
    "BenchConfig",
    "BenchError",
    "BenchOptions",
    "EpisodeJob",
    "FailureGuard",
    "LLMFailuresError",
    "RandomDecider",
    "agent_kind",
    "bench_agent",
    "bench_env",
    "check_config",
    "default_scaffold",
    "episode_path",
    "load_episodes",
    "load_plan",
    "parse_seeds",
    "plan_jobs",
    "run_benchmark",
    "run_job",
    "trace_path",
]

#: Agent names the runner knows (plus ``explorer-hist<N>`` for any window N).
BENCH_AGENTS: tuple[str, ...] = (
    "random",
    "explorer",
    "explorer-hist16",
    "explorer-stateless",
    "explorer-trunc",
    "llm",
    "two-model",
    "balrog",
    "balrog+memory",
)
#: Agents that need ``--llm SPEC``.
LLM_AGENTS: tuple[str, ...] = ("llm", "balrog", "balrog+memory")
#: Old agent names -> their current names (accepted with a DeprecationWarning).
DEPRECATED_AGENTS: dict[str, str] = {"explorer-nomem": "explorer-stateless"}
_HIST = re.compile(r"^explorer-hist(\d+)$")
#: Memory models of ``two-model`` that need no key (else an LLM spec).
KEYLESS_MEMORY: tuple[str, ...] = ("explorer", "blank")
#: Task policies of ``two-model`` that need no key (else an LLM spec).
KEYLESS_TASKS: tuple[str, ...] = ("planner", "explorer")
#: Store limits of the ``explorer-trunc`` agent (memory that cannot hold a map).
TRUNC_LIMITS: dict[str, int] = {"max_file_bytes": 512, "max_store_bytes": 2048}


class BenchError(AutomemError):
    """A benchmark cannot run as configured (bad seeds, agent, or a mismatched OUT)."""


class LLMFailuresError(BenchError):
    """An LLM failed too many times in a row: the episode and the run stop."""


def agent_kind(name: str) -> str:
    """The kind of a bench agent name: ``explorer-hist24`` -> ``explorer-hist``.

    Raises:
        BenchError: unknown name.
    """
    if _HIST.match(name):
        return "explorer-hist"
    if name in BENCH_AGENTS:
        return name
    raise BenchError(
        f"unknown agent {name!r} (--agent); choose from {', '.join(BENCH_AGENTS)} "
        "or explorer-hist<N>"
    )


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spec).strip("_") or "x"


class BenchConfig(BaseModel):
    """What :func:`run_benchmark` plays.

    Attributes:
        out: output folder (local path).
        envs: env names or groups (``crafter``, ``minihack``, ``nethack``, ``all``,
            ``minihack/<Task>``).
        agents: agent names from :data:`BENCH_AGENTS`.
        seeds: episode seeds.
        max_steps: step cap per episode (None = each env's own limit).
        levels_dir: boxoban-levels folder for the Boxoban tasks.
        scaffold: scaffold name or path (None = the env family's built-in one).
        llm: model spec for the ``llm`` agent (``automem_sdk.llm.make_client``).
        memory_llm: the memory model of the ``two-model`` agent: ``explorer`` (the
            scripted map keeper), ``blank`` (writes nothing) or an LLM spec.
        task_llm: the task policy of the ``two-model`` agent: ``planner`` (default; the
            scripted planner acting on what memory returned), ``explorer`` (the
            memory-blind explorer) or an LLM spec.
        temperature: sampling temperature for LLM agents (None = the client's default).
        max_tokens: completion token cap for LLM agents (None = the client's default).
        history: in-context history window of history-keeping LLM agents.
        max_llm_failures: consecutive LLM failures after which an episode stops.
        obs: observation style of the envs: ``default`` (ours), ``balrog`` (BALROG's
            text: full screen and cursor for NetHack/MiniHack) or ``automem``
            (MiniHack's autopickup on).
        memory_url: fsspec URL under which per-episode memory stores live
            (None = ``OUT/memory``).
        workers: parallel episodes (process executor).
        executor: ``process`` or ``ray``.
        quiet: no progress bar.
    """

    out: str
    envs: list[str] = Field(default_factory=lambda: ["minihack/MazeWalk-9x9"])
    agents: list[str] = Field(default_factory=lambda: ["explorer"])
    seeds: list[int] = Field(default_factory=lambda: [0])
    max_steps: int | None = None
    levels_dir: str | None = None
    scaffold: str | None = None
    llm: str | None = None
    memory_llm: str | None = None
    task_llm: str = "planner"
    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    history: int = Field(default=16, ge=0)
    max_llm_failures: int = Field(default=5, ge=1)
    obs: Literal["default", "balrog", "automem"] = "default"
    memory_url: str | None = None
    workers: int = Field(default=1, ge=1)
    executor: Literal["process", "ray"] = "process"
    quiet: bool = False

    @field_validator("agents")
    @classmethod
    def _known_agents(cls, v: list[str]) -> list[str]:
        out = []
        for a in v:
            if a in DEPRECATED_AGENTS:
                warnings.warn(
                    f"agent {a!r} is deprecated; it is now called {DEPRECATED_AGENTS[a]!r}",
                    DeprecationWarning,
                    stacklevel=2,
                )
                a = DEPRECATED_AGENTS[a]
            out.append(a)
        bad = [a for a in out if not (a in BENCH_AGENTS or _HIST.match(a))]
        if bad:
            raise ValueError(
                f"unknown agent(s) {bad} (--agent); choose from {', '.join(BENCH_AGENTS)} "
                "or explorer-hist<N>"
            )
        return list(dict.fromkeys(out))

    def agent_label(self, agent: str) -> str:
        """The name an agent's rows and folders get: ``two-model`` -> ``tm-<mem>+<task>``;
        ``@memgpt`` with the MemGPT scaffold; ``@<style>-obs`` with a non-default
        observation style (``balrog@balrog-obs``)."""
        label = agent
        if agent == "two-model":
            label = f"tm-{_slug(self.memory_llm or 'none')}+{_slug(self.task_llm)}"
        if self.scaffold == "memgpt":
            label += "@memgpt"
        if self.obs != "default":
            label += f"@{self.obs}-obs"
        return label

    def env_list(self) -> list[str]:
        """The envs with groups expanded, in order, without duplicates."""
        from automem_sdk.benchmarks.registry import env_names

        out: list[str] = []
        for e in self.envs:
            out.extend(env_names(e))
        return list(dict.fromkeys(out))


class BenchOptions(BaseModel):
    """The bench settings of one episode (an :class:`EpisodeJob`'s ``options``): the
    output folder and what the agent factory needs."""

    out: str = ""
    kind: str = ""
    llm: str | None = None
    memory_llm: str | None = None
    task_llm: str = "planner"
    temperature: float | None = None
    max_tokens: int | None = None
    history: int = 16
    max_llm_failures: int = 5


def parse_seeds(spec: str | None, episodes: int | None) -> list[int]:
    """Seeds from ``--seeds`` (``0-19``, ``1,5,9``, ``0-4,10``) or ``--episodes N`` (0..N-1).

    Raises:
        BenchError: neither or a malformed spec.
    """
    if spec:
        seeds: list[int] = []
        for part in spec.split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if hi < lo:
                    raise BenchError(f"bad seed range {part!r}")
                seeds.extend(range(lo, hi + 1))
            elif part.isdigit():
                seeds.append(int(part))
            else:
                raise BenchError(f"bad seeds {spec!r}; use e.g. 0-19 or 1,5,9")
        return list(dict.fromkeys(seeds))
    if episodes is not None:
        if episodes < 1:
            raise BenchError("--episodes must be at least 1")
        return list(range(episodes))
    raise BenchError("give --seeds or --episodes")


def default_scaffold(env: str) -> str:
    """The built-in scaffold of an env's family (crafter, minihack, nethack)."""
    family = env.partition("/")[0]
    return family if family in ("crafter", "minihack", "nethack") else "generic"


def episode_path(out: str | Path, agent: str, env: str, seed: int) -> Path:
    """Where the episode JSON of (agent, env, seed) lives."""
    return Path(out) / "episodes" / agent / env / f"{seed}.json"


def trace_path(out: str | Path, agent: str, env: str, seed: int) -> Path:
    """Where the trace of (agent, env, seed) lives."""
    return Path(out) / "traces" / agent / env / f"{seed}.jsonl.gz"


def _memory_url(base: str, agent: str, env: str, seed: int) -> str:
    return f"{base.rstrip('/')}/{agent}/{env}/{seed}"


def _job(config: BenchConfig, out: Path, kind: str, env: str, seed: int, run_id: str) -> EpisodeJob:
    agent = config.agent_label(kind)
    mem_base = config.memory_url or (out / "memory").as_uri()
    options = BenchOptions(
        out=str(out),
        kind=kind,
        llm=config.llm,
        memory_llm=config.memory_llm,
        task_llm=config.task_llm,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        history=config.history,
        max_llm_failures=config.max_llm_failures,
    )
    return EpisodeJob(
        env=env,
        seed=seed,
        agent=agent,
        key=f"{agent}/{env}/{seed}",
        scaffold=config.scaffold or default_scaffold(env),
        max_steps=config.max_steps,
        memory_url=_memory_url(mem_base, agent, env, seed),
        store_limits=TRUNC_LIMITS if kind == "explorer-trunc" else None,
        trace_url=str(trace_path(out, agent, env, seed)),
        env_factory=f"{__name__}:bench_env",
        env_options={"levels_dir": config.levels_dir, "obs": config.obs},
        close_env=False,  # bench_env keeps one env per process
        agent_factory=f"{__name__}:bench_agent",
        options=options.model_dump(),
        header_extra={
            "agent": agent,
            "bench_run_id": run_id,
            "obs": config.obs,
            "levels_dir": config.levels_dir or "(packaged Boxoban subsets)",
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
        },
        run_id=run_id,
    )


def _same_settings(job: EpisodeJob, prev: EpisodeResult) -> None:
    if prev.max_steps != job.max_steps or prev.scaffold != job.scaffold:
        raise BenchError(
            f"episode {job.job_key} in --out was played with "
            f"max_steps={prev.max_steps}, scaffold={prev.scaffold!r}; this run asks "
            f"max_steps={job.max_steps}, scaffold={job.scaffold!r}: use another --out"
        )


def plan_jobs(config: BenchConfig, run_id: str) -> tuple[list[EpisodeJob], list[EpisodeResult]]:
    """Split the configured episodes into those to play and those already finished.

    Returns:
        (jobs to run, results of finished episodes).

    Raises:
        BenchError: an existing episode was played with another step cap or scaffold
            (use a new ``out``).
    """
    out = Path(config.out).resolve()
    jobs = [
        _job(config, out, kind, env, seed, run_id)
        for kind in config.agents
        for env in config.env_list()
        for seed in config.seeds
    ]
    todo, done = RunDir(out).plan(jobs, _same_settings)
    return todo, list(done.values())


# --------------------------------------------------------------------------- agents
class RandomDecider:
    """Chooses an action uniformly from ``request.actions`` with a seeded RNG.

    Args:
        seed: RNG seed (the episode seed, for reproducible runs).
    """

    def __init__(self, seed: int = 0) -> None:
        self.name = "random"
        self._rng = random.Random(seed)

    def decide(self, request: RoutineRequest) -> Completion:
        """``<|DONE|>`` in LOG; a uniformly random action otherwise."""
        from automem_sdk.codec import encode_op
        from automem_sdk.ops import ActionOp

        if request.routine == "log" or not request.actions:
            return Completion(text="<|DONE|>", model=self.name)
        action = self._rng.choice(request.actions)
        return Completion(text=encode_op(ActionOp(name=action)), model=self.name)


@lru_cache(maxsize=4)
def _cached_env(
    name: str, max_steps: int | None, levels_dir: str | None, obs: str = "default"
) -> TextEnv:
    """One env per (name, cap, levels) per process: episodes reset it with their seed."""
    from automem_sdk.benchmarks.registry import make_env

    env: TextEnv = make_env(name, max_steps=max_steps, levels_dir=levels_dir, obs=obs)
    return env


def bench_env(
    name: str, *, max_steps: int | None = None, levels_dir: str | None = None, obs: str = "default"
) -> TextEnv:
    """The env factory of bench jobs: one env per (name, cap, levels, obs) per process."""
    return _cached_env(name, max_steps, levels_dir, obs)


class FailureGuard:
    """A decider that stops the episode after ``limit`` consecutive LLM failures.

    One failed call is the agent's problem (it becomes feedback and a fallback action);
    ``limit`` in a row means the endpoint is wrong or down, so the guard raises
    :class:`LLMFailuresError` (not an :class:`LLMError`: the agent does not swallow it)
    carrying the last error.

    Args:
        decider: the wrapped decider (an LLM behind it).
        limit: consecutive failures tolerated before stopping.
        flag: the CLI flag that chose this model (named in the error).
    """

    def __init__(self, decider: Any, limit: int = 5, flag: str = "--llm") -> None:
        self.decider = decider
        self.limit = limit
        self.flag = flag
        self.name: str = decider.name
        self.failures = 0

    def decide(self, request: RoutineRequest) -> Completion:
        """Delegate; count failures in a row and stop at ``limit``."""
        try:
            completion: Completion = self.decider.decide(request)
        except LLMError as exc:
            self.failures += 1
            if self.failures >= self.limit:
                raise LLMFailuresError(
                    f"the model {self.name!r} ({self.flag}) failed {self.failures} times in "
                    f"a row; stopping: {exc}"
                ) from exc
            raise
        self.failures = 0
        return completion


def _llm_decider(a: BenchOptions, spec: str, flag: str) -> Any:
    from automem_sdk.agent import LLMDecider
    from automem_sdk.llm import make_client

    opts: dict[str, Any] = {}
    if a.temperature is not None:
        opts["temperature"] = a.temperature
    if a.max_tokens is not None:
        opts["max_tokens"] = a.max_tokens
    return FailureGuard(LLMDecider(make_client(spec), **opts), a.max_llm_failures, flag)


def _memory_model(job: EpisodeJob, a: BenchOptions) -> Any:
    spec = a.memory_llm or ""
    if spec == "explorer":
        from automem_sdk.benchmarks.registry import make_explorer

        return make_explorer(job.env, memory=True, seed=job.seed)
    if spec == "blank":
        from automem_sdk.benchmarks.players.history import BlankMemoryModel

        return BlankMemoryModel()
    return _llm_decider(a, spec, "--memory-llm")


def _task_policy(job: EpisodeJob, a: BenchOptions) -> Any:
    from automem_sdk.benchmarks.registry import make_explorer, make_task_policy

    if a.task_llm == "planner":
        return make_task_policy(job.env, seed=job.seed)
    if a.task_llm == "explorer":
        return make_explorer(job.env, memory=True, seed=job.seed)
    return _llm_decider(a, a.task_llm, "--task-llm")


def bench_agent(job: EpisodeJob, store: MemoryStore) -> MemoryAgent:
    """The agent factory of bench jobs: the agent named by ``job.options``
    (:class:`BenchOptions`) on ``store``.

    Raises:
        BenchError: an LLM agent without a model spec.
    """
    from automem_sdk.agent import MemoryAgent

    a = BenchOptions.model_validate(job.options)
    kind = a.kind or agent_kind(job.agent)
    if _HIST.match(kind):
        kind = "explorer-hist"
    from automem_sdk.benchmarks.players.memgpt import MemGPTExplorer, resolve_scaffold

    scaffold = resolve_scaffold(job.scaffold)
    if kind == "random":
        return MemoryAgent(store, scaffold, RandomDecider(job.seed), memory="off")
    if kind == "llm":
        if not a.llm:
            raise BenchError("agent 'llm' needs --llm SPEC (e.g. openai:gpt-4o-mini)")
        return MemoryAgent(store, scaffold, _llm_decider(a, a.llm, "--llm"))
    if kind in ("balrog", "balrog+memory"):
        return _balrog_agent(job, a, store, scaffold, memory=kind == "balrog+memory")
    if kind == "two-model":
        return MemoryAgent(
            store,
            scaffold,
            _memory_model(job, a),
            mode="two-model",
            task_decider=_task_policy(job, a),
        )
    if kind == "explorer" and job.scaffold == "memgpt":
        return MemoryAgent(store, scaffold, MemGPTExplorer(job.env, seed=job.seed))
    from automem_sdk.benchmarks.registry import make_explorer, make_history_explorer

    if kind == "explorer-hist":
        m = _HIST.match(a.kind or job.agent)
        window = int(m.group(1)) if m else a.history
        hist = make_history_explorer(job.env, window=window, seed=job.seed)
        return MemoryAgent(store, scaffold, hist, memory="off")
    explorer = make_explorer(job.env, memory=True, seed=job.seed)
    memory: Literal["on", "off"] = "off" if kind == "explorer-stateless" else "on"
    return MemoryAgent(store, scaffold, explorer, memory=memory)


def _balrog_agent(
    job: EpisodeJob, a: BenchOptions, store: Any, scaffold: Any, *, memory: bool
) -> MemoryAgent:
    """``balrog`` / ``balrog+memory``: BALROG's NaiveAgent protocol on ``--llm`` (its
    temperature 1.0 unless ``--temperature``), memory off or around it."""
    from automem_sdk.benchmarks.players.balrog_agent import balrog_data, make_balrog_agent

    from automem_sdk.agent import LLMDecider
    from automem_sdk.llm import make_client

    if not a.llm:
        raise BenchError(f"agent {a.kind!r} needs --llm SPEC (e.g. vllm:MODEL@http://host:8000/v1)")
    client = make_client(a.llm)
    temperature = a.temperature if a.temperature is not None else balrog_data()["temperature"]
    opts: dict[str, Any] = {"temperature": temperature}
    if a.max_tokens is not None:
        opts["max_tokens"] = a.max_tokens
    agent: MemoryAgent = make_balrog_agent(
        store,
        scaffold,
        client,
        job.env,
        memory=memory,
        memory_client=LLMDecider(client, **opts),
        history=a.history,
        temperature=temperature,
        max_tokens=a.max_tokens,
        wrap_decider=lambda d: FailureGuard(d, a.max_llm_failures, "--llm"),
    )
    return agent


def _check_llm_spec(spec: str | None, flag: str, keyless: tuple[str, ...] = ()) -> None:
    if not spec:
        raise BenchError(f"{flag} SPEC is needed (e.g. openai:gpt-4o-mini)")
    if spec in keyless or spec.partition(":")[0].lower() in ("local", "llamacpp"):
        return  # keyless player, or a local model loaded by the episode itself
    from automem_sdk.llm import make_client

    try:
        make_client(spec)
    except (ValueError, LLMError) as exc:
        raise BenchError(f"{flag} {spec!r}: {exc}") from exc


def check_config(config: BenchConfig) -> None:
    """Fail before any episode starts if the run cannot work, naming the CLI flag.

    Checks the env names (``--env``), Boxoban level files (``--levels-dir``), the scaffold
    (``--scaffold``) and the model specs the agents need (``--llm``, ``--memory-llm``,
    ``--task-llm``).

    Raises:
        BenchError: what is wrong and which flag to fix.
    """
    from automem_sdk.benchmarks.envs.nle_text import GameSetupError

    from automem_sdk.scaffold import load_scaffold

    if not config.seeds:
        raise BenchError("no seeds to play (--seeds / --episodes)")
    for env in config.env_list():
        family, _, task = env.partition("/")
        if not (env in ("crafter", "nethack") or (family == "minihack" and task)):
            raise BenchError(
                f"unknown env {env!r} (--env); use crafter, nethack, minihack, all or "
                "minihack/<Task>"
            )
        if family == "minihack":
            from automem_sdk.benchmarks.envs.minihack import MINIHACK_TASKS, boxoban_level_path

            if task not in MINIHACK_TASKS:
                raise BenchError(
                    f"unknown MiniHack task {task!r} (--env); choose from "
                    + ", ".join(MINIHACK_TASKS)
                )
            if task.startswith("Boxoban"):
                try:
                    boxoban_level_path(task, config.levels_dir)
                except GameSetupError as exc:
                    raise BenchError(f"{exc} (--levels-dir)") from exc
        try:
            from automem_sdk.benchmarks.players.memgpt import resolve_scaffold

            load_scaffold(resolve_scaffold(config.scaffold or default_scaffold(env)))
        except (AutomemError, OSError, ValueError) as exc:
            raise BenchError(f"scaffold {config.scaffold!r} (--scaffold): {exc}") from exc
    kinds = {agent_kind(a) for a in config.agents}
    if kinds & set(LLM_AGENTS):
        _check_llm_spec(config.llm, "--llm")
    if "two-model" in kinds:
        _check_llm_spec(config.memory_llm, "--memory-llm", KEYLESS_MEMORY)
        _check_llm_spec(config.task_llm, "--task-llm", KEYLESS_TASKS)


def _sweep_stale_tmp(out: Path, max_age_s: float = 600.0) -> int:
    """Remove temp files that killed writers left behind (see
    :func:`automem_sdk.rundir.sweep_stale_tmp`); returns how many."""
    return RunDir(out).sweep(max_age_s)


def _log_start(job: EpisodeJob) -> None:
    runs = Path(BenchOptions.model_validate(job.options).out) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {"agent": job.agent, "env": job.env, "seed": job.seed, "pid": os.getpid(), "t": time.time()}
    )
    with open(runs / f"{job.run_id}.jsonl", "a", encoding="utf-8") as f:
        f.write(line + "\n")


def run_job(job: EpisodeJob) -> EpisodeResult:
    """Play one bench episode (logging its start in ``OUT/runs``) and return its result.

    The runner stores the result (the episode JSON, atomically, last); see
    :func:`automem_sdk.rundir.play_jobs`.
    """
    _log_start(job)
    return play_episode(job)


def _write_plan(out: Path, run_id: str, config: BenchConfig) -> None:
    """Record what this run was asked to play (the report counts missing episodes)."""
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    plan = {
        "agents": [config.agent_label(a) for a in config.agents],
        "envs": config.env_list(),
        "seeds": list(config.seeds),
    }
    atomic_write(runs / f"{run_id}.plan.json", json.dumps(plan))


def load_plan(out: str | Path) -> dict[tuple[str, str], set[int]]:
    """``(agent, env) -> seeds`` every run in ``out`` planned (empty if none recorded)."""
    planned: dict[tuple[str, str], set[int]] = {}
    for p in sorted((Path(out) / "runs").glob("*.plan.json")):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for agent in data.get("agents", []):
            for env in data.get("envs", []):
                planned.setdefault((agent, env), set()).update(int(s) for s in data["seeds"])
    return planned


def load_episodes(out: str | Path) -> list[EpisodeResult]:
    """Every finished episode JSON under ``OUT/episodes``, sorted by agent, env, seed."""
    rows = RunDir(Path(out)).load_results()
    return sorted(rows, key=lambda r: (r.agent, r.env, r.seed or 0))


def run_benchmark(
    config: BenchConfig, *, on_episode: Callable[[EpisodeResult], None] | None = None
) -> list[EpisodeResult]:
    """Play every configured episode not yet finished; return all of them.

    Args:
        config: what to play and where to write it.
        on_episode: called with each episode summary as it finishes.

    Returns:
        The summaries of every configured episode (finished earlier or now), sorted by
        agent, env and seed.

    Raises:
        BenchError: bad configuration, or a mismatched existing ``out``.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    check_config(config)
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    out = Path(config.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _sweep_stale_tmp(out)
    jobs, done = plan_jobs(config, run_id)
    _write_plan(out, run_id, config)
    results = list(done)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("mean progression {task.fields[mean]:.3f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=config.quiet) as bar:
        total = len(jobs) + len(done)
        prog = [r.progression for r in results]
        task = bar.add_task(
            "episodes",
            total=total,
            completed=len(done),
            mean=sum(prog) / len(prog) if prog else 0.0,
        )
        for summary in _play(jobs, out, config):
            results.append(summary)
            prog.append(summary.progression)
            bar.update(task, advance=1, mean=sum(prog) / len(prog))
            if on_episode is not None:
                on_episode(summary)
    return sorted(results, key=lambda r: (r.agent, r.env, r.seed or 0))


def _play(jobs: list[EpisodeJob], out: Path, config: BenchConfig) -> Iterator[EpisodeResult]:
    try:
        yield from play_jobs(
            jobs, RunDir(out), executor=config.executor, workers=config.workers, play=run_job
        )
    except RunDirError as exc:  # no Ray
        raise BenchError(f"--executor {config.executor}: {exc}") from exc
