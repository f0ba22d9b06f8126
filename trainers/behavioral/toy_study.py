"""Toy study: can a student trained on verified decisions beat the data it was given?

``python -m automem_sdk.trainers.behavioral.toy_study --out DIR``

The key-and-door corridor, in two-model mode with the memory-consuming
:class:`~.toy.KeyDoorPlanner` as task policy. The behaviour population has two members
on 40 seeds (20 each): a writer that notes the key's cell, and one that notes a cell two
cells off. The misfiled writers lose every episode, so the population's mean
progression is 0.5. A tiny Llama built from a config (random weights, nothing
downloaded) is LoRA-trained as the memory model three ways, each evaluated greedily on
20 fresh seeds with the same task policy:

- (i) ``all`` turns;
- (ii) the old default ``outcome:0.5 | hindsight``;
- (iii) ``all & verified`` (the misfiled notes cut from the targets), plus one
  iteration round on (iii)'s own sampled rollouts.

The comparisons are paired bootstrap CIs: (iii) against (i), (iii) against the
population mean on the same seeds, and round 1 against round 0. Results go to
``DIR/results.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

STEPS = 24
EVAL_SEEDS = list(range(500, 520))
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")


def _play(root: Path, writer_of: Callable[[Any], Any], seed: int, url: str) -> float:
    from automem_sdk.benchmarks.envs.toy import KeyDoorEnv
    from automem_sdk.benchmarks.players.toy import KeyDoorPlanner

    from automem_sdk.agent import MemoryAgent, run_episode
    from automem_sdk.store import MemoryStore

    mem = root / "mem" / Path(url).parent.name / Path(url).stem
    shutil.rmtree(mem, ignore_errors=True)  # memory persists in a store: start empty
    store = MemoryStore(str(mem))
    agent = MemoryAgent(
        store, "generic", writer_of(store), mode="two-model", task_decider=KeyDoorPlanner()
    )
    return float(run_episode(KeyDoorEnv(max_steps=STEPS), agent, seed, trace=url).progression)


def _writer(misfile: int) -> Callable[[Any], Any]:
    """The population member writing key notes ``misfile`` cells off (0: right)."""
    from automem_sdk.benchmarks.players.toy import KeyNoteWriter

    def make(store: Any) -> Any:
        return KeyNoteWriter(store, misfile=misfile, noise_at=(1,))

    return make


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) the toy study and print the paired comparisons."""
    import torch
    from automem_sdk.trainers.behavioral.iterate import IterateConfig, run_iterations
    from automem_sdk.trainers.behavioral.stats import paired_bootstrap
    from automem_sdk.trainers.behavioral.tiny import build_tiny_causal_lm
    from automem_sdk.trainers.behavioral.traces import load_traces

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--train-steps", type=int, default=250)
    p.add_argument("--lr", type=float, default=5e-3)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    pop = root / "population" / "traces"
    if not pop.is_dir():
        for seed in range(40):
            mis = 2 if seed % 2 else 0
            _play(
                root,
                _writer(mis),
                seed,
                str(pop / f"s{seed}.jsonl"),
            )
    popeval: dict[str, list[float]] = {}
    for name, mis in (("good", 0), ("misfile2", 2)):
        popeval[name] = [
            _play(
                root,
                _writer(mis),
                seed,
                str(root / "popeval" / name / f"s{seed}.jsonl"),
            )
            for seed in EVAL_SEEDS
        ]
    popmean = [(a + b) / 2 for a, b in zip(popeval["good"], popeval["misfile2"], strict=True)]
    print("population eval", {k: sum(v) / len(v) for k, v in popeval.items()}, flush=True)
    lts = load_traces(str(pop))
    corpus = [m.content for lt in lts for t in lt.trace.turns[:60] for m in t.messages]
    corpus += [t.output for lt in lts for t in lt.trace.turns]
    base = str(root / "base")
    if not (root / "base" / "config.json").is_file():
        base = build_tiny_causal_lm(
            root / "base", corpus, vocab_size=1200, hidden_size=128, num_layers=2
        )
    res: dict[str, Any] = {"population_eval": popeval}
    students = (
        ("i-all", "all", 1),
        ("iii-verified", "all & verified", 2),
        ("ii-old", "outcome:0.5 | hindsight", 1),
    )
    for label, sel, rounds in students:
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
            selector=sel,
            initial_traces=[str(pop)],
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
        res[label] = [r.model_dump() for r in recs]
        summary = [
            (r.round, r.eval_mean, r.train["heldout_loss_before"], r.train["heldout_loss_after"])
            for r in recs
        ]
        print(label, summary, round(time.process_time() - t0), flush=True)
        (root / "results.json").write_text(json.dumps(res, indent=2, default=str))
        if label == "iii-verified":
            i = res["i-all"][0]["eval_progression"]
            iii = res["iii-verified"][0]["eval_progression"]
            print("iii - i", paired_bootstrap(i, iii).render(), flush=True)
            print("iii - population mean", paired_bootstrap(popmean, iii).render(), flush=True)
            r1 = res["iii-verified"][1]["eval_progression"]
            print("iii round1 - iii", paired_bootstrap(iii, r1).render(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
