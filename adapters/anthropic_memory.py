"""Anthropic: a backend for the Messages API memory tool on any MemoryStore.

:class:`AutomemMemoryTool` subclasses the ``anthropic`` SDK's ``BetaAbstractMemoryTool``
(tool type ``memory_20250818``; commands view, create, str_replace, insert, delete,
rename; every path under ``/memories``), so it runs in
``client.beta.messages.tool_runner(...)``. Compared with the SDK's local-filesystem
example it adds any fsspec store (``file://``, ``s3://``, ``memory://``), the store's
sandbox (``..``, ``%XX`` escapes, absolute paths and symlinks out of the root are
refused), size limits and the journal (every change can be listed, diffed and rolled
back). Result and error texts follow the wording the memory tool documents.

:func:`automem_op_tools` exposes automem's own ops (``memory_search``, ``memory_upsert``,
...) as runnable Anthropic tools for the same runner.

Requires the ``[anthropic]`` extra.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from anthropic.lib.tools import (
    BetaAbstractMemoryTool,
    BetaAsyncAbstractMemoryTool,
    BetaBuiltinFunctionTool,
    ToolError,
)
from anthropic.types.beta import (
    BetaMemoryTool20250818CreateCommand,
    BetaMemoryTool20250818DeleteCommand,
    BetaMemoryTool20250818InsertCommand,
    BetaMemoryTool20250818RenameCommand,
    BetaMemoryTool20250818StrReplaceCommand,
    BetaMemoryTool20250818ViewCommand,
)
from automem_sdk.adapters.mcp_trace import CallRecorder
from pydantic import ValidationError

from automem_sdk.errors import (
    AutomemError,
    MemoryConflictError,
    MemoryNotFoundError,
    MemoryPathError,
)
from automem_sdk.ops import execute_op
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.scopes import StoreScopes
from automem_sdk.tools import MAX_TOOL_ARGUMENT_BYTES, anthropic_tool_schemas, op_from_tool_call

if TYPE_CHECKING:
    from anthropic.types.beta import BetaCacheControlEphemeralParam, BetaToolParam

    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import TraceWriter

__all__ = [
    "MEMORY_ROOT",
    "AsyncAutomemMemoryTool",
    "AutomemMemoryTool",
    "AutomemOpTool",
    "automem_op_tools",
]

MEMORY_ROOT = "/memories"
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
)
MAX_LINES = 999_999
_NUM_WIDTH = len(str(MAX_LINES))

_COMMANDS: dict[str, Any] = {
    "view": BetaMemoryTool20250818ViewCommand,
    "create": BetaMemoryTool20250818CreateCommand,
    "str_replace": BetaMemoryTool20250818StrReplaceCommand,
    "insert": BetaMemoryTool20250818InsertCommand,
    "delete": BetaMemoryTool20250818DeleteCommand,
    "rename": BetaMemoryTool20250818RenameCommand,
}
_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "view": {"path": str},
    "create": {"path": str, "file_text": str},
    "str_replace": {"path": str, "old_str": str, "new_str": str},
    "insert": {"path": str, "insert_line": int, "insert_text": str},
    "delete": {"path": str},
    "rename": {"old_path": str, "new_path": str},
}


def _format_size(n: int) -> str:
    """Sizes as the SDK's local example prints them (``0B``, ``512B``, ``1.5K``)."""
    if n == 0:
        return "0B"
    units = ["B", "K", "M", "G"]
    i = min((n.bit_length() - 1) // 10, len(units) - 1)
    size = n / (1024**i)
    return f"{int(size)}{units[i]}" if size == int(size) else f"{size:.1f}{units[i]}"


def _escapes(rel: str) -> bool:
    """Whether ``rel`` (the part after ``/memories/``), URL-decoded, climbs out of the root."""
    decoded = rel
    for _ in range(3):  # %252e -> %2e -> .
        decoded = unquote(decoded)
    decoded = decoded.replace("\\", "/")
    if decoded.startswith("/"):
        return True
    return posixpath.normpath("/r/" + decoded).split("/")[1:2] != ["r"]


_NAME_HINT = (
    "use letters, digits, spaces and . - _ ( ) , ' in names, '/' between them "
    "(no * ? [ ] \\, no %XX escapes, no name starting with ~)"
)


def _suggest(rel: str, max_name: int) -> str:
    """A close path (relative, without ``/memories``) for the refusal message."""
    out: list[str] = []
    for seg in rel.replace("\\", "/").split("/"):
        seg = unquote(seg).replace("[", "(").replace("]", ")")
        seg = "".join(ch for ch in seg if ch not in "*?%" and ch.isprintable())
        seg = seg.lstrip("~").strip()
        if not seg or set(seg) == {"."}:
            continue
        stem, dot, ext = seg.rpartition(".") if "." in seg[1:] else (seg, "", "")
        if stem.upper() in _DEVICES:
            stem += "-notes"
        while len((stem + dot + ext).encode("utf-8")) > max_name and stem:
            stem = stem[:-1]
        out.append(stem.rstrip() + dot + ext)
    return "/".join(out) or "notes.md"


def _store_error(shown: str, exc: AutomemError) -> ToolError:
    """A store refusal (a limit, a conflict, a read-only store) as the model's tool error."""
    return ToolError(f"Cannot change {shown}: {exc}")


class AutomemMemoryTool(BetaAbstractMemoryTool):
    """The Anthropic memory tool (``memory_20250818``) backed by a :class:`MemoryStore`.

    ``/memories/notes.md`` is the store's ``notes.md``; directories are path prefixes.
    Every result and error text is the one the SDK's ``BetaLocalFilesystemMemoryTool``
    returns for the same command (Claude is trained on them); what the store refuses on
    purpose (glob characters, ``%XX`` escapes, limits) comes back saying what to use.

    Args:
        store: the memory store, an fsspec URL, or a :class:`~automem_sdk.scopes.StoreScopes`.
        storage_options: fsspec options when ``store`` is a URL.
        namespace: e.g. ``"users/{user_id}"``: this tool serves the namespace filled from
            ``scope`` (a sandboxed sub-root of ``store``'s URL); see :meth:`scoped`.
        scope: the values that fill the namespace (``{"user_id": "alice"}``).
        max_input_bytes: a tool call whose JSON input is larger is refused.
        cache_control: passed to the tool definition (prompt caching).
        trace: a trace URL or writer: every call becomes one turn there (as the MCP
            server records them); call :meth:`finish` at the end.
        trace_storage_options: fsspec options for the trace URL.
        conversation_id: the conversation the calls belong to (set the attribute per
            conversation); recorded so outcomes find the calls
            (:mod:`automem_sdk.outcomes`).

    Raises:
        AutomemError: a namespace key is missing from ``scope`` (never a fall back to
            shared memory), or ``namespace`` with a store object.

    Example:
        >>> import anthropic  # doctest: +SKIP
        >>> runner = anthropic.Anthropic().beta.messages.tool_runner(  # doctest: +SKIP
        ...     model="claude-sonnet-4-5", max_tokens=1024,
        ...     tools=[AutomemMemoryTool("s3://bucket/agent-memory")],
        ...     messages=[{"role": "user", "content": "Remember that I like tea."}])
    """

    def __init__(
        self,
        store: MemoryStore | StoreScopes | str,
        *,
        storage_options: dict[str, Any] | None = None,
        namespace: str | None = None,
        scope: Mapping[str, Any] | None = None,
        max_input_bytes: int = MAX_TOOL_ARGUMENT_BYTES,
        cache_control: BetaCacheControlEphemeralParam | None = None,
        trace: str | TraceWriter | CallRecorder | None = None,
        trace_storage_options: dict[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> None:
        super().__init__(cache_control=cache_control)
        self._cache_control = cache_control
        self.scopes: StoreScopes | None = None
        if isinstance(store, str) and namespace:
            store = StoreScopes(store, namespace, storage_options=storage_options)
        elif namespace:
            raise AutomemError(
                "namespace= needs the store's URL (and storage_options) or a StoreScopes, "
                "so each namespace is opened as its own store"
            )
        if isinstance(store, StoreScopes):
            self.scopes = store
            store = store.get(scope or {})
        elif isinstance(store, str):
            from automem_sdk.store import MemoryStore

            store = MemoryStore(store, storage_options)
        self.store: MemoryStore = store
        self.max_input_bytes = max_input_bytes
        self.conversation_id = conversation_id
        self.namespace = self.scopes.namespace(dict(scope or {})) if self.scopes is not None else ""
        self.recorder: CallRecorder | None = None
        if isinstance(trace, CallRecorder):
            self.recorder = trace
        elif trace is not None:
            self.recorder = CallRecorder(
                trace,
                load_scaffold("generic"),
                str(getattr(self.store, "url", "")),
                config={"adapter": "anthropic_memory_tool", "namespace": namespace or ""},
                storage_options=trace_storage_options,
            )

    def scoped(self, **values: Any) -> AutomemMemoryTool:
        """The same tool for another namespace (``tool.scoped(user_id="bob")``).

        Raises:
            AutomemError: the tool has no namespace, or a key is missing.
        """
        if self.scopes is None or not self.scopes.scoped:
            raise AutomemError("scoped() needs a tool made with namespace=")
        return AutomemMemoryTool(
            self.scopes,
            scope=values,
            max_input_bytes=self.max_input_bytes,
            cache_control=self._cache_control,
            trace=self.recorder,
            conversation_id=self.conversation_id,
        )

    def finish(self) -> None:
        """Write the trace footer and close a trace this tool opened (idempotent)."""
        if self.recorder is not None:
            self.recorder.close()

    # ------------------------------------------------------------------ input
    def call(self, input: object) -> str:
        """Validate one tool call's input and run the command (and trace it, with the
        tool's ``conversation_id``, when the tool has a trace).

        Raises:
            ToolError: the input is malformed or the command failed (the runner sends
                the text back to the model with ``is_error: true``).
        """
        if self.recorder is None:
            return self._call(input)
        from automem_sdk.adapters.mcp_claude import claude_op

        from automem_sdk.ops import MUTATING_OPS, InvalidOp, OpResult

        args = dict(input) if isinstance(input, dict) else {"input": repr(input)[:300]}
        op = (
            claude_op(self.store, args)
            if isinstance(input, dict)
            else InvalidOp(raw=repr(input)[:300], error="input is not an object")
        )
        try:
            text = self._call(input)
        except ToolError as exc:
            msg = exc.content if isinstance(exc.content, str) else str(exc)
            result = OpResult(op=op.op, ok=False, text=msg, error=msg)
            self.recorder.record(
                "memory", args, "claude", self.namespace, op, result,
                conversation_id=self.conversation_id,
            )  # fmt: skip
            raise
        result = OpResult(op=op.op, ok=True, text=text, changed=op.op in MUTATING_OPS)
        self.recorder.record(
            "memory", args, "claude", self.namespace, op, result,
            conversation_id=self.conversation_id,
        )  # fmt: skip
        return text

    def _call(self, input: object) -> str:
        if not isinstance(input, dict):
            raise ToolError(f"The memory tool input must be an object, got {input!r:.80}")
        size = len(json.dumps(input, default=str).encode())
        if size > self.max_input_bytes:
            raise ToolError(
                f"The memory tool input is {size} bytes; the limit is {self.max_input_bytes} bytes"
            )
        command = input.get("command")
        if command not in _COMMANDS:
            raise ToolError(f"Unknown command: {command}. Expected one of: {', '.join(_COMMANDS)}")
        problems = []
        for name, typ in _FIELDS[command].items():
            value = input.get(name)
            if value is None:
                problems.append(f"missing '{name}'")
            elif not isinstance(value, typ) or isinstance(value, bool):
                problems.append(f"'{name}' must be {getattr(typ, '__name__', typ)}")
        view_range = input.get("view_range")
        if command == "view" and view_range is not None and not _is_range(view_range):
            problems.append("'view_range' must be [start_line, end_line] (integers)")
        if problems:
            raise ToolError(f"Invalid {command} command: {'; '.join(problems)}")
        try:
            parsed = _COMMANDS[command].model_validate(input)
        except ValidationError as exc:  # pragma: no cover - the checks above come first
            raise ToolError(f"Invalid {command} command: {exc}") from exc
        result = self.execute(parsed)
        assert isinstance(result, str)
        return result

    # ------------------------------------------------------------------ paths
    def _rel(self, path: str) -> str:
        """The store path for a ``/memories/...`` path (``""`` for the root itself).

        ``a/../b.md`` inside ``/memories`` is ``b.md`` (as in the reference); a path
        that leaves ``/memories`` is refused.

        Raises:
            ToolError: the path is outside ``/memories`` or the store refuses the name.
        """
        if path != MEMORY_ROOT and not path.startswith(MEMORY_ROOT + "/"):
            raise ToolError(f"Path must start with /memories, got: {path}")
        rel = path[len(MEMORY_ROOT) :].strip("/")
        if not rel:
            return ""
        if _escapes(rel):
            raise ToolError(f"Path {path} would escape /memories directory")
        rel = posixpath.normpath(rel)
        if rel == ".":
            return ""
        try:
            return self.store.normalize(rel)
        except MemoryPathError as exc:
            if "symlink" in str(exc):
                raise ToolError(f"Path {path} would escape /memories directory") from exc
            reason = str(exc).split(": ", 1)[-1]
            if rel.startswith("~"):  # the store refuses it as a home-relative path
                reason = "a path may not start with '~'"
            hint = f"The path {path} cannot be used: {reason}. To name memory files, {_NAME_HINT}"
            suggestion = _suggest(rel, self.store.limits.max_name_len)
            try:
                self.store.normalize(suggestion)
            except MemoryPathError:
                raise ToolError(hint) from exc
            raise ToolError(f"{hint}; for example {MEMORY_ROOT}/{suggestion}") from exc

    def _under(self, rel: str) -> list[str]:
        """Files under the directory ``rel`` (``""`` = all)."""
        files = self.store.list()
        if not rel:
            return files
        return [f for f in files if f.startswith(rel + "/")]

    def _is_file(self, rel: str) -> bool:
        return bool(rel) and self.store.exists(rel)

    # --------------------------------------------------------------- commands
    def view(self, command: BetaMemoryTool20250818ViewCommand) -> str:
        """A directory listing (two levels deep) or a file with line numbers."""
        rel = self._rel(command.path)
        if self._is_file(rel):
            return self._view_file(command, rel)
        under = self._under(rel)
        if rel and not under:
            raise ToolError(f"The path {command.path} does not exist. Please provide a valid path.")
        sizes = {p: size for p, (_sha, size) in self.store.manifest().items()}
        tree: dict[str, Any] = {}
        for f in under:
            node = tree
            parts = (f[len(rel) + 1 :] if rel else f).split("/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = sizes.get(f, 0)

        def total(node: Any) -> int:
            if isinstance(node, int):
                return node
            return sum(total(v) for k, v in node.items() if not k.startswith("."))

        items: list[tuple[int, str]] = []

        def collect(node: dict[str, Any], prefix: str, depth: int) -> None:
            for name in sorted(node):
                if name.startswith("."):
                    continue
                child, shown = node[name], f"{prefix}/{name}" if prefix else name
                if isinstance(child, dict):
                    items.append((total(child), f"{shown}/"))
                    if depth < 2:
                        collect(child, shown, depth + 1)
                else:
                    items.append((child, shown))

        collect(tree, "", 1)
        header = (
            f"Here're the files and directories up to 2 levels deep in {command.path}, "
            "excluding hidden items:"
        )
        lines = [f"{_format_size(total(tree))}\t{command.path}"]
        lines += [f"{_format_size(size)}\t{command.path}/{shown}" for size, shown in items]
        return header + "\n" + "\n".join(lines)

    def _view_file(self, command: BetaMemoryTool20250818ViewCommand, rel: str) -> str:
        lines = self._read(command.path, rel).split("\n")
        if len(lines) > MAX_LINES:
            raise ToolError(f"File {command.path} exceeds maximum line limit of 999,999 lines.")
        start = 1
        rng = command.view_range
        if rng and len(rng) == 2:
            first = max(1, rng[0]) - 1
            last = len(lines) if rng[1] == -1 else rng[1]
            lines = lines[first:last]
            start = first + 1
        numbered = [f"{str(i + start).rjust(_NUM_WIDTH)}\t{ln}" for i, ln in enumerate(lines)]
        return f"Here's the content of {command.path} with line numbers:\n" + "\n".join(numbered)

    def _read(self, shown: str, rel: str) -> str:
        try:
            return self.store.read(rel)
        except MemoryNotFoundError as exc:
            raise ToolError(
                f"The file {shown} no longer exists (may have been deleted or renamed "
                "concurrently)."
            ) from exc
        except AutomemError as exc:
            raise ToolError(f"Cannot read {shown}: {exc}") from exc

    def create(self, command: BetaMemoryTool20250818CreateCommand) -> str:
        """Create a new file; an existing file is not overwritten."""
        rel = self._rel(command.path)
        if not rel or self._under(rel):
            raise ToolError(f"File {command.path} already exists")
        try:
            self.store.create(rel, command.file_text)
        except MemoryConflictError as exc:
            if self.store.exists(rel):
                raise ToolError(f"File {command.path} already exists") from exc
            raise _store_error(command.path, exc) from exc
        except AutomemError as exc:
            raise _store_error(command.path, exc) from exc
        return f"File created successfully at: {command.path}"

    def _existing_file(self, path: str) -> str:
        rel = self._rel(path)
        if not self._is_file(rel):
            if rel == "" or self._under(rel):
                raise ToolError(f"The path {path} is not a file.")
            raise ToolError(f"The path {path} does not exist. Please provide a valid path.")
        return rel

    def str_replace(self, command: BetaMemoryTool20250818StrReplaceCommand) -> str:
        """Replace one unique occurrence of ``old_str``; show the edited lines.

        The check and the edit run as one store transaction (``MemoryStore.update``), so
        concurrent edits of one file never lose each other's changes.
        """
        rel = self._existing_file(command.path)
        old = command.old_str
        edited: dict[str, Any] = {}

        def edit(content: str | None) -> str:
            if content is None:
                raise ToolError(
                    f"The file {command.path} no longer exists (may have been deleted or "
                    "renamed concurrently)."
                )
            count = content.count(old)
            if count == 0:
                raise ToolError(
                    f"No replacement was performed, old_str `{old}` did not appear verbatim "
                    f"in {command.path}."
                )
            if count > 1:
                found, pos = [], content.find(old)
                while pos != -1:
                    found.append(str(content[:pos].count("\n") + 1))
                    pos = content.find(old, pos + 1)
                raise ToolError(
                    f"No replacement was performed. Multiple occurrences of old_str `{old}` "
                    f"in lines: {', '.join(found)}. Please ensure it is unique"
                )
            edited["at"] = content[: content.find(old)].count("\n")
            edited["text"] = content.replace(old, command.new_str, 1)
            return str(edited["text"])

        self._update(command.path, rel, edit)
        at, new_lines = int(edited["at"]), str(edited["text"]).split("\n")
        lo, hi = max(0, at - 2), min(len(new_lines), at + 3)
        snippet = [f"{str(n).rjust(_NUM_WIDTH)}\t{new_lines[n - 1]}" for n in range(lo + 1, hi + 1)]
        return (
            "The memory file has been edited. Here is the snippet showing the change "
            "(with line numbers):\n" + "\n".join(snippet)
        )

    def _update(self, shown: str, rel: str, fn: Callable[[str | None], str]) -> None:
        try:
            self.store.update(rel, fn, op="write")
        except AutomemError as exc:
            raise _store_error(shown, exc) from exc

    def insert(self, command: BetaMemoryTool20250818InsertCommand) -> str:
        """Insert a line of text after line ``insert_line`` (0 = at the top), atomically."""
        rel = self._existing_file(command.path)

        def edit(content: str | None) -> str:
            if content is None:
                raise ToolError(
                    f"The file {command.path} no longer exists (may have been deleted or "
                    "renamed concurrently)."
                )
            lines = content.split("\n")
            if lines[-1] == "":
                lines.pop()
            n = command.insert_line
            if n < 0 or n > len(lines):
                raise ToolError(
                    f"Invalid `insert_line` parameter: {n}. It should be within the range "
                    f"[0, {len(lines)}]."
                )
            lines.insert(n, command.insert_text.rstrip("\n"))
            new_content = "\n".join(lines)
            return new_content if new_content.endswith("\n") else new_content + "\n"

        self._update(command.path, rel, edit)
        return f"The file {command.path} has been edited."

    def delete(self, command: BetaMemoryTool20250818DeleteCommand) -> str:
        """Delete a file or a whole directory (one journal version)."""
        rel = self._rel(command.path)
        if not rel:
            raise ToolError("Cannot delete the /memories directory itself")
        targets = [rel] if self._is_file(rel) else self._under(rel)
        if not targets:
            raise ToolError(f"The path {command.path} does not exist")
        try:
            with self.store.batch():
                for t in targets:
                    self.store.delete(t)
        except AutomemError as exc:
            raise _store_error(command.path, exc) from exc
        return f"Successfully deleted {command.path}"

    def rename(self, command: BetaMemoryTool20250818RenameCommand) -> str:
        """Rename or move a file or a directory (one journal version)."""
        src = self._rel(command.old_path)
        dst = self._rel(command.new_path)
        if not src:
            raise ToolError("Cannot rename the /memories directory itself")
        if not dst or self._is_file(dst) or self._under(dst):
            raise ToolError(f"The destination {command.new_path} already exists")
        moves = (
            [(src, dst)]
            if self._is_file(src)
            else [(f, dst + f[len(src) :]) for f in self._under(src)]
        )
        if not moves:
            raise ToolError(f"The path {command.old_path} does not exist")
        if dst.startswith(src + "/"):
            raise ToolError(f"Cannot move {command.old_path} into itself ({command.new_path})")
        try:
            with self.store.batch():
                for s, d in moves:
                    self.store.rename(s, d)
        except AutomemError as exc:
            raise _store_error(command.old_path, exc) from exc
        return f"Successfully renamed {command.old_path} to {command.new_path}"

    def clear_all_memory(self) -> str:
        """Delete every memory file (the journal keeps them restorable)."""
        with self.store.batch():
            for f in self.store.list():
                self.store.delete(f)
        return "All memory cleared"


def _is_range(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


class AsyncAutomemMemoryTool(BetaAsyncAbstractMemoryTool):
    """The async variant of :class:`AutomemMemoryTool` (for ``AsyncAnthropic``).

    Store calls run in a worker thread.

    Args:
        store: the memory store, an fsspec URL, or a :class:`~automem_sdk.scopes.StoreScopes`.
        storage_options: fsspec options when ``store`` is a URL.
        namespace: a namespace template, filled from ``scope`` (see :class:`AutomemMemoryTool`).
        scope: the values that fill the namespace.
        max_input_bytes: a tool call whose JSON input is larger is refused.
        cache_control: passed to the tool definition (prompt caching).
        trace: a trace URL or writer (see :class:`AutomemMemoryTool`).
        trace_storage_options: fsspec options for the trace URL.
        conversation_id: the conversation the calls belong to (the ``conversation_id``
            attribute of :attr:`sync`).

    Raises:
        AutomemError: a namespace key is missing from ``scope``.
    """

    def __init__(
        self,
        store: MemoryStore | StoreScopes | str,
        *,
        storage_options: dict[str, Any] | None = None,
        namespace: str | None = None,
        scope: Mapping[str, Any] | None = None,
        max_input_bytes: int = MAX_TOOL_ARGUMENT_BYTES,
        cache_control: BetaCacheControlEphemeralParam | None = None,
        trace: str | TraceWriter | CallRecorder | None = None,
        trace_storage_options: dict[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> None:
        super().__init__(cache_control=cache_control)
        self.sync = AutomemMemoryTool(
            store,
            storage_options=storage_options,
            namespace=namespace,
            scope=scope,
            max_input_bytes=max_input_bytes,
            trace=trace,
            trace_storage_options=trace_storage_options,
            conversation_id=conversation_id,
        )
        self.store = self.sync.store
        self._cache_control = cache_control

    def scoped(self, **values: Any) -> AsyncAutomemMemoryTool:
        """The same tool for another namespace (see :meth:`AutomemMemoryTool.scoped`).

        Raises:
            AutomemError: the tool has no namespace, or a key is missing.
        """
        scopes = self.sync.scopes
        if scopes is None or not scopes.scoped:
            raise AutomemError("scoped() needs a tool made with namespace=")
        return AsyncAutomemMemoryTool(
            scopes,
            scope=values,
            max_input_bytes=self.sync.max_input_bytes,
            cache_control=self._cache_control,
            trace=self.sync.recorder,
            conversation_id=self.sync.conversation_id,
        )

    def finish(self) -> None:
        """Write the trace footer and close a trace this tool opened (idempotent)."""
        self.sync.finish()

    async def call(self, input: object) -> str:
        """Validate and run one command in a worker thread (see :meth:`AutomemMemoryTool.call`)."""
        from anyio.to_thread import run_sync

        return await run_sync(self.sync.call, input)

    async def view(self, command: BetaMemoryTool20250818ViewCommand) -> str:
        """See :meth:`AutomemMemoryTool.view`."""
        return self.sync.view(command)

    async def create(self, command: BetaMemoryTool20250818CreateCommand) -> str:
        """See :meth:`AutomemMemoryTool.create`."""
        return self.sync.create(command)

    async def str_replace(self, command: BetaMemoryTool20250818StrReplaceCommand) -> str:
        """See :meth:`AutomemMemoryTool.str_replace`."""
        return self.sync.str_replace(command)

    async def insert(self, command: BetaMemoryTool20250818InsertCommand) -> str:
        """See :meth:`AutomemMemoryTool.insert`."""
        return self.sync.insert(command)

    async def delete(self, command: BetaMemoryTool20250818DeleteCommand) -> str:
        """See :meth:`AutomemMemoryTool.delete`."""
        return self.sync.delete(command)

    async def rename(self, command: BetaMemoryTool20250818RenameCommand) -> str:
        """See :meth:`AutomemMemoryTool.rename`."""
        return self.sync.rename(command)

    async def clear_all_memory(self) -> str:
        """See :meth:`AutomemMemoryTool.clear_all_memory`."""
        return self.sync.clear_all_memory()


class AutomemOpTool(BetaBuiltinFunctionTool):
    """One automem op (``memory_search``, ``memory_upsert``, ...) as a runnable Anthropic tool.

    Args:
        store: the memory store.
        schema: the tool's ``{"name", "description", "input_schema"}``.
        scaffold: resolves custom ops and the enabled vocabulary.
    """

    def __init__(
        self, store: MemoryStore, schema: dict[str, Any], scaffold: Scaffold | None = None
    ) -> None:
        self.store = store
        self.schema = schema
        self.scaffold = scaffold

    def to_dict(self) -> BetaToolParam:
        """The tool definition sent to the API."""
        return {
            "name": self.schema["name"],
            "description": self.schema["description"],
            "input_schema": self.schema["input_schema"],
        }

    def call(self, input: object) -> str:
        """Run the op.

        Raises:
            ToolError: the call was malformed or the op failed (the text says why).
        """
        args: Any = input if isinstance(input, dict) else json.dumps(input, default=str)
        op = op_from_tool_call(self.schema["name"], args, self.scaffold)
        result = execute_op(self.store, op, self.scaffold)
        if not result.ok:
            raise ToolError(result.text)
        return result.text


def automem_op_tools(
    store: MemoryStore | str,
    scaffold: Scaffold | str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    actions: Sequence[str] | None = None,
    include_action: bool = False,
) -> list[AutomemOpTool]:
    """automem's ops as runnable Anthropic tools for ``tool_runner(tools=[...])``.

    Args:
        store: the memory store, or an fsspec URL for one.
        scaffold: enabled ops and custom ops (``None`` = every primitive op).
        storage_options: fsspec options when ``store`` is a URL.
        actions: task actions for the ``action`` tool.
        include_action: also return the ``action`` tool (its result only echoes the
            action; your loop reads it from the tool call).

    Returns:
        One tool per enabled op.
    """
    if isinstance(store, str):
        from automem_sdk.store import MemoryStore

        store = MemoryStore(store, storage_options)
    sc = load_scaffold(scaffold) if isinstance(scaffold, str) else scaffold
    return [
        AutomemOpTool(store, schema, sc)
        for schema in anthropic_tool_schemas(sc, actions, include_action=include_action)
    ]
