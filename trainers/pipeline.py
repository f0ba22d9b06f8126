"""End to end: baseline -> structural trainer -> behavioral trainer -> final evaluation.

``automem pipeline CONFIG.yaml`` (or :class:`Pipeline`) runs the four stages. Every
stage writes its outputs under ``out`` (any fsspec URL: a local folder or ``s3://``)
and reads the previous stage's outputs from there, so a stage can run on another
machine. ``out`` is a core run directory (:class:`automem_sdk.rundir.RunDir`; every
file written whole, atomically) and each stage's episodes are core
:class:`~automem_sdk.episodes.EpisodeJob` s run by :func:`automem_sdk.rundir.run_jobs`
under ``out/<stage>``, one :class:`~automem_sdk.episode_result.EpisodeResult` JSON per
episode. Each stage ends with a ``DONE.json`` marker; a rerun skips finished stages and
resumes the one it was in (episodes already played are not played again, the
structural trainer resumes its run directory).

Layout under ``out``::

    baseline/episodes/<env>/<seed>.json   baseline/traces/...   baseline/memory/...
    structural/scaffold.yaml  structural/ledger.jsonl  structural/state.json
    behavioral/dataset/...  behavioral/adapter/...  behavioral/eval.json
    final/episodes/...  final/traces/...
    report.md  report.json  progression.png
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, stdev
from typing import Any, Literal

import fsspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from automem_sdk.episode_result import EpisodeResult
from automem_sdk.episodes import EpisodeJob
from automem_sdk.errors import AutomemError
from automem_sdk.rundir import RunDir, RunDirError, run_jobs
from automem_sdk.scaffold import Scaffold
from automem_sdk.trace import list_traces

__all__ = [
    "STAGES",
    "BehavioralStage",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "SeedSets",
    "StructuralStage",
    "load_pipeline_config",
    "print_summary",
    "register",
]

STAGES: tuple[str, ...] = ("baseline", "structural", "behavioral", "final")
Stage = Literal["baseline", "structural", "behavioral", "final"]


class PipelineError(AutomemError):
    """The pipeline configuration or a stage's inputs are invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedSets(_Model):
    """Disjoint seed sets: the structural trainer reflects and gates on its own seeds,
    baseline and final evaluations use ``eval``."""

    reflection: list[int] = Field(min_length=1)
    gate: list[int] = Field(min_length=1)
    eval: list[int] = Field(min_length=1)

    @field_validator("gate")
    @classmethod
    def _disjoint(cls, v: list[int], info: Any) -> list[int]:
        overlap = set(v) & set(info.data.get("reflection", []))
        if overlap:
            raise ValueError(f"gate and reflection seeds overlap: {sorted(overlap)}")
        return v


class StructuralStage(_Model):
    """Settings of the structural stage."""

    enabled: bool = True
    iterations: int = Field(default=2, ge=0)
    proposer: str = "heuristic"
    # bootstrap: a paired 95% interval (strict-mean accepts a one-seed flip; see
    # docs/structural.md for each rule's false-accept rate)
    rule: Literal["strict-mean", "no-regression", "bootstrap", "sign-test"] = "bootstrap"


class BehavioralStage(_Model):
    """Settings of the behavioral stage.

    ``base_model`` is ``"tiny"`` (a tiny random causal LM built from a config: the
    keyless path, which exercises the plumbing but learns little) or a local model folder
    (e.g. SmolLM2 saved with ``save_pretrained``).

    ``base_endpoint`` / ``lora_endpoint``: LLM client specs (e.g.
    ``vllm:Qwen/Qwen2.5-0.5B-Instruct@http://gpu:8000/v1`` and
    ``vllm:memory-lora@http://gpu:8000/v1``) to evaluate through a server instead of
    in-process; serve the uploaded adapter with the printed ``vllm serve`` command.
    """

    enabled: bool = True
    base_model: str = "tiny"
    selector: str = "outcome:0.5"
    min_examples: int = Field(default=8, ge=1)
    max_train_steps: int = Field(default=30, ge=1)
    lora_r: int = Field(default=8, ge=1)
    max_new_tokens: int = Field(default=48, ge=1)
    eval_seeds: list[int] | None = None
    eval_max_steps: int | None = Field(default=None, ge=1)
    base_endpoint: str | None = None
    lora_endpoint: str | None = None


class PipelineConfig(_Model):
    """Everything a pipeline run needs (the YAML file's schema)."""

    name: str = "pipeline"
    out: str
    storage_options: dict[str, Any] = Field(default_factory=dict)
    envs: list[str] = Field(min_length=1)
    scaffold: str = "minihack"
    decider: str = "explorer"
    max_steps: int | None = Field(default=None, ge=1)
    seeds: SeedSets
    workers: int = Field(default=1, ge=1)
    executor: Literal["process", "ray"] = "process"
    input_price_per_mtok: float = Field(default=0.0, ge=0)
    output_price_per_mtok: float = Field(default=0.0, ge=0)
    structural: StructuralStage = Field(default_factory=StructuralStage)
    behavioral: BehavioralStage = Field(default_factory=BehavioralStage)

    def fingerprint(self) -> str:
        """Short hash of the config (names the local scratch directory)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_pipeline_config(
    path: str, storage_options: dict[str, Any] | None = None
) -> PipelineConfig:
    """Read a pipeline config (YAML or JSON) from a path or fsspec URL.

    Raises:
        PipelineError: unreadable or invalid.
    """
    try:
        with fsspec.open(path, "r", **(storage_options or {})) as f:
            data = yaml.safe_load(f.read())
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineError(f"cannot read pipeline config {path}: {exc}") from exc
    try:
        return PipelineConfig.model_validate(data)
    except ValueError as exc:
        raise PipelineError(f"invalid pipeline config {path}: {exc}") from exc


def _slug(env: str) -> str:
    return env.replace("/", "__")


_FACTORIES = "automem_sdk.trainers.structural.envs"


def _se(xs: Sequence[float]) -> float:
    return stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0


class Pipeline:
    """Runs the stages of a :class:`PipelineConfig` (see module docstring).

    Args:
        config: the configuration.
        workdir: local scratch space (structural run dir, model files); default a folder
            under the system temp dir named after the config's fingerprint, so a rerun
            finds it again.
        quiet: no progress output.
        fmt: how the summary is printed (``table``, ``md``, ``csv`` or ``json``).
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        workdir: str | None = None,
        quiet: bool = False,
        fmt: str = "table",
    ) -> None:
        self.config = config
        self.out = config.out.rstrip("/")
        self.opts = config.storage_options
        self.run_dir = RunDir(self.out, self.opts)
        default = Path(tempfile.gettempdir()) / f"automem-pipeline-{config.fingerprint()}"
        self.workdir = Path(workdir) if workdir else default
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.quiet = quiet
        self.fmt = fmt
        self.played = 0  # episodes actually played by this process (resume tests count it)

    # ------------------------------------------------------------------ files
    def url(self, *parts: str) -> str:
        """The URL of ``parts`` under ``out``."""
        return "/".join([self.out, *parts])

    def _exists(self, *parts: str) -> bool:
        return self.run_dir.exists(*parts)

    def _write_text(self, text: str | bytes, *parts: str) -> None:
        self.run_dir.write(text, *parts)

    def _read_text(self, *parts: str) -> str:
        return self.run_dir.read_text(*parts)

    def _copy_in(self, local: Path, *parts: str) -> None:
        """Copy the local file or folder ``local`` to ``parts`` under ``out``."""
        files = [local] if local.is_file() else sorted(f for f in local.rglob("*") if f.is_file())
        for f in files:
            rel = () if f == local else tuple(f.relative_to(local).parts)
            self.run_dir.write(f.read_bytes(), *parts, *rel)

    def done(self, stage: str) -> bool:
        """Whether ``stage`` finished (its ``DONE.json`` exists)."""
        return self._exists(stage, "DONE.json")

    def _mark_done(self, stage: str, info: dict[str, Any]) -> None:
        self._write_text(
            json.dumps({"stage": stage, "finished": time.time(), **info}), stage, "DONE.json"
        )

    def _say(self, text: str) -> None:
        if not self.quiet:
            from rich.console import Console

            Console().print(text)

    # ------------------------------------------------------------------ run
    def run(
        self, *, stages: Sequence[str] = STAGES, stop_after: str | None = None
    ) -> dict[str, Any]:
        """Run every unfinished stage in order; return the summary.

        Args:
            stages: which stages to run (others must be finished or disabled).
            stop_after: stop once this stage is done (for tests and step-by-step runs).
        """
        for stage in STAGES:
            if stage not in stages:
                continue
            if self.done(stage):
                self._say(f"[dim]{stage}: done, skipped[/]")
            else:
                self._say(f"[bold]{stage}[/]")
                getattr(self, f"_stage_{stage}")()
            if stage == stop_after:
                break
        return self.report()

    # ------------------------------------------------------------------ episodes
    def _job(self, stage: str, scaffold: Scaffold, env: str, seed: int) -> EpisodeJob:
        cfg = self.config
        return EpisodeJob(
            env=env,
            seed=seed,
            agent=stage,
            key=f"{_slug(env)}/{seed}",
            decider=cfg.decider,
            scaffold=scaffold.id,
            scaffold_yaml=scaffold.to_yaml(),
            max_steps=cfg.max_steps,
            memory_url=self.url(stage, "memory", _slug(env), str(seed)),
            trace_url=self.url(stage, "traces", _slug(env), f"{seed}.jsonl.gz"),
            storage_options=self.opts,
            env_factory=f"{_FACTORIES}:make_env",
            decider_factory=f"{_FACTORIES}:make_decider",
            header_extra={"pipeline_stage": stage},
            labels={"stage": stage},
        )

    def _episodes(
        self, stage: str, scaffold: Scaffold, seeds: Sequence[int]
    ) -> list[EpisodeResult]:
        """Play the stage's episodes not finished yet (``out/<stage>/episodes/...``)."""
        from rich.progress import Progress

        cfg = self.config
        jobs = [self._job(stage, scaffold, env, seed) for env in cfg.envs for seed in seeds]
        with Progress(disable=self.quiet) as progress:
            bar = progress.add_task(f"{stage} episodes", total=len(jobs))

            def count(_res: EpisodeResult, fresh: bool) -> None:
                self.played += int(fresh)
                progress.advance(bar)

            try:
                return run_jobs(
                    jobs,
                    RunDir(self.url(stage), self.opts),
                    executor=cfg.executor,
                    workers=cfg.workers,
                    on_result=count,
                )
            except RunDirError as exc:
                raise PipelineError(f"{stage} episodes: {exc}") from exc

    def _start_scaffold(self) -> Scaffold:
        from automem_sdk.trainers.structural.envs import load_start_scaffold

        scaffold: Scaffold = load_start_scaffold(self.config.scaffold)
        return scaffold

    def _best_scaffold(self) -> Scaffold:
        if self._exists("structural", "scaffold.yaml"):
            return Scaffold.from_yaml(self._read_text("structural", "scaffold.yaml"))
        return self._start_scaffold()

    # ------------------------------------------------------------------ stages
    def _stage_baseline(self) -> None:
        sc = self._start_scaffold()
        self._write_text(sc.to_yaml(), "baseline", "scaffold.yaml")
        rows = self._episodes("baseline", sc, self.config.seeds.eval)
        self._mark_done("baseline", {"episodes": len(rows), "scaffold_id": sc.id})

    def _stage_structural(self) -> None:
        cfg = self.config
        start = Scaffold.from_yaml(self._read_text("baseline", "scaffold.yaml"))
        if not cfg.structural.enabled:
            self._write_text(start.to_yaml(), "structural", "scaffold.yaml")
            self._mark_done("structural", {"skipped": True, "scaffold_id": start.id})
            return
        from automem_sdk.trainers.structural import AgentConfig, StructuralConfig, StructuralTrainer

        start_path = self.workdir / "start-scaffold.yaml"
        start_path.write_text(start.to_yaml(), encoding="utf-8")
        scfg = StructuralConfig(
            envs=cfg.envs,
            scaffold=str(start_path),
            reflection_seeds=cfg.seeds.reflection,
            gate_seeds=cfg.seeds.gate,
            iterations=cfg.structural.iterations,
            proposer=cfg.structural.proposer,
            rule=cfg.structural.rule,
            agent=AgentConfig(decider=cfg.decider, max_steps=cfg.max_steps),
        )
        run_dir = self.workdir / "structural"
        resume = (run_dir / "state.json").exists()
        trainer = StructuralTrainer(str(run_dir), None if resume else scfg)
        state = trainer.run(resume=resume)
        best = _accepted_head(run_dir, start)
        for name in ("ledger.jsonl", "state.json", "config.json"):
            if (run_dir / name).exists():
                self._copy_in(run_dir / name, "structural", name)
        self._write_text(best.to_yaml(), "structural", "scaffold.yaml")
        self._mark_done(
            "structural",
            {
                "scaffold_id": best.id,
                "status": str(getattr(state, "status", "")),
                "start_id": start.id,
            },
        )

    def _stage_behavioral(self) -> None:
        cfg = self.config.behavioral
        scaffold = Scaffold.from_yaml(self._read_text("structural", "scaffold.yaml"))
        if not cfg.enabled:
            self._mark_done("behavioral", {"skipped": True})
            return
        local_data = self._behavioral_dataset()
        base, result = self._behavioral_train(local_data)
        adapter = Path(result.adapter_dir)
        self._copy_in(adapter, "behavioral", "adapter")
        reports = self._behavioral_eval(scaffold, base, adapter)
        train = {
            "steps": result.steps,
            "loss_before": result.loss_before,
            "loss_after": result.loss_after,
            "tokens_per_s": result.tokens_per_s,
        }
        self._write_text(
            json.dumps({"train": train, "reports": reports}, indent=1), "behavioral", "eval.json"
        )
        self._mark_done("behavioral", {"adapter": self.url("behavioral", "adapter")})

    def _behavioral_dataset(self) -> Path:
        """Build the SFT dataset from the baseline traces (once); return a local copy."""
        from automem_sdk.trainers.behavioral import (
            PostprocessConfig,
            build_dataset,
            parse_selector,
        )

        cfg = self.config.behavioral
        traces = list_traces(self.url("baseline", "traces"), self.opts)
        if not traces:
            raise PipelineError("behavioral stage: the baseline stage left no traces")
        if not self._exists("behavioral", "dataset", "dataset.jsonl"):
            build_dataset(
                traces,
                parse_selector(cfg.selector, None),
                self.url("behavioral", "dataset"),
                PostprocessConfig(min_examples=cfg.min_examples),
                storage_options=self.opts,
            )
        local_data = self.workdir / "dataset.jsonl"
        local_data.write_text(
            self._read_text("behavioral", "dataset", "dataset.jsonl"), encoding="utf-8"
        )
        return local_data

    def _behavioral_train(self, local_data: Path) -> tuple[str, Any]:
        """Train the LoRA on ``local_data``; return (base model, training result)."""
        from automem_sdk.trainers.behavioral import TrainConfig, read_dataset, train_lora

        cfg = self.config.behavioral
        base = cfg.base_model
        if base == "tiny":
            from automem_sdk.trainers.behavioral import build_tiny_causal_lm

            corpus = [m["content"] for ex in read_dataset(str(local_data)) for m in ex.prompt]
            corpus += [ex.target for ex in read_dataset(str(local_data))]
            base = build_tiny_causal_lm(self.workdir / "tiny-base", corpus[:2000])
        tcfg = TrainConfig(
            base_model=base,
            r=cfg.lora_r,
            max_steps=cfg.max_train_steps,
            min_examples=cfg.min_examples,
        )
        result = train_lora(str(local_data), tcfg, str(self.workdir / "lora"), quiet=self.quiet)
        return str(base), result

    def _behavioral_eval(self, scaffold: Scaffold, base: str, adapter: Path) -> list[Any]:
        """Two-model evaluation of base vs base + LoRA on every env (report dicts)."""
        from automem_sdk.trainers.behavioral import evaluate_two_model
        from automem_sdk.trainers.structural.envs import make_env

        cfg = self.config.behavioral
        max_steps = cfg.eval_max_steps or self.config.max_steps
        specialists = self._specialists(base, str(adapter))
        reports = []
        for env_name in self.config.envs:
            report = evaluate_two_model(
                lambda n=env_name: make_env(n, max_steps),
                cfg.eval_seeds or self.config.seeds.eval,
                specialists,
                lambda n=env_name: _eval_task_policy(self.config.decider, n),
                scaffold=scaffold,
                max_steps=max_steps,
                out_dir=self.url("behavioral", "eval", _slug(env_name)),
                storage_options=self.opts,
                quiet=self.quiet,
            )
            reports.append(report.model_dump(mode="json"))
        return reports

    def _specialists(self, base: str, adapter: str) -> dict[str, Any]:
        """The two memory models compared: base vs base + LoRA (in-process or served)."""
        from automem_sdk.trainers.behavioral import vllm_serve_command

        from automem_sdk.llm.local import LocalTransformersClient

        cfg = self.config.behavioral
        if cfg.base_endpoint or cfg.lora_endpoint:
            from automem_sdk.llm import make_client

            self._say("serve the adapter with: " + vllm_serve_command(base, adapter, "memory-lora"))
            return {
                "base": make_client(cfg.base_endpoint or cfg.lora_endpoint or ""),
                "lora": make_client(cfg.lora_endpoint or cfg.base_endpoint or ""),
            }
        opts: dict[str, Any] = {"max_new_tokens": cfg.max_new_tokens, "dtype": "fp32"}
        return {
            "base": LocalTransformersClient(base, name=base, **opts),
            "lora": LocalTransformersClient(
                base, adapter=adapter, name=Path(adapter).name or "memory-lora", **opts
            ),
        }

    def _stage_final(self) -> None:
        sc = self._best_scaffold()
        rows = self._episodes("final", sc, self.config.seeds.eval)
        self._mark_done("final", {"episodes": len(rows), "scaffold_id": sc.id})

    # ------------------------------------------------------------------ report
    def _rows(self, stage: str) -> list[EpisodeResult]:
        rows = []
        for env in self.config.envs:
            for seed in self.config.seeds.eval:
                parts = (stage, "episodes", _slug(env), f"{seed}.json")
                if self._exists(*parts):
                    rows.append(EpisodeResult.model_validate_json(self._read_text(*parts)))
        return rows

    def report(self) -> dict[str, Any]:
        """Build (and write) the summary: per env and stage, mean ± SE and diagnostics."""
        cfg = self.config
        price_in, price_out = cfg.input_price_per_mtok, cfg.output_price_per_mtok
        table: list[dict[str, Any]] = []
        for stage in ("baseline", "final"):
            rows = self._rows(stage)
            for env in cfg.envs:
                sel = [r for r in rows if r.env == env]
                if not sel:
                    continue
                prog = [r.progression for r in sel]
                steps = sum(r.steps for r in sel) or 1
                tokens = sum(r.tokens for r in sel)
                table.append(
                    {
                        "stage": "structural" if stage == "final" else "baseline",
                        "env": env,
                        "n": len(sel),
                        "progression": mean(prog),
                        "se": _se(prog),
                        "redundant_writes": mean(
                            r.diagnostics.get("redundant_writes", 0.0) for r in sel
                        ),
                        "unproductive_rate": mean(
                            r.diagnostics.get("unproductive_rate", 0.0) for r in sel
                        ),
                        "tokens/step": mean(r.diagnostics.get("tokens/step", 0.0) for r in sel),
                        "usd": tokens * (price_in + price_out) / 2e6,
                        "scaffold": sel[0].scaffold_id,
                        "steps/episode": steps / len(sel),
                    }
                )
        if self._exists("behavioral", "eval.json"):
            data = json.loads(self._read_text("behavioral", "eval.json"))
            for rep in data.get("reports", []):
                for side in rep.get("sides", []):
                    eps = side.get("episodes", [])
                    if not eps:
                        continue
                    prog = [e["progression"] for e in eps]

                    def avg(key: str, eps: list[dict[str, Any]] = eps) -> float:
                        return float(mean(e["diagnostics"].get(key, 0.0) for e in eps))

                    table.append(
                        {
                            "stage": f"behavioral:{side['label']}",
                            "env": rep.get("env", ""),
                            "n": len(eps),
                            "progression": mean(prog),
                            "se": _se(prog),
                            "redundant_writes": avg("redundant_writes"),
                            "unproductive_rate": avg("unproductive_rate"),
                            "tokens/step": avg("tokens/step"),
                            "usd": 0.0,
                            "scaffold": "",
                            "op_validity": avg("op_validity"),
                        }
                    )
        summary = {
            "name": cfg.name,
            "stages": {s: self.done(s) for s in STAGES},
            "rows": table,
        }
        if table:
            self._write_text(json.dumps(summary, indent=1), "report.json")
            self._write_text(_markdown(table), "report.md")
            self._plot(table)
        if not self.quiet and table:
            print_summary(table, fmt=self.fmt)
        return summary

    def _plot(self, table: list[dict[str, Any]]) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        envs = list(dict.fromkeys(r["env"] for r in table))
        stages = list(dict.fromkeys(r["stage"] for r in table))
        fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(envs) * len(stages) / 2), 3.5))
        width = 0.8 / max(1, len(stages))
        for i, stage in enumerate(stages):
            xs, ys, es, ns = [], [], [], []
            for j, env in enumerate(envs):
                row = next((r for r in table if r["env"] == env and r["stage"] == stage), None)
                if row is not None:
                    xs.append(j + i * width)
                    ys.append(row["progression"])
                    es.append(row["se"])
                    ns.append(row["n"])
            bars = ax.bar(xs, ys, width, yerr=es, label=stage, capsize=3, edgecolor="black")
            # n on every bar (a zero bar still shows its outline and label)
            ax.bar_label(bars, labels=[f"n={n}" for n in ns], fontsize=6, padding=2)
        ax.set_xticks([j + width * (len(stages) - 1) / 2 for j in range(len(envs))])
        ax.set_xticklabels([e.split("/")[-1] for e in envs])
        ax.set_ylabel("progression (mean ± SE)")
        ax.set_title(
            "Pipeline: progression per stage and env (n = episodes per bar; "
            "bars of different n are not paired)",
            fontsize=9,
        )
        ax.legend(fontsize=7)
        fig.tight_layout()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "p.png")
            fig.savefig(path, dpi=110)
            plt.close(fig)
            self._copy_in(Path(path), "progression.png")


def _accepted_head(run_dir: Path, start: Scaffold) -> Scaffold:
    """The accepted scaffold of a structural run (``best.yaml``; the start one if absent)."""
    best = run_dir / "best.yaml"
    return Scaffold.from_yaml(best.read_text(encoding="utf-8")) if best.exists() else start


_COLUMNS = (
    "stage",
    "env",
    "n",
    "progression",
    "se",
    "op_validity",
    "redundant_writes",
    "unproductive_rate",
    "tokens/step",
    "usd",
)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "" if v is None else str(v)


def _markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for r in table:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in _COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def print_summary(table: list[dict[str, Any]], *, fmt: str = "table", console: Any = None) -> None:
    """Print the pipeline's summary rows (``report.json``'s ``rows``) as a table that
    fits (names fold, numbers are never cut), or as ``md``/``csv``/``json`` for piping."""
    from automem_sdk.tables import emit_table

    keys = list(dict.fromkeys(k for r in table for k in r))
    cols = [c for c in _COLUMNS if c in keys] + [k for k in keys if k not in _COLUMNS]
    numbers = [
        c
        for c in cols
        if any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in table)
    ]
    emit_table(
        "pipeline summary (progression mean ± SE per env and stage)",
        cols,
        [[r.get(c) for c in cols] for r in table],
        fmt=fmt,
        numeric=numbers,
        floats={c: ".3f" for c in cols},
        console=console,
        keys=2,
    )


# ---------------------------------------------------------------------- CLI
def register(sub: Any) -> None:
    """Add ``automem pipeline CONFIG``."""
    p = sub.add_parser("pipeline", help="baseline -> structural -> behavioral -> final, resumable")
    p.add_argument("config", help="pipeline YAML (path or fsspec URL)")
    p.add_argument("--out", help="override the config's out URL")
    p.add_argument("--stage", choices=STAGES, action="append", help="run only these stages")
    p.add_argument("--workdir", help="local scratch directory")
    p.add_argument("--executor", choices=("process", "ray"), help="override the executor")
    p.add_argument("--report", action="store_true", help="only print the report")
    p.add_argument("--quiet", action="store_true")
    from automem_sdk.tables import add_format_flag

    add_format_flag(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    cfg = load_pipeline_config(args.config)
    updates: dict[str, Any] = {}
    if args.out:
        updates["out"] = args.out
    if args.executor:
        updates["executor"] = args.executor
    if updates:
        cfg = cfg.model_copy(update=updates)
    pipe = Pipeline(cfg, workdir=args.workdir, quiet=args.quiet, fmt=args.format)
    if args.report:
        pipe.report()
        return 0
    pipe.run(stages=args.stage or STAGES)
    return 0


def clean_workdir(config: PipelineConfig) -> None:
    """Remove the local scratch directory of ``config`` (after a finished run)."""
    shutil.rmtree(
        Path(tempfile.gettempdir()) / f"automem-pipeline-{config.fingerprint()}", ignore_errors=True
    )


def _eval_task_policy(decider: str, env_name: str) -> Any:
    """The task policy of the two-model evaluation: for the keyless ``explorer`` on a
    benchmark env, the scripted planner that acts on what memory returned (a
    memory-blind one cannot tell a good memory model from a useless one)."""
    from automem_sdk.trainers.structural.envs import make_decider

    if decider != "explorer" or env_name.startswith("toy/"):
        return make_decider(decider, env_name)
    from automem_sdk.benchmarks.registry import make_task_policy

    return make_task_policy(env_name)
