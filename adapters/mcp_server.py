"""MCP: automem memory behind the Model Context Protocol, for any MCP client.

:class:`MemoryMCPServer` serves a :class:`~automem_sdk.store.MemoryStore` (local disk,
``s3://``, ``memory://``) with the official ``mcp`` SDK's low-level server:

- **tools**: one per op the scaffold enables (``memory_read``, ``memory_append``, ...,
  and the scaffold's custom ops), arguments = the op model's fields, descriptions from
  the scaffold and the op spec; optionally ``memory``, the six commands of Claude's
  memory tool (view, create, str_replace, insert, delete, rename), run by
  :class:`~automem_sdk.adapters.anthropic_memory.AutomemMemoryTool`;
- **resources**: every memory file (``automem://memory/<path>``) and the journal
  (``automem://journal`` for the whole store, ``automem://journal/<path>`` for one file);
- **prompts**: the scaffold's LOG and PLAN routines, filled with the current memory;
- **scoping**: a namespace template (``clients/{client_id}``) filled per request from
  the bearer token's identity, ``X-Automem-<Key>`` headers, the client's
  ``io.automem/scope`` extension settings, or fixed values (stdio); each namespace is its
  own sandboxed store;
- **traces**: every tool call becomes one :class:`~automem_sdk.trace.TurnRecord`
  (observe mode, see :mod:`.mcp_trace`) that ``automem trace show`` and
  ``automem train behavioral dataset`` read.

Bad input (malformed arguments, unknown tools, oversized payloads, path escapes, a
read-only or full store) is answered as a tool error (``isError: true``); the server
goes on serving. Run it with ``automem mcp URL`` (see :mod:`.mcp_cli`).

Requires the ``[mcp]`` extra.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import mcp_types as types
from automem_sdk.adapters.mcp_claude import (
    CLAUDE_DESCRIPTION,
    CLAUDE_TOOL,
    ClaudeTools,
    claude_tool_schema,
)
from automem_sdk.adapters.mcp_trace import CallRecorder
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions

from automem_sdk.errors import AutomemError
from automem_sdk.ops import InvalidOp, MemoryOp, OpResult, execute_op
from automem_sdk.outcomes import conversation_id_of
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.scopes import StoreScopes
from automem_sdk.tools import MAX_TOOL_ARGUMENT_BYTES, op_from_tool_call, tool_specs

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

    from automem_sdk.store import MemoryStore, StoreLimits
    from automem_sdk.trace import TraceWriter

__all__ = [
    "IDENTITY_HEADER",
    "JOURNAL_URI",
    "MEMORY_URI",
    "SCOPE_EXTENSION",
    "MemoryMCPServer",
]

#: URI prefix of memory files as resources.
MEMORY_URI = "automem://memory/"
#: URI of the journal (add ``/<path>`` for one file's history).
JOURNAL_URI = "automem://journal"
#: Client extension whose settings fill the namespace template (``ClientSession(extensions=...)``).
SCOPE_EXTENSION = "io.automem/scope"
#: Header the HTTP front sets to the verified bearer-token identity (a client's own is dropped).
IDENTITY_HEADER = "x-automem-identity"
_HEADER_PREFIX = "x-automem-"
_T = TypeVar("_T")
_PROMPT_ARGS = {
    "log": [
        ("observation", "what just happened (the exchange or observation to record)", True),
        ("step", "step number", False),
        ("last_action", "the action taken before this observation", False),
    ],
    "plan": [
        ("observation", "the current situation to plan for", True),
        ("step", "step number", False),
        ("actions", "the actions to choose from", False),
    ],
}


class _NotifyingServer(Server[Any]):
    """A low-level server that advertises ``resources.listChanged`` on every transport."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        """The server's initialization options, with resource list changes announced."""
        return super().create_initialization_options(
            notification_options or NotificationOptions(resources_changed=True),
            experimental_capabilities,
            extensions,
        )


def _error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


class MemoryMCPServer:
    """automem memory as an MCP server (see the module docstring).

    Args:
        url: base fsspec URL of the memory (each namespace is a sub-root of it).
        scaffold: enabled ops, custom ops, prompts and file schema (name, path or object).
        namespace: a namespace template such as ``"clients/{client_id}"``; ``None`` serves
            one shared store at ``url``.
        scope: fixed values for the template (stdio: one client per process).
        storage_options: fsspec options for every store.
        limits: size limits of every store.
        read_only: open every store read-only (writes become tool errors).
        claude_tools: also offer the ``memory`` tool with Claude's six commands.
        trace: a trace URL (``.jsonl`` or ``.jsonl.gz``) or writer; every tool call is
            recorded there.
        trace_storage_options: fsspec options for the trace URL.
        max_payload_bytes: a tool call whose JSON arguments are larger is refused.
        name: the server name announced to clients.
    """

    def __init__(
        self,
        url: str,
        *,
        scaffold: Scaffold | str = "generic",
        namespace: str | None = None,
        scope: Mapping[str, str] | None = None,
        storage_options: dict[str, Any] | None = None,
        limits: StoreLimits | None = None,
        read_only: bool = False,
        claude_tools: bool = False,
        trace: str | TraceWriter | None = None,
        trace_storage_options: dict[str, Any] | None = None,
        max_payload_bytes: int = MAX_TOOL_ARGUMENT_BYTES,
        name: str = "automem",
    ) -> None:
        from automem_sdk import __version__

        self.scaffold = load_scaffold(scaffold)
        kwargs: dict[str, Any] = {"read_only": True} if read_only else {}
        self.scopes = StoreScopes(
            url, namespace, storage_options=storage_options, limits=limits, **kwargs
        )
        self.scope = dict(scope or {})
        self.claude_tools = claude_tools
        self.max_payload_bytes = max_payload_bytes
        self.name = name
        self.version = __version__
        self._specs = tool_specs(self.scaffold, include_action=False)
        self._tool_names = {s["name"] for s in self._specs}
        self._claude = ClaudeTools(max_payload_bytes) if claude_tools else None
        self.recorder = CallRecorder(
            trace,
            self.scaffold,
            url,
            config={"namespace": namespace or "", "claude_tools": claude_tools},
            storage_options=trace_storage_options,
        )

    # ---------------------------------------------------------------- scoping
    def context_values(self, ctx: ServerRequestContext[Any, Any] | None) -> dict[str, str]:
        """The values that fill the namespace template for one request.

        Fixed ``scope`` values first, then the client's ``io.automem/scope`` extension
        settings, then ``X-Automem-<Key>`` headers (``X-Automem-Client-Id`` fills
        ``client_id``), and last the verified bearer-token identity as ``identity``.
        """
        values = dict(self.scope)
        if ctx is None:
            return values
        caps = getattr(ctx.session, "client_capabilities", None)
        ext = (getattr(caps, "extensions", None) or {}).get(SCOPE_EXTENSION)
        if isinstance(ext, Mapping):
            values.update({str(k): str(v) for k, v in ext.items()})
        request = ctx.request
        headers = getattr(request, "headers", None)
        if headers is not None:
            identity = None
            for key, value in headers.items():
                k = key.lower()
                if k == IDENTITY_HEADER:
                    identity = value
                elif k.startswith(_HEADER_PREFIX):
                    values[k[len(_HEADER_PREFIX) :].replace("-", "_")] = value
            values.pop("identity", None)
            if identity:
                values["identity"] = identity
        return values

    def conversation_id(self, ctx: ServerRequestContext[Any, Any] | None) -> str | None:
        """The client's conversation id for one request, recorded in the trace.

        From the request's ``_meta`` (``conversation_id``, ``thread_id`` or
        ``session_id``), else the scope values (an ``X-Automem-Conversation-Id`` header,
        the ``io.automem/scope`` extension, a fixed ``scope``).
        """
        meta = getattr(ctx, "meta", None)
        found = conversation_id_of(_as_mapping(meta))
        return found or conversation_id_of(self.context_values(ctx))

    def store_for(self, ctx: ServerRequestContext[Any, Any] | None) -> tuple[MemoryStore, str]:
        """The store of the request's namespace, and the namespace.

        Raises:
            AutomemError: a namespace key is missing or unsafe.
        """
        values = self.context_values(ctx)
        return self.scopes.get(values), self.scopes.namespace(values)

    # ------------------------------------------------------------------ tools
    def list_tools(self) -> list[types.Tool]:
        """The tools offered: the scaffold's ops, then Claude's memory tool if enabled."""
        files = self.scaffold.describe_files()
        out = []
        for spec in self._specs:
            desc = spec["description"]
            if spec["name"] in ("memory_read", "memory_list", "memory_write", "memory_append"):
                desc = f"{desc}\nMemory files:\n{files}"
            out.append(
                types.Tool(name=spec["name"], description=desc, input_schema=spec["parameters"])
            )
        if self.claude_tools:
            out.append(
                types.Tool(
                    name=CLAUDE_TOOL,
                    description=CLAUDE_DESCRIPTION,
                    input_schema=claude_tool_schema(),
                )
            )
        return out

    def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        ctx: ServerRequestContext[Any, Any] | None = None,
    ) -> types.CallToolResult:
        """Run one tool call; every mistake becomes a tool error, never an exception."""
        return self._call_tool(name, arguments, ctx)[0]

    def _call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        ctx: ServerRequestContext[Any, Any] | None = None,
    ) -> tuple[types.CallToolResult, bool]:
        """The tool result, and whether the set of memory files changed."""
        args: dict[str, Any] = dict(arguments or {})
        client = self._client_name(ctx)
        try:
            size = len(json.dumps(args, default=str).encode())
        except (TypeError, ValueError):  # pragma: no cover - JSON-RPC arguments are JSON
            size = 0
        if size > self.max_payload_bytes:
            return self._refuse(
                name,
                args,
                client,
                "",
                f"tool arguments too large ({size} bytes; max {self.max_payload_bytes})",
            )
        if name not in self._tool_names and not (self.claude_tools and name == CLAUDE_TOOL):
            known = sorted(self._tool_names | ({CLAUDE_TOOL} if self.claude_tools else set()))
            return self._refuse(
                name, args, client, "", f"unknown tool '{name}'; tools: {', '.join(known)}"
            )
        try:
            store, ns = self.store_for(ctx)
        except AutomemError as exc:
            return self._refuse(name, args, client, "", str(exc))
        before = _listing(store)
        if name == CLAUDE_TOOL:
            assert self._claude is not None
            op, result = self._claude.call(store, args)
        else:
            op = op_from_tool_call(name, args, self.scaffold)
            result = self._run(store, op)
        self.recorder.record(name, args, client, ns, op, result, before, self.conversation_id(ctx))
        changed = result.ok and result.changed and _listing(store) != before
        out = types.CallToolResult(
            content=[types.TextContent(type="text", text=result.text)],
            structured_content=result.model_dump(mode="json"),
            is_error=not result.ok,
        )
        return out, changed

    def _run(self, store: MemoryStore, op: MemoryOp) -> OpResult:
        try:
            return execute_op(store, op, self.scaffold)
        except OSError as exc:  # the backend failed: disk full, permissions, network
            msg = f"the memory store could not complete {op.op}: {exc.strerror or exc}"
            return OpResult(op=op.op, ok=False, text=f"ERROR ({op.op}): {msg}", error=msg)

    def _refuse(
        self, name: str, args: dict[str, Any], client: str, ns: str, message: str
    ) -> tuple[types.CallToolResult, bool]:
        op = InvalidOp(raw=json.dumps({"tool": name}, default=str)[:300], error=message)
        result = OpResult(op="invalid", ok=False, text=f"ERROR: {message}", error=message)
        self.recorder.record(name, args, client, ns, op, result)
        return _error_result(result.text), False

    # ------------------------------------------------------------------ trace
    def _client_name(self, ctx: ServerRequestContext[Any, Any] | None) -> str:
        params = getattr(getattr(ctx, "session", None), "client_params", None)
        info = getattr(params, "client_info", None)
        return str(getattr(info, "name", "") or "mcp-client")

    def close(self) -> None:
        """Write the trace footer, close a trace this server opened and every store."""
        self.recorder.close()
        self.scopes.close()

    # -------------------------------------------------------------- resources
    def list_resources(self, ctx: ServerRequestContext[Any, Any] | None) -> list[types.Resource]:
        """Every memory file of the request's namespace, then the journal."""
        store, _ns = self.store_for(ctx)
        out = [
            types.Resource(
                name=path,
                uri=MEMORY_URI + path,
                mime_type="text/markdown" if path.endswith(".md") else "text/plain",
                description=_purpose(self.scaffold, path),
            )
            for path in store.list()
        ]
        out.append(
            types.Resource(
                name="journal",
                uri=JOURNAL_URI,
                mime_type="application/json",
                description="every change to this memory, oldest first "
                f"({JOURNAL_URI}/<path> for one file's history)",
            )
        )
        return out

    def read_resource(
        self, uri: str, ctx: ServerRequestContext[Any, Any] | None
    ) -> tuple[str, str]:
        """``(text, mime type)`` of a resource URI.

        Raises:
            AutomemError: unknown URI, missing file or invalid path.
        """
        store, _ns = self.store_for(ctx)
        if uri.startswith(MEMORY_URI):
            path = uri[len(MEMORY_URI) :]
            return store.read(path), "text/markdown" if path.endswith(".md") else "text/plain"
        if uri == JOURNAL_URI or uri.startswith(JOURNAL_URI + "/"):
            entries = [
                e.model_dump(mode="json")
                for e in store.history(uri[len(JOURNAL_URI) + 1 :] or None)
            ]
            return json.dumps(entries, indent=1), "application/json"
        raise AutomemError(f"unknown resource {uri!r} (try {MEMORY_URI}<path> or {JOURNAL_URI})")

    # ---------------------------------------------------------------- prompts
    def list_prompts(self) -> list[types.Prompt]:
        """The scaffold's LOG and PLAN routines as prompts."""
        return [
            types.Prompt(
                name=routine,
                description=f"automem {routine.upper()} routine of scaffold "
                f"{self.scaffold.name!r}: "
                + (
                    "record what matters in memory" if routine == "log" else "read memory, then act"
                ),
                arguments=[
                    types.PromptArgument(name=n, description=d, required=r)
                    for n, d, r in _PROMPT_ARGS[routine]
                ],
            )
            for routine in ("log", "plan")
        ]

    def get_prompt(
        self, name: str, arguments: Mapping[str, str] | None, ctx: ServerRequestContext[Any, Any]
    ) -> str:
        """The rendered routine prompt (system text, then the routine text).

        Raises:
            AutomemError: unknown prompt or a missing ``observation``.
        """
        if name not in _PROMPT_ARGS:
            raise AutomemError(f"unknown prompt {name!r}; prompts: log, plan")
        args = dict(arguments or {})
        if not args.get("observation"):
            raise AutomemError(f"prompt {name!r} needs the argument 'observation'")
        store, _ns = self.store_for(ctx)
        files = store.list()
        system = self.scaffold.render(
            "system",
            instruction="",
            actions=args.get("actions", "(any)"),
            files=self.scaffold.describe_files(),
            ops=self.scaffold.describe_ops(),
            max_log_ops=self.scaffold.limits.max_log_ops,
        )
        routine = self.scaffold.render(
            name,
            observation=args["observation"],
            step=args.get("step", "0"),
            memory_index=", ".join(files[:30]) or "(empty)",
            last_action=args.get("last_action", "(none)"),
            actions=args.get("actions", "(any)"),
            feedback="",
            pinned=_pinned(store, self.scaffold),
            max_log_ops=self.scaffold.limits.max_log_ops,
        )
        return f"{system.rstrip()}\n\n{routine.rstrip()}\n"

    # ------------------------------------------------------------- the server
    def build(self, *, notify: bool = True) -> Server[Any]:
        """The ``mcp`` low-level :class:`~mcp.server.lowlevel.Server` with every handler.

        Args:
            notify: send ``notifications/resources/list_changed`` to the calling client
                when a tool call adds, removes or renames a memory file (and advertise
                ``resources.listChanged``).
        """
        return (_NotifyingServer if notify else Server)(
            self.name,
            version=self.version,
            instructions="File-based memory that persists across sessions. Memory files:\n"
            + self.scaffold.describe_files(),
            **self._tool_handlers(notify),
            **self._resource_handlers(),
            **self._prompt_handlers(),
        )

    def _tool_handlers(self, notify: bool) -> dict[str, Any]:
        """``tools/list`` and ``tools/call`` (``notify``: announce file list changes)."""
        srv = self

        async def on_list_tools(
            ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
        ) -> types.ListToolsResult:
            return types.ListToolsResult(tools=srv.list_tools())

        async def on_call_tool(
            ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
        ) -> types.CallToolResult:
            result, files_changed = await anyio.to_thread.run_sync(
                srv._call_tool, params.name, params.arguments, ctx
            )
            if files_changed and notify:
                with contextlib.suppress(Exception):  # a lost notification must not fail the call
                    await ctx.session.send_resource_list_changed()
            return result

        return {"on_list_tools": on_list_tools, "on_call_tool": on_call_tool}

    def _resource_handlers(self) -> dict[str, Any]:
        """``resources/list``, ``resources/templates/list`` and ``resources/read``."""
        srv = self

        async def on_list_resources(
            ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
        ) -> types.ListResourcesResult:
            found = await _mcp_call(srv.list_resources, ctx)
            return types.ListResourcesResult(resources=found)

        async def on_list_templates(
            ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
        ) -> types.ListResourceTemplatesResult:
            return types.ListResourceTemplatesResult(
                resource_templates=[
                    types.ResourceTemplate(
                        name="memory file",
                        uri_template=MEMORY_URI + "{path}",
                        mime_type="text/plain",
                    ),
                    types.ResourceTemplate(
                        name="file history",
                        uri_template=JOURNAL_URI + "/{path}",
                        mime_type="application/json",
                    ),
                ]
            )

        async def on_read_resource(
            ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
        ) -> types.ReadResourceResult:
            text, mime = await _mcp_call(srv.read_resource, str(params.uri), ctx)
            return types.ReadResourceResult(
                contents=[
                    types.TextResourceContents(uri=str(params.uri), mime_type=mime, text=text)
                ]
            )

        return {
            "on_list_resources": on_list_resources,
            "on_list_resource_templates": on_list_templates,
            "on_read_resource": on_read_resource,
        }

    def _prompt_handlers(self) -> dict[str, Any]:
        """``prompts/list`` and ``prompts/get``: the scaffold's routines as prompts."""
        srv = self

        async def on_list_prompts(
            ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
        ) -> types.ListPromptsResult:
            return types.ListPromptsResult(prompts=srv.list_prompts())

        async def on_get_prompt(
            ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
        ) -> types.GetPromptResult:
            text = await _mcp_call(srv.get_prompt, params.name, params.arguments, ctx)
            return types.GetPromptResult(
                description=f"automem {params.name.upper()} routine",
                messages=[
                    types.PromptMessage(
                        role="user", content=types.TextContent(type="text", text=text)
                    )
                ],
            )

        return {"on_list_prompts": on_list_prompts, "on_get_prompt": on_get_prompt}


def _as_mapping(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {}
    if isinstance(meta, Mapping):
        return dict(meta)
    dump = getattr(meta, "model_dump", None)
    return dict(dump()) if callable(dump) else {}


async def _mcp_call(fn: Callable[..., _T], *args: Any) -> _T:
    """Run a store-touching handler in a worker thread; our errors become MCP errors."""
    from mcp.shared.exceptions import MCPError

    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except AutomemError as exc:
        raise MCPError(types.INVALID_PARAMS, str(exc)) from exc
    except OSError as exc:
        raise MCPError(types.INTERNAL_ERROR, f"the memory store failed: {exc}") from exc


def _listing(store: MemoryStore) -> list[str] | None:
    try:
        return store.list()
    except (AutomemError, OSError):
        return None


def _purpose(scaffold: Scaffold, path: str) -> str | None:
    spec = scaffold.file(path)
    return spec.purpose if spec is not None and spec.purpose else None


def _pinned(store: MemoryStore, scaffold: Scaffold) -> str:
    budget = scaffold.limits.pinned_chars
    parts: list[str] = []
    for f in scaffold.files:
        if not f.pinned or budget <= 0:
            continue
        try:
            text = store.read(f.name)
        except AutomemError:
            continue
        if not text.strip():
            continue
        if len(text) > budget:
            text = "...\n" + text[-budget:]
        budget -= len(text)
        parts.append(f"--- {f.name} ---\n{text.rstrip()}")
    return "\n".join(parts)
