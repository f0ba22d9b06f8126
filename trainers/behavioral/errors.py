"""Errors raised by the behavioral trainer."""

from __future__ import annotations

from automem_sdk.errors import AutomemError

__all__ = ["BehavioralError", "InsufficientDataError"]


class BehavioralError(AutomemError):
    """A behavioral-trainer step cannot run (bad config, unreadable dataset, bad adapter)."""


class InsufficientDataError(BehavioralError):
    """Too few training examples survived selection and postprocessing to train on."""
