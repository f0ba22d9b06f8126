"""Resumable stages for the studies in this folder, on the pipeline's run-directory layout.

A study is a fixed sequence of named stages over one directory ``DIR``. As in
:mod:`automem_sdk.trainers.pipeline`, a stage is finished once ``DIR/<stage>/DONE.json``
exists; here that file also holds what the stage returned (paths, counts, timings), which
later stages read back with :meth:`Stages.need`. A rerun skips finished stages, so a
killed study goes on where it stopped; ``redo`` runs a stage again.

Imported by the study scripts next to it (``python examples/studies/<study>.py`` puts
this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from automem_sdk.errors import AutomemError
from automem_sdk.rundir import atomic_write

__all__ = ["DONE_FILE", "Stages", "StudyError", "progress", "read_json", "write_json"]

DONE_FILE = "DONE.json"
_MARKER_KEYS = ("stage", "finished")


class StudyError(AutomemError):
    """A study cannot run as configured (missing model, backend, or stage output)."""


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (:func:`automem_sdk.rundir.atomic_write`)."""
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True, default=str))


def read_json(path: Path) -> Any:
    """The JSON content of ``path``."""
    return json.loads(path.read_text(encoding="utf-8"))


def progress(quiet: bool) -> Progress:
    """A progress display on stderr (off when ``quiet`` or not a terminal)."""
    console = Console(stderr=True)
    return Progress(console=console, disable=quiet or not console.is_terminal)


class Stages:
    """The named stages of one study directory.

    Args:
        root: the study directory (created).
        names: every stage, in order.
        quiet: no console output.
    """

    def __init__(self, root: Path, names: Sequence[str], *, quiet: bool = False) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.names = tuple(names)
        self.console = Console(stderr=True, quiet=quiet)

    def check(self, wanted: Iterable[str]) -> list[str]:
        """``wanted`` as a list, every name a known stage.

        Raises:
            StudyError: an unknown stage name.
        """
        out = list(wanted)
        unknown = [s for s in out if s not in self.names]
        if unknown:
            raise StudyError(f"unknown stages {unknown}; choose from {self.names}")
        return out

    def marker(self, stage: str) -> Path:
        """The ``DONE.json`` of ``stage``."""
        return self.root / stage / DONE_FILE

    def done(self, stage: str) -> dict[str, Any] | None:
        """What ``stage`` returned, or None when it has not finished."""
        path = self.marker(stage)
        if not path.is_file():
            return None
        data: dict[str, Any] = read_json(path)
        return {k: v for k, v in data.items() if k not in _MARKER_KEYS}

    def need(self, stage: str) -> dict[str, Any]:
        """What ``stage`` returned.

        Raises:
            StudyError: the stage has not finished.
        """
        out = self.done(stage)
        if out is None:
            raise StudyError(f"stage {stage!r} has not run in {self.root}")
        return out

    def outputs(self) -> dict[str, dict[str, Any]]:
        """``stage -> output`` of every finished stage."""
        return {s: out for s in self.names if (out := self.done(s)) is not None}

    def run(
        self, stage: str, fn: Callable[[], dict[str, Any]], *, redo: bool = False
    ) -> dict[str, Any]:
        """Run ``stage`` unless it finished before (or ``redo``); return its output.

        The output gets ``stage_s`` (wall seconds) unless ``fn`` set it, and is written
        to the stage's ``DONE.json`` once ``fn`` returns.
        """
        if not redo and (out := self.done(stage)) is not None:
            self.console.print(f"[dim]{stage}: done ({stage}/{DONE_FILE})[/dim]")
            return out
        self.marker(stage).unlink(missing_ok=True)
        self.console.print(f"[bold]{stage}[/bold] ...")
        t0 = time.perf_counter()
        output = dict(fn())  # a copy: ``stage_s`` is not added to the caller's dict
        output.setdefault("stage_s", time.perf_counter() - t0)
        write_json(self.marker(stage), {"stage": stage, "finished": time.time(), **output})
        return output
