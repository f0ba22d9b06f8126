"""The pieces a behavioral run needs for one env, by name: env, task policy, scaffold, credit.

:func:`make_world` resolves ``toy/keydoor`` (no game needed) and ``minihack/<Task>``
(the SmolLM2 study's setup: compact observations, the compact map scaffold, the
memory-consuming task policy of two-model evaluation, the map teacher, and the map
verifier).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automem_sdk.trainers.behavioral.credit import CreditContext, KeyDoorVerifier, WriteVerifier
from automem_sdk.trainers.behavioral.errors import BehavioralError

from automem_sdk.env import Decider, TextEnv
from automem_sdk.scaffold import Scaffold
from automem_sdk.store import MemoryStore

__all__ = ["World", "make_world"]


@dataclass
class World:
    """Factories for one env.

    Attributes:
        env: the env name.
        env_factory: a fresh env (``max_steps`` applied where the env takes it).
        task_factory: ``seed ->`` the task policy that acts on what memory returned.
        teacher_factory: ``(store, seed) ->`` the clean scripted memory policy.
        scaffold: the memory scaffold.
        verifier: the verifiable check of writes.
    """

    env: str
    env_factory: Callable[[], TextEnv]
    task_factory: Callable[[int], Decider]
    teacher_factory: Callable[[MemoryStore, int], Decider]
    scaffold: Scaffold | str
    verifier: WriteVerifier

    def credit_context(self) -> CreditContext:
        """A fresh :class:`~.credit.CreditContext` (counterfactuals continue with the teacher)."""
        return CreditContext(
            env_factory=self.env_factory,
            task_factory=self.task_factory,
            memory_factory=self.teacher_factory,
            scaffold=self.scaffold,
            verifier=self.verifier,
        )


def make_world(env: str, max_steps: int = 100) -> World:
    """The :class:`World` of ``env`` (``toy/keydoor`` or ``minihack/<Task>``).

    Raises:
        BehavioralError: an env without a scripted setup here.
    """
    if env == "toy/keydoor":
        from automem_sdk.benchmarks.envs.toy import KeyDoorEnv
        from automem_sdk.benchmarks.players.toy import KeyDoorPlanner, KeyNoteWriter

        return World(
            env=env,
            env_factory=lambda: KeyDoorEnv(max_steps=max_steps),
            task_factory=lambda seed: KeyDoorPlanner(),
            teacher_factory=lambda store, seed: KeyNoteWriter(store),
            scaffold="generic",
            verifier=KeyDoorVerifier(),
        )
    if env.startswith("minihack/"):
        from automem_sdk.benchmarks.envs.compact import CompactObservation
        from automem_sdk.benchmarks.players.map_teacher import MapTeacher, map_scaffold
        from automem_sdk.benchmarks.registry import make_env
        from automem_sdk.trainers.behavioral.credit import NLEMapVerifier
        from automem_sdk.trainers.behavioral.credit_eval import task_policy

        def env_factory() -> Any:
            return CompactObservation(make_env(env))

        return World(
            env=env,
            env_factory=env_factory,
            task_factory=lambda seed: task_policy(env, seed),
            teacher_factory=lambda store, seed: MapTeacher(store, seed),
            scaffold=map_scaffold(),
            verifier=NLEMapVerifier(),
        )
    raise BehavioralError(f"no behavioral world for {env!r}; use toy/keydoor or minihack/<Task>")
