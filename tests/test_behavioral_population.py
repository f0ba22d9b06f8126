"""A labelled behaviour population on MiniHack, and the selectors measured on it.

The study's map teacher misfiles 30% of its map lines; the verified selector must cut
the misfiled ones from the targets while keeping the correct ones, which the episode
selectors do not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("minihack")

from automem_sdk.trainers.behavioral.credit import NLEMapVerifier
from automem_sdk.trainers.behavioral.credit_eval import score_selection
from automem_sdk.trainers.behavioral.population import Member, play_population, read_labels
from automem_sdk.trainers.behavioral.replay import EnvState, WriteDecision
from automem_sdk.trainers.behavioral.selectors import parse_selector
from automem_sdk.trainers.behavioral.traces import load_traces
from automem_sdk.trainers.behavioral.worlds import make_world

from automem_sdk.ops import UpsertOp

pytestmark = pytest.mark.games

TASK = "minihack/MazeWalk-15x15"


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("population")
    world = make_world(TASK, 40)
    rows = play_population(
        root,
        world.env_factory,
        [2000, 2002],
        [Member(name="misfile30", misfile=0.3), Member(name="redundant30", redundant=0.3)],
        base_factory=world.teacher_factory,
        task_factory=world.task_factory,
        scaffold=world.scaffold,
        max_steps=40,
    )
    assert len(rows) == 4
    return root


def test_labels_mark_what_the_policy_spoiled(population: Path) -> None:
    traces = load_traces(str(population / "traces"))
    labels = [read_labels(lt.url) for lt in traces]
    misfiled = [lab for lt, lab in zip(traces, labels, strict=True) if "misfile" in lt.url]
    redundant = [lab for lt, lab in zip(traces, labels, strict=True) if "redundant" in lt.url]
    n_mis = sum(v == "misfiled" for lab in misfiled for v in lab.values())
    n_good = sum(v == "good" for lab in misfiled for v in lab.values())
    assert n_mis > 0 and n_good > n_mis  # about 30% of the cell lines
    assert sum(v == "redundant" for lab in redundant for v in lab.values()) > 0
    assert all(v != "misfiled" for lab in redundant for v in lab.values())


def test_verified_cuts_misfiled_writes_the_old_selectors_keep(population: Path) -> None:
    traces = load_traces(str(population / "traces"))
    world = make_world(TASK, 40)
    old = score_selection(traces, parse_selector("outcome:0.5 | hindsight").select(traces), "old")
    ctx = world.credit_context()
    new = score_selection(
        traces, parse_selector("verified", context=ctx).select(traces), "verified"
    )
    ctx.close()
    assert ctx.stats.replay_mismatches == 0  # the game replays exactly from seed + actions
    assert old.selected.get("misfiled", 0) >= 5 and old.corrupted_share > 0.1
    assert new.corrupted_share <= 0.05
    assert new.correct_kept >= 0.7
    assert new.selected.get("redundant", 0) == 0  # writes that changed nothing


def _state(step: int, x: int, y: int, kinds: str, obs: str = "") -> EnvState:
    return EnvState(step, obs, {"x": x, "y": y, "dlvl": 1, "around_kinds": kinds})


def _write(key: str, value: str, step: int = 1) -> WriteDecision:
    return WriteDecision(
        key=("t", step, "log", 0),
        index=0,
        step=step,
        routine="log",
        op=UpsertOp(path="map.md", key=key, value=value),
        changed=True,
    )


def test_map_verifier_on_crafted_lines() -> None:
    # at (10,5): open to the east and west only (row by row, player in the middle)
    states = [_state(0, 10, 5, "   f f   "), _state(1, 11, 5, "   f f   ")]
    v = NLEMapVerifier()
    assert v.check(_write("10,5", "visited exits=e,w"), states)[0] is True
    assert v.check(_write("11,5", "visited exits=e blocked=w"), states)[0] is True
    assert v.check(_write("12,5", "visited exits=e,w"), states)[0] is False  # never there
    assert v.check(_write("10,5", "visited exits=n,e,w"), states)[0] is False  # wrong exits
    assert v.check(_write("11,5", "visited exits=e,w", step=0), states)[0] is False  # future
    obs = "map (columns x=9..12, rows y=4..6; you are @ at x=10, y=5):\n....\n.@.>\n...."
    seen = [_state(0, 10, 5, "   f f   ", obs)]
    assert v.check(_write("stairs", "12,5", step=0), seen)[0] is True
    assert v.check(_write("stairs", "11,5", step=0), seen)[0] is False
    other = WriteDecision(
        key=("t", 0, "log", 0),
        index=0,
        step=0,
        routine="log",
        op=UpsertOp(path="notes.md", key="k", value="v"),
        changed=True,
    )
    assert v.check(other, seen)[0] is None
