"""Path sandbox for :class:`~automem_sdk.store.MemoryStore`.

Every user path goes through :func:`validate_path` before it reaches a filesystem. The
rules are deliberately strict (a memory store holds agent-written notes, not arbitrary
files): relative POSIX paths only, no ``..``, no absolute or URL-like paths, no NUL,
control or invisible formatting characters, no backslashes, no URL-encoded escapes, no
glob characters, bounded length and depth, and nothing under the store's reserved
directory. Local symlinks that leave the root are checked separately with
:func:`check_inside` because they depend on the filesystem, not on the string.
"""

from __future__ import annotations

import os
import re
import unicodedata

from automem_sdk.errors import MemoryPathError

__all__ = [
    "RESERVED_DIR",
    "check_inside",
    "validate_path",
    "validate_prefix",
]

RESERVED_DIR = ".automem"
"""Hidden directory in the store root that holds the journal, objects and index."""

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_GLOB_CHARS = frozenset("*?[]")
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)


def _reject(path: object, why: str) -> MemoryPathError:
    return MemoryPathError(f"invalid memory path {path!r}: {why}")


def _check_chars(path: str) -> None:
    for ch in path:
        if ch == "\\":
            raise _reject(path, "backslashes are not allowed (use '/')")
        if ch in _GLOB_CHARS:
            raise _reject(path, f"glob character {ch!r} is not allowed")
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            raise _reject(path, f"control or invisible character U+{ord(ch):04X} is not allowed")
    if _PERCENT_ESCAPE.search(path):
        raise _reject(path, "URL-encoded escapes (%XX) are not allowed")


def _check_segment(path: str, seg: str, max_name_len: int) -> None:
    if seg.strip() != seg or not seg.strip():
        raise _reject(path, f"segment {seg!r} is blank or has leading/trailing whitespace")
    if set(seg) == {"."}:
        raise _reject(path, f"segment {seg!r} is not allowed ('..' and dot-only names)")
    folded = unicodedata.normalize("NFKC", seg)
    if "/" in folded or "\\" in folded or set(folded) == {"."}:
        raise _reject(path, f"segment {seg!r} normalises to a path separator or '..'")
    if seg.split(".", 1)[0].upper().rstrip() in _WINDOWS_DEVICES:
        raise _reject(path, f"segment {seg!r} is a reserved device name")
    size = len(seg.encode("utf-8"))
    if size > max_name_len:
        raise _reject(path, f"name {seg[:40]!r}... is {size} bytes; limit is {max_name_len}")


def validate_path(
    path: object,
    *,
    max_path_len: int = 255,
    max_name_len: int = 128,
    max_depth: int = 8,
) -> str:
    """Validate a user path and return its canonical relative form.

    ``.`` segments are dropped (``./notes.md`` -> ``notes.md``) and the result is NFC
    normalised; everything else that is odd is rejected rather than repaired.

    Args:
        path: the path as given by the caller (usually an agent).
        max_path_len: maximum UTF-8 length of the whole path in bytes.
        max_name_len: maximum UTF-8 length of one path segment in bytes.
        max_depth: maximum number of segments.

    Returns:
        The canonical relative POSIX path.

    Raises:
        MemoryPathError: the path is empty, absolute, escapes the root, names the
            reserved directory, contains forbidden characters or is too long/deep.
    """
    if not isinstance(path, str):
        raise _reject(path, f"expected a string, got {type(path).__name__}")
    if not path:
        raise _reject(path, "empty path")
    _check_chars(path)
    if "://" in path or path.lower().startswith(("file:", "s3:", "memory:")):
        raise _reject(path, "URLs are not allowed; use a path relative to the store root")
    if path.startswith(("/", "~")) or _DRIVE.match(path):
        raise _reject(path, "absolute paths are not allowed; use a path relative to the root")
    if path.endswith("/"):
        raise _reject(path, "a file path cannot end with '/'")
    raw_segments = path.split("/")
    if "" in raw_segments:
        raise _reject(path, "empty path segment ('//')")
    segments = [s for s in raw_segments if s != "."]
    if not segments:
        raise _reject(path, "path names the store root, not a file")
    for seg in segments:
        _check_segment(path, seg, max_name_len)
    if segments[0].casefold() == RESERVED_DIR:
        raise _reject(path, f"'{RESERVED_DIR}/' is reserved for the store's journal")
    if len(segments) > max_depth:
        raise _reject(path, f"{len(segments)} levels deep; limit is {max_depth}")
    norm = unicodedata.normalize("NFC", "/".join(segments))
    size = len(norm.encode("utf-8"))
    if size > max_path_len:
        raise _reject(path, f"path is {size} bytes; limit is {max_path_len}")
    return norm


def validate_prefix(
    prefix: object,
    *,
    max_path_len: int = 255,
    max_name_len: int = 128,
    max_depth: int = 8,
) -> str:
    """Validate a directory prefix for listing/searching; ``""`` (or ``"/"``) means all.

    Args:
        prefix: a directory path, optionally with a trailing ``/``.
        max_path_len: see :func:`validate_path`.
        max_name_len: see :func:`validate_path`.
        max_depth: see :func:`validate_path`.

    Returns:
        The canonical prefix without a trailing ``/`` (``""`` for the whole store).

    Raises:
        MemoryPathError: the prefix is not a valid path.
    """
    if isinstance(prefix, str) and prefix.strip() in ("", "/", ".", "./", "*"):
        return ""
    if isinstance(prefix, str) and prefix.endswith("/") and not prefix.endswith("//"):
        prefix = prefix[:-1]
    return validate_path(
        prefix, max_path_len=max_path_len, max_name_len=max_name_len, max_depth=max_depth
    )


def check_inside(real_root: str, rel: str) -> None:
    """Refuse a local path whose resolved location (symlinks followed) leaves the root.

    Args:
        real_root: ``os.path.realpath`` of the store root.
        rel: a path already accepted by :func:`validate_path`.

    Raises:
        MemoryPathError: a symlink on the way leads outside the root.
    """
    resolved = os.path.realpath(os.path.join(real_root, rel))
    base = real_root.rstrip(os.sep) + os.sep
    if not resolved.startswith(base):
        raise MemoryPathError(f"invalid memory path {rel!r}: a symlink leads outside the store")
    inner = resolved[len(base) :].split(os.sep, 1)[0]
    if inner.casefold() == RESERVED_DIR:
        raise MemoryPathError(
            f"invalid memory path {rel!r}: a symlink leads into '{RESERVED_DIR}/'"
        )
