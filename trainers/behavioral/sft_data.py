"""Token-level SFT examples with the loss masked to the target span.

For each example the prompt (the exact recorded messages, chat template applied,
generation prompt added) and the completion are tokenized **separately**; the target
span is the completion's tokens plus the template's end-of-turn token (so the model
learns to stop). ``labels`` are ``-100`` everywhere else. Alignment is checked against
the tokenization of the whole templated conversation, and an example is dropped (and
counted) when

- the template does not render the assistant turn as ``generation prompt + content``
  (``misaligned``), or
- truncation to ``max_length`` leaves no target token (``empty_span``).

So no example with an empty target span is ever trained on. Needs a tokenizer with a
chat template (``transformers`` is only imported by callers that pass one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automem_sdk.trainers.behavioral.dataset import SFTExample
from automem_sdk.trainers.behavioral.errors import BehavioralError
from pydantic import BaseModel

__all__ = [
    "IGNORE_INDEX",
    "CompletionCollator",
    "EncodeStats",
    "EncodedExample",
    "encode_example",
    "encode_examples",
]

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedExample:
    """One tokenized example.

    Attributes:
        id: the dataset example id.
        input_ids: prompt tokens then target tokens (possibly truncated).
        labels: ``-100`` over the prompt, the token ids over the target span.
        prompt_len: number of prompt tokens kept.
        target_len: number of target tokens kept (always > 0).
        truncated: whether ``max_length`` cut the example.
    """

    id: str
    input_ids: list[int]
    labels: list[int]
    prompt_len: int
    target_len: int
    truncated: bool

    def as_features(self) -> dict[str, list[int]]:
        """The dict a data collator receives."""
        return {"input_ids": self.input_ids, "labels": self.labels}


class EncodeStats(BaseModel):
    """Counts of :func:`encode_examples`."""

    examples: int = 0
    encoded: int = 0
    dropped_empty_span: int = 0
    dropped_misaligned: int = 0
    truncated: int = 0
    prompt_tokens: int = 0
    target_tokens: int = 0


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _special_ids(tokenizer: Any) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    ids.update(int(k) for k in (getattr(tokenizer, "added_tokens_decoder", {}) or {}))
    return ids


def encode_example(tokenizer: Any, example: SFTExample, max_length: int) -> EncodedExample | str:
    """Tokenize one example with the loss masked to its target span.

    Args:
        tokenizer: a transformers tokenizer with a chat template.
        example: the SFT example.
        max_length: the most tokens kept (right truncation: the prompt is never altered,
            the target may be cut).

    Returns:
        The encoded example, or a drop reason: ``"misaligned"`` or ``"empty_span"``.
    """
    prompt = example.prompt
    target = example.target
    prompt_text: str = tokenizer.apply_chat_template(
        prompt, add_generation_prompt=True, tokenize=False
    )
    full_text: str = tokenizer.apply_chat_template(
        [*prompt, {"role": "assistant", "content": target}], tokenize=False
    )
    if not full_text.startswith(prompt_text + target):
        return "misaligned"
    prompt_ids = _ids(tokenizer, prompt_text)
    target_ids = _ids(tokenizer, target)
    suffix_ids = _ids(tokenizer, full_text[len(prompt_text) + len(target) :])
    special = _special_ids(tokenizer)
    end = next((i for i, t in enumerate(suffix_ids) if t in special), None)
    if end is not None:
        target_ids = target_ids + suffix_ids[: end + 1]
    elif tokenizer.eos_token_id is not None:
        target_ids = [*target_ids, int(tokenizer.eos_token_id)]
    full_ids = _ids(tokenizer, full_text)
    if full_ids[: len(prompt_ids) + len(target_ids)] != prompt_ids + target_ids:
        return "misaligned"
    ids = prompt_ids + target_ids
    truncated = len(ids) > max_length
    ids = ids[:max_length]
    prompt_len = min(len(prompt_ids), len(ids))
    target_len = len(ids) - prompt_len
    if target_len <= 0:
        return "empty_span"
    labels = [IGNORE_INDEX] * prompt_len + ids[prompt_len:]
    return EncodedExample(
        id=example.id,
        input_ids=ids,
        labels=labels,
        prompt_len=prompt_len,
        target_len=target_len,
        truncated=truncated,
    )


def encode_examples(
    tokenizer: Any, examples: Sequence[SFTExample], max_length: int
) -> tuple[list[EncodedExample], EncodeStats]:
    """Tokenize many examples; dropped ones are counted in the stats, never returned.

    Raises:
        BehavioralError: the tokenizer has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise BehavioralError(
            "the tokenizer has no chat template; set tokenizer.chat_template before training"
        )
    stats = EncodeStats(examples=len(examples))
    out: list[EncodedExample] = []
    for ex in examples:
        enc = encode_example(tokenizer, ex, max_length)
        if enc == "misaligned":
            stats.dropped_misaligned += 1
            continue
        if enc == "empty_span" or isinstance(enc, str):
            stats.dropped_empty_span += 1
            continue
        out.append(enc)
        stats.truncated += int(enc.truncated)
        stats.prompt_tokens += enc.prompt_len
        stats.target_tokens += enc.target_len
    stats.encoded = len(out)
    return out, stats


class CompletionCollator:
    """Pads ``input_ids`` with the pad id and ``labels`` with ``-100`` (right padding).

    Args:
        pad_token_id: the tokenizer's pad id.
        pad_to_multiple_of: round lengths up (e.g. 8 on GPUs).
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Build a batch of tensors."""
        import torch

        n = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            n = (n + m - 1) // m * m
        ids, labels, mask = [], [], []
        for f in features:
            k = len(f["input_ids"])
            pad = n - k
            ids.append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            labels.append(list(f["labels"]) + [IGNORE_INDEX] * pad)
            mask.append([1] * k + [0] * pad)
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
        }
