"""The ledger: one JSON line per dataset and per adapter, next to them (``ledger.jsonl``).

Entries name their inputs by content hash (source traces, datasets) so any adapter can be
traced back to the episodes it learned from. Written through fsspec; on object stores
the file is rewritten whole (they have no append).
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import fsspec

__all__ = ["LEDGER_NAME", "append_ledger", "join_url", "read_ledger"]

LEDGER_NAME = "ledger.jsonl"


def join_url(base: str, *parts: str) -> str:
    """Join path parts onto a URL or local path with ``/``."""
    out = base.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def read_ledger(
    dir_url: str, storage_options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every entry of the ledger in ``dir_url`` (empty when there is none)."""
    url = join_url(dir_url, LEDGER_NAME)
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if not fs.exists(path):
        return []
    with fs.open(path, "r", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def append_ledger(
    dir_url: str, entry: dict[str, Any], storage_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Add ``entry`` (with a ``ts`` timestamp) to the ledger in ``dir_url``.

    Returns:
        The entry as written.
    """
    url = join_url(dir_url, LEDGER_NAME)
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    written = {"ts": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **entry}
    line = json.dumps(written, sort_keys=True, ensure_ascii=False) + "\n"
    old = ""
    if fs.exists(path):
        with fs.open(path, "r", encoding="utf-8") as f:
            old = f.read()
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    with fs.open(path, "w", encoding="utf-8") as f:
        f.write(old + line)
    return written
