"""Build a tiny causal LM and tokenizer locally, from a config (nothing is downloaded).

For tests, benchmarks and smoke runs of the trainer: a byte-level BPE tokenizer trained
on a small corpus (so any text is encodable), wrapped in ``PreTrainedTokenizerFast``
with a ChatML chat template, and a randomly initialised Llama or Qwen2 model with a few
tens of thousands of parameters. The folder it writes loads with
``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained`` like any
hub model, so it stands in for a real base model everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

__all__ = ["CHATML_TEMPLATE", "build_tiny_causal_lm", "build_tiny_tokenizer"]

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tiny_tokenizer(corpus: Iterable[str], vocab_size: int = 512) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with a ChatML template.

    Args:
        corpus: texts to learn merges from (op tokens, prompts).
        vocab_size: target vocabulary size (at least the 256 byte symbols + specials).

    Returns:
        The tokenizer (``pad`` = ``<|endoftext|>``, ``eos`` = ``<|im_end|>``).
    """
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    fast_cls: Any = transformers.PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=max(vocab_size, 256 + len(_SPECIAL) + 1),
        special_tokens=_SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer)
    fast: Any = fast_cls(
        tokenizer_object=tok,
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        unk_token=None,
        bos_token=None,
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_causal_lm(
    out_dir: str | Path,
    corpus: Iterable[str],
    *,
    arch: Literal["llama", "qwen2"] = "llama",
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    max_positions: int = 4096,
    seed: int = 0,
    intermediate_size: int | None = None,
    model_vocab_size: int | None = None,
    tie_word_embeddings: bool = False,
) -> str:
    """Write a tiny random causal LM and its tokenizer to ``out_dir``.

    Args:
        out_dir: the model folder to create.
        corpus: texts for the tokenizer.
        arch: ``llama`` or ``qwen2``.
        vocab_size: tokenizer vocabulary target.
        hidden_size: model width.
        num_layers: transformer blocks.
        num_heads: attention heads.
        num_kv_heads: key/value heads (grouped-query attention).
        max_positions: context length.
        seed: weight initialisation seed.
        intermediate_size: MLP width (default: twice ``hidden_size``).
        model_vocab_size: embedding rows when larger than the tokenizer's vocabulary
            (to give a model the shape of a real one, e.g. Qwen2's 151,936).
        tie_word_embeddings: share the input embedding with the output head.

    Returns:
        ``out_dir`` as a string (pass it as the base model).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    tok = build_tiny_tokenizer(corpus, vocab_size)
    n_vocab = max(len(tok), model_vocab_size or 0)
    common = {
        "vocab_size": n_vocab,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size or hidden_size * 2,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "max_position_embeddings": max_positions,
        "pad_token_id": tok.pad_token_id,
        "eos_token_id": tok.eos_token_id,
        "bos_token_id": None,
        "tie_word_embeddings": tie_word_embeddings,
    }
    torch.manual_seed(seed)
    model: Any
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    elif arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    else:
        raise ValueError(f"arch must be 'llama' or 'qwen2', not {arch!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)
