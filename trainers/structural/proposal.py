"""The proposer protocol and what a proposal carries."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from automem_sdk.trainers.structural.reflect import Reflection
from pydantic import BaseModel, ConfigDict, Field

from automem_sdk.llm.base import Usage
from automem_sdk.scaffold import Scaffold

from .errors import ProposalError

__all__ = [
    "ChainProposer",
    "InvalidProposal",
    "NoProposal",
    "Proposal",
    "ProposalCost",
    "Proposer",
]


class ProposalCost(BaseModel):
    """What producing a proposal cost (LLM tokens and dollars; zero for heuristics)."""

    usage: Usage = Field(default_factory=Usage)
    usd: float = 0.0
    calls: int = 0

    def __add__(self, other: ProposalCost) -> ProposalCost:
        return ProposalCost(
            usage=Usage(
                prompt_tokens=self.usage.prompt_tokens + other.usage.prompt_tokens,
                completion_tokens=self.usage.completion_tokens + other.usage.completion_tokens,
            ),
            usd=self.usd + other.usd,
            calls=self.calls + other.calls,
        )


class Proposal(BaseModel):
    """A candidate scaffold with the reasons for it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    scaffold: Scaffold
    changelog: list[str] = Field(default_factory=list)
    cost: ProposalCost = Field(default_factory=ProposalCost)
    proposer: str = ""


class InvalidProposal(ProposalError):
    """The proposer's reply could not be turned into a scaffold (retry with the message).

    Attributes:
        cost: what the failed attempt cost.
    """

    def __init__(self, message: str, cost: ProposalCost | None = None) -> None:
        super().__init__(message)
        self.cost = cost or ProposalCost()


class NoProposal(ProposalError):
    """The proposer has nothing left to try for this parent."""


@runtime_checkable
class Proposer(Protocol):
    """Rewrites a scaffold from a reflection.

    ``feedback`` is None on the first attempt; on a retry it holds the validation
    problems of the previous attempt (the proposer should fix them).
    """

    name: str

    def propose(
        self, parent: Scaffold, reflection: Reflection, feedback: str | None = None
    ) -> Proposal:
        """Return a candidate.

        Raises:
            InvalidProposal: the reply could not be parsed into a scaffold.
            NoProposal: nothing left to propose.
            LLMError: the model could not be reached.
        """
        ...


class ChainProposer:
    """Asks its proposers in order; the next one only when the previous has nothing left.

    ``heuristic+search`` is the keyless default of a long run: the rules fix what the
    evidence shows, then the search explores.

    Args:
        proposers: the proposers, in order.
    """

    def __init__(self, proposers: list[Proposer]) -> None:
        if not proposers:
            raise ValueError("a chain needs at least one proposer")
        self.proposers = proposers
        self.name = "+".join(p.name for p in proposers)

    def propose(
        self, parent: Scaffold, reflection: Reflection, feedback: str | None = None
    ) -> Proposal:
        """The first proposer's proposal that has one.

        Raises:
            NoProposal: every proposer has nothing left.
        """
        reasons = []
        for p in self.proposers:
            try:
                return p.propose(parent, reflection, feedback)
            except NoProposal as exc:
                reasons.append(f"{p.name}: {exc}")
        raise NoProposal("; ".join(reasons))
