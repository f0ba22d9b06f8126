"""Behavioral trainer package: public API, docstrings, light imports."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

MODULES = (
    "cli",
    "credit",
    "credit_eval",
    "dataset",
    "errors",
    "evaluate",
    "export",
    "gguf",
    "iterate",
    "ledger",
    "perf",
    "population",
    "replay",
    "selectors",
    "sft_data",
    "stats",
    "tiny",
    "toy",
    "traces",
    "train",
    "worlds",
)


def test_public_names_resolve_and_have_docstrings() -> None:
    pkg = importlib.import_module("automem_sdk.trainers.behavioral")
    missing = []
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            missing.append(name)
    for mod in MODULES:
        m = importlib.import_module(f"automem_sdk.trainers.behavioral.{mod}")
        assert m.__doc__, mod
        for name in m.__all__:
            obj = getattr(m, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
                missing.append(f"{mod}.{name}")
    assert missing == []


def test_importing_every_module_stays_light() -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {MODULES!r}:\n"
        "    importlib.import_module('automem_sdk.trainers.behavioral.' + m)\n"
        "import automem_sdk.cli as c; c.build_parser()\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_errors_derive_from_automem_error() -> None:
    from automem_sdk.trainers.behavioral.errors import BehavioralError, InsufficientDataError

    from automem_sdk.errors import AutomemError

    assert issubclass(BehavioralError, AutomemError)
    assert issubclass(InsufficientDataError, BehavioralError)


def test_fixed_steps_train_config_shape() -> None:
    from automem_sdk.trainers.behavioral.train import TrainConfig

    c = TrainConfig.fixed_steps("base", 90, checkpoints=3, r=8, learning_rate=1e-3)
    assert (c.max_steps, c.save_steps, c.grad_accum, c.warmup) == (90, 30, 1, 0.1)
    assert c.r == 8 and c.learning_rate == 1e-3 and c.base_model == "base"
    assert TrainConfig.fixed_steps("base", 12).save_steps == 10  # at least 10
    # a caller may still override the shape
    assert TrainConfig.fixed_steps("base", 12, grad_accum=4).grad_accum == 4
