"""Memory operations: one spec table, a pydantic discriminated union, and their execution.

:data:`OP_SPECS` is the single list of ops: name, token, argument fields in order,
required count, description and kind (reads, mutates or control). The token codec
(:mod:`automem_sdk.codec`), the tool schemas (:mod:`automem_sdk.tools`), the LangChain
tools, the scaffold's ``describe_ops``/``op_tokens`` (and so the restricted op grammars)
and the docs derive from it.

Every op returns an :class:`OpResult` with text for the model and structured fields for
code. Mistakes the *agent* made (a missing file, a bad argument, a limit, a path escape)
come back as ``ok=False`` results; only bugs in our own code raise. The rules an op runs
under (the enabled vocabulary, file size caps, custom op definitions) come from an
:class:`OpRules` object, such as a :class:`~automem_sdk.scaffold.Scaffold`; this module
knows nothing of scaffolds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from automem_sdk.errors import AutomemError
from automem_sdk.op_handlers import (
    run_action,
    run_append,
    run_count,
    run_create,
    run_delete,
    run_done,
    run_head,
    run_insert,
    run_invalid,
    run_list,
    run_read,
    run_rename,
    run_replace,
    run_search,
    run_tail,
    run_upsert,
    run_write,
)
from automem_sdk.op_models import (
    MAX_LINES,
    ActionOp,
    AppendOp,
    CountOp,
    CreateOp,
    CustomOp,
    DeleteOp,
    DoneOp,
    HeadOp,
    InsertOp,
    InvalidOp,
    ListOp,
    MemoryOp,
    OpResult,
    ReadOp,
    RenameOp,
    ReplaceOp,
    SearchOp,
    TailOp,
    UpsertOp,
    WriteOp,
    error_result,
    op_adapter,
    op_from_dict,
)

if TYPE_CHECKING:
    from automem_sdk.store import MemoryStore

__all__ = [
    "MAX_LINES",
    "MEMORY_OP_NAMES",
    "MUTATING_OPS",
    "OP_SPECS",
    "READING_OPS",
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
    "OpKind",
    "OpResult",
    "OpRules",
    "OpSpec",
    "ReadOp",
    "RenameOp",
    "ReplaceOp",
    "SearchOp",
    "TailOp",
    "UpsertOp",
    "WriteOp",
    "error_result",
    "execute_op",
    "op_adapter",
    "op_from_dict",
    "op_spec",
    "spec_for_token",
]


class OpRules(Protocol):
    """What :func:`execute_op` needs to know beyond the op: a scaffold satisfies it.

    ``allows`` says whether a primitive op is enabled, ``file_cap`` gives the size cap
    of a (normalised) memory path, ``expand_custom`` turns a custom op into the
    primitives it stands for (raising :class:`~automem_sdk.errors.AutomemError` when it
    cannot).
    """

    def allows(self, op_name: str) -> bool:
        """Whether the op called ``op_name`` may run."""
        ...

    def file_cap(self, path: str) -> int | None:
        """The size cap in bytes of ``path``, if it has one."""
        ...

    def expand_custom(self, op: CustomOp) -> list[MemoryOp]:
        """The primitive ops ``op`` stands for."""
        ...


# -------------------------------------------------------------------- execution
MAX_CUSTOM_DEPTH = 3


def execute_op(
    store: MemoryStore,
    op: MemoryOp,
    rules: OpRules | None = None,
    *,
    _depth: int = 0,
) -> OpResult:
    """Run one op against a store.

    Agent mistakes (missing files, limits, path escapes, bad arguments) become
    ``ok=False`` results. ``done`` and ``action`` are control ops: they return an ok
    result and do not touch the store. A custom op is expanded with
    ``rules.expand_custom`` and its primitives run in order.

    Args:
        store: the memory store.
        op: the op to run.
        rules: the enabled vocabulary, file caps and custom op definitions (a
            :class:`~automem_sdk.scaffold.Scaffold`, or any :class:`OpRules`); ``None``
            runs every primitive without caps and refuses custom ops.

    Returns:
        The op's result.
    """
    name = op.op
    if isinstance(op, CustomOp):
        return _run_custom(store, op, rules, _depth)
    if rules is not None and name in MEMORY_OP_NAMES and not rules.allows(name):
        return error_result(name, f"op '{name}' is not enabled in this scaffold")
    spec = _SPECS[name]
    path: str | None = getattr(op, "path", None)
    try:
        cap = _file_cap(store, path, rules) if path and spec.kind == "mutate" else None
        if cap is not None and spec.replaces_content:
            size = len(str(getattr(op, "content", "")).encode())
            if size > cap:
                return error_result(
                    name,
                    f"{path} would grow to {size} bytes, over its cap of {cap}; "
                    "summarise or replace old lines instead",
                    path,
                )
        return spec.run(store, op, cap)
    except AutomemError as exc:
        return error_result(name, str(exc), path)


def _run_custom(store: MemoryStore, op: CustomOp, rules: OpRules | None, depth: int) -> OpResult:
    if rules is None:
        return error_result("custom", f"unknown op '{op.name}' (no scaffold declares it)")
    if depth > MAX_CUSTOM_DEPTH:
        return error_result("custom", f"custom op '{op.name}' nests too deeply")
    try:
        steps = rules.expand_custom(op)
    except AutomemError as exc:
        return error_result(op.name.lower(), str(exc))
    results = [execute_op(store, s, rules, _depth=depth + 1) for s in steps]
    return OpResult(
        op=op.name.lower(),
        ok=all(r.ok for r in results),
        text="\n".join(r.text for r in results),
        path=next((r.path for r in results if r.path), None),
        error=next((r.error for r in results if r.error), None),
        changed=any(r.changed for r in results),
        version=max((r.version for r in results if r.version is not None), default=None),
        data={"steps": [r.model_dump() for r in results]},
    )


def _file_cap(store: MemoryStore, path: str, rules: OpRules | None) -> int | None:
    """The size cap of ``path`` (looked up on the normalised path), if any."""
    if rules is None:
        return None
    try:
        norm = store.normalize(path)
    except AutomemError:
        return None
    return rules.file_cap(norm)


# ------------------------------------------------------------------- spec table
OpKind = Literal["read", "mutate", "control"]


@dataclass(frozen=True)
class OpSpec:
    """One row of :data:`OP_SPECS`: everything the codecs, tools and docs know of an op.

    Attributes:
        name: the op's ``op`` value (``"read"``).
        token: its token name in the text syntax (``"READ"``).
        fields: argument fields in token order (``path|key|value``).
        required: how many leading fields the token syntax requires.
        description: one sentence for tool schemas and docs.
        kind: ``read`` (looks at memory), ``mutate`` (changes it) or ``control``.
        model: the pydantic class of the op.
        run: executes the op: ``(store, op, file cap or None) -> OpResult``.
        replaces_content: the op sets a file's whole content (its size is checked
            against the cap up front; ops that grow a file are checked inside the
            store's critical section).
    """

    name: str
    token: str
    fields: tuple[str, ...]
    required: int
    description: str
    kind: OpKind
    model: type[BaseModel]
    run: Callable[[MemoryStore, Any, int | None], OpResult] = field(repr=False)
    replaces_content: bool = False

    def default(self, field_name: str) -> str | None:
        """A field's default as the token syntax writes it (``None``: it has none)."""
        info = self.model.model_fields[field_name]
        if info.default is PydanticUndefined:
            return None
        return "" if info.default is None else str(info.default)


OP_SPECS: tuple[OpSpec, ...] = (
    OpSpec("read", "READ", ("path",), 1, "Read a whole memory file.", "read", ReadOp, run_read),
    OpSpec(
        "head",
        "HEAD",
        ("path", "n"),
        1,
        "Read the first n lines of a memory file.",
        "read",
        HeadOp,
        run_head,
    ),
    OpSpec(
        "tail",
        "TAIL",
        ("path", "n"),
        1,
        "Read the last n lines of a memory file.",
        "read",
        TailOp,
        run_tail,
    ),
    OpSpec(
        "search",
        "SEARCH",
        ("path", "query"),
        1,
        "Find lines containing a keyword (case-insensitive) in one file, "
        "or all files if path is omitted.",
        "read",
        SearchOp,
        run_search,
    ),
    OpSpec(
        "count",
        "COUNT",
        ("path", "query"),
        1,
        "Count the lines of a file (that contain query, if given).",
        "read",
        CountOp,
        run_count,
    ),
    OpSpec(
        "list",
        "LIST",
        ("prefix",),
        0,
        "List memory files under a prefix.",
        "read",
        ListOp,
        run_list,
    ),
    OpSpec(
        "write",
        "WRITE",
        ("path", "content"),
        2,
        "Replace a memory file's whole content (creates it).",
        "mutate",
        WriteOp,
        run_write,
        replaces_content=True,
    ),
    OpSpec(
        "append",
        "APPEND",
        ("path", "content"),
        2,
        "Append one note line to a memory file (creates it).",
        "mutate",
        AppendOp,
        run_append,
    ),
    OpSpec(
        "create",
        "CREATE",
        ("path", "content"),
        1,
        "Create a new memory file; fails if it exists.",
        "mutate",
        CreateOp,
        run_create,
        replaces_content=True,
    ),
    OpSpec(
        "upsert",
        "UPSERT",
        ("path", "key", "value"),
        3,
        "Set the keyed line 'key: value' in a file (replaces the key's line or appends it).",
        "mutate",
        UpsertOp,
        run_upsert,
    ),
    OpSpec(
        "replace",
        "REPLACE",
        ("path", "old", "new"),
        3,
        "Replace one exact, unique occurrence of old text with new text.",
        "mutate",
        ReplaceOp,
        run_replace,
    ),
    OpSpec(
        "insert",
        "INSERT",
        ("path", "line", "content"),
        3,
        "Insert text before a 1-based line number (0 appends).",
        "mutate",
        InsertOp,
        run_insert,
    ),
    OpSpec(
        "delete", "DELETE", ("path",), 1, "Delete a memory file.", "mutate", DeleteOp, run_delete
    ),
    OpSpec(
        "rename",
        "RENAME",
        ("path", "dst"),
        2,
        "Rename a memory file.",
        "mutate",
        RenameOp,
        run_rename,
    ),
    OpSpec(
        "action",
        "ACTION",
        ("name",),
        1,
        "Commit the next task action (ends planning).",
        "control",
        ActionOp,
        run_action,
    ),
    OpSpec("done", "DONE", (), 0, "End the current routine.", "control", DoneOp, run_done),
    OpSpec(
        "invalid",
        "",
        (),
        0,
        "Model output that could not be parsed (not written by models).",
        "control",
        InvalidOp,
        run_invalid,
    ),
)
"""Every op, in the order prompts, tools and docs list them (``invalid`` has no token)."""

_SPECS: dict[str, OpSpec] = {s.name: s for s in OP_SPECS}
_BY_TOKEN: dict[str, OpSpec] = {s.token: s for s in OP_SPECS if s.token}

#: primitive memory ops (reads and mutations), in table order
MEMORY_OP_NAMES: tuple[str, ...] = tuple(s.name for s in OP_SPECS if s.kind != "control")
READING_OPS = frozenset(s.name for s in OP_SPECS if s.kind == "read")
MUTATING_OPS = frozenset(s.name for s in OP_SPECS if s.kind == "mutate")


def op_spec(name: str) -> OpSpec:
    """The spec of the op called ``name`` (``"read"``, ``"action"``, ...).

    Raises:
        KeyError: no such op (the message lists the known ones).
    """
    spec = _SPECS.get(name)
    if spec is None:
        raise KeyError(f"unknown op {name!r}; known: {list(_SPECS)}")
    return spec


def spec_for_token(token: str) -> OpSpec | None:
    """The spec whose token is ``token`` (upper case, e.g. ``"UPSERT"``), if any."""
    return _BY_TOKEN.get(token)
