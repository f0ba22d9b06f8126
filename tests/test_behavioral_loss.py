"""Target-only logits: the output head runs only where a target token is predicted.

The loss and its gradients must equal those of the full forward (every position's
logits, then cross-entropy with ``-100`` ignored), and training with it must follow the
same loss curve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from automem_sdk.trainers.behavioral.dataset import ExampleSource, SFTExample  # noqa: E402
from automem_sdk.trainers.behavioral.sft_data import CompletionCollator  # noqa: E402
from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm  # noqa: E402
from automem_sdk.trainers.behavioral.train import (  # noqa: E402
    LoraSFT,
    TrainConfig,
    target_span_loss,
)

CORPUS = [
    "Step 3. LOG: record the cell. <|UPSERT|>map.md|3,4|visited exits=n,e<|END|><|DONE|>",
    "Observation: a tree to the north, water to the east. <|READ|>map.md<|END|>",
]


def _examples(n: int = 12) -> list[SFTExample]:
    out = []
    for i in range(n):
        prompt = [
            {"role": "system", "content": "You keep map.md. " * (1 + i % 3)},
            {"role": "user", "content": f"Step {i}. LOG: the player stands at {i},{i + 1}."},
        ]
        target = f"<|UPSERT|>map.md|{i},{i + 1}|visited exits=n<|END|><|DONE|>"
        source = ExampleSource(trace="t", trace_sha256="0" * 64, env="toy", step=i, turn=0)
        out.append(
            SFTExample(
                id=f"e{i}",
                routine="log" if i % 2 else "plan",
                prompt=prompt,
                completion=[{"role": "assistant", "content": target}],
                source=source,
            )
        )
    return out


def _full_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"][:, 1:].reshape(-1)
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
        labels,
        ignore_index=-100,
        reduction="sum",
    )
    return loss, int((labels != -100).sum())


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_same_loss_and_gradients_as_the_full_forward(tmp_path: Path, arch: str) -> None:
    base = build_tiny_causal_lm(tmp_path / arch, CORPUS, arch=arch, vocab_size=400)
    cfg = TrainConfig(base_model=base, r=4, lora_dropout=0.0, min_examples=1, device="cpu")
    sft = LoraSFT(cfg, tmp_path / "run", quiet=True)
    torch.manual_seed(0)
    for p in sft.model.parameters():  # LoRA B starts at zero: give it values
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.05)
    encoded, _ = sft.encode(_examples(4))
    batch = CompletionCollator(int(sft.tokenizer.pad_token_id))([e.as_features() for e in encoded])
    grads = []
    losses = []
    for fn in (target_span_loss, _full_loss):
        sft.model.zero_grad()
        loss, n = fn(sft.model, batch)
        loss.backward()
        losses.append((float(loss.detach()), n))
        grads.append(
            [
                p.grad.clone()
                for p in sft.model.parameters()
                if p.requires_grad and p.grad is not None
            ]
        )
    (sparse, n_sparse), (full, n_full) = losses
    assert n_sparse == n_full > 0
    assert sparse == pytest.approx(full, rel=1e-5)
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_model_without_a_plain_head_falls_back_to_the_full_forward() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2)).eval()
    ids = torch.randint(0, 50, (2, 9))
    labels = ids.clone()
    labels[:, :5] = -100
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    loss, n = target_span_loss(model, batch)
    full, n_full = _full_loss(model, batch)
    assert n == n_full == 8
    assert float(loss) == pytest.approx(float(full), rel=1e-6)


def _curve(base: str, out: Path, target_only: bool) -> list[float]:
    cfg = TrainConfig(
        base_model=base,
        r=4,
        lora_dropout=0.0,
        learning_rate=5e-2,
        max_steps=4,
        batch_size=2,
        grad_accum=2,
        min_examples=1,
        eval_examples=0,
        save_steps=10**6,
        target_only_logits=target_only,
        device="cpu",
    )
    LoraSFT(cfg, out, quiet=True).fit(_examples())
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def test_training_follows_the_same_loss_curve(tmp_path: Path) -> None:
    base = build_tiny_causal_lm(tmp_path / "base", CORPUS, vocab_size=400)
    sparse = _curve(base, tmp_path / "sparse", True)
    full = _curve(base, tmp_path / "full", False)
    assert len(sparse) == len(full) >= 4
    assert sparse == pytest.approx(full, rel=1e-3)
