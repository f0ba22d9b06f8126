"""Sandbox: hostile paths are rejected and nothing is created outside the store root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from automem_sdk.errors import MemoryPathError
from automem_sdk.store import MemoryStore, StoreLimits
from automem_sdk.store_paths import validate_path, validate_prefix

HOSTILE = [
    "",
    ".",
    "./",
    "..",
    "../x.md",
    "../../etc/passwd",
    "a/../../x.md",
    "a/../b.md",
    "a/./../b.md",
    "...",
    "a/.../b.md",
    "/etc/passwd",
    "//server/share",
    "~/notes.md",
    "~root/x",
    "C:\\Windows\\x",
    "C:/Windows/x",
    "a\\..\\x.md",
    "..\\x.md",
    "a\\b.md",
    "a\x00b.md",
    "notes.md\x00.png",
    "a\nb.md",
    "a\rb.md",
    "a\tb.md",
    "\x1b[31mred.md",
    "a\x7fb.md",
    "\u202etxt.md",
    "a\u200bb.md",
    "a\u2028b.md",
    "\ud800.md",
    "%2e%2e/x.md",
    "%2E%2E%2Fetc%2Fpasswd",
    "..%2fx.md",
    "a%2fb.md",
    "%00.md",
    "\uff0e\uff0e/x.md",
    "a\uff0fb.md",
    "file:///etc/passwd",
    "s3://other-bucket/x",
    "memory://elsewhere/x",
    "https://example.com/x",
    ".automem/journal.jsonl",
    ".automem",
    ".AUTOMEM/objects/x",
    "./.automem/lock",
    "a//b.md",
    "a/",
    "x" * 300,
    "a/" + "b" * 200 + ".md",
    "/".join(["d"] * 20) + "/f.md",
    "*.md",
    "a/?.md",
    "[ab].md",
    " leading.md",
    "trailing.md ",
    "a/ /b.md",
    "CON",
    "nul.txt",
    "com1.md",
]


def test_enough_hostile_paths() -> None:
    assert len(HOSTILE) >= 30 and len(set(HOSTILE)) == len(HOSTILE)


@pytest.mark.parametrize("path", HOSTILE)
def test_validate_path_rejects(path: str) -> None:
    with pytest.raises(MemoryPathError):
        validate_path(path)


@pytest.mark.parametrize(
    ("path", "norm"),
    [
        ("notes.md", "notes.md"),
        ("./notes.md", "notes.md"),
        ("a/./b.md", "a/b.md"),
        ("map 1,2.md", "map 1,2.md"),
        ("caf\u0065\u0301.md", "caf\u00e9.md"),
        ("100%.md", "100%.md"),
        (".hidden.md", ".hidden.md"),
        ("a.b/c-d_e.md", "a.b/c-d_e.md"),
    ],
)
def test_validate_path_accepts(path: str, norm: str) -> None:
    assert validate_path(path) == norm


def test_limits_on_names() -> None:
    assert validate_path("d/" * 7 + "f") == "d/" * 7 + "f"
    with pytest.raises(MemoryPathError, match="levels deep; limit is 8"):
        validate_path("d/" * 8 + "f")
    with pytest.raises(MemoryPathError, match="limit is 128"):
        validate_path("n" * 129)
    with pytest.raises(MemoryPathError, match="limit is 10"):
        validate_path("abc/def/ghi", max_path_len=10)
    with pytest.raises(MemoryPathError):
        validate_path(None)
    with pytest.raises(MemoryPathError):
        validate_path(b"bytes.md")
    assert validate_prefix("") == validate_prefix("/") == validate_prefix("*") == ""
    assert validate_prefix("log/") == "log"
    with pytest.raises(MemoryPathError):
        validate_prefix("../")


def _outside_listing(base: Path, root: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            if full == root or root in full.parents:
                continue
            out.add(str(full.relative_to(base)))
    return out


def _memory_keys_outside(root: str) -> set[str]:
    import fsspec

    fs = fsspec.filesystem("memory")
    inner = "/" + root[len("memory://") :]
    return {k for k in fs.store if not k.startswith(inner + "/")} | {
        d for d in fs.pseudo_dirs if d and not d.startswith(inner)
    }


def _every_op_rejects(store: MemoryStore, path: Any) -> None:
    calls = [
        lambda: store.write(path, "x"),
        lambda: store.append(path, "x"),
        lambda: store.create(path, "x"),
        lambda: store.read(path),
        lambda: store.exists(path),
        lambda: store.delete(path),
        lambda: store.rename("ok.md", path),
        lambda: store.rename(path, "ok2.md"),
        lambda: store.history(path),
    ]
    for call in calls:
        with pytest.raises(MemoryPathError):
            call()


def test_hostile_paths_local(tmp_path: Path) -> None:
    root = tmp_path / "inner" / "store"
    root.mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    store = MemoryStore(root.as_uri())
    store.write("ok.md", "fine")
    before = _outside_listing(tmp_path, root)
    for path in HOSTILE:
        _every_op_rejects(store, path)
    assert _outside_listing(tmp_path, root) == before
    assert store.list() == ["ok.md"] and store.version == 1
    assert (tmp_path / "secret.txt").read_text() == "secret"
    assert sorted(p.name for p in root.iterdir()) == [".automem", "ok.md"]


def test_hostile_paths_memory(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    store.write("ok.md", "fine")
    before = _memory_keys_outside(memory_url)
    for path in HOSTILE:
        _every_op_rejects(store, path)
    assert _memory_keys_outside(memory_url) == before
    assert store.list() == ["ok.md"] and store.version == 1


@pytest.mark.s3
def test_hostile_paths_s3(s3_store_url: tuple[str, dict[str, Any]]) -> None:
    import s3fs

    url, options = s3_store_url
    store = MemoryStore(url, options)
    store.write("ok.md", "fine")
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    bucket = url[len("s3://") :].split("/", 1)[0]
    before = set(fs.find(bucket))
    for path in HOSTILE:
        _every_op_rejects(store, path)
    fs.invalidate_cache()
    assert set(fs.find(bucket)) == before
    assert store.list() == ["ok.md"] and store.version == 1


def test_symlinks_leaving_the_root(tmp_path: Path) -> None:
    root = tmp_path / "store"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.md").write_text("secret\n")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "linkfile.md").symlink_to(outside / "secret.md")
    (root / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    store = MemoryStore(root.as_uri())
    assert store.list() == []  # symlinks are never adopted
    for path in ["linkdir/new.md", "linkdir/secret.md", "linkfile.md", "dangling.md"]:
        _every_op_rejects(store, path)
    with pytest.raises(MemoryPathError):
        store.list("linkdir")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.md"]
    assert (outside / "secret.md").read_text() == "secret\n"
    assert not (tmp_path / "nowhere.md").exists()


def test_symlink_into_reserved_dir_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    store = MemoryStore(root.as_uri())
    (root / "j").symlink_to(root / ".automem", target_is_directory=True)
    with pytest.raises(MemoryPathError, match=r"\.automem"):
        store.write("j/journal.jsonl", "forged")


def test_reserved_dir_symlink_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    elsewhere = tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / ".automem").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(MemoryPathError):
        MemoryStore(root.as_uri())
    assert list(elsewhere.iterdir()) == []


def test_custom_limits_apply_to_paths(memory_url: str) -> None:
    store = MemoryStore(memory_url, limits=StoreLimits(max_depth=2, max_name_len=8))
    store.write("a/b.md", "x")
    with pytest.raises(MemoryPathError, match="limit is 2"):
        store.write("a/b/c.md", "x")
    with pytest.raises(MemoryPathError, match="limit is 8"):
        store.write("longername.md", "x")
