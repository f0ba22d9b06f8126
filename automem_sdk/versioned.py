"""Versioned JSON records: one parser for every file format that carries a
``schema_version`` (traces, outcomes, replay sets)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["load_versioned"]


def load_versioned(
    raw: bytes | str, where: str, *, kind: str, supported: int, error: type[Exception]
) -> Any:
    """Parse one JSON record and check its ``schema_version`` (default 1).

    Args:
        raw: the record's text.
        where: where it was read, for the message (``url:line``).
        kind: what it is (``trace``, ``outcome``, ...), for the message.
        supported: the newest schema version this SDK reads.
        error: the exception class to raise.

    Raises:
        error: the text is not JSON, or its version is newer than ``supported``.
    """
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not JSON ({exc})") from exc
    version = obj.get("schema_version", 1) if isinstance(obj, dict) else None
    if not isinstance(version, int) or version > supported:
        raise error(
            f"{where}: {kind} schema_version {version!r} is not supported: newer than this "
            f"SDK reads (<= {supported}); upgrade automem-sdk"
        )
    return obj
