"""RetryPolicy: backoff, full jitter, Retry-After parsing, final errors (never sleeps)."""

from __future__ import annotations

import email.utils
import random

import pytest

from automem_sdk.errors import LLMError, LLMTimeoutError
from automem_sdk.llm.retry import (
    LLMStatusError,
    RetryableFailure,
    RetryPolicy,
    body_excerpt,
    parse_retry_after,
)


class FixedRandom(random.Random):
    """``uniform(a, b)`` returns the point at ``fraction`` of the interval."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return a + (b - a) * self.fraction


def test_backoff_without_jitter_doubles_and_caps() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=False)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_full_jitter_draws_from_zero_to_the_capped_backoff() -> None:
    rng = FixedRandom(0.25)
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=True, rng=rng)
    delays = [policy.backoff(n) for n in range(1, 5)]
    assert rng.bounds == [(0.0, 1.0), (0.0, 2.0), (0.0, 4.0), (0.0, 5.0)]
    assert delays == [0.25, 0.5, 1.0, 1.25]


def test_jitter_stays_in_range_with_a_real_rng() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=1.0, rng=random.Random(7))
    for n in range(1, 10):
        d = policy.backoff(n)
        assert 0.0 <= d <= min(1.0, 0.2 * 2 ** (n - 1))


def test_retry_after_seconds_and_ms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": "-3"}) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after(None) is None


def test_retry_after_http_date_uses_the_clock() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 12, usegmt=True)
    assert parse_retry_after({"Retry-After": header}, now=lambda: now) == pytest.approx(12.0)
    past = email.utils.formatdate(now - 100, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=lambda: now) == 0.0


def test_retry_after_replaces_backoff_unless_too_long() -> None:
    policy = RetryPolicy(base_delay=1.0, jitter=False, max_retry_after=30.0)
    assert policy.delay_for(1, 4.0) == 4.0
    assert policy.delay_for(3, None) == 4.0
    assert policy.delay_for(2, 600.0) == 2.0  # absurd Retry-After -> computed backoff


def test_call_retries_then_succeeds_and_reports_attempts() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, jitter=False, sleep=slept.append)
    outcomes: list[RetryableFailure | str] = [
        RetryableFailure("HTTP 503", status=503),
        RetryableFailure("HTTP 429", status=429, retry_after=3.0),
        "ok",
    ]
    seen: list[int] = []

    def attempt(n: int) -> str:
        seen.append(n)
        item = outcomes[n - 1]
        if isinstance(item, Exception):
            raise item
        return item

    assert policy.call(attempt) == ("ok", 3)
    assert seen == [1, 2, 3]
    assert slept == [1.0, 3.0]


def test_final_status_error_carries_status_and_body() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=3, base_delay=0.1, jitter=False, sleep=slept.append)

    def attempt(n: int) -> str:
        raise RetryableFailure("HTTP 502", status=502, body=f"bad gateway #{n}")

    with pytest.raises(LLMStatusError) as info:
        policy.call(attempt, what="POST /x")
    assert info.value.status == 502
    assert info.value.attempts == 3
    assert "bad gateway #3" in str(info.value)
    assert "POST /x" in str(info.value)
    assert slept == [0.1, 0.2]


def test_final_timeout_raises_llm_timeout_error() -> None:
    policy = RetryPolicy(max_attempts=2, sleep=lambda _s: None)

    def attempt(n: int) -> str:
        raise RetryableFailure("ReadTimeout", timeout=True)

    with pytest.raises(LLMTimeoutError, match="after 2 attempts"):
        policy.call(attempt)


def test_connection_failure_raises_llm_error() -> None:
    policy = RetryPolicy(max_attempts=1, sleep=lambda _s: pytest.fail("must not sleep"))

    def attempt(n: int) -> str:
        raise RetryableFailure("ConnectError: refused")

    with pytest.raises(LLMError, match="refused") as info:
        policy.call(attempt)
    assert not isinstance(info.value, LLMTimeoutError)


def test_fatal_errors_pass_through_without_retry() -> None:
    calls: list[int] = []
    policy = RetryPolicy(max_attempts=5, sleep=lambda _s: pytest.fail("must not sleep"))

    def attempt(n: int) -> str:
        calls.append(n)
        raise LLMStatusError("bad request", status=400)

    with pytest.raises(LLMStatusError):
        policy.call(attempt)
    assert calls == [1]


def test_policy_validation_and_replace() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    p = RetryPolicy(retry_on_status={418})  # type: ignore[arg-type]
    assert p.is_retryable_status(418) and not p.is_retryable_status(429)
    assert p.replace(max_attempts=9).max_attempts == 9


def test_body_excerpt_is_one_line_and_bounded() -> None:
    assert body_excerpt(b"a\n  b") == "a b"
    long = body_excerpt("x" * 1000, limit=10)
    assert long == "x" * 10 + "…"
    assert body_excerpt(None) == ""
