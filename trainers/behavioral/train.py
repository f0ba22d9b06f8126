"""LoRA fine-tuning of a memory specialist with transformers' ``Trainer`` and ``peft``.

The loss covers only the target span of each example (see :mod:`.sft_data`): labels are
``-100`` elsewhere and examples whose span is empty after truncation are dropped and
counted. The output head runs only where it is needed: on the positions that predict a
target token (:func:`target_span_loss`), not on every prompt position, which for memory
turns (long prompts, short op spans) is most of the head's FLOPs and of the logits'
memory. Training uses ``transformers.Trainer`` (gradient accumulation, fp32 or bf16
mixed precision, checkpoints every ``save_steps`` and automatic resume from the last
one), shows a ``rich`` progress bar and appends every log line to ``metrics.jsonl``.

Output directory::

    OUT/adapter/          adapter_config.json + adapter_model.safetensors (+ tokenizer)
    OUT/merged/           optional merged model (base + LoRA)
    OUT/checkpoints/      checkpoint-N/ (resume points)
    OUT/metrics.jsonl     one JSON object per log step
    OUT/train_config.json the config used
    OUT/ledger.jsonl      one entry per adapter

torch, transformers and peft are imported when training starts, not at import time.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from automem_sdk.trainers.behavioral.dataset import SFTExample, read_dataset
from automem_sdk.trainers.behavioral.errors import BehavioralError, InsufficientDataError
from automem_sdk.trainers.behavioral.ledger import append_ledger
from automem_sdk.trainers.behavioral.sft_data import (
    CompletionCollator,
    EncodedExample,
    EncodeStats,
    encode_examples,
)
from pydantic import BaseModel, Field

__all__ = [
    "LoraSFT",
    "TrainConfig",
    "TrainResult",
    "split_heldout",
    "target_span_loss",
    "train_lora",
]

DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]


class TrainConfig(BaseModel):
    """Settings of a LoRA SFT run.

    Attributes:
        base_model: a model folder or hub id (already in the local cache when offline).
        r: LoRA rank (vLLM serves ranks up to ``--max-lora-rank``, 16 by default).
        lora_alpha: LoRA scaling numerator.
        lora_dropout: dropout on the LoRA input.
        target_modules: module names that get adapters.
        learning_rate: peak learning rate.
        num_epochs: passes over the data (ignored when ``max_steps`` > 0).
        max_steps: optimizer steps (-1: from ``num_epochs``).
        batch_size: examples per device per micro-batch.
        grad_accum: micro-batches per optimizer step.
        max_length: tokens per example (right truncation).
        dtype: ``fp32`` or ``bf16`` (base weights in bf16, adapters in fp32, autocast).
        lr_scheduler: transformers scheduler name.
        warmup: warmup steps (a float < 1 is a fraction of training).
        weight_decay: AdamW weight decay.
        seed: seeds initialisation and data order.
        logging_steps: log (and write metrics) every N steps.
        save_steps: checkpoint every N steps.
        save_total_limit: checkpoints kept.
        resume: continue from the last checkpoint in ``OUT/checkpoints`` if any.
        gradient_checkpointing: trade compute for memory.
        target_only_logits: compute the output head (and the loss) only at positions
            that predict a target token (Llama/Qwen/Mistral-style models; others take
            the full forward). Same loss, less compute and memory.
        min_examples: refuse to train on fewer encoded examples.
        eval_examples: training examples used for the before/after target loss on the
            training data (0: skip).
        heldout_fraction: share of the source episodes (whole traces; single examples
            when all come from one trace) kept out of training; their target loss
            before and after training is the held-out loss (0: no held-out set).
        adapter_name: the name to serve the adapter under.
        merge: also write a merged model.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    base_model: str
    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))
    learning_rate: float = 2e-4
    num_epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 4
    max_length: int = 2048
    dtype: Literal["fp32", "bf16"] = "fp32"
    lr_scheduler: str = "linear"
    warmup: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 2
    resume: bool = True
    gradient_checkpointing: bool = False
    target_only_logits: bool = True
    min_examples: int = 32
    eval_examples: int = 64
    heldout_fraction: float = 0.1
    adapter_name: str = "memory-lora"
    merge: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @classmethod
    def fixed_steps(
        cls, base_model: str, steps: int, *, checkpoints: int = 2, **fields: Any
    ) -> TrainConfig:
        """A run of exactly ``steps`` optimizer steps, the shape of the loops' short runs:
        one micro-batch per step, 10% warmup, a checkpoint every ``steps // checkpoints``
        steps (at least 10); ``fields`` set the rest (rank, learning rate, ...)."""
        shape: dict[str, Any] = {
            "grad_accum": 1,
            "warmup": 0.1,
            "save_steps": max(10, steps // max(1, checkpoints)),
        }
        return cls(base_model=base_model, max_steps=steps, **{**shape, **fields})


class TrainResult(BaseModel):
    """What a run produced and measured."""

    out_dir: str
    adapter_dir: str
    merged_dir: str | None = None
    base_model: str
    adapter_name: str
    steps: int
    resumed_from: str | None = None
    encode: EncodeStats
    loss_before: float | None = None
    loss_after: float | None = None
    heldout_loss_before: float | None = None
    heldout_loss_after: float | None = None
    n_heldout: int = 0
    heldout_traces: int = 0
    train_loss: float | None = None
    train_tokens: int = 0
    wall_s: float = 0.0
    tokens_per_s: float = 0.0
    dataset: str | None = None
    dataset_sha256: str | None = None


def split_heldout(
    examples: Sequence[SFTExample], fraction: float, seed: int = 0
) -> tuple[list[SFTExample], list[SFTExample], int]:
    """Split examples into training and held-out sets by source episode.

    Whole traces go to the held-out side (turns of one episode are near-duplicates, so
    splitting inside an episode would leak), chosen by a seeded hash of the trace's
    digest: ``ceil(fraction * traces)`` of them, at least one when there are two or
    more traces. Examples of a single trace are split one by one instead.

    Returns:
        ``(train, heldout, number of held-out traces)``; the held-out side is empty when
        ``fraction`` is 0 or there are fewer than two examples.
    """
    items = list(examples)
    if fraction <= 0 or len(items) < 2:
        return items, [], 0

    def rank(text: str) -> str:
        return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()

    traces = sorted({e.source.trace_sha256 or e.source.trace for e in items}, key=rank)
    if len(traces) >= 2:
        n = min(len(traces) - 1, max(1, math.ceil(fraction * len(traces))))
        held = set(traces[:n])
        is_held = [(e.source.trace_sha256 or e.source.trace) in held for e in items]
        return (
            [e for e, h in zip(items, is_held, strict=True) if not h],
            [e for e, h in zip(items, is_held, strict=True) if h],
            n,
        )
    ids = sorted((e.id for e in items), key=rank)
    n = min(len(ids) - 1, max(1, math.ceil(fraction * len(ids))))
    held_ids = set(ids[:n])
    return (
        [e for e in items if e.id not in held_ids],
        [e for e in items if e.id in held_ids],
        0,
    )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _callbacks(metrics_path: Path, quiet: bool) -> list[Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        """A rich progress bar over optimizer steps (quiet off a TTY)."""

        def __init__(self) -> None:
            console = Console(stderr=True)
            self.progress = Progress(
                TextColumn("[bold]LoRA SFT[/bold] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                disable=quiet or not console.is_terminal,
            )
            self.task: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.progress.start()
            self.task = self.progress.add_task(
                "", total=state.max_steps, completed=state.global_step
            )

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                self.progress.update(self.task, description=f"loss {logs['loss']:.4f}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.progress.stop()

    class JsonlMetrics(TrainerCallback):
        """Append each log dict (with step and epoch) to ``metrics.jsonl``."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or not state.is_world_process_zero:
                return
            row = {"step": state.global_step, "epoch": state.epoch, "time": time.time(), **logs}
            with metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row, sort_keys=True, default=float) + "\n")

    return [RichProgress(), JsonlMetrics()]


#: model types whose logits are exactly ``lm_head(decoder(x))`` (no softcapping, scaling)
_PLAIN_HEAD_TYPES = frozenset({"llama", "qwen2", "qwen3", "mistral"})


def _plain_head_model(model: Any) -> Any | None:
    """The causal LM under a peft wrapper if its head can run on selected positions."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "model_type", None) not in _PLAIN_HEAD_TYPES:
        return None
    if not (hasattr(base, "get_decoder") and hasattr(base, "get_output_embeddings")):
        return None
    return base


def target_span_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """Summed next-token cross-entropy over the target span, and the number of targets.

    The decoder runs on the whole sequence; the output head and the (float32) softmax
    only on the positions whose next token is a target (``labels != -100``). For a
    model whose head is not plain (see ``_PLAIN_HEAD_TYPES``) the full forward is used.

    Args:
        model: the causal LM (peft-wrapped or not).
        batch: ``input_ids``, ``attention_mask`` and ``labels`` tensors.
    """
    import torch

    labels = batch["labels"][:, 1:]
    keep = labels != -100
    n = int(keep.sum())
    base = _plain_head_model(model)
    if base is None:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        picked = logits[:, :-1][keep]
    else:
        hidden = base.get_decoder()(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        picked = base.get_output_embeddings()(hidden[:, :-1][keep])
    loss = torch.nn.functional.cross_entropy(picked.float(), labels[keep], reduction="sum")
    return loss, n


def _target_only_trainer() -> Any:
    """``transformers.Trainer`` with :func:`target_span_loss` as its loss."""
    from transformers import Trainer

    class TargetOnlyTrainer(Trainer):
        """Computes the output head only where a target token is predicted."""

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            total, n = target_span_loss(model, inputs)
            if num_items_in_batch is not None and self.model_accepts_loss_kwargs:
                # normalised over the whole accumulated batch, as the model's own loss is
                loss = total / num_items_in_batch
                if self.args.average_tokens_across_devices and self.args.n_gpu <= 1:
                    loss = loss * self.accelerator.num_processes
            else:
                loss = total / max(n, 1)  # Trainer divides by the accumulation steps
            return (loss, None) if return_outputs else loss

    return TargetOnlyTrainer


class LoraSFT:
    """A base model with a fresh LoRA adapter, ready to train on SFT examples.

    Args:
        config: the run settings.
        out_dir: local output directory (created).
        quiet: no progress bar.

    Raises:
        BehavioralError: the base model or tokenizer cannot be loaded.
    """

    def __init__(self, config: TrainConfig, out_dir: str | Path, *, quiet: bool = False) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.quiet = quiet
        if config.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            self.device = config.device
        dtype = torch.bfloat16 if config.dtype == "bf16" else torch.float32
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(config.base_model)
            base: Any = AutoModelForCausalLM.from_pretrained(config.base_model, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise BehavioralError(f"cannot load base model {config.base_model!r}: {exc}") from exc
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if config.gradient_checkpointing:
            base.gradient_checkpointing_enable()
            base.enable_input_require_grads()
        torch.manual_seed(config.seed)  # the adapter's initial A matrices come from it
        lora = LoraConfig(
            r=config.r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )
        self.model: Any = get_peft_model(base, lora)

    # ----------------------------------------------------------------- data
    def encode(self, examples: Sequence[SFTExample]) -> tuple[list[EncodedExample], EncodeStats]:
        """Tokenize with the loss masked to the target span (see :mod:`.sft_data`)."""
        encoded, stats = encode_examples(self.tokenizer, examples, self.config.max_length)
        return encoded, stats

    def target_loss(self, encoded: Sequence[EncodedExample], limit: int | None = None) -> float:
        """Mean cross-entropy per target token over ``encoded[:limit]`` (eval mode)."""
        import torch

        items = list(encoded[:limit] if limit else encoded)
        if not items:
            return float("nan")
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        collate = CompletionCollator(int(self.tokenizer.pad_token_id))
        try:
            with torch.no_grad():
                for i in range(0, len(items), 8):
                    batch = collate([e.as_features() for e in items[i : i + 8]])
                    batch = {k: v.to(self.model.device) for k, v in batch.items()}
                    loss, n = target_span_loss(self.model, batch)
                    total += float(loss)
                    count += n
        finally:
            if was_training:
                self.model.train()
        return total / max(count, 1)

    def logits(self, input_ids: Sequence[int]) -> Any:
        """Logits of the current model for one sequence (eval mode, float32 tensor)."""
        import torch

        self.model.eval()
        with torch.no_grad():
            ids = torch.tensor([list(input_ids)], dtype=torch.long, device=self.model.device)
            return self.model(input_ids=ids).logits.float().cpu()

    # ---------------------------------------------------------------- train
    def _training_arguments(self, ckpt_dir: Path) -> Any:
        """The ``TrainingArguments`` of :meth:`fit` (checkpoints in ``ckpt_dir``)."""
        from transformers import TrainingArguments

        cfg = self.config
        extra: dict[str, Any] = _checkpointing_arg(cfg.gradient_checkpointing)
        args = TrainingArguments(
            output_dir=str(ckpt_dir),
            per_device_train_batch_size=cfg.batch_size,
            gradient_accumulation_steps=cfg.grad_accum,
            learning_rate=cfg.learning_rate,
            num_train_epochs=cfg.num_epochs,
            max_steps=cfg.max_steps,
            lr_scheduler_type=cfg.lr_scheduler,
            warmup_steps=cfg.warmup,
            weight_decay=cfg.weight_decay,
            logging_steps=cfg.logging_steps,
            logging_first_step=True,
            save_strategy="steps",
            save_steps=cfg.save_steps,
            save_total_limit=cfg.save_total_limit,
            seed=cfg.seed,
            data_seed=cfg.seed,
            bf16=cfg.dtype == "bf16",
            use_cpu=self.device == "cpu",
            report_to="none",
            disable_tqdm=True,
            remove_unused_columns=False,
            dataloader_pin_memory=self.device != "cpu",
            include_num_input_tokens_seen="non_padding",
            **extra,
        )
        return args

    def _trainer(self, args: Any, encoded: Sequence[EncodedExample]) -> Any:
        """The transformers ``Trainer`` of :meth:`fit` over ``encoded``."""
        from transformers import Trainer

        cfg = self.config
        trainer_cls: Any = _target_only_trainer() if cfg.target_only_logits else Trainer
        trainer = trainer_cls(
            model=self.model,
            args=args,
            train_dataset=[e.as_features() for e in encoded],
            data_collator=CompletionCollator(int(self.tokenizer.pad_token_id)),
            callbacks=_callbacks(self.out_dir / "metrics.jsonl", self.quiet),
        )
        return trainer

    def fit(self, examples: Sequence[SFTExample]) -> TrainResult:
        """Train the adapter (resuming from the last checkpoint when ``config.resume``).

        Raises:
            InsufficientDataError: fewer than ``config.min_examples`` examples survive
                tokenization.
        """
        from transformers import trainer_utils
        from transformers.trainer_callback import PrinterCallback

        get_last_checkpoint: Any = trainer_utils.get_last_checkpoint

        cfg = self.config
        train_examples, held_examples, held_traces = split_heldout(
            examples, cfg.heldout_fraction, cfg.seed
        )
        encoded, stats = self.encode(train_examples)
        held_encoded, _ = self.encode(held_examples) if held_examples else ([], None)
        if len(encoded) < max(cfg.min_examples, 1):
            raise InsufficientDataError(
                f"only {len(encoded)} trainable examples after tokenization "
                f"(minimum {max(cfg.min_examples, 1)}); {stats.model_dump()}"
            )
        (self.out_dir / "train_config.json").write_text(
            cfg.model_dump_json(indent=2), encoding="utf-8"
        )
        ckpt_dir = self.out_dir / "checkpoints"
        last = get_last_checkpoint(str(ckpt_dir)) if cfg.resume and ckpt_dir.is_dir() else None
        loss_before = (
            self.target_loss(encoded, cfg.eval_examples) if cfg.eval_examples > 0 else None
        )
        held_before = self.target_loss(held_encoded) if held_encoded else None
        trainer = self._trainer(self._training_arguments(ckpt_dir), encoded)
        trainer.remove_callback(PrinterCallback)  # logs go to metrics.jsonl and the bar
        t0 = time.perf_counter()
        output = trainer.train(resume_from_checkpoint=last)
        wall = time.perf_counter() - t0
        self.model = trainer.model
        seen = int(trainer.state.num_input_tokens_seen) - int(
            getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0
        )
        loss_after = self.target_loss(encoded, cfg.eval_examples) if cfg.eval_examples > 0 else None
        held_after = self.target_loss(held_encoded) if held_encoded else None
        train_loss = output.metrics.get("train_loss")
        return TrainResult(
            out_dir=str(self.out_dir),
            adapter_dir=str(self.out_dir / "adapter"),
            base_model=cfg.base_model,
            adapter_name=cfg.adapter_name,
            steps=int(trainer.state.global_step),
            resumed_from=last,
            encode=stats,
            loss_before=loss_before,
            loss_after=loss_after,
            heldout_loss_before=held_before,
            heldout_loss_after=held_after,
            n_heldout=len(held_encoded),
            heldout_traces=held_traces,
            train_loss=float(train_loss) if train_loss is not None else None,
            train_tokens=seen,
            wall_s=wall,
            tokens_per_s=seen / wall if wall > 0 else 0.0,
        )

    # ---------------------------------------------------------------- export
    def save_adapter(self, path: str | Path | None = None) -> str:
        """Write the adapter (``adapter_config.json``, ``adapter_model.safetensors``).

        The folder loads with ``PeftModel.from_pretrained(base, path)`` and with
        ``vllm serve BASE --enable-lora --lora-modules NAME=path``. The tokenizer is
        saved beside it so the folder is self-contained.
        """
        out = Path(path) if path is not None else self.out_dir / "adapter"
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out), safe_serialization=True)
        self.tokenizer.save_pretrained(str(out))
        cfg_path = out / "adapter_config.json"
        data = json.loads(cfg_path.read_text(encoding="utf-8"))
        if not data.get("base_model_name_or_path"):
            data["base_model_name_or_path"] = self.config.base_model
            cfg_path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        return str(out)

    def save_merged(self, adapter_dir: str | Path, path: str | Path | None = None) -> str:
        """Write base + adapter merged into plain weights (loads without peft)."""
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        out = Path(path) if path is not None else self.out_dir / "merged"
        dtype = torch.bfloat16 if self.config.dtype == "bf16" else torch.float32
        base = AutoModelForCausalLM.from_pretrained(self.config.base_model, dtype=dtype)
        merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
        merged.save_pretrained(str(out), safe_serialization=True)
        self.tokenizer.save_pretrained(str(out))
        return str(out)


def train_lora(
    dataset: str | Sequence[SFTExample],
    config: TrainConfig,
    out_dir: str | Path,
    *,
    quiet: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> TrainResult:
    """Train, export and record a LoRA memory specialist.

    Args:
        dataset: a dataset URL written by :func:`~.dataset.build_dataset`, or examples.
        config: the run settings.
        out_dir: local output directory.
        quiet: no progress bar.
        storage_options: fsspec options to read the dataset.

    Returns:
        The run's result (also appended to ``OUT/ledger.jsonl``).

    Raises:
        InsufficientDataError: too few examples.
        BehavioralError: the base model cannot be loaded.
    """
    dataset_url: str | None = None
    dataset_sha: str | None = None
    if isinstance(dataset, str):
        from automem_sdk.trainers.behavioral.traces import sha256_url

        dataset_url = dataset
        dataset_sha = sha256_url(dataset, storage_options)
        examples = read_dataset(dataset, storage_options)
    else:
        examples = list(dataset)
    sft = LoraSFT(config, out_dir, quiet=quiet)
    result = sft.fit(examples)
    adapter_dir = sft.save_adapter()
    merged_dir = sft.save_merged(adapter_dir) if config.merge else None
    result = result.model_copy(
        update={
            "adapter_dir": adapter_dir,
            "merged_dir": merged_dir,
            "dataset": dataset_url,
            "dataset_sha256": dataset_sha,
        }
    )
    weights = Path(adapter_dir) / "adapter_model.safetensors"
    append_ledger(
        str(out_dir),
        {
            "kind": "adapter",
            "adapter_dir": adapter_dir,
            "adapter_name": config.adapter_name,
            "adapter_sha256": _sha256_file(weights),
            "base_model": config.base_model,
            "merged_dir": merged_dir,
            "dataset": dataset_url,
            "dataset_sha256": dataset_sha,
            "source_traces": sorted({e.source.trace_sha256 for e in examples}),
            "config": config.model_dump(),
            "counts": result.encode.model_dump(),
            "steps": result.steps,
            "loss_before": _finite(result.loss_before),
            "loss_after": _finite(result.loss_after),
            "heldout_loss_before": _finite(result.heldout_loss_before),
            "heldout_loss_after": _finite(result.heldout_loss_after),
            "n_heldout": result.n_heldout,
            "heldout_traces": result.heldout_traces,
            "train_tokens": result.train_tokens,
            "tokens_per_s": result.tokens_per_s,
        },
    )
    return result


def _checkpointing_arg(enabled: bool) -> dict[str, bool]:
    """The activation-checkpointing flag under the name this transformers version uses."""
    if not enabled:
        return {}
    import inspect

    from transformers import TrainingArguments

    params = inspect.signature(TrainingArguments.__init__).parameters
    name = (
        "activation_checkpointing"
        if "activation_checkpointing" in params
        else "gradient_checkpointing"
    )
    return {name: True}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
