"""The SmolLM2 study's plumbing, end to end on a tiny local model, and its building blocks.

The study is ``examples/studies/smollm2_study.py``; its players, env wrapper and scaffold
are library modules (``benchmarks/players/map_teacher.py``, ``benchmarks/envs/compact.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from automem_sdk.env import RoutineRequest

HAVE_GAMES = importlib.util.find_spec("minihack") is not None
HAVE_TORCH = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft"))
HAVE_GGUF = importlib.util.find_spec("gguf") is not None

needs_games = pytest.mark.skipif(not HAVE_GAMES, reason="minihack is not installed")
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch/transformers/peft missing")
needs_gguf = pytest.mark.skipif(not HAVE_GGUF, reason="the gguf package is missing")

CORPUS = [
    "<|UPSERT|>map.md|39,7|visited exits=e,w<|END|><|DONE|> <|READ|>map.md<|END|>",
    "message: language observation: dark area near east. map (columns x=1..9, rows y=3..10;"
    " you are @ at x=3, y=7) Step 0. LOG: record the cell the player stands on",
]


STUDIES = Path(__file__).resolve().parents[1] / "examples" / "studies"
STAGES = ("base", "teacher", "dataset", "train", "export", "eval", "report")


def _load(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    """A module of ``examples/studies`` (imported as the study script imports its siblings)."""
    monkeypatch.syspath_prepend(str(STUDIES))
    return importlib.import_module(name)


@pytest.fixture
def study(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "smollm2_study")


@pytest.fixture
def report_mod(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "smollm2_report")


def _tiny_model(tmp_path: Path) -> str:
    from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path / "tiny", CORPUS)


# --------------------------------------------------------------------------- units
def test_compact_observation_drops_status_and_inventory() -> None:
    from automem_sdk.benchmarks.envs.compact import CompactObservation

    obs = (
        "message:\nhello\n\nlanguage observation:\nwall near north\n\n"
        "map (columns x=1..3, rows y=1..1; you are @ at x=2, y=1):\n.@.\n\n"
        "status:\nDlvl:1 HP:11(11)\n\ninventory:\na: a sword"
    )
    out = CompactObservation.compact(obs)
    assert "you are @ at x=2, y=1" in out and "wall near north" in out
    assert "status:" not in out and "inventory:" not in out and "sword" not in out


def _request(memory_context: str, *, around: str) -> RoutineRequest:
    return RoutineRequest(
        routine="act",
        step=3,
        turn=0,
        messages=[],
        observation="message:\n(no message)",
        actions=["north", "east", "south", "west"],
        info={"x": 5, "y": 5, "around_kinds": around, "message": "", "action": "west"},
        memory_context=memory_context,
    )


def test_map_policy_plans_from_the_map_it_is_shown() -> None:
    from automem_sdk.benchmarks.players.map_teacher import MapPolicy

    from automem_sdk.codec import parse_ops
    from automem_sdk.ops import ActionOp

    around = "   f@f   "  # west and east are open
    context = "[read map.md]\n6,5: visited exits=w dead_end\n5,5: visited exits=e,w"
    with_map: set[str] = set()
    without: set[str] = set()
    for seed in range(12):
        ops = parse_ops(MapPolicy(seed).decide(_request(context, around=around)).text)
        assert len(ops) == 1 and isinstance(ops[0], ActionOp)
        with_map.add(ops[0].name)
        blind = parse_ops(MapPolicy(seed).decide(_request("", around=around)).text)
        assert isinstance(blind[0], ActionOp)
        without.add(blind[0].name)
    assert with_map == {"west"}  # east is a remembered dead end
    assert without == {"east", "west"}  # no map: a random open direction


@needs_games
def test_map_teacher_writes_the_current_cell_in_one_turn(tmp_path: Path) -> None:
    from automem_sdk.benchmarks.envs.compact import CompactObservation
    from automem_sdk.benchmarks.players.map_teacher import MapPolicy, MapTeacher, map_scaffold
    from automem_sdk.benchmarks.registry import make_env

    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.diagnostics import diagnose
    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import read_trace

    store = MemoryStore(str(tmp_path / "mem"))
    env = CompactObservation(make_env("minihack/MazeWalk-9x9"))
    agent = MemoryAgent(
        store,
        map_scaffold(),
        MapTeacher(store, 0),
        mode="two-model",
        task_decider=MapPolicy(0),
    )
    trace = str(tmp_path / "t.jsonl")
    res = run_episode(env, agent, 0, max_steps=5, trace=trace)
    env.close()
    tr = read_trace(trace)
    log_turns = [t for t in tr.turns if t.routine == "log"]
    plan_turns = [t for t in tr.turns if t.routine == "plan"]
    assert len(log_turns) == len(plan_turns) == res.steps  # one turn each per step
    assert all(t.output.startswith("<|UPSERT|>map.md|") for t in log_turns)
    assert all(t.output == "<|READ|>map.md<|END|>\n<|DONE|>" for t in plan_turns)
    lines = store.read("map.md").splitlines()
    cells = {line.split(":")[0] for line in lines if "visited" in line}
    visited = {f"{x},{y}" for x, y in env.visited}
    assert cells <= visited  # only cells the player stood on
    assert len(cells) >= len(visited) - 1  # all but the cell the last move reached
    assert diagnose(tr).op_validity == 1.0
    assert "status:" not in log_turns[0].messages[-1].content


def _record(report_mod: ModuleType, side: str, progression: float, valid: int, **kw: Any) -> Any:
    base: dict[str, Any] = dict(
        side=side,
        env="minihack/MazeWalk-9x9",
        seed=0,
        progression=progression,
        steps=4,
        cells_visited=4,
        map_lines=2,
        map_recall=0.5,
        map_precision=1.0,
        diagnostics={"unproductive_rate": 0.25},
        turns=8,
        valid_turns=valid,
        n_writes=4,
        redundant_writes=1,
        unproductive_actions=1,
        mem_prompt_tokens=800,
        mem_completion_tokens=100,
        mem_latency_s=4.0,
        wall_s=5.0,
    )
    base.update(kw)
    return report_mod.EpisodeRecord(**base)


def test_report_means_standard_errors_and_markdown(
    tmp_path: Path, study: ModuleType, report_mod: ModuleType
) -> None:
    r = report_mod
    cfg = study.StudyConfig(out=str(tmp_path), tasks=["minihack/MazeWalk-9x9"], seeds=2)
    records = [
        _record(r, "base", 0.0, 0, seed=0),
        _record(r, "base", 1.0, 4, seed=1),
        _record(r, "lora", 1.0, 8, seed=0, mem_completion_tokens=50, mem_latency_s=1.0),
        _record(r, "lora", 1.0, 8, seed=1, mem_completion_tokens=50, mem_latency_s=1.0),
    ]
    report = r.build_report(records, cfg.model_dump(), {"train": {"tokens_per_s": 12.5}})
    rows = {(r["task"], r["side"]): r for r in report["rows"]}
    base = rows[("minihack/MazeWalk-9x9", "base")]
    assert base["n"] == 2
    assert base["progression"] == [0.5, 0.5]
    assert base["op_validity"] == [0.25, 0.25]
    lora = rows[("minihack/MazeWalk-9x9", "lora")]
    assert lora["op_validity"] == [1.0, 0.0] and lora["tok_s"] == [50.0, 0.0]
    assert ("all", "lora") not in rows  # one task: no pooled rows
    gen = report["throughput"]["generation"]
    assert math.isclose(gen["base"]["tok_s"], 200 / 8.0)
    assert report["throughput"]["training_tok_s"] == 12.5
    md = r.report_markdown(report)
    assert "| minihack/MazeWalk-9x9 | lora | 2 | 1.00 ± 0.00 | 1.00 ± 0.00 |" in md
    assert r.report_table(report).row_count == 2
    if importlib.util.find_spec("matplotlib") is not None:
        assert r.plot_report(report, tmp_path / "p.png")
        assert (tmp_path / "p.png").stat().st_size > 1000
        fig = r.report_figure(report)
        fig.canvas.draw()
        (legend,) = fig.legends
        box = legend.get_window_extent()
        for ax in fig.axes:  # the legend covers no bar
            for bar in ax.patches:
                assert not box.overlaps(bar.get_window_extent())
        assert "2 seeds" in fig._suptitle.get_text()


# --------------------------------------------------------------------------- GGUF
@needs_gguf
def test_gguf_permute_is_undone_by_transformers() -> None:
    np = pytest.importorskip("numpy")
    utils = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    from automem_sdk.trainers.behavioral.gguf import gguf_permute

    proc = utils.LlamaTensorProcessor()
    rng = np.random.default_rng(0)
    for n_head, n_kv in ((9, 9), (9, 3)):
        rows = (n_kv if n_kv != n_head else n_head) * 8
        w = rng.standard_normal((rows, 5)).astype("float32")
        permuted = gguf_permute(w, n_head, n_kv)
        assert not np.array_equal(permuted, w)
        assert np.array_equal(proc._reverse_permute_weights(permuted, n_head, n_kv), w)


def _fake_base_gguf(path: Path, *, blocks: int, heads: int, kv_heads: int) -> str:
    import gguf

    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_block_count(blocks)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


@needs_gguf
@needs_torch
@pytest.mark.train
def test_lora_to_gguf_writes_llama_cpp_adapter(tmp_path: Path) -> None:
    import gguf
    import numpy as np
    import torch
    from automem_sdk.trainers.behavioral.errors import BehavioralError
    from automem_sdk.trainers.behavioral.gguf import gguf_permute, lora_to_gguf
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = _tiny_model(tmp_path)
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(folder),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    )
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p)
    model.save_pretrained(str(tmp_path / "adapter"))
    base = _fake_base_gguf(tmp_path / "base.gguf", blocks=2, heads=4, kv_heads=2)
    info = lora_to_gguf(tmp_path / "adapter", tmp_path / "a.gguf", base_gguf=base)
    assert info.rank == 4 and info.alpha == 8.0 and info.n_tensors == 2 * 4 * 2
    reader = gguf.GGUFReader(str(tmp_path / "a.gguf"))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    tensors = {t.name: t for t in reader.tensors}
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items() if "lora_" in k}
    qb = sd["base_model.model.model.layers.1.self_attn.q_proj.lora_B.default.weight"]
    kb = sd["base_model.model.model.layers.1.self_attn.k_proj.lora_B.default.weight"]
    vb = sd["base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight"]
    qa = sd["base_model.model.model.layers.1.self_attn.q_proj.lora_A.default.weight"]

    def data(name: str) -> Any:
        t = tensors[name]
        return np.asarray(t.data).reshape([int(x) for x in reversed(t.shape)])

    assert np.allclose(data("blk.1.attn_q.weight.lora_a"), qa)
    assert np.allclose(data("blk.1.attn_q.weight.lora_b"), gguf_permute(qb, 4, 4))
    assert np.allclose(data("blk.1.attn_k.weight.lora_b"), gguf_permute(kb, 4, 2))
    assert np.allclose(data("blk.1.attn_v.weight.lora_b"), vb)  # values are not permuted
    assert "blk.0.attn_output.weight.lora_a" in tensors
    cfg_path = tmp_path / "adapter" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["use_dora"] = True
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(BehavioralError, match="use_dora"):
        lora_to_gguf(tmp_path / "adapter", tmp_path / "b.gguf", base_gguf=base)


# --------------------------------------------------------------------------- end to end
@needs_games
@needs_torch
@pytest.mark.games
@pytest.mark.train
def test_study_quick_end_to_end_and_resume(tmp_path: Path, study: ModuleType) -> None:
    out = tmp_path / "study"
    cfg = study.StudyConfig(
        out=str(out),
        tasks=["minihack/MazeWalk-9x9"],
        base_model=_tiny_model(tmp_path),
        backend="transformers",
        quiet=True,
    ).quick()
    report = study.run_study(cfg)
    state = {s: json.loads((out / s / "DONE.json").read_text()) for s in STAGES}
    assert all(state[s]["stage"] == s and state[s]["stage_s"] >= 0 for s in STAGES)
    counts = state["dataset"]["counts"]
    assert counts["examples"] >= cfg.min_examples and counts["log"] > 0 and counts["plan"] > 0
    export = state["export"]
    assert export["problems"] == []  # peft and vLLM can load the adapter
    assert export["peft_max_logit_diff"] < 1e-3  # PeftModel == the merged model
    assert export["gguf_adapter"] is None  # a transformers folder: no GGUF to pair with
    assert "--enable-lora" in export["vllm_serve"]
    assert state["train"]["steps"] == cfg.train_steps
    rows = {r["side"]: r for r in report["rows"]}
    assert set(rows) == {"no-memory", "base", "lora", "teacher"}
    assert all(r["n"] == cfg.seeds for r in rows.values())
    assert rows["teacher"]["op_validity"][0] == 1.0
    assert rows["teacher"]["map_recall"][0] > 0.5
    assert rows["no-memory"]["map_recall"][0] == 0.0
    assert rows["base"]["tok_s"][0] > 0 and rows["lora"]["tok_s"][0] > 0
    episode = json.loads(
        (out / "eval" / "episodes" / "lora" / "minihack-MazeWalk-9x9" / "seed1.json").read_text()
    )
    assert episode["turns"] == 2 * episode["steps"]  # one LOG and one PLAN turn per step
    assert episode["agent"] == "lora" and episode["mode"] == "two-model"
    assert set(episode["diagnostics"]) >= {"op_validity", "unproductive_rate"}
    # The core run directory reads the records: one per side and seed.
    from automem_sdk.rundir import RunDir

    results = RunDir(out / "eval").load_results()
    assert len(results) == 4 * cfg.seeds
    assert {r.agent for r in results} == {"no-memory", "base", "lora", "teacher"}
    assert (out / "eval" / "traces" / "lora" / "minihack-MazeWalk-9x9" / "seed1.jsonl").is_file()
    md = (out / "results.md").read_text()
    assert "| minihack/MazeWalk-9x9 | lora |" in md and "LoRA training:" in md
    # Resume: nothing is replayed or retrained.
    stamp = (
        (out / "eval" / "episodes" / "base" / "minihack-MazeWalk-9x9" / "seed0.json")
        .stat()
        .st_mtime_ns
    )
    adapter = (out / "train" / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns
    assert (
        study.main(
            [
                "--out",
                str(out),
                "--quick",
                "--quiet",
                "--base-model",
                cfg.base_model or "",
                "--backend",
                "transformers",
                "--tasks",
                "minihack/MazeWalk-9x9",
            ]
        )
        == 0
    )
    assert (
        out / "eval" / "episodes" / "base" / "minihack-MazeWalk-9x9" / "seed0.json"
    ).stat().st_mtime_ns == stamp
    assert (out / "train" / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns == adapter


def test_unknown_stage_is_refused(tmp_path: Path, study: ModuleType) -> None:
    with pytest.raises(study.StudyError, match="unknown stages"):
        study.run_study(study.StudyConfig(out=str(tmp_path)), stages=["bogus"])
    assert not (tmp_path / "config.json").exists()  # refused before anything is written


def test_base_grammar_side_restricts_the_specialist_to_its_memory_ops(
    tmp_path: Path, study: ModuleType
) -> None:
    cfg = study.StudyConfig(
        out=str(tmp_path / "study"), model=_tiny_model(tmp_path), backend="transformers"
    )
    run = study._Study(cfg)
    names = run._client("base-grammar").grammar
    assert isinstance(names, frozenset)
    assert "ACTION" not in names and {"UPSERT", "DONE"} <= names
    assert names == frozenset(run.scaffold.op_tokens()) - {"ACTION"}
    assert run._client("base").grammar is False


def test_stages_resume_skip_finished_and_redo_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stages_mod = _load(monkeypatch, "study_stages")
    calls: list[str] = []

    def make(name: str) -> Any:
        def fn() -> dict[str, Any]:
            calls.append(name)
            return {"n": len(calls)}

        return fn

    st = stages_mod.Stages(tmp_path / "run", ("a", "b"), quiet=True)
    assert st.done("a") is None
    with pytest.raises(stages_mod.StudyError, match="'a' has not run"):
        st.need("a")
    assert st.run("a", make("a"))["n"] == 1
    again = stages_mod.Stages(tmp_path / "run", ("a", "b"), quiet=True)  # a new process
    assert again.run("a", make("a"))["n"] == 1 and calls == ["a"]  # skipped
    assert again.need("a")["n"] == 1 and "finished" not in again.need("a")
    assert again.run("a", make("a"), redo=True)["n"] == 2 and calls == ["a", "a"]
    assert set(again.outputs()) == {"a"}
    marker = json.loads((tmp_path / "run" / "a" / "DONE.json").read_text())
    assert marker["stage"] == "a" and marker["n"] == 2 and marker["stage_s"] >= 0
    with pytest.raises(stages_mod.StudyError, match="unknown stages"):
        again.check(["a", "c"])
