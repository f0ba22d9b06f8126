"""Lazy package exports: a name is imported from its module on first use.

A package ``__init__`` lists what it exports and where each name lives, then hands the
two module hooks this builds to Python (PEP 562)::

    __getattr__, __dir__ = lazy_exports(__name__, {"MemoryStore": ".store"})

so ``import package`` stays cheap and a heavy dependency loads only with the name that
needs it. When that dependency is missing, the error names the extra that provides it
(``extras``: module -> extra) or a given install hint (``hints``: missing top-level
package -> the line to show), as a :class:`~automem_sdk.errors.MissingExtraError`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    exports: Mapping[str, str],
    *,
    extras: Mapping[str, str] | None = None,
    hints: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package that exports ``exports`` lazily.

    Args:
        package: the package's ``__name__``.
        exports: exported name -> module holding it (absolute, or relative to
            ``package`` when it starts with ``.``).
        extras: module (as written in ``exports``) -> the extra that provides its
            dependencies, for the missing-dependency message.
        hints: missing top-level package -> the install line to show instead.

    Returns:
        ``(__getattr__, __dir__)``. A resolved name is cached in the package's globals,
        so the hook runs once per name.
    """
    extras = extras or {}
    hints = hints or {}

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            mod = importlib.import_module(module, package if module.startswith(".") else None)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "?").split(".")[0]
            if missing == package.split(".")[0]:
                raise  # one of our own modules: a bug, not a missing extra
            hint = hints.get(missing)
            if hint is None and module in extras:
                hint = f"pip install 'automem-sdk[{extras[module]}]'"
            if hint is None:
                raise
            from automem_sdk.errors import MissingExtraError

            raise MissingExtraError(f"{name} needs {missing!r}: {hint}") from exc
        value = getattr(mod, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[package])
        return sorted(set(namespace.get("__all__", ())) | set(exports))

    return __getattr__, __dir__
