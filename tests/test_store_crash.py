"""Crash safety and multi-process use of a local store."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from automem_sdk.store import MemoryStore

CHILD = r"""
import random, sys
from automem_sdk.store import MemoryStore, StoreLimits

store = MemoryStore(sys.argv[1], limits=StoreLimits(max_files=50))
rng = random.Random(int(sys.argv[2]))
if sys.argv[3] == "inject":
    # SIGKILL ourselves at a random I/O step: mid journal line, between the journal
    # append and the file replace, halfway through a restore, ...
    import os, signal
    from automem_sdk import store_journal as sj

    budget = [rng.randint(3, 90)]
    def due():
        budget[0] -= 1
        return budget[0] <= 0
    def die():
        os.kill(os.getpid(), signal.SIGKILL)
    orig_append, orig_write, orig_move = (
        sj.Backend.append_bytes, sj.Backend.write_atomic, sj.Backend.move
    )
    def append_bytes(self, rel, data):
        if due():
            orig_append(self, rel, data[: rng.randint(1, len(data) - 1)])
            die()
        orig_append(self, rel, data)
    def write_atomic(self, rel, data):
        if due():
            die()
        orig_write(self, rel, data)
    def move(self, src, dst, data):
        if due():
            die()
        orig_move(self, src, dst, data)
    sj.Backend.append_bytes, sj.Backend.write_atomic, sj.Backend.move = (
        append_bytes, write_atomic, move
    )
names = ["a.md", "b.md", "d/c.md", "d/e/f.md", "g.md"]
print("ready", flush=True)
i = 0
while True:
    i += 1
    files = store.list()
    r = rng.random()
    if r < 0.35 or not files:
        store.write(rng.choice(names), f"w{i} " * rng.randint(1, 3000))
    elif r < 0.6:
        store.append(rng.choice(names), f"line {i}\n" * rng.randint(1, 50))
    elif r < 0.85:
        dst = rng.choice(names)
        if dst not in files and not any(f.startswith(dst + "/") for f in files):
            try:
                store.rename(rng.choice(files), dst)
            except Exception:
                pass
    elif r < 0.97:
        store.delete(rng.choice(files))
    else:
        store.restore(rng.randint(0, store.version))
    print(store.version, flush=True)
"""


def _journal(root: Path) -> list[dict[str, object]]:
    raw = (root / ".automem" / "journal.jsonl").read_bytes()
    out = []
    for line in raw.split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # torn fragment of a killed append
    return out


def _object(root: Path, sha: str) -> bytes:
    data = (root / ".automem" / "objects" / sha[:2] / sha[2:]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    return data


def _fold(root: Path, entries: list[dict[str, object]]) -> tuple[dict[str, str], dict[str, set]]:
    """Independent replay of the journal: final manifest and every committed sha per path."""
    state: dict[str, str] = {}
    seen: dict[str, set] = {}
    for e in entries:
        op, path, sha = e["op"], str(e["path"]), e.get("sha256")
        if op == "restore":
            state = {p: v[0] for p, v in json.loads(_object(root, str(sha)))["files"].items()}
        elif op == "rename":
            state.pop(path, None)
            state[str(e["dst"])] = str(sha)
        elif sha is None:
            state.pop(path, None)
        else:
            state[path] = str(sha)
        for p, s in state.items():
            seen.setdefault(p, set()).add(s)
    return state, seen


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != ".automem"]
        for name in filenames:
            full = Path(dirpath, name)
            out[full.relative_to(root).as_posix()] = hashlib.sha256(full.read_bytes()).hexdigest()
    return out


def _content(root: Path, known: dict[str, bytes], sha: str, e: dict[str, Any]) -> bytes:
    """The bytes ``e`` commits for ``sha``: carried whole, as a delta, or an object."""
    if e.get("data") is not None:
        data = str(e["data"]).encode()
    elif e.get("delta") is not None:
        d = e["delta"]
        base = known[d["base"]]
        data = base[: d["head"]] + d["data"].encode() + base[len(base) - d["tail"] :]
    else:
        return _object(root, sha)
    assert hashlib.sha256(data).hexdigest() == sha
    return data


def _check_journal(root: Path) -> list[dict[str, object]]:
    """Every committed content is present and intact (format 2: in the entry or an object)."""
    entries = _journal(root)
    assert [e["version"] for e in entries] == list(range(1, len(entries) + 1))
    known: dict[str, bytes] = {}
    for e in entries:
        for c in e.get("changes") or [e]:
            if c.get("sha256") and e["op"] != "restore" and c["sha256"] not in known:
                known[str(c["sha256"])] = _content(root, known, str(c["sha256"]), c)
    return entries


def test_sigkill_at_random_moments_leaves_a_consistent_store(tmp_path: Path) -> None:
    """Kill a writer 24 times: half at random moments from outside, half at random I/O
    steps from inside (so torn journal lines and unapplied entries really happen)."""
    root = tmp_path / "store"
    root.mkdir()
    url = root.as_uri()
    rng = random.Random(int(os.environ.get("KILL_SEED", "1234")))
    kills = torn = unapplied = 0
    last_printed = 0
    for round_ in range(24):
        mode = "inject" if round_ % 2 else "outside"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                url,
                str(round_ + 1000 * int(os.environ.get("KILL_SEED", "0"))),
                mode,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(rng.randint(1, 60) if mode == "outside" else 10**9):
            line = proc.stdout.readline()
            if not line:
                break
            last_printed = int(line)
        if mode == "outside":
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        kills += 1

        # before any repair: every file equals one of the versions committed for it
        torn += not (root / ".automem" / "journal.jsonl").read_bytes().endswith(b"\n")
        entries = _check_journal(root)
        final, seen = _fold(root, entries)
        tree = _tree(root)
        unapplied += tree != final
        for path, sha in tree.items():
            assert sha in seen.get(path, set()), (round_, path)
        assert len(entries) >= last_printed  # everything reported as done is committed

        # opening repairs the last entry if it was cut short: the tree is exactly final
        store = MemoryStore(url)
        assert _tree(root) == final
        assert store.version == len(entries)
        snap = store.snapshot()
        assert {p: hashlib.sha256(t.encode()).hexdigest() for p, t in snap.items()} == final
        assert all(e.op != "sync" for e in store.history())  # nothing needed adopting
        store.close()
        assert not any((root / ".automem" / "tmp").iterdir())
    assert kills >= 20
    assert torn >= 1 and unapplied >= 1  # the dangerous windows were actually hit


def test_torn_journal_tail_is_ignored_and_healed(tmp_path: Path) -> None:
    root = tmp_path / "s"
    store = MemoryStore(str(root))
    store.write("a.md", "one\n")
    store.write("b.md", "two\n")
    journal = root / ".automem" / "journal.jsonl"
    whole = journal.read_bytes()
    with journal.open("ab") as fh:  # a writer killed halfway through its line
        fh.write(b'{"version":3,"op":"write","path":"c.md","sha256":"ab')
    reopened = MemoryStore(str(root))
    assert reopened.version == 2 and reopened.list() == ["a.md", "b.md"]
    assert reopened.write("c.md", "three\n") == 3
    again = MemoryStore(str(root))
    assert again.version == 3 and again.read("c.md") == "three\n"
    assert journal.read_bytes().startswith(whole)
    assert [e.version for e in again.history()] == [1, 2, 3]


def test_committed_but_unapplied_entry_is_redone(tmp_path: Path) -> None:
    """Simulate a kill between the journal append and the file replace."""
    root = tmp_path / "s"
    store = MemoryStore(str(root))
    store.write("a.md", "old\n")
    data = b"new content\n"
    sha = hashlib.sha256(data).hexdigest()
    obj = root / ".automem" / "objects" / sha[:2] / sha[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)
    entry = {
        "version": 2,
        "op": "write",
        "path": "a.md",
        "sha256": sha,
        "size": 12,
        "ts": time.time(),
    }
    with (root / ".automem" / "journal.jsonl").open("ab") as fh:
        fh.write(json.dumps(entry).encode() + b"\n")
    assert (root / "a.md").read_text() == "old\n"
    reopened = MemoryStore(str(root))
    assert (root / "a.md").read_text() == "new content\n"
    assert reopened.read("a.md") == "new content\n" and reopened.version == 2


APPENDER = r"""
import sys
from automem_sdk.store import MemoryStore
store = MemoryStore(sys.argv[1])
tag = sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(sys.argv[3])):
    store.append("log.md", f"{tag}-{i:04d}-" + "x" * 8 + "\n")
"""


@pytest.mark.slow
def test_two_processes_append_without_loss(tmp_path: Path) -> None:
    root = tmp_path / "s"
    MemoryStore(str(root)).create("log.md")
    n = 1000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(root), tag, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("p", "q")
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # release both at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.wait(timeout=300) == 0
    lines = (root / "log.md").read_text().splitlines()
    assert len(lines) == 2 * n
    for tag in ("p", "q"):
        mine = [ln for ln in lines if ln.startswith(tag + "-")]
        assert mine == [f"{tag}-{i:04d}-xxxxxxxx" for i in range(n)]
    store = MemoryStore(str(root))
    assert store.read("log.md").splitlines() == lines
    assert store.version == 2 * n + 1
    assert len(store.search("xxxxxxxx", limit=10_000)) == 2 * n


SEARCH_WRITER = r"""
import sys
from automem_sdk.store import MemoryStore
store = MemoryStore(sys.argv[1])
store.write("from_child.md", "the child saw a purple dragon\n")
store.append("shared.md", "child appended zebra\n")
store.rename("old.md", "moved/old.md")
store.delete("doomed.md")
"""


def test_index_in_step_after_another_process_wrote(tmp_path: Path) -> None:
    root = tmp_path / "s"
    store = MemoryStore(str(root))
    store.write("shared.md", "parent line\n")
    store.write("old.md", "ancient scroll\n")
    store.write("doomed.md", "doomed words\n")
    assert store.search("dragon") == []
    subprocess.run([sys.executable, "-c", SEARCH_WRITER, str(root)], check=True)
    assert [(h.path, h.line) for h in store.search("PURPLE dragon")] == [("from_child.md", 1)]
    assert [(h.path, h.line) for h in store.search("zebra")] == [("shared.md", 2)]
    assert [h.path for h in store.search("scroll")] == ["moved/old.md"]
    assert store.search("doomed") == []
    assert store.version == 7
    assert store.write("shared.md", "parent again\n") == 8  # numbering continues
