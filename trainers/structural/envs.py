"""Resolve env names and decider specs into objects (the run's string shortcuts).

Env names are those of the one registry, :mod:`automem_sdk.benchmarks.registry`
(``toy/maze-N`` needs no extra; the games need ``[games]``). The decider ``"explorer"``
is the env's keyless explorer; anything else is an LLM client spec.
"""

from __future__ import annotations

from typing import Any

from automem_sdk.benchmarks import registry
from automem_sdk.trainers.structural.errors import StructuralError

from automem_sdk.env import Decider, TextEnv
from automem_sdk.errors import AutomemError
from automem_sdk.llm.base import LLMClient
from automem_sdk.scaffold import Scaffold, load_scaffold

__all__ = [
    "DEMO_SCAFFOLDS",
    "check_not_frozen",
    "describe_agent",
    "is_frozen",
    "load_start_scaffold",
    "make_decider",
    "make_env",
]

#: Scaffolds shipped with the trainer for demos and tests (deliberately poor ones).
DEMO_SCAFFOLDS: tuple[str, ...] = ("cramped-map", "cramped-minihack")


def make_env(name: str, max_steps: int | None = None) -> TextEnv:
    """Build the env called ``name``.

    Args:
        name: ``toy/maze-N`` or a benchmarks registry name (``minihack/MazeWalk-9x9``,
            ``nethack``, ``crafter``).
        max_steps: the env's step limit (None = its default).

    Raises:
        StructuralError: unknown name, or the games extra is not installed.
    """
    try:
        env: TextEnv = registry.make_env(name, max_steps=max_steps)
        return env
    except KeyError as exc:
        raise StructuralError(f"cannot make env {name!r}: {exc}") from exc
    except ModuleNotFoundError as exc:
        raise StructuralError(
            f"env {name!r} needs the games extra (pip install 'automem-sdk[games]'): {exc}"
        ) from exc


#: Keyless deciders besides ``explorer`` (see :mod:`.sensitive`).
SENSITIVE_DECIDERS: tuple[str, ...] = ("prompt-explorer", "prompt-planner")


def make_decider(spec: str, env_name: str, seed: int = 0) -> Decider | LLMClient:
    """Build a fresh decider for one episode.

    Args:
        spec: ``"explorer"`` (the env's keyless explorer) or an LLM client spec.
        env_name: the env the decider will play.
        seed: tie-breaking seed for keyless explorers (decisions stay deterministic).

    Raises:
        StructuralError: no keyless explorer exists for ``env_name``.
    """
    if spec in SENSITIVE_DECIDERS:
        from .sensitive import make_sensitive

        try:
            return make_sensitive(spec, env_name, seed=seed)
        except ValueError as exc:
            raise StructuralError(str(exc)) from exc
    if spec == "task-policy":
        try:
            policy: Decider = registry.make_task_policy(env_name, seed=seed)
        except (AutomemError, AttributeError, KeyError) as exc:
            raise StructuralError(f"no task policy for env {env_name!r}: {exc}") from exc
        return policy
    if spec != "explorer":
        from automem_sdk.llm import make_client

        return make_client(spec)
    try:
        decider: Decider = registry.make_explorer(env_name, memory=True, seed=seed)
    except (AutomemError, AttributeError, KeyError, ModuleNotFoundError) as exc:
        raise StructuralError(f"no keyless explorer for env {env_name!r}: {exc}") from exc
    return decider


def load_start_scaffold(spec: str) -> Scaffold:
    """Resolve a starting scaffold: a demo name (:data:`DEMO_SCAFFOLDS`), a built-in name
    or a YAML/JSON path.

    Raises:
        ScaffoldError: unknown or invalid.
    """
    if spec in DEMO_SCAFFOLDS:
        from importlib import resources

        text = resources.files("automem_sdk.trainers.structural").joinpath(f"{spec}.yaml")
        return Scaffold.from_yaml(text.read_text(encoding="utf-8"))
    return load_scaffold(spec)


def _raw_scaffold(spec: str | Scaffold) -> dict[str, Any] | None:
    """The scaffold's mapping as written (before the schema sees it), if readable."""
    import yaml

    if isinstance(spec, Scaffold):
        return spec.model_dump(mode="json")
    from importlib import resources

    text: str | None = None
    try:
        if spec in DEMO_SCAFFOLDS:
            pkg = resources.files("automem_sdk.trainers.structural")
            text = pkg.joinpath(f"{spec}.yaml").read_text(encoding="utf-8")
        elif spec.endswith((".yaml", ".yml", ".json")):
            import fsspec

            with fsspec.open(spec, "r") as f:
                text = f.read()
        else:
            res = resources.files("automem_sdk.scaffolds").joinpath(f"{spec}.yaml")
            if res.is_file():
                text = res.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def is_frozen(spec: str | Scaffold) -> bool:
    """Whether a scaffold is marked ``frozen: true`` (a named contrast nobody may edit)."""
    if isinstance(spec, Scaffold) and getattr(spec, "frozen", False):
        return True
    data = _raw_scaffold(spec)
    if data is None and isinstance(spec, str):
        # A benchmark scaffold name (``memgpt``): the benchmarks package knows its file.
        from automem_sdk.benchmarks.players import memgpt

        try:
            return bool(memgpt.is_frozen(spec))
        except (AutomemError, OSError, ValueError, KeyError):
            return False
    return bool(data and data.get("frozen") is True)


def check_not_frozen(spec: str | Scaffold) -> None:
    """Refuse to train a frozen scaffold.

    Raises:
        StructuralError: the scaffold is marked ``frozen: true``.
    """
    if is_frozen(spec):
        name = spec.name if isinstance(spec, Scaffold) else spec
        raise StructuralError(
            f"scaffold {name!r} is marked frozen: true (a fixed contrast, e.g. a published "
            "scaffold reproduced as is); the structural trainer does not edit it. Copy it "
            "without the frozen flag to train a variant."
        )


def describe_agent(agent: Any) -> str:
    """What plays the episodes, and what it reacts to (shown to LLM proposers)."""
    what = {
        "explorer": "the env's keyless scripted explorer: it reads the map file through "
        "structured READ results and writes with UPSERT; it ignores prompt wording, "
        "result_chars and context_tokens; it reacts to enabled ops, file caps and the "
        "LOG/PLAN op and turn limits",
        "prompt-explorer": "a keyless scripted explorer that reads memory only from the "
        "prompt text it is shown: op results cut at result_chars, prompts trimmed to "
        "context_tokens, the ops listed in the system prompt, the map file named in the "
        "file schema; it reacts to limits, caps, ops and file schema, not to wording",
        "prompt-planner": "a keyless scripted task policy that reads memory only from "
        "the act prompt (trimmed to context_tokens)",
        "task-policy": "the benchmark's scripted task policy: it plans over the map lines "
        "in the memory context the memory model's reads returned",
    }
    parts = [f"mode {agent.mode}", f"memory {agent.memory}"]
    parts.append(
        f"memory decider {agent.decider!r} ("
        + what.get(agent.decider, "an LLM: it reads the prompts and reacts to their text")
        + ")"
    )
    if agent.task_decider:
        parts.append(
            f"task decider {agent.task_decider!r} ("
            + what.get(agent.task_decider, "an LLM reading the act prompt")
            + ")"
        )
    if agent.max_steps:
        parts.append(f"at most {agent.max_steps} steps per episode")
    return "; ".join(parts)
