"""Paired comparisons for behavioral evaluations: mean difference with a bootstrap CI."""

from __future__ import annotations

import random
from collections.abc import Sequence
from statistics import mean

from pydantic import BaseModel

__all__ = ["PairedDiff", "paired_bootstrap"]


class PairedDiff(BaseModel):
    """``b - a`` over paired episodes (same seeds).

    Attributes:
        n: pairs.
        mean_a: mean of ``a``.
        mean_b: mean of ``b``.
        diff: mean of ``b - a``.
        lo: 2.5th percentile of the bootstrap distribution of the mean difference.
        hi: 97.5th percentile.
        wins: pairs where ``b > a``.
        losses: pairs where ``b < a``.
    """

    n: int
    mean_a: float
    mean_b: float
    diff: float
    lo: float
    hi: float
    wins: int
    losses: int

    def render(self) -> str:
        """``+0.150 [+0.050, +0.250] (n=20, 5 wins / 2 losses)``."""
        return (
            f"{self.diff:+.3f} [{self.lo:+.3f}, {self.hi:+.3f}] "
            f"(n={self.n}, {self.wins} wins / {self.losses} losses)"
        )


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, n_boot: int = 10_000, seed: int = 0
) -> PairedDiff:
    """Mean of ``b - a`` with a 95% percentile bootstrap interval over the pairs.

    Raises:
        ValueError: the sequences differ in length or are empty.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired samples need equal, non-zero lengths ({len(a)} vs {len(b)})")
    d = [float(y) - float(x) for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    n = len(d)
    boots = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    return PairedDiff(
        n=n,
        mean_a=mean(a),
        mean_b=mean(b),
        diff=mean(d),
        lo=boots[int(0.025 * n_boot)],
        hi=boots[int(0.975 * n_boot) - 1],
        wins=sum(1 for x in d if x > 0),
        losses=sum(1 for x in d if x < 0),
    )
