"""Storage format 2: migration from format 1, deltas, bounded growth."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from automem_sdk.store import MemoryStore
from automem_sdk.store_delta import MAX_CHAIN, apply_deltas, make_delta
from automem_sdk.store_journal import FORMAT_VERSION

DATA = Path(__file__).parent / "data"


def _v1_copy(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(DATA / "store_v1", root)
    return root


def _format(root: Path) -> int:
    return int(json.loads((root / ".automem" / "format.json").read_text())["schema_version"])


def test_a_format_1_store_migrates_with_every_version_history_and_diff_identical(
    tmp_path: Path,
) -> None:
    expected = json.loads((DATA / "store_v1.expected.json").read_text())
    root = _v1_copy(tmp_path)
    assert _format(root) == 1
    store = MemoryStore(str(root))
    assert _format(root) == FORMAT_VERSION == 2
    assert store.version == expected["version"]
    for v, files in expected["snapshots"].items():
        assert store.snapshot(int(v)) == files, f"version {v}"
    for path, versions in expected["history"].items():
        assert [e.version for e in store.history(path)] == versions, path
    assert store.diff(3, 9) == expected["diff_3_9"]
    # and it keeps working as a format-2 store: deltas on top of format-1 objects
    for i in range(20):
        store.append("log.md", f"step {7 + i}: went on\n")
    text = store.read("log.md")
    store.close()
    again = MemoryStore(str(root))
    assert again.read("log.md") == text
    assert again.snapshot(expected["version"]) == expected["snapshots"][str(expected["version"])]


def test_read_only_open_of_a_format_1_store_changes_nothing(tmp_path: Path) -> None:
    root = _v1_copy(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    store = MemoryStore(str(root), read_only=True)
    assert store.read("log.md").endswith("step 6: after restore\n")
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_a_newer_format_is_refused_with_the_fix(tmp_path: Path) -> None:
    from automem_sdk.errors import AutomemError

    root = _v1_copy(tmp_path)
    (root / ".automem" / "format.json").write_text('{"schema_version": 99, "journal": "jsonl"}')
    with pytest.raises(AutomemError, match="upgrade automem-sdk"):
        MemoryStore(str(root))


@pytest.mark.parametrize("url_kind", ["file", "memory"])
def test_every_version_of_an_appended_and_edited_file_reads_back(
    tmp_path: Path, url_kind: str
) -> None:
    """Deltas chain over appends, inserts and edits; every version is rebuilt exactly."""
    url = str(tmp_path / "s") if url_kind == "file" else f"memory://fmt-{tmp_path.name}"
    store = MemoryStore(url)
    rng = random.Random(7)
    texts: dict[int, str] = {}
    text = ""
    for i in range(300):
        r = rng.random()
        if r < 0.6 or not text:
            text += f"line {i}: {'é' * rng.randint(0, 3)}{rng.random():.6f}\n" * 8
            v = store.append("f.md", text[len(store.read("f.md")) if store.exists("f.md") else 0 :])
        elif r < 0.8:
            k = rng.randrange(len(text))
            text = text[:k] + "€ inserted €" + text[k:]
            v = store.write("f.md", text)
        else:
            k = rng.randrange(len(text))
            text = text[:k] + text[k + 5 :]
            v = store.write("f.md", text)
        texts[v] = text
    store.close()
    again = MemoryStore(url)
    for v, t in texts.items():
        assert again.snapshot(v)["f.md"] == t, f"version {v}"


def test_appends_store_what_was_written_not_file_size_times_writes(tmp_path: Path) -> None:
    store = MemoryStore(str(tmp_path / "s"))
    line = "x" * 99 + "\n"
    for _ in range(2000):
        store.append("log.md", line)
    store.close()
    live = (tmp_path / "s" / "log.md").stat().st_size
    ours = sum(p.stat().st_size for p in (tmp_path / "s" / ".automem").rglob("*") if p.is_file())
    assert live == 200_000
    assert ours <= 10 * live, (ours, live)  # format 1 kept ~1,000x the live bytes here


def test_delta_keeps_utf8_boundaries_and_refuses_when_nothing_is_saved() -> None:
    old = "naïve café ".encode() * 50
    new = old[:-1] + "é!".encode()
    d = make_delta("base", old, new)
    assert d is not None and apply_deltas(old, [d]) == new
    assert make_delta("base", b"abc", b"xyz") is None
    assert MAX_CHAIN >= 100
