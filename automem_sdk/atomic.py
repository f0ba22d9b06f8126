"""One way to replace a file so that readers see the old file or the new one.

Local disk: a temporary file beside the target, fsynced, then ``os.replace``; object
stores: one PUT, which is atomic already. Run directories, traces' side files, the LLM
response cache and the trainers' state files all write through :func:`atomic_write`.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import fsspec

__all__ = ["atomic_write", "atomic_write_fs", "is_local", "sweep_stale_tmp"]

_TMP_NAME = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{6}\.tmp$")


def is_local(fs: Any) -> bool:
    """Whether an fsspec filesystem is the local disk."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return "file" in protocols or "local" in protocols


def atomic_write(
    url: str | os.PathLike[str],
    data: str | bytes,
    storage_options: dict[str, Any] | None = None,
) -> None:
    """Write ``data`` to ``url`` so that readers see the old file or the new one.

    Local files: a temporary ``.<name>.<pid>.<hex>.tmp`` beside the target (parents
    created), flushed and fsynced, then ``os.replace``; a killed writer leaves at most
    that temporary file (:func:`sweep_stale_tmp` removes it). Object stores: one PUT.

    Args:
        url: a local path or fsspec URL.
        data: text (written as UTF-8) or bytes.
        storage_options: fsspec options for ``url``.
    """
    blob = data.encode("utf-8") if isinstance(data, str) else data
    fs, path = fsspec.core.url_to_fs(str(url), **(storage_options or {}))
    atomic_write_fs(fs, path, blob)


def atomic_write_fs(fs: Any, path: str, blob: bytes) -> None:
    """:func:`atomic_write` on a filesystem already open (``path`` in its own terms)."""
    if not is_local(fs):
        fs.pipe_file(path, blob)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_stale_tmp(root: str | Path, max_age_s: float = 600.0) -> int:
    """Remove the temporary files killed :func:`atomic_write` calls left under ``root``.

    A temporary file lives for one write; one whose writer (the pid in its name) is gone
    on this host, or that is older than ``max_age_s`` (a writer on another host), is
    stale. Other dot-files are left alone.

    Returns:
        How many were removed.
    """
    removed = 0
    now = time.time()
    for tmp in Path(root).rglob(".*.tmp"):
        m = _TMP_NAME.match(tmp.name)
        if m is None:
            continue
        try:
            if not _pid_alive(int(m.group(1))) or now - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # its writer just renamed it
    return removed
