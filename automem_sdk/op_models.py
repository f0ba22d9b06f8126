"""The memory op models: a pydantic discriminated union, and the result every op returns.

:mod:`automem_sdk.ops` holds the spec table over these models and runs them; import the
names from there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "ActionOp",
    "AppendOp",
    "CountOp",
    "CreateOp",
    "CustomOp",
    "DeleteOp",
    "DoneOp",
    "HeadOp",
    "InsertOp",
    "InvalidOp",
    "ListOp",
    "MemoryOp",
    "OpResult",
    "ReadOp",
    "RenameOp",
    "ReplaceOp",
    "SearchOp",
    "TailOp",
    "UpsertOp",
    "WriteOp",
    "error_result",
    "op_adapter",
    "op_from_dict",
]

MAX_LINES = 200


_STRIPPED = ("path", "dst", "prefix", "name", "key", "query")


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator(*_STRIPPED, mode="before", check_fields=False)
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v


class ReadOp(_Op):
    """Read a whole file."""

    op: Literal["read"] = "read"
    path: str


class HeadOp(_Op):
    """First ``n`` lines of a file."""

    op: Literal["head"] = "head"
    path: str
    n: int = Field(default=20, ge=1, le=MAX_LINES)


class TailOp(_Op):
    """Last ``n`` lines of a file."""

    op: Literal["tail"] = "tail"
    path: str
    n: int = Field(default=20, ge=1, le=MAX_LINES)


class SearchOp(_Op):
    """Lines containing ``query`` (case-insensitive), in one file or all files."""

    op: Literal["search"] = "search"
    query: str = Field(min_length=1)
    path: str | None = None

    @field_validator("path", mode="after")
    @classmethod
    def _all_files(cls, v: str | None) -> str | None:
        return None if v in ("", "*") else v


class CountOp(_Op):
    """Number of lines in a file (that contain ``query``, if given)."""

    op: Literal["count"] = "count"
    path: str
    query: str | None = None

    @field_validator("query", mode="after")
    @classmethod
    def _no_empty(cls, v: str | None) -> str | None:
        return v or None


class ListOp(_Op):
    """Files under a prefix."""

    op: Literal["list"] = "list"
    prefix: str = ""


class WriteOp(_Op):
    """Replace a file's whole content (creates it)."""

    op: Literal["write"] = "write"
    path: str
    content: str


class AppendOp(_Op):
    """Append a line (a newline is added when missing)."""

    op: Literal["append"] = "append"
    path: str
    content: str


class CreateOp(_Op):
    """Create a new file; fails if it exists."""

    op: Literal["create"] = "create"
    path: str
    content: str = ""


class UpsertOp(_Op):
    """Set the keyed line ``key: value`` (replaced if the key exists, else appended)."""

    op: Literal["upsert"] = "upsert"
    path: str
    key: str = Field(min_length=1)
    value: str


class ReplaceOp(_Op):
    """Replace one exact occurrence of ``old`` with ``new``."""

    op: Literal["replace"] = "replace"
    path: str
    old: str = Field(min_length=1)
    new: str


class InsertOp(_Op):
    """Insert text before 1-based ``line`` (0 or past the end appends)."""

    op: Literal["insert"] = "insert"
    path: str
    line: int = Field(ge=0)
    content: str


class DeleteOp(_Op):
    """Delete a file."""

    op: Literal["delete"] = "delete"
    path: str


class RenameOp(_Op):
    """Rename (move) a file."""

    op: Literal["rename"] = "rename"
    path: str
    dst: str


class DoneOp(_Op):
    """End the current routine."""

    op: Literal["done"] = "done"


class ActionOp(_Op):
    """Commit a task action (ends PLAN)."""

    op: Literal["action"] = "action"
    name: str


class CustomOp(_Op):
    """A scaffold-declared op composed of primitives (e.g. ``UPSERT_MAP``)."""

    op: Literal["custom"] = "custom"
    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    args: list[str] = Field(default_factory=list)

    @field_validator("name", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("args", mode="after")
    @classmethod
    def _no_lone_empty(cls, v: list[str]) -> list[str]:
        return [] if v == [""] else v


class InvalidOp(_Op):
    """A span of model output that could not be parsed; executing it reports the error."""

    op: Literal["invalid"] = "invalid"
    raw: str
    error: str


MemoryOp = Annotated[
    ReadOp
    | HeadOp
    | TailOp
    | SearchOp
    | CountOp
    | ListOp
    | WriteOp
    | AppendOp
    | CreateOp
    | UpsertOp
    | ReplaceOp
    | InsertOp
    | DeleteOp
    | RenameOp
    | DoneOp
    | ActionOp
    | CustomOp
    | InvalidOp,
    Field(discriminator="op"),
]


_ADAPTER: TypeAdapter[MemoryOp] = TypeAdapter(MemoryOp)


def op_adapter() -> TypeAdapter[MemoryOp]:
    """The pydantic adapter that validates any op dict into a :data:`MemoryOp`."""
    return _ADAPTER


def op_from_dict(data: dict[str, Any]) -> MemoryOp:
    """Validate a dict (e.g. a trace's ``ops`` entry) into an op.

    Raises:
        pydantic.ValidationError: the dict is not a valid op.
    """
    return _ADAPTER.validate_python(data)


class OpResult(BaseModel):
    """Outcome of one op: ``text`` for the model, the rest for code."""

    op: str
    ok: bool
    text: str
    path: str | None = None
    error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    changed: bool = False
    version: int | None = None


def error_result(op: str, message: str, path: str | None = None) -> OpResult:
    """The ``ok=False`` result the agent sees for a mistake: ``ERROR (op): message``."""
    return OpResult(op=op, ok=False, text=f"ERROR ({op}): {message}", path=path, error=message)
