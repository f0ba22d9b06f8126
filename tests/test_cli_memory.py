"""``automem memory`` subcommands, driven through an argparse parser built here."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from automem_sdk.cli_memory import register
from automem_sdk.errors import MemoryNotFoundError, MemoryPathError
from automem_sdk.store import MemoryStore


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps tables at 80 columns otherwise


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    parser = argparse.ArgumentParser(prog="automem")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


@pytest.fixture
def filled(file_url: str) -> str:
    store = MemoryStore(file_url)
    store.write("notes.md", "wood is north\n")  # v1
    store.write("plan/today.md", "find stone\n")  # v2
    store.append("notes.md", "stone east\n")  # v3
    store.rename("plan/today.md", "plan/done.md")  # v4
    return file_url


def test_ls(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(["memory", "ls", filled], capsys)
    assert "notes.md" in out and "plan/done.md" in out and "version 4" in out
    assert "2 files, 36 bytes" in out
    out = _run(["memory", "ls", filled, "plan"], capsys)
    assert "plan/done.md" in out and "notes.md" not in out


def test_cat(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["memory", "cat", filled, "notes.md"], capsys) == "wood is north\nstone east\n"
    assert _run(["memory", "cat", filled, "notes.md", "--at", "1"], capsys) == "wood is north\n"
    with pytest.raises(MemoryNotFoundError):
        _run(["memory", "cat", filled, "plan/done.md", "--at", "2"], capsys)
    with pytest.raises(MemoryPathError):
        _run(["memory", "cat", filled, "../etc/passwd"], capsys)


def test_search(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(["memory", "search", filled, "STONE"], capsys)
    assert "2 lines matching" in out and "notes.md" in out and "plan/done.md" in out
    out = _run(["memory", "search", filled, "stone", "--path", "plan"], capsys)
    assert "1 lines matching" in out and "notes.md" not in out


def test_log(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(["memory", "log", filled], capsys)
    for word in ("write", "append", "rename", "plan/today.md -> plan/done.md"):
        assert word in out
    out = _run(["memory", "log", filled, "notes.md"], capsys)
    assert "append" in out and "rename" not in out
    out = _run(["memory", "log", filled, "--limit", "1"], capsys)
    assert "rename" in out and "append" not in out


def test_diff_and_restore(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(["memory", "diff", filled, "1", "3"], capsys)
    assert "+stone east" in out and "+find stone" in out and "a/notes.md" in out
    assert "no differences" in _run(["memory", "diff", filled, "2", "2"], capsys)
    out = _run(["memory", "restore", filled, "1"], capsys)
    assert "now version 5" in out
    assert MemoryStore(filled).snapshot() == {"notes.md": "wood is north\n"}
    _run(["memory", "restore", filled, "4"], capsys)  # undo
    assert MemoryStore(filled).list() == ["notes.md", "plan/done.md"]


def test_storage_options_and_errors(memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    MemoryStore(memory_url).write("a.md", "x\n")
    out = _run(["memory", "ls", memory_url, "--storage-options", json.dumps({})], capsys)
    assert "a.md" in out
    parser = argparse.ArgumentParser(prog="automem")
    register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["memory", "ls", memory_url, "--storage-options", "{not json"])
    with pytest.raises(SystemExit):
        parser.parse_args(["memory", "ls", memory_url, "--storage-options", "[1]"])
    from automem_sdk.cli import UsageError

    with pytest.raises(UsageError, match=r"version 9: the store has versions 0\.\.1"):
        _run(["memory", "restore", memory_url, "9"], capsys)


@pytest.mark.s3
def test_ls_on_s3(
    s3_store_url: tuple[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, options = s3_store_url
    MemoryStore(url, options).write("s3note.md", "hello\n")
    out = _run(["memory", "ls", url, "--storage-options", json.dumps(options)], capsys)
    assert "s3note.md" in out and "version 1" in out


def test_wired_into_main(filled: str, capsys: pytest.CaptureFixture[str]) -> None:
    from automem_sdk.cli import main

    assert main(["memory", "cat", filled, "notes.md"]) == 0
    assert capsys.readouterr().out.startswith("wood is north")
    assert main(["memory", "cat", filled, "nope.md"]) == 1
    assert "nope.md" in capsys.readouterr().err
