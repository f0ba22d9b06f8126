"""The ``automem`` command line.

Subcommands come from modules that expose ``register(subparsers)``; a module whose
optional dependencies are missing is skipped, so ``automem --help`` always works.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: Modules that add subcommands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "automem_sdk.cli_memory",
    "automem_sdk.cli_trace",
    "automem_sdk.benchmarks.bench_cli",
    "automem_sdk.benchmarks.demo",
    "automem_sdk.benchmarks.explorers.compare_nle",
    "automem_sdk.trainers.cli",
    "automem_sdk.trainers.pipeline",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    from automem_sdk import __version__

    parser = argparse.ArgumentParser(
        prog="automem", description="Learnable file-based memory for any agent."
    )
    parser.add_argument("--version", action="version", version=f"automem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that command is not part of this install
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``automem`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from automem_sdk.errors import AutomemError

        if isinstance(exc, AutomemError | FileNotFoundError):
            print(f"automem: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
