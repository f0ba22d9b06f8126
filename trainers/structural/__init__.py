"""Structural trainer: an LLM (or built-in heuristics) rewrites the memory scaffold.

Iterations of reflect -> propose -> validate -> gate -> accept/reject, run in a
resumable run directory with an evaluation cache, a ledger, budgets and a STOP file.
CLI: ``automem train structural``. Quick start::

    from automem_sdk.trainers.structural import StructuralConfig, StructuralTrainer

    config = StructuralConfig(
        envs=["minihack/MazeWalk-9x9"], scaffold="minihack",
        reflection_seeds=[0, 1, 2, 3], gate_seeds=list(range(100, 108)), iterations=5,
    )
    state = StructuralTrainer("runs/structural-1", config).run()

Names are imported lazily so ``import automem_sdk.trainers.structural`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automem_sdk.lazy import lazy_exports

if TYPE_CHECKING:
    from automem_sdk.trainers.structural.config import (
        AgentConfig,
        Budget,
        Prices,
        StructuralConfig,
    )
    from automem_sdk.trainers.structural.envs import check_not_frozen, describe_agent, is_frozen
    from automem_sdk.trainers.structural.errors import (
        ProposalError,
        RunDirError,
        SeedOverlapError,
        StructuralError,
    )
    from automem_sdk.trainers.structural.evaluate import (
        EpisodeEvaluator,
        EvalCache,
        Evaluator,
        cache_key,
        evaluate_many,
    )
    from automem_sdk.trainers.structural.faults import FAULT_NAMES, Fault, find_faults
    from automem_sdk.trainers.structural.gate import (
        GateDecision,
        GateRule,
        NoRegression,
        PairedBootstrap,
        SignTest,
        StrictMean,
        make_rule,
        paired_ci,
    )
    from automem_sdk.trainers.structural.heuristic import HeuristicProposer
    from automem_sdk.trainers.structural.llm_proposer import LLMProposer, parse_proposal
    from automem_sdk.trainers.structural.loop import StructuralTrainer, make_proposer
    from automem_sdk.trainers.structural.proposal import (
        ChainProposer,
        InvalidProposal,
        NoProposal,
        Proposal,
        Proposer,
    )
    from automem_sdk.trainers.structural.reflect import Reflection, reflect
    from automem_sdk.trainers.structural.report import (
        is_structural_run,
        render_structural_report,
    )
    from automem_sdk.trainers.structural.rundir import LedgerEntry, RunDir, RunState
    from automem_sdk.trainers.structural.search import SearchProposer
    from automem_sdk.trainers.structural.seeds import check_disjoint, parse_seeds
    from automem_sdk.trainers.structural.sensitive import PromptExplorer, PromptPlanner
    from automem_sdk.trainers.structural.validate import validate_candidate

_EXPORTS: dict[str, str] = {
    "AgentConfig": "config",
    "Budget": "config",
    "Prices": "config",
    "StructuralConfig": "config",
    "ProposalError": "errors",
    "RunDirError": "errors",
    "SeedOverlapError": "errors",
    "StructuralError": "errors",
    "check_not_frozen": "envs",
    "describe_agent": "envs",
    "is_frozen": "envs",
    "FAULT_NAMES": "faults",
    "Fault": "faults",
    "find_faults": "faults",
    "SignTest": "gate",
    "paired_ci": "gate",
    "ChainProposer": "proposal",
    "SearchProposer": "search",
    "PromptExplorer": "sensitive",
    "PromptPlanner": "sensitive",
    "EpisodeEvaluator": "evaluate",
    "EvalCache": "evaluate",
    "Evaluator": "evaluate",
    "cache_key": "evaluate",
    "evaluate_many": "evaluate",
    "GateDecision": "gate",
    "GateRule": "gate",
    "NoRegression": "gate",
    "PairedBootstrap": "gate",
    "StrictMean": "gate",
    "make_rule": "gate",
    "HeuristicProposer": "heuristic",
    "LLMProposer": "llm_proposer",
    "parse_proposal": "llm_proposer",
    "StructuralTrainer": "loop",
    "make_proposer": "loop",
    "InvalidProposal": "proposal",
    "NoProposal": "proposal",
    "Proposal": "proposal",
    "Proposer": "proposal",
    "Reflection": "reflect",
    "reflect": "reflect",
    "is_structural_run": "report",
    "render_structural_report": "report",
    "LedgerEntry": "rundir",
    "RunDir": "rundir",
    "RunState": "rundir",
    "check_disjoint": "seeds",
    "parse_seeds": "seeds",
    "validate_candidate": "validate",
}

__all__ = [
    "FAULT_NAMES",
    "AgentConfig",
    "Budget",
    "ChainProposer",
    "EpisodeEvaluator",
    "EvalCache",
    "Evaluator",
    "Fault",
    "GateDecision",
    "GateRule",
    "HeuristicProposer",
    "InvalidProposal",
    "LLMProposer",
    "LedgerEntry",
    "NoProposal",
    "NoRegression",
    "PairedBootstrap",
    "Prices",
    "PromptExplorer",
    "PromptPlanner",
    "Proposal",
    "ProposalError",
    "Proposer",
    "Reflection",
    "RunDir",
    "RunDirError",
    "RunState",
    "SearchProposer",
    "SeedOverlapError",
    "SignTest",
    "StrictMean",
    "StructuralConfig",
    "StructuralError",
    "StructuralTrainer",
    "cache_key",
    "check_disjoint",
    "check_not_frozen",
    "describe_agent",
    "evaluate_many",
    "find_faults",
    "is_frozen",
    "is_structural_run",
    "make_proposer",
    "make_rule",
    "paired_ci",
    "parse_proposal",
    "parse_seeds",
    "reflect",
    "render_structural_report",
    "validate_candidate",
]


__getattr__, __dir__ = lazy_exports(__name__, {k: f".{v}" for k, v in _EXPORTS.items()})
