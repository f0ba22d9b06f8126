"""Token-level SFT examples with the loss masked to the target span.

For each example the prompt (the exact recorded messages, chat template applied,
generation prompt added) and the completion are tokenized **separately**; the target
span is the completion's tokens plus the template's end-of-turn token (so the model
learns to stop). ``labels`` are ``-100`` everywhere else. Alignment is checked against
the tokenization of the whole templated conversation, and an example is dropped (and
counted) when

- the template does not render the assistant turn as ``generation prompt + content``
  (``misaligned``), or
- ``max_length`` leaves no room for a single target token (``empty_span``: only when
  ``max_length`` is smaller than the elision marker plus two tokens).

No example is dropped for being long. An example over ``max_length`` is **shortened from
the middle of its prompt**: the head (the templated system message) and the tail (the
latest turn: the current step's observation and the generation prompt) are kept, the
tokens between them are replaced by a short elision marker, and the target is kept
whole (it is only cut, from its end, when the target alone does not fit). So the long,
late-episode turns, where memory matters most, are trained on like the others. Needs a tokenizer with a
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
    "ELISION",
    "IGNORE_INDEX",
    "CompletionCollator",
    "EncodeStats",
    "EncodedExample",
    "encode_example",
    "encode_examples",
    "shorten_middle",
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
        truncated: whether the example was shortened to fit ``max_length``.
        cut: prompt tokens removed from the middle (0 when not shortened).
        target_cut: the target alone did not fit and lost its end.
    """

    id: str
    input_ids: list[int]
    labels: list[int]
    prompt_len: int
    target_len: int
    truncated: bool
    cut: int = 0
    target_cut: bool = False

    def as_features(self) -> dict[str, list[int]]:
        """The dict a data collator receives."""
        return {"input_ids": self.input_ids, "labels": self.labels}


class EncodeStats(BaseModel):
    """Counts of :func:`encode_examples`."""

    examples: int = 0
    encoded: int = 0
    dropped_empty_span: int = 0
    dropped_misaligned: int = 0
    truncated: int = 0  # examples shortened from the middle to fit (none dropped for length)
    cut_tokens: int = 0  # prompt tokens removed from the middle, in all
    target_cut: int = 0  # examples whose target alone did not fit (cut from its end)
    prompt_tokens: int = 0
    target_tokens: int = 0


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _special_ids(tokenizer: Any) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    ids.update(int(k) for k in (getattr(tokenizer, "added_tokens_decoder", {}) or {}))
    return ids


#: Text put where the middle of a long prompt was removed.
ELISION = "\n[... earlier context elided ...]\n"


def _head_len(tokenizer: Any, prompt: list[dict[str, str]], prompt_ids: list[int]) -> int:
    """Tokens of the templated system message at the start of the prompt (0: none)."""
    if not prompt or prompt[0].get("role") != "system":
        return 0
    try:
        text: str = tokenizer.apply_chat_template(prompt[:1], tokenize=False)
    except Exception:
        return 0
    ids = _ids(tokenizer, text)
    return len(ids) if prompt_ids[: len(ids)] == ids else 0


def shorten_middle(
    prompt_ids: list[int], budget: int, head: int, marker: list[int]
) -> tuple[list[int], int]:
    """``prompt_ids`` cut to ``budget`` tokens by removing tokens from the middle.

    Keeps the first ``head`` tokens (at most half the budget) and as many of the last
    tokens as fit, with ``marker`` between them.

    Returns:
        The shortened ids and how many tokens were removed.
    """
    if len(prompt_ids) <= budget:
        return list(prompt_ids), 0
    if budget <= len(marker) + 1:
        return list(prompt_ids[-budget:]) if budget > 0 else [], len(prompt_ids) - max(budget, 0)
    head = min(head, (budget - len(marker)) // 2)
    tail = budget - head - len(marker)
    out = [*prompt_ids[:head], *marker, *prompt_ids[len(prompt_ids) - tail :]]
    return out, len(prompt_ids) - head - tail


def encode_example(tokenizer: Any, example: SFTExample, max_length: int) -> EncodedExample | str:
    """Tokenize one example with the loss masked to its target span.

    Args:
        tokenizer: a transformers tokenizer with a chat template.
        example: the SFT example.
        max_length: the most tokens kept. A longer example is shortened from the middle
            of its prompt (system message and latest turn kept, target whole; see
            :func:`shorten_middle`), never dropped.

    Returns:
        The encoded example, or a drop reason: ``"misaligned"``, or ``"empty_span"``
        when ``max_length`` cannot hold even one target token.
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
    truncated = len(prompt_ids) + len(target_ids) > max_length
    cut = 0
    if truncated:
        head = _head_len(tokenizer, prompt, prompt_ids)
        marker = _ids(tokenizer, ELISION)
        # The prompt gets what the whole target leaves, but at least the marker and its
        # last token; then a target that still does not fit is cut from its end.
        room = max(max_length - len(target_ids), len(marker) + 1)
        if room >= max_length:
            return "empty_span"
        prompt_ids, cut = shorten_middle(prompt_ids, room, head, marker)
        whole = len(target_ids)
        target_ids = target_ids[: max_length - len(prompt_ids)]
        target_cut = len(target_ids) < whole
    else:
        target_cut = False
    prompt_len = len(prompt_ids)
    target_len = len(target_ids)
    if target_len <= 0:
        return "empty_span"
    ids = prompt_ids + target_ids
    labels = [IGNORE_INDEX] * prompt_len + target_ids
    return EncodedExample(
        id=example.id,
        input_ids=ids,
        labels=labels,
        prompt_len=prompt_len,
        target_len=target_len,
        truncated=truncated,
        cut=cut,
        target_cut=target_cut,
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
        stats.cut_tokens += enc.cut
        stats.target_cut += int(enc.target_cut)
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
