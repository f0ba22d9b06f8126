"""Checks and commands for serving an exported adapter.

:func:`check_adapter` verifies a folder holds what ``PeftModel.from_pretrained`` and
vLLM's LoRA loader need; :func:`vllm_serve_command` prints the matching server command.
vLLM pins its own torch/transformers, so it runs in its own virtual environment; the SDK
only writes the adapter and talks to the server over HTTP.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

__all__ = ["VLLM_LORA_MODULES", "check_adapter", "vllm_serve_command"]

#: Module names vLLM's LoRA layers cover for Llama/Qwen2-style models.
VLLM_LORA_MODULES = frozenset(
    {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "qkv_proj"}
)


def check_adapter(adapter_dir: str | Path, *, max_lora_rank: int = 16) -> list[str]:
    """Problems that would stop peft or vLLM from loading the adapter (empty = fine).

    Args:
        adapter_dir: the exported folder.
        max_lora_rank: the ``--max-lora-rank`` the vLLM server will run with.

    Returns:
        Human-readable problems.
    """
    d = Path(adapter_dir)
    problems: list[str] = []
    cfg_path = d / "adapter_config.json"
    if not cfg_path.is_file():
        return [f"{cfg_path.name} is missing"]
    if not (d / "adapter_model.safetensors").is_file():
        problems.append("adapter_model.safetensors is missing")
    cfg: dict[str, Any] = json.loads(cfg_path.read_text(encoding="utf-8"))
    if cfg.get("peft_type") != "LORA":
        problems.append(f"peft_type is {cfg.get('peft_type')!r}, not 'LORA'")
    for key in ("base_model_name_or_path", "r", "lora_alpha", "target_modules"):
        if not cfg.get(key):
            problems.append(f"adapter_config.json has no {key}")
    r = cfg.get("r")
    if isinstance(r, int) and r > max_lora_rank:
        problems.append(f"rank {r} exceeds --max-lora-rank {max_lora_rank}")
    targets = cfg.get("target_modules") or []
    if isinstance(targets, str):
        problems.append("target_modules is a regex; vLLM expects a list of module names")
    else:
        unknown = sorted(set(targets) - VLLM_LORA_MODULES)
        if unknown:
            problems.append(f"vLLM has no LoRA support for modules {unknown}")
    if cfg.get("modules_to_save"):
        problems.append("modules_to_save is set; vLLM does not load extra trained modules")
    if cfg.get("use_dora"):
        problems.append("DoRA adapters are not served by vLLM")
    if cfg.get("bias", "none") != "none":
        problems.append("LoRA bias terms are not served by vLLM")
    return problems


def vllm_serve_command(
    base_model: str, adapter_dir: str | Path, name: str, *, max_lora_rank: int = 16
) -> str:
    """The ``vllm serve`` command line that serves ``adapter_dir`` as model ``name``."""
    return " ".join(
        [
            "vllm serve",
            shlex.quote(base_model),
            "--enable-lora",
            f"--max-lora-rank {max_lora_rank}",
            "--lora-modules",
            shlex.quote(f"{name}={adapter_dir}"),
        ]
    )
