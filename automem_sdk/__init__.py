"""automem: learnable file-based memory for any agent."""

from __future__ import annotations

from automem_sdk.errors import (
    AutomemError,
    LLMError,
    LLMTimeoutError,
    MemoryConflictError,
    MemoryLimitError,
    MemoryNotFoundError,
    MemoryPathError,
    ScaffoldError,
    TraceError,
)

__version__ = "0.1.0"

__all__ = [
    "AutomemError",
    "LLMError",
    "LLMTimeoutError",
    "MemoryConflictError",
    "MemoryLimitError",
    "MemoryNotFoundError",
    "MemoryPathError",
    "ScaffoldError",
    "TraceError",
    "__version__",
]
