"""``automem train structural|behavioral``: wires both trainers under one command."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["register"]

_TRAINERS = (
    "automem_sdk.trainers.structural.cli",
    "automem_sdk.trainers.behavioral.cli",
)


def register(sub: Any) -> None:
    """Add ``train`` with one sub-subcommand per available trainer."""
    p = sub.add_parser("train", help="offline trainers (structural, behavioral)")
    tsub = p.add_subparsers(dest="trainer", metavar="TRAINER", required=True)
    for name in _TRAINERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.add_parser(tsub)
