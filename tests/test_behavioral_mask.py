"""Behavioral trainer: the loss mask covers exactly the target span, never an empty one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from automem_sdk.trainers.behavioral.dataset import (
    PostprocessConfig,
    SFTExample,
    build_dataset,
    read_dataset,
)
from automem_sdk.trainers.behavioral.errors import BehavioralError
from automem_sdk.trainers.behavioral.selectors import AllTurnsSelector
from automem_sdk.trainers.behavioral.sft_data import (
    ELISION,
    IGNORE_INDEX,
    CompletionCollator,
    encode_example,
    encode_examples,
)
from automem_sdk.trainers.behavioral.tiny import build_tiny_tokenizer
from automem_sdk.trainers.behavioral.toy import make_toy_traces


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> list[SFTExample]:
    root = tmp_path_factory.mktemp("mask")
    make_toy_traces(str(root / "runs"), range(6))
    res = build_dataset(
        str(root / "runs" / "traces"),
        AllTurnsSelector(),
        str(root / "data"),
        PostprocessConfig(min_examples=8, balance=None),
    )
    return read_dataset(res.path)


@pytest.fixture(scope="module")
def tokenizer(examples: list[SFTExample]) -> Any:
    corpus = [m["content"] for e in examples for m in e.prompt] + [e.target for e in examples]
    return build_tiny_tokenizer(corpus, vocab_size=800)


def test_labels_are_ignored_everywhere_but_the_target_span(
    tokenizer: Any, examples: list[SFTExample]
) -> None:
    encoded, stats = encode_examples(tokenizer, examples, max_length=4096)
    assert stats.encoded == len(examples) == len(encoded)
    assert stats.dropped_empty_span == stats.dropped_misaligned == 0
    for ex, enc in zip(examples, encoded, strict=True):
        n = len(enc.input_ids)
        assert len(enc.labels) == n
        span = range(enc.prompt_len, enc.prompt_len + enc.target_len)
        assert enc.target_len > 0 and span.stop == n
        for i in range(n):
            if i in span:
                assert enc.labels[i] == enc.input_ids[i]
            else:
                assert enc.labels[i] == IGNORE_INDEX
        # The prompt is exactly the templated recorded context, generation prompt included.
        prompt_text = tokenizer.apply_chat_template(
            ex.prompt, add_generation_prompt=True, tokenize=False
        )
        assert tokenizer.decode(enc.input_ids[: enc.prompt_len]) == prompt_text
        # The target is the canonical op span plus the end-of-turn token, nothing else.
        target_ids = [t for t in enc.labels if t != IGNORE_INDEX]
        assert tokenizer.decode(target_ids) == ex.target + "<|im_end|>"
        # And it is how the full conversation tokenizes (alignment).
        full = tokenizer.apply_chat_template([*ex.prompt, *ex.completion], tokenize=False)
        full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        assert full_ids[:n] == enc.input_ids


def test_no_example_is_dropped_for_length(tokenizer: Any, examples: list[SFTExample]) -> None:
    """Long examples are shortened from the middle of the prompt, never dropped."""
    full, _ = encode_examples(tokenizer, examples, max_length=4096)
    prompt_lens = sorted(e.prompt_len for e in full)
    cut = prompt_lens[len(prompt_lens) // 2]  # about half are longer than this
    longer = sum(1 for e in full if len(e.input_ids) > cut)
    assert longer > 0
    encoded, stats = encode_examples(tokenizer, examples, max_length=cut)
    assert stats.dropped_empty_span == stats.dropped_misaligned == 0
    assert stats.encoded == len(encoded) == len(examples)
    assert stats.truncated == longer and stats.cut_tokens > 0
    system = {e.id: tokenizer.apply_chat_template(e.prompt[:1], tokenize=False) for e in examples}
    for ex, whole, enc in zip(examples, full, encoded, strict=True):
        assert len(enc.input_ids) <= cut
        assert all(t == IGNORE_INDEX for t in enc.labels[: enc.prompt_len])
        if not enc.truncated:
            assert enc.input_ids == whole.input_ids
            continue
        # the target is kept whole (it fits: targets are short) ...
        assert not enc.target_cut
        assert enc.labels[enc.prompt_len :] == whole.labels[whole.prompt_len :]
        # ... the end of the prompt (current step + generation prompt) is intact ...
        tail = enc.prompt_len - len(tokenizer(ELISION, add_special_tokens=False)["input_ids"])
        kept_tail = enc.input_ids[enc.prompt_len - 8 : enc.prompt_len]
        assert kept_tail == whole.input_ids[whole.prompt_len - 8 : whole.prompt_len]
        assert tail > 0
        # ... and so is the system message at its start; the middle went
        text = tokenizer.decode(enc.input_ids[: enc.prompt_len])
        assert "earlier context elided" in text
        if cut > 2 * len(tokenizer(system[ex.id], add_special_tokens=False)["input_ids"]) + 16:
            assert text.startswith(system[ex.id])
        assert enc.cut == whole.prompt_len - enc.prompt_len + len(
            tokenizer(ELISION, add_special_tokens=False)["input_ids"]
        )
    # only a max_length that cannot hold one target token leaves nothing to train on
    assert encode_example(tokenizer, examples[0], max_length=1) == "empty_span"


def test_a_target_longer_than_max_length_is_cut_not_dropped(
    tokenizer: Any, examples: list[SFTExample]
) -> None:
    ex = max(examples, key=lambda e: len(e.target))
    n_target = len(tokenizer(ex.target, add_special_tokens=False)["input_ids"])
    n_marker = len(tokenizer(ELISION, add_special_tokens=False)["input_ids"])
    limit = n_marker + 1 + n_target // 2
    enc = encode_example(tokenizer, ex, max_length=limit)
    assert not isinstance(enc, str)
    assert enc.target_cut and enc.target_len > 0 and len(enc.input_ids) == limit
    assert enc.labels[enc.prompt_len :] == enc.input_ids[enc.prompt_len :]


def test_templates_that_rewrite_the_reply_are_refused(
    tokenizer: Any, examples: list[SFTExample]
) -> None:
    tok = build_tiny_tokenizer(["x"], vocab_size=300)
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
        "{% if m['role'] == 'assistant' %}<think></think>{% endif %}{{ m['content'] }}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    encoded, stats = encode_examples(tok, examples[:5], max_length=4096)
    assert encoded == [] and stats.dropped_misaligned == 5
    tok.chat_template = None
    with pytest.raises(BehavioralError, match="chat template"):
        encode_examples(tok, examples[:1], max_length=64)


def test_collator_pads_labels_with_ignore_index(tokenizer: Any, examples: list[SFTExample]) -> None:
    encoded, _ = encode_examples(tokenizer, examples[:4], max_length=4096)
    batch = CompletionCollator(tokenizer.pad_token_id)([e.as_features() for e in encoded])
    width = max(len(e.input_ids) for e in encoded)
    assert tuple(batch["input_ids"].shape) == (4, width)
    for row, enc in enumerate(encoded):
        k = len(enc.input_ids)
        assert batch["labels"][row, :k].tolist() == enc.labels
        assert (batch["labels"][row, k:] == IGNORE_INDEX).all()
        assert batch["attention_mask"][row].sum().item() == k
        assert (batch["input_ids"][row, k:] == tokenizer.pad_token_id).all()


def test_dataset_files_round_trip(tmp_path: Path, examples: list[SFTExample]) -> None:
    from automem_sdk.trainers.behavioral.dataset import write_dataset

    url = str(tmp_path / "x.jsonl")
    write_dataset(examples, url)
    assert read_dataset(url) == examples
