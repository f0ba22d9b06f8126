"""Shared-store sections of ``python -m automem_sdk.perf``: concurrency and S3 requests.

* **concurrency**: 4 threads upserting distinct keys into one file, through one store
  object and through one store object each, on ``memory://``, ``file://`` (and
  ``s3://``): keys kept out of keys written (must be all), commits per second, and how
  many commits lost a race and were retried.
* **s3**: for each kind of mutation, the S3 requests it sends (counted with a botocore
  event hook on the s3fs client) and its median time as a ratio to a raw s3fs PUT of the
  same bytes, measured side by side in one run; batches of 20 are amortised per op.

Nothing here asserts a speed; the figures are for the README and the team's notes.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from automem_sdk.ops import UpsertOp, execute_op
from automem_sdk.store import MemoryStore, StoreLimits

__all__ = ["concurrency_bench", "s3_request_bench"]

_LIMITS = StoreLimits(max_files=100_000, max_store_bytes=1 << 30)


def concurrency_bench(
    url: str, options: dict[str, Any] | None, *, threads: int = 4, per_thread: int = 100,
    separate: bool,
) -> dict[str, float | int]:  # fmt: skip
    """Upsert ``threads x per_thread`` distinct keys into one file concurrently.

    Returns:
        ``keys_written``, ``keys_kept``, ``seconds``, ``commits_per_s`` and ``retries``.
    """
    first = MemoryStore(url, options, limits=_LIMITS)
    stores = (
        [MemoryStore(url, options, limits=_LIMITS) for _ in range(threads)]
        if separate
        else [first] * threads
    )
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            for k in range(per_thread):
                execute_op(stores[i], UpsertOp(path="map.md", key=f"t{i}k{k}", value=str(k)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    t0 = time.perf_counter()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    check = MemoryStore(url, options, limits=_LIMITS)
    kept = {ln.split(":", 1)[0] for ln in check.read("map.md").splitlines() if ln}
    written = threads * per_thread
    return {
        "keys_written": written,
        "keys_kept": len(kept),
        "seconds": seconds,
        "commits_per_s": written / seconds,
        "retries": sum(s.commit_retries for s in set(stores)),
    }


class _RequestCounter:
    """Counts S3 API calls made through one s3fs filesystem (botocore ``before-call``)."""

    def __init__(self, fs: Any) -> None:
        self._events = fs.s3.meta.events
        self.calls = 0
        self._events.register("before-call.s3", self._count)

    def _count(self, **_kw: Any) -> None:
        self.calls += 1

    def close(self) -> None:
        self._events.unregister("before-call.s3", self._count)


def _median_ms(fn: Callable[[int], object], n: int) -> float:
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000.0


def s3_request_bench(options: dict[str, Any], bucket: str, ops: int) -> list[dict[str, Any]]:
    """Requests and time per op on S3, against a raw s3fs PUT of the same bytes.

    Args:
        options: s3fs storage options (moto's server in the perf run).
        bucket: an existing bucket.
        ops: ops timed per kind (batches: rounds of 20).

    Returns:
        One row per kind: ``op``, ``requests`` (per op), ``ms`` (per op), ``raw_put_ms``
        and ``ratio``.
    """
    import fsspec

    url = f"s3://{bucket}/perf-{uuid.uuid4().hex[:8]}"
    store = MemoryStore(url, options, limits=_LIMITS)
    fs, root = fsspec.core.url_to_fs(url, **options)
    note = "step 17: saw a cow at 12,40 near the river\n"
    store.write("log.md", note)
    store.write("map.md", "")
    counter = _RequestCounter(fs)
    rows: list[dict[str, Any]] = []

    def measure(name: str, fn: Callable[[int], object], target: str, per_call: int = 1) -> None:
        # the raw PUT sends as many bytes as the op's file holds (one file per batch)
        payload = (
            max(len(store.read(target).encode()), len(note)) if store.exists(target) else len(note)
        )
        raw = _median_ms(lambda i: fs.pipe_file(f"{root}-raw/{i}", b"x" * payload), ops)
        counter.calls = 0
        ms = _median_ms(fn, ops) / per_call
        rows.append({
            "op": name,
            "requests": counter.calls / (ops * per_call),
            "ms": ms,
            "raw_put_ms": raw,
            "ratio": ms / raw,
        })  # fmt: skip

    measure("write", lambda i: store.write(f"w/{i % 5}.md", f"{i} {note}"), "w/0.md")
    measure("append", lambda i: store.append("log.md", note), "log.md")
    measure(
        "upsert (update)",
        lambda i: execute_op(store, UpsertOp(path="map.md", key=f"k{i}", value="12,40")),
        "map.md",
    )

    def batch_one_file(i: int) -> None:
        with store.batch():
            for _ in range(20):
                store.append("log.md", note)

    def batch_many_files(i: int) -> None:
        with store.batch():
            for k in range(20):
                store.write(f"b/{k}.md", f"{i} {note}")

    measure("batch of 20 appends, one file", batch_one_file, "log.md", per_call=20)
    store.write("b/0.md", note)
    measure("batch of 20 writes, 20 files", batch_many_files, "b/0.md", per_call=20)
    counter.close()
    return rows
