"""``automem mcp URL``: serve a memory store over MCP (stdio, or streamable HTTP).

Stdio is the default (one client per process: Claude Desktop, Claude Code, Cursor...).
``--http HOST:PORT`` serves streamable HTTP at ``http://HOST:PORT/mcp``, bound to
127.0.0.1 unless told otherwise; ``--token`` requires ``Authorization: Bearer ...``
(``NAME=TOKEN`` also names the client's identity, which can fill the namespace as
``{identity}``); requests whose ``Origin`` header is not the server's own (or one given
with ``--allow-origin``) are refused with 403.

This module imports nothing from ``mcp`` until the command runs.
"""

from __future__ import annotations

import argparse
import hmac
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from automem_sdk.cli import UsageError

if TYPE_CHECKING:
    from automem_sdk.adapters.mcp_server import MemoryMCPServer

__all__ = ["HTTPFront", "add_arguments", "http_app", "parse_hostport", "register", "run"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ENV_SCOPE = "AUTOMEM_MCP_SCOPE"
_ENV_TOKEN = "AUTOMEM_MCP_TOKEN"


def register(subparsers: Any) -> None:
    """Add ``automem mcp`` to the ``automem`` command line."""
    p = subparsers.add_parser(
        "mcp",
        help="serve memory over the Model Context Protocol (stdio or streamable HTTP)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``automem mcp``."""
    p.add_argument("url", help="memory store URL (file://, s3://, memory:// or a local path)")
    p.add_argument("--scaffold", default="generic", help="scaffold name or file (default: generic)")
    p.add_argument(
        "--namespace",
        default=None,
        help="namespace template, e.g. 'clients/{client_id}': one sandboxed store per client",
    )
    p.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a namespace value for every request (stdio; also ${_ENV_SCOPE}='k=v,k2=v2')",
    )
    p.add_argument("--trace", default=None, help="trace file URL (.jsonl or .jsonl.gz)")
    p.add_argument("--claude-tools", action="store_true", help="also offer Claude's memory tool")
    p.add_argument("--read-only", action="store_true", help="open the store read-only")
    p.add_argument("--storage-options", default=None, help="fsspec options as JSON")
    p.add_argument("--max-payload-bytes", type=int, default=None, help="largest tool call input")
    p.add_argument("--http", default=None, metavar="HOST:PORT", help="serve streamable HTTP")
    p.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="[NAME=]TOKEN",
        help=f"require this bearer token over HTTP (repeatable; also ${_ENV_TOKEN})",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow a browser origin",
    )


def parse_hostport(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8765"`` -> ``("127.0.0.1", 8765)``; ``":8765"`` binds 127.0.0.1.

    Raises:
        UsageError: not HOST:PORT.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--http wants HOST:PORT (e.g. 127.0.0.1:8765), got {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"{what} wants KEY=VALUE, got {part!r}")
            out[key.strip()] = value.strip()
    return out


def _tokens(items: Sequence[str]) -> dict[str, str]:
    """``TOKEN`` or ``NAME=TOKEN`` -> ``{token: identity}`` (identity ``""`` when unnamed)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, token = item.partition("=")
        if not sep:
            name, token = "", item
        if not token.strip():
            raise UsageError("--token: empty token")
        out[token.strip()] = name.strip()
    return out


class HTTPFront:
    """ASGI middleware in front of the MCP app: bearer token and Origin checks.

    Args:
        app: the MCP streamable HTTP app.
        tokens: accepted bearer tokens -> identity (empty: no token needed).
        origins: accepted ``Origin`` values; a request without ``Origin`` passes.
    """

    def __init__(self, app: ASGIApp, tokens: dict[str, str], origins: Sequence[str]) -> None:
        self.app = app
        self.tokens = tokens
        self.origins = {o.rstrip("/").lower() for o in origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse foreign origins (403) and missing or wrong tokens (401)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from automem_sdk.adapters.mcp_server import IDENTITY_HEADER

        headers = [
            (k, v) for k, v in scope.get("headers", []) if k.lower() != IDENTITY_HEADER.encode()
        ]
        found = {k.lower(): v.decode("latin-1") for k, v in headers}
        origin = found.get(b"origin")
        if origin and origin.rstrip("/").lower() not in self.origins:
            await _reply(send, 403, f"origin {origin} is not allowed")
            return
        if self.tokens:
            auth = found.get(b"authorization", "")
            given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            identity = next(
                (who for tok, who in self.tokens.items() if hmac.compare_digest(tok, given)), None
            )
            if identity is None:
                await _reply(send, 401, "a valid bearer token is required", bearer=True)
                return
            if identity:
                headers.append((IDENTITY_HEADER.encode(), identity.encode()))
        await self.app({**scope, "headers": headers}, receive, send)


async def _reply(send: Send, status: int, text: str, *, bearer: bool = False) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if bearer:
        headers.append((b"www-authenticate", b'Bearer realm="automem"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})


def http_app(
    server: MemoryMCPServer,
    host: str,
    port: int,
    *,
    tokens: dict[str, str] | None = None,
    allow_origins: Sequence[str] = (),
) -> ASGIApp:
    """The ASGI app serving ``server`` over streamable HTTP at ``/mcp``.

    Args:
        server: the MCP memory server.
        host: the bound host (its own origin is allowed).
        port: the bound port.
        tokens: bearer token -> identity; empty or ``None`` needs no token.
        allow_origins: further accepted ``Origin`` values.
    """
    from mcp.server.transport_security import TransportSecuritySettings

    names = list(_LOOPBACK) if host in _LOOPBACK else [host]
    hosts = [f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in names]
    origins = [f"{scheme}://{h}" for scheme in ("http", "https") for h in hosts]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=host in _LOOPBACK,
        allowed_hosts=hosts,
        allowed_origins=[*origins, *allow_origins],
    )
    app = server.build().streamable_http_app(host=host, transport_security=security)
    return HTTPFront(app, dict(tokens or {}), [*origins, *allow_origins])


def _make_server(args: argparse.Namespace) -> MemoryMCPServer:
    import json

    from automem_sdk.adapters.mcp_server import MemoryMCPServer

    from automem_sdk.tools import MAX_TOOL_ARGUMENT_BYTES

    scope = _pairs([os.environ.get(_ENV_SCOPE, ""), *args.scope], "--scope")
    opts = json.loads(args.storage_options) if args.storage_options else None
    return MemoryMCPServer(
        args.url,
        scaffold=args.scaffold,
        namespace=args.namespace,
        scope=scope,
        storage_options=opts,
        read_only=args.read_only,
        claude_tools=args.claude_tools,
        trace=args.trace,
        trace_storage_options=opts,
        max_payload_bytes=args.max_payload_bytes or MAX_TOOL_ARGUMENT_BYTES,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until the client disconnects (stdio) or the process is interrupted (HTTP)."""
    import anyio
    import mcp  # noqa: F401  (first, so that a missing [mcp] extra is named as such)

    hostport = parse_hostport(args.http) if args.http else None
    tokens = _tokens([*filter(None, [os.environ.get(_ENV_TOKEN, "")]), *args.token])
    server = _make_server(args)
    try:
        if hostport is None:
            anyio.run(_serve_stdio, server)
        else:
            import uvicorn

            host, port = hostport
            app = http_app(server, host, port, tokens=tokens, allow_origins=args.allow_origin)
            uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        server.close()
    return 0


async def _serve_stdio(server: MemoryMCPServer) -> None:
    from mcp.server.stdio import stdio_server

    mcp_server = server.build()
    async with stdio_server() as (read, write):
        await mcp_server.run(read, write, mcp_server.create_initialization_options())
