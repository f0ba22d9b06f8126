"""Decision-level credit: score each memory write, not the episode it sits in.

Episode-level selectors (:class:`~.selectors.OutcomeSelector`, and
:class:`~.selectors.HindsightSelector`, which credits every write read before progress)
keep or drop whole episodes' worth of writes, good and bad alike. The selectors here
judge every executed write-side op (write, append, create, upsert, replace, insert) on
its own and return :class:`~.selectors.Selection` records whose ``ops`` list only the
credited writes; the postprocess keeps only those in the target. Turns without a write
(PLAN reads, abstentions) pass through unchanged, and a turn whose writes are all
rejected is dropped, so every method composes with today's selectors:
``"outcome:0.5 & verified"`` keeps the best episodes' turns with their bad writes cut.

- :class:`VerifiedSelector` -- **verifiable checks** where the environment knows the
  truth: a :class:`WriteVerifier` compares each write with the replayed episode's states
  (:func:`~.replay.replay_states`); e.g. :class:`NLEMapVerifier` checks that a map line
  for cell ``(x, y)`` names a cell the player stood on, with exits it could see there.
  A write that changed nothing (a redundant write) is not credited.
- :class:`CounterfactualSelector` -- **counterfactual replay**: the games are
  deterministic given the seed and the action history, so the env is replayed to the
  decision's step, the memory rebuilt with and without the write
  (:func:`~.replay.rebuild_store`), and both branches continue under the same fresh
  memory and task policies for ``horizon`` steps. A write is credited when the branch
  with it is worth more (:meth:`CounterfactualSelector.value`: progression reached, then
  speed, then cells explored). Cost: two branches of at most ``horizon`` steps per
  decision, bounded by ``max_decisions``, reported in :attr:`CreditContext.stats`.
- :class:`UsageSelector` -- **usage attribution**: a write is credited when a later
  PLAN read it back and the task policy's action that step depended on it (the policy,
  asked again with the written line taken out of its memory context, acts differently).

Every method needs a :class:`CreditContext`: how to make the env, the task policy, and
(for counterfactuals) the memory policy that continues the branches.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from automem_sdk.trainers.behavioral.replay import (
    EnvState,
    WriteDecision,
    rebuild_store,
    replay_states,
    scratch_store,
    write_decisions,
)
from automem_sdk.trainers.behavioral.selectors import Selection, Selector, _selection, _sort_key
from automem_sdk.trainers.behavioral.traces import (
    MEMORY_ROUTINES,
    LoadedTrace,
    TurnKey,
    is_abstention,
    memory_ops,
    turn_key,
)

from automem_sdk.agent import MemoryAgent
from automem_sdk.env import Decider, RoutineRequest, TextEnv
from automem_sdk.scaffold import Scaffold
from automem_sdk.store import MemoryStore

__all__ = [
    "BranchOutcome",
    "CounterfactualSelector",
    "CreditContext",
    "CreditStats",
    "KeyDoorVerifier",
    "NLEMapVerifier",
    "UsageSelector",
    "VerifiedSelector",
    "WriteVerifier",
]


class WriteVerifier(Protocol):
    """Checks one write against what the environment knows."""

    def check(self, decision: WriteDecision, states: Sequence[EnvState]) -> tuple[bool | None, str]:
        """``(True/False, reason)``, or ``(None, reason)`` when it cannot tell.

        Args:
            decision: the write.
            states: the replayed states of its episode (index = step).
        """
        ...


@dataclass
class CreditStats:
    """Cost and counts of the last credit runs (accumulated).

    Attributes:
        decisions: write decisions looked at.
        scored: decisions scored (counterfactual: both branches played).
        credited: decisions credited.
        rejected: decisions rejected.
        unknown: decisions a verifier could not judge.
        env_steps: env steps played (replays and branches).
        policy_calls: extra task-policy calls (usage attribution).
        replay_mismatches: replayed observations that differed from the trace.
        wall_s: seconds spent.
    """

    decisions: int = 0
    scored: int = 0
    credited: int = 0
    rejected: int = 0
    unknown: int = 0
    env_steps: int = 0
    policy_calls: int = 0
    replay_mismatches: int = 0
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The counts as a plain dict (for ledgers)."""
        return {k: float(v) for k, v in self.__dict__.items()}


@dataclass
class CreditContext:
    """What decision-level credit needs to know about the world.

    Attributes:
        env_factory: a fresh env of the traces' kind.
        task_factory: ``seed -> `` a fresh task policy (the one that acts on memory).
        memory_factory: ``(store, seed) ->`` the memory policy that continues a
            counterfactual branch (None: counterfactuals unavailable).
        scaffold: the scaffold the traces were played with.
        verifier: the verifiable check (None: ``verified`` unavailable).
        stats: accumulated cost and counts.
    """

    env_factory: Callable[[], TextEnv]
    task_factory: Callable[[int], Decider]
    memory_factory: Callable[[MemoryStore, int], Decider] | None = None
    scaffold: Scaffold | str = "generic"
    verifier: WriteVerifier | None = None
    stats: CreditStats = field(default_factory=CreditStats)
    _states: dict[str, list[EnvState]] = field(default_factory=dict, repr=False)
    _env: TextEnv | None = field(default=None, repr=False)

    def env(self) -> TextEnv:
        """The context's env (made once, reset for each replay)."""
        if self._env is None:
            self._env = self.env_factory()
        return self._env

    def states(self, lt: LoadedTrace) -> list[EnvState]:
        """The replayed states of ``lt`` (cached)."""
        if lt.url not in self._states:
            states, mismatches = replay_states(self.env(), lt)
            self.stats.env_steps += len(states) - 1
            self.stats.replay_mismatches += mismatches
            self._states[lt.url] = states
        return self._states[lt.url]

    def close(self) -> None:
        """Close the env."""
        if self._env is not None:
            self._env.close()
            self._env = None


class _DecisionSelector(Selector):  # type: ignore[misc]  # Selector: a trainers import
    """Common shape: judge each write; pass write-free turns through; cut rejected ops."""

    name = "decision"

    def __init__(self, context: CreditContext) -> None:
        self.context = context

    def judge(
        self, lt: LoadedTrace, decisions: list[WriteDecision]
    ) -> dict[tuple[TurnKey, int], tuple[bool, str]]:
        """``(turn, op index) -> (credited, reason)`` for the decisions judged."""
        raise NotImplementedError

    def select(
        self, traces: Sequence[LoadedTrace], candidates: set[TurnKey] | None = None
    ) -> list[Selection]:
        """Judge every write of the (candidate) memory turns."""
        t0 = time.perf_counter()
        out: list[Selection] = []
        try:
            for lt in traces:
                decisions = [
                    d for d in write_decisions(lt) if candidates is None or d.key in candidates
                ]
                self.context.stats.decisions += len(decisions)
                verdicts = self.judge(lt, decisions) if decisions else {}
                for ok, _ in verdicts.values():
                    if ok:
                        self.context.stats.credited += 1
                    else:
                        self.context.stats.rejected += 1
                by_turn: dict[TurnKey, list[WriteDecision]] = {}
                for d in decisions:
                    by_turn.setdefault(d.key, []).append(d)
                for t in lt.trace.turns:
                    if t.routine not in MEMORY_ROUTINES:
                        continue
                    key = turn_key(lt.url, t)
                    if candidates is not None and key not in candidates:
                        continue
                    writes = by_turn.get(key, [])
                    if not writes:
                        if memory_ops(t) or is_abstention(t):
                            out.append(_selection(lt, t, self.name, ["no write to judge"]))
                        continue
                    write_idx = {d.index for d in writes}
                    kept = [i for i in range(len(t.ops)) if i not in write_idx]
                    reasons: list[str] = []
                    for d in writes:
                        ok, why = verdicts.get((key, d.index), (False, "not judged"))
                        reasons.append(f"{'credited' if ok else 'rejected'} op {d.index}: {why}")
                        if ok:
                            kept.append(d.index)
                    if not any(d.index in kept for d in writes):
                        continue
                    sel = _selection(lt, t, self.name, reasons)
                    out.append(sel.model_copy(update={"ops": sorted(kept)}))
        finally:
            self.context.stats.wall_s += time.perf_counter() - t0
        return sorted(out, key=_sort_key)


class VerifiedSelector(_DecisionSelector):
    """Credit the writes a :class:`WriteVerifier` confirms against the replayed episode.

    Args:
        context: needs ``verifier``.
        unknown: what to do with a write the verifier cannot judge: ``keep`` or ``drop``.
    """

    name = "verified"

    def __init__(self, context: CreditContext, *, unknown: str = "keep") -> None:
        super().__init__(context)
        if context.verifier is None:
            from automem_sdk.trainers.behavioral.errors import BehavioralError

            raise BehavioralError("the 'verified' selector needs CreditContext.verifier")
        self.unknown = unknown

    def describe(self) -> str:
        """``verified(VERIFIER,unknown=...)``."""
        return f"verified({type(self.context.verifier).__name__},unknown={self.unknown})"

    def judge(
        self, lt: LoadedTrace, decisions: list[WriteDecision]
    ) -> dict[tuple[TurnKey, int], tuple[bool, str]]:
        """Check each write; a write that changed nothing is not credited."""
        assert self.context.verifier is not None
        states = self.context.states(lt)
        out: dict[tuple[TurnKey, int], tuple[bool, str]] = {}
        for d in decisions:
            self.context.stats.scored += 1
            if not d.changed:
                out[(d.key, d.index)] = (False, "redundant: the write changed nothing")
                continue
            ok, why = self.context.verifier.check(d, states)
            if ok is None:
                self.context.stats.unknown += 1
                out[(d.key, d.index)] = (self.unknown == "keep", f"unverifiable: {why}")
            else:
                out[(d.key, d.index)] = (ok, why)
        return out


@dataclass(frozen=True)
class BranchOutcome:
    """What one counterfactual branch reached.

    Attributes:
        progression: the best progression reached.
        gained_at: steps into the branch when it first exceeded the start's
            progression (None: never).
        reward: summed reward.
        cells: distinct positions visited (``info`` ``x,y`` or ``pos``).
        steps: env steps played.
    """

    progression: float
    gained_at: int | None
    reward: float
    cells: int
    steps: int


def _position(info: dict[str, Any]) -> tuple[Any, ...] | None:
    if "x" in info and "y" in info:
        return (info.get("dlvl"), info["x"], info["y"])
    if "pos" in info:
        return (info["pos"],)
    return None


class CounterfactualSelector(_DecisionSelector):
    """Credit a write when the episode goes better with it than without it.

    For each write at step ``t`` the env is replayed to ``t`` with the recorded actions,
    the memory is rebuilt twice (all recorded ops up to the decision's turn, with and
    without the write) and each branch continues from the PLAN of step ``t`` under a
    fresh memory policy and a fresh task policy (the context's factories, same seed)
    for ``horizon`` env steps or to the episode's end. The write is credited when
    :meth:`value` of the branch with it exceeds the branch without it by more than
    ``margin``; ties are credited only with ``keep_ties``.

    Args:
        context: needs ``memory_factory``.
        horizon: env steps per branch.
        margin: the smallest value difference that counts.
        keep_ties: credit writes whose removal changes nothing.
        max_decisions: score at most this many decisions per :meth:`select` (the rest
            are not credited); None: all.
    """

    name = "counterfactual"

    def __init__(
        self,
        context: CreditContext,
        *,
        horizon: int = 30,
        margin: float = 1e-9,
        keep_ties: bool = False,
        max_decisions: int | None = None,
    ) -> None:
        super().__init__(context)
        if context.memory_factory is None:
            from automem_sdk.trainers.behavioral.errors import BehavioralError

            raise BehavioralError(
                "the 'counterfactual' selector needs CreditContext.memory_factory"
            )
        self.horizon = horizon
        self.margin = margin
        self.keep_ties = keep_ties
        self.max_decisions = max_decisions
        self._budget_used = 0

    def describe(self) -> str:
        """``counterfactual(horizon=H,keep_ties=...)``."""
        return f"counterfactual(horizon={self.horizon},keep_ties={self.keep_ties})"

    def value(self, outcome: BranchOutcome, start_progression: float) -> float:
        """The branch's worth: progression gained, then speed, then exploration.

        ``progression - start + 0.1 * (1 - gained_at / horizon) + 0.01 * cells / horizon``:
        any progression gain outweighs any speed difference, which outweighs any
        difference in cells explored.
        """
        v = outcome.progression - start_progression
        if outcome.gained_at is not None:
            v += 0.1 * (1.0 - outcome.gained_at / max(self.horizon, 1))
        return v + 0.01 * outcome.cells / max(self.horizon, 1)

    def branch(
        self, lt: LoadedTrace, decision: WriteDecision, *, include: bool
    ) -> tuple[BranchOutcome, float]:
        """Play one branch; returns its outcome and the progression at its start."""
        ctx = self.context
        assert ctx.memory_factory is not None
        env = ctx.env()
        seed = int(lt.trace.header.seed or 0)
        obs, info = env.reset(seed=seed)
        actions = [s.action for s in sorted(lt.trace.steps, key=lambda s: s.step)]
        for a in actions[: decision.step]:
            res = env.step(a)
            obs, info = res.observation, res.info
            ctx.stats.env_steps += 1
        start = float(info.get("progression", 0.0) or 0.0)
        best, gained_at, reward = start, None, 0.0
        cells: set[tuple[Any, ...]] = set()
        steps = 0
        target = (decision.key, decision.index)
        with scratch_store() as store:
            rebuild_store(
                store,
                lt,
                ctx.scaffold,
                until=decision.key,
                skip=None if include else (lambda k, i: (k, i) == target),
            )
            agent = MemoryAgent(
                store,
                ctx.scaffold,
                ctx.memory_factory(store, seed),
                mode="two-model",
                task_decider=ctx.task_factory(seed),
            )
            agent.reset(instruction=env.instruction, actions=env.actions)
            agent.step_index = decision.step
            action = agent.plan(obs, info)
            agent.step_index += 1
            while steps < self.horizon:
                res = env.step(action)
                steps += 1
                ctx.stats.env_steps += 1
                reward += res.reward
                pos = _position(res.info)
                if pos is not None:
                    cells.add(pos)
                prog = float(res.info.get("progression", 0.0) or 0.0)
                if prog > best:
                    best = prog
                    if gained_at is None:
                        gained_at = steps
                if res.terminated or res.truncated:
                    break
                action = agent.step(res.observation, info=res.info)
        return BranchOutcome(best, gained_at, reward, len(cells), steps), start

    def judge(
        self, lt: LoadedTrace, decisions: list[WriteDecision]
    ) -> dict[tuple[TurnKey, int], tuple[bool, str]]:
        """Play both branches of every decision (within the budget)."""
        out: dict[tuple[TurnKey, int], tuple[bool, str]] = {}
        for d in decisions:
            if self.max_decisions is not None and self._budget_used >= self.max_decisions:
                out[(d.key, d.index)] = (False, "over the decision budget")
                continue
            self._budget_used += 1
            with_it, start = self.branch(lt, d, include=True)
            without, _ = self.branch(lt, d, include=False)
            self.context.stats.scored += 1
            diff = self.value(with_it, start) - self.value(without, start)
            why = (
                f"value with {self.value(with_it, start):.4f} vs without "
                f"{self.value(without, start):.4f} over {self.horizon} steps"
            )
            credited = diff > self.margin or (self.keep_ties and abs(diff) <= self.margin)
            out[(d.key, d.index)] = (credited, why)
        return out


def _context_of(turns: Sequence[Any]) -> str:
    """The memory context a two-model agent hands its task policy after PLAN."""
    parts = []
    for t in turns:
        for r in t.results:
            if r.get("ok") and r.get("op") in ("read", "head", "tail", "search", "count", "list"):
                path = r.get("path")
                parts.append(
                    f"[{r.get('op')}{' ' + str(path) if path else ''}]\n{r.get('text', '')}"
                )
    return "\n".join(parts)


def _without(context: str, line: str) -> str:
    """``context`` with every line that shows ``line`` (raw, numbered or as a hit) removed."""
    return "\n".join(ln for ln in context.splitlines() if not ln.rstrip().endswith(line))


class UsageSelector(_DecisionSelector):
    """Credit a write when a later action depended on it.

    A write of line ``L`` at step ``t`` is used at a later step ``s`` when a PLAN read
    at ``s`` returned ``L`` and the task policy (fresh, from the context's
    ``task_factory``), shown this step's memory context with and without ``L``, picks
    different actions. The first ``max_checks`` later reads that show it are tried.

    Args:
        context: the credit context.
        max_checks: later reads examined per write.
    """

    name = "usage"

    def __init__(self, context: CreditContext, *, max_checks: int = 50) -> None:
        super().__init__(context)
        self.max_checks = max_checks

    def describe(self) -> str:
        """``usage(max_checks=N)``."""
        return f"usage(max_checks={self.max_checks})"

    def _act(self, seed: int, state: EnvState, actions: list[str], context: str) -> str:
        policy = self.context.task_factory(seed)
        req = RoutineRequest(
            routine="act",
            step=state.step,
            turn=0,
            messages=[],
            observation=state.observation,
            actions=actions,
            info=state.info,
            memory_context=context,
            allowed_ops=["ACTION"],
        )
        self.context.stats.policy_calls += 1
        return policy.decide(req).text.strip()

    def judge(
        self, lt: LoadedTrace, decisions: list[WriteDecision]
    ) -> dict[tuple[TurnKey, int], tuple[bool, str]]:
        """Look for a later read whose action depended on each write."""
        states = self.context.states(lt)
        actions = list(self.context.env().actions)
        seed = int(lt.trace.header.seed or 0)
        plans: dict[int, list[Any]] = {}
        for t in lt.trace.turns:
            if t.routine == "plan":
                plans.setdefault(t.step, []).append(t)
        out: dict[tuple[TurnKey, int], tuple[bool, str]] = {}
        for d in decisions:
            lines = [ln for ln in d.lines if ln]
            verdict: tuple[bool, str] = (False, "never read back, or no action depended on it")
            checks = 0
            for s in sorted(k for k in plans if k >= d.step):
                if checks >= self.max_checks or s >= len(states):
                    break
                turns = sorted(plans[s], key=lambda t: t.turn)
                if s == d.step and d.routine == "plan":
                    turns = [t for t in turns if t.turn > d.key[3]]
                context = _context_of(turns)
                shown = [ln for ln in lines if re.search(re.escape(ln) + r"\s*$", context, re.M)]
                if not shown:
                    continue
                checks += 1
                stripped = context
                for ln in shown:
                    stripped = _without(stripped, ln)
                a_with = self._act(seed, states[s], actions, context)
                a_without = self._act(seed, states[s], actions, stripped)
                if a_with != a_without:
                    verdict = (True, f"read at step {s}: {a_with} with it, {a_without} without")
                    break
            self.context.stats.scored += 1
            out[(d.key, d.index)] = verdict
        return out


# --------------------------------------------------------------------------- verifiers
_CELL_KEY = re.compile(r"^(?:(\d+):)?(\d+),(\d+)$")
_STAIRS_KEY = re.compile(r"^(?:(\d+):)?stairs$")
_XY = re.compile(r"^\s*(\d+),(\d+)\s*$")
_MAP_LINE = re.compile(r"^((?:\d+:)?(?:\d+,\d+|stairs))\s*:\s*(.*)$")


class NLEMapVerifier:
    """Checks ``map.md`` lines of NetHack/MiniHack against the replayed episode.

    - ``x,y: visited exits=...`` (optionally ``L:x,y``): the player stood on ``(x, y)``
      (on level ``L``) at or before the write, and the exits named (with any
      ``blocked=`` directions) are the passable directions seen from there on the
      latest visit (the 3x3 ``around_kinds`` of the env's info; no diagonal moves
      through doorways).
    - ``stairs: x,y``: a staircase down was on the map at ``(x, y)`` in an observation
      up to the write.

    Writes to other files, and lines of another form, cannot be judged (``None``).

    Args:
        map_file: the map file's name.
    """

    def __init__(self, map_file: str = "map.md") -> None:
        self.map_file = map_file

    def _line(self, line: str, seen: Sequence[EnvState]) -> tuple[bool | None, str]:
        split = _MAP_LINE.match(line.strip())
        if split is None:
            return None, f"not a map line: {line!r}"
        key, value = split.group(1), split.group(2).strip()
        m = _CELL_KEY.match(key)
        if m is not None:
            level = int(m.group(1)) if m.group(1) else None
            cell = (int(m.group(2)), int(m.group(3)))
            visits = [
                s
                for s in seen
                if (int(s.info.get("x", -1)), int(s.info.get("y", -1))) == cell
                and (level is None or int(s.info.get("dlvl", level)) == level)
            ]
            if not visits:
                return False, f"the player never stood on {cell[0]},{cell[1]}"
            words = value.split()
            exits = next((w[6:] for w in words if w.startswith("exits=")), None)
            blocked = next((w[8:] for w in words if w.startswith("blocked=")), "")
            kinds = str(visits[-1].info.get("around_kinds") or "")
            if exits is not None and len(kinds) == 9:
                from automem_sdk.benchmarks.players.nle_explorer import (
                    direction_name,
                    open_directions,
                )

                named = {direction_name(a) for a in (exits + "," + blocked).split(",") if a}
                seen_open = set(open_directions(kinds))
                if named != seen_open:
                    return False, (
                        f"exits of {cell[0]},{cell[1]} were "
                        f"{','.join(sorted(seen_open)) or 'none'}, not {exits or 'none'}"
                    )
            return True, f"the player stood on {cell[0]},{cell[1]}"
        if _STAIRS_KEY.match(key):
            from automem_sdk.benchmarks.players.nle_explorer import stairs_in_view

            mm = _XY.match(value)
            if mm is None:
                return False, f"stairs value {value!r} is not x,y"
            where = (int(mm.group(1)), int(mm.group(2)))
            if any(where in stairs_in_view(s.observation) for s in seen):
                return True, f"stairs seen at {where[0]},{where[1]}"
            return False, f"no stairs were seen at {where[0]},{where[1]}"
        return None, f"not a map line: {line!r}"

    def check(self, decision: WriteDecision, states: Sequence[EnvState]) -> tuple[bool | None, str]:
        """Judge every line the write put into ``map.md``."""
        if decision.path.strip("/") != self.map_file:
            return None, f"{decision.path} is not {self.map_file}"
        seen = states[: decision.step + 1]
        reasons = []
        for line in decision.lines:
            ok, why = self._line(line, seen)
            if ok is False:
                return False, why
            if ok is None:
                return None, why
            reasons.append(why)
        return True, "; ".join(reasons) or "empty"


_KEY_CLAIM = re.compile(r"key at cell (\d+)")


class KeyDoorVerifier:
    """Checks ``key at cell N`` notes of :class:`~.toy.KeyDoorEnv` against the episode.

    A note naming the key's cell is correct when, somewhere in the replayed episode, the
    key was seen lying at cell ``N``; a note without a key claim cannot be judged.
    """

    def check(self, decision: WriteDecision, states: Sequence[EnvState]) -> tuple[bool | None, str]:
        """Judge the key claims in the written text."""
        claims = [int(m.group(1)) for ln in decision.lines for m in _KEY_CLAIM.finditer(ln)]
        if not claims:
            return None, "no key claim"
        truth = {int(s.info["pos"]) for s in states if s.info.get("key_here")}
        if not truth:
            return None, "the key was never seen"
        wrong = [c for c in claims if c not in truth]
        if wrong:
            return False, f"the key was at cell {min(truth)}, not {wrong[0]}"
        return True, f"the key was at cell {claims[0]}"
