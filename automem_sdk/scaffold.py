"""The memory scaffolding as versioned data: prompts, file schema, op vocabulary, limits.

A :class:`Scaffold` is what the structural trainer rewrites. Its :attr:`Scaffold.id` is a
hash of its content (not of its parent or changelog), so two scaffolds that behave the
same share an id and evaluations can be cached by it.
"""

from __future__ import annotations

import hashlib
import json
import string
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

import fsspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from automem_sdk.errors import ScaffoldError
from automem_sdk.ops import (
    MEMORY_OP_NAMES,
    OP_SPECS,
    CustomOp,
    InvalidOp,
    MemoryOp,
    op_adapter,
    spec_for_token,
)

__all__ = [
    "AGENT_MESSAGES",
    "BUILTIN_SCAFFOLDS",
    "DEFAULT_ACT_PROMPT",
    "SCAFFOLD_SCHEMA_VERSION",
    "TEMPLATE_VARIABLES",
    "CustomOpSpec",
    "FileSpec",
    "Prompts",
    "RoutineLimits",
    "Scaffold",
    "load_scaffold",
]

SCAFFOLD_SCHEMA_VERSION = 1
BUILTIN_SCAFFOLDS: tuple[str, ...] = ("generic", "crafter", "minihack", "nethack")

#: Placeholders each prompt template may use.
TEMPLATE_VARIABLES: dict[str, frozenset[str]] = {
    "system": frozenset({"instruction", "actions", "files", "ops", "max_log_ops"}),
    "log": frozenset(
        {"observation", "step", "memory_index", "last_action", "feedback", "pinned", "max_log_ops"}
    ),
    "plan": frozenset(
        {"observation", "step", "memory_index", "actions", "feedback", "pinned", "last_action"}
    ),
    "act": frozenset({"observation", "step", "actions", "memory_context", "instruction"}),
}


def _agent_text() -> dict[str, Any]:
    text = resources.files("automem_sdk.scaffolds").joinpath("agent_text.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


_AGENT_TEXT = _agent_text()
#: The agent loop's own text (notes, errors, result framing) by name, as ``str.format``
#: templates (package data ``scaffolds/agent_text.yaml``); a scaffold overrides any of
#: them with :attr:`Scaffold.messages`.
AGENT_MESSAGES: MappingProxyType[str, str] = MappingProxyType(dict(_AGENT_TEXT["messages"]))
#: The default ``act`` prompt (package data, like :data:`AGENT_MESSAGES`).
DEFAULT_ACT_PROMPT: str = str(_AGENT_TEXT["act"])


def _placeholders(text: str) -> set[str]:
    """Top-level ``{names}`` a format template uses (raises ValueError if it does not parse)."""
    return {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(text) if f}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSpec(_Model):
    """One memory file the scaffold defines."""

    name: str = Field(min_length=1, max_length=128)
    purpose: str = ""
    format: Literal["markdown", "lines", "keyed", "log"] = "markdown"
    initial: str = ""
    max_bytes: int = Field(default=16_384, ge=64)
    pinned: bool = False


class CustomOpSpec(_Model):
    """A custom op declared as a composition of primitive ops.

    ``steps`` are op dicts whose string values may use ``{param}`` placeholders, e.g.
    ``{"op": "upsert", "path": "map.md", "key": "{cell}", "value": "{info}"}``.
    """

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    params: list[str] = Field(default_factory=list)
    description: str = ""
    steps: list[dict[str, Any]] = Field(min_length=1)


class Prompts(_Model):
    """Prompt templates (``{placeholder}`` syntax; see :data:`TEMPLATE_VARIABLES`)."""

    system: str
    log: str
    plan: str
    act: str = DEFAULT_ACT_PROMPT


class RoutineLimits(_Model):
    """Bounds on the memory routines and on the context they build."""

    max_log_ops: int = Field(default=4, ge=0, le=64)
    max_log_turns: int = Field(default=2, ge=0, le=16)
    max_plan_turns: int = Field(default=3, ge=1, le=16)
    max_plan_ops: int = Field(default=6, ge=1, le=64)
    context_tokens: int = Field(default=4_000, ge=256)
    result_chars: int = Field(default=1_500, ge=64)
    pinned_chars: int = Field(default=1_200, ge=0)


class Scaffold(_Model):
    """Versioned memory scaffolding (see module docstring)."""

    schema_version: int = SCAFFOLD_SCHEMA_VERSION
    name: str = "generic"
    description: str = ""
    parent: str | None = None
    changelog: list[str] = Field(default_factory=list)
    prompts: Prompts
    files: list[FileSpec] = Field(default_factory=list)
    ops: list[str] = Field(default_factory=lambda: list(MEMORY_OP_NAMES))
    custom_ops: list[CustomOpSpec] = Field(default_factory=list)
    limits: RoutineLimits = Field(default_factory=RoutineLimits)
    fallback_action: str = ""
    messages: dict[str, str] = Field(default_factory=dict)
    """Overrides of :data:`AGENT_MESSAGES` by name (empty: the package's text)."""

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v > SCAFFOLD_SCHEMA_VERSION:
            raise ValueError(
                f"scaffold schema_version {v} is newer than this SDK supports "
                f"({SCAFFOLD_SCHEMA_VERSION}); upgrade automem-sdk"
            )
        return v

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, v: list[str]) -> list[str]:
        unknown = [o for o in v if o not in MEMORY_OP_NAMES]
        if unknown:
            raise ValueError(f"unknown primitive ops {unknown}; known: {list(MEMORY_OP_NAMES)}")
        return v

    @field_validator("messages")
    @classmethod
    def _known_messages(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(AGENT_MESSAGES))
        if unknown:
            raise ValueError(f"unknown messages {unknown}; known: {sorted(AGENT_MESSAGES)}")
        return v

    # ----------------------------------------------------------------- identity
    def _dump(self, **kw: Any) -> dict[str, Any]:
        """``model_dump`` without ``messages`` when it overrides nothing (ids stay stable)."""
        exclude: set[str] = set(kw.pop("exclude", set()))
        if not self.messages:
            exclude.add("messages")
        return self.model_dump(exclude=exclude, **kw)

    def content_dict(self) -> dict[str, Any]:
        """The fields that define behaviour (everything but parent and changelog)."""
        return self._dump(exclude={"parent", "changelog"}, mode="json")

    @property
    def id(self) -> str:
        """Content hash (12 hex chars) of :meth:`content_dict`."""
        blob = json.dumps(self.content_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def child(self, note: str, **changes: Any) -> Scaffold:
        """A new scaffold with ``changes`` applied, this one as parent and ``note`` logged.

        Raises:
            ScaffoldError: the result is not a valid scaffold.
        """
        data = self.model_dump()
        data.update(changes)
        data["parent"] = self.id
        data["changelog"] = [*self.changelog, note]
        return Scaffold.from_dict(data)

    # ------------------------------------------------------------------ vocab
    def allows(self, op_name: str) -> bool:
        """Whether a primitive op is enabled (control ops always are)."""
        return op_name not in MEMORY_OP_NAMES or op_name in self.ops

    def custom(self, name: str) -> CustomOpSpec | None:
        """The custom op spec called ``name`` (case-insensitive), if declared."""
        up = name.upper()
        return next((c for c in self.custom_ops if c.name == up), None)

    def expand_custom(self, op: CustomOp) -> list[MemoryOp]:
        """Turn a custom op into the primitive ops it stands for.

        Raises:
            ScaffoldError: the op is not declared or got the wrong number of arguments.
        """
        spec = self.custom(op.name)
        if spec is None:
            declared = [c.name for c in self.custom_ops] or "none"
            raise ScaffoldError(f"unknown op '{op.name}' (custom ops here: {declared})")
        if len(op.args) != len(spec.params):
            raise ScaffoldError(
                f"{spec.name} takes {len(spec.params)} argument(s) "
                f"({'|'.join(spec.params)}), got {len(op.args)}"
            )
        values = dict(zip(spec.params, op.args, strict=True))
        out: list[MemoryOp] = []
        for step in spec.steps:
            filled = {
                k: (v.format_map(values) if isinstance(v, str) else v) for k, v in step.items()
            }
            try:
                out.append(op_adapter().validate_python(filled))
            except ValidationError as exc:
                raise ScaffoldError(f"{spec.name}: step {step} is invalid: {exc}") from exc
        return out

    def file(self, name: str) -> FileSpec | None:
        """The file spec called ``name``, if declared."""
        return next((f for f in self.files if f.name == name), None)

    def file_cap(self, path: str) -> int | None:
        """The size cap (``max_bytes``) of the memory file ``path``, if declared."""
        spec = self.file(path)
        return None if spec is None else spec.max_bytes

    # -------------------------------------------------------------- rendering
    def render(self, template: str, **variables: Any) -> str:
        """Render one prompt template (``system``, ``log``, ``plan`` or ``act``).

        Unknown placeholders render empty rather than raising; :meth:`validate` reports
        them.
        """
        text: str = getattr(self.prompts, template)
        allowed = TEMPLATE_VARIABLES[template]
        values = {k: ("" if variables.get(k) is None else str(variables.get(k))) for k in allowed}
        return text.format_map(_Default(values))

    def message(self, name: str, **values: Any) -> str:
        """One of the agent loop's texts (:data:`AGENT_MESSAGES`), filled in.

        Raises:
            KeyError: ``name`` is not a known message.
        """
        template = self.messages[name] if name in self.messages else AGENT_MESSAGES[name]
        return template.format_map(_Default({k: str(v) for k, v in values.items()}))

    def describe_files(self) -> str:
        """The memory file schema as prompt text."""
        lines = []
        for f in self.files:
            fmt = {"keyed": "one 'key: value' line per key (use UPSERT)"}.get(f.format, f.format)
            lines.append(f"- {f.name}: {f.purpose} [{fmt}; max {f.max_bytes} bytes]")
        return "\n".join(lines) or "- (free layout: create the files you need)"

    def op_tokens(self) -> list[str]:
        """Token names of every op this scaffold lets the model write.

        The enabled primitives, the control ops (``ACTION``, ``DONE``) and the custom
        ops, e.g. for a restricted op grammar (``grammar=scaffold.op_tokens()``).
        """
        names = [s.token for s in OP_SPECS if s.token and self.allows(s.name)]
        return names + [c.name for c in self.custom_ops]

    def describe_ops(self) -> str:
        """The op vocabulary as prompt text."""
        lines = []
        for spec in OP_SPECS:
            if not spec.token or not self.allows(spec.name):
                continue
            args = "|".join(spec.fields)
            tok = spec.token
            lines.append(f"<|{tok}|>{args}<|END|>" if spec.fields else f"<|{tok}|>")
        for c in self.custom_ops:
            lines.append(f"<|{c.name}|>{'|'.join(c.params)}<|END|>  {c.description}".rstrip())
        return "\n".join(lines)

    def validate_scaffold(self) -> list[str]:
        """Sanity checks beyond the schema. Returns a list of problems (empty = valid)."""
        problems: list[str] = []
        formatter = string.Formatter()
        for name, allowed in TEMPLATE_VARIABLES.items():
            text = getattr(self.prompts, name)
            try:
                fields = {f for _, f, _, _ in formatter.parse(text) if f}
            except ValueError as exc:
                problems.append(f"prompt '{name}' does not parse: {exc}")
                continue
            bad = sorted(f for f in fields if f.split(".")[0].split("[")[0] not in allowed)
            if bad:
                problems.append(
                    f"prompt '{name}' uses unknown placeholders {bad}; allowed {sorted(allowed)}"
                )
        for key, text in self.messages.items():
            try:
                extra = _placeholders(text) - _placeholders(AGENT_MESSAGES[key])
            except ValueError as exc:
                problems.append(f"message '{key}' does not parse: {exc}")
                continue
            if extra:
                problems.append(
                    f"message '{key}' uses unknown placeholders {sorted(extra)}; "
                    f"allowed {sorted(_placeholders(AGENT_MESSAGES[key]))}"
                )
        if "observation" not in self.prompts.plan:
            problems.append("prompt 'plan' must include {observation}")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            problems.append(f"duplicate file names in {names}")
        for f in self.files:
            if len(f.initial.encode()) > f.max_bytes:
                problems.append(f"file {f.name}: initial content exceeds its max_bytes")
            if f.name.startswith(("/", ".")) or ".." in f.name.split("/"):
                problems.append(f"file {f.name}: not a valid memory path")
        seen: set[str] = set()
        for c in self.custom_ops:
            if c.name in seen:
                problems.append(f"custom op {c.name} declared twice")
            seen.add(c.name)
            if spec_for_token(c.name) is not None or c.name == "END":
                problems.append(f"custom op {c.name} shadows a built-in op")
            dummy = CustomOp(name=c.name, args=[f"x{i}" for i in range(len(c.params))])
            try:
                for step in self.expand_custom(dummy):
                    if isinstance(step, CustomOp | InvalidOp):
                        problems.append(f"custom op {c.name}: steps must be primitive ops")
                    elif step.op in MEMORY_OP_NAMES and step.op not in self.ops:
                        problems.append(f"custom op {c.name} uses disabled op '{step.op}'")
            except (ScaffoldError, KeyError, IndexError, ValueError) as exc:
                problems.append(f"custom op {c.name}: {exc}")
        if (
            self.limits.max_log_ops
            and not any(o in self.ops for o in ("append", "write", "upsert"))
            and not self.custom_ops
        ):
            problems.append("LOG allows ops but no writing op (append/write/upsert) is enabled")
        return problems

    def check(self) -> Scaffold:
        """Raise :class:`ScaffoldError` listing every problem found by :meth:`validate_scaffold`."""
        problems = self.validate_scaffold()
        if problems:
            raise ScaffoldError("invalid scaffold:\n- " + "\n- ".join(problems))
        return self

    # ---------------------------------------------------------------- storage
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaffold:
        """Validate a dict into a scaffold.

        Raises:
            ScaffoldError: with pydantic's message when invalid.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ScaffoldError(f"invalid scaffold: {exc}") from exc

    @classmethod
    def from_yaml(cls, text: str) -> Scaffold:
        """Parse YAML (or JSON) text into a scaffold.

        Raises:
            ScaffoldError: not YAML, or not a valid scaffold.
        """
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ScaffoldError(f"scaffold is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ScaffoldError("scaffold YAML must be a mapping")
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        """Serialise to YAML (block strings for prompts)."""
        return yaml.dump(
            self._dump(mode="json"), Dumper=_BlockDumper, sort_keys=False, allow_unicode=True
        )

    def save(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        """Write the scaffold as YAML (``.yaml``/``.yml``) or JSON to any fsspec URL."""
        text = self.to_json() if url.endswith(".json") else self.to_yaml()
        with fsspec.open(url, "w", **(storage_options or {})) as f:
            f.write(text)

    def to_json(self) -> str:
        """Serialise to indented JSON."""
        return json.dumps(self._dump(mode="json"), indent=2, ensure_ascii=False)


class _Default(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _str_presenter)


def load_scaffold(
    spec: str | Scaffold,
    storage_options: dict[str, Any] | None = None,
    *,
    validate: bool = True,
) -> Scaffold:
    """Resolve a scaffold: a built-in name, a YAML/JSON path or fsspec URL, or a Scaffold.

    Every scaffold is checked with :meth:`Scaffold.validate_scaffold` (the checks the
    structural trainer runs first, with the same messages): a misspelt placeholder such
    as ``{observaton}``, a custom op built from disabled ops or a duplicate file is
    refused here rather than silently rendering an empty prompt later.

    Args:
        spec: a name from ``BUILTIN_SCAFFOLDS``, a ``.yaml``/``.yml``/``.json`` path or
            URL, or a :class:`Scaffold`.
        storage_options: fsspec options for a URL.
        validate: run the checks (``False`` only to inspect a broken scaffold).

    Raises:
        ScaffoldError: unknown name, unreadable file, or invalid content (every problem
            listed, ``; ``-separated).
    """
    if isinstance(spec, Scaffold):
        return _validated(spec, "given") if validate else spec
    if spec in BUILTIN_SCAFFOLDS:
        text = resources.files("automem_sdk.scaffolds").joinpath(f"{spec}.yaml").read_text()
        scaffold = Scaffold.from_yaml(text)
    else:
        if not spec.endswith((".yaml", ".yml", ".json")):
            raise ScaffoldError(
                f"unknown scaffold {spec!r}: use one of {list(BUILTIN_SCAFFOLDS)} or a "
                ".yaml/.json path"
            )
        try:
            with fsspec.open(spec, "r", **(storage_options or {})) as f:
                text = f.read()
        except (OSError, ValueError) as exc:
            raise ScaffoldError(f"cannot read scaffold {spec}: {exc}") from exc
        try:
            scaffold = Scaffold.from_yaml(text)
        except ScaffoldError as exc:
            raise ScaffoldError(f"scaffold {spec}: {exc}") from exc
    return _validated(scaffold, spec) if validate else scaffold


def _validated(scaffold: Scaffold, where: str) -> Scaffold:
    problems = scaffold.validate_scaffold()
    if problems:
        raise ScaffoldError(f"invalid scaffold ({where}): " + "; ".join(problems))
    return scaffold
