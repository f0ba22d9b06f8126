"""Behavioral trainer: distil good memory decisions into a LoRA memory specialist.

Pipeline: traces -> :mod:`selectors <.selectors>` (episode outcome, hindsight usage,
LLM judge; and decision-level credit, :mod:`.credit`: verified checks, counterfactual
replay, usage attribution; composable) -> deterministic :mod:`postprocess <.dataset>` into chat SFT
examples whose target is only the memory-op span -> :mod:`LoRA training <.train>` with
the loss masked to that span -> an adapter that ``PeftModel.from_pretrained`` and
``vllm serve --enable-lora`` load -> :mod:`two-model evaluation <.evaluate>`; and
:mod:`.iterate` repeats it on the memory model's own rollouts.

Names are loaded on first use; torch/transformers/peft only when training, generating
or building a tiny model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automem_sdk.lazy import lazy_exports

if TYPE_CHECKING:
    from automem_sdk.trainers.behavioral.credit import (
        CounterfactualSelector,
        CreditContext,
        NLEMapVerifier,
        UsageSelector,
        VerifiedSelector,
    )
    from automem_sdk.trainers.behavioral.dataset import (
        DatasetCounts,
        DatasetResult,
        PostprocessConfig,
        SFTExample,
        build_dataset,
        build_examples,
        canonical_target,
        read_dataset,
        write_dataset,
    )
    from automem_sdk.trainers.behavioral.errors import BehavioralError, InsufficientDataError
    from automem_sdk.trainers.behavioral.evaluate import (
        EvalReport,
        evaluate_two_model,
        report_table,
    )
    from automem_sdk.trainers.behavioral.export import check_adapter, vllm_serve_command
    from automem_sdk.trainers.behavioral.iterate import IterateConfig, run_iterations
    from automem_sdk.trainers.behavioral.ledger import append_ledger, read_ledger
    from automem_sdk.trainers.behavioral.population import Member, NoisyMemoryPolicy
    from automem_sdk.trainers.behavioral.selectors import (
        AllTurnsSelector,
        HindsightSelector,
        JudgeSelector,
        OutcomeSelector,
        Selection,
        Selector,
        parse_selector,
    )
    from automem_sdk.trainers.behavioral.sft_data import (
        CompletionCollator,
        EncodedExample,
        encode_examples,
    )
    from automem_sdk.trainers.behavioral.stats import paired_bootstrap
    from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm
    from automem_sdk.trainers.behavioral.traces import LoadedTrace, load_traces
    from automem_sdk.trainers.behavioral.train import LoraSFT, TrainConfig, TrainResult, train_lora
    from automem_sdk.trainers.behavioral.worlds import World, make_world

_LAZY: dict[str, str] = {
    "CounterfactualSelector": "credit",
    "CreditContext": "credit",
    "NLEMapVerifier": "credit",
    "UsageSelector": "credit",
    "VerifiedSelector": "credit",
    "IterateConfig": "iterate",
    "run_iterations": "iterate",
    "Member": "population",
    "NoisyMemoryPolicy": "population",
    "paired_bootstrap": "stats",
    "World": "worlds",
    "make_world": "worlds",
    "DatasetCounts": "dataset",
    "DatasetResult": "dataset",
    "PostprocessConfig": "dataset",
    "SFTExample": "dataset",
    "build_dataset": "dataset",
    "build_examples": "dataset",
    "canonical_target": "dataset",
    "read_dataset": "dataset",
    "write_dataset": "dataset",
    "BehavioralError": "errors",
    "InsufficientDataError": "errors",
    "EvalReport": "evaluate",
    "evaluate_two_model": "evaluate",
    "report_table": "evaluate",
    "check_adapter": "export",
    "vllm_serve_command": "export",
    "append_ledger": "ledger",
    "read_ledger": "ledger",
    "AllTurnsSelector": "selectors",
    "HindsightSelector": "selectors",
    "JudgeSelector": "selectors",
    "OutcomeSelector": "selectors",
    "Selection": "selectors",
    "Selector": "selectors",
    "parse_selector": "selectors",
    "CompletionCollator": "sft_data",
    "EncodedExample": "sft_data",
    "encode_examples": "sft_data",
    "build_tiny_causal_lm": "tiny",
    "LoadedTrace": "traces",
    "load_traces": "traces",
    "LoraSFT": "train",
    "TrainConfig": "train",
    "TrainResult": "train",
    "train_lora": "train",
}

__all__ = [
    "AllTurnsSelector",
    "BehavioralError",
    "CompletionCollator",
    "CounterfactualSelector",
    "CreditContext",
    "DatasetCounts",
    "DatasetResult",
    "EncodedExample",
    "EvalReport",
    "HindsightSelector",
    "InsufficientDataError",
    "IterateConfig",
    "JudgeSelector",
    "LoadedTrace",
    "LoraSFT",
    "Member",
    "NLEMapVerifier",
    "NoisyMemoryPolicy",
    "OutcomeSelector",
    "PostprocessConfig",
    "SFTExample",
    "Selection",
    "Selector",
    "TrainConfig",
    "TrainResult",
    "UsageSelector",
    "VerifiedSelector",
    "World",
    "append_ledger",
    "build_dataset",
    "build_examples",
    "build_tiny_causal_lm",
    "canonical_target",
    "check_adapter",
    "encode_examples",
    "evaluate_two_model",
    "load_traces",
    "make_world",
    "paired_bootstrap",
    "parse_selector",
    "read_dataset",
    "read_ledger",
    "report_table",
    "run_iterations",
    "train_lora",
    "vllm_serve_command",
    "write_dataset",
]


__getattr__, __dir__ = lazy_exports(__name__, {k: f".{v}" for k, v in _LAZY.items()})
