"""Behavioral trainer end to end on CPU: traces -> dataset -> LoRA -> adapter -> eval.

A tiny Llama (and a tiny Qwen2) with a byte-level BPE tokenizer are built locally from a
config, so nothing is downloaded. Training runs for a few steps only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

import torch
from automem_sdk.benchmarks.envs.toy import KeyDoorEnv
from automem_sdk.benchmarks.players.toy import KeyDoorExplorer
from automem_sdk.trainers.behavioral.dataset import (
    PostprocessConfig,
    SFTExample,
    build_dataset,
    read_dataset,
)
from automem_sdk.trainers.behavioral.errors import InsufficientDataError
from automem_sdk.trainers.behavioral.evaluate import evaluate_two_model, report_table
from automem_sdk.trainers.behavioral.export import check_adapter, vllm_serve_command
from automem_sdk.trainers.behavioral.ledger import read_ledger
from automem_sdk.trainers.behavioral.selectors import HindsightSelector, OutcomeSelector
from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm
from automem_sdk.trainers.behavioral.toy import make_toy_traces
from automem_sdk.trainers.behavioral.train import LoraSFT, TrainConfig, train_lora
from peft import PeftModel
from transformers import AutoModelForCausalLM

from automem_sdk.llm.local import LocalTransformersClient
from automem_sdk.trace import read_trace

pytestmark = pytest.mark.train

STEPS = 8


def _corpus(examples: list[SFTExample]) -> list[str]:
    return [m["content"] for e in examples for m in e.prompt] + [e.target for e in examples]


def _have_runner() -> bool:
    try:
        import minihack  # noqa: F401
        from automem_sdk.benchmarks.harness import runner as bench_runner  # noqa: F401
    except ImportError:
        return False
    return True


def _runner_traces(root: Path) -> str:
    """Short real episodes of the benchmarks runner: the keyless explorer on MiniHack."""
    from automem_sdk.benchmarks.harness.runner import BenchConfig, run_benchmark

    rows = run_benchmark(
        BenchConfig(
            out=str(root / "bench"),
            envs=["minihack/MazeWalk-9x9", "minihack/Corridor-R3"],
            agents=["explorer"],
            seeds=[0, 1, 2, 3],
            max_steps=12,
            quiet=True,
        )
    )
    assert len(rows) == 8
    return str(root / "bench" / "traces")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Real traces of the benchmarks runner -> selected dataset -> tiny base model.

    Without the games extra, traces of the core agent on the toy key-and-door env.
    """
    root = tmp_path_factory.mktemp("behavioral")
    if _have_runner():
        traces = _runner_traces(root)
    else:
        make_toy_traces(str(root / "runs"), range(10))
        traces = str(root / "runs" / "traces")
    res = build_dataset(
        traces,
        OutcomeSelector(0.5) | HindsightSelector(),
        str(root / "run"),
        PostprocessConfig(min_examples=8),
    )
    examples = read_dataset(res.path)
    base = build_tiny_causal_lm(root / "base", _corpus(examples), vocab_size=1500)
    return {"root": root, "dataset": res, "examples": examples, "base": base, "traces": traces}


@pytest.fixture(scope="module")
def trained(data: dict[str, Any]) -> dict[str, Any]:
    """LoRA-train for a few steps; keep logits from before the adapter is saved."""
    cfg = TrainConfig(
        base_model=data["base"],
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        learning_rate=2e-2,
        max_steps=STEPS,
        batch_size=2,
        grad_accum=2,
        save_steps=4,
        max_length=2048,
        min_examples=8,
        eval_examples=16,
    )
    out = data["root"] / "run"
    sft = LoraSFT(cfg, out, quiet=True)
    result = sft.fit(data["examples"])
    probe = sft.encode(data["examples"][:1])[0][0].input_ids
    logits = sft.logits(probe)
    adapter = sft.save_adapter()
    return {"sft": sft, "result": result, "probe": probe, "logits": logits, "adapter": adapter}


def test_dataset_comes_from_runner_traces(data: dict[str, Any]) -> None:
    if not _have_runner():
        pytest.skip("the games extra is not installed: toy traces were used")
    sources = data["dataset"].ledger_entry["sources"]
    assert len(sources) == 8
    assert all("/traces/explorer/minihack/" in s["url"] for s in sources)
    assert {s["env"] for s in sources} == {"minihack/MazeWalk-9x9", "minihack/Corridor-R3"}
    assert all(e.source.trace.endswith(".jsonl.gz") for e in data["examples"])


def test_loss_goes_down_and_metrics_are_logged(data: dict[str, Any], trained: Any) -> None:
    result = trained["result"]
    assert result.steps == STEPS
    # whole episodes are held out; every other example is trained on
    assert result.n_heldout > 0 and result.heldout_traces >= 1
    assert result.encode.encoded + result.n_heldout == len(data["examples"])
    assert result.encode.dropped_empty_span == 0
    assert result.loss_before is not None and result.loss_after is not None
    assert result.loss_after < result.loss_before - 0.05
    # the held-out loss is measured on examples never trained on, before and after
    assert result.heldout_loss_before is not None and result.heldout_loss_after is not None
    assert result.heldout_loss_after != result.heldout_loss_before
    assert result.train_tokens > 0 and result.tokens_per_s > 0
    rows = [
        json.loads(line)
        for line in (data["root"] / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == STEPS
    assert sorted({r["step"] for r in rows if "loss" in r}) == list(range(1, STEPS + 1))
    assert (data["root"] / "run" / "checkpoints" / f"checkpoint-{STEPS}").is_dir()


def test_saved_adapter_reloads_with_identical_logits(data: dict[str, Any], trained: Any) -> None:
    adapter = Path(trained["adapter"])
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "adapter_model.safetensors").is_file()
    base = AutoModelForCausalLM.from_pretrained(data["base"], dtype=torch.float32)
    reloaded = PeftModel.from_pretrained(base, str(adapter)).eval()
    with torch.no_grad():
        logits = reloaded(input_ids=torch.tensor([trained["probe"]])).logits
    assert torch.allclose(logits, trained["logits"], atol=1e-5)
    # ... and the adapter really changes the model.
    plain = AutoModelForCausalLM.from_pretrained(data["base"], dtype=torch.float32).eval()
    with torch.no_grad():
        base_logits = plain(input_ids=torch.tensor([trained["probe"]])).logits
    assert not torch.allclose(base_logits, trained["logits"], atol=1e-3)


def test_adapter_config_is_what_vllm_and_peft_expect(data: dict[str, Any], trained: Any) -> None:
    cfg = json.loads((Path(trained["adapter"]) / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == data["base"]
    assert cfg["r"] == 8 and cfg["lora_alpha"] == 16
    assert sorted(cfg["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert cfg["peft_type"] == "LORA" and cfg["task_type"] == "CAUSAL_LM"
    assert check_adapter(trained["adapter"]) == []
    assert check_adapter(trained["adapter"], max_lora_rank=4) == [
        "rank 8 exceeds --max-lora-rank 4"
    ]
    cmd = vllm_serve_command(data["base"], trained["adapter"], "memory-lora")
    assert "--enable-lora" in cmd and f"memory-lora={trained['adapter']}" in cmd


def test_heldout_split_keeps_whole_episodes_apart(data: dict[str, Any]) -> None:
    from automem_sdk.trainers.behavioral.train import split_heldout

    train, held, n = split_heldout(data["examples"], 0.25, seed=0)
    assert n >= 1 and held and train
    assert len(train) + len(held) == len(data["examples"])
    assert not {e.source.trace for e in train} & {e.source.trace for e in held}
    assert split_heldout(data["examples"], 0.25, seed=0)[1] == held  # deterministic
    assert split_heldout(data["examples"], 0.0)[1] == []


def test_training_resumes_from_the_last_checkpoint(
    data: dict[str, Any], trained: Any, tmp_path: Path
) -> None:
    out = tmp_path / "resume"
    shutil.copytree(data["root"] / "run" / "checkpoints", out / "checkpoints")
    cfg = trained["sft"].config.model_copy(update={"max_steps": STEPS + 2, "eval_examples": 0})
    result = LoraSFT(cfg, out, quiet=True).fit(data["examples"])
    assert result.resumed_from is not None
    assert result.resumed_from.endswith(f"checkpoint-{STEPS}")
    assert result.steps == STEPS + 2
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert min(s for s in steps) == STEPS + 1  # nothing before the checkpoint was redone


def test_train_lora_qwen2_ledger_and_merged_model(data: dict[str, Any], tmp_path: Path) -> None:
    base = build_tiny_causal_lm(
        tmp_path / "qwen2", _corpus(data["examples"]), arch="qwen2", vocab_size=800
    )
    cfg = TrainConfig(
        base_model=base,
        r=4,
        lora_alpha=8,
        max_steps=2,
        batch_size=2,
        grad_accum=1,
        max_length=900,
        merge=True,
        adapter_name="keydoor-memory",
        eval_examples=4,
        min_examples=1,
    )
    result = train_lora(data["dataset"].path, cfg, tmp_path / "out", quiet=True)
    assert result.steps == 2
    assert result.dataset_sha256 == data["dataset"].sha256
    assert check_adapter(result.adapter_dir) == []
    # Examples longer than max_length are shortened from the middle, not dropped.
    n = len(data["examples"])
    assert result.encode.dropped_empty_span == 0
    assert result.encode.encoded + result.n_heldout == n
    ledger = read_ledger(str(tmp_path / "out"))
    assert [e["kind"] for e in ledger] == ["adapter"]
    entry = ledger[0]
    assert entry["adapter_name"] == "keydoor-memory"
    assert entry["dataset_sha256"] == data["dataset"].sha256
    assert set(entry["source_traces"]) <= {
        s["sha256"] for s in data["dataset"].ledger_entry["sources"]
    }
    assert len(entry["adapter_sha256"]) == 64
    # The merged model equals base + adapter without peft.
    assert result.merged_dir is not None
    merged = AutoModelForCausalLM.from_pretrained(result.merged_dir, dtype=torch.float32).eval()
    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), result.adapter_dir
    ).eval()
    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])
    with torch.no_grad():
        assert torch.allclose(
            merged(input_ids=ids).logits, peft_model(input_ids=ids).logits, atol=1e-4
        )


def test_bf16_training_runs_on_cpu(data: dict[str, Any], tmp_path: Path) -> None:
    cfg = TrainConfig(
        base_model=data["base"],
        dtype="bf16",
        max_steps=2,
        batch_size=1,
        max_length=1024,
        grad_accum=1,
        learning_rate=1e-2,
        eval_examples=4,
        min_examples=1,
    )
    sft = LoraSFT(cfg, tmp_path / "bf16", quiet=True)
    result = sft.fit(data["examples"][:4])
    assert result.steps == 2
    assert result.loss_after is not None and result.loss_after == result.loss_after  # not NaN
    lora_params = [p for n, p in sft.model.named_parameters() if "lora_" in n]
    assert lora_params and all(p.dtype == torch.float32 for p in lora_params)


def test_refuses_to_train_below_minimum(data: dict[str, Any], tmp_path: Path) -> None:
    cfg = TrainConfig(base_model=data["base"], min_examples=10_000, max_steps=1)
    with pytest.raises(InsufficientDataError, match="trainable examples"):
        LoraSFT(cfg, tmp_path / "few", quiet=True).fit(data["examples"])


def test_two_model_eval_with_the_trained_specialist(data: dict[str, Any], trained: Any) -> None:
    sft = trained["sft"]
    before = LocalTransformersClient(data["base"], max_new_tokens=12, name="base", dtype="fp32")
    after = LocalTransformersClient(
        data["base"],
        adapter=trained["adapter"],
        max_new_tokens=12,
        name="memory-lora",
        dtype="fp32",
    )
    out = data["root"] / "eval"
    report = evaluate_two_model(
        lambda: KeyDoorEnv(),
        [0, 1],
        {"before": before, "after": after},
        lambda: KeyDoorExplorer(0),
        max_steps=1,
        out_dir=str(out),
        quiet=True,
    )
    assert [s.label for s in report.sides] == ["before", "after"]
    assert report.env == "toy/keydoor" and report.seeds == [0, 1]
    for side in report.sides:
        assert len(side.episodes) == 2
        for ep in side.episodes:
            assert ep.steps == 1
            assert "redundant_writes" in ep.diagnostics and "unproductive_rate" in ep.diagnostics
            trace = read_trace(str(ep.trace_url))
            assert trace.header.mode == "two-model"
            assert trace.header.models["memory"] == side.model
            assert trace.header.models["task"] == "keydoor-explorer"
            routines = {t.routine for t in trace.turns}
            assert {"log", "plan", "act"} <= routines
            # The task model commits every action, the specialist never does.
            assert all(t.action is None for t in trace.turns if t.routine != "act")
    summary = report.summary()
    assert set(summary) == {"before", "after"}
    assert "progression" in summary["after"]
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(report_table(report))
    assert "redundant_writes" in console.export_text()
    # The client that reloads the adapter generates what the in-memory trained model does.
    msgs = [{"role": "user", "content": "Step 0. LOG routine"}]
    reply = after.chat(msgs)
    assert reply.model == "memory-lora" and reply.usage.completion_tokens > 0
    in_memory = LocalTransformersClient.from_loaded(
        sft.model, sft.tokenizer, "trained", max_new_tokens=12
    )
    assert in_memory.chat(msgs).text == reply.text
