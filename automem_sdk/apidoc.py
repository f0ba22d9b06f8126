"""Generate the API reference (Markdown) from docstrings.

``python -m automem_sdk.apidoc > docs/API.md`` documents every name in the ``__all__``
of the public modules: signature and docstring, classes with their public methods.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pprint
import re
import sys
import typing
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["PUBLIC_MODULES", "render_module", "render_prompts", "render_reference"]

#: Modules documented by default, in order.
PUBLIC_MODULES: tuple[str, ...] = (
    "automem_sdk",
    "automem_sdk.store",
    "automem_sdk.ops",
    "automem_sdk.codec",
    "automem_sdk.tools",
    "automem_sdk.scaffold",
    "automem_sdk.agent",
    "automem_sdk.deciders",
    "automem_sdk.env",
    "automem_sdk.episodes",
    "automem_sdk.episode_result",
    "automem_sdk.rundir",
    "automem_sdk.atomic",
    "automem_sdk.llm",
    "automem_sdk.llm.providers",
    "automem_sdk.llm.options",
    "automem_sdk.trace",
    "automem_sdk.outcomes",
    "automem_sdk.diagnostics",
    "automem_sdk.adapters",
    "automem_sdk.testing",
    "automem_sdk.benchmarks",
    "automem_sdk.benchmarks.registry",
    "automem_sdk.trainers.structural",
    "automem_sdk.trainers.behavioral",
    "automem_sdk.trainers.pipeline",
)


def _doc(obj: object) -> str:
    return inspect.cleandoc(inspect.getdoc(obj) or "").strip()


_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


class _Annotation:
    """A string annotation shown as written (``str``, not ``'str'``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _shown(annotation: Any) -> Any:
    return _Annotation(annotation) if isinstance(annotation, str) else annotation


def _signature(obj: object) -> str:
    """``obj``'s signature: annotations as written, defaults as their repr (a string
    default keeps its quotes, so ``fmt: str = 'table'`` reads as Python)."""
    try:
        sig = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    sig = sig.replace(
        parameters=[p.replace(annotation=_shown(p.annotation)) for p in sig.parameters.values()],
        return_annotation=_shown(sig.return_annotation),
    )
    return _ADDRESS.sub(">", str(sig))  # a default's repr: the same on every run


def _type_name(tp: object) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("collections.abc.", "")


def _default_text(info: Any) -> str:
    """A field's default as shown in the reference: the same on every run."""
    factory = info.default_factory
    if factory is None:
        return repr(info.default)
    try:
        made = factory()
    except TypeError:  # a factory that takes the validated data
        return f"<{getattr(factory, '__name__', 'factory')}()>"
    if isinstance(made, (list, dict, set, tuple)) and not made:
        return repr(made)  # an empty container: show it
    return f"<{getattr(factory, '__name__', 'factory')}()>"  # a fresh value per instance


def _attributes(cls: type) -> list[str]:
    """Public attributes a class declares: pydantic fields (with defaults) or annotations.

    Protocols list theirs too (``Decider.name``), so an implementer sees every member.
    """
    fields = getattr(cls, "model_fields", None)
    out: list[str] = []
    if isinstance(fields, dict) and fields:
        for attr, info in fields.items():
            default = "" if info.is_required() else f" = {_default_text(info)}"
            desc = f": {info.description}" if info.description else ""
            out.append(f"- `{attr}: {_type_name(info.annotation)}{default}`{desc}")
        return out
    own = vars(cls).get("__annotations__", {})
    for attr, tp in own.items():
        if attr.startswith("_"):
            continue
        kind = "required attribute" if getattr(cls, "_is_protocol", False) else "attribute"
        out.append(f"- `{attr}: {tp if isinstance(tp, str) else _type_name(tp)}` ({kind})")
    return out


def _members(cls: type) -> dict[str, Any]:
    """What ``cls`` defines and inherits from our own bases (mixins included), as
    attribute lookup resolves it; members of third-party bases (pydantic, typing) are
    theirs to document."""
    out: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        if base is cls or base.__module__.startswith("automem_sdk"):
            out.update(vars(base))
    return out


def _render_class(name: str, cls: type) -> list[str]:
    out = [f"### class `{name}{_signature(cls)}`", "", _doc(cls) or "*(no docstring)*", ""]
    attrs = _attributes(cls)
    if attrs:
        out += ["Attributes / fields:", "", *attrs, ""]
        out += ["Methods:", ""]
    for attr, member in sorted(_members(cls).items()):
        if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
            continue
        if isinstance(member, property):
            out += [
                f"- **`{attr}`** (property): {_doc(member).splitlines()[0] if _doc(member) else ''}"
            ]
        else:
            first = _doc(member).splitlines()[0] if _doc(member) else ""
            out += [f"- **`{attr}{_signature(member)}`**: {first}"]
    out.append("")
    return out


def _stable(value: Any) -> Any:
    """``value`` with every set sorted (set order follows string hashing: not stable)."""
    if isinstance(value, frozenset | set):
        return sorted((_stable(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_stable(v) for v in value)
    return value


def render_module(module_name: str) -> list[str]:
    """Markdown lines documenting one module's ``__all__``.

    Raises:
        ImportError: the module cannot be imported (missing optional extra).
    """
    module = importlib.import_module(module_name)
    lines = [f"## `{module_name}`", "", _doc(module), ""]
    for name in getattr(module, "__all__", []):
        if name.startswith("__"):
            continue
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            first = _doc(obj).split("\n\n", 1)[0]
            lines += [f"### module `{obj.__name__}`", "", first, ""]
        elif inspect.isclass(obj):
            lines += _render_class(name, obj)
        elif _is_type_alias(obj):
            lines += [f"### type `{name}`", "", _describe_alias(obj), ""]
        elif callable(obj):
            lines += [f"### `{name}{_signature(obj)}`", "", _doc(obj) or "*(no docstring)*", ""]
        else:
            shown = pprint.pformat(_stable(obj), width=96, sort_dicts=False)
            lines += [f"### `{name}`", "", "```python", shown, "```", ""]
    return lines


def _is_type_alias(obj: object) -> bool:
    return typing.get_origin(obj) is not None and not inspect.isclass(obj)


def _describe_alias(obj: object) -> str:
    """A typing alias in words: ``Annotated[A | B, ...]`` -> "one of: `A`, `B`" (+ notes)."""
    args = typing.get_args(obj)
    meta = ""
    if typing.get_origin(obj) is typing.Annotated:
        inner, *extra = args
        discriminator = next(
            (getattr(m, "discriminator", None) for m in extra if getattr(m, "discriminator", None)),
            None,
        )
        if discriminator:
            meta = f" (a pydantic discriminated union on the `{discriminator}` field)"
        args = typing.get_args(inner) or (inner,)
    names = ", ".join(f"`{_type_name(a)}`" for a in args)
    return f"One of: {names}{meta}." if names else f"`{_type_name(obj)}`"


def render_prompts(scaffold_name: str = "generic") -> list[str]:
    """Markdown describing what each routine's prompt contains, from a built-in scaffold.

    Every routine turn sends two messages: the ``system`` prompt and one user message
    rendered from the routine's template (``log``, ``plan``; ``act`` for the task model
    in two-model mode). Placeholders are filled by the agent at each step.
    """
    from automem_sdk.scaffold import TEMPLATE_VARIABLES, load_scaffold

    sc = load_scaffold(scaffold_name)
    lines = [
        "## Prompts each routine sends",
        "",
        "Each routine turn sends two messages: the scaffold's `system` prompt, then one user "
        "message rendered from the routine's template: `log` (record what matters, end "
        "with `<|DONE|>`), `plan` (read memory, end with one `<|ACTION|>`), or `act` (the "
        "task model of two-model mode, given what memory returned). A later turn of the "
        "same routine adds the previous output and op results. Below: the placeholders "
        f"each template may use, and the `{scaffold_name}` scaffold's templates.",
        "",
    ]
    for routine, allowed in TEMPLATE_VARIABLES.items():
        text = getattr(sc.prompts, routine, "")
        lines += [
            f"### `{routine}`",
            "",
            "Placeholders: " + ", ".join(f"`{{{v}}}`" for v in sorted(allowed)),
            "",
            "```text",
            text.rstrip() or "(empty)",
            "```",
            "",
        ]
    return lines


def render_reference(modules: Iterable[str] = PUBLIC_MODULES) -> str:
    """The whole reference; modules whose extras are missing are listed as skipped."""
    lines = [
        "# API reference",
        "",
        "Generated from docstrings by `python -m automem_sdk.apidoc`.",
        "",
    ]
    for m in modules:
        try:
            lines += render_module(m)
        except ImportError as exc:
            lines += [f"## `{m}`", "", f"*(not importable here: {exc})*", ""]
    lines += render_prompts()
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write the reference to stdout or ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m automem_sdk.apidoc")
    parser.add_argument("--out", help="file to write (default: stdout)")
    parser.add_argument("modules", nargs="*", help="modules (default: the public ones)")
    args = parser.parse_args(argv)
    text = render_reference(args.modules or PUBLIC_MODULES)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
