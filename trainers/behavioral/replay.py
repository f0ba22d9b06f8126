"""Replaying a logged episode: the env's states, and the memory store before a decision.

The games are deterministic given the seed and the action history, so a trace is enough
to rebuild what the agent saw at every step (:func:`replay_states`) and, by re-running
the recorded memory ops, what its memory held at any point (:func:`rebuild_store`), with
one decision left out or kept. The decision-level credit methods of :mod:`.credit` are
built on these two.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from automem_sdk.trainers.behavioral.errors import BehavioralError
from automem_sdk.trainers.behavioral.traces import MEMORY_ROUTINES, LoadedTrace, TurnKey, turn_key
from pydantic import ValidationError

from automem_sdk.env import TextEnv
from automem_sdk.ops import CustomOp, MemoryOp, execute_op, op_from_dict
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.store import MemoryStore
from automem_sdk.trace import TurnRecord

__all__ = [
    "READ_OPS",
    "WRITE_OPS",
    "EnvState",
    "WriteDecision",
    "rebuild_store",
    "replay_states",
    "scratch_store",
    "write_decisions",
]

#: Ops that change memory (the decisions credited by :mod:`.credit`).
WRITE_OPS = frozenset({"write", "append", "create", "upsert", "replace", "insert"})
#: Ops that only look at memory.
READ_OPS = frozenset({"read", "head", "tail", "search", "count", "list"})
_MUTATING = WRITE_OPS | {"delete", "rename"}
_ROUTINE_ORDER = {"log": 0, "plan": 1, "act": 2}


@dataclass(frozen=True)
class EnvState:
    """What the agent saw at one step, before acting.

    Attributes:
        step: the step index.
        observation: the observation text.
        info: the env's info dict.
    """

    step: int
    observation: str
    info: dict[str, Any]


@dataclass(frozen=True)
class WriteDecision:
    """One executed write-side memory op of a LOG/PLAN turn.

    Attributes:
        key: the turn holding it.
        index: its position in the turn's ``ops``.
        step: the step of the turn.
        routine: ``log`` or ``plan``.
        op: the validated op.
        changed: whether it changed the store (``False``: a redundant write).
    """

    key: TurnKey
    index: int
    step: int
    routine: str
    op: MemoryOp
    changed: bool

    @property
    def path(self) -> str:
        """The file it wrote."""
        return str(getattr(self.op, "path", ""))

    @property
    def lines(self) -> list[str]:
        """The lines it put into the file (``key: value`` for an upsert)."""
        op: Any = self.op
        if self.op.op == "upsert":
            return [f"{op.key}: {op.value}"]
        text = str(getattr(op, "content", "") or getattr(op, "new", "") or "")
        return [ln.strip() for ln in text.splitlines() if ln.strip()]


def _ordered_turns(lt: LoadedTrace) -> list[TurnRecord]:
    return [
        t
        for _, t in sorted(
            enumerate(lt.trace.turns),
            key=lambda it: (it[1].step, _ROUTINE_ORDER.get(it[1].routine, 3), it[1].turn, it[0]),
        )
    ]


def _executed(turn: TurnRecord) -> Iterator[tuple[int, MemoryOp, dict[str, Any]]]:
    """The ops of a turn that ran, validated, with their results."""
    for i, raw in enumerate(turn.ops[: len(turn.results)]):
        try:
            op = op_from_dict(raw)
        except ValidationError:
            continue
        yield i, op, turn.results[i]


def write_decisions(lt: LoadedTrace) -> list[WriteDecision]:
    """Every successful write-side op of the trace's memory turns, in the order they ran."""
    out: list[WriteDecision] = []
    for t in _ordered_turns(lt):
        if t.routine not in MEMORY_ROUTINES:
            continue
        for i, op, res in _executed(t):
            if op.op in WRITE_OPS and res.get("ok"):
                out.append(
                    WriteDecision(
                        key=turn_key(lt.url, t),
                        index=i,
                        step=t.step,
                        routine=t.routine,
                        op=op,
                        changed=bool(res.get("changed", True)),
                    )
                )
    return out


def replay_states(
    env: TextEnv, lt: LoadedTrace, *, check: bool = True
) -> tuple[list[EnvState], int]:
    """Replay the recorded actions from the trace's seed.

    Args:
        env: an env of the trace's kind (reset here with the trace's seed).
        lt: the trace.
        check: compare the replayed observations with the recorded ones.

    Returns:
        The state the agent saw at each step (index = step; one more than the steps
        recorded: the state after the last action), and how many replayed observations
        differed from the recorded ones (0 for a deterministic env).

    Raises:
        BehavioralError: the trace has no seed.
    """
    seed = lt.trace.header.seed
    if seed is None:
        raise BehavioralError(f"{lt.url}: no seed in the trace header; it cannot be replayed")
    obs, info = env.reset(seed=seed)
    states = [EnvState(0, obs, dict(info))]
    mismatches = 0
    for rec in sorted(lt.trace.steps, key=lambda s: s.step):
        res = env.step(rec.action)
        if check and rec.observation and res.observation != rec.observation:
            mismatches += 1
        states.append(EnvState(rec.step + 1, res.observation, dict(res.info)))
        if res.terminated or res.truncated:
            break
    return states, mismatches


@contextmanager
def scratch_store() -> Iterator[MemoryStore]:
    """A fresh in-memory store, removed afterwards."""
    import fsspec

    path = f"/automem-credit/{uuid.uuid4().hex}"
    store = MemoryStore(f"memory://{path}")
    try:
        yield store
    finally:
        fs = fsspec.filesystem("memory")
        if fs.exists(path):
            fs.rm(path, recursive=True)


def rebuild_store(
    store: MemoryStore,
    lt: LoadedTrace,
    scaffold: Scaffold | str,
    *,
    until: TurnKey,
    skip: Callable[[TurnKey, int], bool] | None = None,
) -> int:
    """Re-run the trace's memory ops on ``store`` up to and including turn ``until``.

    The scaffold's files are created with their initial content first, as the agent
    does; then every op that succeeded in a LOG/PLAN turn is run again, in order,
    except those ``skip(turn_key, op_index)`` names.

    Returns:
        The number of ops re-run.
    """
    sc = load_scaffold(scaffold)
    for f in sc.files:
        store.write(f.name, f.initial)
    n = 0
    for t in _ordered_turns(lt):
        if t.routine in MEMORY_ROUTINES:
            key = turn_key(lt.url, t)
            for i, op, res in _executed(t):
                if not res.get("ok") or not (op.op in _MUTATING or isinstance(op, CustomOp)):
                    continue
                if skip is not None and skip(key, i):
                    continue
                execute_op(store, op, sc)
                n += 1
        if turn_key(lt.url, t) == until:
            break
    return n
