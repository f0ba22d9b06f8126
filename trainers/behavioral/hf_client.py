"""An in-process memory specialist: a base model plus an optional LoRA adapter.

:class:`HFMemoryClient` implements the core :class:`~automem_sdk.llm.base.LLMClient`
protocol with ``transformers`` generation (greedy by default), so a freshly trained
adapter can run the memory routines of a two-model agent without a server. For serving,
the same adapter folder goes to ``vllm serve BASE --enable-lora --lora-modules
NAME=DIR`` and :class:`~automem_sdk.llm.OpenAICompatClient` talks to it by ``NAME``.

torch, transformers and peft are imported when the model is first used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Message, Usage, as_messages

__all__ = ["HFMemoryClient"]


class HFMemoryClient:
    """Chat with ``base_model`` (+ ``adapter``) in this process.

    Args:
        base_model: model folder or cached hub id.
        adapter: a LoRA adapter folder (``PeftModel.from_pretrained`` format), or None.
        name: the model name reported in completions (default: the adapter folder's
            name, else the base model).
        max_new_tokens: generation cap per reply.
        temperature: 0 for greedy decoding.
        max_context: keep at most this many prompt tokens (the most recent ones).
        device: ``auto``, ``cpu`` or ``cuda``.
        dtype: ``fp32`` or ``bf16``.
    """

    def __init__(
        self,
        base_model: str,
        adapter: str | None = None,
        *,
        name: str | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        max_context: int | None = None,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        dtype: Literal["fp32", "bf16"] = "fp32",
    ) -> None:
        self.base_model = base_model
        self.adapter = adapter
        self.model = name or (Path(adapter).name if adapter else base_model)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.max_context = max_context
        self.device = device
        self.dtype = dtype
        self._lm: Any = None
        self._tok: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_loaded(cls, model: Any, tokenizer: Any, name: str, **kw: Any) -> HFMemoryClient:
        """Wrap an already loaded model (e.g. a ``PeftModel`` just trained)."""
        client = cls(str(getattr(model, "name_or_path", name)), name=name, **kw)
        client._lm = model
        client._tok = tokenizer
        return client

    def _load(self) -> tuple[Any, Any]:
        if self._lm is not None:
            return self._lm, self._tok
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.dtype == "bf16" else torch.float32
        try:
            tok = AutoTokenizer.from_pretrained(self.adapter or self.base_model)
        except (OSError, ValueError):
            tok = AutoTokenizer.from_pretrained(self.base_model)
        try:
            lm: Any = AutoModelForCausalLM.from_pretrained(self.base_model, dtype=dtype)
            if self.adapter:
                from peft import PeftModel

                lm = PeftModel.from_pretrained(lm, self.adapter)
        except (OSError, ValueError) as exc:
            raise LLMError(f"cannot load {self.base_model!r} + {self.adapter!r}: {exc}") from exc
        lm.to(device)
        lm.eval()
        self._lm, self._tok = lm, tok
        return lm, tok

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Generate the assistant reply to ``messages``.

        Options: ``temperature``, ``max_tokens`` (per call overrides).
        """
        import torch

        msgs = [m.model_dump() for m in as_messages(messages)]
        t0 = time.perf_counter()
        with self._lock:
            lm, tok = self._load()
            text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            if self.max_context is not None and ids.shape[1] > self.max_context:
                ids = ids[:, -self.max_context :]
            ids = ids.to(lm.device)
            temperature = float(opts.get("temperature", self.temperature) or 0.0)
            max_new = int(opts.get("max_tokens", self.max_new_tokens))
            gen: dict[str, Any] = {
                "max_new_tokens": max_new,
                "do_sample": temperature > 0,
                "pad_token_id": tok.pad_token_id
                if tok.pad_token_id is not None
                else tok.eos_token_id,
                "eos_token_id": tok.eos_token_id,
            }
            if temperature > 0:
                gen["temperature"] = temperature
            with torch.no_grad():
                out = lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **gen)
            new = out[0, ids.shape[1] :]
            reply = tok.decode(new, skip_special_tokens=True)
        finish = "stop" if len(new) < max_new else "length"
        return Completion(
            text=reply,
            model=self.model,
            usage=Usage(prompt_tokens=int(ids.shape[1]), completion_tokens=len(new)),
            latency_s=time.perf_counter() - t0,
            finish_reason=finish,
        )
