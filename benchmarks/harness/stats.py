"""Paired bootstrap confidence intervals for benchmark differences.

A difference between two agents is measured seed by seed (the same world for both), so
its uncertainty comes from resampling seeds: :func:`paired_bootstrap` draws, for every
task, as many seeds as were played, with replacement, from that task's paired
differences, and recomputes the difference at each aggregation level the report shows:

- a task: the mean paired difference over its seeds;
- an env (a BALROG game, e.g. ``minihack``): the mean over all of its pairs, tasks
  pooled (BALROG's env mean is over all of the env's episodes);
- overall: the mean of the env differences.

Resampling is stratified by task (every resample keeps each task's number of seeds),
uses a seeded :class:`random.Random` (the same input always gives the same interval)
and reports the percentile interval. Pure Python: no numpy needed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["DEFAULT_RESAMPLES", "BootstrapResult", "Interval", "paired_bootstrap", "percentile"]

#: Bootstrap resamples per comparison.
DEFAULT_RESAMPLES = 5000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval."""

    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of zero."""
        return self.low > 0 or self.high < 0


@dataclass
class BootstrapResult:
    """Intervals per ``(env, task)``, per env and overall (see the module docstring)."""

    level: float
    resamples: int
    tasks: dict[tuple[str, str], Interval] = field(default_factory=dict)
    envs: dict[str, Interval] = field(default_factory=dict)
    overall: Interval | None = None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted values, linearly interpolated.

    Raises:
        ValueError: no values.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] * (1 - frac) + sorted_values[hi] * frac


def _interval(estimate: float, draws: list[float], level: float) -> Interval:
    draws.sort()
    tail = (1 - level) / 2
    return Interval(estimate, percentile(draws, tail), percentile(draws, 1 - tail))


def paired_bootstrap(
    diffs: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Bootstrap intervals of paired differences at task, env and overall level.

    Args:
        diffs: env -> task -> the per-seed differences (A - B) of that task.
        resamples: bootstrap resamples.
        level: confidence level (0.95: the 2.5 and 97.5 percentiles).
        seed: seed of the resampling generator.

    Returns:
        The point estimates (plain means) and percentile intervals.

    Raises:
        ValueError: ``resamples`` < 1, ``level`` outside (0, 1), or a task without
            differences.
    """
    if resamples < 1:
        raise ValueError("resamples must be >= 1")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    rng = random.Random(seed)
    tasks = [
        (env, task, list(xs)) for env, by_task in diffs.items() for task, xs in by_task.items()
    ]
    for env, task, xs in tasks:
        if not xs:
            raise ValueError(f"no paired differences for {env}/{task}")
    envs = list(diffs)
    env_n = {e: sum(len(xs) for en, _, xs in tasks if en == e) for e in envs}
    task_draws: dict[tuple[str, str], list[float]] = {(e, t): [] for e, t, _ in tasks}
    env_draws: dict[str, list[float]] = {e: [] for e in envs}
    overall_draws: list[float] = []
    choices = rng.choices
    for _ in range(resamples):
        env_sum = dict.fromkeys(envs, 0.0)
        for env, task, xs in tasks:
            s = math.fsum(choices(xs, k=len(xs)))
            task_draws[(env, task)].append(s / len(xs))
            env_sum[env] += s
        env_means = [env_sum[e] / env_n[e] for e in envs]
        for e, m in zip(envs, env_means, strict=True):
            env_draws[e].append(m)
        overall_draws.append(math.fsum(env_means) / len(envs))
    out = BootstrapResult(level=level, resamples=resamples)
    for env, task, xs in tasks:
        est = math.fsum(xs) / len(xs)
        out.tasks[(env, task)] = _interval(est, task_draws[(env, task)], level)
    env_est = {}
    for e in envs:
        pooled = [x for en, _, xs in tasks if en == e for x in xs]
        env_est[e] = math.fsum(pooled) / len(pooled)
        out.envs[e] = _interval(env_est[e], env_draws[e], level)
    if envs:
        est = math.fsum(env_est.values()) / len(envs)
        out.overall = _interval(est, overall_draws, level)
    return out
