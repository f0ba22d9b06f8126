"""Trajectories as versioned, streamable JSONL records (optionally gzip) over fsspec.

A trace is one episode: a :class:`TraceHeader`, then for every env step the routine
turns (:class:`TurnRecord`: verbatim messages in, model output, parsed ops, op results)
and one :class:`StepRecord` (action, reward, observation), then a :class:`TraceFooter`.
Every record is flushed as it is written, so a run killed mid-episode leaves a readable
prefix; :func:`read_trace` returns whatever complete records it finds. On object stores
(S3, GCS, ...), where an object exists only once it is fully written, a trace is
written as numbered *parts* (``<name>.part-000001``, ...) every few records or seconds
and assembled into one object by :meth:`TraceWriter.close`; readers take the parts of
a trace whose writer never closed it.

Traces are the only interface between running agents and the trainers.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import time
import uuid
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import Annotated, Any, Literal

import fsspec
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from automem_sdk.errors import TraceError
from automem_sdk.llm.base import Message, Usage
from automem_sdk.versioned import load_versioned

__all__ = [
    "TRACE_SCHEMA_VERSION",
    "StepRecord",
    "Trace",
    "TraceFooter",
    "TraceHeader",
    "TraceRecord",
    "TraceWriter",
    "TurnRecord",
    "iter_records",
    "list_traces",
    "read_trace",
]

TRACE_SCHEMA_VERSION = 1
Routine = Literal["log", "plan", "act"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class _Record(BaseModel):
    schema_version: int = TRACE_SCHEMA_VERSION


class TraceHeader(_Record):
    """First record of a trace: what ran, where, with which scaffold and models."""

    kind: Literal["header"] = "header"
    run_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    episode_id: str = ""
    env: str = ""
    task: str = ""
    seed: int | None = None
    scaffold_id: str = ""
    mode: str = "unified"
    models: dict[str, str] = Field(default_factory=dict)
    sdk_version: str = ""
    memory_url: str = ""
    created: str = Field(default_factory=_now)
    config: dict[str, Any] = Field(default_factory=dict)


class TurnRecord(_Record):
    """One model turn inside a LOG or PLAN routine (or the task model's act turn)."""

    kind: Literal["turn"] = "turn"
    step: int
    routine: Routine
    turn: int = 0
    model: str = ""
    messages: list[Message] = Field(default_factory=list)
    output: str = ""
    ops: list[dict[str, Any]] = Field(default_factory=list)
    results: list[dict[str, Any]] = Field(default_factory=list)
    parse_errors: list[str] = Field(default_factory=list)
    action: str | None = None
    fallback: bool = False
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0


class StepRecord(_Record):
    """One environment step: the action committed and what the env answered."""

    kind: Literal["step"] = "step"
    step: int
    action: str
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    observation: str = ""
    changed: bool | None = None
    progression: float | None = None
    info: dict[str, Any] = Field(default_factory=dict)


class TraceFooter(_Record):
    """Last record: episode outcome and totals."""

    kind: Literal["footer"] = "footer"
    steps: int = 0
    progression: float = 0.0
    total_reward: float = 0.0
    achievements: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    n_ops: int = 0
    wall_s: float = 0.0
    ended: str = Field(default_factory=_now)
    extra: dict[str, Any] = Field(default_factory=dict)


TraceRecord = Annotated[
    TraceHeader | TurnRecord | StepRecord | TraceFooter, Field(discriminator="kind")
]
_RECORD_ADAPTER: TypeAdapter[TraceRecord] = TypeAdapter(TraceRecord)


def _compression(url: str) -> str | None:
    return "gzip" if url.endswith(".gz") else None


_STREAMING_PROTOCOLS = frozenset({"file", "local"})
_PART = ".part-"


class TraceWriter:
    """Streams trace records to ``url`` (``.jsonl`` or ``.jsonl.gz``), flushing each one.

    Use as a context manager, or call :meth:`close`.

    Args:
        url: any fsspec URL or local path.
        storage_options: passed to fsspec unchanged.
        part_records: on object stores, records per part (a killed writer loses at
            most the records not yet in a part).
        part_seconds: on object stores, the longest a record waits for its part.
    """

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        part_records: int = 64,
        part_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.closed = False
        self.n_records = 0
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._parts: list[str] | None = None
        self._gz: gzip.GzipFile | None = None
        if proto in _STREAMING_PROTOCOLS or proto == "memory":
            self._of = fsspec.open(url, "wb", **(storage_options or {}))
            self._raw = self._of.open()
            if _compression(url):
                self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb")
            return
        self._fs, self._path = fs, path  # object store: numbered parts
        self._parts = []
        self._buf: list[bytes] = []
        self._part_records = max(1, part_records)
        self._part_seconds = part_seconds
        self._since = time.monotonic()

    def write(self, record: BaseModel) -> None:
        """Append one record and flush it to the underlying file (on object stores, to
        the next part when it is due)."""
        if self.closed:
            raise TraceError(f"trace {self.url} is closed")
        line = (record.model_dump_json() + "\n").encode("utf-8")
        self.n_records += 1
        if self._parts is not None:
            self._buf.append(line)
            due = time.monotonic() - self._since >= self._part_seconds
            if len(self._buf) >= self._part_records or due:
                self.flush()
            return
        if self._gz is not None:
            self._gz.write(line)
            self._gz.flush(zlib.Z_SYNC_FLUSH)
        else:
            self._raw.write(line)
        self._raw.flush()

    def flush(self) -> None:
        """Object stores: write the buffered records as the next part now."""
        if self._parts is None or not self._buf:
            return
        blob = b"".join(self._buf)
        if _compression(self.url):
            blob = gzip.compress(blob)  # gzip members concatenate into one stream
        part = f"{self._path}{_PART}{len(self._parts) + 1:06d}"
        self._fs.pipe_file(part, blob)
        self._parts.append(part)
        self._buf.clear()
        self._since = time.monotonic()

    def close(self) -> None:
        """Finish the file (idempotent); on object stores, assemble the parts into one."""
        if self.closed:
            return
        self.closed = True
        if self._parts is not None:
            self.flush()
            blobs = [self._fs.cat_file(p) for p in self._parts]
            self._fs.pipe_file(self._path, b"".join(blobs))
            if self._parts:
                self._fs.rm(self._parts)
            return
        if self._gz is not None:
            self._gz.close()
        self._raw.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _parts_of(fs: Any, path: str) -> list[str]:
    """The parts of an unfinished object-store trace at ``path``, in order."""
    try:
        found = fs.glob(f"{path}{_PART}*")
    except FileNotFoundError:
        return []
    return sorted(p for p in found if p[len(path) + len(_PART) :].isdigit())


def _read_bytes(url: str, storage_options: dict[str, Any] | None) -> bytes:
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    try:
        with fs.open(path, "rb") as f:
            data: bytes = f.read()
    except FileNotFoundError:
        parts = _parts_of(fs, path)
        if not parts:
            raise
        data = b"".join(fs.cat_file(p) for p in parts)  # a writer that never closed
    if _compression(url):
        # A killed writer leaves a gzip stream without its trailer: decompress what is
        # there. Parts are separate gzip members, one after the other.
        out: list[bytes] = []
        while data:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out.append(d.decompress(data))
            except zlib.error as exc:
                raise TraceError(f"{url}: corrupt gzip stream: {exc}") from exc
            data = d.unused_data if d.eof else b""
        return b"".join(out)
    return data


def iter_records(
    url: str, storage_options: dict[str, Any] | None = None, *, strict: bool = False
) -> Iterator[TraceRecord]:
    """Yield the records of a trace in order.

    A torn last line (a writer killed mid-record) is skipped unless ``strict``.

    Raises:
        TraceError: a complete line is not a valid record, or its schema_version is newer
            than this SDK understands.
    """
    lines = _read_bytes(url, storage_options).split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for i, raw in enumerate(complete):
        if not raw.strip():
            continue
        yield _parse_line(url, i + 1, raw)
    if tail.strip():
        if strict:
            raise TraceError(f"{url}: truncated last record (no newline)")
        try:
            yield _parse_line(url, len(complete) + 1, tail)
        except TraceError:
            return


def _parse_line(url: str, lineno: int, raw: bytes) -> TraceRecord:
    obj = load_versioned(
        raw, f"{url}:{lineno}", kind="trace", supported=TRACE_SCHEMA_VERSION, error=TraceError
    )
    try:
        return _RECORD_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise TraceError(f"{url}:{lineno}: invalid record: {exc}") from exc


class Trace(BaseModel):
    """A whole trace in memory. ``footer`` is ``None`` for a run that did not finish."""

    url: str = ""
    header: TraceHeader
    turns: list[TurnRecord] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    footer: TraceFooter | None = None

    @property
    def complete(self) -> bool:
        """Whether the episode finished (a footer was written)."""
        return self.footer is not None

    @property
    def progression(self) -> float:
        """Final progression, or the best seen so far for an unfinished trace."""
        if self.footer is not None:
            return self.footer.progression
        seen = [s.progression for s in self.steps if s.progression is not None]
        return max(seen, default=0.0)


def read_trace(url: str, storage_options: dict[str, Any] | None = None) -> Trace:
    """Load a whole trace; tolerant of a missing footer or torn last line.

    Raises:
        TraceError: the file has no header or holds invalid records.
    """
    header: TraceHeader | None = None
    turns: list[TurnRecord] = []
    steps: list[StepRecord] = []
    footer: TraceFooter | None = None
    for rec in iter_records(url, storage_options):
        if isinstance(rec, TraceHeader):
            header = rec
        elif isinstance(rec, TurnRecord):
            turns.append(rec)
        elif isinstance(rec, StepRecord):
            steps.append(rec)
        else:
            footer = rec
    if header is None:
        raise TraceError(f"{url}: no header record")
    return Trace(url=url, header=header, turns=turns, steps=steps, footer=footer)


def list_traces(url: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Every ``*.jsonl`` / ``*.jsonl.gz`` trace below a directory URL, sorted, as URLs."""
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    every = fs.find(root)
    found = {p for p in every if p.endswith((".jsonl", ".jsonl.gz"))}
    for p in every:  # traces whose writer never closed them (object stores)
        name, sep, num = p.rpartition(_PART)
        if sep and num.isdigit() and name.endswith((".jsonl", ".jsonl.gz")):
            found.add(name)
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if proto in ("file", "local") else f"{proto}://"
    return sorted(prefix + p for p in found)
