"""Replay sets: recorded conversations as an offline evaluation set and gate.

A **replay set** is a JSONL file (any fsspec URL) of :class:`ReplayEpisode` records, one
per line: the user turns of one user's conversations, in order, with the tool results
and replies the agent gave when they were logged, and which turns are scored (with an
``expected`` answer for an exact check). Build one from the conversational benchmark
(:func:`replay_set_from_dialogues`), from adapter traces
(:func:`replay_set_from_traces`: the LangChain wrapper's and middleware's LOG
observations ``User: ...`` / ``Assistant: ...``, grouped by conversation id), or write
it from your own logs.

**Replaying** (:func:`replay`) a set with a :class:`Candidate` (a scaffold and a memory
model) runs each episode on a fresh memory store, turn by turn, exactly as the adapters
run in production: the memory context for the turn
(:func:`~automem_sdk.adapters.context.memory_context`) and the conversation's earlier
turns go to the user's **unchanged task model** (any ``LLMClient``; scripted in tests),
its reply is scored when the turn is scored, then the candidate's LOG routine runs on
the exchange. A check is ``"exact"`` (the reply equals ``expected`` after
normalising), ``"judge:<model spec>"`` (an LLM judge, prompt in
``data/replay_judge.yaml``), or any callable ``(turn, reply) -> float`` in [0, 1].
Every model call's tokens are counted; a :class:`Budget` stops a replay as soon as it
is over (after the turn that crossed it), and the result says so.

**Gating** (:func:`gate`) replays the same set with a candidate and with the incumbent,
pairs the episode scores, and accepts only a paired improvement (``rule="mean"``: the
mean difference > ``min_delta``; ``rule="bootstrap"``: the 95% paired bootstrap interval
lies above zero). A replay stopped by its budget is never accepted.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from automem_sdk.errors import AutomemError
from automem_sdk.llm.base import LLMClient, Message
from automem_sdk.versioned import load_versioned

if TYPE_CHECKING:
    from automem_sdk.benchmarks.conversation.dialogue import Dialogue

    from automem_sdk.env import Decider
    from automem_sdk.scaffold import Scaffold

__all__ = [
    "REPLAY_SCHEMA_VERSION",
    "Budget",
    "Candidate",
    "Cost",
    "GateResult",
    "ReplayEpisode",
    "ReplayError",
    "ReplayResult",
    "ReplayTurn",
    "gate",
    "make_check",
    "read_replay_set",
    "replay",
    "replay_set_from_dialogues",
    "replay_set_from_traces",
    "write_replay_set",
]

REPLAY_SCHEMA_VERSION = 1


class ReplayError(AutomemError):
    """A replay set that cannot be read, or a check that cannot be built."""


class ReplayTurn(BaseModel):
    """One user turn of a recorded conversation.

    Attributes:
        conversation_id: the conversation (thread) it belongs to; earlier turns of the
            same conversation are in the task model's context, other conversations are
            reachable only through memory.
        user: what the user said.
        tool_results: tool outputs the agent saw with this turn (shown after the user
            text).
        recorded_reply: the reply the agent gave when the turn was logged.
        scored: whether the replayed reply is scored.
        expected: the answer an exact check compares with.
    """

    conversation_id: str = ""
    user: str
    tool_results: list[str] = Field(default_factory=list)
    recorded_reply: str = ""
    scored: bool = False
    expected: str | None = None


class ReplayEpisode(BaseModel):
    """One user's recorded conversations, in order: one line of a replay set."""

    schema_version: int = REPLAY_SCHEMA_VERSION
    kind: Literal["replay_episode"] = "replay_episode"
    episode_id: str
    turns: list[ReplayTurn]
    recorded_outcome: float | None = None
    source: str = ""


def write_replay_set(
    url: str, episodes: Iterable[ReplayEpisode], storage_options: Mapping[str, Any] | None = None
) -> int:
    """Write episodes as JSONL to ``url``; return how many."""
    import fsspec

    n = 0
    with fsspec.open(url, "w", encoding="utf-8", **dict(storage_options or {})) as f:
        for ep in episodes:
            f.write(ep.model_dump_json() + "\n")
            n += 1
    return n


def read_replay_set(
    url: str, storage_options: Mapping[str, Any] | None = None
) -> list[ReplayEpisode]:
    """Read a replay set.

    Raises:
        ReplayError: a line is not an episode, or is newer than this SDK reads.
        FileNotFoundError: no such file.
    """

    import fsspec

    out = []
    with fsspec.open(url, "r", encoding="utf-8", **dict(storage_options or {})) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            obj = load_versioned(
                line, f"{url}:{i}", kind="replay", supported=REPLAY_SCHEMA_VERSION,
                error=ReplayError,
            )  # fmt: skip
            try:
                out.append(ReplayEpisode.model_validate(obj))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first.get("loc", ()))
                raise ReplayError(
                    f"{url}:{i}: not a replay episode ({where}: {first['msg']}); each line "
                    "needs episode_id and turns (each with user)"
                ) from None
    return out


def replay_set_from_dialogues(dialogues: Iterable[Dialogue]) -> list[ReplayEpisode]:
    """The conversational benchmark's dialogues as a replay set: every session a
    conversation, then one ``questions`` conversation whose turns are scored."""
    eps = []
    for d in dialogues:
        turns = [ReplayTurn(conversation_id=f"s{s}", user=t) for s, t in d.turns()]
        turns += [
            ReplayTurn(conversation_id="questions", user=q.text, scored=True, expected=q.answer)
            for q in d.questions
        ]
        eps.append(ReplayEpisode(episode_id=f"{d.size}-{d.seed}", turns=turns))
    return eps


_EXCHANGE = re.compile(r"User: (?P<user>.*?)\nAssistant: (?P<reply>.*?)(?:\n\n|\Z)", re.DOTALL)


def replay_set_from_traces(
    urls: Sequence[str],
    storage_options: Mapping[str, Any] | None = None,
    *,
    score: Literal["last", "all", "none"] = "last",
) -> list[ReplayEpisode]:
    """Replay episodes from adapter traces: one episode per trace, one turn per logged
    exchange (the LOG observation ``User: ...`` / ``Assistant: ...``), each with the
    conversation id its step recorded, and the trace's outcome value as
    ``recorded_outcome``.

    Args:
        urls: trace URLs (the LangChain wrapper's or middleware's).
        storage_options: fsspec options.
        score: which turns are scored: the last turn of each conversation, all, none.
            Scored turns have no ``expected``: score them with a judge or your check.

    Raises:
        ReplayError: a trace has no exchange to replay.
    """
    from automem_sdk.outcomes import conversations, load_outcomes

    eps = []
    for url in urls:
        to = load_outcomes(url, storage_options)
        of_step = {s: c for c, ss in conversations(to.trace).items() for s in ss}
        turns: list[ReplayTurn] = []
        seen: set[int] = set()
        for t in to.trace.turns:
            if t.routine != "log" or t.step in seen or not t.messages:
                continue
            m = _EXCHANGE.search(t.messages[-1].content)
            if m is None:
                continue
            seen.add(t.step)
            turns.append(
                ReplayTurn(
                    conversation_id=of_step.get(t.step, ""),
                    user=m.group("user").strip(),
                    recorded_reply=m.group("reply").strip(),
                    scored=score == "all",
                )
            )
        if not turns:
            raise ReplayError(
                f"{url}: no exchange to replay (replay sets come from the LangChain wrapper's "
                "or middleware's traces, whose LOG observations are 'User: ... Assistant: ...')"
            )
        if score == "last":
            last: dict[str, int] = {}
            for i, tr in enumerate(turns):
                last[tr.conversation_id] = i
            for i in last.values():
                turns[i].scored = True
        eps.append(
            ReplayEpisode(
                episode_id=to.trace.header.run_id,
                turns=turns,
                recorded_outcome=to.episode_value(),
                source=url,
            )
        )
    return eps


# ------------------------------------------------------------------ checks
Check = Callable[[ReplayTurn, str], float]


@cache
def _judge_prompt() -> dict[str, str]:
    import yaml

    text = resources.files("automem_sdk.benchmarks.data").joinpath("replay_judge.yaml")
    data = yaml.safe_load(text.read_text("utf-8"))
    return {"system": str(data["system"]), "user": str(data["user"])}


@dataclass
class Cost:
    """Tokens and calls spent by a replay (task model, memory model, judge)."""

    task_tokens: int = 0
    memory_tokens: int = 0
    judge_tokens: int = 0
    calls: int = 0

    @property
    def tokens(self) -> int:
        """All tokens."""
        return self.task_tokens + self.memory_tokens + self.judge_tokens

    def add(self, other: Cost) -> None:
        """Add another cost to this one."""
        self.task_tokens += other.task_tokens
        self.memory_tokens += other.memory_tokens
        self.judge_tokens += other.judge_tokens
        self.calls += other.calls


class _JudgeCheck:
    def __init__(self, client: LLMClient, cost: Cost) -> None:
        self.client = client
        self.cost = cost

    def __call__(self, turn: ReplayTurn, reply: str) -> float:
        p = _judge_prompt()
        c = self.client.chat(
            [
                Message(role="system", content=p["system"]),
                Message(
                    role="user",
                    content=p["user"].format(
                        user=turn.user,
                        reply=reply,
                        expected=turn.expected or "",
                        recorded=turn.recorded_reply,
                    ),
                ),
            ]
        )
        self.cost.judge_tokens += c.usage.prompt_tokens + c.usage.completion_tokens
        self.cost.calls += 1
        m = re.search(r"\d+(?:\.\d+)?", c.text)
        return min(10.0, float(m.group())) / 10 if m else 0.0


def _exact(turn: ReplayTurn, reply: str) -> float:
    from automem_sdk.benchmarks.conversation.dialogue import normalize

    if turn.expected is None:
        raise ReplayError(
            "an exact check needs 'expected' on every scored turn; use check='judge:<model>' "
            "or a callable for turns without one"
        )
    return float(normalize(reply) == normalize(turn.expected))


def make_check(
    spec: str | Check, cost: Cost | None = None, *, judge_client: LLMClient | None = None
) -> Check:
    """A check from ``"exact"``, ``"judge:<model spec>"`` or a callable.

    Args:
        spec: the check.
        cost: where a judge's tokens are counted.
        judge_client: the judge model (instead of building one from the spec).

    Raises:
        ReplayError: an unknown check name.
    """
    if callable(spec):
        return spec
    if spec == "exact":
        return _exact
    if spec.startswith("judge:"):
        if judge_client is None:
            from automem_sdk.llm import make_client

            judge_client = make_client(spec[len("judge:") :])
        return _JudgeCheck(judge_client, cost if cost is not None else Cost())
    raise ReplayError(f"unknown check {spec!r}: use 'exact', 'judge:<model spec>' or a callable")


# ------------------------------------------------------------------ replay
@dataclass
class Budget:
    """Limits of one replay (``None``: no limit)."""

    max_tokens: int | None = None
    max_calls: int | None = None

    def exceeded(self, cost: Cost) -> bool:
        """Whether ``cost`` is over a limit."""
        return (self.max_tokens is not None and cost.tokens > self.max_tokens) or (
            self.max_calls is not None and cost.calls > self.max_calls
        )


@dataclass
class Candidate:
    """What a gate compares: a scaffold and a memory model (``None``: no memory).

    Attributes:
        name: a label for reports.
        scaffold: the memory scaffolding (name or object).
        memory_model: the LOG routine's model (a ``Decider`` or ``LLMClient``); ``None``
            replays without memory (the task model sees only its conversation).
        context_chars: the memory context budget (the wrapper's default 4000).
    """

    name: str
    scaffold: Scaffold | str = "generic"
    memory_model: Decider | LLMClient | None = None
    context_chars: int = 4_000


@dataclass
class ReplayResult:
    """Scores of one candidate on a replay set."""

    candidate: str
    scores: dict[str, float] = field(default_factory=dict)
    cost: Cost = field(default_factory=Cost)
    complete: bool = True
    stopped: str = ""

    @property
    def mean(self) -> float:
        """Mean episode score (NaN without any)."""
        xs = list(self.scores.values())
        return math.fsum(xs) / len(xs) if xs else float("nan")


class _BudgetStop(Exception):
    pass


def _play(
    ep: ReplayEpisode,
    cand: Candidate,
    task_model: LLMClient,
    check: Check,
    cost: Cost,
    budget: Budget,
) -> float:
    from automem_sdk.adapters.context import memory_context, prompt

    from automem_sdk.agent import MemoryAgent
    from automem_sdk.scaffold import load_scaffold
    from automem_sdk.store import MemoryStore

    scaffold = load_scaffold(cand.scaffold) if isinstance(cand.scaffold, str) else cand.scaffold
    agent = None
    store = None
    if cand.memory_model is not None:
        store = MemoryStore(f"memory://automem-replay-{uuid.uuid4().hex}")
        agent = MemoryAgent(
            store, scaffold, cand.memory_model, mode="observe", task_decider=_Quiet()
        )
        agent.reset()
    threads: dict[str, list[Message]] = {}
    scores: list[float] = []
    try:
        for turn in ep.turns:
            thread = threads.setdefault(turn.conversation_id, [])
            text = turn.user + "".join(f"\nTool result: {r}" for r in turn.tool_results)
            msgs = list(thread)
            if store is not None:
                ctx = memory_context(store, scaffold, query=turn.user, max_chars=cand.context_chars)
                msgs.insert(0, Message(role="system", content=ctx))
            msgs.append(Message(role="user", content=text))
            c = task_model.chat(msgs)
            cost.task_tokens += c.usage.prompt_tokens + c.usage.completion_tokens
            cost.calls += 1
            reply = c.text.strip()
            if turn.scored:
                scores.append(float(check(turn, reply)))
            thread += [Message(role="user", content=text), Message(role="assistant", content=reply)]
            if agent is not None:
                before = agent.usage.prompt_tokens + agent.usage.completion_tokens
                agent.log(prompt("log_observation", request=text, response=reply), {})
                agent.step_index += 1
                cost.memory_tokens += (
                    agent.usage.prompt_tokens + agent.usage.completion_tokens - before
                )
                cost.calls += 1
            if budget.exceeded(cost):
                raise _BudgetStop(
                    f"budget exceeded in episode {ep.episode_id} ({cost.tokens} tokens, "
                    f"{cost.calls} calls)"
                )
    finally:
        if store is not None:
            _drop(store)
    return math.fsum(scores) / len(scores) if scores else float("nan")


def _drop(store: Any) -> None:
    """Close a replay's scratch store and free its in-memory files."""
    import contextlib

    import fsspec

    with contextlib.suppress(Exception):
        store.close()
    with contextlib.suppress(Exception):
        fsspec.filesystem("memory").rm(str(store.url)[len("memory://") :], recursive=True)


class _Quiet:
    name = "none"

    def decide(self, request: Any) -> Any:
        from automem_sdk.llm.base import Completion

        return Completion(text="", model=self.name)


def replay(
    episodes: Sequence[ReplayEpisode],
    candidate: Candidate,
    task_model: LLMClient | Callable[[], LLMClient],
    *,
    check: str | Check = "exact",
    budget: Budget | None = None,
    judge_client: LLMClient | None = None,
) -> ReplayResult:
    """Replay every episode with ``candidate`` and the user's unchanged task model.

    Args:
        episodes: the replay set.
        candidate: scaffold and memory model.
        task_model: the task model, or a factory called once per episode.
        check: ``"exact"``, ``"judge:<model spec>"`` or a callable.
        budget: stop (``complete=False``) once the cost is over it.
        judge_client: the judge model for ``judge:`` (instead of building one).

    Returns:
        Episode scores (mean over the scored turns), the cost, and whether it finished.
    """
    res = ReplayResult(candidate=candidate.name)
    chk = make_check(check, res.cost, judge_client=judge_client)
    limits = budget or Budget()
    for ep in episodes:
        model: LLMClient = task_model if isinstance(task_model, LLMClient) else task_model()
        try:
            res.scores[ep.episode_id] = _play(ep, candidate, model, chk, res.cost, limits)
        except _BudgetStop as stop:
            res.complete, res.stopped = False, str(stop)
            break
    return res


@dataclass
class GateResult:
    """A gate's decision with its evidence."""

    accepted: bool
    reason: str
    candidate: ReplayResult
    incumbent: ReplayResult
    mean_diff: float
    low: float
    high: float
    n: int


def gate(
    episodes: Sequence[ReplayEpisode],
    candidate: Candidate,
    incumbent: Candidate,
    task_model: LLMClient | Callable[[], LLMClient],
    *,
    check: str | Check = "exact",
    rule: Literal["mean", "bootstrap"] = "bootstrap",
    min_delta: float = 0.0,
    budget: Budget | None = None,
    judge_client: LLMClient | None = None,
    resamples: int = 2000,
) -> GateResult:
    """Replay the set with both, pair by episode, accept only a paired improvement.

    ``budget`` applies to each replay. A replay stopped by its budget is rejected.
    """
    from .stats import paired_bootstrap

    kw: dict[str, Any] = {"check": check, "budget": budget, "judge_client": judge_client}
    inc = replay(episodes, incumbent, task_model, **kw)
    cand = replay(episodes, candidate, task_model, **kw)
    pairs = [
        (cand.scores[k], inc.scores[k])
        for k in inc.scores
        if k in cand.scores and not math.isnan(cand.scores[k]) and not math.isnan(inc.scores[k])
    ]
    diffs = [a - b for a, b in pairs]
    mean = math.fsum(diffs) / len(diffs) if diffs else float("nan")
    lo = hi = mean
    if diffs:
        boot = paired_bootstrap({"replay": {"all": diffs}}, resamples=resamples)
        iv = boot.tasks[("replay", "all")]
        lo, hi = iv.low, iv.high
    if not inc.complete or not cand.complete:
        accepted, why = False, f"rejected: {cand.stopped or inc.stopped}"
    elif not diffs:
        accepted, why = False, "rejected: no scored episode to compare"
    elif rule == "mean":
        accepted = mean > min_delta
        why = f"mean paired difference {mean:+.3f} {'>' if accepted else '<='} {min_delta}"
    else:
        accepted = lo > min_delta
        why = f"95% paired bootstrap CI [{lo:+.3f}, {hi:+.3f}] {'above' if accepted else 'not above'} {min_delta}"
    return GateResult(
        accepted=accepted,
        reason=why + f" (n={len(diffs)} episodes)",
        candidate=cand,
        incumbent=inc,
        mean_diff=mean,
        low=lo,
        high=hi,
        n=len(diffs),
    )
