"""LocalTransformersClient on a tiny random Llama (fast), built and saved in a temp folder.

The tiny model has a character-level tokenizer plus a few multi-character entries
(``<|``, ``|>``, ``<|END|>``, …) so the grammar masks see pieces that cross states.
The real SmolLM2 model is exercised in ``test_local_model_slow.py``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from automem_sdk.codec import parse_ops
from automem_sdk.errors import LLMError
from automem_sdk.llm import LLMClient, make_client
from automem_sdk.llm.op_grammar import OpState, OpTracker

torch = pytest.importorskip("torch", reason="the local provider needs torch")
pytest.importorskip("transformers", reason="the local provider needs transformers")
tokenizers = pytest.importorskip("tokenizers", reason="the tiny test model needs tokenizers")

from automem_sdk.llm.local import (  # noqa: E402
    LocalTransformersClient,
    ModelRegistry,
    make_local_client,
    resolve_model,
)

TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MULTI = ["<|", "|>", "<|END|>", "DONE", "READ", "APPEND", "|>\n", "ab<", "\\<|", ">x"]


def build_tiny_model(folder: Path) -> None:
    from tokenizers import Regex, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|im_end|>", "<|im_start|>", "<pad>", "<unk>"]
    chars = [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {t: i for i, t in enumerate(specials + chars + MULTI)}
    core = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<pad>", unk_token="<unk>"
    )
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tok.chat_template = TEMPLATE
    tok.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<pad>"],
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # sharper logits than the default init, so greedy paths vary
        model.lm_head.weight.mul_(30.0)
    model.generation_config.eos_token_id = vocab["<|im_end|>"]
    model.generation_config.pad_token_id = vocab["<pad>"]
    model.save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_model(folder)
    return folder


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry()


def client(tiny_dir: Path, registry: ModelRegistry, **kw: Any) -> LocalTransformersClient:
    kw.setdefault("max_new_tokens", 24)
    return LocalTransformersClient(str(tiny_dir), registry=registry, **kw)


def conv(i: int, system: str = "You keep notes in files. " * 6) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Observation {i}: a tree at {i},{i + 1}."},
    ]


def lcp(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_chat_through_the_protocol(tiny_dir: Path, registry: ModelRegistry) -> None:
    c = client(tiny_dir, registry)
    assert isinstance(c, LLMClient)
    out = c.chat(conv(1))
    assert out.model == f"local:{tiny_dir}"
    assert out.usage.prompt_tokens == len(c.prompt_ids(conv(1)))
    assert 0 < out.usage.completion_tokens <= 24
    assert out.finish_reason in ("stop", "length")
    again = c.chat(conv(1))
    assert again.text == out.text  # greedy decoding is deterministic


def test_registry_loads_each_model_once(tiny_dir: Path, registry: ModelRegistry) -> None:
    a = client(tiny_dir, registry)
    b = client(tiny_dir, registry, grammar=True)
    assert a.load() is b.load()
    assert len(registry) == 1
    assert registry.loaded()[0].path == str(tiny_dir)


@pytest.mark.parametrize("seed", range(8))
def test_grammar_keeps_sampled_output_inside_one_op(
    tiny_dir: Path, registry: ModelRegistry, seed: int
) -> None:
    c = client(tiny_dir, registry, grammar=True, max_new_tokens=40)
    out = c.chat(conv(seed), temperature=1.5, seed=seed)
    assert out.text.startswith("<|")
    tracker = OpTracker()
    tracker.feed(out.text)
    assert not tracker.violated
    assert tracker.text == out.text
    if tracker.finished or tracker.in_args:
        ops = parse_ops(out.text)
        assert len(ops) == 1, out.text
        if tracker.finished:
            assert out.finish_reason == "stop"


def test_grammar_output_always_parses_when_it_ends(tiny_dir: Path, registry: ModelRegistry) -> None:
    c = client(tiny_dir, registry, grammar=True, max_new_tokens=60)
    finished = 0
    for seed in range(6):
        out = c.chat(conv(seed), temperature=1.0, seed=100 + seed)
        assert out.text.startswith("<|")
        if out.finish_reason == "stop":
            finished += 1
            assert out.text.endswith(("<|END|>", "|>"))
            assert len(parse_ops(out.text)) == 1, out.text
    assert finished >= 3  # the grammar ends ops itself, well before max_new_tokens


def test_restricted_grammar_only_writes_allowed_ops(
    tiny_dir: Path, registry: ModelRegistry
) -> None:
    allowed = ["READ", "ACTION", "DONE"]
    restricted = client(tiny_dir, registry, grammar=allowed, max_new_tokens=40)
    free = client(tiny_dir, registry, grammar=True, max_new_tokens=40)
    spelled, outside = 0, 0
    for seed in range(8):
        out = restricted.chat(conv(seed), temperature=1.5, seed=seed)
        tracker = OpTracker(names=frozenset(allowed))
        tracker.feed(out.text)
        assert not tracker.violated and tracker.text == out.text, out.text
        if tracker.state >= OpState.BAR:  # the name is spelled out
            spelled += 1
            assert tracker.name_prefix in allowed, out.text
        other = OpTracker()
        other.feed(free.chat(conv(seed), temperature=1.5, seed=seed).text)
        if other.state >= OpState.BAR and other.name_prefix not in allowed:
            outside += 1
    assert spelled >= 4
    assert outside >= 1  # unrestricted, the same model does spell other names
    with pytest.raises(LLMError, match="op names"):
        client(tiny_dir, registry, grammar=["not a name"])
    with pytest.raises(LLMError, match="not a string"):
        restricted.chat(conv(0), grammar="READ")


def test_agent_constrains_each_routine_to_the_ops_it_accepts(
    tiny_dir: Path, registry: ModelRegistry, tmp_path: Path
) -> None:
    from automem_sdk.benchmarks.envs.toy import KeyDoorEnv

    from automem_sdk.agent import LLMDecider, MemoryAgent, run_episode
    from automem_sdk.store import MemoryStore
    from automem_sdk.trace import TurnRecord, iter_records

    c = client(tiny_dir, registry, max_new_tokens=24, temperature=1.0)
    agent = MemoryAgent(
        MemoryStore(f"memory://constrain-{tmp_path.name}"),
        "generic",
        LLMDecider(c, constrain_ops=True, seed=0),
    )
    trace = str(tmp_path / "trace.jsonl")
    run_episode(KeyDoorEnv(max_steps=3), agent, seed=0, max_steps=3, trace=trace)
    turns = [r for r in iter_records(trace) if isinstance(r, TurnRecord) and r.turn >= 0]
    log_ops = set(agent.scaffold.op_tokens()) - {"ACTION"}
    by_routine: dict[str, int] = {}
    for t in turns:
        by_routine[t.routine] = by_routine.get(t.routine, 0) + 1
        tracker = OpTracker()
        tracker.feed(t.output)
        assert not tracker.violated and t.output.startswith("<|"), t.output
        if tracker.state >= OpState.BAR:
            allowed = log_ops if t.routine == "log" else log_ops | {"ACTION"}
            assert tracker.name_prefix in allowed, (t.routine, t.output)
    assert by_routine.get("log", 0) >= 3 and by_routine.get("plan", 0) >= 3
    # the agent never had to refuse an action in LOG
    assert not any("not LOG" in str(r) for t in turns for r in t.results)


def test_stop_strings_cut_greedy_output(tiny_dir: Path, registry: ModelRegistry) -> None:
    c = client(tiny_dir, registry, max_new_tokens=30, prefix_cache=0)
    full = c.chat(conv(2)).text
    assert len(full) >= 6, full
    stop = full[3:5]
    cut = c.chat(conv(2), stop=[stop])
    assert cut.text == full[: full.find(stop)]
    assert cut.finish_reason == "stop"


def test_prefix_cache_reuses_the_shared_prompt_and_keeps_outputs(
    tiny_dir: Path, registry: ModelRegistry
) -> None:
    cold = client(tiny_dir, registry, prefix_cache=0)
    expected = [cold.chat(conv(i)).text for i in range(3)]
    warm = client(tiny_dir, registry, prefix_cache=4)
    got = [warm.chat(conv(i)).text for i in range(3)]
    assert got == expected
    assert warm.prefix_hits == 2
    p0, p1, p2 = (warm.prompt_ids(conv(i)) for i in range(3))
    assert warm.reused_tokens == lcp(p0, p1) + lcp(p1, p2)
    assert lcp(p0, p1) >= len(warm.prompt_ids([conv(0)[0]])) - 4  # the system prompt
    # the next turn of a conversation reuses the previous reply too
    follow = [*conv(2), {"role": "assistant", "content": got[2]}, {"role": "user", "content": "go"}]
    before = warm.reused_tokens
    assert warm.chat(follow).text == cold.chat(follow).text
    assert warm.reused_tokens - before > len(warm.prompt_ids(conv(2)))


def test_chat_batch_matches_single_calls(tiny_dir: Path, registry: ModelRegistry) -> None:
    c = client(tiny_dir, registry, prefix_cache=0, max_batch=3)
    convs = [conv(i, system="short") for i in range(4)] + [conv(9)]
    singles = [c.chat(m) for m in convs]
    c.batch_sizes.clear()
    batched = c.chat_batch(convs)
    assert c.batch_sizes == [3, 2]
    assert [b.text for b in batched] == [s.text for s in singles]
    assert [b.usage for b in batched] == [s.usage for s in singles]


def test_concurrent_calls_are_gathered_into_one_batch(
    tiny_dir: Path, registry: ModelRegistry
) -> None:
    c = client(tiny_dir, registry, prefix_cache=0, batch_window_s=30.0, max_batch=3)
    convs = [conv(i, system="short") for i in range(3)]
    expected = [client(tiny_dir, registry, prefix_cache=0).chat(m).text for m in convs]
    results: list[str | None] = [None] * 3
    barrier = threading.Barrier(3)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = c.chat(convs[i]).text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected
    assert c.batch_sizes == [3]  # the window closed as soon as the batch was full


def test_unsupported_option_is_an_llm_error(tiny_dir: Path, registry: ModelRegistry) -> None:
    with pytest.raises(LLMError, match=r"unknown chat option\(s\) \['logprobs'\]"):
        client(tiny_dir, registry).chat(conv(0), logprobs=True)
    with pytest.raises(LLMError, match=r"does not support the chat option\(s\) \['extra_body'\]"):
        client(tiny_dir, registry).chat(conv(0), extra_body={"x": 1})
    with pytest.raises(LLMError, match="unknown dtype 'fp8'"):
        LocalTransformersClient(str(tiny_dir), registry=registry, dtype="fp8")


def test_a_seeded_call_leaves_the_global_generator_alone(
    tiny_dir: Path, registry: ModelRegistry
) -> None:
    c = client(tiny_dir, registry, temperature=1.0, prefix_cache=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = c.chat(conv(0), seed=7).text
    after = torch.rand(3)
    assert torch.equal(after, expected)  # the call did not reseed or advance it
    assert c.chat(conv(0), seed=7).text == a  # and the seed still fixes the sample


def test_dtype_names_share_one_vocabulary(tiny_dir: Path) -> None:
    reg = ModelRegistry()
    LocalTransformersClient(str(tiny_dir), registry=reg, dtype="fp32").load()
    LocalTransformersClient(str(tiny_dir), registry=reg, dtype="float32").load()
    LocalTransformersClient(str(tiny_dir), registry=reg).load()  # auto on CPU: float32
    assert len(reg) == 1


def test_lora_adapter_loads_on_top_and_from_loaded_wraps_a_model(
    tiny_dir: Path, tmp_path: Path
) -> None:
    peft = pytest.importorskip("peft", reason="adapters need peft")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(tiny_dir))
    lora = peft.get_peft_model(
        base, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    lora.save_pretrained(tmp_path / "adapter")
    plain = LocalTransformersClient(str(tiny_dir), registry=ModelRegistry(), max_new_tokens=12)
    tuned = LocalTransformersClient(
        str(tiny_dir), adapter=str(tmp_path / "adapter"), name="mem-lora", max_new_tokens=12
    )
    assert tuned.model == "mem-lora"
    assert isinstance(tuned.load().model, peft.PeftModel)
    assert tuned.chat(conv(0)).text != plain.chat(conv(0)).text  # the adapter changes output
    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    wrapped = LocalTransformersClient.from_loaded(
        tuned.load().model, tok, "in-memory", max_new_tokens=12
    )
    assert wrapped.model == "in-memory"
    assert wrapped.chat(conv(0)).text == tuned.chat(conv(0)).text
    with pytest.raises(LLMError, match="cannot load the LoRA adapter"):
        LocalTransformersClient(str(tiny_dir), adapter=str(tmp_path / "missing")).load()


def test_resolve_model_forms(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_model(str(tiny_dir)).gguf_file is None
    one = tmp_path / "one"
    one.mkdir()
    (one / "m.Q4.gguf").write_bytes(b"")
    src = resolve_model(str(one))
    assert src.gguf_file == "m.Q4.gguf" and src.gguf_path == str(one / "m.Q4.gguf")
    assert resolve_model(str(one / "m.Q4.gguf")).path == str(one)
    (one / "other.gguf").write_bytes(b"")
    with pytest.raises(LLMError, match=r"2 \.gguf files"):
        resolve_model(str(one))
    assert resolve_model(str(one), "other.gguf").gguf_file == "other.gguf"
    from automem_sdk.llm import local

    monkeypatch.setitem(local.MODEL_ALIASES, "ghost-1m", ("no_such_package_xyz", None))
    with pytest.raises(LLMError, match="no-such-package-xyz"):
        resolve_model("ghost-1m")


def test_make_client_local_backends(tiny_dir: Path, registry: ModelRegistry) -> None:
    c = make_client(f"local:{tiny_dir}", registry=registry, max_new_tokens=4)
    assert isinstance(c, LocalTransformersClient)  # not a GGUF: transformers
    assert c.chat(conv(0)).usage.completion_tokens <= 4
    with pytest.raises(ValueError, match="backend"):
        make_local_client(str(tiny_dir), backend="onnx")
    with pytest.raises(LLMError, match=r"needs a \.gguf"):
        make_local_client(str(tiny_dir), backend="llamacpp")


def test_speed_benchmark_table_and_arguments() -> None:
    from automem_sdk.benchmarks.harness.local_llm_speed import build_parser, main, render

    args = build_parser().parse_args(["--max-tokens", "8", "--runs", "1", "--batch", "2"])
    table = render(
        {
            "transformers": {"startup_s": 30.0, "threads": 2, "tok_s": 12.5, "status": "ok"},
            "llamacpp": {"status": "skipped: not installed"},
        },
        args,
    )
    assert table.row_count == 2
    assert "smollm2-135m" in str(table.title) and "max_tokens=8" in str(table.title)
    assert table.columns[4].header == "tok/s batch 2"
    cells = [list(col.cells) for col in table.columns]
    assert cells[0] == ["transformers", "llamacpp"]
    assert cells[3] == ["12.5", "-"]
    with pytest.raises(SystemExit):
        main(["--backends", "onnx"])


def test_max_context_keeps_the_latest_prompt_tokens_and_auto_device(
    tiny_dir: Path, registry: ModelRegistry
) -> None:
    full = client(tiny_dir, registry).prompt_ids(conv(0))
    short = client(tiny_dir, registry, max_context=10)
    assert short.prompt_ids(conv(0)) == full[-10:]
    assert short.chat(conv(0)).usage.prompt_tokens == 10
    auto = client(tiny_dir, registry, device="auto")
    auto.load()
    assert auto.device == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="max_context must be >= 1"):
        client(tiny_dir, registry, max_context=0)
