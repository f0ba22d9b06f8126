"""Structural trainer pieces: seeds, gate rules, validation, proposal parsing, heuristics,
reflection and the evaluation cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from automem_sdk.trainers import structural
from automem_sdk.trainers.structural.config import AgentConfig, Prices
from automem_sdk.trainers.structural.envs import load_start_scaffold
from automem_sdk.trainers.structural.evaluate import (
    EpisodeEvaluator,
    EvalCache,
    EvalStats,
    cache_key,
    evaluate_many,
)
from automem_sdk.trainers.structural.gate import (
    NoRegression,
    PairedBootstrap,
    StrictMean,
    make_rule,
)
from automem_sdk.trainers.structural.heuristic import HeuristicProposer
from automem_sdk.trainers.structural.llm_proposer import apply_json_patch, parse_proposal
from automem_sdk.trainers.structural.proposal import InvalidProposal, NoProposal
from automem_sdk.trainers.structural.reflect import Attempt, FileStats, Reflection, reflect
from automem_sdk.trainers.structural.seeds import check_disjoint, format_seeds, parse_seeds
from automem_sdk.trainers.structural.validate import validate_candidate

from automem_sdk.episode_result import EpisodeResult
from automem_sdk.scaffold import Scaffold, load_scaffold
from automem_sdk.trace import read_trace


def test_public_names_import() -> None:
    for name in structural.__all__:
        assert getattr(structural, name) is not None, name
    with pytest.raises(AttributeError):
        _ = structural.not_a_name  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- seeds
def test_parse_seeds_ranges_lists_and_errors() -> None:
    assert parse_seeds("0-3,10,12-13") == [0, 1, 2, 3, 10, 12, 13]
    assert parse_seeds("5, 5, 6") == [5, 6]
    assert parse_seeds(7) == [7]
    assert parse_seeds([3, 1, 3]) == [3, 1]
    assert format_seeds([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    for bad in ("", "a", "3-1", "1-x"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_overlap_is_refused_with_a_clear_message() -> None:
    assert check_disjoint([0, 1], [2, 3]) == []
    with pytest.raises(structural.SeedOverlapError) as err:
        check_disjoint(range(0, 4), range(2, 10))
    msg = str(err.value)
    assert "overlap on 2-3" in msg and "--allow-seed-overlap" in msg
    assert check_disjoint([1, 2], [2], allow_overlap=True) == [2]


# ------------------------------------------------------------------------------ gate
def test_strict_mean_rule() -> None:
    d = StrictMean().decide([0.4, 0.4], [0.4, 0.4])
    assert not d.accept and d.reason == "mean 0.400 <= parent 0.400"
    d = StrictMean().decide([0.0, 1.0], [1.0, 1.0])
    assert d.accept and d.reason == "mean 1.000 > parent 0.500"
    assert not StrictMean(min_delta=0.6).decide([0.0, 1.0], [1.0, 1.0]).accept


def test_no_regression_rule() -> None:
    d = NoRegression().decide([1.0, 0.0, 0.0], [0.0, 1.0, 1.0])
    assert not d.accept and "regressed" in d.reason and d.stats["regressions"] == 1
    assert NoRegression().decide([1.0, 0.0], [1.0, 1.0]).accept
    d = NoRegression().decide([1.0, 0.0], [1.0, 0.0])
    assert not d.accept and "<=" in d.reason


def test_bootstrap_rule_is_seeded_and_respects_confidence() -> None:
    parent = [0.0] * 10
    clear_win = [1.0] * 8 + [0.0] * 2
    noisy = [1.0, 0.0] * 5
    noisy_parent = [0.0, 1.0] * 4 + [1.0, 0.0]
    assert PairedBootstrap(0.95, 500, seed=1).decide(parent, clear_win).accept
    d1 = PairedBootstrap(0.9, 500, seed=3).decide(noisy_parent, noisy)
    d2 = PairedBootstrap(0.9, 500, seed=3).decide(noisy_parent, noisy)
    assert d1 == d2 and not d1.accept
    assert "lower bound" in d1.reason
    with pytest.raises(ValueError):
        PairedBootstrap(1.5)
    with pytest.raises(ValueError):
        StrictMean().decide([1.0], [1.0, 0.0])
    assert make_rule("bootstrap").name == "bootstrap"
    with pytest.raises(ValueError):
        make_rule("nope")  # type: ignore[arg-type]


# ------------------------------------------------------------------------ validation
def test_validate_candidate_reports_each_problem() -> None:
    parent = load_scaffold("minihack")
    assert validate_candidate(parent) == []
    same = parent.child("no-op")
    assert any("does not change anything" in p for p in validate_candidate(same, parent))
    bad = parent.child(
        "bad",
        prompts=parent.prompts.model_copy(update={"plan": "Step {step}. {bogus}"}),
        ops=["write", "append"],
        custom_ops=[],
        fallback_action="fly",
    )
    problems = validate_candidate(bad, parent, actions=["north", "wait"])
    text = "\n".join(problems)
    assert "unknown placeholders ['bogus']" in text
    assert "must include {observation}" in text
    assert "no reading op" in text
    assert "fallback_action 'fly'" in text
    huge = parent.child(
        "huge", files=[f.model_copy(update={"max_bytes": 10**7}) for f in parent.files]
    )
    assert any("per-file limit" in p for p in validate_candidate(huge, parent))


# --------------------------------------------------------------------- proposal text
def _yaml_reply(scaffold: Scaffold, notes: str = "Changelog:\n- raise the map cap\n") -> str:
    return f"{notes}\n```yaml\n{scaffold.to_yaml()}```\n"


def test_parse_proposal_full_yaml_sets_parent_and_changelog() -> None:
    parent = load_start_scaffold("cramped-map")
    files = [
        f.model_copy(update={"max_bytes": 4096}) if f.name == "map.md" else f for f in parent.files
    ]
    wanted = parent.model_copy(update={"files": files, "changelog": ["bogus"], "parent": "x"})
    cand, notes = parse_proposal(_yaml_reply(wanted), parent)
    assert notes == ["raise the map cap"]
    assert cand.parent == parent.id and cand.changelog[-1] == "raise the map cap"
    assert cand.file("map.md") is not None and cand.file("map.md").max_bytes == 4096  # type: ignore[union-attr]


def test_parse_proposal_json_patch() -> None:
    parent = load_scaffold("minihack")
    reply = (
        "Changelog:\n1. more LOG ops\n\n```json\n"
        '[{"op": "replace", "path": "/limits/max_log_ops", "value": 6},'
        ' {"op": "remove", "path": "/files/1"}]\n```'
    )
    cand, notes = parse_proposal(reply, parent)
    assert cand.limits.max_log_ops == 6 and len(cand.files) == len(parent.files) - 1
    assert notes == ["more LOG ops"]


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        ("no block at all", "no fenced block"),
        ("```yaml\nfoo: [unclosed\n```", "does not parse"),
        ("```yaml\n- 1\n- 2\n```", "JSON Patch does not apply"),
        ("```yaml\njust a string\n```", "must hold the scaffold as a mapping"),
        ("```yaml\nprompts: {system: a}\n```", "invalid scaffold"),
        ('```json\n[{"op": "replace", "path": "/nope/x", "value": 1}]\n```', "does not exist"),
        ('```json\n[{"op": "move", "path": "/name", "from": "/x"}]\n```', "unsupported op"),
    ],
)
def test_parse_proposal_errors_are_actionable(reply: str, fragment: str) -> None:
    with pytest.raises(InvalidProposal) as err:
        parse_proposal(reply, load_scaffold("generic"))
    assert fragment in str(err.value)


def test_apply_json_patch_add_to_list_end_and_dict() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    out = apply_json_patch(
        doc, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "add", "path": "/b/d", "value": 2}]
    )
    assert out == {"a": [1, 2, 3], "b": {"c": 1, "d": 2}} and doc["a"] == [1, 2]


# ------------------------------------------------------------------------ heuristics
def test_heuristic_rules_act_on_evidence_in_order() -> None:
    parent = load_start_scaffold("cramped-map")
    r = Reflection(
        scaffold_id=parent.id,
        files={
            "map.md": FileStats(
                writes=40,
                appends=40,
                reads=40,
                cap_rejections=12,
                failed_writes=12,
                repeated_append_keys=15,
                declared=True,
            ),
            "notes.md": FileStats(writes=5, appends=5, declared=True),
        },
        disabled_ops={"upsert": 3},
        max_prompt_tokens=500,
        max_log_ops_used=2,
    )
    cands = HeuristicProposer().candidates(parent, r)
    notes = [c.changelog[0].split(":")[0] for c in cands]
    assert notes == ["raise_caps", "enable_ops", "upsert_keyed", "drop_unread", "tighten"]
    caps = cands[0].scaffold
    assert caps.file("map.md").max_bytes == 1024  # type: ignore[union-attr]
    assert "upsert" in cands[1].scaffold.ops
    assert cands[3].scaffold.file("notes.md") is None
    assert cands[4].scaffold.limits.context_tokens == 700
    assert cands[4].scaffold.limits.max_log_ops == 2
    for c in cands:
        assert c.scaffold.parent == parent.id and validate_candidate(c.scaffold, parent) == []
    # A candidate already tried from this parent is skipped: raise_caps offers the next
    # size, then the next rule gets its turn.
    prop = HeuristicProposer()
    history: list[Attempt] = []
    seen = []
    for i in range(4):
        got = prop.propose(parent, r.model_copy(update={"history": history}))
        seen.append(got.changelog[0])
        history.append(
            Attempt(
                iteration=i + 1,
                parent=parent.id,
                candidate=got.scaffold.id,
                decision="reject",
                reason="mean 0 <= parent 0",
            )
        )
    assert [n.split(" (")[0] for n in seen] == [
        "raise_caps: map.md 256->1024",
        "raise_caps: map.md 256->4096",
        "raise_caps: map.md 256->16384",
        "enable_ops: upsert",
    ]
    # Tried from another parent does not count.
    other = Attempt(
        iteration=9, parent="other", candidate=cands[0].scaffold.id, decision="reject", reason="-"
    )
    assert prop.propose(parent, r.model_copy(update={"history": [other]})).scaffold.id == (
        cands[0].scaffold.id
    )
    with pytest.raises(NoProposal):
        HeuristicProposer().propose(parent, Reflection(scaffold_id=parent.id))
    with pytest.raises(ValueError):
        HeuristicProposer(rules=["nope"])


# ----------------------------------------------------------------- reflect + evaluate
@pytest.fixture(scope="module")
def cramped_scores(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[EvalCache, list[EpisodeResult]]:
    cache = EvalCache(tmp_path_factory.mktemp("cache"))
    ev = EpisodeEvaluator(AgentConfig(max_steps=40))
    scores = evaluate_many(
        ev, cache, load_start_scaffold("cramped-map"), [("toy/maze-6", 0), ("toy/maze-6", 1)]
    )
    return cache, scores


def test_reflect_finds_cap_rejections_and_excerpts(
    cramped_scores: tuple[EvalCache, list[EpisodeResult]],
) -> None:
    cache, scores = cramped_scores
    scaffold = load_start_scaffold("cramped-map")
    traces = [read_trace(str(cache.trace_of(s))) for s in scores]
    r = reflect(traces, scaffold)
    assert r.n_episodes == 2 and r.scaffold_id == scaffold.id
    m = r.files["map.md"]
    assert m.cap_rejections > 0 and m.appends > 0 and m.reads > 0
    assert r.files["notes.md"].reads == 0
    assert any("over its cap" in g.message for g in r.op_errors)
    text = r.to_prompt(4000)
    assert "rejected_over_cap=" in text and len(text) <= 4000
    if any(s.progression < 1 for s in scores):
        assert r.excerpts and "ERROR" in r.excerpts[0]


def test_cache_hits_do_not_replay(
    cramped_scores: tuple[EvalCache, list[EpisodeResult]],
) -> None:
    cache, scores = cramped_scores
    stats = EvalStats()

    class Boom:
        def fingerprint(self) -> str:
            return AgentConfig(max_steps=40).fingerprint()

        def evaluate(self, *a: object, **k: object) -> EpisodeResult:
            raise AssertionError("a cached episode was played again")

    again = evaluate_many(
        Boom(),
        cache,
        load_start_scaffold("cramped-map"),
        [("toy/maze-6", 0), ("toy/maze-6", 1)],
        stats=stats,
    )
    assert again == scores and stats.fresh == 0 and stats.cached == 2
    assert len(cache) == 2
    k1 = cache_key("a", "toy/maze-6", 0, "f")
    assert k1 != cache_key("b", "toy/maze-6", 0, "f") != cache_key("a", "toy/maze-6", 0, "g")
    assert AgentConfig(max_steps=40).fingerprint() != AgentConfig(max_steps=41).fingerprint()
    Path(cache.path(k1)).parent.mkdir(parents=True, exist_ok=True)
    cache.path(k1).write_text("{torn")
    assert cache.get(k1) is None


def test_prices() -> None:
    from automem_sdk.llm.base import Usage

    p = Prices(input_per_mtok=3.0, output_per_mtok=15.0)
    assert p.cost(Usage(prompt_tokens=1_000_000, completion_tokens=100_000)) == pytest.approx(4.5)
    assert json.loads(json.dumps(p.model_dump())) == {
        "input_per_mtok": 3.0,
        "output_per_mtok": 15.0,
    }
