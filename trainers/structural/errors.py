"""Errors the structural trainer raises to code."""

from __future__ import annotations

from automem_sdk.errors import AutomemError

__all__ = [
    "ProposalError",
    "RunDirError",
    "SeedOverlapError",
    "StructuralError",
]


class StructuralError(AutomemError):
    """Base class of the structural trainer's errors."""


class SeedOverlapError(StructuralError, ValueError):
    """Reflection and gate seeds overlap (the gate would not measure unseen seeds)."""


class ProposalError(StructuralError):
    """A proposer could not produce a valid scaffold within its retry limit."""


class RunDirError(StructuralError):
    """A run directory is missing, belongs to another kind of run, or conflicts with options."""
