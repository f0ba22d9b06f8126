"""A proposer that needs no model: rules that act on the reflection's diagnostics.

Each rule looks for one kind of evidence and proposes one targeted change:

==================  ==================================================  =====================
rule                evidence                                            change
==================  ==================================================  =====================
raise_caps          writes refused over a file's ``max_bytes``          cap sized to what the
                                                                        refused writes needed
                                                                        (x2 headroom, at least
                                                                        x4; then x4, x16 of it)
enable_ops          ops refused because the scaffold disables them      enable them
upsert_keyed        appends that repeat a ``key:`` line                 enable UPSERT, keyed
result_chars        op results truncated before the model saw them      ``result_chars`` x2
grow_context        context trimmed to fit ``context_tokens``           budget x2
log_ops             LOG ran out of ops                                  ``max_log_ops`` +2
plan_turns          PLAN ran out of ops/turns, fallback actions         turns +1, ops +2
log_budget          silent: LOG routines ended by their op or turn      the binding budget
                    budget, not by DONE (``log_budget_exhausted``)      +2 ops / +1 turn
                                                                        (x4 / +3 once tried)
restore_prompt      silent: a prompt placeholder renders empty or a     that prompt from the
                    routine prompt lacks ``{observation}``              reference scaffold
restore_ops         silent: the agent used a custom op the scaffold     the reference
                    lacks (``ops_missing``)                             scaffold's op
drop_unread         a declared file written but never read              drop the file
tighten             prompts far below the context budget, LOG ops       budget and LOG ops
                    unused                                              cut to what is used
==================  ==================================================  =====================

Rules run in that order; the first whose candidate is valid and not tried before from
the same parent is proposed, so a rejected change is not proposed again and the next
rule gets its turn. ``raise_caps`` is a ladder: once a raise was tried from a parent, the
next, larger one is offered.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from automem_sdk.trainers.structural.proposal import NoProposal, Proposal
from automem_sdk.trainers.structural.reflect import Reflection
from automem_sdk.trainers.structural.validate import validate_candidate

from automem_sdk.scaffold import FileSpec, Scaffold
from automem_sdk.store import StoreLimits

__all__ = ["RULES", "HeuristicProposer"]

Change = tuple[dict[str, object], str]
Rule = Callable[[Scaffold, Reflection], Change | list[Change] | None]


def _files(parent: Scaffold, updates: dict[str, dict[str, object]]) -> list[FileSpec]:
    return [f.model_copy(update=updates[f.name]) if f.name in updates else f for f in parent.files]


def _sized_cap(f: FileSpec, overflow: int, limit: int) -> int:
    """A cap for ``f`` that would have held what one episode's refused writes added, with
    x2 headroom, rounded up to a power of two; at least x4 the old cap, at most ``limit``."""
    need = 2 * (f.max_bytes + overflow)
    return min(limit, max(f.max_bytes * 4, 1 << max(0, need - 1).bit_length()))


def raise_caps(parent: Scaffold, r: Reflection) -> list[Change] | None:
    """Raise the cap of files whose writes were refused for size: first to what the
    refused writes needed (:func:`_sized_cap`), then x4 and x16 of that."""
    limit = StoreLimits().max_file_bytes
    hit = [
        (f, st)
        for f in parent.files
        if (st := r.files.get(f.name)) is not None and st.cap_rejections > 0 and f.max_bytes < limit
    ]
    if not hit:
        return None
    out: list[Change] = []
    seen: set[tuple[int, ...]] = set()
    for factor in (1, 4, 16):
        new = {
            f.name: min(limit, _sized_cap(f, st.overflow_bytes, limit) * factor) for f, st in hit
        }
        key = tuple(new.values())
        if key in seen:
            continue
        seen.add(key)
        notes = [
            f"{f.name} {f.max_bytes}->{new[f.name]} ({st.cap_rejections} writes refused over "
            f"cap, up to {st.overflow_bytes} bytes more per episode)"
            for f, st in hit
        ]
        updates: dict[str, dict[str, object]] = {n: {"max_bytes": b} for n, b in new.items()}
        out.append(({"files": _files(parent, updates)}, "raise_caps: " + "; ".join(notes)))
    return out


def enable_ops(parent: Scaffold, r: Reflection) -> Change | None:
    """Enable ops the agent tried but the scaffold refused."""
    wanted = [op for op in r.disabled_ops if op not in parent.ops]
    if not wanted:
        return None
    counts = ", ".join(f"{op} x{r.disabled_ops[op]}" for op in wanted)
    return {"ops": [*parent.ops, *wanted]}, f"enable_ops: {', '.join(wanted)} (refused {counts})"


def upsert_keyed(parent: Scaffold, r: Reflection, *, min_repeats: int = 3) -> Change | None:
    """Switch append-heavy files whose lines repeat a key to keyed lines kept by UPSERT."""
    heavy = [
        (name, st)
        for name, st in sorted(r.files.items())
        if st.repeated_append_keys >= min_repeats
        and st.repeated_append_keys * 5 >= st.appends
        and parent.file(name) is not None
    ]
    if not heavy:
        return None
    changes: dict[str, object] = {}
    if "upsert" not in parent.ops:
        changes["ops"] = [*parent.ops, "upsert"]
    updates: dict[str, dict[str, object]] = {}
    for name, _st in heavy:
        spec = parent.file(name)
        assert spec is not None
        if spec.format != "keyed":
            purpose = spec.purpose
            if "UPSERT" not in purpose:
                purpose = (
                    purpose + "; one 'key: value' line per key, update it with UPSERT"
                ).strip("; ")
            updates[name] = {"format": "keyed", "purpose": purpose}
    if updates:
        changes["files"] = _files(parent, updates)
    if not changes:
        return None
    notes = ", ".join(
        f"{n} ({st.repeated_append_keys} of {st.appends} appends repeat a key)" for n, st in heavy
    )
    return changes, f"upsert_keyed: keep {notes} as keyed lines updated with UPSERT"


def _limits(parent: Scaffold, **changes: object) -> dict[str, object]:
    return {"limits": parent.limits.model_copy(update=changes)}


def result_chars(parent: Scaffold, r: Reflection) -> Change | None:
    """Show more of each op result when results were cut."""
    lim = parent.limits
    if r.truncated_results == 0 or lim.result_chars >= 16_000:
        return None
    new = min(16_000, lim.result_chars * 2)
    changes = _limits(parent, result_chars=new, context_tokens=max(lim.context_tokens, new // 2))
    return changes, (
        f"result_chars: {lim.result_chars}->{new} ({r.truncated_results} op results truncated)"
    )


def grow_context(parent: Scaffold, r: Reflection) -> Change | None:
    """Double the context budget when prompts were trimmed to fit."""
    lim = parent.limits
    if r.context_trimmed == 0 or lim.context_tokens >= 64_000:
        return None
    new = min(64_000, lim.context_tokens * 2)
    return _limits(parent, context_tokens=new), (
        f"grow_context: context_tokens {lim.context_tokens}->{new} "
        f"({r.context_trimmed} turns trimmed)"
    )


def log_ops(parent: Scaffold, r: Reflection) -> Change | None:
    """Allow more LOG ops when LOG kept running out."""
    lim = parent.limits
    if r.log_exhausted == 0 or lim.max_log_ops >= 64:
        return None
    new = min(64, lim.max_log_ops + 2)
    return _limits(parent, max_log_ops=new), (
        f"log_ops: max_log_ops {lim.max_log_ops}->{new} (LOG ran out {r.log_exhausted}x)"
    )


def plan_turns(parent: Scaffold, r: Reflection) -> Change | None:
    """Give PLAN more room when it ran out, fell back or ended by its budget."""
    lim = parent.limits
    silent = r.fault("plan_budget_exhausted") is not None
    if (r.plan_exhausted == 0 and r.fallbacks == 0 and not silent) or lim.max_plan_turns >= 16:
        return None
    turns, ops = min(16, lim.max_plan_turns + 1), min(64, lim.max_plan_ops + 2)
    return _limits(parent, max_plan_turns=turns, max_plan_ops=ops), (
        f"plan_turns: max_plan_turns {lim.max_plan_turns}->{turns}, max_plan_ops "
        f"{lim.max_plan_ops}->{ops} ({r.plan_exhausted} exhausted, {r.fallbacks} fallbacks)"
    )


def log_budget(parent: Scaffold, r: Reflection) -> list[Change] | None:
    """Raise the LOG budget that silently ended routines before the agent was done.

    ``log_budget_exhausted`` (subject ``ops`` or ``turns``) is the evidence; the raise is
    a ladder (+2 ops / +1 turn first, x4 ops / +3 turns once that was tried).
    """
    lim = parent.limits
    out: list[Change] = []
    empty = r.fault("file_never_written")
    for subject in ("ops", "turns"):
        f = r.fault("log_budget_exhausted", subject)
        zero = (lim.max_log_ops if subject == "ops" else lim.max_log_turns) == 0
        if f is None and not (zero and empty is not None):
            continue
        why = (
            f"({f.evidence})"
            if f is not None
            else f"(LOG never runs with a budget of 0; {empty.evidence if empty else ''})"
        )
        if subject == "ops":
            steps = sorted({min(64, lim.max_log_ops + 2), min(64, max(4, lim.max_log_ops * 4))})
            for new in steps:
                if new > lim.max_log_ops:
                    out.append(
                        (
                            _limits(parent, max_log_ops=new),
                            f"log_budget: max_log_ops {lim.max_log_ops}->{new} {why}",
                        )
                    )
        else:
            for new in sorted({min(16, lim.max_log_turns + 1), min(16, lim.max_log_turns + 3)}):
                if new > lim.max_log_turns:
                    out.append(
                        (
                            _limits(parent, max_log_turns=new),
                            f"log_budget: max_log_turns {lim.max_log_turns}->{new} {why}",
                        )
                    )
    return out or None


def _reference(parent: Scaffold) -> Scaffold:
    """The built-in scaffold ``parent`` derives from (by name), else ``generic``."""
    from automem_sdk.scaffold import BUILTIN_SCAFFOLDS, load_scaffold

    base = parent.name.split("-")[-1] if parent.name not in BUILTIN_SCAFFOLDS else parent.name
    return load_scaffold(base if base in BUILTIN_SCAFFOLDS else "generic")


def restore_prompt(parent: Scaffold, r: Reflection) -> Change | None:
    """Put back a prompt whose placeholders render empty, from the reference scaffold."""
    bad = sorted({f.subject.split(":", 1)[0] for f in r.faults if f.name == "empty_placeholder"})
    if not bad:
        return None
    ref = _reference(parent)
    updates = {
        name: getattr(ref.prompts, name)
        for name in bad
        if getattr(ref.prompts, name) != getattr(parent.prompts, name)
    }
    if not updates:
        return None
    notes = "; ".join(f.evidence for f in r.faults if f.name == "empty_placeholder")
    return (
        {"prompts": parent.prompts.model_copy(update=updates)},
        f"restore_prompt: {', '.join(sorted(updates))} from {ref.name} ({notes})",
    )


def restore_ops(parent: Scaffold, r: Reflection) -> Change | None:
    """Declare custom ops the agent used that the scaffold lacks (from the reference)."""
    ref = _reference(parent)
    wanted = [
        c
        for f in r.faults
        if f.name == "ops_missing"
        and (c := ref.custom(f.subject)) is not None
        and parent.custom(f.subject) is None
    ]
    if not wanted:
        return None
    need = [
        str(step.get("op"))
        for c in wanted
        for step in c.steps
        if str(step.get("op")) not in parent.ops
    ]
    changes: dict[str, object] = {"custom_ops": [*parent.custom_ops, *wanted]}
    if need:
        changes["ops"] = [*parent.ops, *dict.fromkeys(need)]
    names = ", ".join(c.name for c in wanted)
    return changes, f"restore_ops: declare {names} from {ref.name} (the agent tried it)"


def drop_unread(parent: Scaffold, r: Reflection) -> Change | None:
    """Drop declared files that were written but never read (noise in the context)."""
    dead = [
        f.name
        for f in parent.files
        if not f.pinned
        and (st := r.files.get(f.name)) is not None
        and st.writes > 0
        and st.reads == 0
    ]
    if not dead or len(dead) == len(parent.files):
        return None
    keep = [f for f in parent.files if f.name not in dead]
    customs = [c for c in parent.custom_ops if not any(s.get("path") in dead for s in c.steps)]
    writes = ", ".join(f"{n} ({r.files[n].writes} writes)" for n in dead)
    return {"files": keep, "custom_ops": customs}, f"drop_unread: drop {writes}, never read"


def tighten(parent: Scaffold, r: Reflection) -> Change | None:
    """Cut the context budget and LOG ops down to what the episodes used."""
    lim = parent.limits
    changes: dict[str, object] = {}
    notes = []
    if r.max_prompt_tokens and r.context_trimmed == 0:
        target = max(256, math.ceil(r.max_prompt_tokens * 1.25 / 100.0) * 100)
        if target * 2 <= lim.context_tokens:
            changes["context_tokens"] = target
            notes.append(f"context_tokens {lim.context_tokens}->{target}")
    if r.log_exhausted == 0 and 0 < r.max_log_ops_used < lim.max_log_ops:
        changes["max_log_ops"] = r.max_log_ops_used
        notes.append(f"max_log_ops {lim.max_log_ops}->{r.max_log_ops_used}")
    if not changes:
        return None
    return _limits(parent, **changes), (
        f"tighten: {', '.join(notes)} (largest prompt {r.max_prompt_tokens} tokens, "
        f"at most {r.max_log_ops_used} LOG ops used)"
    )


RULES: tuple[tuple[str, Rule], ...] = (
    ("raise_caps", raise_caps),
    ("enable_ops", enable_ops),
    ("upsert_keyed", upsert_keyed),
    ("result_chars", result_chars),
    ("grow_context", grow_context),
    ("log_ops", log_ops),
    ("plan_turns", plan_turns),
    ("log_budget", log_budget),
    ("restore_prompt", restore_prompt),
    ("restore_ops", restore_ops),
    ("drop_unread", drop_unread),
    ("tighten", tighten),
)


class HeuristicProposer:
    """Proposes the first applicable rule's change (see module docstring).

    Args:
        rules: the rule names to use, in order (default: all of :data:`RULES`).
        actions: the env's actions (validates ``fallback_action``).
    """

    def __init__(self, rules: list[str] | None = None, actions: list[str] | None = None) -> None:
        known = dict(RULES)
        names = rules if rules is not None else [n for n, _ in RULES]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown heuristic rules {unknown}; known: {list(known)}")
        self.rules: list[tuple[str, Rule]] = [(n, known[n]) for n in names]
        self.actions = actions
        self.name = "heuristic"

    def candidates(self, parent: Scaffold, reflection: Reflection) -> list[Proposal]:
        """Every valid, untried candidate the rules produce, in rule order."""
        tried = {a.candidate for a in reflection.history if a.parent == parent.id}
        out: list[Proposal] = []
        for _name, rule in self.rules:
            found = rule(parent, reflection)
            if found is None:
                continue
            for changes, note in found if isinstance(found, list) else [found]:
                try:
                    cand = parent.child(note, **changes)
                except ValueError:
                    continue
                if cand.id in tried or cand.id == parent.id:
                    continue
                if validate_candidate(cand, parent, actions=self.actions):
                    continue
                out.append(Proposal(scaffold=cand, changelog=[note], proposer=self.name))
                break  # one candidate per rule: the next size only after this one was tried
        return out

    def propose(
        self, parent: Scaffold, reflection: Reflection, feedback: str | None = None
    ) -> Proposal:
        """The first rule's candidate (candidates are pre-validated, so feedback is unused).

        Raises:
            NoProposal: no rule has evidence, or every candidate was tried already.
        """
        found = self.candidates(parent, reflection)
        if not found:
            raise NoProposal(
                "no heuristic rule applies to the reflection (or all of its candidates "
                f"were tried already from {parent.id})"
            )
        return found[0]
