"""The structural loop: reflect -> propose -> validate -> gate -> accept or reject.

:class:`StructuralTrainer` drives one run directory (:mod:`.rundir`). Before each
iteration it checkpoints ``state.json``; a run killed at any moment resumes with
``resume=True`` and, with a deterministic proposer and evaluator, writes the same ledger
as a run that was never interrupted (the unfinished iteration is redone, its episodes
come from the cache and its proposal from ``proposals/``). A ``STOP`` file is honoured
between steps and between episodes; budgets (episodes, env steps, tokens, dollars) count
every evaluation the run's decisions use, cached or not, so reruns stop at the same place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

from automem_sdk.trainers.structural.config import StructuralConfig
from automem_sdk.trainers.structural.errors import (
    RunDirError,
    SeedOverlapError,
    StructuralError,
)
from automem_sdk.trainers.structural.evaluate import (
    EpisodeEvaluator,
    EvalCache,
    EvalStats,
    Evaluator,
    evaluate_many,
)
from automem_sdk.trainers.structural.gate import GateDecision, GateRule, make_rule
from automem_sdk.trainers.structural.proposal import (
    InvalidProposal,
    NoProposal,
    Proposal,
    ProposalCost,
    Proposer,
)
from automem_sdk.trainers.structural.reflect import Attempt, Reflection, reflect
from automem_sdk.trainers.structural.rundir import (
    LedgerEntry,
    PairedScore,
    RunDir,
    RunState,
    Spend,
)
from automem_sdk.trainers.structural.seeds import check_disjoint, format_seeds
from automem_sdk.trainers.structural.validate import validate_candidate
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from automem_sdk.episode_result import EpisodeResult
from automem_sdk.scaffold import Scaffold
from automem_sdk.trace import Trace, list_traces, read_trace

__all__ = ["StructuralTrainer", "make_proposer"]


class _Halt(Exception):
    """Ends the run early at a safe point (STOP file, budget)."""

    def __init__(self, status: Literal["stopped", "budget"], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def make_proposer(config: StructuralConfig, actions: list[str] | None = None) -> Proposer:
    """The proposer named by ``config.proposer``: ``heuristic``, ``search``, an LLM client
    spec, or several joined by ``+`` (asked in order, the next when one has nothing left:
    ``heuristic+search``)."""
    if "+" in config.proposer:
        from automem_sdk.trainers.structural.proposal import ChainProposer

        return ChainProposer(
            [
                make_proposer(config.model_copy(update={"proposer": part}), actions)
                for part in config.proposer.split("+")
            ]
        )
    if config.proposer == "heuristic":
        from automem_sdk.trainers.structural.heuristic import HeuristicProposer

        return HeuristicProposer(actions=actions)
    if config.proposer == "search":
        from automem_sdk.trainers.structural.search import SearchProposer

        return SearchProposer(seed=config.rng_seed, actions=actions)
    from automem_sdk.trainers.structural.llm_proposer import LLMProposer

    from automem_sdk.llm import make_client

    return LLMProposer(
        make_client(config.proposer),
        prices=config.proposer_prices,
        max_tokens=config.proposer_max_tokens,
        excerpt_chars=config.excerpt_chars,
    )


class StructuralTrainer:
    """Runs the structural loop in a run directory.

    Args:
        run_dir: the run directory.
        config: the run's configuration (None when resuming: read from ``config.json``;
            given on resume, only its ``budget`` and ``iterations`` replace the saved ones).
        evaluator: plays episodes (default :class:`EpisodeEvaluator` on ``config.agent``).
        proposer: proposes candidates (default from ``config.proposer``).
        cache_dir: evaluation cache (default ``<run_dir>/cache``); share it between runs
            to reuse episodes.
        workers: process-pool size for episodes.
        console: where progress and results go (None = a console on stderr).
        quiet: no progress bars or per-iteration lines.
        on_event: called with (event, data) at each step (for logging and tests).
    """

    def __init__(
        self,
        run_dir: str,
        config: StructuralConfig | None = None,
        *,
        evaluator: Evaluator | None = None,
        proposer: Proposer | None = None,
        cache_dir: str | None = None,
        workers: int = 1,
        console: Console | None = None,
        quiet: bool = False,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.dir = RunDir(run_dir)
        self.config = config
        self._evaluator = evaluator
        self._proposer = proposer
        self.cache = EvalCache(cache_dir) if cache_dir else EvalCache(self.dir.cache_dir)
        self.workers = workers
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.on_event = on_event
        self.eval_stats = EvalStats()
        self._actions: list[str] | None = None
        self._traces: list[Trace] | None = None

    # ------------------------------------------------------------------ setup
    @property
    def cfg(self) -> StructuralConfig:
        """The configuration in force."""
        if self.config is None:
            self.config = self.dir.read_config()
        return self.config

    @property
    def evaluator(self) -> Evaluator:
        """The evaluator in force."""
        if self._evaluator is None:
            self._evaluator = EpisodeEvaluator(self.cfg.agent)
        return self._evaluator

    @property
    def proposer(self) -> Proposer:
        """The proposer in force."""
        if self._proposer is None:
            self._proposer = make_proposer(self.cfg, self.actions())
        return self._proposer

    def actions(self) -> list[str] | None:
        """The first env's actions (to validate fallback actions), or None if unknown."""
        if self._actions is None:
            from automem_sdk.trainers.structural.envs import make_env

            try:
                env = make_env(self.cfg.envs[0], self.cfg.agent.max_steps)
            except StructuralError:
                return None
            try:
                self._actions = list(env.actions)
            finally:
                env.close()
        return self._actions

    def rule(self, looks: int = 1) -> GateRule:
        """The gate rule in force (for one of ``looks`` sequential looks: the error rate
        split evenly over them, so the whole gate keeps ``confidence``)."""
        c = self.cfg
        return make_rule(
            c.rule,
            min_delta=c.min_delta,
            confidence=1 - (1 - c.confidence) / looks,
            samples=c.bootstrap_samples,
            seed=c.rng_seed,
        )

    def _emit(self, event: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(event, data)

    def _say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False)

    def logged_traces(self) -> list[Trace]:
        """The traces under ``config.traces`` for the run's envs (loaded once).

        Raises:
            StructuralError: the directory has no usable trace.
        """
        if self._traces is None:
            src = self.cfg.traces
            assert src is not None
            traces = [read_trace(u) for u in list_traces(src)]
            traces = [t for t in traces if t.header.env in self.cfg.envs]
            if not traces:
                raise StructuralError(
                    f"no traces for env(s) {', '.join(self.cfg.envs)} under {src}"
                )
            self._traces = traces
        return self._traces

    def reflection_seeds(self) -> list[int]:
        """The seeds the proposer sees (from the logged traces when given)."""
        if self.cfg.traces:
            return sorted(
                {t.header.seed for t in self.logged_traces() if t.header.seed is not None}
            )
        return list(self.cfg.reflection_seeds)

    def _start(self) -> RunState:
        cfg = self.cfg
        if self.dir.exists():
            raise RunDirError(
                f"{self.dir.root} already holds a structural run: pass --resume to continue "
                "it, or choose another --run-dir"
            )
        if not cfg.traces and not cfg.reflection_seeds:
            raise StructuralError("give --reflection-seeds, or --traces DIR to reflect offline")
        self._check_seeds(cfg)
        from automem_sdk.trainers.structural.envs import check_not_frozen, load_start_scaffold

        check_not_frozen(cfg.scaffold)
        root = load_start_scaffold(cfg.scaffold)
        problems = validate_candidate(root, actions=self.actions())
        if problems:
            raise StructuralError("the starting scaffold is invalid:\n- " + "\n- ".join(problems))
        self.dir.root.mkdir(parents=True, exist_ok=True)
        self.dir.write_config(cfg)
        self.dir.save_scaffold(root)
        self.dir.set_best(root)
        state = RunState(root_id=root.id, best_id=root.id, accepted=[root.id])
        self.dir.write_state(state)
        return state

    def _resume(self) -> RunState:
        state = self.dir.read_state()
        cfg = self.dir.read_config()
        if self.config is not None:
            # Only the budget and the iteration count may change on resume.
            changes = {
                k: getattr(self.config, k)
                for k in ("budget", "iterations")
                if getattr(self.config, k) != getattr(cfg, k)
            }
            if changes:
                cfg = cfg.model_copy(update=changes)
                self.dir.write_config(cfg)
        self.config = cfg
        self._check_seeds(cfg)
        if self.dir.clear_stop():
            self._say("[dim]removed the STOP file[/dim]")
        kept = self.dir.truncate_ledger(state.iteration)
        self._emit("resume", iteration=state.iteration, ledger=kept)
        if state.status in ("stopped", "budget") or (
            state.status == "done" and state.iteration <= cfg.iterations
        ):
            state.status = "running"
            state.reason = ""
        return state

    def _check_seeds(self, cfg: StructuralConfig) -> None:
        """Reflection, gate (every iteration's, reserve included) and final seeds apart."""
        gate = cfg.all_gate_seeds()
        check_disjoint(self.reflection_seeds(), gate, allow_overlap=cfg.allow_seed_overlap)
        if cfg.final_seeds:
            used = sorted(set(cfg.final_seeds) & (set(gate) | set(self.reflection_seeds())))
            if used:
                raise SeedOverlapError(
                    f"final seeds {format_seeds(used)} are also reflection or gate seeds: the "
                    "final evaluation must use seeds nobody used"
                )

    # -------------------------------------------------------------------- run
    def run(self, *, resume: bool = False) -> RunState:
        """Run (or resume) until the iterations, the proposer or a budget run out.

        Returns:
            The final state (``status`` says why the run ended).

        Raises:
            RunDirError: starting over an existing run, or resuming a missing one.
            SeedOverlapError: reflection and gate seeds overlap.
        """
        if resume:
            state = self._resume()
        elif self.config is None:
            raise StructuralError("a new run needs a config")
        else:
            if self.dir.exists():
                raise RunDirError(
                    f"{self.dir.root} already holds a structural run: pass --resume to "
                    "continue it, or choose another --run-dir"
                )
            _ = self.proposer  # a missing API key fails before the run directory is made
            state = self._start()
        if state.status in ("done", "converged"):
            if self.cfg.final_seeds and not (self.dir.root / "final.json").exists():
                self.final_evaluation(state)  # killed during the final evaluation
            else:
                self._say(f"run already finished ({state.status}); nothing to do")
            return state
        _ = self.proposer  # fail fast (e.g. a missing API key) before any episode is played
        try:
            while state.iteration <= self.cfg.iterations:
                self.dir.write_state(state)
                state = self._iteration(state)
                if state.status == "converged":
                    break
            else:
                state.status = "done"
                state.reason = f"{self.cfg.iterations} iteration(s) finished"
        except _Halt as halt:
            state.status = halt.status
            state.reason = halt.reason
            self._say(f"[yellow]{halt.reason}[/yellow]")
        self.dir.write_state(state)
        if self.cfg.final_seeds and state.status in ("done", "converged", "budget"):
            self.final_evaluation(state)
        self._emit("end", status=state.status, reason=state.reason)
        return state

    def final_evaluation(self, state: RunState | None = None) -> dict[str, Any]:
        """Play the start and the accepted scaffold on ``final_seeds``; write final.json.

        The final seeds are disjoint from every seed the loop looked at, so the interval
        is an honest estimate of what the accepted changes are worth. Its episodes are
        counted in ``final.json``, not in the run's budget.

        Returns:
            The record written (also for an unchanged scaffold: difference 0).
        """
        from automem_sdk.trainers.structural.gate import paired_ci

        state = state or self.dir.read_state()
        cfg = self.cfg
        units = [(env, s) for env in cfg.envs for s in cfg.final_seeds]
        root = self.dir.load_scaffold(state.root_id)
        best = self.dir.load_scaffold(state.best_id)
        stats = EvalStats()

        def play(sc: Scaffold) -> list[float]:
            scores = evaluate_many(
                self.evaluator, self.cache, sc, units, workers=self.workers, stats=stats
            )
            return [x.metric(cfg.metric) for x in scores]

        a = play(root)
        b = a if best.id == root.id else play(best)
        diff, lo, hi = paired_ci(a, b, confidence=0.95, seed=cfg.rng_seed)
        record: dict[str, Any] = {
            "start": root.id,
            "accepted": best.id,
            "n": len(units),
            "seeds": cfg.final_seeds,
            "start_mean": sum(a) / len(a),
            "accepted_mean": sum(b) / len(b),
            "diff": diff,
            "ci95": [lo, hi],
            "wins": sum(1 for x, y in zip(a, b, strict=True) if y > x),
            "losses": sum(1 for x, y in zip(a, b, strict=True) if y < x),
            "episodes": {"fresh": stats.fresh, "cached": stats.cached},
            "scores": [
                {"env": env, "seed": seed, "start": x, "accepted": y}
                for (env, seed), x, y in zip(units, a, b, strict=True)
            ],
        }
        self.dir.write_json(self.dir.root / "final.json", record)
        self._say(
            f"final evaluation on {len(units)} unused seed(s): start {record['start_mean']:.3f}"
            f" -> accepted {record['accepted_mean']:.3f}, diff {diff:+.3f} "
            f"(95% CI {lo:+.3f} .. {hi:+.3f})"
        )
        self._emit("final", **record)
        return record

    # -------------------------------------------------------------- internals
    def _check_stop(self, where: str) -> None:
        if self.dir.stop_requested():
            raise _Halt("stopped", f"STOP file found {where}; resume with --resume")

    def _check_budget(self, spent: Spend) -> None:
        b = self.cfg.budget
        over = []
        if b.episodes is not None and spent.episodes >= b.episodes:
            over.append(f"episodes {spent.episodes}/{b.episodes}")
        if b.env_steps is not None and spent.env_steps >= b.env_steps:
            over.append(f"env steps {spent.env_steps}/{b.env_steps}")
        if b.tokens is not None and spent.tokens >= b.tokens:
            over.append(f"tokens {spent.tokens}/{b.tokens}")
        if b.usd is not None and spent.usd >= b.usd:
            over.append(f"usd {spent.usd:.4f}/{b.usd}")
        if over:
            raise _Halt("budget", "budget exhausted: " + ", ".join(over))

    def _evaluate(
        self,
        state: RunState,
        it_spend: list[Spend],
        seen: set[str],
        scaffold: Scaffold,
        units: Sequence[tuple[str, int]],
        label: str,
    ) -> tuple[list[EpisodeResult], EvalStats]:
        stats = EvalStats()
        progress: AbstractContextManager[Any]
        if self.quiet or not self.console.is_terminal:
            progress = nullcontext(None)
        else:
            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )

        with progress as bar:
            task = bar.add_task(label, total=len(units)) if bar is not None else None

            def before(key: str) -> None:
                self._check_stop("between episodes")
                if key not in seen:
                    self._check_budget(state.spend.plus(it_spend[0]))

            def done(key: str, score: EpisodeResult, fresh: bool) -> None:
                if key not in seen:
                    seen.add(key)
                    usd = self.cfg.agent_prices.cost(score.usage)
                    it_spend[0] = it_spend[0].plus(
                        Spend(
                            episodes=1,
                            env_steps=score.steps,
                            agent_tokens=score.tokens,
                            usd=usd,
                        )
                    )
                if bar is not None and task is not None:
                    bar.advance(task)

            scores = evaluate_many(
                self.evaluator,
                self.cache,
                scaffold,
                units,
                workers=self.workers,
                before_episode=before,
                on_done=done,
                stats=stats,
            )
        self.eval_stats.fresh += stats.fresh
        self.eval_stats.cached += stats.cached
        return scores, stats

    def _history(self) -> list[Attempt]:
        return [
            Attempt(
                iteration=e.iteration,
                parent=e.parent,
                candidate=e.candidate or "-",
                changelog=e.changelog,
                decision=e.decision,
                reason=e.reason,
                scores=", ".join(
                    f"{sc.seed}:{sc.parent:g}->{sc.candidate:g}" for sc in e.scores[:40]
                ),
            )
            for e in self.dir.read_ledger()
        ]

    def _reflect(
        self,
        state: RunState,
        parent: Scaffold,
        it_spend: list[Spend],
        seen: set[str],
        stats: EvalStats,
    ) -> Reflection:
        history = self._history()
        if self.cfg.traces:
            traces = self.logged_traces()
            own = [t for t in traces if t.header.scaffold_id == parent.id]
            picked = own or traces
            return reflect(
                picked,
                parent,
                source=f"{len(picked)} logged trace(s) in {self.cfg.traces}",
                history=history,
                agent=self._agent_text(),
            )
        units = [(env, s) for env in self.cfg.envs for s in self.cfg.reflection_seeds]
        scores, st = self._evaluate(state, it_spend, seen, parent, units, f"reflect {parent.id}")
        stats.fresh += st.fresh
        stats.cached += st.cached
        traces = []
        memory: list[dict[str, str] | None] = []
        for score in scores:
            if score.trace_url is None:
                continue
            path = self.cache.trace_of(score)
            if path is not None:
                traces.append(read_trace(str(path)))
                memory.append(score.memory)
        return reflect(
            traces,
            parent,
            source="rollouts on the reflection seeds",
            history=history,
            memory_end=memory,
            agent=self._agent_text(),
        )

    def _agent_text(self) -> str:
        from automem_sdk.trainers.structural.envs import describe_agent

        return str(describe_agent(self.cfg.agent))

    def _saved_proposal(
        self, iteration: int, parent: Scaffold
    ) -> tuple[Proposal | None, int, list[str], ProposalCost, str] | None:
        """The proposal an interrupted run already obtained for this iteration, if any."""
        saved = self.dir.read_json(self.dir.proposal_path(iteration))
        if not isinstance(saved, dict) or saved.get("parent") != parent.id:
            return None
        cost = ProposalCost.model_validate(saved.get("cost", {}))
        errors = [str(e) for e in saved.get("errors", [])]
        attempts = int(saved.get("attempts", 1))
        name = str(saved.get("proposer", ""))
        cand_id = saved.get("candidate")
        if cand_id is None:
            if saved.get("status") == "exhausted":
                raise NoProposal(str(saved.get("reason", "no proposal")))
            return None, attempts, errors, cost, name
        proposal = Proposal(
            scaffold=self.dir.load_scaffold(str(cand_id)),
            changelog=[str(x) for x in saved.get("changelog", [])],
            cost=cost,
            proposer=name,
        )
        return proposal, attempts, errors, cost, name

    def _propose(
        self, iteration: int, parent: Scaffold, reflection: Reflection
    ) -> tuple[Proposal | None, int, list[str], ProposalCost, str]:
        """Returns (proposal or None, attempts, errors, cost, proposer name)."""
        saved = self._saved_proposal(iteration, parent)
        if saved is not None:
            return saved
        proposer = self.proposer
        feedback: str | None = None
        errors: list[str] = []
        cost = ProposalCost()
        attempts = 0
        record: dict[str, Any] = {
            "iteration": iteration,
            "parent": parent.id,
            "proposer": proposer.name,
        }
        result: Proposal | None = None
        try:
            for _ in range(self.cfg.proposer_retries + 1):
                attempts += 1
                try:
                    prop = proposer.propose(parent, reflection, feedback)
                except InvalidProposal as exc:
                    cost = cost + exc.cost
                    errors.append(str(exc))
                    feedback = str(exc)
                    continue
                cost = cost + prop.cost
                problems = validate_candidate(prop.scaffold, parent, actions=self.actions())
                if problems:
                    msg = "validation failed:\n- " + "\n- ".join(problems)
                    errors.append(msg)
                    feedback = msg
                    continue
                result = prop
                break
        except NoProposal as exc:
            record.update(status="exhausted", reason=str(exc), candidate=None)
            record.update(cost=cost.model_dump(mode="json"), attempts=attempts, errors=errors)
            self.dir.write_json(self.dir.proposal_path(iteration), record)
            raise
        record.update(cost=cost.model_dump(mode="json"), attempts=attempts, errors=errors)
        if result is None:
            record.update(status="invalid", candidate=None)
        else:
            self.dir.save_scaffold(result.scaffold)
            record.update(status="ok", candidate=result.scaffold.id, changelog=result.changelog)
        self.dir.write_json(self.dir.proposal_path(iteration), record)
        return result, attempts, errors, cost, proposer.name

    def _iteration(self, state: RunState) -> RunState:
        it = state.iteration
        t0 = time.perf_counter()
        self._check_stop(f"before iteration {it}")
        self._check_budget(state.spend)
        parent = self.dir.load_scaffold(state.best_id)
        it_spend = [Spend()]
        seen = set(state.seen_keys)
        stats = EvalStats()
        self._emit("reflect", iteration=it, parent=parent.id)
        reflection = self._reflect(state, parent, it_spend, seen, stats)
        self.dir.write_json(self.dir.reflection_path(it), reflection.model_dump(mode="json"))
        self._check_stop(f"after reflecting in iteration {it}")
        self._emit("propose", iteration=it)
        try:
            proposal, attempts, errors, pcost, pname = self._propose(it, parent, reflection)
        except NoProposal as exc:
            self._say(f"iteration {it}: the proposer has nothing left to try ({exc})")
            state.status = "converged"
            state.reason = str(exc)
            return state
        it_spend[0] = it_spend[0].plus(
            Spend(proposer_tokens=pcost.usage.total_tokens, usd=pcost.usd)
        )
        summary = {
            "episodes": reflection.n_episodes,
            "mean_progression": reflection.mean_progression,
        }
        rule = self.rule()
        if proposal is None:
            entry = LedgerEntry(
                iteration=it,
                parent=parent.id,
                candidate=None,
                decision="invalid",
                reason=f"no valid proposal after {attempts} attempt(s)",
                rule=rule.name,
                proposer=pname,
                attempts=attempts,
                proposal_errors=errors,
                reflection=summary,
                cost=it_spend[0],
            )
            return self._finish(state, entry, seen, it_spend[0], stats, t0, None)
        self._check_stop(f"after proposing in iteration {it}")
        cand = proposal.scaffold
        self._emit("gate", iteration=it, candidate=cand.id)
        rule, decision, units, pv, cv = self._gate(state, it, it_spend, seen, stats, parent, cand)
        entry = LedgerEntry(
            iteration=it,
            parent=parent.id,
            candidate=cand.id,
            decision="accept" if decision.accept else "reject",
            reason=decision.reason,
            rule=rule.name,
            parent_mean=decision.parent_mean,
            candidate_mean=decision.candidate_mean,
            stats=decision.stats,
            scores=[
                PairedScore(env=env, seed=seed, parent=a, candidate=b)
                for (env, seed), a, b in zip(units, pv, cv, strict=True)
            ],
            changelog=proposal.changelog,
            proposer=pname,
            attempts=attempts,
            proposal_errors=errors,
            reflection=summary,
            cost=it_spend[0],
        )
        return self._finish(state, entry, seen, it_spend[0], stats, t0, cand)

    def _gate(
        self,
        state: RunState,
        it: int,
        it_spend: list[Spend],
        seen: set[str],
        stats: EvalStats,
        parent: Scaffold,
        cand: Scaffold,
    ) -> tuple[GateRule, GateDecision, list[tuple[str, int]], list[float], list[float]]:
        """Score parent and candidate on the gate seeds (adding seeds while a sequential
        gate is undecided): the rule, its decision, the units and both score lists."""
        cfg = self.cfg
        rule = self.rule()
        looks = cfg.looks()
        if looks > 1:
            rule = self.rule(looks)
        for look in range(1, looks + 1):
            units = [(env, s) for env in cfg.envs for s in cfg.gate_units(it, look)]
            label = f" (look {look}/{looks})" if looks > 1 else ""
            p_scores, st1 = self._evaluate(
                state, it_spend, seen, parent, units, f"gate {parent.id}{label}"
            )
            c_scores, st2 = self._evaluate(
                state, it_spend, seen, cand, units, f"gate {cand.id}{label}"
            )
            stats.fresh += st1.fresh + st2.fresh
            stats.cached += st1.cached + st2.cached
            pv = [s.metric(cfg.metric) for s in p_scores]
            cv = [s.metric(cfg.metric) for s in c_scores]
            decision = rule.decide(pv, cv)
            undecided = decision.candidate_mean - decision.parent_mean > cfg.min_delta
            if decision.accept or not undecided or look == looks:
                if looks > 1:
                    decision.reason += f"; sequential look {look}/{looks}, {len(units)} seeds"
                    decision.stats["looks"] = float(look)
                break
        return rule, decision, units, pv, cv

    def _finish(
        self,
        state: RunState,
        entry: LedgerEntry,
        seen: set[str],
        spend: Spend,
        stats: EvalStats,
        t0: float,
        cand: Scaffold | None,
    ) -> RunState:
        entry.runtime = {
            "fresh_episodes": stats.fresh,
            "cached_episodes": stats.cached,
            "wall_s": round(time.perf_counter() - t0, 3),
        }
        self.dir.append_ledger(entry)
        if entry.decision == "accept" and cand is not None:
            state.best_id = cand.id
            state.accepted.append(cand.id)
            self.dir.set_best(cand)
        state.spend = state.spend.plus(spend)
        state.seen_keys = sorted(seen)
        state.iteration = entry.iteration + 1
        self.dir.write_state(state)
        colour = {"accept": "green", "reject": "red"}.get(entry.decision, "yellow")
        change = "; ".join(entry.changelog) or "-"
        self._say(
            f"iteration {entry.iteration}: [{colour}]{entry.decision}[/{colour}] "
            f"{entry.candidate or '(none)'} ({entry.reason}) - {change}"
        )
        self._emit("decision", entry=entry.model_dump(mode="json"))
        return state
