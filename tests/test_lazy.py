"""Lazy package exports: first use imports, a missing dependency names its extra."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from automem_sdk.errors import MissingExtraError


@pytest.fixture
def pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        "from automem_sdk.lazy import lazy_exports\n"
        "__all__ = ['Good', 'Heavy', 'Hinted', 'Broken']\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {\n"
        "    'Good': '.good', 'Heavy': '.heavy', 'Hinted': '.hinted', 'Broken': '.broken'},\n"
        "    extras={'.heavy': 'games'}, hints={'nosuchlib_b': 'pip install nosuchlib-b'})\n"
    )
    (root / "good.py").write_text("Good = object()\n")
    (root / "heavy.py").write_text("import nosuchlib_a\nHeavy = 1\n")
    (root / "hinted.py").write_text("import nosuchlib_b\nHinted = 1\n")
    (root / "broken.py").write_text("import lazypkg.gone\nBroken = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lazypkg"
    for name in [m for m in sys.modules if m == "lazypkg" or m.startswith("lazypkg.")]:
        del sys.modules[name]


def test_first_use_imports_and_caches(pkg: str) -> None:
    import importlib

    mod = importlib.import_module(pkg)
    assert "lazypkg.good" not in sys.modules
    good = mod.Good
    assert "lazypkg.good" in sys.modules and vars(mod)["Good"] is good
    assert {"Good", "Heavy", "Hinted", "Broken"} <= set(dir(mod))
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = mod.Nope


def test_missing_dependency_names_the_extra_or_hint(pkg: str) -> None:
    import importlib

    mod = importlib.import_module(pkg)
    with pytest.raises(
        MissingExtraError, match=r"Heavy needs 'nosuchlib_a': .*automem-sdk\[games\]"
    ):
        _ = mod.Heavy
    with pytest.raises(
        MissingExtraError, match="Hinted needs 'nosuchlib_b': pip install nosuchlib-b"
    ):
        _ = mod.Hinted
    # a module of our own that is missing is a bug: the plain error, not an install hint
    with pytest.raises(ModuleNotFoundError) as info:
        _ = mod.Broken
    assert not isinstance(info.value, MissingExtraError)
