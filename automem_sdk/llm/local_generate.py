"""Generation with a loaded local model: grammar and stop strings, a KV prefix cache.

:func:`generate` runs one left-padded batch through ``model.generate`` with a logits
processor (:class:`_Watcher`) that keeps each row inside the op grammar and ends rows at
a stop string; :class:`PrefixCache` keeps the KV caches of recent prompts so a call
sharing a long prefix with an earlier one recomputes only the rest; :func:`reply`
turns generated ids into a :class:`~automem_sdk.llm.base.Completion`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Usage
from automem_sdk.llm.local_models import LoadedModel
from automem_sdk.llm.op_grammar import OpTracker

__all__ = ["PrefixCache", "generate", "reply"]


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


class PrefixCache:
    """The KV caches of the last ``size`` prompts, for reuse by a prompt sharing a prefix.

    Args:
        size: how many entries to keep (``0`` disables the cache).
        min_tokens: the shortest shared prefix worth reusing.

    Attributes:
        hits: calls that reused a cached prefix.
        reused_tokens: prompt tokens served from the cache.
    """

    def __init__(self, size: int = 4, min_tokens: int = 16) -> None:
        self.size = max(0, size)
        self.min_tokens = max(1, min_tokens)
        self.hits = 0
        self.reused_tokens = 0
        self._entries: list[_PrefixEntry] = []

    def take(self, ids: list[int]) -> tuple[Any, int]:
        """A copy of the best cached KV prefix for ``ids`` and its length (``None, 0``)."""
        best: _PrefixEntry | None = None
        best_len = 0
        for entry in self._entries:
            n = 0
            limit = min(len(entry.ids), len(ids) - 1)
            while n < limit and entry.ids[n] == ids[n]:
                n += 1
            if n > best_len:
                best, best_len = entry, n
        if best is None or best_len < self.min_tokens:
            return None, 0
        cache = copy.deepcopy(best.cache)
        extra = int(cache.get_seq_length()) - best_len
        if extra > 0:
            cache.crop(-extra)
        best.used = time.monotonic()
        return cache, best_len

    def keep(self, ids: list[int], cache: Any) -> None:
        """Remember the KV cache of the sequence ``ids`` (dropping the oldest entry)."""
        if self.size == 0 or cache is None:
            return
        length = int(cache.get_seq_length())
        self._entries.append(_PrefixEntry(ids=ids[:length], cache=cache, used=time.monotonic()))
        self._entries.sort(key=lambda e: e.used, reverse=True)
        del self._entries[self.size :]

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()


def _inputs(loaded: LoadedModel, batch: list[list[int]]) -> tuple[Any, Any, int, int]:
    """Left-padded input ids and attention mask, the pad id and the width."""
    import torch

    tok = loaded.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else loaded.eos_ids[0]
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    return input_ids, attention, pad, width


def generate(
    loaded: LoadedModel,
    batch: list[list[int]],
    settings: dict[str, Any],
    prefix: PrefixCache | None = None,
) -> list[list[int]]:
    """Generate continuations of the prompts ``batch`` (token ids), one list per row.

    A per-call ``seed`` seeds a forked random state, so torch's global generator is
    left as it was. The prefix cache is used for single-row batches.
    """
    import torch

    input_ids, attention, pad, width = _inputs(loaded, batch)
    past, reused = (None, 0)
    if len(batch) == 1 and prefix is not None and prefix.size > 0:
        past, reused = prefix.take(batch[0])
    gen_kwargs: dict[str, Any] = {
        "input_ids": input_ids.to(loaded.device),
        "attention_mask": attention.to(loaded.device),
        "max_new_tokens": settings["max_new_tokens"],
        "pad_token_id": pad,
        "eos_token_id": loaded.eos_ids,
        "return_dict_in_generate": True,
        "use_cache": True,
    }
    if settings["grammar"] or settings["stops"]:
        from transformers import LogitsProcessorList

        watcher = _Watcher(
            loaded, width, len(batch), grammar=settings["grammar"], stops=settings["stops"]
        )
        gen_kwargs["logits_processor"] = LogitsProcessorList([watcher])
    seed = None
    if settings["temperature"] > 0:
        gen_kwargs.update(do_sample=True, temperature=settings["temperature"])
        if settings["top_p"] is not None:
            gen_kwargs["top_p"] = float(settings["top_p"])
        seed = settings["seed"]
    else:
        gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    cache_name = _cache_name()
    if past is not None:
        gen_kwargs[cache_name] = past
    devices = [loaded.device] if str(loaded.device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None), torch.inference_mode():
        if seed is not None:
            torch.manual_seed(int(seed))
        out = loaded.model.generate(**gen_kwargs)
    sequences: list[list[int]] = out.sequences[:, width:].tolist()
    if len(batch) == 1 and prefix is not None:
        if reused:
            prefix.hits += 1
            prefix.reused_tokens += reused
        prefix.keep(batch[0] + sequences[0], getattr(out, cache_name, None))
    return sequences


def reply(
    loaded: LoadedModel,
    prompt: list[int],
    generated: list[int],
    settings: dict[str, Any],
    *,
    latency: float,
    model: str,
) -> Completion:
    """The completion for one row: text up to the end token, the op closed, stops cut."""
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
        model=model,
        usage=Usage(prompt_tokens=len(prompt), completion_tokens=n),
        latency_s=latency,
        finish_reason=finish,
        attempts=1,
    )
