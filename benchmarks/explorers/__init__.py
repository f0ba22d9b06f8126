"""Scripted, keyless policies that keep their knowledge in the memory store.

They are :class:`~automem_sdk.env.Decider` objects for
:class:`~automem_sdk.agent.MemoryAgent`, so the effect of memory on a benchmark can be
measured offline: the same explorer with the agent's ``memory="off"`` does worse.
"""

from __future__ import annotations

from .nle_explorer import NLEExplorer

__all__ = ["NLEExplorer"]
