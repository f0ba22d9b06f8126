"""The structural loop's evaluator on the conversational benchmark (no game env).

:class:`ConversationEvaluator` implements the structural trainer's ``Evaluator``
protocol for the "envs" ``conversation/S``, ``conversation/M`` and ``conversation/L``
(``conversation`` alone: ``M``): an episode is the generated dialogue of the seed,
replayed turn by turn through the memory model's LOG routine on the candidate
scaffold, then its questions answered by the unchanged task model from the
``memory_context`` of each question. The episode's score (``progression``, also
``reward``) is the dialogue's accuracy; its trace carries the benchmark's outcomes (a
``passed`` check per question on the step that stated its evidence, the accuracy as
the trace's score), which the structural reflection reads where there is no env
progression.

:func:`evaluator_for` picks it for a run whose envs are all conversation ones; the
``--agent`` of the run is the memory model (``explorer``: the keyless
:class:`~.writer.ScaffoldFactWriter`), ``--task-agent`` the task model (default: the
scripted answerer).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from .dialogue import SIZES, generate
from .run import DEFAULT_CONTEXT_CHARS, Condition, play_dialogue

if TYPE_CHECKING:
    from automem_sdk.trainers.structural.config import AgentConfig, StructuralConfig

    from automem_sdk.episode_result import EpisodeResult
    from automem_sdk.scaffold import Scaffold

__all__ = ["ConversationEvaluator", "evaluator_for", "is_conversation_env", "size_of"]


def is_conversation_env(env: str) -> bool:
    """Whether ``env`` names this benchmark (``conversation`` or ``conversation/<size>``)."""
    name, _, size = env.partition("/")
    return name == "conversation" and (not size or size in SIZES)


def size_of(env: str) -> str:
    """The dialogue size of a conversation env (``M`` when none is named).

    Raises:
        ValueError: not a conversation env.
    """
    if not is_conversation_env(env):
        raise ValueError(f"{env!r} is not conversation or conversation/<{'|'.join(SIZES)}>")
    return env.partition("/")[2] or "M"


class ConversationEvaluator:
    """Plays a scaffold on generated dialogues and scores the answers (module docstring).

    Args:
        writer: the memory model (a :func:`~.run.make_writer` spec: ``follow``,
            ``follow-miss30``, ``facts``, ``hf:BASE,ADAPTER`` or an LLM spec).
        task_model: an LLM client spec for the task model (``None``: the scripted
            :class:`~.players.ContextAnswerer`).
        context_chars: the memory context budget per question.
        storage_options: fsspec options of trace URLs.
    """

    def __init__(
        self,
        writer: str = "follow",
        *,
        task_model: str | None = None,
        context_chars: int = DEFAULT_CONTEXT_CHARS,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.writer = writer
        self.task_model = task_model
        self.context_chars = context_chars
        self.storage_options = storage_options

    @classmethod
    def from_agent(cls, agent: AgentConfig) -> ConversationEvaluator:
        """From a run's agent settings: ``decider`` is the memory model (``explorer``:
        the keyless scaffold-following writer), ``task_decider`` the task model."""
        writer = "follow" if agent.decider == "explorer" else agent.decider
        return cls(writer, task_model=agent.task_decider)

    def fingerprint(self) -> str:
        """A hash of what changes results: memory model, task model, context budget."""
        blob = json.dumps(
            {
                "benchmark": "conversation",
                "writer": self.writer,
                "task": self.task_model or "scripted-answerer",
                "context_chars": self.context_chars,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def evaluate(
        self, scaffold: Scaffold, env: str, seed: int, *, trace: str | None = None
    ) -> EpisodeResult:
        """Play the dialogue of ``seed`` at ``env``'s size with ``scaffold``; log the
        trace (with its outcomes) to ``trace`` if given.

        Raises:
            ValueError: ``env`` is not a conversation env.
        """
        from automem_sdk.diagnostics import diagnose
        from automem_sdk.episode_result import EpisodeResult
        from automem_sdk.episodes import memory_snapshot
        from automem_sdk.llm.base import Usage
        from automem_sdk.trace import read_trace

        dialogue = generate(seed, size_of(env))
        model = None
        if self.task_model:
            from automem_sdk.llm import make_client

            model = make_client(self.task_model)
        t0 = time.perf_counter()
        played = play_dialogue(
            dialogue,
            Condition("automem", "automem", scaffold, self.writer),
            task_model=model,
            context_chars=self.context_chars,
            trace_url=trace,
            storage_options=self.storage_options,
        )
        wall = time.perf_counter() - t0
        results = played.results
        acc = sum(r.correct for r in results) / len(results) if results else 0.0
        diagnostics: dict[str, float] = {}
        n_ops = 0
        if trace is not None:
            tr = read_trace(trace, self.storage_options)
            diagnostics = diagnose(tr).summary()
            n_ops = sum(len(t.ops) for t in tr.turns)
        return EpisodeResult(
            env=env,
            seed=seed,
            scaffold_id=scaffold.id,
            progression=acc,
            total_reward=acc,
            steps=len(dialogue.turns()),
            usage=Usage(prompt_tokens=sum(r.prompt_tokens for r in results)),
            n_ops=n_ops,
            diagnostics=diagnostics,
            wall_s=wall,
            memory=memory_snapshot(played.store) if played.store is not None else None,
        )


def evaluator_for(config: StructuralConfig) -> ConversationEvaluator | None:
    """The evaluator of a structural run whose envs are all conversation envs, else
    ``None`` (the default episode evaluator plays game envs)."""
    if config.envs and all(is_conversation_env(e) for e in config.envs):
        return ConversationEvaluator.from_agent(config.agent)
    return None
