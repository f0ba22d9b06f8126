"""MemoryStore behaviour, run on file://, memory:// and s3:// (moto server)."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

import automem_sdk.store as store_mod
from automem_sdk.errors import (
    AutomemError,
    MemoryConflictError,
    MemoryLimitError,
    MemoryNotFoundError,
    MemoryPathError,
)
from automem_sdk.store import JournalEntry, MemoryStore, SearchHit, StoreLimits

Target = tuple[str, dict[str, Any] | None]


def open_store(target: Target, **kw: Any) -> MemoryStore:
    url, options = target
    return MemoryStore(url, options, **kw)


def test_public_names() -> None:
    for name in store_mod.__all__:
        assert hasattr(store_mod, name), name
    assert {"MemoryStore", "StoreLimits", "SearchHit", "JournalEntry"} <= set(store_mod.__all__)


def test_basic_ops(store_url: Target, raw_tree: Any) -> None:
    s = open_store(store_url)
    assert s.version == 0 and s.list() == [] and s.total_bytes() == 0
    assert s.write("notes.md", "wood north\n") == 1
    assert s.append("notes.md", "stone south\n") == 2
    assert s.append("log/new.md", "first\n") == 3  # append creates
    assert s.create("plan.md") == 4
    assert s.read("notes.md") == "wood north\nstone south\n"
    assert s.read("./plan.md") == ""
    assert s.exists("log/new.md") and not s.exists("log/none.md")
    assert s.list() == ["log/new.md", "notes.md", "plan.md"]
    assert s.list("log") == ["log/new.md"] == s.list("log/")
    assert s.list("lo") == []
    assert s.rename("log/new.md", "archive/old.md") == 5
    assert s.delete("plan.md") == 6
    assert s.list() == ["archive/old.md", "notes.md"]
    assert s.total_bytes() == len("wood north\nstone south\nfirst\n")
    assert raw_tree(*store_url) == {
        "archive/old.md": "first\n",
        "notes.md": "wood north\nstone south\n",
    }
    assert [e.op for e in s.history()] == [
        "write",
        "append",
        "append",
        "create",
        "rename",
        "delete",
    ]
    assert s.version == 6


def test_unicode_and_verbatim_content(store_url: Target) -> None:
    s = open_store(store_url)
    text = "café ☕\r\nno newline at end\ttab"
    s.write("ünï/ß.md", text)
    assert s.read("ünï/ß.md") == text
    assert open_store(store_url).read("ünï/ß.md") == text
    assert s.search("STRASSE") == []
    s.write("street.md", "Straße 5\n")
    assert [h.path for h in s.search("STRASSE")] == ["street.md"]  # casefold


def test_errors(store_url: Target) -> None:
    s = open_store(store_url)
    s.write("a.md", "x")
    s.write("dir/b.md", "y")
    with pytest.raises(MemoryNotFoundError, match=r"missing\.md"):
        s.read("missing.md")
    with pytest.raises(MemoryNotFoundError, match="directory"):
        s.read("dir")
    with pytest.raises(MemoryNotFoundError):
        s.delete("missing.md")
    with pytest.raises(MemoryNotFoundError):
        s.rename("missing.md", "z.md")
    with pytest.raises(MemoryConflictError, match=r"a\.md"):
        s.create("a.md", "again")
    with pytest.raises(MemoryConflictError):
        s.rename("a.md", "dir/b.md")
    with pytest.raises(MemoryConflictError, match="directory"):
        s.write("dir", "x")
    with pytest.raises(MemoryConflictError, match="is a file"):
        s.write("a.md/c.md", "x")
    with pytest.raises(MemoryConflictError):
        s.rename("a.md", "dir")
    with pytest.raises(MemoryNotFoundError):
        s.search("x", "nowhere")
    with pytest.raises(MemoryNotFoundError):
        s.snapshot(99)
    with pytest.raises(store_mod.MemoryContentError):
        s.write("bad.md", "lone \ud800 surrogate")
    for exc in (MemoryNotFoundError, MemoryConflictError, MemoryLimitError, MemoryPathError):
        assert issubclass(exc, AutomemError)
    assert s.list() == ["a.md", "dir/b.md"] and s.version == 2


def test_limits(store_url: Target) -> None:
    limits = StoreLimits(max_file_bytes=10, max_store_bytes=25, max_files=3)
    s = open_store(store_url, limits=limits)
    s.write("a.md", "0123456789")
    with pytest.raises(MemoryLimitError, match=r"b\.md.*11 bytes.*10 bytes \(max_file_bytes\)"):
        s.write("b.md", "0123456789X")
    with pytest.raises(MemoryLimitError, match="max_file_bytes"):
        s.append("a.md", "!")
    s.write("b.md", "0123456789")
    with pytest.raises(MemoryLimitError, match=r"26 bytes.*25 bytes \(max_store_bytes\)"):
        s.write("c.md", "012345")
    s.write("c.md", "01234")
    with pytest.raises(MemoryLimitError, match=r"d\.md.*max_files=3"):
        s.create("d.md")
    s.write("a.md", "")  # shrinking is always fine
    assert s.total_bytes() == 15 and s.list() == ["a.md", "b.md", "c.md"]
    assert s.version == 4


def test_search_matches_full_scan(store_url: Target) -> None:
    """The index gives exactly the hits of a naive per-line scan, for many queries."""
    rng = random.Random(7)
    words = ["wood", "stone", "iron", "diamond", "zombie", "table", "x", "ab", "wooden", "Ore"]
    s = open_store(store_url)
    docs: dict[str, str] = {}
    for i in range(25):
        lines = []
        for _ in range(rng.randint(0, 6)):
            lines.append(
                " ".join(
                    rng.choice(words) + rng.choice(["", ",", ":", "-", "!", " 3,4"])
                    for _ in range(rng.randint(1, 5))
                )
            )
        text = "\n".join(lines)
        path = f"d{i % 3}/n{i}.md"
        s.write(path, text)
        docs[path] = text
    queries = ["wood", "WOOD", "ood", "oo", "d w", "wood,", ", s", "e:", "3,4", "n ", "-", "x"]
    queries += ["diamond iron", "able", "zombie!", "ore", "nothing here", "mond st", "e s"]
    for text in list(docs.values())[:8]:
        if len(text) > 6:
            start = rng.randrange(0, len(text) - 5)
            queries.append(text[start : start + rng.randint(2, 8)].split("\n")[0] or "a")
    for q in queries:
        expected = [
            (p, i, line)
            for p in sorted(docs)
            for i, line in enumerate(docs[p].splitlines(), 1)
            if q.casefold() in line.casefold()
        ]
        got = [(h.path, h.line, h.text) for h in s.search(q, limit=10_000)]
        assert got == expected, q
        scoped = [(h.path, h.line, h.text) for h in s.search(q, "d1", limit=10_000)]
        assert scoped == [t for t in expected if t[0].startswith("d1/")], q
    assert len(s.search("wood", limit=3)) == min(3, len(s.search("wood", limit=100)))
    assert s.search("") == []
    assert all(isinstance(h, SearchHit) for h in s.search("wood"))


def test_search_after_updates(store_url: Target) -> None:
    s = open_store(store_url)
    s.write("a.md", "the golden key\n")
    assert [h.text for h in s.search("gold")] == ["the golden key"]
    s.write("a.md", "a silver key\n")
    assert s.search("gold") == []
    s.append("a.md", "GOLDEN door\n")
    assert s.search("golden") == [SearchHit(path="a.md", line=2, text="GOLDEN door")]
    s.rename("a.md", "b/a.md")
    assert [h.path for h in s.search("silver")] == ["b/a.md"]
    assert [h.path for h in s.search("key", "b/a.md")] == ["b/a.md"]
    s.delete("b/a.md")
    assert s.search("key") == [] and s.search("door") == []


def test_history_snapshot_diff_restore(store_url: Target, raw_tree: Any) -> None:
    s = open_store(store_url)
    s.write("a.md", "one\ntwo\n")  # v1
    s.write("b.md", "bee\n")  # v2
    s.write("a.md", "one\nTWO\nthree\n")  # v3
    s.delete("b.md")  # v4
    assert s.snapshot(0) == {}
    assert s.snapshot(2) == {"a.md": "one\ntwo\n", "b.md": "bee\n"}
    assert s.snapshot() == {"a.md": "one\nTWO\nthree\n"}
    assert [e.version for e in s.history("a.md")] == [1, 3]
    assert all(isinstance(e, JournalEntry) for e in s.history())
    d = s.diff(2, 4)
    assert "--- a/a.md" in d and "+++ b/a.md" in d
    assert "-two" in d and "+TWO" in d and "+three" in d
    assert "--- a/b.md" in d and "+++ /dev/null" in d and "-bee" in d
    assert s.diff(3, 3) == ""
    assert s.restore(2) == 5
    assert s.snapshot() == {"a.md": "one\ntwo\n", "b.md": "bee\n"}
    assert raw_tree(*store_url) == s.snapshot()
    last = s.history()[-1]
    assert last.op == "restore" and last.target == 2
    assert [e.version for e in s.history("b.md")] == [2, 4, 5]
    assert s.restore(0) == 6 and s.list() == [] and raw_tree(*store_url) == {}
    assert s.search("one") == []
    reopened = open_store(store_url)
    assert reopened.version == 6 and reopened.snapshot(4) == {"a.md": "one\nTWO\nthree\n"}
    with pytest.raises(MemoryNotFoundError):
        s.restore(7)


def test_reopen_survives_restart(store_url: Target) -> None:
    s = open_store(store_url)
    for i in range(30):
        s.write(f"n/{i}.md", f"note {i} mentions token{i}\n")
    s.delete("n/3.md")
    s.close()
    t = open_store(store_url)
    assert t.version == 31 and len(t.list()) == 29
    assert [h.path for h in t.search("token17")] == ["n/17.md"]
    assert t.search("token3") == [] or all(h.path != "n/3.md" for h in t.search("token3"))
    t.write("n/3.md", "back\n")
    assert open_store(store_url).read("n/3.md") == "back\n"


def test_two_instances_stay_in_step(store_url: Target) -> None:
    a = open_store(store_url)
    b = open_store(store_url)
    a.write("x.md", "alpha beta\n")
    b.refresh()  # object stores need an explicit refresh; local and memory do it alone
    assert [h.path for h in b.search("alpha")] == ["x.md"]
    assert b.write("y.md", "gamma\n") == 2  # b numbers after a's entry
    a.refresh()
    assert a.list() == ["x.md", "y.md"] and a.read("y.md") == "gamma\n"
    a.rename("x.md", "z.md")
    a.delete("y.md")
    b.refresh()
    assert b.list() == ["z.md"] and b.search("gamma") == []
    assert [h.path for h in b.search("beta")] == ["z.md"]
    b.restore(1)
    a.refresh()
    assert a.snapshot() == {"x.md": "alpha beta\n"} and [h.path for h in a.search("beta")] == [
        "x.md"
    ]
    assert a.version == b.version == 5


def test_auto_refresh_without_explicit_call(store_url: Target) -> None:
    url, _options = store_url
    if url.startswith("s3://"):
        pytest.skip("object stores refresh explicitly")
    a = open_store(store_url)
    b = open_store(store_url)
    a.write("k.md", "kiwi\n")
    assert b.exists("k.md") and [h.line for h in b.search("KIWI")] == [1]
    a.write("k.md", "lemon\n")
    assert b.read("k.md") == "lemon\n" and b.search("kiwi") == []


def test_adopts_external_changes(store_url: Target) -> None:
    import fsspec

    url, options = store_url
    s = open_store(store_url)
    s.write("gone.md", "gone\n")
    s.write("keep.md", "keep\n")  # the last entry: edited outside, it must not be "redone"
    fs, root = fsspec.core.url_to_fs(url, **(options or {}))
    root = root.rstrip("/")
    fs.pipe_file(f"{root}/outside.md", b"made by hand\n")
    fs.rm_file(f"{root}/gone.md")
    fs.pipe_file(f"{root}/keep.md", b"edited elsewhere\n")
    fs.invalidate_cache()
    t = open_store(store_url)
    assert t.list() == ["keep.md", "outside.md"]
    assert t.read("keep.md") == "edited elsewhere\n"
    assert [(e.op, e.path) for e in t.history()[2:]] == [
        ("sync", "gone.md"),
        ("sync", "keep.md"),
        ("sync", "outside.md"),
    ]
    assert [h.path for h in t.search("by hand")] == ["outside.md"]
    assert open_store(store_url).version == t.version  # adopting is not repeated


def test_checkpoint_cache_used_and_verified(store_url: Target) -> None:
    s = open_store(store_url)
    for i in range(20):
        s.write(f"{i}.md", f"text {i}\n")
    s.close()  # >= 16 mutations since the last cache: rewrites it
    t = open_store(store_url)
    assert t.snapshot() == {f"{i}.md": f"text {i}\n" for i in range(20)}
    # a tampered cache is ignored, not trusted
    import json

    import fsspec

    url, options = store_url
    fs, root = fsspec.core.url_to_fs(url, **(options or {}))
    path = f"{root.rstrip('/')}/.automem/index.json"
    body = json.loads(fs.cat_file(path))
    body["texts"] = {k: "tampered" for k in body["texts"]}
    fs.pipe_file(path, json.dumps(body).encode())
    assert open_store(store_url).read("3.md") == "text 3\n"


def test_repr_and_normalize(store_url: Target) -> None:
    s = open_store(store_url)
    assert s.normalize("./a/./b.md") == "a/b.md"
    assert re.search(r"version=0", repr(s))
    with open_store(store_url) as t:
        t.write("w.md", "w")
    assert s.refresh() == 1


def test_stale_writer_catches_up_before_committing(store_url: Target) -> None:
    a = open_store(store_url)
    b = open_store(store_url, auto_refresh=False)  # b never refreshes on its own
    a.write("one.md", "1\n")
    a.write("two.md", "2\n")
    assert b.write("three.md", "3\n") == 3  # no version is reused or overwritten
    assert b.list() == ["one.md", "three.md", "two.md"]
    a.refresh()
    assert [e.version for e in a.history()] == [1, 2, 3]
    assert open_store(store_url).snapshot() == {"one.md": "1\n", "three.md": "3\n", "two.md": "2\n"}


def test_threads_share_one_store(store_url: Target) -> None:
    import threading

    url, _options = store_url
    n_threads, n_ops = 4, 5 if url.startswith("s3://") else 25
    s = open_store(store_url)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(n_ops):
                s.append(f"t{t}.md", f"{i}\n")
                s.search(str(i))
                s.list()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert s.version == n_threads * n_ops
    for t in range(n_threads):
        assert s.read(f"t{t}.md") == "".join(f"{i}\n" for i in range(n_ops))
    assert sorted(e.version for e in s.history()) == list(range(1, n_threads * n_ops + 1))


def test_durable_store_fsyncs_objects_journal_files_and_new_dirs(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import automem_sdk.store_journal as journal_mod

    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(journal_mod.os, "fsync", spy)
    plain = MemoryStore(str(tmp_path / "plain"))
    plain.write("a/b/c.md", "x")
    assert synced == []  # the default store never fsyncs

    root = os.path.realpath(tmp_path / "durable")
    store = MemoryStore(root, durable=True)
    synced.clear()
    store.write("a/b/c.md", "hello" * 1000)  # over the size carried in the journal line
    journal = os.path.join(root, ".automem", "journal.jsonl")
    assert journal in synced
    objects = [p for p in synced if "/.automem/tmp/" in p]
    assert len(objects) >= 2  # the content object and the file itself, before their renames
    # the new directories and their parents, so the entries exist after a power loss
    for d in (os.path.join(root, "a", "b"), os.path.join(root, "a"), root):
        assert d in synced
    # the journal line is on disk before the file that it describes
    assert synced.index(journal) < synced.index(os.path.join(root, "a", "b"))
    synced.clear()
    store.append("a/b/c.md", " world")
    store.rename("a/b/c.md", "d.md")
    assert synced.count(journal) == 2 and root in synced
    assert MemoryStore(root).read("d.md") == "hello" * 1000 + " world"
    mem = MemoryStore("memory://durable-noop", durable=True)
    mem.write("n.md", "ok")
    assert mem.read("n.md") == "ok"
