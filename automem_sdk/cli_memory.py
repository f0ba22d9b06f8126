"""``automem memory ...``: inspect and roll back a memory store from the shell.

Subcommands (every one takes ``--storage-options JSON`` for fsspec)::

    automem memory ls URL [PREFIX]         files with sizes and line counts
    automem memory cat URL PATH [--at V]   a file's content (now, or at version V)
    automem memory search URL QUERY        matching lines
    automem memory log URL [PATH]          the journal (of one file)
    automem memory diff URL V1 V2          unified diff between two versions
    automem memory restore URL VERSION     bring the tree back to VERSION (journaled)
    automem memory init URL [--create]     create an empty store (--create: its bucket too)
    automem memory fsck URL                list every problem of the journal and objects
    automem memory repair URL              fix what can be fixed; never deletes user files
    automem memory redact URL (--path P | --pattern RE | --versions A-B) [--reason TEXT]
                                           purge content from every stored version
    automem memory compact URL [--keep-last N | --since V]
                                           drop old versions, delete unreachable objects

Every subcommand but ``restore``, ``init``, ``repair``, ``redact`` and ``compact`` opens the store read-only: nothing is
created or written, and a missing store, folder or bucket is an error. ``restore``
writes to an existing store only; ``init`` is the one command that creates a store, and
creates a missing bucket only with ``--create``. ``ls``, ``search`` and ``log`` take ``--format md|csv|json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from automem_sdk.cli import UsageError
from automem_sdk.tables import add_format_flag, emit_table

__all__ = ["register"]


def _options(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"anon\": true}'")
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
    _add_read_commands(msub, common)
    _add_write_commands(msub, common)
    _add_upkeep_commands(msub, common)


def _add_read_commands(msub: Any, common: argparse.ArgumentParser) -> None:
    """``ls``, ``cat``, ``search``, ``log``, ``diff``: they open the store read-only."""
    ls = msub.add_parser("ls", parents=[common], help="list files")
    ls.add_argument("url", help="store URL (file://, s3://, memory://, a local path, ...)")
    ls.add_argument("prefix", nargs="?", default="", help="directory to list")
    add_format_flag(ls)
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
    add_format_flag(search)
    search.set_defaults(func=_search)

    log = msub.add_parser("log", parents=[common], help="show the journal")
    log.add_argument("url")
    log.add_argument("path", nargs="?", help="only entries that changed this file")
    log.add_argument("--limit", type=int, default=0, help="only the last N entries")
    add_format_flag(log)
    log.set_defaults(func=_log)

    diff = msub.add_parser("diff", parents=[common], help="unified diff between two versions")
    diff.add_argument("url")
    diff.add_argument("v1", type=int)
    diff.add_argument("v2", type=int)
    diff.set_defaults(func=_diff)


def _add_write_commands(msub: Any, common: argparse.ArgumentParser) -> None:
    """``restore`` (an existing store) and ``init`` (the one command that creates one)."""
    restore = msub.add_parser(
        "restore", parents=[common], help="restore the tree to a version (a new version)"
    )
    restore.add_argument("url")
    restore.add_argument("version", type=int)
    restore.set_defaults(func=_restore)

    init = msub.add_parser("init", parents=[common], help="create an empty store")
    init.add_argument("url")
    init.add_argument(
        "--create", action="store_true", help="create the bucket too if it does not exist (S3)"
    )
    init.set_defaults(func=_init)


def _add_upkeep_commands(msub: Any, common: argparse.ArgumentParser) -> None:
    """``fsck``, ``repair``, ``redact``, ``compact``: checking, fixing and forgetting."""
    fsck = msub.add_parser("fsck", parents=[common], help="check the journal and objects")
    fsck.add_argument("url")
    fsck.set_defaults(func=_fsck)
    repair = msub.add_parser(
        "repair", parents=[common], help="fix what fsck found (never deletes user files)"
    )
    repair.add_argument("url")
    repair.set_defaults(func=_repair)
    redact = msub.add_parser(
        "redact", parents=[common], help="purge content from every stored version"
    )
    redact.add_argument("url")
    what = redact.add_mutually_exclusive_group(required=True)
    what.add_argument("--path", help="purge every version of this file (and delete it)")
    what.add_argument("--pattern", help="cut this regular expression out of every version")
    what.add_argument(
        "--versions", metavar="A-B", help="purge what versions A to B wrote (current files kept)"
    )
    redact.add_argument("--reason", default="redacted", help="recorded in the journal")
    redact.set_defaults(func=_redact)
    compact = msub.add_parser(
        "compact", parents=[common], help="drop old versions and unreachable content"
    )
    compact.add_argument("url")
    keep = compact.add_mutually_exclusive_group()
    keep.add_argument("--keep-last", type=int, metavar="N", help="keep the last N versions")
    keep.add_argument("--since", type=int, metavar="V", help="keep version V and later")
    compact.add_argument(
        "--grace", type=float, default=3600.0, metavar="SECONDS",
        help="object stores: never delete objects younger than this (default: %(default)s)",
    )  # fmt: skip
    compact.set_defaults(func=_compact)


def _fsck(args: argparse.Namespace) -> int:
    from automem_sdk.cli import s3_preflight
    from automem_sdk.store_repair import fsck

    s3_preflight(args.url, args.storage_options or None)
    report = fsck(args.url, args.storage_options or None)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _repair(args: argparse.Namespace) -> int:
    from automem_sdk.cli import s3_preflight
    from automem_sdk.store_repair import repair

    s3_preflight(args.url, args.storage_options or None)
    report = repair(args.url, args.storage_options or None)
    print("\n".join(report.lines()))
    return 0 if not [p for p in report.problems if p.fixable] else 1


def _redact(args: argparse.Namespace) -> int:
    versions = None
    if args.versions is not None:
        first, sep, last = args.versions.partition("-")
        if not (sep and first.isdigit() and last.isdigit() and int(first) <= int(last)):
            print(f"automem memory redact: --versions {args.versions!r}: use A-B, e.g. 3-7",
                  file=sys.stderr)  # fmt: skip
            return 2
        versions = (int(first), int(last))
    store = _open(args, write=True)
    version = store.redact(
        path=args.path, pattern=args.pattern, versions=versions, reason=args.reason
    )
    purged = len(store.history()[-1].changes or [])
    store.close()
    print(f"redacted as version {version}: {purged} stored content(s) purged")
    return 0


def _compact(args: argparse.Namespace) -> int:
    if args.keep_last is not None and args.keep_last < 1:
        print("automem memory compact: --keep-last needs N >= 1", file=sys.stderr)
        return 2
    store = _open(args, write=True)
    before = store.version
    result = store.compact(keep_last=args.keep_last, since=args.since, grace_s=args.grace)
    store.close()
    kept = f"versions {result.horizon}..{before} kept" if result.horizon else "all versions kept"
    print(
        f"compacted: {kept}, {result.versions_dropped} dropped; "
        f"{result.objects_deleted} object(s) deleted, {result.bytes_freed} bytes freed"
    )
    return 0


def _open(args: argparse.Namespace, *, write: bool = False) -> Any:
    """Open ``args.url``: read-only (creating nothing), or for writing an existing store.

    Raises:
        MemoryNotFoundError: no store (folder, prefix or bucket) there.
    """
    import inspect

    from automem_sdk.cli import s3_preflight
    from automem_sdk.store import MemoryStore

    options = args.storage_options or None
    s3_preflight(args.url, options)
    params = inspect.signature(MemoryStore).parameters
    kw: dict[str, Any] = {}
    if "create" in params:
        kw["create"] = False
    if not write and "read_only" in params:
        kw["read_only"] = True
    return MemoryStore(args.url, options, **kw)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _ls(args: argparse.Namespace) -> int:
    store = _open(args)
    files = store.list(args.prefix)
    rows: list[list[object]] = []
    for path in files:
        text = store.read(path)
        rows.append([path, len(text.encode("utf-8")), len(text.splitlines())])
    where = f" under {args.prefix}" if args.prefix else ""
    emit_table(
        f"files of {args.url}{where} at version {store.version}",
        ["path", "bytes", "lines"],
        rows,
        fmt=args.format,
        numeric=["bytes", "lines"],
        note=f"{len(files)} files{where}, {store.total_bytes()} bytes in the store",
        console=_console(),
    )
    return 0


def _cat(args: argparse.Namespace) -> int:
    store = _open(args)
    if args.at is None:
        text = store.read(args.path)
    else:
        if not 0 <= args.at <= store.version:
            raise UsageError(f"--at {args.at}: the store has versions 0..{store.version}")
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
    emit_table(
        f"{len(hits)} lines matching {args.query!r} in {args.url}"
        + (f" (first {args.limit})" if len(hits) >= args.limit else ""),
        ["path", "line", "text"],
        [[h.path, h.line, h.text] for h in hits],
        fmt=args.format,
        numeric=["line"],
        console=_console(),
    )
    return 0


def _log(args: argparse.Namespace) -> int:
    store = _open(args)
    entries = store.history(args.path)
    total = len(entries)
    if args.limit > 0:
        entries = entries[-args.limit :]
    rows: list[list[object]] = []
    for e in entries:
        if e.op == "rename":
            what = f"{e.path} -> {e.dst}"
        elif e.op == "restore":
            what = f"(tree of version {e.target})"
        else:
            what = e.path
        when = dt.datetime.fromtimestamp(e.ts, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        rows.append([e.version, e.op, what, e.size, (e.sha256 or "-")[:12], when])
    shown = f"last {len(entries)} of {total}" if len(entries) < total else f"{total}"
    emit_table(
        f"journal of {args.url}"
        + (f" for {args.path}" if args.path else "")
        + f" ({shown} entries)",
        ["version", "op", "path", "bytes", "sha256", "time (UTC)"],
        rows,
        fmt=args.format,
        numeric=["version", "bytes", "sha256", "time (UTC)"],
        console=_console(),
    )
    return 0


def _check_versions(store: Any, *versions: int) -> None:
    for v in versions:
        if not 0 <= v <= store.version:
            raise UsageError(f"version {v}: the store has versions 0..{store.version}")


def _diff(args: argparse.Namespace) -> int:
    from rich.text import Text

    store = _open(args)
    _check_versions(store, args.v1, args.v2)
    text = store.diff(args.v1, args.v2)
    console = _console()
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
    store = _open(args, write=True)
    _check_versions(store, args.version)
    before = store.version
    new = store.restore(args.version)
    _console().print(
        f"restored {args.url} to version {args.version}: now version {new} "
        f"(was {before}; `automem memory restore {args.url} {before}` undoes this)"
    )
    return 0


def _init(args: argparse.Namespace) -> int:
    from automem_sdk.store import MemoryStore

    options = args.storage_options or None
    if args.url.startswith(("s3://", "s3a://")) and not args.create:
        from automem_sdk.cli import s3_preflight

        s3_preflight(args.url, options)  # a missing bucket is an error without --create
    store = MemoryStore(args.url, options, create=True, create_bucket=args.create)
    _console().print(f"store {args.url} ready at version {store.version}")
    return 0
