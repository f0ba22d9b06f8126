"""Real traces in seconds: the key-and-door corridor played by its keyless explorer.

:func:`make_toy_traces` plays :class:`~automem_sdk.benchmarks.envs.toy.KeyDoorEnv` with
:class:`~automem_sdk.benchmarks.players.toy.KeyDoorExplorer` through
:func:`automem_sdk.agent.run_episode`, with no game installed and no model, so the
behavioral trainer's tests and measurements have traces whose outcomes depend on memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automem_sdk.benchmarks.envs.toy import KeyDoorEnv
from automem_sdk.benchmarks.players.toy import KeyDoorExplorer

__all__ = ["make_toy_traces"]


def make_toy_traces(
    out_dir: str,
    seeds: Sequence[int],
    *,
    length: int = 8,
    max_steps: int = 20,
    scaffold: str = "generic",
    storage_options: dict[str, Any] | None = None,
) -> list[str]:
    """Play :class:`KeyDoorEnv` with :class:`KeyDoorExplorer` and write one trace per seed.

    Episodes run through :func:`automem_sdk.agent.run_episode` in unified mode, each
    with its own memory store under ``out_dir/memory/``.

    Args:
        out_dir: directory URL; traces go to ``out_dir/traces/seedN.jsonl``.
        seeds: episode seeds.
        length: corridor length.
        max_steps: step cap per episode.
        scaffold: the memory scaffold.
        storage_options: fsspec options.

    Returns:
        The trace URLs, in seed order.
    """
    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.store import MemoryStore

    root = out_dir.rstrip("/")
    urls: list[str] = []
    for seed in seeds:
        store = MemoryStore(f"{root}/memory/seed{seed}", storage_options)
        agent = MemoryAgent(store, scaffold, KeyDoorExplorer(seed))
        url = f"{root}/traces/seed{seed}.jsonl"
        run_episode(
            KeyDoorEnv(length, max_steps),
            agent,
            seed,
            trace=url,
            storage_options=storage_options,
        )
        urls.append(url)
    return urls
