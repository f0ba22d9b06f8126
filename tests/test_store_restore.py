"""Model-based test: after many random ops, restore(k) reproduces the tree at version k."""

from __future__ import annotations

import random
from typing import Any

import pytest

from automem_sdk.errors import MemoryConflictError, MemoryNotFoundError
from automem_sdk.store import MemoryStore

NAMES = ["a.md", "b.md", "notes/x.md", "notes/y.md", "deep/er/z.md", "c.md", "notes"]
WORDS = ["wood", "stone", "iron", "ghost", "door", "key", "map", "x", "\u00e9t\u00e9", "3,4"]


def _random_ops(store: MemoryStore, rng: random.Random, n_ops: int) -> list[dict[str, str]]:
    """Apply ``n_ops`` random ops to ``store`` and a dict model; return the model per version."""
    model: dict[str, str] = {}
    models: list[dict[str, str]] = [{}]
    for _ in range(n_ops):
        files = sorted(model)
        kind = rng.choice(["write", "write", "append", "create", "delete", "rename", "restore"])
        path = rng.choice(NAMES)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))
        text += rng.choice(["", "\n", "\n\n"])
        conflict = path in model or any(f.startswith(path + "/") for f in model)
        conflict = conflict or any(path.startswith(f + "/") for f in model)
        try:
            if kind == "write":
                v = store.write(path, text)
                model[path] = text
            elif kind == "append":
                v = store.append(path, text)
                model[path] = model.get(path, "") + text
            elif kind == "create":
                v = store.create(path, text)
                assert not conflict
                model[path] = text
            elif kind == "delete":
                target = rng.choice(files) if files else path
                v = store.delete(target)
                del model[target]
            elif kind == "rename":
                src = rng.choice(files) if files else path
                v = store.rename(src, path)
                assert not conflict
                model[path] = model.pop(src)
            else:
                k = rng.randrange(len(models))
                v = store.restore(k)
                model = dict(models[k])
        except MemoryConflictError:
            assert conflict or kind in ("write", "append")
            continue
        except MemoryNotFoundError:
            assert not files
            continue
        assert v == len(models)
        models.append(dict(model))
    return models


@pytest.mark.parametrize("seed", [0, 1])
def test_restore_reproduces_any_version(
    store_url: tuple[str, dict[str, Any] | None], raw_tree: Any, seed: int
) -> None:
    url, options = store_url
    if url.startswith("s3://") and seed:
        pytest.skip("one seed is enough on the (slow) moto server")
    n_ops = 60 if url.startswith("s3://") else 200
    store = MemoryStore(url, options)
    rng = random.Random(seed)
    models = _random_ops(store, rng, n_ops)
    assert len(models) > n_ops // 2  # most ops really committed
    assert store.version == len(models) - 1
    assert raw_tree(url, options) == models[-1] == store.snapshot()

    picks = sorted({0, 1, len(models) // 3, len(models) // 2, len(models) - 2})
    picks += rng.sample(range(len(models)), 3)
    for k in picks:
        v = store.restore(k)
        models.append(dict(models[k]))
        assert v == len(models) - 1
        assert raw_tree(url, options) == models[k], k
        assert store.snapshot() == models[k]
        assert store.diff(k, v) == ""
        for path, text in models[k].items():
            assert store.read(path) == text
        word = rng.choice(WORDS)
        expected = sorted(
            (p, i)
            for p, t in models[k].items()
            for i, ln in enumerate(t.splitlines(), 1)
            if word.casefold() in ln.casefold()
        )
        assert sorted((h.path, h.line) for h in store.search(word, limit=10_000)) == expected

    reopened = MemoryStore(url, options)
    assert reopened.version == len(models) - 1
    for k in rng.sample(range(len(models)), 5):
        assert reopened.snapshot(k) == models[k], k
