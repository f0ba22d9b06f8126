"""Storage format 2: migration from format 1, deltas, bounded growth."""

from __future__ import annotations

import json
import os
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
    """Storage per live byte: <= 10x before compact (format 1: ~1,000x), <= 3x after."""
    root = tmp_path / "s"
    store = MemoryStore(str(root))
    line = "x" * 99 + "\n"
    for _ in range(2000):
        store.append("log.md", line)

    def ours() -> int:
        return sum(p.stat().st_size for p in (root / ".automem").rglob("*") if p.is_file())

    live = (root / "log.md").stat().st_size
    before = ours()
    store.compact(keep_last=1)
    after = ours()
    assert live == 200_000
    assert before <= 10 * live, (before, live)
    assert after <= 3 * live, (after, live)
    assert MemoryStore(str(root)).read("log.md") == line * 2000


def test_delta_keeps_utf8_boundaries_and_refuses_when_nothing_is_saved() -> None:
    old = "naïve café ".encode() * 50
    new = old[:-1] + "é!".encode()
    d = make_delta("base", old, new)
    assert d is not None and apply_deltas(old, [d]) == new
    assert make_delta("base", b"abc", b"xyz") is None
    assert MAX_CHAIN >= 100


def test_reopen_after_a_checkpoint_reads_only_the_journal_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automem_sdk.store_journal import Backend

    url = str(tmp_path / "s")
    store = MemoryStore(url)
    texts = {}
    for i in range(300):
        v = store.append(f"f{i % 3}.md", f"line {i}\n")
        texts[v] = store.read(f"f{i % 3}.md")
    store.close()  # writes the checkpoint
    tail = MemoryStore(url)
    tail.write("late.md", "after the checkpoint\n")
    tail.close()
    starts: list[int] = []
    real = Backend.read_from

    def spy(self: Backend, rel: str, start: int) -> bytes:
        starts.append(start)
        return real(self, rel, start)

    monkeypatch.setattr(Backend, "read_from", spy)
    again = MemoryStore(url)
    assert starts and min(starts) > 0  # the journal is never read from its start on open
    assert again.version == 301 and again.read("late.md") == "after the checkpoint\n"
    assert again.search("line 299")[0].path == "f2.md"  # tokenised on the first search
    # everything before the checkpoint is still there, read when asked for
    assert len(again.history("f0.md")) == 100
    assert 0 in starts
    for v in (1, 150, 300):
        path = f"f{(v - 1) % 3}.md"
        assert again.snapshot(v)[path] == texts[v]
    assert "+line 299" in again.diff(298, 300)


def test_a_checkpoint_that_no_longer_matches_the_journal_is_ignored(tmp_path: Path) -> None:
    from automem_sdk.store_repair import repair

    url = str(tmp_path / "s")
    store = MemoryStore(url)
    for i in range(40):
        store.append("log.md", f"{i}\n")
    store.close()
    journal = tmp_path / "s" / ".automem" / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    lines.insert(5, b"garbage")
    journal.write_bytes(b"\n".join(lines))
    repair((tmp_path / "s").as_uri())  # rewrites the journal: every offset moves
    again = MemoryStore(url)
    assert again.version == 40 and again.read("log.md") == "".join(f"{i}\n" for i in range(40))
    again.append("log.md", "40\n")
    assert MemoryStore(url).read("log.md").endswith("39\n40\n")


@pytest.mark.s3
def test_s3_open_after_a_checkpoint_costs_the_same_requests_at_any_length(
    s3_store_url: tuple[str, dict[str, object]],
) -> None:
    import fsspec

    url, opts = s3_store_url
    fs, _ = fsspec.core.url_to_fs(url, **opts)
    calls: list[str] = []

    def count(event_name: str, **_kw: object) -> None:
        calls.append(event_name.split(".")[-1])

    counts = []
    for n, sub in ((20, "short"), (200, "long")):
        store = MemoryStore(f"{url}/{sub}", opts, create=True)
        with store.batch():
            store.write("seed.md", "x")
        for i in range(n):
            store.write(f"f{i % 4}.md", f"value {i}\n")
        store.close()  # checkpoint
        fs.s3.meta.events.register("before-call.s3", count)
        try:
            calls.clear()
            again = MemoryStore(f"{url}/{sub}", opts)
            counts.append(len(calls))
        finally:
            fs.s3.meta.events.unregister("before-call.s3", count)
        assert again.read("f3.md") == f"value {n - 1}\n"
    assert counts[0] == counts[1] <= 8, counts


@pytest.mark.parametrize("url_kind", ["file", "memory"])
def test_compact_keeps_every_kept_version_and_frees_the_rest(tmp_path: Path, url_kind: str) -> None:
    from automem_sdk.errors import MemoryNotFoundError

    url = str(tmp_path / "s") if url_kind == "file" else f"memory://compact-{tmp_path.name}"
    store = MemoryStore(url)
    other = MemoryStore(url)  # a second store on the same root sees the rewrite
    store.write("big.md", "B" * 6000 + "\n")
    snaps = {}
    for i in range(60):
        store.append("log.md", f"{i:03d} " + "x" * 95 + "\n")
        if i % 7 == 0:
            store.write("big.md", f"version {i}\n" + "B" * 6000 + "\n")
        if i == 30:
            store.restore(10)
        snaps[store.version] = store.snapshot()
    version = store.version
    result = store.compact(keep_last=20)
    assert result.horizon == version - 19 and result.versions_dropped == version - 20
    for v in range(version - 19, version + 1):
        if v in snaps:
            assert store.snapshot(v) == snaps[v], v
    with pytest.raises(MemoryNotFoundError, match="dropped by compact"):
        store.snapshot(version - 20)
    assert other.read("log.md") == snaps[version]["log.md"]  # after the rewrite
    other.append("log.md", "from the other store\n")
    reopened = MemoryStore(url)
    assert reopened.read("log.md").endswith("from the other store\n")
    assert reopened.snapshot(version - 5) == snaps[version - 5]
    assert reopened.history()[0].version == version - 19
    again = reopened.compact(keep_last=1)
    assert reopened.snapshot() == MemoryStore(url).snapshot()
    assert again.horizon == reopened.version


def test_memory_compact_command_and_fsck_of_a_compacted_store(tmp_path: Path) -> None:
    import subprocess
    import sys

    from automem_sdk.store_repair import fsck

    root = tmp_path / "s"
    store = MemoryStore(str(root))
    for i in range(30):
        store.append("a.md", f"{i}\n")
    store.close()

    def automem(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "automem_sdk.cli", "memory", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    done = automem("compact", str(root), "--keep-last", "5")
    assert done.returncode == 0 and "versions 26..30 kept, 25 dropped" in done.stdout
    gone = automem("cat", str(root), "a.md", "--at", "3")
    assert gone.returncode == 1 and "dropped by compact" in gone.stderr
    assert automem("cat", str(root), "a.md", "--at", "27").stdout.endswith("26\n")
    assert automem("compact", str(root), "--keep-last", "0").returncode == 2
    report = fsck(root.as_uri())
    assert report.ok and report.versions == 30, report.lines()


@pytest.mark.s3
def test_compact_on_s3_keeps_the_kept_versions_and_batches_its_deletes(
    s3_store_url: tuple[str, dict[str, object]],
) -> None:
    import fsspec

    url, opts = s3_store_url
    store = MemoryStore(url, opts)
    snaps = {}
    for i in range(30):
        store.write(f"f{i % 3}.md", os.urandom(3000).hex() + "\n")  # 6 KiB: objects
        snaps[store.version] = store.snapshot()
    other = MemoryStore(url, opts)  # opened before the compaction
    fs, _root = fsspec.core.url_to_fs(url, **opts)
    deletes: list[str] = []

    def count(event_name: str, **_kw: object) -> None:
        if "Delete" in event_name:
            deletes.append(event_name)

    fs.s3.meta.events.register("before-call.s3", count)
    try:
        result = store.compact(keep_last=5, grace_s=0)
    finally:
        fs.s3.meta.events.unregister("before-call.s3", count)
    assert result.horizon == 26 and result.objects_deleted >= 20
    assert len(deletes) <= 3, deletes  # batched, not one request per object
    again = MemoryStore(url, opts)
    for v in range(26, 31):
        assert again.snapshot(v) == snaps[v]
    again.write("f0.md", "after\n")
    assert MemoryStore(url, opts).read("f0.md") == "after\n"
    from automem_sdk.errors import MemoryNotFoundError

    other.refresh()
    assert other.read("f0.md") == "after\n" and other.snapshot(28) == snaps[28]
    with pytest.raises(MemoryNotFoundError, match="dropped by compact"):
        other.snapshot(3)
