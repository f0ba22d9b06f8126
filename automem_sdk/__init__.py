"""automem: learnable file-based memory for any agent.

``import automem_sdk`` is light: the public names below are loaded on first use, and no
heavy dependency (torch, transformers, games, langchain, anthropic) is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automem_sdk.errors import (
    AutomemError,
    LLMError,
    LLMTimeoutError,
    MemoryConflictError,
    MemoryContentError,
    MemoryLimitError,
    MemoryNotFoundError,
    MemoryPathError,
    ScaffoldError,
    TraceError,
)
from automem_sdk.lazy import lazy_exports

if TYPE_CHECKING:
    from automem_sdk.agent import MemoryAgent, run_episode, wrap
    from automem_sdk.codec import encode_op, encode_ops, parse_ops
    from automem_sdk.diagnostics import Diagnostics, diagnose
    from automem_sdk.env import Decider, RoutineRequest, StepResult, TextEnv
    from automem_sdk.episode_result import EpisodeResult
    from automem_sdk.episodes import EpisodeJob, play_episode
    from automem_sdk.ops import MemoryOp, OpResult, execute_op
    from automem_sdk.scaffold import Scaffold, load_scaffold
    from automem_sdk.store import JournalEntry, MemoryStore, SearchHit, StoreLimits
    from automem_sdk.tools import anthropic_tool_schemas, op_from_tool_call, openai_tool_schemas
    from automem_sdk.trace import Trace, TraceWriter, iter_records, read_trace

from automem_sdk._version import __version__

_LAZY: dict[str, str] = {
    "EpisodeResult": "automem_sdk.episode_result",
    "EpisodeJob": "automem_sdk.episodes",
    "play_episode": "automem_sdk.episodes",
    "MemoryAgent": "automem_sdk.agent",
    "run_episode": "automem_sdk.agent",
    "wrap": "automem_sdk.agent",
    "encode_op": "automem_sdk.codec",
    "encode_ops": "automem_sdk.codec",
    "parse_ops": "automem_sdk.codec",
    "Diagnostics": "automem_sdk.diagnostics",
    "diagnose": "automem_sdk.diagnostics",
    "Decider": "automem_sdk.env",
    "RoutineRequest": "automem_sdk.env",
    "StepResult": "automem_sdk.env",
    "TextEnv": "automem_sdk.env",
    "MemoryOp": "automem_sdk.ops",
    "OpResult": "automem_sdk.ops",
    "execute_op": "automem_sdk.ops",
    "Scaffold": "automem_sdk.scaffold",
    "load_scaffold": "automem_sdk.scaffold",
    "MemoryStore": "automem_sdk.store",
    "StoreLimits": "automem_sdk.store",
    "SearchHit": "automem_sdk.store",
    "JournalEntry": "automem_sdk.store",
    "anthropic_tool_schemas": "automem_sdk.tools",
    "op_from_tool_call": "automem_sdk.tools",
    "openai_tool_schemas": "automem_sdk.tools",
    "Trace": "automem_sdk.trace",
    "TraceWriter": "automem_sdk.trace",
    "iter_records": "automem_sdk.trace",
    "read_trace": "automem_sdk.trace",
}

__all__ = [
    "AutomemError",
    "Decider",
    "Diagnostics",
    "EpisodeJob",
    "EpisodeResult",
    "JournalEntry",
    "LLMError",
    "LLMTimeoutError",
    "MemoryAgent",
    "MemoryConflictError",
    "MemoryContentError",
    "MemoryLimitError",
    "MemoryNotFoundError",
    "MemoryOp",
    "MemoryPathError",
    "MemoryStore",
    "OpResult",
    "RoutineRequest",
    "Scaffold",
    "ScaffoldError",
    "SearchHit",
    "StepResult",
    "StoreLimits",
    "TextEnv",
    "Trace",
    "TraceError",
    "TraceWriter",
    "__version__",
    "anthropic_tool_schemas",
    "diagnose",
    "encode_op",
    "encode_ops",
    "execute_op",
    "iter_records",
    "load_scaffold",
    "op_from_tool_call",
    "openai_tool_schemas",
    "parse_ops",
    "play_episode",
    "read_trace",
    "run_episode",
    "wrap",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
