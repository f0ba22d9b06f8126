"""Scripted, keyless policies that keep their knowledge in the memory store.

They are :class:`~automem_sdk.env.Decider` objects for
:class:`~automem_sdk.agent.MemoryAgent`, so the effect of memory on a benchmark can be
measured offline: the same explorer with the agent's ``memory="off"`` does worse.
:class:`NLEExplorer` plays NetHack and MiniHack; ``CrafterExplorer`` (loaded on first
use from :mod:`.crafter_memory`) plays Crafter.
"""

from __future__ import annotations

import importlib
from typing import Any

from .nle_explorer import NLEExplorer

__all__ = ["CrafterExplorer", "NLEExplorer"]


def __getattr__(name: str) -> Any:
    if name == "CrafterExplorer":
        return importlib.import_module(f"{__name__}.crafter_memory").CrafterExplorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
