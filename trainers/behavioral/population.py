"""A behaviour population: memory policies of controlled quality, with labelled decisions.

A selector can only be judged on data where the good and the bad decisions are known.
:class:`NoisyMemoryPolicy` wraps any scripted memory policy (for NetHack/MiniHack the
study's map teacher) and spoils a controlled share of its LOG writes:

- ``misfile``: a map line filed under the wrong cell (its ``x,y`` key moved by 1-2
  cells), the content otherwise right -- the corrupted writes a selector must reject;
- ``redundant``: an extra upsert of a line already stored, unchanged;
- ``miss``: a line the policy meant to write, left out.

Every write it emits is labelled (``good``, ``misfiled``, ``redundant``) in
:attr:`NoisyMemoryPolicy.labels`, keyed by (step, turn, op index) of the trace's turn,
and :func:`play_population` stores the labels beside each trace. :data:`POPULATION` is
the default mix of members used by the studies.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from automem_sdk.codec import encode_ops, parse_ops
from automem_sdk.env import Decider, RoutineRequest, TextEnv
from automem_sdk.errors import AutomemError
from automem_sdk.llm.base import Completion
from automem_sdk.ops import UpsertOp
from automem_sdk.store import MemoryStore

__all__ = [
    "POPULATION",
    "Member",
    "NoisyMemoryPolicy",
    "labels_path",
    "play_population",
    "read_labels",
]

_CELL_KEY = re.compile(r"^(?:(\d+):)?(\d+),(\d+)$")


class Member(BaseModel):
    """One memory policy of the population and its error rates (per write)."""

    name: str
    misfile: float = 0.0
    redundant: float = 0.0
    miss: float = 0.0


#: The default population: a clean teacher and one member per kind of mistake.
POPULATION: tuple[Member, ...] = (
    Member(name="good"),
    Member(name="misfile30", misfile=0.3),
    Member(name="redundant30", redundant=0.3),
    Member(name="miss30", miss=0.3),
    Member(name="mixed", misfile=0.15, redundant=0.15, miss=0.15),
)


class NoisyMemoryPolicy:
    """Wraps a memory policy and spoils a controlled share of its LOG writes.

    Args:
        base: the memory policy wrapped (its PLAN turns pass through unchanged).
        store: the episode's store (to find lines to repeat for redundant writes).
        seed: seeds the corruption.
        member: the error rates.
        map_file: the file whose ``x,y`` lines may be misfiled.
    """

    def __init__(
        self,
        base: Decider,
        store: MemoryStore,
        seed: int,
        member: Member,
        *,
        map_file: str = "map.md",
    ) -> None:
        self.base = base
        self.store = store
        self.member = member
        self.map_file = map_file
        self.rng = random.Random(f"noisy-{member.name}-{seed}")
        self.name = f"{getattr(base, 'name', 'policy')}+{member.name}"
        #: (step, turn, op index) -> label of every write emitted.
        self.labels: dict[tuple[int, int, int], str] = {}

    def _stored_lines(self) -> list[tuple[str, str]]:
        try:
            text = self.store.read(self.map_file)
        except AutomemError:
            return []
        out = []
        for line in text.splitlines():
            key, sep, value = line.partition(": ")
            if sep and _CELL_KEY.match(key.strip()):
                out.append((key.strip(), value.strip()))
        return out

    def _misfile(self, key: str) -> str:
        m = _CELL_KEY.match(key)
        assert m is not None
        dx, dy = 0, 0
        while (dx, dy) == (0, 0):
            dx, dy = self.rng.randint(-2, 2), self.rng.randint(-2, 2)
        prefix = f"{m.group(1)}:" if m.group(1) else ""
        return f"{prefix}{max(0, int(m.group(2)) + dx)},{max(0, int(m.group(3)) + dy)}"

    def decide(self, request: RoutineRequest) -> Completion:
        """The wrapped policy's turn, with its LOG writes spoiled as configured."""
        completion = self.base.decide(request)
        if request.routine != "log":
            return completion
        ops = parse_ops(completion.text)
        out: list[Any] = []
        labels: list[str | None] = []
        stored = self._stored_lines()
        m = self.member
        for op in ops:
            if isinstance(op, UpsertOp) and op.path == self.map_file and _CELL_KEY.match(op.key):
                if self.rng.random() < m.miss:
                    continue
                if self.rng.random() < m.misfile:
                    out.append(op.model_copy(update={"key": self._misfile(op.key)}))
                    labels.append("misfiled")
                    continue
            if op.op == "done" and stored and self.rng.random() < m.redundant:
                key, value = self.rng.choice(stored)
                out.append(UpsertOp(path=self.map_file, key=key, value=value))
                labels.append("redundant")
            out.append(op)
            labels.append("good" if op.op in ("upsert", "append", "write") else None)
        for i, label in enumerate(labels):
            if label is not None:
                self.labels[(request.step, request.turn, i)] = label
        return Completion(text=encode_ops(out), model=completion.model, usage=completion.usage)


def labels_path(trace_url: str) -> str:
    """Where :func:`play_population` keeps a trace's labels (``NAME.labels.json``)."""
    base = trace_url[: -len(".jsonl")] if trace_url.endswith(".jsonl") else trace_url
    return base + ".labels.json"


def read_labels(trace_url: str) -> dict[tuple[int, int, int], str]:
    """The labels stored beside a trace (empty when there are none)."""
    path = Path(labels_path(trace_url))
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text(encoding="utf-8"))
    return {(int(r["step"]), int(r["turn"]), int(r["index"])): str(r["label"]) for r in rows}


def play_population(
    out_dir: str | Path,
    env_factory: Callable[[], TextEnv],
    seeds: Sequence[int],
    members: Sequence[Member],
    *,
    base_factory: Callable[[MemoryStore, int], Decider],
    task_factory: Callable[[int], Decider],
    scaffold: Any,
    max_steps: int,
    tag: str = "",
) -> list[dict[str, Any]]:
    """Play every member on every seed in two-model mode; traces and labels on disk.

    Args:
        out_dir: local directory (``traces/``, ``memory/``).
        env_factory: a fresh env per episode.
        seeds: episode seeds (every member plays each).
        members: the population.
        base_factory: ``(store, seed) ->`` the clean memory policy wrapped.
        task_factory: ``seed ->`` the task policy.
        scaffold: the memory scaffold.
        max_steps: step cap per episode.
        tag: prefix of trace names (e.g. the env slug).

    Returns:
        One row per episode: member, seed, progression, steps, trace URL, label counts.
    """
    from automem_sdk.agent import MemoryAgent, run_episode

    root = Path(out_dir)
    rows: list[dict[str, Any]] = []
    for member in members:
        for seed in seeds:
            name = f"{tag}{member.name}-seed{seed}"
            trace = root / "traces" / f"{name}.jsonl"
            shutil.rmtree(root / "memory" / name, ignore_errors=True)  # start with no memory
            store = MemoryStore(str(root / "memory" / name))
            policy = NoisyMemoryPolicy(base_factory(store, seed), store, seed, member)
            agent = MemoryAgent(
                store, scaffold, policy, mode="two-model", task_decider=task_factory(seed)
            )
            env = env_factory()
            try:
                res = run_episode(
                    env,
                    agent,
                    seed,
                    max_steps=max_steps,
                    trace=str(trace),
                    header_extra={"member": member.model_dump()},
                )
            finally:
                env.close()
            Path(labels_path(str(trace))).write_text(
                json.dumps(
                    [
                        {"step": k[0], "turn": k[1], "index": k[2], "label": v}
                        for k, v in sorted(policy.labels.items())
                    ]
                ),
                encoding="utf-8",
            )
            counts: dict[str, int] = {}
            for v in policy.labels.values():
                counts[v] = counts.get(v, 0) + 1
            rows.append(
                {
                    "member": member.name,
                    "seed": seed,
                    "progression": res.progression,
                    "steps": res.steps,
                    "trace": str(trace),
                    "labels": counts,
                }
            )
    return rows
