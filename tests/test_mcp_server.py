"""The MCP server driven by the official ``mcp`` SDK's own client, over stdio and HTTP."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

import anyio
import httpx
from automem_sdk.adapters.mcp_cli import http_app, parse_hostport
from automem_sdk.adapters.mcp_server import SCOPE_EXTENSION, MemoryMCPServer
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import TextResourceContents

from automem_sdk.cli import main as cli_main
from automem_sdk.ops import MEMORY_OP_NAMES
from automem_sdk.store import MemoryStore
from automem_sdk.trace import read_trace

pytestmark = pytest.mark.timeout(60)

#: One call per op, in an order where each one succeeds.
OP_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("memory_create", {"path": "notes.md", "content": "likes tea\n"}, "created notes.md"),
    ("memory_append", {"path": "notes.md", "content": "lives in Lyon"}, "appended"),
    ("memory_write", {"path": "plan.md", "content": "# goal\nfind the key\n"}, "wrote"),
    ("memory_upsert", {"path": "facts.md", "key": "door", "value": "locked"}, "added 'door'"),
    ("memory_replace", {"path": "facts.md", "old": "locked", "new": "open"}, "replaced"),
    ("memory_insert", {"path": "notes.md", "line": 1, "content": "name: Ada"}, "inserted"),
    ("memory_read", {"path": "notes.md"}, "name: Ada\nlikes tea\nlives in Lyon"),
    ("memory_head", {"path": "notes.md", "n": 1}, "1: name: Ada"),
    ("memory_tail", {"path": "notes.md", "n": 1}, "3: lives in Lyon"),
    ("memory_search", {"query": "LYON"}, "notes.md:3: lives in Lyon"),
    ("memory_count", {"path": "notes.md"}, "3 lines"),
    ("memory_list", {}, "facts.md\nnotes.md\nplan.md"),
    ("memory_rename", {"path": "facts.md", "dst": "world.md"}, "renamed facts.md -> world.md"),
    ("memory_delete", {"path": "world.md"}, "deleted world.md"),
]


def _text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def _every_op(s: ClientSession) -> None:
    names = {t.name for t in (await s.list_tools()).tools}
    assert {f"memory_{op}" for op in MEMORY_OP_NAMES} <= names
    assert {name for name, _args, _want in OP_CALLS} == {f"memory_{op}" for op in MEMORY_OP_NAMES}
    for name, args, want in OP_CALLS:
        res = await s.call_tool(name, args)
        assert not res.is_error, (name, _text(res))
        assert want in _text(res), (name, _text(res))
        assert res.structured_content is not None and res.structured_content["ok"] is True


async def _bad_input(s: ClientSession) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("memory_append", {"path": "notes.md"}, "content: Field required"),
        ("memory_head", {"path": "notes.md", "n": "many"}, "n: Input should be a valid integer"),
        ("memory_read", {"path": "notes.md", "bogus": 1}, "bogus: Extra inputs"),
        ("memory_read", {"path": "../outside.md"}, "'..' is not allowed"),
        ("memory_write", {"path": "/etc/passwd", "content": "x"}, "invalid memory path"),
        ("memory_fly", {}, "unknown tool 'memory_fly'"),
        ("memory_append", {"path": "big.md", "content": "x" * 300_000}, "too large"),
        ("memory_read", {"path": "missing.md"}, "missing.md"),
    ]
    for name, args, want in cases:
        res = await s.call_tool(name, args)
        assert res.is_error, (name, _text(res))
        assert want in _text(res), (name, _text(res))
    ok = await s.call_tool("memory_read", {"path": "notes.md"})  # still serving
    assert not ok.is_error and "likes tea" in _text(ok)


async def _claude_commands(s: ClientSession) -> None:
    async def call(**args: Any) -> tuple[bool, str]:
        res = await s.call_tool("memory", args)
        return bool(res.is_error), _text(res)

    err, text = await call(command="create", path="/memories/todo.md", file_text="a\nb\n")
    assert not err and "File created successfully at: /memories/todo.md" in text
    err, text = await call(command="view", path="/memories")
    assert not err and "/memories/todo.md" in text
    err, text = await call(
        command="str_replace", path="/memories/todo.md", old_str="b", new_str="c"
    )
    assert not err and "has been edited" in text
    err, text = await call(
        command="insert", path="/memories/todo.md", insert_line=0, insert_text="z"
    )
    assert not err and "has been edited" in text
    err, text = await call(command="view", path="/memories/todo.md")
    assert not err and "1\tz" in text and "3\tc" in text
    err, text = await call(
        command="rename", old_path="/memories/todo.md", new_path="/memories/done.md"
    )
    assert not err and "Successfully renamed" in text
    err, text = await call(command="delete", path="/memories/done.md")
    assert not err and "Successfully deleted" in text
    err, text = await call(command="view", path="/memories/../../etc/passwd")
    assert err and "would escape /memories" in text
    err, text = await call(command="insert", path="/memories/notes.md")
    assert err and "missing 'insert_line'" in text
    err, text = await call(command="fly", path="/memories")
    assert err and "Unknown command" in text


def _resource_text(result: Any) -> str:
    first = result.contents[0]
    assert isinstance(first, TextResourceContents)
    return first.text


async def _resources_and_prompts(s: ClientSession) -> None:
    listed = {str(r.uri): r for r in (await s.list_resources()).resources}
    assert "automem://memory/notes.md" in listed and "automem://journal" in listed
    assert listed["automem://memory/notes.md"].description  # the scaffold's file purpose
    read = await s.read_resource("automem://memory/notes.md")
    assert _resource_text(read) == "name: Ada\nlikes tea\nlives in Lyon\n"
    journal = json.loads(_resource_text(await s.read_resource("automem://journal/notes.md")))
    assert [e["op"] for e in journal][:2] == ["create", "append"]
    with pytest.raises(MCPError, match=r"missing\.md"):
        await s.read_resource("automem://memory/missing.md")
    prompts = {p.name for p in (await s.list_prompts()).prompts}
    assert prompts == {"log", "plan"}
    got = await s.get_prompt("plan", {"observation": "a locked door", "actions": "open, wait"})
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert "PLAN routine" in text and "a locked door" in text and "notes.md" in text


def test_stdio_subprocess_every_feature_and_trace(tmp_path: Path) -> None:
    root = tmp_path / "mem"
    trace = tmp_path / "mcp.jsonl"
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "automem_sdk.cli",
            "mcp",
            f"file://{root}",
            "--claude-tools",
            "--namespace",
            "clients/{client_id}",
            "--scope",
            "client_id=alice",
            "--trace",
            str(trace),
        ],
    )

    notes: list[str] = []

    async def on_message(message: Any) -> None:
        notes.append(str(getattr(message, "method", type(message).__name__)))

    async def scenario() -> None:
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write, message_handler=on_message) as s,
        ):
            caps = (await s.initialize()).capabilities
            assert caps.resources is not None and caps.resources.list_changed
            await _every_op(s)
            assert "notifications/resources/list_changed" in notes
            await _bad_input(s)
            await _claude_commands(s)
            await _resources_and_prompts(s)

    anyio.run(scenario)
    store = MemoryStore(f"file://{root}/clients/alice", read_only=True)
    assert store.read("notes.md").startswith("name: Ada")
    assert not (root / "notes.md").exists()  # nothing outside the namespace

    t = read_trace(str(trace))
    assert t.header.mode == "observe" and t.header.env == "mcp"
    ops = [turn.ops[0]["op"] for turn in t.turns]
    assert ops[: len(OP_CALLS)] == [n.removeprefix("memory_") for n, _a, _w in OP_CALLS]
    assert "invalid" in ops and "replace" in ops[len(OP_CALLS) :]  # bad calls and Claude's
    assert all(turn.routine in ("log", "plan") for turn in t.turns)

    assert cli_main(["trace", "show", str(trace)]) == 0
    out = tmp_path / "ds"
    argv = ["train", "behavioral", "dataset", str(trace), "--out", str(out), "--select", "all"]
    assert cli_main([*argv, "--min-examples", "1", "--balance", "none"]) == 0
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    targets = "\n".join(r["completion"][0]["content"] for r in rows)
    assert "<|APPEND|>notes.md|lives in Lyon<|END|>" in targets
    (append,) = [r for r in rows if "lives in Lyon" in r["completion"][0]["content"]]
    prompt = "\n".join(m["content"] for m in append["prompt"])
    assert "lives in Lyon" not in prompt  # the call is the target, not part of the prompt
    assert "Memory files: notes.md" in prompt and "memory_create" in prompt  # what came before
    assert all(r["source"]["trace"] == str(trace) for r in rows)


# ------------------------------------------------------------------------------ HTTP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, MemoryMCPServer]]:
    import uvicorn

    port = _free_port()
    server = MemoryMCPServer(
        f"file://{tmp_path / 'mem'}",
        namespace="clients/{client_id}",
        claude_tools=True,
        trace=str(tmp_path / "http.jsonl"),
    )
    app = http_app(server, "127.0.0.1", port, tokens={"s3cret": "", "t-bob": "bob"})
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "HTTP server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp", server
    finally:
        uv.should_exit = True
        thread.join(timeout=20)
        server.close()


async def _http_session(
    url: str, headers: dict[str, str], scenario: Any, extensions: Any = None
) -> list[str]:
    notes: list[str] = []

    async def on_message(message: Any) -> None:
        notes.append(str(getattr(message, "method", type(message).__name__)))

    client = create_mcp_http_client(headers=headers)
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write, extensions=extensions, message_handler=on_message) as s,
    ):
        caps = (await s.initialize()).capabilities
        assert caps.resources is not None and caps.resources.list_changed
        await scenario(s)
    return notes


def test_http_every_feature_namespaces_and_guards(
    http_server: tuple[str, MemoryMCPServer], tmp_path: Path
) -> None:
    url, server = http_server
    alice = {"Authorization": "Bearer s3cret", "X-Automem-Client-Id": "alice"}
    carol = {"Authorization": "Bearer s3cret", "X-Automem-Client-Id": "carol"}

    async def alice_scenario(s: ClientSession) -> None:
        await _every_op(s)
        await _bad_input(s)
        await _claude_commands(s)
        await _resources_and_prompts(s)

    async def carol_scenario(s: ClientSession) -> None:
        res = await s.call_tool("memory_list", {})
        assert not res.is_error and "(no files" in _text(res)
        res = await s.call_tool("memory_read", {"path": "notes.md"})
        assert res.is_error
        uris = {str(r.uri) for r in (await s.list_resources()).resources}
        assert uris == {"automem://journal"}
        await s.call_tool("memory_append", {"path": "notes.md", "content": "carol's"})

    async def no_namespace(s: ClientSession) -> None:
        res = await s.call_tool("memory_list", {})
        assert res.is_error and "needs 'client_id'" in _text(res)

    notes = anyio.run(_http_session, url, alice, alice_scenario)
    assert "notifications/resources/list_changed" in notes
    anyio.run(_http_session, url, carol, carol_scenario)
    anyio.run(_http_session, url, {"Authorization": "Bearer s3cret"}, no_namespace)

    async def dave_scenario(s: ClientSession) -> None:  # namespace from an initialize parameter
        res = await s.call_tool("memory_write", {"path": "notes.md", "content": "dave's\n"})
        assert not res.is_error, _text(res)

    dave = {SCOPE_EXTENSION: {"client_id": "dave"}}
    anyio.run(_http_session, url, {"Authorization": "Bearer s3cret"}, dave_scenario, dave)
    assert server.scopes.get({"client_id": "dave"}).read("notes.md") == "dave's\n"
    assert server.scopes.get({"client_id": "alice"}).read("notes.md").startswith("name: Ada")
    assert server.scopes.get({"client_id": "carol"}).read("notes.md") == "carol's\n"

    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    hdr = {"Accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=10) as h:
        assert h.post(url, json=body, headers=hdr).status_code == 401
        assert (
            h.post(url, json=body, headers={**hdr, "Authorization": "Bearer nope"}).status_code
            == 401
        )
        evil = {**hdr, "Authorization": "Bearer s3cret", "Origin": "https://evil.example"}
        assert h.post(url, json=body, headers=evil).status_code == 403

    t = read_trace(str(tmp_path / "http.jsonl"))
    where = {m.content for turn in t.turns for m in turn.messages if m.role == "system"}
    assert any("clients/alice" in w for w in where) and any("clients/carol" in w for w in where)


def test_identity_fills_the_namespace_and_wins_over_headers(tmp_path: Path) -> None:
    server = MemoryMCPServer(f"memory://mcp-ident-{tmp_path.name}", namespace="users/{identity}")

    class Request:
        headers = {"x-automem-identity": "bob", "x-automem-user-id": "x"}

    class Ctx:
        session = None
        request = Request()

    try:
        _store, ns = server.store_for(Ctx())
        assert ns == "users/bob"
    finally:
        server.close()


def test_http_front_drops_a_claimed_identity_and_sets_the_verified_one() -> None:
    from automem_sdk.adapters.mcp_cli import HTTPFront

    seen: list[dict[bytes, bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["headers"]))

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    sent: list[Any] = []
    front = HTTPFront(app, {"t-bob": "bob", "t-anon": ""}, ["http://127.0.0.1:9"])

    def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"type": "http", "headers": list(headers)}

    claim = (b"x-automem-identity", b"mallory")
    anyio.run(front, scope((b"authorization", b"Bearer t-bob"), claim), receive, send)
    anyio.run(front, scope((b"authorization", b"bearer t-anon"), claim), receive, send)
    assert seen[0][b"x-automem-identity"] == b"bob"
    assert b"x-automem-identity" not in seen[1]
    anyio.run(front, scope(claim), receive, send)
    anyio.run(
        front,
        scope((b"authorization", b"Bearer t-bob"), (b"origin", b"http://evil")),
        receive,
        send,
    )
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [401, 403] and len(seen) == 2


def test_read_only_store_and_errors_keep_serving(tmp_path: Path) -> None:
    root = f"file://{tmp_path / 'ro'}"
    MemoryStore(root).write("notes.md", "old\n")
    server = MemoryMCPServer(root, read_only=True)
    try:
        res = server.call_tool("memory_append", {"path": "notes.md", "content": "new"})
        assert res.is_error and "read" in _text(res).lower()
        res = server.call_tool("memory_read", {"path": "notes.md"})
        assert not res.is_error and _text(res) == "old\n"
    finally:
        server.close()


def test_full_store_is_a_tool_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    server = MemoryMCPServer(f"file://{tmp_path / 'full'}")
    store, _ns = server.store_for(None)

    def no_space(*_a: Any, **_k: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "write", no_space)
    try:
        res = server.call_tool("memory_write", {"path": "n.md", "content": "x"})
        assert res.is_error and "No space left on device" in _text(res)
        assert not server.call_tool("memory_list", {}).is_error
    finally:
        server.close()


def test_parse_hostport() -> None:
    assert parse_hostport("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_hostport(":9") == ("127.0.0.1", 9)
    assert parse_hostport("[::1]:80") == ("::1", 80)
    with pytest.raises(Exception, match="HOST:PORT"):
        parse_hostport("8765")


def test_readme_python_example_runs_as_written(tmp_path: Path) -> None:
    import re
    import shutil
    import subprocess

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## MCP server", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len([line for line in code.splitlines() if line.strip()]) <= 13  # blank lines: ruff
    if shutil.which("automem") is None:  # not installed as a console script: same module
        code = code.replace(
            'command="automem", args=["mcp",',
            f'command={sys.executable!r}, args=["-m", "automem_sdk.cli", "mcp",',
        )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=50
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "notes.md:1: likes tea"
    assert MemoryStore((tmp_path / "memory").as_uri()).read("notes.md") == "likes tea\n"


def test_trace_feeds_diagnostics_and_structural_reflection(tmp_path: Path) -> None:
    from automem_sdk.trainers.structural.reflect import reflect

    from automem_sdk.diagnostics import diagnose
    from automem_sdk.scaffold import load_scaffold

    url = str(tmp_path / "calls.jsonl.gz")
    server = MemoryMCPServer(f"memory://mcp-reflect-{tmp_path.name}", trace=url)
    for _ in range(2):
        server.call_tool("memory_append", {"path": "notes.md", "content": "door is red"})
    server.call_tool("memory_search", {"query": "dragon"})
    server.call_tool("memory_read", {"path": "missing.md"})
    server.close()
    trace = read_trace(url)
    assert trace.complete and trace.footer is not None and trace.footer.n_ops == 4
    d = diagnose(trace)
    assert (d.redundant_writes, d.empty_searches, d.failed_ops) == (1, 1, 1)
    r = reflect([trace], load_scaffold("generic"))
    assert r.files["notes.md"].appends == 2


@pytest.mark.s3
def test_stdio_on_s3_with_a_trace_on_s3(s3_store_url: tuple[str, dict[str, Any]]) -> None:
    url, options = s3_store_url
    trace = url.rsplit("/", 1)[0] + "/traces/mcp.jsonl"
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "automem_sdk.cli", "mcp", url, "--storage-options", json.dumps(options),
            "--namespace", "users/{user_id}", "--scope", "user_id=ada", "--trace", trace,
        ],
    )  # fmt: skip

    async def scenario() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            res = await s.call_tool(
                "memory_upsert", {"path": "prefs.md", "key": "tea", "value": "yes"}
            )
            assert not res.is_error, _text(res)
            res = await s.call_tool("memory_rename", {"path": "prefs.md", "dst": "../../x.md"})
            assert res.is_error and "'..' is not allowed" in _text(res)

    anyio.run(scenario)
    assert MemoryStore(f"{url}/users/ada", options).read("prefs.md") == "tea: yes\n"
    turns = read_trace(trace, options).turns
    assert [t.ops[0]["op"] for t in turns] == ["upsert", "rename"]
