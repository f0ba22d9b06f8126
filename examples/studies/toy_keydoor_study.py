"""Toy study: can a student trained on verified decisions beat the data it was given?

``python examples/studies/toy_keydoor_study.py --out DIR [--stages ...] [--redo ...]``

The key-and-door corridor, in two-model mode with the memory-consuming
:class:`~automem_sdk.benchmarks.players.toy.KeyDoorPlanner` as task policy. The behaviour
population has two members on 40 seeds (20 each): a writer that notes the key's cell,
and one that notes a cell two cells off. The misfiled writers lose every episode, so the
population's mean progression is 0.5. A tiny Llama built from a config (random weights,
nothing downloaded) is LoRA-trained as the memory model three ways, each evaluated
greedily on 20 fresh seeds with the same task policy:

- (i) ``all`` turns;
- (ii) the old default ``outcome:0.5 | hindsight``;
- (iii) ``all & verified`` (the misfiled notes cut from the targets), plus one
  iteration round on (iii)'s own sampled rollouts.

The comparisons are paired bootstrap CIs: (iii) against (i), (iii) against the
population mean on the same seeds, and round 1 against round 0. Results go to
``DIR/results.json``.

Stages (resumable, ``DIR/<stage>/DONE.json``; see ``study_stages.py``): ``population``
(the 40 labelled episodes), ``popeval`` (both members on the evaluation seeds), ``base``
(the tiny model), one stage per student (``i-all``, ``iii-verified``, ``ii-old``; each
a :func:`~automem_sdk.trainers.behavioral.iterate.run_iterations` run) and ``compare``.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from automem_sdk.benchmarks.envs.toy import KeyDoorEnv
from automem_sdk.benchmarks.players.toy import KeyDoorPlanner, KeyNoteWriter
from study_stages import Stages, write_json

from automem_sdk.agent import MemoryAgent
from automem_sdk.episodes import EpisodeJob, play_episode
from automem_sdk.store import MemoryStore

__all__ = ["EVAL_SEEDS", "MEMBERS", "STAGES", "STUDENTS", "main", "run_study"]

STEPS = 24
EVAL_SEEDS = list(range(500, 520))
POPULATION_SEEDS = list(range(40))
#: The population's members: name -> how many cells off the key note is written.
MEMBERS: dict[str, int] = {"good": 0, "misfile2": 2}
#: The students: (stage and folder name, selector, iteration rounds).
STUDENTS: tuple[tuple[str, str, int], ...] = (
    ("i-all", "all", 1),
    ("iii-verified", "all & verified", 2),
    ("ii-old", "outcome:0.5 | hindsight", 1),
)
STAGES: tuple[str, ...] = ("population", "popeval", "base", *(s[0] for s in STUDENTS), "compare")
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")


def _play(root: Path, misfile: int, seed: int, url: str) -> float:
    """One episode of the key-door corridor with the member writing ``misfile`` cells off."""
    mem = root / "mem" / Path(url).parent.name / Path(url).stem
    shutil.rmtree(mem, ignore_errors=True)  # memory persists in a store: start empty
    store = MemoryStore(str(mem))
    writer = KeyNoteWriter(store, misfile=misfile, noise_at=(1,))
    agent = MemoryAgent(store, "generic", writer, mode="two-model", task_decider=KeyDoorPlanner())
    job = EpisodeJob(env="toy/keydoor", seed=seed, agent=f"writer-misfile{misfile}", trace_url=url)
    return play_episode(job, env=KeyDoorEnv(max_steps=STEPS), agent=agent).progression


def _population(root: Path) -> dict[str, Any]:
    """The labelled population: even seeds the good writer, odd seeds the misfiled one."""
    traces = root / "population" / "traces"
    shutil.rmtree(traces, ignore_errors=True)
    scores = []
    for seed in POPULATION_SEEDS:
        misfile = MEMBERS["misfile2"] if seed % 2 else MEMBERS["good"]
        scores.append(_play(root, misfile, seed, str(traces / f"s{seed}.jsonl")))
    return {"traces": str(traces), "progression": sum(scores) / len(scores)}


def _popeval(root: Path) -> dict[str, Any]:
    """Each member on the evaluation seeds (the population mean the students face)."""
    popeval = {
        name: [
            _play(root, mis, seed, str(root / "popeval" / name / f"s{seed}.jsonl"))
            for seed in EVAL_SEEDS
        ]
        for name, mis in MEMBERS.items()
    }
    print("population eval", {k: sum(v) / len(v) for k, v in popeval.items()}, flush=True)
    return {"population_eval": popeval}


def _base(root: Path, traces: str) -> dict[str, Any]:
    """A tiny random-init Llama whose tokenizer is built from the population's texts."""
    from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm
    from automem_sdk.trainers.behavioral.traces import load_traces

    lts = load_traces(traces)
    corpus = [m.content for lt in lts for t in lt.trace.turns[:60] for m in t.messages]
    corpus += [t.output for lt in lts for t in lt.trace.turns]
    folder = build_tiny_causal_lm(
        root / "base" / "model", corpus, vocab_size=1200, hidden_size=128, num_layers=2
    )
    return {"base_model": str(folder)}


def _student(
    root: Path, student: tuple[str, str, int], base: str, traces: str, args: argparse.Namespace
) -> dict[str, Any]:
    """LoRA-train and evaluate one student (``rounds`` iteration rounds)."""
    import torch
    from automem_sdk.trainers.behavioral.iterate import IterateConfig, run_iterations

    torch.set_num_threads(1)
    label, selector, rounds = student
    t0 = time.process_time()
    cfg = IterateConfig(
        out=str(root / label),
        env="toy/keydoor",
        base_model=base,
        rounds=rounds,
        rollout_seeds=list(range(200, 220)),
        eval_seeds=EVAL_SEEDS,
        max_steps=STEPS,
        temperature=0.7,
        selector=selector,
        initial_traces=[traces],
        eval_base=(label == "i-all"),
        train_steps=args.train_steps,
        batch_size=8,
        learning_rate=args.lr,
        # the tiny base is random: adapt the MLPs and the output head too
        target_modules=[*TARGETS],
        max_new_tokens=24,
        max_length=1024,
        min_examples=8,
        device="cpu",
        quiet=True,
    )
    recs = run_iterations(cfg)
    summary = [
        (r.round, r.eval_mean, r.train["heldout_loss_before"], r.train["heldout_loss_after"])
        for r in recs
    ]
    print(label, summary, round(time.process_time() - t0), flush=True)
    return {"rounds": [r.model_dump(mode="json") for r in recs]}


def _train_student(
    root: Path, stages: Stages, student: tuple[str, str, int], args: argparse.Namespace
) -> dict[str, Any]:
    """:func:`_student` on the ``base`` stage's model and the population's traces."""
    base = stages.need("base")["base_model"]
    return _student(root, student, base, stages.need("population")["traces"], args)


def _compare(stages: Stages) -> dict[str, Any]:
    """Paired bootstrap CIs: (iii) vs (i), (iii) vs the population mean, round 1 vs 0."""
    from automem_sdk.trainers.behavioral.stats import paired_bootstrap

    pop = stages.need("popeval")["population_eval"]
    popmean = [(a + b) / 2 for a, b in zip(pop["good"], pop["misfile2"], strict=True)]
    i = stages.need("i-all")["rounds"][0]["eval_progression"]
    iii_rounds = stages.need("iii-verified")["rounds"]
    iii, r1 = iii_rounds[0]["eval_progression"], iii_rounds[1]["eval_progression"]
    out = {
        "iii - i": paired_bootstrap(i, iii).render(),
        "iii - population mean": paired_bootstrap(popmean, iii).render(),
        "iii round1 - iii": paired_bootstrap(iii, r1).render(),
    }
    for name, text in out.items():
        print(name, text, flush=True)
    return out


def _write_results(stages: Stages) -> None:
    """``DIR/results.json``: the population eval and every finished student's rounds."""
    done = stages.outputs()
    res: dict[str, Any] = {"population_eval": done.get("popeval", {}).get("population_eval")}
    for label, _selector, _rounds in STUDENTS:
        if label in done:
            res[label] = done[label]["rounds"]
    if "compare" in done:
        res["compare"] = {k: v for k, v in done["compare"].items() if k != "stage_s"}
    write_json(stages.root / "results.json", res)


def run_study(
    out: Path, args: argparse.Namespace, *, only: Sequence[str] = (), redo: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Run (or resume) the stages (``only``: just these, in order); return their outputs."""
    stages = Stages(out, STAGES)
    wanted = stages.check(only or STAGES)
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "population": lambda: _population(out),
        "popeval": lambda: _popeval(out),
        "base": lambda: _base(out, stages.need("population")["traces"]),
        "compare": lambda: _compare(stages),
    }
    for student in STUDENTS:
        steps[student[0]] = partial(_train_student, out, stages, student, args)
    for stage in STAGES:
        if stage in wanted:
            stages.run(stage, steps[stage], redo=stage in redo)
            _write_results(stages)
    return stages.outputs()


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) the toy study and print the paired comparisons."""
    p = argparse.ArgumentParser(
        prog="python examples/studies/toy_keydoor_study.py",
        description=(__doc__ or "").split("\n\n")[0],
    )
    p.add_argument("--out", required=True)
    p.add_argument("--train-steps", type=int, default=250)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--stages", nargs="+", default=[], choices=list(STAGES), help="only these")
    p.add_argument("--redo", nargs="+", default=[], choices=list(STAGES))
    args = p.parse_args(argv)
    run_study(Path(args.out), args, only=args.stages, redo=args.redo)
    return 0


if __name__ == "__main__":
    from automem_sdk.cli import quiet_third_party

    quiet_third_party()
    raise SystemExit(main())
