"""``automem train structural`` on the conversational benchmark's dialogues.

``python -m automem_sdk.benchmarks.conversation.train structural ...`` takes exactly the
options of ``automem train structural`` (same parser, same config, same run directory,
``--resume`` and ``--report``) and plays candidates with
:class:`~.evaluator.ConversationEvaluator` when every ``--env`` is ``conversation`` or
``conversation/<size>``: no game env is involved. ``--scaffold chat-cramped`` is this
benchmark's weak start scaffold; ``--agent`` is the memory model (``explorer``: the
keyless scaffold-following writer; ``follow-miss30``; an LLM spec), ``--task-agent``
the task model (default: the scripted answerer). ``--traces DIR`` reflects on logged
traces (``automem bench --env conversation --traces DIR``) instead of rollouts.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from .evaluator import evaluator_for
from .writer import start_scaffold_path

__all__ = ["main", "run_structural"]


def run_structural(args: argparse.Namespace) -> int:
    """Run, resume or report a structural run on conversation envs; print its summary."""
    from automem_sdk.trainers.structural.cli import build_config
    from automem_sdk.trainers.structural.loop import StructuralTrainer
    from automem_sdk.trainers.structural.report import render_structural_report

    if args.report:
        render_structural_report(args.run_dir)
        return 0
    if args.resume:
        probe = StructuralTrainer(args.run_dir, quiet=True)
        config = probe.dir.read_config()
        if args.iterations is not None:
            config = config.model_copy(update={"iterations": args.iterations})
    else:
        with contextlib.suppress(FileNotFoundError):  # else a built-in name or a path
            args.scaffold = str(start_scaffold_path(args.scaffold))
        config = build_config(args)
    evaluator = evaluator_for(config)
    if evaluator is None:
        print("every --env must be conversation or conversation/<S|M|L>", file=sys.stderr)
        return 2
    trainer = StructuralTrainer(
        args.run_dir,
        config,
        evaluator=evaluator,
        cache_dir=args.cache,
        workers=args.workers,
        quiet=args.quiet,
    )
    state = trainer.run(resume=bool(args.resume))
    entries = trainer.dir.read_ledger()
    print(f"status: {state.status}" + (f" ({state.reason})" if state.reason else ""))
    for e in entries:
        print(f"iteration {e.iteration}: {e.decision} {e.candidate or '-'}: {e.reason}")
        for note in e.changelog:
            print(f"  change: {note}")
    print("chain: " + " -> ".join(state.accepted))
    print(f"best scaffold: {trainer.dir.root / 'best.yaml'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``structural ...`` with the structural trainer's own parser and run it."""
    from automem_sdk.trainers.structural.cli import add_parser

    parser = argparse.ArgumentParser(
        prog="python -m automem_sdk.benchmarks.conversation.train",
        description="automem train structural on the conversational memory benchmark",
    )
    sub = parser.add_subparsers(dest="trainer", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    return run_structural(args)


if __name__ == "__main__":
    from automem_sdk.cli import quiet_third_party

    quiet_third_party()
    raise SystemExit(main())
