"""Shared stores lose nothing: threads, store objects, processes and S3 writers.

Every read-modify-write goes through one store transaction, and on object stores the
journal commit is a put-if-absent, so concurrent writers never overwrite each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from automem_sdk import MemoryConflictError, MemoryStore
from automem_sdk.ops import UpsertOp, execute_op
from automem_sdk.store_journal import sha256_hex

Opts = dict[str, Any] | None


def _run_threads(n: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(i)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads)


def _keys(text: str) -> set[str]:
    return {line.split(":", 1)[0] for line in text.splitlines() if line}


def _check_consistent(url: str, opts: Opts, expected_versions: int | None = None) -> MemoryStore:
    store = MemoryStore(url, opts)
    versions = [e.version for e in store.history()]
    assert versions == list(range(1, len(versions) + 1))
    if expected_versions is not None:
        assert len(versions) == expected_versions
    return store


@pytest.mark.parametrize("separate", [False, True], ids=["one-store", "four-stores"])
def test_threads_upserting_one_file_lose_nothing(
    store_url: tuple[str, Opts], separate: bool
) -> None:
    url, opts = store_url
    n_threads, n_keys = 4, 100
    shared = MemoryStore(url, opts)
    stores = [MemoryStore(url, opts) for _ in range(n_threads)] if separate else []

    def work(i: int) -> None:
        store = stores[i] if separate else shared
        for k in range(n_keys):
            result = execute_op(store, UpsertOp(path="map.md", key=f"t{i}-k{k}", value=str(k)))
            assert result.ok, result.text

    _run_threads(n_threads, work)
    reopened = _check_consistent(url, opts, expected_versions=n_threads * n_keys)
    keys = _keys(reopened.read("map.md"))
    assert keys == {f"t{i}-k{k}" for i in range(n_threads) for k in range(n_keys)}
    for store in [shared, *stores]:
        store.refresh()
        assert _keys(store.read("map.md")) == keys


_WORKER = r"""
import json, sys
from automem_sdk import MemoryConflictError, MemoryStore
url, opts, mode, tag, n = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
store = MemoryStore(url, opts)
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    if mode == "append":
        store.append("log.md", f"{tag}-{i}\n")
    else:
        while True:
            store.refresh()
            text, sha = store.read_with_sha("counter.txt")
            # the writer's tag keeps two writers' requests distinct: a request whose
            # content is already stored counts as a retry that succeeded (see write())
            try:
                store.write("counter.txt", f"{int(text.split()[0]) + 1} {tag}", if_match=sha)
                break
            except MemoryConflictError:
                continue
print("done", flush=True)
"""


def _run_processes(url: str, opts: Opts, mode: str, n: int) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, json.dumps(opts), mode, tag, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for p in procs:  # both opened before either writes
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0 and out.strip() == "done"


@pytest.mark.parametrize("backend", ["file", pytest.param("s3", marks=pytest.mark.s3)])
def test_two_processes_appending_lose_and_duplicate_nothing(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url, opts = (
        (request.getfixturevalue("file_url"), None)
        if backend == "file"
        else request.getfixturevalue("s3_store_url")
    )
    MemoryStore(url, opts).write("log.md", "")
    _run_processes(url, opts, "append", 200)
    store = _check_consistent(url, opts, expected_versions=401)
    lines = store.read("log.md").splitlines()
    assert sorted(lines) == sorted(f"{t}-{i}" for t in "ab" for i in range(200))
    for tag in "ab":  # each writer's lines stay in its own order
        mine = [ln for ln in lines if ln.startswith(f"{tag}-")]
        assert mine == [f"{tag}-{i}" for i in range(200)]


@pytest.mark.parametrize("backend", ["file", pytest.param("s3", marks=pytest.mark.s3)])
def test_two_processes_incrementing_with_if_match_reach_400(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url, opts = (
        (request.getfixturevalue("file_url"), None)
        if backend == "file"
        else request.getfixturevalue("s3_store_url")
    )
    MemoryStore(url, opts).write("counter.txt", "0 init")
    _run_processes(url, opts, "increment", 200)
    store = _check_consistent(url, opts, expected_versions=401)
    assert store.read("counter.txt").split()[0] == "400"


def test_stale_if_match_raises_and_changes_nothing(store_url: tuple[str, Opts]) -> None:
    url, opts = store_url
    store = MemoryStore(url, opts)
    store.write("a.md", "one\n")
    stale = store.stat("a.md").sha256
    assert stale == sha256_hex(b"one\n")
    store.write("a.md", "two\n")
    version = store.version
    for call in (
        lambda: store.write("a.md", "three\n", if_match=stale),
        lambda: store.replace("a.md", "two", "three", if_match=stale),
        lambda: store.delete("a.md", if_match=stale),
        lambda: store.rename("a.md", "b.md", if_match=stale),
    ):
        with pytest.raises(MemoryConflictError) as info:
            call()
        assert info.value.current_sha256 == sha256_hex(b"two\n")
        assert "read it again" in str(info.value)
    assert store.version == version
    assert store.snapshot() == {"a.md": "two\n"}


def test_retried_request_whose_result_is_stored_succeeds(store_url: tuple[str, Opts]) -> None:
    url, opts = store_url
    store = MemoryStore(url, opts)
    store.write("a.md", "one\n")
    sha1 = store.stat("a.md").sha256
    store.write("a.md", "two\n", if_match=sha1)
    v = store.version
    assert store.write("a.md", "two\n", if_match=sha1) == v  # the retry: already stored
    assert store.replace("a.md", "two", "three", if_match=store.stat("a.md").sha256) == v + 1
    sha2 = sha256_hex(b"two\n")
    assert store.replace("a.md", "two", "three", if_match=sha2) == v + 1  # retried replace
    assert store.create("a.md", "three\n") == v + 1  # create of identical content
    with pytest.raises(MemoryConflictError):
        store.create("a.md", "other\n")
    sha3 = store.stat("a.md").sha256
    store.rename("a.md", "b.md", if_match=sha3)
    assert store.rename("a.md", "b.md", if_match=sha3) == v + 2  # retried move
    store.delete("b.md", if_match=sha3)
    assert store.delete("b.md", if_match=sha3) == v + 3  # retried delete
    assert store.snapshot() == {}


def test_update_is_atomic_and_can_refuse(store_url: tuple[str, Opts]) -> None:
    url, opts = store_url
    store = MemoryStore(url, opts)
    assert store.update("n.txt", lambda old: None) is None
    assert store.version == 0
    n = 50 if not url.startswith("s3") else 15

    def work(_i: int) -> None:
        for _ in range(n):
            store.update("n.txt", lambda old: str(int(old or "0") + 1))

    _run_threads(4, work)
    assert store.read("n.txt") == str(4 * n)
    from automem_sdk.errors import MemoryLimitError

    with pytest.raises(MemoryLimitError, match="cap of 3"):
        store.update("n.txt", lambda old: "x" * 10, max_bytes=3)
    assert store.read("n.txt") == str(4 * n)


def test_batch_commits_one_version_and_nothing_on_error(store_url: tuple[str, Opts]) -> None:
    url, opts = store_url
    store = MemoryStore(url, opts)
    store.write("keep.md", "k\n")
    v = store.version
    with store.batch():
        store.append("log.md", "a\n")
        store.append("log.md", "b\n")
        assert store.read("log.md") == "a\nb\n"  # the block sees its own changes
        store.write("plan.md", "go\n")
        store.rename("keep.md", "kept.md")
    assert store.version == v + 1
    entry = store.history()[-1]
    assert entry.op == "batch" and entry.changes is not None
    assert {c.path for c in entry.changes} == {"log.md", "plan.md", "keep.md", "kept.md"}
    with pytest.raises(RuntimeError), store.batch():
        store.append("log.md", "lost\n")
        store.delete("plan.md")
        raise RuntimeError("boom")
    assert store.version == v + 1
    expected = {"log.md": "a\nb\n", "plan.md": "go\n", "kept.md": "k\n"}
    assert store.snapshot() == expected
    reopened = MemoryStore(url, opts)
    assert reopened.snapshot() == expected
    assert reopened.snapshot(v) == {"keep.md": "k\n"}
    assert [e.version for e in reopened.history("log.md")] == [v + 1]
    assert "+b" in reopened.diff(v, v + 1)


def test_concurrent_batches_on_separate_store_objects(store_url: tuple[str, Opts]) -> None:
    url, opts = store_url
    MemoryStore(url, opts).write("log.md", "")
    stores = [MemoryStore(url, opts) for _ in range(3)]
    n = 10

    def work(i: int) -> None:
        for k in range(n):
            with stores[i].batch():
                stores[i].append("log.md", f"{i}-{k}-a\n")
                stores[i].append("log.md", f"{i}-{k}-b\n")
                stores[i].write(f"w{i}.md", str(k))

    _run_threads(3, work)
    store = _check_consistent(url, opts, expected_versions=1 + 3 * n)
    lines = store.read("log.md").splitlines()
    assert sorted(lines) == sorted(f"{i}-{k}-{s}" for i in range(3) for k in range(n) for s in "ab")
    assert {p: store.read(p) for p in ("w0.md", "w1.md", "w2.md")} == dict.fromkeys(
        ("w0.md", "w1.md", "w2.md"), str(n - 1)
    )


@pytest.mark.s3
def test_s3_requests_per_write(s3_store_url: tuple[str, dict[str, Any]]) -> None:
    import fsspec

    url, opts = s3_store_url
    store = MemoryStore(url, opts)
    store.write("warm.md", "x")
    fs, _ = fsspec.core.url_to_fs(url, **opts)
    calls: list[str] = []

    def count(event_name: str, **_kw: Any) -> None:
        calls.append(event_name.split(".")[-1])

    s3 = fs.s3  # the aiobotocore client s3fs uses
    s3.meta.events.register("before-call.s3", count)
    try:
        calls.clear()
        store.write("notes.md", "hello\n")
        write_calls = list(calls)
        calls.clear()
        store.append("notes.md", "more\n")
        append_calls = list(calls)
        calls.clear()
        with store.batch():
            for i in range(20):
                store.append("log.md", f"{i}\n")
        batch_one_file = list(calls)
        calls.clear()
        with store.batch():
            for i in range(20):
                store.write(f"many/{i}.md", f"{i}\n")
        batch_many = list(calls)
    finally:
        s3.meta.events.unregister("before-call.s3", count)
    assert len(write_calls) <= 2, write_calls  # journal entry (content inline) + file
    assert len(append_calls) <= 2, append_calls
    assert len(batch_one_file) <= 2, batch_one_file
    assert len(batch_many) <= 22, batch_many  # pack + journal entry + one PUT per file
    assert all(c == "PutObject" for c in write_calls + append_calls + batch_many)
    assert MemoryStore(url, opts).read("many/7.md") == "7\n"


_S3_WRITER = r"""
import json, sys
from automem_sdk import MemoryStore
store = MemoryStore(sys.argv[1], json.loads(sys.argv[2]))
for i in range(300):
    store.write(f"f{i % 7}.md", f"v{i}\n")
"""


@pytest.mark.s3
def test_s3_refresh_after_another_process_wrote(s3_store_url: tuple[str, dict[str, Any]]) -> None:
    url, opts = s3_store_url
    store = MemoryStore(url, opts)  # default s3fs options: listings cached
    store.write("f0.md", "start\n")
    store.list()
    subprocess.run(
        [sys.executable, "-c", _S3_WRITER, url, json.dumps(opts)], check=True, timeout=600
    )
    assert store.refresh() == 301
    assert store.read("f5.md") == "v299\n"  # i = 299 writes f{299 % 7}.md
    second = MemoryStore(url, opts)  # same process, same cached filesystem instance
    assert second.version == 301
    assert second.snapshot() == store.snapshot()
    store.write("f0.md", "after\n")  # the stale-free store commits as version 302
    assert store.version == 302


def test_forty_concurrent_async_inserts_through_the_claude_memory_tool(file_url: str) -> None:
    pytest.importorskip("anthropic")
    import anyio
    from automem_sdk.adapters import AsyncAutomemMemoryTool

    tool = AsyncAutomemMemoryTool(file_url)
    tool.sync.store.write("notes.md", "top\n")
    results: list[tuple[int, str]] = []

    async def one(i: int) -> None:
        cmd = {"command": "insert", "path": "/memories/notes.md", "insert_line": 1,
               "insert_text": f"line {i}"}  # fmt: skip
        results.append((i, str(await tool.call(cmd))))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(one, i)

    anyio.run(main)
    ok = {i for i, text in results if text == "The file /memories/notes.md has been edited."}
    assert len(results) == 40
    lines = MemoryStore(file_url).read("notes.md").splitlines()
    assert lines[0] == "top"
    assert ok and {f"line {i}" for i in ok} <= set(lines)
    assert len(lines) == 1 + len(ok)


def test_agent_batch_writes_commit_one_version_per_step(memory_url: str) -> None:
    from automem_sdk.agent import MemoryAgent
    from automem_sdk.llm import ScriptedClient

    def model(messages: Any) -> str:
        prompt = messages[-1].content
        if "LOG routine" in prompt:
            return "<|APPEND|>notes.md|seen<|END|><|APPEND|>notes.md|again<|END|><|DONE|>"
        return "<|SEARCH|>notes.md|seen<|END|><|ACTION|>wait<|END|>"

    store = MemoryStore(memory_url)
    agent = MemoryAgent(store, "generic", ScriptedClient(model), batch_writes=True)
    agent.step("first")
    v1 = store.version
    agent.step("second")
    assert store.version == v1 + 1
    assert store.read("notes.md").count("seen") == 2
    assert store.history()[-1].op == "batch"
