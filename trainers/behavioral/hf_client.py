"""Deprecated: :class:`HFMemoryClient` is the core's in-process client with old defaults.

The behavioral trainer runs its memory specialists (a base model plus an optional LoRA
adapter) with :class:`automem_sdk.llm.local.LocalTransformersClient`, which loads the
adapter through the core's model registry. ``HFMemoryClient`` stays for code written
against it: a thin subclass whose arguments and defaults are the ones it always had
(``device="auto"``, ``dtype="fp32"``, the adapter folder's name as model name).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

from automem_sdk.llm.local import LocalTransformersClient

__all__ = ["HFMemoryClient"]


class HFMemoryClient(LocalTransformersClient):
    """Deprecated alias of :class:`~automem_sdk.llm.local.LocalTransformersClient`.

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
        **kw: other :class:`LocalTransformersClient` options.
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
        device: Literal["auto", "cpu", "cuda"] | str = "auto",
        dtype: Literal["fp32", "bf16"] | str = "fp32",
        **kw: Any,
    ) -> None:
        warnings.warn(
            "HFMemoryClient is deprecated: use automem_sdk.llm.local.LocalTransformersClient"
            "(base, adapter=..., name=..., device=..., dtype=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(
            base_model,
            adapter=adapter,
            name=name or (Path(adapter).name if adapter else base_model),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            max_context=max_context,
            device=device,
            dtype=dtype,
            **kw,
        )
        self.base_model = base_model
        self.adapter = adapter

    @classmethod
    def from_loaded(cls, model: Any, tokenizer: Any, name: str, **kw: Any) -> HFMemoryClient:
        """Wrap an already loaded model (e.g. a ``PeftModel`` just trained), where it is."""
        kw.setdefault("device", str(getattr(model, "device", "cpu")))
        client = super().from_loaded(model, tokenizer, name, **kw)
        assert isinstance(client, HFMemoryClient)
        return client
