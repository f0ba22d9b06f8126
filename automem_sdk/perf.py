"""Speed report for :class:`~automem_sdk.store.MemoryStore` (``python -m automem_sdk.perf``).

Prints three rich tables:

1. median microseconds per op (write, append, read, search) on ``memory://``,
   ``file://`` and ``s3://`` (moto's server on 127.0.0.1, started here when ``moto`` and
   ``s3fs`` are installed; otherwise the s3 row says it was skipped);
2. search on an N-note store (default 10,000): the index vs a naive full scan that reads
   every file through fsspec and scans it line by line, as a ratio (target >= 20x);
3. concurrency and S3 request counts (:mod:`automem_sdk.perf_shared`);
4. the time of ``import automem_sdk`` (and of ``automem_sdk.store``) in a fresh
   interpreter.

Figures are wall-clock medians on the current machine; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from automem_sdk.perf_shared import concurrency_bench, s3_request_bench
from automem_sdk.store import MemoryStore, StoreLimits
from automem_sdk.tables import print_whole

__all__ = ["main", "naive_search", "run_perf"]

_VOCAB = [
    "wood", "stone", "iron", "coal", "diamond", "sapling", "water", "table", "furnace",
    "pickaxe", "sword", "zombie", "skeleton", "cow", "plant", "lava", "tunnel", "door",
    "key", "fountain", "altar", "staircase", "boulder", "corridor", "potion", "scroll",
]  # fmt: skip
_BIG_LIMITS = StoreLimits(max_files=1_000_000, max_store_bytes=1 << 30)


def _note(rng: random.Random, i: int) -> str:
    lines = []
    for _ in range(rng.randint(3, 6)):
        words = [rng.choice(_VOCAB) for _ in range(rng.randint(2, 5))]
        words += [f"w{rng.randint(0, 3000)}" for _ in range(rng.randint(1, 4))]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)} at {rng.randint(0, 63)},{rng.randint(0, 63)}")
    lines.append(f"tag note{i:05d}")
    return "\n".join(lines) + "\n"


def _median_us(samples_ns: list[int]) -> float:
    return statistics.median(samples_ns) / 1000.0


def _time_calls(fn: Callable[[int], object], n: int) -> float:
    samples = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        fn(i)
        samples.append(time.perf_counter_ns() - t0)
    return _median_us(samples)


def naive_search(store: MemoryStore, query: str, limit: int = 50) -> list[tuple[str, int, str]]:
    """Search the way a store without an index would: read every file, scan every line.

    Args:
        store: the store (only its file list and raw filesystem are used).
        query: case-insensitive substring.
        limit: maximum number of hits.

    Returns:
        ``(path, line, text)`` tuples in path/line order.
    """
    q = query.casefold()
    fs = store._fs  # the rooted fsspec filesystem
    hits: list[tuple[str, int, str]] = []
    for path in store.list():
        text = bytes(fs.cat_file(path)).decode("utf-8")
        for i, line in enumerate(text.splitlines(), 1):
            if q in line.casefold():
                hits.append((path, i, line))
                if len(hits) >= limit:
                    return hits
    return hits


# ----------------------------------------------------------------------------- s3
@contextmanager
def _moto() -> Iterator[dict[str, Any] | None]:
    """Start a local S3 with the perf bucket; yield storage options (``None`` if unavailable)."""
    try:
        from automem_sdk.testing import local_s3

        server = local_s3("automem-perf")
        options = server.__enter__()
    except ImportError:
        yield None
        return
    try:
        yield options
    finally:
        server.__exit__(None, None, None)


# ----------------------------------------------------------------------------- benches
def _op_latency(
    url: str, options: dict[str, Any] | None, ops: int, *, durable: bool = False
) -> dict[str, float]:
    rng = random.Random(0)
    store = MemoryStore(url, options, limits=_BIG_LIMITS, durable=durable)
    for i in range(20):
        store.write(f"seed/{i}.md", _note(rng, i))
    paths = store.list()
    texts = [_note(rng, i) for i in range(ops)]
    out = {
        "write": _time_calls(lambda i: store.write(f"w/{i % 20}.md", texts[i]), ops),
        "append": _time_calls(lambda i: store.append("log.md", f"step {i}: saw a cow\n"), ops),
        "read": _time_calls(lambda i: store.read(paths[i % len(paths)]), ops),
        "search": _time_calls(lambda i: store.search(_VOCAB[i % len(_VOCAB)]), ops),
    }
    store.close()
    return out


def _search_ratio(
    url: str, notes: int, queries: int, progress: Progress | None
) -> dict[str, float | int]:
    rng = random.Random(1)
    store = MemoryStore(url, limits=_BIG_LIMITS)
    task = (
        progress.add_task(f"building {url.split(':')[0]} store", total=notes) if progress else None
    )
    for i in range(notes):
        store.write(f"notes/{i // 500:03d}/{i:05d}.md", _note(rng, i))
        if progress is not None and task is not None:
            progress.advance(task)
    store.close()
    t0 = time.perf_counter()
    store = MemoryStore(url, limits=_BIG_LIMITS)  # reopen: index rebuilt from the cache
    reopen_s = time.perf_counter() - t0
    qs = [f"note{rng.randrange(notes):05d}" for _ in range(queries // 4)]
    qs += [f"w{rng.randint(0, 3000)} " for _ in range(queries // 4)]
    qs += [f"{rng.choice(_VOCAB)} {rng.choice(_VOCAB)}" for _ in range(queries // 4)]
    qs += ["ICKAX", "missing-word", "at 3,4", "tag note0001"][: max(1, queries - len(qs))]
    indexed, naive = [], []
    for q in qs:
        expected = naive_search(store, q)
        got = [(h.path, h.line, h.text) for h in store.search(q)]
        if got != expected:
            raise AssertionError(f"index and full scan disagree on {q!r}")
        for _ in range(3):
            t = time.perf_counter_ns()
            store.search(q)
            indexed.append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        naive_search(store, q)
        naive.append(time.perf_counter_ns() - t)
    store.close()
    idx_us, naive_us = _median_us(indexed), _median_us(naive)
    return {
        "notes": notes,
        "queries": len(qs),
        "indexed_us": idx_us,
        "naive_us": naive_us,
        "ratio": naive_us / idx_us if idx_us else float("inf"),
        "reopen_ms": reopen_s * 1000,
    }


def _import_time(runs: int, module: str = "automem_sdk") -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        samples.append(float(out.strip().splitlines()[-1]))
    return statistics.median(samples) * 1000


def run_perf(
    *,
    notes: int = 10_000,
    ops: int = 200,
    s3_ops: int = 30,
    queries: int = 40,
    s3: bool = True,
    import_runs: int = 5,
    quiet: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run every benchmark and return the figures (also printed as tables).

    Args:
        notes: notes in the search store.
        ops: ops timed per kind on memory:// and file://.
        s3_ops: ops timed per kind on s3:// (moto is slow; keep this small).
        queries: search queries in the ratio benchmark.
        s3: include s3 (needs moto and s3fs).
        import_runs: subprocesses timing ``import automem_sdk``.
        quiet: no progress bar.
        console: where to print (default: stdout).

    Returns:
        ``{"ops": {backend: {op: us} | None}, "search": {backend: {...}},
        "import_ms": x, "import_store_ms": y}``.
    """
    console = console or Console()
    results: dict[str, Any] = {"ops": {}, "search": {}, "concurrency": [], "s3_requests": None}
    with tempfile.TemporaryDirectory(prefix="automem-perf-") as tmp:
        urls = {
            "memory": f"memory://automem-perf-{uuid.uuid4().hex[:8]}",
            "file": os.path.join(tmp, "ops"),
        }
        for name, url in urls.items():
            results["ops"][name] = _op_latency(url, None, ops)
        for name in urls:
            for separate in (False, True):
                url = (
                    f"memory://automem-perf-conc-{uuid.uuid4().hex[:8]}"
                    if name == "memory"
                    else os.path.join(tmp, f"conc-{uuid.uuid4().hex[:8]}")
                )
                row = concurrency_bench(url, None, per_thread=max(5, ops // 2), separate=separate)
                results["concurrency"].append(
                    {"backend": name, "stores": 4 if separate else 1, **row}
                )
        results["ops"]["file (durable)"] = _op_latency(
            os.path.join(tmp, "durable"), None, ops, durable=True
        )
        if s3:
            with _moto() as options:
                if options is None:
                    results["ops"]["s3"] = None
                else:
                    url = f"s3://automem-perf/ops-{uuid.uuid4().hex[:8]}"
                    results["ops"]["s3"] = _op_latency(url, options, s3_ops)
                    results["s3_requests"] = s3_request_bench(options, "automem-perf", s3_ops)
                    for separate in (False, True):
                        url = f"s3://automem-perf/conc-{uuid.uuid4().hex[:8]}"
                        results["concurrency"].append(
                            {"backend": "s3", "stores": 4 if separate else 1,
                             **concurrency_bench(url, options, per_thread=max(5, s3_ops),
                                                 separate=separate)}
                        )  # fmt: skip
        else:
            results["ops"]["s3"] = None
        show = not quiet and console.is_terminal
        with Progress(console=console, transient=True, disable=not show) as progress:
            for name, url in (
                ("memory", f"memory://automem-perf-big-{uuid.uuid4().hex[:8]}"),
                ("file", os.path.join(tmp, "big")),
            ):
                results["search"][name] = _search_ratio(url, notes, queries, progress)
    results["import_ms"] = _import_time(import_runs)
    results["import_store_ms"] = _import_time(import_runs, "automem_sdk.store")
    _print(console, results, ops, s3_ops)
    return results


def _print(console: Console, results: dict[str, Any], ops: int, s3_ops: int) -> None:
    table = Table(title="MemoryStore: median microseconds per op")
    table.add_column("backend")
    for op in ("write", "append", "read", "search"):
        table.add_column(op, justify="right")
    table.add_column("ops timed", justify="right")
    for name, row in results["ops"].items():
        if row is None:
            table.add_row(name, "skipped (moto/s3fs not installed or --no-s3)", "", "", "", "")
        else:
            n = s3_ops if name == "s3" else ops
            table.add_row(name, *(f"{row[op]:.1f}" for op in row), str(n))
    print_whole(console, table)

    table = Table(title="search: index vs naive full scan (median microseconds per query)")
    for col in ("backend", "notes", "queries", "indexed", "naive scan", "ratio", "reopen ms"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for name, row in results["search"].items():
        table.add_row(
            name,
            str(row["notes"]),
            str(row["queries"]),
            f"{row['indexed_us']:.1f}",
            f"{row['naive_us']:.1f}",
            f"{row['ratio']:.0f}x",
            f"{row['reopen_ms']:.0f}",
        )
    print_whole(console, table)

    table = Table(title="concurrency: 4 threads upserting distinct keys into one file")
    for col in ("backend", "store objects", "keys kept", "seconds", "commits/s", "retries"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for row in results["concurrency"]:
        table.add_row(
            row["backend"],
            str(row["stores"]),
            f"{row['keys_kept']}/{row['keys_written']}",
            f"{row['seconds']:.2f}",
            f"{row['commits_per_s']:.0f}",
            str(row["retries"]),
        )
    print_whole(console, table)

    if results.get("s3_requests"):
        table = Table(title="s3 (moto on 127.0.0.1): requests and time per op vs a raw s3fs PUT")
        for col in ("op", "requests/op", "ms/op", "raw PUT ms", "ratio"):
            table.add_column(col, justify="left" if col == "op" else "right")
        for row in results["s3_requests"]:
            table.add_row(
                row["op"],
                f"{row['requests']:.2f}",
                f"{row['ms']:.2f}",
                f"{row['raw_put_ms']:.2f}",
                f"{row['ratio']:.2f}x",
            )
        print_whole(console, table)

    table = Table(title="import time")
    table.add_column("what")
    table.add_column("median ms", justify="right")
    table.add_row("import automem_sdk", f"{results['import_ms']:.1f}")
    table.add_row("import automem_sdk.store", f"{results['import_store_ms']:.1f}")
    print_whole(console, table)


def _run_scale(sizes: list[int], json_path: str | None) -> int:
    from automem_sdk.perf_scale import scale_bench

    console = Console()
    rows = scale_bench(sizes)
    table = Table(title="a store that lives long (file://; reopen after a checkpoint)")
    cols = ("what", "n", "reopen ms", "on disk", "after compact", "search ms c/r/p", "first")
    for col in cols:
        table.add_column(col, justify="left" if col == "what" else "right")
    for r in rows:
        disk = after = search = first = ""
        if "disk_bytes" in r:
            disk = f"{r['disk_bytes']:,} B for {r['live_bytes']:,} live"
            after = f"{r['disk_after_compact']:,} B, reopen {r['reopen_after_compact_ms']:.1f} ms"
        if "amplification" in r:
            disk = f"{r['amplification']:.2f}x live"
            after = f"{r['after_compact']:.2f}x live"
        if "search_common_ms" in r:
            search = (
                f"{r['search_common_ms']:.2f} / {r['search_rare_ms']:.2f} / "
                f"{r['search_partial_ms']:.2f}"
            )
            first = (
                f"open+search {r['open_and_first_search_ms']:.0f} ms; new word "
                f"{r['search_after_new_word_ms']:.2f} ms"
            )
        reopen = f"{r['reopen_ms']:.1f}" if "reopen_ms" in r else ""
        table.add_row(r["kind"], f"{r['n']:,}", reopen, disk, after, search, first)
    print_whole(console, table)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m automem_sdk.perf``."""
    parser = argparse.ArgumentParser(prog="python -m automem_sdk.perf", description=__doc__)
    parser.add_argument("--notes", type=int, default=10_000, help="notes in the search store")
    parser.add_argument("--ops", type=int, default=200, help="ops timed per kind")
    parser.add_argument("--s3-ops", type=int, default=30, help="ops timed per kind on s3")
    parser.add_argument("--queries", type=int, default=40, help="queries in the search bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--no-s3", action="store_true", help="skip the s3 (moto) backend")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--scale",
        nargs="?",
        const="1000,10000,100000",
        metavar="SIZES",
        help="only the scale section: open time, disk and search at these sizes "
        "(default 1000,10000,100000)",
    )
    args = parser.parse_args(argv)
    if args.scale:
        return _run_scale([int(s) for s in args.scale.split(",")], args.json)
    if args.quick:
        args.notes, args.ops, args.s3_ops, args.queries = 200, 5, 3, 8
    results = run_perf(
        notes=args.notes,
        ops=args.ops,
        s3_ops=args.s3_ops,
        queries=args.queries,
        s3=not args.no_s3,
        import_runs=1 if args.quick else 5,
        quiet=args.quiet,
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
