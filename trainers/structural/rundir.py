"""The run directory: state, ledger, candidates, reflections, STOP file.

Layout (all text, readable by people and tools)::

    config.json              what the run does (StructuralConfig)
    state.json               where it is (RunState), rewritten atomically before each
                             iteration and after each decision
    ledger.jsonl             one LedgerEntry per finished iteration
    scaffolds/<id>.yaml      the root scaffold and every candidate, by content id
    best.yaml                the currently accepted scaffold
    proposals/<NNN>.json     each iteration's proposal (reused on resume: no second LLM call)
    reflections/<NNN>.json   what the proposer was shown
    cache/                   evaluation cache and episode traces (unless --cache elsewhere)
    STOP                     create it to stop cleanly between steps
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Literal

from automem_sdk.trainers.structural.config import StructuralConfig
from automem_sdk.trainers.structural.errors import RunDirError
from pydantic import BaseModel, Field, ValidationError

from automem_sdk.rundir import atomic_write
from automem_sdk.scaffold import Scaffold

__all__ = [
    "RUN_KIND",
    "RUN_SCHEMA_VERSION",
    "LedgerEntry",
    "PairedScore",
    "RunDir",
    "RunState",
    "Spend",
    "is_structural_run",
]

RUN_KIND = "structural"
RUN_SCHEMA_VERSION = 1
RunStatus = Literal["running", "stopped", "budget", "converged", "done"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Spend(BaseModel):
    """Resources used: episodes, env steps, tokens (agent and proposer) and dollars."""

    episodes: int = 0
    env_steps: int = 0
    agent_tokens: int = 0
    proposer_tokens: int = 0
    usd: float = 0.0

    @property
    def tokens(self) -> int:
        """Agent plus proposer tokens."""
        return self.agent_tokens + self.proposer_tokens

    def plus(self, other: Spend) -> Spend:
        """The sum of two spends."""
        return Spend(
            episodes=self.episodes + other.episodes,
            env_steps=self.env_steps + other.env_steps,
            agent_tokens=self.agent_tokens + other.agent_tokens,
            proposer_tokens=self.proposer_tokens + other.proposer_tokens,
            usd=round(self.usd + other.usd, 10),
        )


class RunState(BaseModel):
    """Where a run is. ``iteration`` is the next iteration to run (1-based)."""

    schema_version: int = RUN_SCHEMA_VERSION
    kind: str = RUN_KIND
    status: RunStatus = "running"
    reason: str = ""
    iteration: int = 1
    root_id: str
    best_id: str
    accepted: list[str] = Field(default_factory=list)
    spend: Spend = Field(default_factory=Spend)
    seen_keys: list[str] = Field(default_factory=list)
    updated: str = Field(default_factory=_now)


class PairedScore(BaseModel):
    """One gate unit: the parent's and the candidate's score on the same (env, seed)."""

    env: str
    seed: int
    parent: float
    candidate: float


class LedgerEntry(BaseModel):
    """One finished iteration. ``runtime`` holds the only fields that vary between reruns."""

    iteration: int
    parent: str
    candidate: str | None
    decision: Literal["accept", "reject", "invalid"]
    reason: str
    rule: str
    parent_mean: float | None = None
    candidate_mean: float | None = None
    stats: dict[str, float] = Field(default_factory=dict)
    scores: list[PairedScore] = Field(default_factory=list)
    changelog: list[str] = Field(default_factory=list)
    proposer: str = ""
    attempts: int = 1
    proposal_errors: list[str] = Field(default_factory=list)
    reflection: dict[str, Any] = Field(default_factory=dict)
    cost: Spend = Field(default_factory=Spend)
    runtime: dict[str, Any] = Field(default_factory=dict)


def is_structural_run(path: str | Path) -> bool:
    """Whether ``path`` is a structural trainer run directory."""
    state = Path(path) / "state.json"
    if not state.is_file():
        return False
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == RUN_KIND


class RunDir:
    """Reads and writes one run directory (see module docstring).

    Args:
        root: the directory (created by :meth:`init`).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ----------------------------------------------------------------- paths
    @property
    def state_path(self) -> Path:
        """state.json."""
        return self.root / "state.json"

    @property
    def config_path(self) -> Path:
        """config.json."""
        return self.root / "config.json"

    @property
    def ledger_path(self) -> Path:
        """ledger.jsonl."""
        return self.root / "ledger.jsonl"

    @property
    def stop_path(self) -> Path:
        """The STOP file."""
        return self.root / "STOP"

    @property
    def cache_dir(self) -> Path:
        """The default evaluation cache."""
        return self.root / "cache"

    def scaffold_path(self, scaffold_id: str) -> Path:
        """Where the scaffold with ``scaffold_id`` is saved."""
        return self.root / "scaffolds" / f"{scaffold_id}.yaml"

    def proposal_path(self, iteration: int) -> Path:
        """Where iteration ``iteration``'s proposal record is saved."""
        return self.root / "proposals" / f"{iteration:03d}.json"

    def reflection_path(self, iteration: int) -> Path:
        """Where iteration ``iteration``'s reflection is saved."""
        return self.root / "reflections" / f"{iteration:03d}.json"

    # --------------------------------------------------------------- existence
    def exists(self) -> bool:
        """Whether a run was started here."""
        return self.state_path.exists()

    def stop_requested(self) -> bool:
        """Whether the STOP file exists."""
        return self.stop_path.exists()

    def clear_stop(self) -> bool:
        """Remove the STOP file; return whether there was one."""
        if self.stop_path.exists():
            self.stop_path.unlink()
            return True
        return False

    # ----------------------------------------------------------- config/state
    def write_config(self, config: StructuralConfig) -> None:
        """Save the run's configuration."""
        atomic_write(self.config_path, json.dumps(config.snapshot(), indent=2) + "\n")

    def read_config(self) -> StructuralConfig:
        """Load the run's configuration.

        Raises:
            RunDirError: missing or invalid.
        """
        if not self.config_path.exists():
            raise RunDirError(f"{self.root} has no config.json: not a structural run directory")
        try:
            return StructuralConfig.model_validate_json(self.config_path.read_text("utf-8"))
        except ValidationError as exc:
            raise RunDirError(f"{self.config_path} is invalid: {exc}") from exc

    def write_state(self, state: RunState) -> None:
        """Checkpoint ``state`` atomically (a kill leaves the old or the new file)."""
        state.updated = _now()
        atomic_write(self.state_path, state.model_dump_json(indent=2) + "\n")

    def read_state(self) -> RunState:
        """Load the run state.

        Raises:
            RunDirError: missing, of another kind, or newer than this SDK.
        """
        if not self.state_path.exists():
            raise RunDirError(f"{self.root} has no state.json: nothing to resume")
        try:
            data = json.loads(self.state_path.read_text("utf-8"))
        except ValueError as exc:
            raise RunDirError(f"{self.state_path} is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("kind") != RUN_KIND:
            raise RunDirError(f"{self.root} is not a structural trainer run")
        if int(data.get("schema_version", 1)) > RUN_SCHEMA_VERSION:
            raise RunDirError(
                f"{self.state_path} was written by a newer automem-sdk "
                f"(schema_version {data.get('schema_version')}); upgrade to resume it"
            )
        try:
            return RunState.model_validate(data)
        except ValidationError as exc:
            raise RunDirError(f"{self.state_path} is invalid: {exc}") from exc

    # -------------------------------------------------------------- scaffolds
    def save_scaffold(self, scaffold: Scaffold) -> Path:
        """Save ``scaffold`` under its id (idempotent)."""
        path = self.scaffold_path(scaffold.id)
        if not path.exists():
            atomic_write(path, scaffold.to_yaml())
        return path

    def load_scaffold(self, scaffold_id: str) -> Scaffold:
        """Load a saved scaffold.

        Raises:
            RunDirError: not saved here.
        """
        path = self.scaffold_path(scaffold_id)
        if not path.exists():
            raise RunDirError(f"scaffold {scaffold_id} is not saved in {self.root}/scaffolds")
        return Scaffold.from_yaml(path.read_text("utf-8"))

    def set_best(self, scaffold: Scaffold) -> None:
        """Write best.yaml (the accepted scaffold)."""
        atomic_write(self.root / "best.yaml", scaffold.to_yaml())

    # ----------------------------------------------------------------- ledger
    def read_ledger(self) -> list[LedgerEntry]:
        """Every complete ledger entry (a torn last line is ignored)."""
        if not self.ledger_path.exists():
            return []
        out: list[LedgerEntry] = []
        for line in self.ledger_path.read_text("utf-8").splitlines():
            if not line.strip():
                continue
            try:
                out.append(LedgerEntry.model_validate_json(line))
            except ValidationError:
                continue
        return out

    def append_ledger(self, entry: LedgerEntry) -> None:
        """Append one entry and flush it to disk."""
        self.ledger_path.parent.mkdir(parents=True, exist_ok=True)
        with self.ledger_path.open("a", encoding="utf-8") as f:
            f.write(entry.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())

    def truncate_ledger(self, before_iteration: int) -> int:
        """Keep only entries of iterations before ``before_iteration``; return how many."""
        entries = self.read_ledger()
        keep = [e for e in entries if e.iteration < before_iteration]
        raw = self.ledger_path.read_text("utf-8") if self.ledger_path.exists() else ""
        text = "".join(e.model_dump_json() + "\n" for e in keep)
        if text != raw:
            atomic_write(self.ledger_path, text)
        return len(keep)

    # ------------------------------------------------------------ side files
    def write_json(self, path: Path, data: Any) -> None:
        """Write a JSON side file atomically."""
        atomic_write(path, json.dumps(data, indent=2, sort_keys=False) + "\n")

    def read_json(self, path: Path) -> Any:
        """Read a JSON side file (None if missing or torn)."""
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text("utf-8"))
        except ValueError:
            return None
