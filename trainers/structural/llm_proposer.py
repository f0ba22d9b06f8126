"""A proposer backed by any LLM client (Anthropic, OpenAI-compatible, scripted, local).

The prompts are package data (``proposer_system.md``, ``proposer_user.md``,
``proposer_retry.md``; ``$name`` placeholders). The model answers with a changelog and
either the full scaffold in a fenced ``yaml`` block or a JSON Patch in a fenced ``json``
block. A reply that does not parse raises :class:`InvalidProposal`; the trainer then
calls :meth:`LLMProposer.propose` again with the error as ``feedback`` and the model sees
its previous reply followed by the error.
"""

from __future__ import annotations

import copy
import json
import re
import string
from importlib import resources
from typing import Any

import yaml
from automem_sdk.trainers.structural.config import Prices
from automem_sdk.trainers.structural.proposal import InvalidProposal, Proposal, ProposalCost
from automem_sdk.trainers.structural.reflect import Reflection

from automem_sdk.errors import ScaffoldError
from automem_sdk.llm.base import LLMClient, Message, Usage
from automem_sdk.ops import MEMORY_OP_NAMES
from automem_sdk.scaffold import TEMPLATE_VARIABLES, Scaffold
from automem_sdk.store import StoreLimits

__all__ = [
    "LLMProposer",
    "apply_json_patch",
    "load_prompt",
    "parse_proposal",
]

_FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n(.*?)```", re.DOTALL)
_CHANGELOG = re.compile(r"^\s*changelog\s*:?\s*$", re.IGNORECASE | re.MULTILINE)


def load_prompt(name: str) -> str:
    """Read a packaged prompt file (``proposer_system.md``, …)."""
    pkg = resources.files("automem_sdk.trainers.structural")
    return pkg.joinpath(name).read_text(encoding="utf-8")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON Pointer {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_json_patch(doc: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply an RFC 6902 patch (``add``, ``remove``, ``replace``) to a copy of ``doc``.

    Raises:
        ValueError: a malformed operation or a path that does not exist.
    """
    out: Any = copy.deepcopy(doc)
    for i, op in enumerate(patch):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ValueError(f"patch op {i} needs 'op' and 'path': {op!r}")
        kind, parts = op["op"], _pointer(str(op["path"]))
        if kind not in ("add", "remove", "replace"):
            raise ValueError(f"patch op {i}: unsupported op {kind!r} (use add, remove, replace)")
        if not parts:
            raise ValueError(f"patch op {i}: cannot {kind} the whole document")
        parent: Any = out
        for p in parts[:-1]:
            try:
                parent = parent[int(p)] if isinstance(parent, list) else parent[p]
            except (KeyError, IndexError, ValueError):
                raise ValueError(f"patch op {i}: path {op['path']!r} does not exist") from None
        last = parts[-1]
        if kind != "remove" and "value" not in op:
            raise ValueError(f"patch op {i}: {kind} needs a 'value'")
        try:
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if kind == "add":
                    if not 0 <= idx <= len(parent):
                        raise IndexError(idx)
                    parent.insert(idx, op["value"])
                elif kind == "remove":
                    del parent[idx]
                else:
                    parent[idx] = op["value"]
            elif isinstance(parent, dict):
                if kind == "remove":
                    del parent[last]
                elif kind == "replace" and last not in parent:
                    raise KeyError(last)
                else:
                    parent[last] = op["value"]
            else:
                raise KeyError(last)
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"patch op {i}: path {op['path']!r} does not exist") from None
    result: dict[str, Any] = out
    return result


def _changelog(text: str, fence_start: int) -> list[str]:
    """Bullet lines after a 'Changelog:' heading outside the fenced block."""
    outside = text[:fence_start]
    m = _CHANGELOG.search(outside) or _CHANGELOG.search(text)
    if not m:
        return []
    notes: list[str] = []
    for line in text[m.end() :].splitlines():
        s = line.strip()
        if not s:
            if notes:
                break
            continue
        if s.startswith("```"):
            break
        if s[0] in "-*" or s[:2].rstrip(".").isdigit():
            notes.append(s.lstrip("-*0123456789. ").strip())
        elif notes:
            break
    return [n for n in notes if n]


def parse_proposal(text: str, parent: Scaffold) -> tuple[Scaffold, list[str]]:
    """Turn a model reply into a scaffold (child of ``parent``) and its changelog.

    Raises:
        InvalidProposal: no fenced block, unparseable YAML/JSON, a bad patch, or a
            scaffold that fails the schema.
    """
    blocks = [(m.group(1).lower(), m.group(2), m.start()) for m in _FENCE.finditer(text)]
    if not blocks:
        raise InvalidProposal(
            "the reply has no fenced block: put the complete scaffold in one ```yaml block "
            "(or a JSON Patch in one ```json block)"
        )
    lang, body, start = next((b for b in blocks if b[0] in ("yaml", "yml", "json")), blocks[0])
    try:
        data = json.loads(body) if lang == "json" else yaml.safe_load(body)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidProposal(f"the ```{lang or 'yaml'} block does not parse: {exc}") from exc
    base = parent.model_dump(mode="json")
    if isinstance(data, list):
        try:
            data = apply_json_patch(base, data)
        except ValueError as exc:
            raise InvalidProposal(f"the JSON Patch does not apply: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidProposal(
            "the block must hold the scaffold as a mapping (or a JSON Patch list), "
            f"not {type(data).__name__}"
        )
    notes = _changelog(text, start)
    proposed_log = data.get("changelog")
    if not notes and isinstance(proposed_log, list):
        notes = [str(x) for x in proposed_log[len(parent.changelog) :]]
    notes = notes or ["LLM proposal (no changelog given)"]
    data = {k: v for k, v in data.items() if k not in ("id", "parent", "changelog")}
    data["parent"] = parent.id
    data["changelog"] = [*parent.changelog, *notes]
    try:
        scaffold = Scaffold.from_dict(data)
    except ScaffoldError as exc:
        raise InvalidProposal(str(exc)) from exc
    return scaffold, notes


class LLMProposer:
    """Asks an LLM for a rewritten scaffold (see module docstring).

    Args:
        client: any :class:`~automem_sdk.llm.base.LLMClient`.
        prices: token prices, for the cost of each proposal.
        max_tokens: reply budget.
        excerpt_chars: how much of the reflection to show.
        chat_opts: extra ``chat`` options (``temperature``, …).
    """

    def __init__(
        self,
        client: LLMClient,
        *,
        prices: Prices | None = None,
        max_tokens: int = 4096,
        excerpt_chars: int = 6000,
        **chat_opts: Any,
    ) -> None:
        self.client = client
        self.prices = prices or Prices()
        self.max_tokens = max_tokens
        self.excerpt_chars = excerpt_chars
        self.chat_opts = chat_opts
        self.name = f"llm:{client.model}"
        self._conversation: list[Message] = []
        self._key: tuple[str, str] | None = None
        self._last_reply: str | None = None

    def messages(self, parent: Scaffold, reflection: Reflection) -> list[Message]:
        """The first request's messages for ``parent``."""
        system = string.Template(load_prompt("proposer_system.md")).safe_substitute(
            template_variables="\n".join(
                f"  {name}: {', '.join('{' + v + '}' for v in sorted(allowed))}"
                for name, allowed in TEMPLATE_VARIABLES.items()
            ),
            primitive_ops=", ".join(MEMORY_OP_NAMES),
            max_file_bytes=StoreLimits().max_file_bytes,
        )
        content = {
            k: v
            for k, v in parent.model_dump(mode="json").items()
            if k not in ("parent", "changelog")
        }
        user = string.Template(load_prompt("proposer_user.md")).safe_substitute(
            parent_id=parent.id,
            parent_yaml=yaml.safe_dump(content, sort_keys=False, allow_unicode=True).rstrip(),
            reflection=reflection.to_prompt(self.excerpt_chars),
        )
        return [Message(role="system", content=system), Message(role="user", content=user)]

    def propose(
        self, parent: Scaffold, reflection: Reflection, feedback: str | None = None
    ) -> Proposal:
        """Ask the model; on a retry (``feedback`` set) continue the same conversation.

        Raises:
            InvalidProposal: the reply does not parse into a scaffold.
            LLMError: the request failed.
        """
        key = (parent.id, reflection.scaffold_id)
        if feedback is None or self._key != key or self._last_reply is None:
            self._conversation = self.messages(parent, reflection)
            self._key = key
        else:
            retry = string.Template(load_prompt("proposer_retry.md")).safe_substitute(
                errors=feedback
            )
            self._conversation = [
                *self._conversation,
                Message(role="assistant", content=self._last_reply),
                Message(role="user", content=retry),
            ]
        completion = self.client.chat(
            self._conversation, max_tokens=self.max_tokens, **self.chat_opts
        )
        self._last_reply = completion.text
        usage = Usage(
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
        )
        cost = ProposalCost(usage=usage, usd=self.prices.cost(usage), calls=1)
        try:
            scaffold, notes = parse_proposal(completion.text, parent)
        except InvalidProposal as exc:
            raise InvalidProposal(str(exc), cost) from exc
        return Proposal(scaffold=scaffold, changelog=notes, cost=cost, proposer=self.name)
