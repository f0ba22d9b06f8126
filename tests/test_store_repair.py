"""fsck and repair on damaged stores: the latest content survives, writes work again."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from automem_sdk import MemoryStore
from automem_sdk.store_journal import ObjectStore, sha256_hex
from automem_sdk.store_repair import fsck, repair


def _big(line: str, fill: str) -> str:
    """A content too big to ride in a journal line, sharing nothing with the others."""
    return line + fill * 5000 + "\n"


LATEST = {
    "notes.md": _big("c\n", "c"),
    "plan.md": _big("go north\n", "n"),
    "deep/map.md": _big("#..\n", "m"),
}


def _build(file_url: str) -> Path:
    store = MemoryStore(file_url)
    store.write("notes.md", _big("a\n", "a"))
    store.write("notes.md", _big("b\n", "b"))
    store.write("plan.md", LATEST["plan.md"])
    store.write("deep/map.md", LATEST["deep/map.md"])
    store.write("notes.md", LATEST["notes.md"])
    store.close()
    return Path(file_url[len("file://") :])


def _journal(root: Path) -> Path:
    return root / ".automem" / "journal.jsonl"


def _torn_then_write(root: Path) -> None:
    with _journal(root).open("ab") as fh:
        fh.write(b'{"version": 6, "op": "wri')  # a writer killed mid-line
    MemoryStore(root.as_uri()).write("later.md", "after the tear\n")


def _garbage_line(root: Path) -> None:
    lines = _journal(root).read_bytes().split(b"\n")
    lines.insert(2, b"\x00\xffnot json at all")
    _journal(root).write_bytes(b"\n".join(lines))


def _duplicated_line(root: Path) -> None:
    lines = _journal(root).read_bytes().split(b"\n")
    lines.insert(3, lines[2])
    _journal(root).write_bytes(b"\n".join(lines))


def _missing_object(root: Path) -> None:
    (root / ObjectStore.path(sha256_hex(LATEST["notes.md"].encode()))).unlink()


def _objects_deleted(root: Path) -> None:
    shutil.rmtree(root / ".automem" / "objects")
    (root / ".automem" / "index.json").unlink(missing_ok=True)


def _corrupt_object(root: Path) -> None:
    (root / ObjectStore.path(sha256_hex(LATEST["plan.md"].encode()))).write_bytes(b"tampered")
    (root / ".automem" / "index.json").unlink(missing_ok=True)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "torn-last-line-then-write": _torn_then_write,
    "garbage-line": _garbage_line,
    "duplicated-line": _duplicated_line,
    "missing-object": _missing_object,
    "objects-folder-deleted": _objects_deleted,
    "corrupt-object": _corrupt_object,
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_fsck_finds_and_repair_fixes(file_url: str, kind: str) -> None:
    root = _build(file_url)
    DAMAGE[kind](root)
    expected = dict(LATEST)
    if kind == "torn-last-line-then-write":
        expected["later.md"] = "after the tear\n"
    before = fsck(file_url)
    if kind != "torn-last-line-then-write":  # a tear followed by a write is a skipped line
        assert not before.ok, before.lines()
    report = repair(file_url)
    assert not [p for p in report.problems if p.fixable], report.lines()
    assert fsck(file_url).ok or kind == "objects-folder-deleted", fsck(file_url).lines()
    store = MemoryStore(file_url)
    assert store.snapshot() == expected
    for path, text in expected.items():
        assert (root / path).read_text() == text  # user files untouched
    store.write("notes.md", "d\n")
    assert MemoryStore(file_url).read("notes.md") == "d\n"
    if kind in ("garbage-line", "torn-last-line-then-write"):
        assert (root / ".automem" / "journal.rejected.jsonl").is_file()


def test_fsck_of_a_healthy_store_is_clean_and_changes_nothing(file_url: str) -> None:
    root = _build(file_url)
    snapshot = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    report = fsck(file_url)
    assert report.ok and report.versions == 5
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == snapshot


def test_open_survives_a_lost_object_without_repair(file_url: str) -> None:
    root = _build(file_url)
    _objects_deleted(root)
    store = MemoryStore(file_url)  # rebuilt from the identical tree files
    assert store.snapshot() == LATEST
    (root / "plan.md").write_text("edited outside\n")
    _objects_deleted(root)
    store = MemoryStore(file_url)  # object gone and file differs: adopted, not lost
    assert store.read("plan.md") == "edited outside\n"


@pytest.mark.parametrize("by", ["path", "pattern"])
def test_redact_purges_the_content_from_every_version(tmp_path: Path, by: str) -> None:
    from automem_sdk.errors import AutomemError

    root = tmp_path / "store"
    store = MemoryStore(str(root))
    store.write("alice.md", "alice: phone 555-0199\n")
    store.append("alice.md", "alice: likes tea\n")
    store.write("shared.md", "team notes; alice phone 555-0199 too\n")
    store.write("shared.md", "team notes\n")
    store.write("bob.md", "bob: likes coffee\n")
    old = store.version
    if by == "path":
        v = store.redact(path="alice.md", reason="GDPR request #12")
        secret = b"likes tea"
        assert not store.exists("alice.md")
    else:
        v = store.redact(pattern=r"555-0199", reason="phone numbers")
        secret = b"555-0199"
        assert store.read("alice.md") == "alice: phone [redacted]\nalice: likes tea\n"
    store.close()
    hits = [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert hits == []  # in no file under the store root: objects, cache, journal, tree
    again = MemoryStore(str(root))
    last = again.history()[-1]
    assert (
        last.version == v
        and last.op == "redact"
        and last.path in ("GDPR request #12", "phone numbers")
    )
    assert last.changes
    with pytest.raises(AutomemError, match="redacted"):
        again.snapshot(old - 3)
    assert again.read("bob.md") == "bob: likes coffee\n"
    again.write("bob.md", "bob: likes tea now\n")
    assert fsck(str(root)).ok  # purged objects are not reported missing


def test_memory_fsck_repair_redact_commands(file_url: str) -> None:
    import subprocess
    import sys

    root = _build(file_url)
    _garbage_line(root)

    def automem(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "automem_sdk.cli", "memory", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    found = automem("fsck", file_url)
    assert found.returncode == 1 and "unreadable-line" in found.stdout
    fixed = automem("repair", file_url)
    assert fixed.returncode == 0 and "set aside" in fixed.stdout
    assert automem("fsck", file_url).returncode == 0
    gone = automem("redact", file_url, "--pattern", "go north", "--reason", "test")
    assert gone.returncode == 0 and "purged" in gone.stdout
    assert not [p for p in root.rglob("*") if p.is_file() and b"go north" in p.read_bytes()]


@pytest.mark.s3
def test_redact_on_s3_purges_entries_segments_packs_and_objects(
    s3_store_url: tuple[str, dict[str, object]],
) -> None:
    import fsspec

    url, opts = s3_store_url
    store = MemoryStore(url, opts)
    store.write("alice.md", "alice: phone 555-0199\n")  # carried in the entry
    store.write("big.md", "555-0199 " + "b" * 6000 + "\n")  # a content object
    with store.batch():  # a pack
        store.write("p1.md", "call 555-0199 " + "c" * 5000 + "\n")
        store.write("p2.md", "nothing secret " + "d" * 5000 + "\n")
    for i in range(20):
        store.append("log.md", f"step {i}\n")
    store.close()  # checkpoint: entries folded into a segment
    store = MemoryStore(url, opts)
    store.append("alice.md", "alice: likes tea\n")  # a delta on a purged base
    v = store.redact(pattern=r"555-0199", reason="phone numbers")
    store.close()
    fs, root = fsspec.core.url_to_fs(url, **opts)
    fs.invalidate_cache()
    leaks = [p for p in fs.find(root) if b"555-0199" in fs.cat_file(p)]
    assert leaks == []
    again = MemoryStore(url, opts)
    assert again.history()[-1].version == v and again.history()[-1].op == "redact"
    assert again.read("alice.md") == "alice: phone [redacted]\nalice: likes tea\n"
    assert again.read("p2.md").startswith("nothing secret")
    assert again.read("log.md").endswith("step 19\n")


def test_redact_a_version_range_purges_what_those_versions_wrote(tmp_path: Path) -> None:
    import subprocess
    import sys

    from automem_sdk.errors import AutomemError

    root = tmp_path / "store"
    store = MemoryStore(str(root))
    store.write("a.md", "kept one\n")  # 1
    store.write("a.md", "secret two\n")  # 2
    store.write("b.md", "secret three\n")  # 3
    store.restore(1)  # 4: a tree manifest, which redact must leave alone
    store.write("a.md", "now four\n")  # 5
    store.close()
    done = subprocess.run(
        [sys.executable, "-m", "automem_sdk.cli", "memory", "redact", str(root),
         "--versions", "2-3", "--reason", "test"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = MemoryStore(str(root))
    assert not [p for p in root.rglob("*") if p.is_file() and b"secret" in p.read_bytes()]
    assert again.snapshot(1) == {"a.md": "kept one\n"} and again.snapshot(4) == {
        "a.md": "kept one\n"
    }
    with pytest.raises(AutomemError, match="redacted"):
        again.snapshot(2)
    assert again.read("a.md") == "now four\n"
    bad = subprocess.run(
        [sys.executable, "-m", "automem_sdk.cli", "memory", "redact", str(root), "--versions", "3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "use A-B" in bad.stderr
