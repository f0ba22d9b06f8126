"""Exception hierarchy for automem.

Errors an *agent* causes (a missing file, a bad argument, a path escape inside an op)
are turned into error :class:`~automem_sdk.ops.OpResult` objects the agent sees. The
exceptions below are what the Python API raises to *code*.
"""

from __future__ import annotations

__all__ = [
    "AutomemError",
    "LLMError",
    "LLMTimeoutError",
    "MemoryConflictError",
    "MemoryContentError",
    "MemoryLimitError",
    "MemoryNotFoundError",
    "MemoryPathError",
    "MemoryReadOnlyError",
    "MissingExtraError",
    "ScaffoldError",
    "TraceError",
]


class AutomemError(Exception):
    """Base class of every error raised by automem."""


class MemoryPathError(AutomemError, ValueError):
    """A path is outside the store root or is not a valid memory path."""


class MemoryLimitError(AutomemError):
    """A write would exceed a per-file, per-store or file-count limit."""


class MemoryNotFoundError(AutomemError, FileNotFoundError):
    """A memory file (or journal version) does not exist."""


class MemoryConflictError(AutomemError):
    """A create/rename target already exists, or the store changed underneath an operation.

    Attributes:
        path: the file the conflict is about, when there is one.
        current_sha256: for a failed ``if_match`` precondition, the sha256 of the file's
            current content (``None`` when it does not exist); read it again and retry.
    """

    def __init__(
        self, message: str, *, path: str | None = None, current_sha256: str | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.current_sha256 = current_sha256


class MemoryReadOnlyError(AutomemError):
    """A mutation was attempted on a store opened read-only (or on a read-only volume)."""


class MemoryContentError(AutomemError, ValueError):
    """Content that cannot be stored as UTF-8 text (e.g. lone surrogates)."""


class ScaffoldError(AutomemError, ValueError):
    """A scaffold is invalid (schema, templates, op vocabulary or limits)."""


class TraceError(AutomemError):
    """A trace file is malformed or written by an unsupported schema version."""


class LLMError(AutomemError):
    """An LLM request failed after all retries, or the reply could not be understood."""


class LLMTimeoutError(LLMError, TimeoutError):
    """An LLM request timed out after all retries."""


class MissingExtraError(AutomemError, ImportError):
    """An optional dependency is not installed (the message names the extra)."""
