"""``automem memory ...``: inspect and roll back a memory store from the shell.

Subcommands (every one takes ``--storage-options JSON`` for fsspec)::

    automem memory ls URL [PREFIX]         files with sizes and line counts
    automem memory cat URL PATH [--at V]   a file's content (now, or at version V)
    automem memory search URL QUERY        matching lines
    automem memory log URL [PATH]          the journal (of one file)
    automem memory diff URL V1 V2          unified diff between two versions
    automem memory restore URL VERSION     bring the tree back to VERSION (journaled)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["register"]


def _options(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--storage-options is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--storage-options must be a JSON object")
    return value


def register(sub: Any) -> None:
    """Add the ``memory`` command and its subcommands to an argparse subparsers object.

    Args:
        sub: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--storage-options",
        type=_options,
        default={},
        metavar="JSON",
        help="fsspec storage options as a JSON object (credentials, endpoint_url, ...)",
    )
    p = sub.add_parser("memory", help="inspect, diff and restore memory stores")
    msub = p.add_subparsers(dest="memory_command", metavar="SUBCOMMAND", required=True)

    ls = msub.add_parser("ls", parents=[common], help="list files")
    ls.add_argument("url", help="store URL (file://, s3://, memory://, a local path, ...)")
    ls.add_argument("prefix", nargs="?", default="", help="directory to list")
    ls.set_defaults(func=_ls)

    cat = msub.add_parser("cat", parents=[common], help="print a file")
    cat.add_argument("url")
    cat.add_argument("path")
    cat.add_argument("--at", type=int, metavar="VERSION", help="as it was at this version")
    cat.set_defaults(func=_cat)

    search = msub.add_parser("search", parents=[common], help="case-insensitive line search")
    search.add_argument("url")
    search.add_argument("query")
    search.add_argument("--path", help="restrict to a file or directory")
    search.add_argument("--limit", type=int, default=50)
    search.set_defaults(func=_search)

    log = msub.add_parser("log", parents=[common], help="show the journal")
    log.add_argument("url")
    log.add_argument("path", nargs="?", help="only entries that changed this file")
    log.add_argument("--limit", type=int, default=0, help="only the last N entries")
    log.set_defaults(func=_log)

    diff = msub.add_parser("diff", parents=[common], help="unified diff between two versions")
    diff.add_argument("url")
    diff.add_argument("v1", type=int)
    diff.add_argument("v2", type=int)
    diff.set_defaults(func=_diff)

    restore = msub.add_parser(
        "restore", parents=[common], help="restore the tree to a version (a new version)"
    )
    restore.add_argument("url")
    restore.add_argument("version", type=int)
    restore.set_defaults(func=_restore)


def _open(args: argparse.Namespace) -> Any:
    from automem_sdk.store import MemoryStore

    return MemoryStore(args.url, args.storage_options or None)


def _ls(args: argparse.Namespace) -> int:
    store = _open(args)
    files = store.list(args.prefix)
    table = Table(title=f"{args.url} (version {store.version})")
    table.add_column("path")
    table.add_column("bytes", justify="right")
    table.add_column("lines", justify="right")
    for path in files:
        text = store.read(path)
        table.add_row(path, str(len(text.encode("utf-8"))), str(len(text.splitlines())))
    console = Console()
    console.print(table)
    console.print(f"{len(files)} files, {store.total_bytes()} bytes in the store")
    return 0


def _cat(args: argparse.Namespace) -> int:
    store = _open(args)
    if args.at is None:
        text = store.read(args.path)
    else:
        path = store.normalize(args.path)
        snap = store.snapshot(args.at)
        if path not in snap:
            from automem_sdk.errors import MemoryNotFoundError

            raise MemoryNotFoundError(f"{path} did not exist at version {args.at}")
        text = snap[path]
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


def _search(args: argparse.Namespace) -> int:
    store = _open(args)
    hits = store.search(args.query, args.path, limit=args.limit)
    table = Table(title=f"{len(hits)} lines matching {args.query!r}")
    table.add_column("path")
    table.add_column("line", justify="right")
    table.add_column("text")
    for h in hits:
        table.add_row(h.path, str(h.line), Text(h.text))
    Console().print(table)
    return 0


def _log(args: argparse.Namespace) -> int:
    store = _open(args)
    entries = store.history(args.path)
    if args.limit > 0:
        entries = entries[-args.limit :]
    table = Table(title=f"journal of {args.url}" + (f" for {args.path}" if args.path else ""))
    for col in ("version", "op", "path", "bytes", "sha256", "time (UTC)"):
        table.add_column(col, justify="right" if col in ("version", "bytes") else "left")
    for e in entries:
        if e.op == "rename":
            what = f"{e.path} -> {e.dst}"
        elif e.op == "restore":
            what = f"(tree of version {e.target})"
        else:
            what = e.path
        when = dt.datetime.fromtimestamp(e.ts, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(e.version), e.op, Text(what), str(e.size), (e.sha256 or "-")[:12], when)
    Console().print(table)
    return 0


def _diff(args: argparse.Namespace) -> int:
    store = _open(args)
    text = store.diff(args.v1, args.v2)
    console = Console(highlight=False)
    if not text:
        console.print(f"no differences between version {args.v1} and version {args.v2}")
        return 0
    for line in text.splitlines():
        style = ""
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        console.print(Text(line, style=style), soft_wrap=True)
    return 0


def _restore(args: argparse.Namespace) -> int:
    store = _open(args)
    before = store.version
    new = store.restore(args.version)
    Console(highlight=False).print(
        f"restored {args.url} to version {args.version}: now version {new} "
        f"(was {before}; `automem memory restore {args.url} {before}` undoes this)"
    )
    return 0
