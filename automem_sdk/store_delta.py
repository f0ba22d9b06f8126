"""Deltas: how format 2 stores a new version of a file as the bytes that changed.

A version that differs from the file's previous version by an append, an insert or an
in-place edit is stored as a :class:`Delta` against that previous version (its
*base*): ``new = base[:head] + data + base[len(base) - tail:]``. The delta rides in the
journal entry, so storage grows with what was written, not with file size x writes.

Reading a version walks its chain of bases back to a full copy (an object, a pack or
content carried in an entry) and applies the deltas forward. A chain is cut (the version
is stored whole, a *keyframe*) once it holds :data:`MAX_CHAIN` edits (deltas that
replace bytes of their base; pure appends copy nothing and are not counted) or its
deltas add up to more bytes than the file itself, so reading any version costs at most
about twice its size in bytes read and a bounded amount of copying.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_CHAIN", "Delta", "apply_deltas", "make_delta"]

MAX_CHAIN = 1000
"""Most edits (deltas that replace bytes) between a version and its full copy."""

_MIN_SAVING = 96  # bytes a delta must save over a full copy to be worth its indirection


class Delta(BaseModel):
    """A version as an edit of its base: ``base[:head] + data + base[len(base)-tail:]``.

    Attributes:
        base: sha256 of the previous version's bytes.
        head: bytes kept from the start of the base.
        tail: bytes kept from the end of the base.
        data: the new text in between.
    """

    model_config = ConfigDict(frozen=True)

    base: str
    head: int = Field(ge=0)
    tail: int = Field(ge=0)
    data: str = ""


def _is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def _prefix_len(a: bytes, b: bytes) -> int:
    """Length of the common prefix of ``a`` and ``b`` (block comparisons, C speed)."""
    n = min(len(a), len(b))
    i = 0
    for step in (65536, 4096, 256, 16, 1):
        while i + step <= n and a[i : i + step] == b[i : i + step]:
            i += step
    return i


def make_delta(base_sha: str, old: bytes, new: bytes) -> Delta | None:
    """The delta that turns ``old`` into ``new``, or ``None`` when a full copy is as small.

    The kept head and tail end on UTF-8 character boundaries, so ``data`` is text.
    """
    head = _prefix_len(old, new)
    while head > 0 and head < len(new) and _is_continuation(new[head]):
        head -= 1
    tail = _prefix_len(old[head:][::-1], new[head:][::-1])
    while tail > 0 and _is_continuation(new[len(new) - tail]):
        tail -= 1
    mid = new[head : len(new) - tail]
    if len(mid) + _MIN_SAVING >= len(new):
        return None
    try:
        text = mid.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return Delta(base=base_sha, head=head, tail=tail, data=text)


def apply_deltas(base: bytes, deltas: list[Delta]) -> bytes:
    """Apply ``deltas`` (oldest first) to ``base``.

    Raises:
        ValueError: a delta does not fit the bytes it is applied to.
    """
    buf = bytearray(base)
    for d in deltas:
        if d.head + d.tail > len(buf):
            raise ValueError("a delta does not fit its base")
        buf[d.head : len(buf) - d.tail] = d.data.encode("utf-8")
    return bytes(buf)
