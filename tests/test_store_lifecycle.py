"""Store lifecycle: private files, read-only opens, lost newlines, a full disk."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automem_sdk import MemoryNotFoundError, MemoryStore
from automem_sdk.errors import AutomemError, MemoryReadOnlyError
from automem_sdk.store_journal import Backend


def _root(file_url: str) -> Path:
    return Path(file_url[len("file://") :])


def test_files_and_folders_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        root = tmp_path / "new-store"
        store = MemoryStore(str(root / "missing" / "parents"))
        root_mode = stat.S_IMODE((root / "missing").stat().st_mode)
        assert root_mode == 0o700, oct(root_mode)  # folders above the root too
        store = MemoryStore(str(root))
        store.write("a/b/notes.md", "secret\n")
        store.append("log.md", "x\n")
        store.rename("a/b/notes.md", "c/notes.md")
    finally:
        os.umask(old)
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, "."]:
            mode = stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode)
            assert mode & 0o077 == 0, (os.path.join(dirpath, name), oct(mode))
            seen += 1
    assert seen > 8  # files, folders, journal, objects, lock


def test_group_access_is_configurable(tmp_path: Path) -> None:
    store = MemoryStore(str(tmp_path / "s"), file_mode=0o640, dir_mode=0o750)
    store.write("d/n.md", "x")
    assert stat.S_IMODE((tmp_path / "s" / "d" / "n.md").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "s" / "d").stat().st_mode) == 0o750


def test_read_only_open_reads_and_refuses_writes(file_url: str) -> None:
    MemoryStore(file_url).write("notes.md", "hello\n")
    before = sorted(p.relative_to(_root(file_url)) for p in _root(file_url).rglob("*"))
    ro = MemoryStore(file_url, read_only=True)
    assert ro.read("notes.md") == "hello\n" and ro.search("hello")[0].line == 1
    for call in (
        lambda: ro.write("notes.md", "x"),
        lambda: ro.append("n.md", "x"),
        lambda: ro.delete("notes.md"),
        lambda: ro.restore(0),
    ):
        with pytest.raises(MemoryReadOnlyError, match="read-only"):
            call()
    ro.close()
    after = sorted(p.relative_to(_root(file_url)) for p in _root(file_url).rglob("*"))
    assert after == before


def test_read_only_open_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    with pytest.raises(MemoryNotFoundError, match="nothing was created"):
        MemoryStore(str(missing), read_only=True)
    with pytest.raises(MemoryNotFoundError):
        MemoryStore(str(missing), create=False)
    assert not missing.exists()


@pytest.mark.s3
def test_no_bucket_is_created_unless_asked(moto_server: dict[str, Any]) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **moto_server)
    with pytest.raises(MemoryNotFoundError, match="create_bucket=True"):
        MemoryStore("s3://no-such-bucket-here/x", moto_server)
    with pytest.raises(MemoryNotFoundError):
        MemoryStore("s3://no-such-bucket-here/x", moto_server, read_only=True)
    assert not fs.exists("no-such-bucket-here")
    store = MemoryStore("s3://made-on-purpose/x", moto_server, create_bucket=True)
    store.write("a.md", "1")
    assert fs.exists("made-on-purpose/x/a.md")


def test_read_only_on_an_unwritable_volume(file_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    MemoryStore(file_url).write("notes.md", "kept\n")

    def refuse(self: Backend, path: str) -> None:
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr(Backend, "makedirs", refuse)
    store = MemoryStore(file_url)  # opened read-only, with a warning
    assert store.read_only and store.read("notes.md") == "kept\n"
    with pytest.raises(MemoryReadOnlyError):
        store.write("notes.md", "lost")


def test_a_lost_last_newline_then_another_write(file_url: str) -> None:
    store = MemoryStore(file_url)
    store.write("a.md", "1\n")
    store.write("a.md", "2\n")
    journal = _root(file_url) / ".automem" / "journal.jsonl"
    journal.write_bytes(journal.read_bytes().rstrip(b"\n"))  # the last newline is lost
    other = MemoryStore(file_url)
    assert other.version == 2 and other.read("a.md") == "2\n"
    other.write("a.md", "3\n")
    other.write("b.md", "4\n")
    again = MemoryStore(file_url)
    assert [e.version for e in again.history()] == [1, 2, 3, 4]
    assert again.snapshot() == {"a.md": "3\n", "b.md": "4\n"}


def test_disk_full_at_the_journal_loses_no_committed_version(
    file_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore(file_url)
    store.write("a.md", "1\n")
    real_write = os.write
    full = {"on": True}

    def short_write(fd: int, data: bytes) -> int:
        if full["on"] and data.startswith(b'{"version"'):
            return real_write(fd, data[: len(data) // 2])  # the disk filled up mid-line
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short_write)
    with pytest.raises(AutomemError, match=r"short write.*nothing was changed"):
        store.write("a.md", "2\n")
    assert store.version == 1 and store.read("a.md") == "1\n"  # nothing half-committed
    journal = (_root(file_url) / ".automem" / "journal.jsonl").read_bytes()
    assert journal.endswith(b"\n")  # no torn line left behind
    full["on"] = False  # space is back: the same process recovers
    assert store.write("a.md", "3\n") == 2
    reopened = MemoryStore(file_url)
    assert reopened.version == 2 and reopened.read("a.md") == "3\n"


def test_errors_are_automem_errors() -> None:
    assert issubclass(MemoryReadOnlyError, AutomemError)


def _later(path: Path) -> None:
    """Give ``path`` an mtime clearly after the store's last commit."""
    st = path.stat()
    os.utime(path, (st.st_atime + 5, st.st_mtime + 5))


def test_an_outside_edit_of_the_same_size_is_adopted(file_url: str) -> None:
    store = MemoryStore(file_url)
    store.write("notes.md", "cat\n")
    store.close()
    path = _root(file_url) / "notes.md"
    path.write_text("dog\n")  # same size
    _later(path)
    reopened = MemoryStore(file_url)
    assert reopened.read("notes.md") == "dog\n"
    assert reopened.history("notes.md")[-1].op == "sync"


def test_an_outside_revert_is_adopted_not_undone(file_url: str) -> None:
    store = MemoryStore(file_url)
    store.write("notes.md", "first version\n")
    store.write("notes.md", "second\n")
    store.close()
    path = _root(file_url) / "notes.md"
    path.write_text("first version\n")  # the user reverts it with an editor
    _later(path)
    reopened = MemoryStore(file_url)
    assert reopened.read("notes.md") == "first version\n"
    assert path.read_text() == "first version\n"
    assert [e.op for e in reopened.history("notes.md")] == ["write", "write", "sync"]


def _small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs when running as root (real ENOSPC), else ``None``."""
    import shutil
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield None  # type: ignore[misc]
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
    )
    if done.returncode != 0:
        yield None  # type: ignore[misc]
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    yield from _small_volume(tmp_path)


def test_a_full_disk_loses_no_committed_version_and_the_process_recovers(
    small_volume: Path | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC on content objects, the journal and the tree: every version reported
    committed survives, failures say "nothing was changed", and writes work again in
    the same process once space is back (a real full tmpfs as root, else injected)."""
    root = (small_volume or tmp_path) / "store"
    store = MemoryStore(str(root))
    committed: dict[int, dict[str, str]] = {}
    filler = (small_volume or tmp_path) / "filler"
    if small_volume is not None:
        with open(filler, "wb") as fh:  # leave ~100 KiB
            fh.write(b"\0" * (400 << 10))
    else:
        real_open = os.open

        def full_open(path: Any, flags: int, *a: Any, **k: Any) -> int:
            if "/.automem/tmp/" in str(path) and filler.exists():
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_open(path, flags, *a, **k)

        filler.write_bytes(b"x")
        monkeypatch.setattr(os, "open", full_open)
    failures: list[str] = []
    for i in range(60):
        body = os.urandom(4096).hex() + "\n"  # 8 KiB, nothing shared: content objects
        try:
            v = store.write(f"f{i % 6}.md", body)
        except AutomemError as exc:
            failures.append(str(exc))
            continue
        committed[v] = store.snapshot()
    assert failures, "the volume never filled up"
    assert all("nothing was changed" in f or "is committed" in f for f in failures), failures
    assert any("could not store the content" in f for f in failures), failures
    filler.unlink()  # space is back
    v = store.write("after.md", "space is back\n")
    assert store.read("after.md") == "space is back\n"
    again = MemoryStore(str(root))
    assert again.version == v
    for version, snap in committed.items():
        assert again.snapshot(version) == snap, version
    assert again.snapshot() == store.snapshot()


@pytest.mark.s3
def test_an_unreachable_s3_endpoint_is_named_not_taken_for_a_missing_bucket() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    opts = {
        "key": "k", "secret": "s",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}},
        "skip_instance_cache": True,
    }  # fmt: skip
    with pytest.raises(AutomemError, match=r"cannot reach bucket 'b'.*endpoint_url"):
        MemoryStore("s3://b/memory", opts)


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_a_store_inside_the_root_is_not_adopted(tmp_path: Path, kind: str) -> None:
    base = str(tmp_path / "s") if kind == "file" else f"memory://nested-{tmp_path.name}"
    MemoryStore(f"{base}/users/alice").write("notes.md", "alice only\n")
    parent = MemoryStore(base)
    parent.write("shared.md", "everyone\n")
    assert MemoryStore(base).list() == ["shared.md"]
    assert MemoryStore(f"{base}/users/alice").read("notes.md") == "alice only\n"
