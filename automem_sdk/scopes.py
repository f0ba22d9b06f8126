"""Scoped memory: one sandboxed store per namespace (per user, thread, assistant...).

A namespace template such as ``"users/{user_id}"`` is filled from a call's context
(LangChain's ``configurable``, a runtime context, MCP session data: any mapping) and
names a sub-root of a base URL. Each namespace is its own :class:`MemoryStore` with its
own journal, so one user's notes can never appear in another user's prompt, and a
namespace can be exported, compacted or deleted on its own.

>>> scopes = StoreScopes("memory://app", "users/{user_id}")
>>> scopes.get({"user_id": "alice"}).write("notes.md", "likes tea\\n")
1
>>> scopes.get({"user_id": "bob"}).list()
[]
>>> scopes.get({})
Traceback (most recent call last):
...
automem_sdk.errors.AutomemError: memory namespace 'users/{user_id}' needs 'user_id' ...

A missing key is an error, never a silent fall back to shared memory.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from automem_sdk.errors import AutomemError, MemoryPathError
from automem_sdk.store_paths import validate_prefix

if TYPE_CHECKING:
    from automem_sdk.store import MemoryStore, StoreLimits

__all__ = ["NamespaceTemplate", "StoreScopes", "context_values"]

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.@+=-]{1,128}$")


class NamespaceTemplate:
    """A ``str.format``-style template of a store sub-root, e.g. ``"users/{user_id}"``.

    Args:
        template: ``/``-separated segments with ``{key}`` placeholders (no format specs).

    Raises:
        AutomemError: the template is malformed.
    """

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        keys: list[str] = []
        try:
            for _text, field, spec, conv in string.Formatter().parse(self.template):
                if field is None:
                    continue
                if not field.isidentifier() or spec or conv:
                    raise AutomemError(
                        f"memory namespace {template!r}: placeholder {{{field}}} must be a "
                        "plain name such as {user_id}"
                    )
                keys.append(field)
        except ValueError as exc:
            raise AutomemError(f"memory namespace {template!r} is malformed: {exc}") from exc
        self.keys: tuple[str, ...] = tuple(dict.fromkeys(keys))

    def fill(self, context: Mapping[str, Any]) -> str:
        """Return the sub-root for ``context``.

        Values must be short identifiers (letters, digits, ``_ . @ + = -``), so a value
        can never add a path segment or escape its parent.

        Raises:
            AutomemError: a key is missing or its value is not a safe identifier.
        """
        values: dict[str, str] = {}
        for key in self.keys:
            value = context.get(key)
            if value is None or value == "":
                raise AutomemError(
                    f"memory namespace {self.template!r} needs {key!r} in the call's config "
                    f"or context (e.g. config={{'configurable': {{'{key}': ...}}}}); "
                    "refusing to fall back to shared memory"
                )
            text = str(value)
            if not _SAFE_VALUE.match(text) or set(text) == {"."}:
                raise AutomemError(
                    f"memory namespace {self.template!r}: {key}={text[:40]!r} is not a safe "
                    "identifier (letters, digits and _ . @ + = - only, at most 128 chars)"
                )
            values[key] = text
        filled = self.template.format(**values)
        try:
            return validate_prefix(filled)
        except MemoryPathError as exc:
            raise AutomemError(
                f"memory namespace {filled!r} is not a valid sub-root: {exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"NamespaceTemplate({self.template!r})"


def context_values(*sources: Mapping[str, Any] | object | None) -> dict[str, Any]:
    """Merge the values a namespace can be filled from, later sources winning.

    Each source may be a mapping, a LangChain ``RunnableConfig`` (its ``configurable``
    and ``metadata`` are used), or an object with attributes (a runtime context
    dataclass).
    """
    out: dict[str, Any] = {}
    for src in sources:
        if src is None:
            continue
        if isinstance(src, Mapping):
            for inner in ("metadata", "configurable"):
                nested = src.get(inner)
                if isinstance(nested, Mapping):
                    out.update(nested)
            out.update({k: v for k, v in src.items() if k not in ("metadata", "configurable")})
        else:
            out.update({k: v for k, v in vars(src).items() if not k.startswith("_")})
    return out


class StoreScopes:
    """A pool of stores, one per filled namespace, under one base URL.

    Args:
        url: base fsspec URL; namespace ``users/alice`` lives at ``<url>/users/alice``.
        template: the namespace template (``None`` or ``""``: one shared store at ``url``).
        storage_options: passed to every store.
        limits: limits of each scoped store.
        **store_kwargs: further :class:`MemoryStore` arguments.
    """

    def __init__(
        self,
        url: str,
        template: str | NamespaceTemplate | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
        limits: StoreLimits | None = None,
        **store_kwargs: Any,
    ) -> None:
        self.url = url.rstrip("/")
        if isinstance(template, str):
            template = NamespaceTemplate(template) if template.strip("/") else None
        self.template: NamespaceTemplate | None = template
        self._storage_options = storage_options
        self._limits = limits
        self._store_kwargs = store_kwargs
        self._stores: dict[str, MemoryStore] = {}
        self._lock = threading.Lock()

    @property
    def scoped(self) -> bool:
        """Whether a namespace template is set."""
        return self.template is not None

    def namespace(self, context: Mapping[str, Any] | None = None) -> str:
        """The sub-root for ``context`` (``""`` when unscoped)."""
        if self.template is None:
            return ""
        return self.template.fill(context or {})

    def get(self, context: Mapping[str, Any] | None = None) -> MemoryStore:
        """The store for ``context``, opened on first use and kept.

        Raises:
            AutomemError: a namespace key is missing or unsafe.
        """
        from automem_sdk.store import MemoryStore

        ns = self.namespace(context)
        with self._lock:
            store = self._stores.get(ns)
            if store is None:
                url = f"{self.url}/{ns}" if ns else self.url
                store = MemoryStore(url, self._storage_options, self._limits, **self._store_kwargs)
                self._stores[ns] = store
            return store

    def namespaces(self) -> list[str]:
        """Namespaces opened so far by this pool."""
        with self._lock:
            return sorted(self._stores)

    def close(self) -> None:
        """Close every store opened by this pool."""
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()
