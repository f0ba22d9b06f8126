"""Gate rules: accept a candidate only if it beats its parent on the gate seeds.

Scores are paired per (env, seed): both scaffolds play the same worlds. Rules:

- :class:`StrictMean`: the candidate's mean exceeds the parent's by more than
  ``min_delta``.
- :class:`NoRegression`: no seed gets worse, and the mean improves.
- :class:`PairedBootstrap` (the default): resampling the per-seed differences (seeded
  RNG), the lower ``confidence`` bound of the mean difference is above ``min_delta``.
  The resampled means are widened by ``sqrt(n / (n - 1))`` (the percentile bootstrap
  is too narrow on few seeds otherwise).
- :class:`SignTest`: an exact one-sided binomial test on the seeds where the two differ
  (ties dropped): the chance of at least that many wins under "no effect" is at most
  ``1 - confidence``, and the mean improves by more than ``min_delta``.

``strict-mean`` accepts a single-seed flip; on noisy outcomes (any LLM agent) it accepts
a third or more of changes that do nothing. ``bootstrap`` and ``sign-test`` accept such a
change at most at ``1 - confidence`` (measured in ``tests/test_structural_gate.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import mean
from typing import Protocol, runtime_checkable

from automem_sdk.trainers.structural.config import GateRuleName
from pydantic import BaseModel, Field

__all__ = [
    "GateDecision",
    "GateRule",
    "NoRegression",
    "PairedBootstrap",
    "SignTest",
    "StrictMean",
    "make_rule",
    "paired_ci",
]


class GateDecision(BaseModel):
    """The verdict, a one-line reason, and the numbers behind it."""

    accept: bool
    reason: str
    parent_mean: float
    candidate_mean: float
    stats: dict[str, float] = Field(default_factory=dict)


@runtime_checkable
class GateRule(Protocol):
    """Decides from paired per-seed scores (same order, same length)."""

    name: str

    def decide(self, parent: Sequence[float], candidate: Sequence[float]) -> GateDecision:
        """Accept or reject ``candidate`` against ``parent``."""
        ...


def _check(parent: Sequence[float], candidate: Sequence[float]) -> None:
    if len(parent) != len(candidate) or not parent:
        raise ValueError(
            f"gate needs paired non-empty scores, got {len(parent)} and {len(candidate)}"
        )


def _fmt(x: float, sign: str = "") -> str:
    """Three decimals, or three significant digits for a small non-zero value (NetHack's
    progression moves in steps of ~0.015, so ``+0.000`` would hide a real difference)."""
    if x != 0 and abs(x) < 0.01:
        return f"{x:{sign}.3g}"
    return f"{x:{sign}.3f}"


class StrictMean:
    """Accept when ``mean(candidate) > mean(parent) + min_delta``."""

    def __init__(self, min_delta: float = 0.0) -> None:
        self.min_delta = min_delta
        self.name = "strict-mean"

    def decide(self, parent: Sequence[float], candidate: Sequence[float]) -> GateDecision:
        """See class docstring."""
        _check(parent, candidate)
        p, c = mean(parent), mean(candidate)
        margin = f" + {_fmt(self.min_delta)}" if self.min_delta else ""
        if c > p + self.min_delta:
            reason = f"mean {_fmt(c)} > parent {_fmt(p)}{margin}"
            return GateDecision(accept=True, reason=reason, parent_mean=p, candidate_mean=c)
        reason = f"mean {_fmt(c)} <= parent {_fmt(p)}{margin}"
        return GateDecision(accept=False, reason=reason, parent_mean=p, candidate_mean=c)


class NoRegression:
    """Accept when no seed regresses and the mean improves by more than ``min_delta``."""

    def __init__(self, min_delta: float = 0.0) -> None:
        self.min_delta = min_delta
        self.name = "no-regression"

    def decide(self, parent: Sequence[float], candidate: Sequence[float]) -> GateDecision:
        """See class docstring (seeds are reported by position in the gate list)."""
        _check(parent, candidate)
        p, c = mean(parent), mean(candidate)
        worse = [i for i, (a, b) in enumerate(zip(parent, candidate, strict=True)) if b < a]
        stats = {"regressions": float(len(worse))}
        if worse:
            i = worse[0]
            reason = (
                f"{len(worse)} seed(s) regressed (gate seed #{i}: "
                f"{_fmt(parent[i])} -> {_fmt(candidate[i])})"
            )
            return GateDecision(
                accept=False, reason=reason, parent_mean=p, candidate_mean=c, stats=stats
            )
        if c > p + self.min_delta:
            reason = f"no seed regressed and mean {_fmt(c)} > parent {_fmt(p)}"
            return GateDecision(
                accept=True, reason=reason, parent_mean=p, candidate_mean=c, stats=stats
            )
        reason = f"no seed regressed but mean {_fmt(c)} <= parent {_fmt(p)}"
        return GateDecision(
            accept=False, reason=reason, parent_mean=p, candidate_mean=c, stats=stats
        )


class PairedBootstrap:
    """Accept when the bootstrap lower bound of the mean paired difference > ``min_delta``.

    Args:
        confidence: one-sided confidence level (0.9 = the 10th percentile must be > 0).
        samples: number of resamples.
        seed: RNG seed (the same scores always give the same verdict).
        min_delta: the margin the lower bound must exceed.
    """

    def __init__(
        self, confidence: float = 0.9, samples: int = 2000, seed: int = 0, min_delta: float = 0.0
    ) -> None:
        if not 0 < confidence < 1:
            raise ValueError("confidence must be in (0, 1)")
        self.confidence = confidence
        self.samples = samples
        self.seed = seed
        self.min_delta = min_delta
        self.name = "bootstrap"

    def decide(self, parent: Sequence[float], candidate: Sequence[float]) -> GateDecision:
        """See class docstring."""
        _check(parent, candidate)
        p, c = mean(parent), mean(candidate)
        diffs = [b - a for a, b in zip(parent, candidate, strict=True)]
        means = _boot_means(diffs, self.samples, self.seed)
        k = min(len(means) - 1, max(0, int((1 - self.confidence) * len(means))))
        lower = means[k]
        upper = means[len(means) - 1 - k]
        p_better = sum(1 for m in means if m > 0) / len(means)
        stats = {
            "lower_bound": lower,
            "upper_bound": upper,
            "p_better": p_better,
            "mean_diff": c - p,
            "n": float(len(diffs)),
        }
        level = f"{self.confidence:.0%}"
        if lower > self.min_delta:
            reason = (
                f"bootstrap {level} lower bound of mean diff {_fmt(lower, '+')} > {_fmt(self.min_delta)}"
                f" (mean {_fmt(c)} vs parent {_fmt(p)})"
            )
            return GateDecision(
                accept=True, reason=reason, parent_mean=p, candidate_mean=c, stats=stats
            )
        reason = (
            f"bootstrap {level} lower bound of mean diff {_fmt(lower, '+')} <= {_fmt(self.min_delta)}"
            f" (mean {_fmt(c)} vs parent {_fmt(p)})"
        )
        return GateDecision(
            accept=False, reason=reason, parent_mean=p, candidate_mean=c, stats=stats
        )


def _boot_means(diffs: Sequence[float], samples: int, seed: int) -> list[float]:
    """Sorted bootstrap means of ``diffs``, widened by sqrt(n/(n-1)) around their mean."""
    rng = random.Random(seed)
    n = len(diffs)
    centre = sum(diffs) / n
    widen = math.sqrt(n / (n - 1)) if n > 1 else 1.0
    return sorted(
        centre + widen * (sum(rng.choices(diffs, k=n)) / n - centre) for _ in range(samples)
    )


def paired_ci(
    parent: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float = 0.95,
    samples: int = 4000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean paired difference (candidate - parent) and its two-sided bootstrap interval.

    Returns:
        (mean difference, lower bound, upper bound).
    """
    _check(parent, candidate)
    diffs = [b - a for a, b in zip(parent, candidate, strict=True)]
    means = _boot_means(diffs, samples, seed)
    k = min(len(means) - 1, max(0, int((1 - confidence) / 2 * len(means))))
    return sum(diffs) / len(diffs), means[k], means[len(means) - 1 - k]


class SignTest:
    """Accept when an exact one-sided sign test says the candidate wins more seeds.

    Args:
        confidence: 1 - the largest p-value accepted.
        min_delta: the margin the mean difference must exceed as well.
    """

    def __init__(self, confidence: float = 0.9, min_delta: float = 0.0) -> None:
        if not 0 < confidence < 1:
            raise ValueError("confidence must be in (0, 1)")
        self.confidence = confidence
        self.min_delta = min_delta
        self.name = "sign-test"

    def decide(self, parent: Sequence[float], candidate: Sequence[float]) -> GateDecision:
        """See class docstring."""
        _check(parent, candidate)
        p, c = mean(parent), mean(candidate)
        wins = sum(1 for a, b in zip(parent, candidate, strict=True) if b > a)
        losses = sum(1 for a, b in zip(parent, candidate, strict=True) if b < a)
        n = wins + losses
        pvalue = sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n if n else 1.0
        alpha = 1 - self.confidence
        stats = {
            "wins": float(wins),
            "losses": float(losses),
            "p_value": pvalue,
            "mean_diff": c - p,
            "n": float(len(parent)),
        }
        ok = pvalue <= alpha and c - p > self.min_delta
        verdict = "<=" if pvalue <= alpha else ">"
        reason = (
            f"sign test: {wins} win(s), {losses} loss(es), p={pvalue:.3f} {verdict} {alpha:.3f}"
            f" (mean {_fmt(c)} vs parent {_fmt(p)})"
        )
        return GateDecision(accept=ok, reason=reason, parent_mean=p, candidate_mean=c, stats=stats)


def make_rule(
    name: GateRuleName,
    *,
    min_delta: float = 0.0,
    confidence: float = 0.9,
    samples: int = 2000,
    seed: int = 0,
) -> GateRule:
    """Build a gate rule by name (``strict-mean``, ``no-regression``, ``bootstrap``,
    ``sign-test``).

    Raises:
        ValueError: unknown name.
    """
    if name == "strict-mean":
        return StrictMean(min_delta)
    if name == "no-regression":
        return NoRegression(min_delta)
    if name == "bootstrap":
        return PairedBootstrap(confidence, samples, seed, min_delta)
    if name == "sign-test":
        return SignTest(confidence, min_delta)
    raise ValueError(
        f"unknown gate rule {name!r}; use strict-mean, no-regression, bootstrap or sign-test"
    )
