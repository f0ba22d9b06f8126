"""Silent-fault diagnostics on crafted traces, and the heuristic rules that act on them."""

from __future__ import annotations

from typing import Any

from automem_sdk.trainers.structural.faults import FAULT_NAMES, find_faults, log_endings
from automem_sdk.trainers.structural.heuristic import HeuristicProposer
from automem_sdk.trainers.structural.reflect import reflect

from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.trace import StepRecord, Trace, TraceHeader, TurnRecord


def _res(op: str, ok: bool = True, text: str = "", path: str | None = None, **kw: Any) -> dict:
    return {"op": op, "ok": ok, "text": text, "path": path, **kw}


def _turn(step: int, routine: str, turn: int, ops: list[dict], results: list[dict]) -> TurnRecord:
    return TurnRecord(step=step, routine=routine, turn=turn, ops=ops, results=results)  # type: ignore[arg-type]


def _read(step: int, routine: str, turn: int, text: str, path: str = "map.md") -> TurnRecord:
    return _turn(
        step, routine, turn, [{"op": "read", "path": path}], [_res("read", True, text, path)]
    )


def _trace(turns: list[TurnRecord], steps: int, seed: int = 0) -> Trace:
    return Trace(
        header=TraceHeader(env="toy", seed=seed),
        turns=turns,
        steps=[StepRecord(step=i, action="north") for i in range(steps)],
    )


def _names(faults: list[Any]) -> set[tuple[str, str]]:
    return {(f.name, f.subject) for f in faults}


def _stock(**limits: int) -> Scaffold:
    s = load_scaffold("minihack")
    return s.child("test", limits=s.limits.model_copy(update=limits)) if limits else s


def _starved_log(steps: int = 30, budget: str = "ops") -> list[Trace]:
    """LOG reads map.md (empty) and is cut off by its budget; PLAN reads it empty too."""
    turns: list[TurnRecord] = []
    for s in range(steps):
        turns.append(_read(s, "log", 0, "(map.md is empty)"))
        turns.append(_read(s, "plan", 0, "(map.md is empty)"))
        turns.append(
            _turn(s, "plan", 1, [{"op": "action", "name": "north"}], [_res("action", True, "ok")])
        )
    return [_trace(turns, steps, seed) for seed in range(3)]


def test_fault_names_are_documented() -> None:
    import automem_sdk.trainers.structural.faults as mod

    for name in FAULT_NAMES:
        assert name in (mod.__doc__ or ""), name


def test_log_budget_exhausted_by_ops_with_an_empty_file() -> None:
    scaffold = _stock(max_log_ops=1)
    faults = find_faults(_starved_log(), scaffold)
    names = _names(faults)
    assert ("log_budget_exhausted", "ops") in names
    assert ("file_never_written", "map.md") in names
    assert ("reads_of_empty_file", "map.md") in names
    assert ("memory_unchanged", "memory") in names
    assert ("plan_ignores_memory", "plan") in names
    f = next(f for f in faults if f.name == "log_budget_exhausted")
    assert (
        f.share == 1.0
        and "ops budget (1)" in f.evidence
        and "90 of them wrote nothing" in (f.evidence)
    )
    ends = log_endings(_starved_log(3)[0], scaffold)
    assert [e.ended for e in ends if e.routine == "log"] == ["ops"] * 3
    assert [e.ended for e in ends if e.routine == "plan"] == ["action"] * 3


def test_log_budget_exhausted_by_turns() -> None:
    faults = find_faults(_starved_log(), _stock(max_log_turns=1))
    assert ("log_budget_exhausted", "turns") in _names(faults)
    assert ("log_budget_exhausted", "ops") not in _names(faults)


def test_a_healthy_log_shows_no_budget_or_empty_faults() -> None:
    turns: list[TurnRecord] = []
    for s in range(30):
        turns.append(_read(s, "log", 0, "1,1: visited" if s else "(map.md is empty)"))
        turns.append(
            _turn(
                s,
                "log",
                1,
                [{"op": "upsert", "path": "map.md"}, {"op": "done"}],
                [_res("upsert", True, "ok", "map.md", changed=True), _res("done", True, "done")],
            )
        )
        turns.append(_read(s, "plan", 0, "1,1: visited"))
        turns.append(
            _turn(s, "plan", 1, [{"op": "action", "name": "north"}], [_res("action", True, "ok")])
        )
    traces = [_trace(turns, 30, seed) for seed in range(3)]
    memory = [{"map.md": "1,1: visited\n", "notes.md": "", "plan.md": ""}] * 3
    faults = find_faults(traces, _stock(), memory_end=memory)
    names = _names(faults)
    for bad in ("log_budget_exhausted", "memory_unchanged", "plan_ignores_memory"):
        assert not any(n == bad for n, _ in names), faults
    assert ("file_never_written", "map.md") not in names
    assert ("reads_of_empty_file", "map.md") not in names
    # The files nobody wrote are still reported (from the memory at the end).
    assert ("file_never_written", "notes.md") in names


def test_write_only_file() -> None:
    turns = [
        _turn(
            s,
            "log",
            0,
            [{"op": "append", "path": "notes.md"}, {"op": "done"}],
            [_res("append", True, "ok", "notes.md", changed=True), _res("done", True, "done")],
        )
        for s in range(5)
    ]
    faults = find_faults([_trace(turns, 5, k) for k in range(2)], _stock())
    f = next(f for f in faults if f.name == "write_only_file")
    assert f.subject == "notes.md" and f.share == 1.0


def test_empty_placeholder_and_missing_observation() -> None:
    s = load_scaffold("minihack")
    broken = s.model_copy(
        update={
            "prompts": s.prompts.model_copy(
                update={"log": "Step {step}. LOG. {observaton}\n{feedback}"}
            )
        }
    )
    faults = find_faults(_starved_log(2), broken)
    subjects = {f.subject for f in faults if f.name == "empty_placeholder"}
    assert "log:observaton" in subjects  # misspelt: renders empty
    assert "log:observation" in subjects  # and the real one is missing
    assert not any(x.startswith("plan:") for x in subjects)
    # The act prompt only counts where the task model acted.
    no_obs_act = s.model_copy(update={"prompts": s.prompts.model_copy(update={"act": "Go."})})
    assert not any(f.subject.startswith("act:") for f in find_faults(_starved_log(2), no_obs_act))


def test_ops_missing_from_errors() -> None:
    turns = [
        _turn(
            0,
            "log",
            0,
            [{"op": "upsert", "path": "map.md"}, {"op": "custom", "name": "UPSERT_MAP"}],
            [
                _res("upsert", False, "ERROR", error="op 'upsert' is not enabled in this scaffold"),
                _res(
                    "custom",
                    False,
                    "ERROR",
                    error="unknown op 'UPSERT_MAP' (no scaffold declares it)",
                ),
            ],
        )
    ]
    faults = find_faults([_trace(turns, 1)], _stock())
    assert {f.subject for f in faults if f.name == "ops_missing"} == {"upsert", "UPSERT_MAP"}


def test_plan_budget_exhausted() -> None:
    turns: list[TurnRecord] = []
    for s in range(10):
        turns.append(_read(s, "plan", 0, "1,1: visited"))
    faults = find_faults([_trace(turns, 10)], _stock(max_plan_turns=1))
    assert ("plan_budget_exhausted", "turns") in _names(faults)


def test_heuristic_repairs_silent_log_budgets_as_a_ladder() -> None:
    for limits, field in (
        ({"max_log_ops": 1}, "max_log_ops"),
        ({"max_log_turns": 1}, "max_log_turns"),
    ):
        parent = _stock(**limits)
        r = reflect(_starved_log(), parent)
        assert r.fault("log_budget_exhausted") is not None
        assert "Silent faults" in r.to_prompt()
        prop = HeuristicProposer().propose(parent, r)
        assert prop.changelog[0].startswith(f"log_budget: {field} 1->")
        assert getattr(prop.scaffold.limits, field) > 1
    # LOG switched off entirely: no LOG turns at all, the empty map is the evidence.
    parent = _stock(max_log_ops=0)
    r = reflect(_starved_log(), parent)
    prop = HeuristicProposer().propose(parent, r)
    assert prop.scaffold.limits.max_log_ops == 2, prop.changelog


def test_heuristic_restores_a_prompt_that_lost_its_observation() -> None:
    s = load_scaffold("minihack")
    broken = s.child("x", prompts=s.prompts.model_copy(update={"log": "Step {step}. LOG.\n"}))
    r = reflect(_starved_log(2), broken)
    props = HeuristicProposer(rules=["restore_prompt"]).candidates(broken, r)
    assert props and props[0].scaffold.prompts.log == s.prompts.log


def _refused(step: int, key: str, would: int, cap: int = 64) -> TurnRecord:
    err = (
        f"map.md would grow to {would} bytes, over its cap of {cap}; "
        "summarise or replace old lines instead"
    )
    return _turn(
        step,
        "log",
        0,
        [{"op": "upsert", "path": "map.md", "key": key, "value": "visited"}],
        [_res("upsert", False, err, "map.md", error=err)],
    )


def test_cap_raise_is_sized_by_what_the_refused_writes_needed() -> None:
    from automem_sdk.scaffold import FileSpec

    files = [
        f.model_copy(update={"max_bytes": 64}) if f.name == "map.md" else f
        for f in load_scaffold("minihack").files
    ]
    parent = load_scaffold("minihack").child("cap 64", files=files)
    # 400 distinct cells refused at 30 bytes over the cap each, every one retried once:
    # 12,000 bytes more in the worst episode (the retry is not counted twice).
    big = [_refused(s, f"{s},1", 94) for s in range(400)]
    big += [_refused(400 + s, f"{s},1", 94) for s in range(400)]
    small = [_refused(s, f"{s},1", 94) for s in range(10)]
    r = reflect([_trace(big, 800, 0), _trace(small, 10, 1)], parent)
    st = r.files["map.md"]
    assert st.cap_rejections == 810 and st.overflow_bytes == 12_000
    assert "up to 12000 bytes per episode" in r.to_prompt()
    got = HeuristicProposer().propose(parent, r)
    cap = got.scaffold.file("map.md")
    assert isinstance(cap, FileSpec)
    assert cap.max_bytes == 32_768  # 2 x (64 + 12,000) rounded up to a power of two
    assert got.changelog[0].startswith("raise_caps: map.md 64->32768 (810 writes refused")
