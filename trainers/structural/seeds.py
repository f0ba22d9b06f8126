"""Seed lists: parsing ``"0-9,20,30-32"`` and keeping reflection and gate seeds apart."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from automem_sdk.trainers.structural.errors import SeedOverlapError

__all__ = ["check_disjoint", "format_seeds", "parse_seeds"]


def parse_seeds(spec: str | int | Iterable[int]) -> list[int]:
    """Parse a seed list: ``"0-9"``, ``"1,2,5"``, ``"0-3,10-12"``, an int or an iterable.

    Order is kept and duplicates are dropped.

    Raises:
        ValueError: the text is not a seed list, or a range runs backwards.
    """
    if isinstance(spec, int):
        return [spec]
    if not isinstance(spec, str):
        return list(dict.fromkeys(int(s) for s in spec))
    out: list[int] = []
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if sep and lo:
            try:
                a, b = int(lo), int(hi)
            except ValueError:
                raise ValueError(f"bad seed range {part!r} in {spec!r}") from None
            if b < a:
                raise ValueError(f"seed range {part!r} runs backwards")
            out.extend(range(a, b + 1))
        else:
            try:
                out.append(int(part))
            except ValueError:
                raise ValueError(f"bad seed {part!r} in {spec!r}") from None
    if not out:
        raise ValueError(f"no seeds in {spec!r}")
    return list(dict.fromkeys(out))


def format_seeds(seeds: Sequence[int]) -> str:
    """Compact form of a seed list (``[0,1,2,5]`` -> ``"0-2,5"``)."""
    parts: list[str] = []
    run: list[int] = []
    for s in seeds:
        if run and s == run[-1] + 1:
            run.append(s)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [s]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def check_disjoint(
    reflection: Iterable[int], gate: Iterable[int], *, allow_overlap: bool = False
) -> list[int]:
    """Refuse gate seeds the proposer has seen.

    Args:
        reflection: seeds whose trajectories the proposer reads.
        gate: seeds candidates are judged on.
        allow_overlap: accept an overlap (returned) instead of raising.

    Returns:
        The overlapping seeds, sorted (empty when disjoint).

    Raises:
        SeedOverlapError: the sets overlap and ``allow_overlap`` is false.
    """
    overlap = sorted(set(reflection) & set(gate))
    if overlap and not allow_overlap:
        raise SeedOverlapError(
            f"reflection and gate seeds overlap on {format_seeds(overlap)} "
            f"({len(overlap)} seed(s)): the gate must judge candidates on seeds the proposer "
            "did not see. Choose disjoint --reflection-seeds and --gate-seeds (or traces "
            "from other seeds), or pass --allow-seed-overlap to accept an in-sample gate."
        )
    return overlap
