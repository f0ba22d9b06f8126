"""Scale section of ``python -m automem_sdk.perf --scale``: a store that lives long.

For each size N (default 1,000 / 10,000 / 100,000) on ``file://``:

* **journal entries**: N small writes to 5 files, then the reopen time and the disk
  footprint (bytes under the root, and objects) against the live bytes;
* **notes**: N notes of a few lines, then the reopen time and the search latency for a
  common word, a rare word and a partial word;
* **append amplification**: N appends of 100 B to one file (at most 10,000): bytes under
  ``.automem/`` per live byte, before and after ``compact(keep_last=1)``.

Reopen times are after a checkpoint (``close()`` writes one); the notes' first search
after opening pays for tokenising them (opening tokenises nothing) and is shown apart.

Nothing here asserts a speed; the figures go into the notes and the README.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from typing import Any

from automem_sdk.store import MemoryStore, StoreLimits

__all__ = ["scale_bench"]

_LIMITS = StoreLimits(max_files=1_000_000, max_store_bytes=1 << 31, max_file_bytes=1 << 24)


def _disk(root: str) -> tuple[int, int]:
    """(bytes of every file under ``root``, bytes of the live tree)."""
    total = live = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            size = os.path.getsize(os.path.join(dirpath, name))
            total += size
            if f"{os.sep}.automem" not in dirpath:
                live += size
    return total, live


def _reopen_ms(root: str, runs: int = 3) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        MemoryStore(root, limits=_LIMITS).close()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def _search_ms(store: MemoryStore, query: str, runs: int = 20) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        store.search(query)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def scale_bench(sizes: list[int]) -> list[dict[str, Any]]:
    """Run the scale section for each size; returns one row per (kind, size)."""
    rows: list[dict[str, Any]] = []
    rng = random.Random(3)
    words = ["wood", "stone", "iron", "cow", "water", "tree", "zombie", "door", "key"]
    with tempfile.TemporaryDirectory(prefix="automem-scale-") as tmp:
        for n in sizes:
            root = os.path.join(tmp, f"journal-{n}")
            store = MemoryStore(root, limits=_LIMITS)
            for i in range(n):
                store.write(f"f{i % 5}.md", f"value {i}\n")
            store.close()
            total, live = _disk(root)
            reopen = _reopen_ms(root)
            store = MemoryStore(root, limits=_LIMITS)
            store.compact(keep_last=100)
            store.close()
            rows.append({"kind": "journal entries", "n": n, "reopen_ms": reopen,
                         "disk_bytes": total, "live_bytes": live,
                         "disk_after_compact": _disk(root)[0],
                         "reopen_after_compact_ms": _reopen_ms(root)})  # fmt: skip

            root = os.path.join(tmp, f"notes-{n}")
            store = MemoryStore(root, limits=_LIMITS)
            with store.batch():
                for i in range(n):
                    body = "\n".join(
                        " ".join(rng.choice(words) for _ in range(5)) + f" w{rng.randint(0, 9999)}"
                        for _ in range(3)
                    )
                    store.write(f"notes/{i // 1000}/{i}.md", body + "\n")
            store.close()
            reopen = _reopen_ms(root)
            t0 = time.perf_counter()
            store = MemoryStore(root, limits=_LIMITS)
            store.search("wood")
            first = (time.perf_counter() - t0) * 1000
            store.write("notes/new.md", "a brandnewword here\n")
            t0 = time.perf_counter()
            store.search("brandnew")
            after_write = (time.perf_counter() - t0) * 1000
            rows.append({
                "kind": "notes", "n": n, "reopen_ms": reopen,
                "open_and_first_search_ms": first,
                "search_common_ms": _search_ms(store, "wood"),
                "search_rare_ms": _search_ms(store, "w4242"),
                "search_partial_ms": _search_ms(store, "oo"),
                "search_after_new_word_ms": after_write,
            })  # fmt: skip

            m = min(n, 10_000)
            root = os.path.join(tmp, f"append-{m}")
            store = MemoryStore(root, limits=_LIMITS)
            for i in range(m):
                store.append("log.md", f"{i:08d} " + "x" * 90 + "\n")
            total, live = _disk(root)
            before = total - live  # bytes under .automem/
            store.compact(keep_last=1)
            store.close()
            total, live = _disk(root)
            after = total - live
            rows.append({"kind": "appends of 100 B", "n": m, "live_bytes": live,
                         "amplification": before / max(1, live),
                         "after_compact": after / max(1, live)})  # fmt: skip
    return rows
