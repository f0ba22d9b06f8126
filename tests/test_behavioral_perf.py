"""The behavioral trainer's throughput benchmark: FLOPs accounting, MFU, steady-state rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from automem_sdk.trainers.behavioral.perf import (  # noqa: E402
    SFT_SIZES,
    lora_train_flops_per_token,
    main,
    peak_tflops,
    sft_throughput,
    steady_tokens_per_s,
)


def test_the_05b_shape_has_qwen2_05b_parameter_count() -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    s = SFT_SIZES["0.5b"]
    cfg = Qwen2Config(
        vocab_size=s.vocab,
        hidden_size=s.hidden,
        intermediate_size=s.intermediate,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.kv_heads,
        tie_word_embeddings=s.tied,
    )
    with torch.device("meta"):
        model = Qwen2ForCausalLM(cfg)
    n = sum(p.numel() for p in model.parameters())
    assert 490e6 < n < 500e6  # Qwen2-0.5B: 494M


def test_lora_flops_count_frozen_trained_and_attention() -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    h, layers, heads, kv, inter, vocab, r = 64, 2, 4, 2, 128, 300, 4
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=h,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        tie_word_embeddings=False,
    )
    model = get_peft_model(
        LlamaForCausalLM(cfg),
        LoraConfig(r=r, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    head_dim = h // heads
    per_layer = h * h + 2 * h * kv * head_dim + h * h + 3 * h * inter  # q, k+v, o, mlp
    frozen = layers * per_layer + vocab * h  # + lm_head; the embedding lookup is free
    trained = layers * (r * h + h * r + r * h + kv * head_dim * r)  # q: A,B; v: A,B
    seq = 100.0
    expected = 4 * frozen + 6 * trained + 12 * layers * seq * h
    assert lora_train_flops_per_token(model, seq) == pytest.approx(expected)
    # Longer sequences cost more attention, nothing else.
    delta = lora_train_flops_per_token(model, 2 * seq) - lora_train_flops_per_token(model, seq)
    assert delta == pytest.approx(12 * layers * seq * h)
    # Target-only logits: the (frozen) output head runs on a quarter of the positions.
    saved = expected - lora_train_flops_per_token(model, seq, head_fraction=0.25)
    assert saved == pytest.approx(0.75 * 4 * vocab * h)


def test_peak_lookup() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(989.4)
    assert peak_tflops("NVIDIA H100 PCIe", "bf16") == pytest.approx(756.0)
    assert peak_tflops("NVIDIA H200", "fp32") == pytest.approx(66.9)
    assert peak_tflops("Some Unknown Card", "bf16") is None


def test_steady_rate_skips_the_first_steps(tmp_path: Path) -> None:
    rows = [
        {"step": 1, "time": 100.0, "loss": 3.0, "num_input_tokens_seen": 1000},  # slow warm-up
        {"step": 2, "time": 110.0, "loss": 2.9, "num_input_tokens_seen": 2000},
        {"step": 3, "time": 111.0, "loss": 2.8, "num_input_tokens_seen": 3000},
        {"step": 4, "time": 112.0, "loss": 2.7, "num_input_tokens_seen": 4000},
        {"step": 5, "time": 113.0, "loss": 2.6, "num_input_tokens_seen": 5000},
        {"step": 5, "time": 113.5, "train_loss": 2.8},  # the end-of-training summary
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert steady_tokens_per_s(path) == pytest.approx(1000.0)  # (5000-3000)/(113-111)
    assert steady_tokens_per_s(path, skip_steps=4) is None  # one step left: no rate


def test_sft_throughput_on_cpu_reports_flops_and_no_mfu(tmp_path: Path) -> None:
    r = sft_throughput(str(tmp_path), "tiny", steps=5, batch_size=2, max_length=1024, quiet=True)
    assert r["device"] == "cpu" and r["steps"] == 5
    assert r["tokens"] > 0 and r["tokens_per_s"] > 0
    assert r["steady_tokens_per_s"] is not None and r["steady_tokens_per_s"] > 0
    assert 0 < r["seq_len"] <= 1024
    assert r["flops_per_token"] > 4 * 0.1e6  # at least 4 x the frozen linear weights
    assert r["mfu"] is None  # no known peak for a CPU
    assert r["logits"] == "targets" and 0 < r["target_share"] < 1
    r2 = sft_throughput(
        str(tmp_path / "peak"), "tiny", steps=3, batch_size=2, max_length=1024, peak=1.0, quiet=True
    )
    assert r2["mfu"] == pytest.approx(r2["tflops"] / 1.0)


def test_perf_cli_rejects_unknown_sizes() -> None:
    with pytest.raises(SystemExit):
        main(["--skip-engine", "--sizes", "tiny,7b"])
