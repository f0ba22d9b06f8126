"""The Anthropic memory-tool backend through the real ``anthropic`` client (mock transport)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from automem_sdk import MemoryStore, StoreLimits

anthropic = pytest.importorskip("anthropic", reason="the anthropic extra is not installed")
httpx2 = pytest.importorskip("httpx2", reason="anthropic 2.x's HTTP package is not installed")

from automem_sdk.adapters.anthropic_memory import (  # noqa: E402
    AsyncAutomemMemoryTool,
    AutomemMemoryTool,
    automem_op_tools,
)

from automem_sdk.testing import FakeAnthropicAPI, memory_call  # noqa: E402

NOTES = "/memories/notes.md"


def run_conversation(turns: list[Any], tools: list[Any]) -> FakeAnthropicAPI:
    """Drive ``tool_runner`` through the scripted API until the model stops."""
    api = FakeAnthropicAPI(turns)
    client = anthropic.Anthropic(
        api_key="test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(api)),
        max_retries=0,
    )
    runner = client.beta.messages.tool_runner(
        model="claude-test",
        max_tokens=256,
        tools=tools,
        messages=[{"role": "user", "content": "go"}],
    )
    runner.until_done()
    return api


def results(api: FakeAnthropicAPI) -> list[tuple[bool, str]]:
    return [
        (bool(r.get("is_error")), text)
        for r, text in zip(api.tool_results, api.result_texts(), strict=True)
    ]


def test_tool_definition_is_the_memory_tool(memory_url: str) -> None:
    tool = AutomemMemoryTool(memory_url)
    assert tool.to_dict() == {"type": "memory_20250818", "name": "memory"}
    assert tool.name == "memory"
    api = run_conversation(["hi"], [tool])
    assert api.requests[0]["tools"] == [{"type": "memory_20250818", "name": "memory"}]


def test_scripted_conversation_uses_all_six_commands(file_url: str) -> None:
    store = MemoryStore(file_url)
    tool = AutomemMemoryTool(store)
    turns = [
        [memory_call("view", path="/memories")],
        [memory_call("create", path=NOTES, file_text="alpha\nbeta\n")],
        [memory_call("str_replace", path=NOTES, old_str="beta", new_str="gamma")],
        [memory_call("insert", path=NOTES, insert_line=1, insert_text="inserted")],
        [memory_call("view", path=NOTES), memory_call("view", path=NOTES, view_range=[2, 3])],
        [memory_call("rename", old_path=NOTES, new_path="/memories/archive/notes.md")],
        [memory_call("create", path="/memories/tmp.md", file_text="x\n")],
        [memory_call("view", path="/memories")],
        [memory_call("delete", path="/memories/tmp.md")],
        "Done.",
    ]
    api = run_conversation(turns, [tool])
    got = results(api)
    assert [e for e, _ in got] == [False] * 10
    texts = [t for _, t in got]
    assert texts[0] == (
        "Here're the files and directories up to 2 levels deep in /memories, "
        "excluding hidden items:\n0B\t/memories"
    )
    assert texts[1] == "File created successfully at: /memories/notes.md"
    assert texts[2].startswith("The memory file has been edited. Here is the snippet")
    assert "     2\tgamma" in texts[2]
    assert texts[3] == "The file /memories/notes.md has been edited."
    assert texts[4] == (
        "Here's the content of /memories/notes.md with line numbers:\n"
        "     1\talpha\n     2\tinserted\n     3\tgamma\n     4\t"
    )
    assert texts[5] == (
        "Here's the content of /memories/notes.md with line numbers:\n     2\tinserted\n     3\tgamma"
    )
    assert texts[6] == "Successfully renamed /memories/notes.md to /memories/archive/notes.md"
    assert texts[8].splitlines()[1:] == [
        "23B\t/memories",
        "21B\t/memories/archive/",
        "21B\t/memories/archive/notes.md",
        "2B\t/memories/tmp.md",
    ]
    assert texts[9] == "Successfully deleted /memories/tmp.md"
    # The files are real, and every change is in the journal.
    fresh = MemoryStore(file_url)
    assert fresh.list() == ["archive/notes.md"]
    assert fresh.read("archive/notes.md") == "alpha\ninserted\ngamma\n"
    assert (Path(file_url[len("file://") :]) / "archive" / "notes.md").read_text() == (
        "alpha\ninserted\ngamma\n"
    )
    assert [e.op for e in fresh.history()] == [
        "create",
        "write",
        "write",
        "rename",
        "create",
        "delete",
    ]


def test_error_texts_match_the_memory_tool(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    store.write("notes.md", "one\ntwo\none\n")
    store.write("dir/a.md", "a\n")
    turns = [
        [
            memory_call("view", path="/memories/missing.md"),
            memory_call("create", path=NOTES, file_text="x"),
            memory_call("str_replace", path="/memories/missing.md", old_str="a", new_str="b"),
            memory_call("str_replace", path=NOTES, old_str="zzz", new_str="b"),
            memory_call("str_replace", path=NOTES, old_str="one", new_str="b"),
            memory_call("insert", path="/memories/missing.md", insert_line=0, insert_text="x"),
            memory_call("insert", path=NOTES, insert_line=9, insert_text="x"),
            memory_call("delete", path="/memories/missing.md"),
            memory_call("rename", old_path="/memories/missing.md", new_path="/memories/n.md"),
            memory_call("rename", old_path="/memories/dir/a.md", new_path=NOTES),
            memory_call("delete", path="/memories"),
            memory_call("str_replace", path="/memories/dir", old_str="a", new_str="b"),
        ],
        "ok",
    ]
    api = run_conversation(turns, [AutomemMemoryTool(store)])
    got = results(api)
    assert all(err for err, _ in got)
    assert [t for _, t in got] == [
        "The path /memories/missing.md does not exist. Please provide a valid path.",
        "File /memories/notes.md already exists",
        "The path /memories/missing.md does not exist. Please provide a valid path.",
        "No replacement was performed, old_str `zzz` did not appear verbatim in /memories/notes.md.",
        "No replacement was performed. Multiple occurrences of old_str `one` in lines: 1, 3. "
        "Please ensure it is unique",
        "The path /memories/missing.md does not exist. Please provide a valid path.",
        "Invalid `insert_line` parameter: 9. It should be within the range [0, 3].",
        "The path /memories/missing.md does not exist",
        "The path /memories/missing.md does not exist",
        "The destination /memories/notes.md already exists",
        "Cannot delete the /memories directory itself",
        "The path /memories/dir is not a file.",
    ]
    assert store.read("notes.md") == "one\ntwo\none\n"  # nothing changed


ESCAPES = [
    "/memories/../escape.md",
    "/memories/a/../../escape.md",
    "/memories/%2e%2e/escape.md",
    "/memories/%252e%252e/escape.md",
    "/memories/..%2fescape.md",
    "/memories/..\\escape.md",
]


def test_path_escapes_are_refused_and_nothing_is_written_outside(tmp_path: Path) -> None:
    root = tmp_path / "store"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("secret\n")
    root.mkdir()
    store = MemoryStore(root.as_uri())
    os.symlink(outside, root / "link")
    calls: list[dict[str, Any]] = []
    for p in ESCAPES:
        calls.append(memory_call("create", path=p, file_text="pwned"))
    calls += [
        memory_call("create", path="/etc/passwd", file_text="pwned"),
        memory_call("view", path="/memoriesX/notes.md"),
        memory_call("view", path="memories/notes.md"),
        memory_call("create", path=str(outside / "x.md"), file_text="pwned"),
        memory_call("create", path="/memories/link/evil.md", file_text="pwned"),
        memory_call("view", path="/memories/link/secret.md"),
        memory_call("rename", old_path="/memories/link/secret.md", new_path="/memories/s.md"),
        memory_call("str_replace", path="/memories/link/secret.md", old_str="s", new_str="x"),
        memory_call("delete", path="/memories/link/secret.md"),
    ]
    api = run_conversation(
        [calls, [memory_call("view", path="/memories")], "ok"], [AutomemMemoryTool(store)]
    )
    got = results(api)
    refused, final = got[:-1], got[-1]
    assert all(err for err, _ in refused)
    texts = [t for _, t in refused]
    for p, text in zip(ESCAPES, texts, strict=False):
        assert text == f"Path {p} would escape /memories directory"
    n = len(ESCAPES)
    assert texts[n] == "Path must start with /memories, got: /etc/passwd"
    assert texts[n + 1] == "Path must start with /memories, got: /memoriesX/notes.md"
    assert texts[n + 2].startswith("Path must start with /memories")
    assert texts[n + 3].startswith("Path must start with /memories")
    for text in texts[n + 4 :]:
        assert text.startswith("Path /memories/link/") and "would escape" in text
    # The model goes on: the next call works, and the store is untouched.
    assert final[0] is False and "0B\t/memories" in final[1]
    assert sorted(p.name for p in outside.iterdir()) == ["secret.md"]
    assert (outside / "secret.md").read_text() == "secret\n"
    assert not (tmp_path / "escape.md").exists()
    assert store.list() == [] and store.version == 0


def test_malformed_inputs_come_back_as_errors_and_the_runner_goes_on(memory_url: str) -> None:
    store = MemoryStore(memory_url, limits=StoreLimits(max_file_bytes=1_000))
    bad = [
        {"type": "tool_use", "name": "memory", "input": {"command": "teleport", "path": NOTES}},
        {"type": "tool_use", "name": "memory", "input": {"command": "create", "path": NOTES}},
        memory_call("insert", path=NOTES, insert_line="two", insert_text="x"),
        memory_call("view", path=5),
        memory_call("view", path="/memories", view_range=[1]),
        memory_call("create", path=NOTES, file_text="x" * 300_000),
        memory_call("create", path=NOTES, file_text="x" * 2_000),
        {"type": "tool_use", "name": "no_such_tool", "input": {}},
    ]
    turns = [bad, [memory_call("create", path=NOTES, file_text="fine\n")], "ok"]
    with pytest.warns(UserWarning, match="no_such_tool"):
        api = run_conversation(turns, [AutomemMemoryTool(store)])
    got = results(api)
    assert [e for e, _ in got] == [True] * 8 + [False]
    texts = [t for _, t in got]
    assert texts[0].startswith("Unknown command: teleport. Expected one of: view, create")
    assert texts[1] == "Invalid create command: missing 'file_text'"
    assert texts[2] == "Invalid insert command: 'insert_line' must be int"
    assert texts[3] == "Invalid view command: 'path' must be str"
    assert "view_range" in texts[4]
    assert texts[5].startswith("The memory tool input is") and "limit is" in texts[5]
    assert texts[6].startswith(
        "Cannot change /memories/notes.md: notes.md would be 2000 bytes, over the per-file limit"
    )
    assert not any(t.startswith("Error: ") for t in texts[:7])
    assert texts[7] == "Error: Tool 'no_such_tool' not found"
    assert texts[8] == "File created successfully at: /memories/notes.md"
    assert store.read("notes.md") == "fine\n"


def test_directories_rename_and_delete_as_a_whole(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    for p in ["proj/a.md", "proj/sub/b.md", "proj/sub/deep/c.md", "other.md"]:
        store.write(p, p + "\n")
    tool = AutomemMemoryTool(store)
    listing = tool.call({"command": "view", "path": "/memories/proj"})
    assert listing.splitlines()[1:] == [
        "43B\t/memories/proj",
        "10B\t/memories/proj/a.md",
        "33B\t/memories/proj/sub/",
        "14B\t/memories/proj/sub/b.md",
        "19B\t/memories/proj/sub/deep/",
    ]
    assert tool.call(
        {"command": "rename", "old_path": "/memories/proj", "new_path": "/memories/p2"}
    )
    assert store.list() == ["other.md", "p2/a.md", "p2/sub/b.md", "p2/sub/deep/c.md"]
    with pytest.raises(anthropic.lib.tools.ToolError, match="into itself"):
        tool.call({"command": "rename", "old_path": "/memories/p2", "new_path": "/memories/p2/x"})
    assert tool.call({"command": "delete", "path": "/memories/p2/"}) == (
        "Successfully deleted /memories/p2/"
    )
    assert store.list() == ["other.md"]
    assert tool.clear_all_memory() == "All memory cleared"
    assert store.list() == []
    assert store.restore(4) and store.read("proj/sub/deep/c.md") == "proj/sub/deep/c.md\n"


def test_async_tool_runs_commands(memory_url: str) -> None:
    tool = AsyncAutomemMemoryTool(memory_url)
    assert tool.to_dict()["type"] == "memory_20250818"

    async def go() -> str:
        await tool.call({"command": "create", "path": NOTES, "file_text": "a\n"})
        return await tool.call({"command": "view", "path": NOTES})

    assert asyncio.run(go()).endswith("     1\ta\n     2\t")
    assert tool.sync.store.read("notes.md") == "a\n"


def test_automem_ops_as_anthropic_tools_in_the_runner(memory_url: str) -> None:
    store = MemoryStore(memory_url)
    tools = automem_op_tools(store, "minihack")
    names = [t.name for t in tools]
    assert "memory_upsert" in names and "memory_upsert_map" in names and "action" not in names
    turns = [
        [
            {
                "type": "tool_use",
                "name": "memory_upsert_map",
                "input": {"cell": "3,4", "info": "fountain"},
            },
            {"type": "tool_use", "name": "memory_head", "input": {"path": "map.md", "n": "x"}},
        ],
        [{"type": "tool_use", "name": "memory_search", "input": {"query": "fountain"}}],
        "ok",
    ]
    api = run_conversation(turns, [*tools, AutomemMemoryTool(store)])
    sent = {t["name"] for t in api.requests[0]["tools"]}
    assert {"memory", "memory_search", "memory_upsert_map"} <= sent
    got = results(api)
    assert got[0][0] is False
    assert got[1][0] is True and "n: Input should be a valid integer" in got[1][1]
    assert got[2] == (False, "map.md:1: 3,4: fountain")
    assert store.read("map.md") == "3,4: fountain\n"


def test_escapes_write_nothing_on_any_backend(
    store_url: tuple[str, dict[str, Any] | None],
) -> None:
    import fsspec

    url, options = store_url
    store = MemoryStore(url, options)
    fs, root = fsspec.core.url_to_fs(url, **(options or {}))
    parent = root.rstrip("/").rsplit("/", 1)[0]
    fs.invalidate_cache()
    before = set(fs.find(parent))
    tool = AutomemMemoryTool(store)
    for path in [*ESCAPES, "/memories/../../x.md", "/x.md", "/memories/%2E%2E%2Fx.md"]:
        for command in (
            {"command": "create", "path": path, "file_text": "pwned"},
            {"command": "rename", "old_path": "/memories/a.md", "new_path": path},
            {"command": "delete", "path": path},
        ):
            with pytest.raises(anthropic.lib.tools.ToolError, match=r"escape|must start"):
                tool.call(command)
    fs.invalidate_cache()
    assert set(fs.find(parent)) == before
    assert store.version == 0


# ------------------------------------------------------ the SDK reference, side by side
PARITY_SCRIPT: list[dict[str, Any]] = [
    {"command": "view", "path": "/memories"},
    {"command": "create", "path": "/memories/notes.md", "file_text": "alpha\nbeta\ngamma\n"},
    {"command": "create", "path": "/memories/notes.md", "file_text": "again"},
    {"command": "create", "path": "/memories/my notes (v2), Ada's.md", "file_text": "x\ny"},
    {"command": "create", "path": "/memories/ünïcode/日本.md", "file_text": "z\n"},
    {"command": "create", "path": "/memories/a/b/c/deep.md", "file_text": "deep\n"},
    {"command": "create", "path": "/memories/a/../up.md", "file_text": "up\n"},
    {"command": "create", "path": "/memories//double.md", "file_text": "d\n"},
    {"command": "create", "path": "/memories/a", "file_text": "on a dir"},
    {"command": "create", "path": "/memories", "file_text": "on the root"},
    {"command": "view", "path": "/memories/notes.md"},
    {"command": "view", "path": "/memories/notes.md", "view_range": [2, -1]},
    {"command": "view", "path": "/memories/notes.md", "view_range": [0, 2]},
    {"command": "view", "path": "/memories/notes.md/"},
    {"command": "view", "path": "/memories/missing.md"},
    {"command": "view", "path": "/memories/missing/"},
    {"command": "view", "path": "/memories/up.md"},
    {"command": "str_replace", "path": "/memories/notes.md", "old_str": "beta", "new_str": "B"},
    {"command": "str_replace", "path": "/memories/notes.md", "old_str": "zzz", "new_str": "B"},
    {"command": "str_replace", "path": "/memories/notes.md", "old_str": "a", "new_str": "A"},
    {"command": "str_replace", "path": "/memories/notes.md", "old_str": "", "new_str": "A"},
    {"command": "str_replace", "path": "/memories/a", "old_str": "x", "new_str": "y"},
    {"command": "str_replace", "path": "/memories/gone.md", "old_str": "x", "new_str": "y"},
    {
        "command": "str_replace",
        "path": "/memories/my notes (v2), Ada's.md",
        "old_str": "y",
        "new_str": "why\nso",
    },
    {"command": "insert", "path": "/memories/notes.md", "insert_line": 0, "insert_text": "top\n"},
    {"command": "insert", "path": "/memories/notes.md", "insert_line": 4, "insert_text": "end"},
    {"command": "insert", "path": "/memories/notes.md", "insert_line": 9, "insert_text": "x"},
    {"command": "insert", "path": "/memories/notes.md", "insert_line": -1, "insert_text": "x"},
    {"command": "insert", "path": "/memories/gone.md", "insert_line": 0, "insert_text": "x"},
    {"command": "insert", "path": "/memories/a", "insert_line": 0, "insert_text": "x"},
    {"command": "view", "path": "/memories/notes.md"},
    {"command": "view", "path": "/memories"},
    {"command": "view", "path": "/memories/a"},
    {"command": "view", "path": "/memories/a/"},
    {"command": "rename", "old_path": "/memories/notes.md", "new_path": "/memories/up.md"},
    {"command": "rename", "old_path": "/memories/gone.md", "new_path": "/memories/x.md"},
    {"command": "rename", "old_path": "/memories", "new_path": "/memories/x"},
    {"command": "rename", "old_path": "/memories/a", "new_path": "/memories/moved/a2"},
    {"command": "rename", "old_path": "/memories/notes.md", "new_path": "/memories/n/o/t.md"},
    {"command": "view", "path": "/memories"},
    {"command": "delete", "path": "/memories/gone.md"},
    {"command": "delete", "path": "/memories"},
    {"command": "delete", "path": "/memories/moved"},
    {"command": "delete", "path": "/memories/n"},
    {"command": "view", "path": "/memories"},
    {"command": "view", "path": "/etc/passwd"},
    {"command": "view", "path": "/memories/../secret"},
]


def _run_script(tool: Any) -> list[tuple[bool, str]]:
    out: list[tuple[bool, str]] = []
    for command in PARITY_SCRIPT:
        try:
            out.append((True, str(tool.call(command))))
        except anthropic.lib.tools.ToolError as exc:
            out.append((False, str(exc)))
    return out


def _mask_dir_sizes(text: str) -> str:
    """Directory sizes are the filesystem's inode sizes in the reference (4.0K on ext4);
    the store shows the bytes of the files inside. File sizes and everything else match."""
    lines = text.split("\n")
    if not lines[0].startswith("Here're the files and directories"):
        return text
    masked = [lines[0], "<dir>\t" + lines[1].split("\t", 1)[1]]
    for line in lines[2:]:
        _size, path = line.split("\t", 1)
        masked.append(f"<dir>\t{path}" if path.endswith("/") else line)
    return "\n".join(masked)


def test_every_result_is_the_sdk_reference_text(tmp_path: Path) -> None:
    from anthropic.lib.tools._beta_builtin_memory_tool import BetaLocalFilesystemMemoryTool

    reference = BetaLocalFilesystemMemoryTool(base_path=str(tmp_path / "ref"))
    ours = AutomemMemoryTool((tmp_path / "ours").as_uri())
    want, got = _run_script(reference), _run_script(ours)
    assert len(got) == len(PARITY_SCRIPT)
    for command, (ok_w, text_w), (ok_g, text_g) in zip(PARITY_SCRIPT, want, got, strict=True):
        assert (ok_g, _mask_dir_sizes(text_g)) == (ok_w, _mask_dir_sizes(text_w)), command
    on_disk = sorted(
        str(p.relative_to(tmp_path / "ref" / "memories"))
        for p in (tmp_path / "ref" / "memories").rglob("*")
        if p.is_file()
    )
    assert ours.store.list() == on_disk
    for path in on_disk:
        assert ours.store.read(path) == (tmp_path / "ref" / "memories" / path).read_text()
    # One difference on purpose: a store of files has no empty folders, so a folder
    # whose last file is deleted is gone (the reference keeps the empty directory).
    for tool in (reference, ours):
        tool.call({"command": "create", "path": "/memories/e/f.md", "file_text": "f"})
        tool.call({"command": "delete", "path": "/memories/e/f.md"})
    assert "/memories/e/" in str(reference.call({"command": "view", "path": "/memories"}))
    assert "/memories/e/" not in ours.call({"command": "view", "path": "/memories"})


@pytest.mark.parametrize(
    ("path", "suggested"),
    [
        ("/memories/questions?.md", "/memories/questions.md"),
        ("/memories/notes[old].md", "/memories/notes(old).md"),
        ("/memories/~notes.md", "/memories/notes.md"),
        ("/memories/todo*.md", "/memories/todo.md"),
        ("/memories/100%25.md", "/memories/100.md"),
        ("/memories/CON.md", "/memories/CON-notes.md"),
        ("/memories/a\\b.md", "/memories/a/b.md"),
    ],
)
def test_a_refused_name_says_what_to_use(memory_url: str, path: str, suggested: str) -> None:
    tool = AutomemMemoryTool(memory_url)
    with pytest.raises(anthropic.lib.tools.ToolError) as info:
        tool.call({"command": "create", "path": path, "file_text": "x\n"})
    text = str(info.value)
    assert text.startswith(f"The path {path} cannot be used: ")
    assert "use letters, digits, spaces and . - _ ( ) , ' in names" in text
    assert text.endswith(f"for example {suggested}")
    assert "absolute" not in text and not text.startswith("Error")
    assert tool.store.list() == []
    assert tool.call({"command": "create", "path": suggested, "file_text": "x\n"})  # accepted


def test_two_users_on_one_store_through_the_claude_tool(memory_url: str) -> None:
    alice = AutomemMemoryTool(memory_url, namespace="users/{user_id}", scope={"user_id": "alice"})
    bob = alice.scoped(user_id="bob")
    alice.call({"command": "create", "path": NOTES, "file_text": "alice likes tea\n"})
    bob.call({"command": "create", "path": NOTES, "file_text": "bob likes coffee\n"})
    assert "alice likes tea" in alice.call({"command": "view", "path": NOTES})
    assert "alice" not in bob.call({"command": "view", "path": NOTES})
    assert MemoryStore(memory_url + "/users/bob").read("notes.md") == "bob likes coffee\n"
    api = run_conversation(
        [[memory_call("view", path=NOTES)], "ok"],
        [
            AsyncAutomemMemoryTool(
                memory_url, namespace="users/{user_id}", scope={"user_id": "bob"}
            ).sync
        ],
    )
    assert "bob likes coffee" in results(api)[0][1] and "alice" not in results(api)[0][1]
    from automem_sdk.errors import AutomemError

    carol = AsyncAutomemMemoryTool(
        memory_url, namespace="users/{user_id}", scope={"user_id": "bob"}
    ).scoped(user_id="carol")
    assert asyncio.run(carol.call({"command": "view", "path": "/memories"})).endswith(
        "0B\t/memories"
    )
    with pytest.raises(AutomemError, match="namespace="):
        AutomemMemoryTool(memory_url).scoped(user_id="x")
    with pytest.raises(AutomemError, match="needs 'user_id'"):
        AutomemMemoryTool(memory_url, namespace="users/{user_id}")
    with pytest.raises(AutomemError, match="store's URL"):
        AutomemMemoryTool(MemoryStore(memory_url), namespace="users/{user_id}")
