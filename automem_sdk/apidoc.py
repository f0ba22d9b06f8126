"""Generate the API reference (Markdown) from docstrings.

``python -m automem_sdk.apidoc > docs/API.md`` documents every name in the ``__all__``
of the public modules: signature and docstring, classes with their public methods.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["PUBLIC_MODULES", "render_module", "render_reference"]

#: Modules documented by default, in order.
PUBLIC_MODULES: tuple[str, ...] = (
    "automem_sdk",
    "automem_sdk.store",
    "automem_sdk.ops",
    "automem_sdk.codec",
    "automem_sdk.tools",
    "automem_sdk.scaffold",
    "automem_sdk.agent",
    "automem_sdk.env",
    "automem_sdk.llm",
    "automem_sdk.trace",
    "automem_sdk.diagnostics",
    "automem_sdk.adapters",
    "automem_sdk.benchmarks",
    "automem_sdk.trainers.structural",
    "automem_sdk.trainers.behavioral",
    "automem_sdk.trainers.pipeline",
)


def _doc(obj: object) -> str:
    return inspect.cleandoc(inspect.getdoc(obj) or "").strip()


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj)).replace("'", "")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _render_class(name: str, cls: type) -> list[str]:
    out = [f"### class `{name}{_signature(cls)}`", "", _doc(cls) or "*(no docstring)*", ""]
    for attr, member in sorted(vars(cls).items()):
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
        if inspect.isclass(obj):
            lines += _render_class(name, obj)
        elif callable(obj):
            lines += [f"### `{name}{_signature(obj)}`", "", _doc(obj) or "*(no docstring)*", ""]
        else:
            shown = _stable(obj)
            lines += [f"### `{name}`", "", f"`{shown!r}`"[:300], ""]
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
