"""Retries with exponential backoff and full jitter, honouring ``Retry-After``.

A client wraps one HTTP attempt in a function that either returns a result or raises
:class:`RetryableFailure` (timeouts, connection errors, 429 and 5xx replies) or a
final :class:`~automem_sdk.errors.LLMError` (anything else, e.g. a 400). The policy
sleeps between attempts and, once attempts are spent, raises :class:`LLMStatusError`
or :class:`~automem_sdk.errors.LLMTimeoutError` carrying the last status and an excerpt
of the last response body.

``sleep``, ``rng`` and ``clock`` are injectable so tests never actually sleep: pass a
function that records the delays and assert on them.
"""

from __future__ import annotations

import dataclasses
import email.utils
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from automem_sdk.errors import LLMError, LLMTimeoutError

__all__ = [
    "DEFAULT_RETRY_STATUS",
    "LLMStatusError",
    "RetryPolicy",
    "RetryableFailure",
    "body_excerpt",
    "parse_retry_after",
]

T = TypeVar("T")

DEFAULT_RETRY_STATUS: frozenset[int] = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses retried by default: rate limits and transient server errors."""

_EXCERPT_CHARS = 300


def body_excerpt(body: str | bytes | None, limit: int = _EXCERPT_CHARS) -> str:
    """Return at most ``limit`` characters of a response body, on one line.

    Args:
        body: the raw body (bytes are decoded as UTF-8 with replacement).
        limit: maximum number of characters kept.

    Returns:
        The excerpt, with ``…`` appended when it was cut.
    """
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class LLMStatusError(LLMError):
    """The server answered with an error status (after all retries, if retryable).

    Attributes:
        status: the HTTP status code of the last reply.
        body: an excerpt of the last reply's body.
        attempts: how many attempts were made.
    """

    def __init__(self, message: str, *, status: int, body: str = "", attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.attempts = attempts


class RetryableFailure(Exception):
    """Raised by one attempt to ask the policy for another try.

    Not an :class:`~automem_sdk.errors.AutomemError`: it never escapes
    :meth:`RetryPolicy.call`, which turns the last one into an ``LLMError``.

    Attributes:
        message: what went wrong, for the final error.
        status: the HTTP status, or ``None`` for timeouts and connection errors.
        body: an excerpt of the response body.
        retry_after: the server's ``Retry-After`` in seconds, if it sent one.
        timeout: whether this attempt timed out.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        retry_after: float | None = None,
        timeout: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.timeout = timeout


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: Callable[[], float] = time.time
) -> float | None:
    """Read a ``Retry-After`` (or ``retry-after-ms``) header as seconds from now.

    Args:
        headers: response headers (case-insensitive mappings such as httpx's work as is;
            plain dicts are searched case-insensitively).
        now: the wall clock, used for the HTTP-date form.

    Returns:
        Seconds to wait (never negative), or ``None`` when absent or unparsable.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry failed LLM requests.

    The delay before retry ``n`` (1-based) is ``min(max_delay, base_delay * 2**(n-1))``,
    drawn uniformly from ``[0, that]`` when ``jitter`` is on ("full jitter"). A
    server's ``Retry-After`` replaces the computed delay when it is at most
    ``max_retry_after`` seconds; a longer one falls back to the computed delay.

    Attributes:
        max_attempts: total attempts including the first (1 disables retries).
        base_delay: the first backoff step in seconds.
        max_delay: cap on one computed backoff delay in seconds.
        jitter: use full jitter (recommended with many concurrent clients).
        retry_on_status: HTTP statuses that are retried; any other error status fails
            at once.
        max_retry_after: the longest ``Retry-After`` honoured, in seconds.
        sleep: called with each delay; inject a recorder in tests.
        rng: random source for jitter.
        clock: wall clock for HTTP-date ``Retry-After`` values.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    jitter: bool = True
    retry_on_status: frozenset[int] = DEFAULT_RETRY_STATUS
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be >= 0")
        if not isinstance(self.retry_on_status, frozenset):
            object.__setattr__(
                self, "retry_on_status", frozenset(self._as_ints(self.retry_on_status))
            )

    @staticmethod
    def _as_ints(values: Iterable[Any]) -> Iterable[int]:
        return (int(v) for v in values)

    def replace(self, **changes: Any) -> RetryPolicy:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def is_retryable_status(self, status: int) -> bool:
        """Whether a reply with this HTTP status should be retried."""
        return status in self.retry_on_status

    def backoff(self, retry: int) -> float:
        """The computed delay before retry number ``retry`` (1-based), jitter included."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, retry - 1)))
        return self.rng.uniform(0.0, cap) if self.jitter else cap

    def delay_for(self, retry: int, retry_after: float | None) -> float:
        """The delay before retry ``retry`` given the server's ``Retry-After`` (if any)."""
        if retry_after is not None and 0.0 <= retry_after <= self.max_retry_after:
            return retry_after
        return self.backoff(retry)

    def call(self, attempt: Callable[[int], T], *, what: str = "LLM request") -> tuple[T, int]:
        """Run ``attempt`` until it succeeds or attempts are spent.

        Args:
            attempt: called with the 1-based attempt number; returns the result, raises
                :class:`RetryableFailure` to be retried, or raises a final error.
            what: a short description used in error messages (e.g. ``"POST …/chat"``).

        Returns:
            The result and the number of attempts it took.

        Raises:
            LLMTimeoutError: the last attempt timed out.
            LLMStatusError: the last attempt got a retryable error status.
            LLMError: the last attempt failed to connect.
        """
        last: RetryableFailure | None = None
        for n in range(1, self.max_attempts + 1):
            if last is not None:
                self.sleep(self.delay_for(n - 1, last.retry_after))
            try:
                return attempt(n), n
            except RetryableFailure as failure:
                last = failure
        assert last is not None
        self._raise_final(last, what)

    def _raise_final(self, last: RetryableFailure, what: str) -> NoReturn:
        n = self.max_attempts
        tries = f"after {n} attempt{'s' if n != 1 else ''}"
        if last.timeout:
            raise LLMTimeoutError(f"{what} timed out {tries}: {last.message}")
        if last.status is not None:
            detail = f": {last.body}" if last.body else ""
            raise LLMStatusError(
                f"{what} failed {tries} with HTTP {last.status}{detail}",
                status=last.status,
                body=last.body,
                attempts=n,
            )
        raise LLMError(f"{what} failed {tries}: {last.message}")
