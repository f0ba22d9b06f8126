"""The keyless NLE explorer: memory-driven decisions through op tokens."""

from __future__ import annotations

from typing import Any

import pytest
from automem_sdk.benchmarks.players import NLEExplorer
from automem_sdk.benchmarks.players.nle_explorer import parse_map, stairs_in_view

from automem_sdk.codec import parse_ops
from automem_sdk.env import RoutineRequest
from automem_sdk.ops import ActionOp, DoneOp, OpResult, ReadOp, UpsertOp

MOVES = ["north", "east", "south", "west", "northeast", "southeast", "southwest", "northwest"]


def _obs(x0: int = 10, y0: int = 5, rows: tuple[str, ...] = ("...", ".@.", "...")) -> str:
    x1 = x0 + max(len(r) for r in rows) - 1
    y1 = y0 + len(rows) - 1
    header = f"map (columns x={x0}..{x1}, rows y={y0}..{y1}; you are @ at x=0, y=0):"
    return "message:\n(no message)\n\n" + header + "\n" + "\n".join(rows) + "\n\nstatus:\nDlvl:1"


def _req(
    routine: str,
    turn: int,
    *,
    x: int = 11,
    y: int = 6,
    kinds: str = "wfwfmfwfw",
    results: list[OpResult] | None = None,
    observation: str | None = None,
    **info: Any,
) -> RoutineRequest:
    base = {
        "x": x,
        "y": y,
        "around_kinds": kinds,
        "game": "minihack",
        "dlvl": 1,
        "message": "",
        "action": None,
        "changed": True,
    }
    base.update(info)
    return RoutineRequest(
        routine=routine,  # type: ignore[arg-type]
        step=0,
        turn=turn,
        messages=[],
        observation=observation if observation is not None else _obs(),
        actions=[*MOVES, "search"],
        info=base,
        last_results=results or [],
    )


def _read(text: str) -> list[OpResult]:
    return [OpResult(op="read", ok=True, text=text or "(map.md is empty)", path="map.md")]


def _off() -> list[OpResult]:
    msg = "memory is disabled for this agent"
    return [OpResult(op="read", ok=False, text=f"ERROR (read): {msg}", error=msg)]


def _ops(explorer: NLEExplorer, req: RoutineRequest) -> list[Any]:
    return parse_ops(explorer.decide(req).text)


def _action(explorer: NLEExplorer, req: RoutineRequest) -> str:
    ops = _ops(explorer, req)
    assert len(ops) == 1 and isinstance(ops[0], ActionOp), ops
    return ops[0].name


def test_parse_map_lines_and_levels() -> None:
    text = (
        "12,5: visited exits=n,e dead_end\n"
        "13,5: visited exits=w,e blocked=s\n"
        "stairs: 20,7\n"
        "2:12,5: visited exits=s\n"
        "2:stairs: 3,3\n"
        "junk line\n"
    )
    k = parse_map(text)
    assert k.visited == {(12, 5): ["north", "east"], (13, 5): ["west", "east"]}
    assert k.dead_ends == {(12, 5)} and k.blocked == {(13, 5): {"south"}}
    assert k.stairs == (20, 7)
    assert k.lines["2:12,5"] == "visited exits=s" and k.lines["stairs"] == "20,7"
    k2 = parse_map(text, level=2)
    assert k2.visited == {(12, 5): ["south"]} and k2.stairs == (3, 3)


def test_stairs_in_view_uses_map_coordinates() -> None:
    obs = _obs(30, 2, ("....>", ".@...", "....."))
    assert stairs_in_view(obs) == [(34, 2)]
    assert stairs_in_view("no map here") == []


def test_log_reads_then_upserts_what_changed() -> None:
    ex = NLEExplorer(seed=0)
    ops = _ops(ex, _req("log", 0))
    assert ops == [ReadOp(path="map.md")]
    # kinds: walls at the corners, floor n/e/s/w -> exits n,e,s,w
    ops = _ops(ex, _req("log", 1, results=_read("")))
    assert ops == [
        UpsertOp(path="map.md", key="11,6", value="visited exits=n,e,s,w"),
        DoneOp(),
    ]
    # the same cell already recorded: nothing to write
    ops = _ops(ex, _req("log", 1, results=_read("11,6: visited exits=n,e,s,w\n")))
    assert ops == [DoneOp()]


def test_log_records_stairs_dead_ends_and_blocked_moves() -> None:
    ex = NLEExplorer(seed=0)
    obs = _obs(10, 5, ("  >", " @ ", "   "))
    ops = _ops(ex, _req("log", 1, kinds="  >wm    ", results=_read(""), observation=obs))
    assert UpsertOp(path="map.md", key="stairs", value="12,5") in ops
    assert UpsertOp(path="map.md", key="11,6", value="visited exits=ne dead_end") in ops
    # a move east that changed nothing from a known cell: east is blocked
    known = "11,6: visited exits=n,e,s,w\n"
    ops = _ops(ex, _req("log", 1, results=_read(known), action="east", changed=False))
    assert ops[0] == UpsertOp(path="map.md", key="11,6", value="visited exits=n,s,w blocked=e")


def test_nethack_lines_are_keyed_by_level() -> None:
    ex = NLEExplorer(seed=0)
    ops = _ops(ex, _req("log", 1, results=_read(""), game="nethack", dlvl=3))
    assert ops[0] == UpsertOp(path="map.md", key="3:11,6", value="visited exits=n,e,s,w")


def test_a_large_nethack_map_is_compacted_to_the_current_level() -> None:
    from automem_sdk.ops import WriteOp

    ex = NLEExplorer(seed=0, max_map_chars=200)
    old = "".join(f"1:{x},3: visited exits=e,w\n" for x in range(20))
    known = old + "2:stairs: 5,5\n2:11,5: visited exits=s\n"
    ops = _ops(ex, _req("log", 1, results=_read(known), game="nethack", dlvl=2))
    assert isinstance(ops[0], WriteOp) and ops[1] == DoneOp()
    lines = ops[0].content.splitlines()
    assert lines == ["2:stairs: 5,5", "2:11,5: visited exits=s", "2:11,6: visited exits=n,e,s,w"]
    # below the threshold, upserts as usual
    ops = _ops(NLEExplorer(seed=0), _req("log", 1, results=_read(known), game="nethack", dlvl=2))
    assert isinstance(ops[0], UpsertOp)


def test_plan_reads_memory_then_follows_it() -> None:
    ex = NLEExplorer(seed=0)
    assert _ops(ex, _req("plan", 0)) == [ReadOp(path="map.md")]
    # west and north were visited (dead ends); east is the only frontier
    known = (
        "11,6: visited exits=n,e,s,w\n"
        "10,6: visited exits=e dead_end\n"
        "11,5: visited exits=s dead_end\n"
        "11,7: visited exits=n dead_end\n"
    )
    assert _action(ex, _req("plan", 1, results=_read(known))) == "east"
    # the remembered stairs win over the frontier when a remembered route leads there
    known2 = known + "stairs: 11,8\n11,7: visited exits=n,s\n"
    assert _action(ex, _req("plan", 1, results=_read(known2))) == "south"


def test_decisions_come_from_what_is_read_back() -> None:
    req_a = _req(
        "plan", 1, results=_read("11,6: visited exits=e,w\n10,6: visited exits=e dead_end\n")
    )
    req_b = _req(
        "plan", 1, results=_read("11,6: visited exits=e,w\n12,6: visited exits=w dead_end\n")
    )
    kinds = "wwwfmfwww"
    req_a.info["around_kinds"] = req_b.info["around_kinds"] = kinds
    assert _action(NLEExplorer(seed=1), req_a) == "east"
    assert _action(NLEExplorer(seed=1), req_b) == "west"


def test_without_memory_it_wanders_and_is_deterministic() -> None:
    seq_a = [_action(NLEExplorer(seed=5), _req("plan", 1, results=_off())) for _ in range(3)]
    ex1, ex2 = NLEExplorer(seed=5), NLEExplorer(seed=5)
    run1 = [_action(ex1, _req("plan", 1, results=_off())) for _ in range(20)]
    run2 = [_action(ex2, _req("plan", 1, results=_off())) for _ in range(20)]
    assert run1 == run2
    assert set(run1) <= {"north", "east", "south", "west"}  # only the open directions
    assert len(set(run1)) > 1 and seq_a[0] == run1[0]
    # stairs in view: greedy step towards them
    obs = _obs(10, 5, ("...", ".@.", "..>"))
    assert _action(NLEExplorer(seed=0), _req("plan", 1, results=_off(), observation=obs)) in (
        "east",
        "south",
    )


def test_memory_false_never_touches_memory() -> None:
    ex = NLEExplorer(memory=False, seed=0)
    assert ex.name.endswith("nomem")
    assert _ops(ex, _req("log", 0)) == [DoneOp()]
    assert len(_ops(ex, _req("plan", 0))) == 1


def test_prompts_food_and_stairs() -> None:
    ex = NLEExplorer(seed=0)
    req = _req("plan", 1, results=_read(""), message="What do you want to eat? [d or ?*]")
    req.actions = [*req.actions, "d", "esc", "down", "eat"]
    assert _action(ex, req) == "d"
    req.info["message"] = "Really attack the watchman? [yn] (n)"
    assert _action(ex, req) == "esc"
    req.info["message"] = "There is a staircase down here."
    assert _action(ex, req) == "down"


@pytest.mark.games
def test_real_episodes_keep_the_map_in_memory() -> None:
    pytest.importorskip("minihack")
    from automem_sdk.benchmarks.envs.minihack import make_minihack

    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.store import MemoryStore

    env = make_minihack("MazeWalk-9x9", max_steps=40)
    try:
        results = []
        maps = []
        for run in range(2):
            store = MemoryStore(f"memory://explorer-test/{run}")
            agent = MemoryAgent(store, "minihack", NLEExplorer(seed=3))
            results.append(run_episode(env, agent, 4))
            maps.append(store.read("map.md"))
        assert results[0].steps == results[1].steps
        assert results[0].progression == results[1].progression
        assert maps[0] == maps[1]  # deterministic
        lines = maps[0].splitlines()
        assert len(lines) >= min(results[0].steps, 5) // 2
        assert all(": visited exits=" in ln or ln.startswith("stairs: ") for ln in lines)
        off_store = MemoryStore("memory://explorer-test/off")
        off = MemoryAgent(off_store, "minihack", NLEExplorer(seed=3), memory="off")
        run_episode(env, off, 4)
        assert not off_store.exists("map.md") or off_store.read("map.md") == ""
    finally:
        env.close()


@pytest.mark.games
def test_nethack_episode_with_the_explorer() -> None:
    pytest.importorskip("nle")
    from automem_sdk.benchmarks.envs.nethack import make_nethack

    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.store import MemoryStore

    env = make_nethack(max_steps=25)
    try:
        store = MemoryStore("memory://explorer-test/nethack")
        agent = MemoryAgent(store, "nethack", NLEExplorer(seed=0))
        res = run_episode(env, agent, 2)
        assert 1 <= res.steps <= 25
        lines = store.read("map.md").splitlines()
        assert lines and all(ln.startswith("1:") for ln in lines)
    finally:
        env.close()


@pytest.mark.games
def test_compare_command_runs_both_modes(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("minihack")
    import argparse

    from automem_sdk.benchmarks.players import compare_nle

    res = compare_nle.compare("MazeWalk-9x9", [0, 1], max_steps=30, quiet=True)
    assert len(res["on"]) == len(res["off"]) == 2
    assert all(v in (0.0, 1.0) for v in res["on"] + res["off"])
    parser = argparse.ArgumentParser()
    compare_nle.register(parser.add_subparsers())
    args = parser.parse_args(["explorer-compare", "--task", "MazeWalk-9x9", "--seeds", "2"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "on - off (paired)" in out and "MazeWalk-9x9" in out
