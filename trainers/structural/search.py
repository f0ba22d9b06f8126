"""A keyless search proposer: mutation operators over the scaffold, chosen by a bandit.

Where the heuristic rules need evidence, :class:`SearchProposer` explores: each call
picks an operator family by UCB1 on how often that family's earlier candidates were
accepted in this run (every family is tried once first), draws one mutation of it with
a seeded RNG, and returns the first draw that validates and was not tried from the same
parent. Families:

==============  ===================================================================
family          mutations
==============  ===================================================================
limits          one routine limit x2, /2 (and +1, -1 for the small ones), half of the
                draws on the limits the reflection's silent faults point at
prompt          a LOG or PLAN prompt from the library (``prompt_library.yaml``) or
                from the built-in scaffolds, or a hint line appended
fewshot         an example op sequence appended to the LOG or PLAN prompt
schema          a file's format switched, its cap x4, or its pinned flag flipped
vocabulary      a disabled primitive op enabled, or a reference custom op declared
==============  ===================================================================

Decisions are deterministic given the parent, the history and ``seed``.
"""

from __future__ import annotations

import math
import random
from importlib import resources
from typing import Any

import yaml
from automem_sdk.trainers.structural.proposal import NoProposal, Proposal
from automem_sdk.trainers.structural.reflect import Reflection
from automem_sdk.trainers.structural.validate import validate_candidate

from automem_sdk.errors import ScaffoldError
from automem_sdk.ops import MEMORY_OP_NAMES
from automem_sdk.scaffold import BUILTIN_SCAFFOLDS, RoutineLimits, Scaffold, load_scaffold

__all__ = ["FAMILIES", "SearchProposer", "load_prompt_library"]

FAMILIES: tuple[str, ...] = ("limits", "prompt", "fewshot", "schema", "vocabulary")
_FORMATS = ("markdown", "lines", "keyed", "log")


def load_prompt_library() -> dict[str, Any]:
    """The packaged prompt variants, hints and few-shot examples."""
    text = resources.files("automem_sdk.trainers.structural").joinpath("prompt_library.yaml")
    data: dict[str, Any] = yaml.safe_load(text.read_text(encoding="utf-8"))
    return data


def _bounds(field: str) -> tuple[int, int]:
    info = RoutineLimits.model_fields[field]
    lo, hi = 0, 1 << 20
    for m in info.metadata:
        lo = getattr(m, "ge", lo) if getattr(m, "ge", None) is not None else lo
        hi = getattr(m, "le", hi) if getattr(m, "le", None) is not None else hi
    return int(lo), int(hi)


def _suspect_limits(reflection: Reflection) -> list[str]:
    """Routine limits named by the reflection's budget faults and limit counters."""
    out: list[str] = []
    for f in reflection.faults:
        if f.name in ("log_budget_exhausted", "plan_budget_exhausted"):
            routine = "log" if f.name.startswith("log") else "plan"
            out.append(f"max_{routine}_{'ops' if f.subject == 'ops' else 'turns'}")
        elif f.name in ("file_never_written", "memory_unchanged"):
            out += ["max_log_ops", "max_log_turns"]
    if reflection.truncated_results:
        out.append("result_chars")
    if reflection.context_trimmed:
        out.append("context_tokens")
    return list(dict.fromkeys(out))


class SearchProposer:
    """Proposes one mutation of the parent (see module docstring).

    Args:
        seed: RNG seed.
        actions: the env's actions (validates ``fallback_action``).
        draws: how many mutations to try before giving up on this parent.
        families: the operator families to use (default all of :data:`FAMILIES`).
    """

    def __init__(
        self,
        seed: int = 0,
        actions: list[str] | None = None,
        draws: int = 64,
        families: list[str] | None = None,
    ) -> None:
        fams = list(families or FAMILIES)
        unknown = [f for f in fams if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown search families {unknown}; known: {list(FAMILIES)}")
        self.seed = seed
        self.actions = actions
        self.draws = draws
        self.families = fams
        self.library = load_prompt_library()
        self.references: list[Scaffold] = []
        for ref in BUILTIN_SCAFFOLDS:
            try:
                self.references.append(load_scaffold(ref))
            except ScaffoldError:
                continue
        self.name = "search"
        self._suspects: list[str] = []

    # ------------------------------------------------------------------ bandit
    def choose_family(self, reflection: Reflection, rng: random.Random) -> str:
        """UCB1 over families, scored by accepts of this run's earlier candidates."""
        pulls = {f: 0 for f in self.families}
        wins = {f: 0.0 for f in self.families}
        for a in reflection.history:
            for note in a.changelog:
                fam = note.split(":", 2)[1] if note.startswith("search:") else None
                if fam in pulls:
                    pulls[fam] += 1
                    wins[fam] += 1.0 if a.decision == "accept" else 0.0
        untried = [f for f in self.families if pulls[f] == 0]
        if untried:
            return rng.choice(untried)
        total = sum(pulls.values())

        def ucb(f: str) -> float:
            return wins[f] / pulls[f] + math.sqrt(2 * math.log(total) / pulls[f])

        best = max(ucb(f) for f in self.families)
        return rng.choice([f for f in self.families if ucb(f) == best])

    # --------------------------------------------------------------- mutations
    def mutate(
        self, parent: Scaffold, family: str, rng: random.Random
    ) -> tuple[dict[str, Any], str]:
        """One random mutation of ``family``: (changes for ``Scaffold.child``, note)."""
        return getattr(self, f"_{family}")(parent, rng)  # type: ignore[no-any-return]

    def _limits(self, parent: Scaffold, rng: random.Random) -> tuple[dict[str, Any], str]:
        lim = parent.limits
        fields = sorted(RoutineLimits.model_fields)
        # Half the draws go to the limits the reflection's silent faults point at.
        suspects = [f for f in self._suspects if f in fields]
        field = rng.choice(suspects if suspects and rng.random() < 0.5 else fields)
        lo, hi = _bounds(field)
        old = int(getattr(lim, field))
        steps = ["x2", "/2", "+1", "-1"] if hi <= 64 else ["x2", "/2"]
        how = rng.choice(steps)
        new = {"x2": old * 2, "/2": old // 2, "+1": old + 1, "-1": old - 1}[how]
        new = max(lo, min(hi, new))
        return {"limits": lim.model_copy(update={field: new})}, f"{field} {old}->{new}"

    def _prompt(self, parent: Scaffold, rng: random.Random) -> tuple[dict[str, Any], str]:
        routine = rng.choice(["log", "plan"])
        options: list[tuple[str, str]] = [
            (f"library {routine} #{i}", str(t)) for i, t in enumerate(self.library.get(routine, []))
        ]
        for ref in self.references:
            options.append((f"{ref.name} {routine}", getattr(ref.prompts, routine)))
        for i, hint in enumerate(self.library.get("hints", [])):
            text = getattr(parent.prompts, routine).rstrip("\n") + "\n" + str(hint) + "\n"
            options.append((f"hint #{i} on {routine}", text))
        label, text = rng.choice(options)
        return {"prompts": parent.prompts.model_copy(update={routine: text})}, f"{label}"

    def _fewshot(self, parent: Scaffold, rng: random.Random) -> tuple[dict[str, Any], str]:
        routine = rng.choice(["log", "plan"])
        shots = [str(x) for x in self.library.get("fewshot", {}).get(routine, [])]
        if not shots:
            raise ValueError("no few-shot examples")
        i = rng.randrange(len(shots))
        base = getattr(parent.prompts, routine).rstrip("\n")
        text = f"{base}\nExample reply:\n{shots[i]}\n"
        return {"prompts": parent.prompts.model_copy(update={routine: text})}, (
            f"example #{i} on {routine}"
        )

    def _schema(self, parent: Scaffold, rng: random.Random) -> tuple[dict[str, Any], str]:
        if not parent.files:
            raise ValueError("no files")
        f = rng.choice(parent.files)
        how = rng.choice(["format", "cap", "pinned"])
        if how == "format":
            new = rng.choice([x for x in _FORMATS if x != f.format])
            upd: dict[str, Any] = {"format": new}
            note = f"{f.name} format {f.format}->{new}"
        elif how == "cap":
            cap = min(f.max_bytes * 4, 1 << 20)
            upd = {"max_bytes": cap}
            note = f"{f.name} max_bytes {f.max_bytes}->{cap}"
        else:
            upd = {"pinned": not f.pinned}
            note = f"{f.name} pinned {f.pinned}->{not f.pinned}"
        files = [x.model_copy(update=upd) if x.name == f.name else x for x in parent.files]
        return {"files": files}, note

    def _vocabulary(self, parent: Scaffold, rng: random.Random) -> tuple[dict[str, Any], str]:
        off = [o for o in MEMORY_OP_NAMES if o not in parent.ops]
        customs = [
            c for ref in self.references for c in ref.custom_ops if parent.custom(c.name) is None
        ]
        choices: list[tuple[str, Any]] = [("op", o) for o in off] + [("custom", c) for c in customs]
        if not choices:
            raise ValueError("nothing to add")
        kind, item = rng.choice(choices)
        if kind == "op":
            return {"ops": [*parent.ops, item]}, f"enable {item}"
        need = [str(s.get("op")) for s in item.steps if str(s.get("op")) not in parent.ops]
        changes: dict[str, Any] = {"custom_ops": [*parent.custom_ops, item]}
        if need:
            changes["ops"] = [*parent.ops, *dict.fromkeys(need)]
        return changes, f"declare {item.name}"

    # ----------------------------------------------------------------- propose
    def candidates(self, parent: Scaffold, reflection: Reflection, n: int) -> list[Proposal]:
        """Up to ``n`` distinct valid untried mutations (what :meth:`propose` draws from)."""
        pid = parent.id
        rng = random.Random(f"{self.seed}:{pid}:{len(reflection.history)}")
        self._suspects = _suspect_limits(reflection)
        tried = {a.candidate for a in reflection.history if a.parent == pid} | {pid}
        out: list[Proposal] = []
        seen: set[str] = set()
        for _ in range(self.draws * max(1, n)):
            if len(out) >= n:
                break
            fam = self.choose_family(reflection, rng)
            try:
                changes, note = self.mutate(parent, fam, rng)
                cand = parent.child(f"search:{fam}: {note}", **changes)
            except (ValueError, ScaffoldError):
                continue
            cid = cand.id
            if cid in tried or cid in seen:
                continue
            if validate_candidate(cand, parent, actions=self.actions):
                continue
            seen.add(cid)
            out.append(
                Proposal(scaffold=cand, changelog=[f"search:{fam}: {note}"], proposer=self.name)
            )
        return out

    def propose(
        self, parent: Scaffold, reflection: Reflection, feedback: str | None = None
    ) -> Proposal:
        """One valid, untried mutation of ``parent``.

        Raises:
            NoProposal: no valid untried mutation within ``draws`` tries.
        """
        found = self.candidates(parent, reflection, 1)
        if not found:
            raise NoProposal(f"no valid untried mutation of {parent.id} in {self.draws} draws")
        return found[0]
