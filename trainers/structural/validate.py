"""Validate a proposed scaffold: schema, templates, op vocabulary and size caps.

:func:`validate_candidate` returns every problem it finds as a sentence a proposer can
act on (an LLM proposer gets them back verbatim and tries again).
"""

from __future__ import annotations

from collections.abc import Sequence

from automem_sdk.errors import AutomemError
from automem_sdk.ops import MEMORY_OP_NAMES
from automem_sdk.scaffold import TEMPLATE_VARIABLES, Scaffold
from automem_sdk.store import StoreLimits
from automem_sdk.store_paths import validate_path

__all__ = ["validate_candidate"]

_SAMPLE = {
    "instruction": "Reach the goal.",
    "actions": "north, south",
    "files": "- notes.md: facts",
    "ops": "<|READ|>path<|END|>",
    "max_log_ops": "4",
    "observation": "You see a wall.",
    "step": "3",
    "memory_index": "notes.md",
    "last_action": "north",
    "feedback": "",
    "pinned": "",
    "memory_context": "(nothing relevant)",
}


def validate_candidate(
    candidate: Scaffold,
    parent: Scaffold | None = None,
    *,
    actions: Sequence[str] | None = None,
    limits: StoreLimits | None = None,
) -> list[str]:
    """Every problem with ``candidate`` (an empty list means it may be evaluated).

    Checks :meth:`Scaffold.validate_scaffold`, that each prompt template renders with
    sample values, that custom ops expand into enabled primitives, that file names are
    valid memory paths, that file caps fit the store's limits, that the fallback action
    exists, that some way to read memory remains, and that the candidate differs in
    behaviour from ``parent``.

    Args:
        candidate: the proposed scaffold.
        parent: the scaffold it should improve on.
        actions: the env's action names (checks ``fallback_action``).
        limits: store limits the caps must fit (defaults to :class:`StoreLimits`).

    Returns:
        Problems, one sentence each.
    """
    problems = list(candidate.validate_scaffold())
    if parent is not None and getattr(parent, "frozen", False):
        problems.append(f"scaffold {parent.id} is frozen: it may not be edited")
    lim = limits or StoreLimits()
    for name in TEMPLATE_VARIABLES:
        try:
            candidate.render(name, **_SAMPLE)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            problems.append(f"prompt '{name}' does not render: {type(exc).__name__}: {exc}")
    total = 0
    for f in candidate.files:
        try:
            validate_path(
                f.name,
                max_path_len=lim.max_path_len,
                max_name_len=lim.max_name_len,
                max_depth=lim.max_depth,
            )
        except AutomemError as exc:
            problems.append(f"file {f.name!r}: {exc}")
        if f.max_bytes > lim.max_file_bytes:
            problems.append(
                f"file {f.name}: max_bytes {f.max_bytes} exceeds the store's per-file limit "
                f"{lim.max_file_bytes}"
            )
        total += f.max_bytes
    if total > lim.max_store_bytes:
        problems.append(
            f"files' max_bytes add up to {total}, over the store limit {lim.max_store_bytes}"
        )
    if len(candidate.files) > lim.max_files:
        problems.append(f"{len(candidate.files)} files declared, over the limit {lim.max_files}")
    if not any(op in candidate.ops for op in ("read", "head", "tail", "search")):
        problems.append(
            "no reading op (read/head/tail/search) is enabled: memory would be write-only"
        )
    unknown = [o for o in candidate.ops if o not in MEMORY_OP_NAMES]
    if unknown:
        problems.append(f"unknown ops {unknown}")
    if (
        actions is not None
        and candidate.fallback_action
        and candidate.fallback_action not in actions
    ):
        problems.append(
            f"fallback_action {candidate.fallback_action!r} is not an action of the env "
            f"({', '.join(actions)})"
        )
    if parent is not None and candidate.id == parent.id:
        problems.append(
            "the proposal does not change anything that affects behaviour (same content id "
            f"{parent.id} as the parent); change prompts, files, ops or limits"
        )
    return problems
