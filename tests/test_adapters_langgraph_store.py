"""AutomemStore: LangGraph's BaseStore over a memory store, checked against InMemoryStore."""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("langgraph.store.base", reason="langgraph is not installed")

from automem_sdk.adapters import AutomemStore
from automem_sdk.adapters.langgraph_store import decode_name, encode_name
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

try:
    from langchain.tools import ToolRuntime
except ImportError:  # langchain v1 brings it; the create_agent test skips without it
    ToolRuntime = Any  # type: ignore[misc,assignment]

from automem_sdk import MemoryStore

ODD_KEYS = [
    "plain",
    "",
    " ",
    "a/b",
    "../up",
    "..",
    ".",
    "%2e%2e",
    "CON",
    "nul.txt",
    ".automem",
    "~home",
    "über café",
    "emoji 🎉",
    "tab\tnew\nline",
    "q?*[x]",
    "back\\slash",
    "=41",
    "k" * 300,
]
LABELS = ["users", "alice", "bob", "a b", "a/b", "ünï", "CON", "x-y_z", "%2e", "~", "*"]


def test_names_round_trip_and_are_safe_segments() -> None:
    from automem_sdk.store_paths import validate_path

    for text in [*ODD_KEYS[:-1], *LABELS, "=", "==", "=ZZ"]:
        seg = encode_name(text)
        assert decode_name(seg) == text
        assert validate_path(seg + ".json") == seg + ".json"
    assert len({encode_name(t) for t in ODD_KEYS}) == len(ODD_KEYS)
    with pytest.raises(ValueError, match="not an encoded name"):
        decode_name("a.b")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_name_round_trips_into_a_safe_segment(text: str) -> None:
    from automem_sdk.store_paths import validate_path

    seg = encode_name(text)
    assert decode_name(seg) == text
    assert validate_path(seg + ".json", max_name_len=10_000) == seg + ".json"


def _value(rng: random.Random) -> dict[str, Any]:
    return {
        "n": rng.randint(0, 9),
        "kind": rng.choice(["note", "pref", "fact"]),
        "tags": rng.choice([["a"], ["a", "b"], []]),
        "meta": {"score": rng.choice([0.5, 1.5, 2.0]), "src": rng.choice(["chat", "tool"])},
        "text": rng.choice(["likes tea", "lives in Lisbon", "allergic to peanuts", "über"]),
    }


def _filter(rng: random.Random) -> dict[str, Any] | None:
    return rng.choice(
        [
            None,
            {"kind": "note"},
            {"n": {"$gt": 4}},
            {"n": {"$gte": 3, "$lte": 6}},
            {"n": {"$lt": 2}},
            {"kind": {"$ne": "pref"}},
            {"kind": {"$eq": "fact"}},
            {"meta": {"src": "tool"}},
            {"meta": {"score": {"$gte": 1.5}}},
            {"tags": ["a", "b"]},
            {"kind": "note", "n": {"$ne": 1}},
        ]
    )


def _namespace(rng: random.Random) -> tuple[str, ...]:
    return tuple(rng.choice(LABELS[:-1]) for _ in range(rng.randint(1, 3)))


def _summary(items: list[Any]) -> list[tuple[tuple[str, ...], str, Any]]:
    return sorted((tuple(i.namespace), i.key, i.value) for i in items)


def _prune(ref: InMemoryStore) -> None:
    """InMemoryStore keeps listing a namespace after its last item goes (or a get on it);
    AutomemStore, like LangGraph's Postgres and SQLite stores, lists namespaces with items."""
    for ns in [ns for ns, items in ref._data.items() if not items]:
        del ref._data[ns]


@pytest.mark.parametrize("seed", range(4))
def test_same_results_as_inmemorystore_on_random_sequences(memory_url: str, seed: int) -> None:
    rng = random.Random(seed)
    ours, ref = AutomemStore(memory_url), InMemoryStore()
    written: list[tuple[tuple[str, ...], str]] = []
    for _step in range(120):
        kind = rng.choices(["put", "delete", "get", "search", "list"], [5, 1, 2, 2, 2])[0]
        if kind == "put" or not written:
            ns, key = _namespace(rng), rng.choice(ODD_KEYS)
            value = _value(rng)
            ours.put(ns, key, value)
            ref.put(ns, key, value)
            written.append((ns, key))
        elif kind == "delete":
            ns, key = rng.choice(written)
            ours.delete(ns, key)
            ref.delete(ns, key)
        elif kind == "get":
            ns, key = rng.choice([*written, (("users", "nobody"), "none")])
            a, b = ours.get(ns, key), ref.get(ns, key)
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert (a.namespace, a.key, a.value) == (b.namespace, b.key, b.value)
        elif kind == "search":
            prefix = rng.choice([(), ("users",), ("alice",), _namespace(rng)])
            flt = _filter(rng)
            full = ours.search(prefix, filter=flt, limit=1000)
            assert _summary(full) == _summary(ref.search(prefix, filter=flt, limit=1000))
            limit, offset = rng.randint(1, 5), rng.randint(0, 4)
            page = ours.search(prefix, filter=flt, limit=limit, offset=offset)
            assert _summary(page) == _summary(full[offset : offset + limit])
            assert len(page) == len(ref.search(prefix, filter=flt, limit=limit, offset=offset))
        else:
            _prune(ref)
            kwargs: dict[str, Any] = rng.choice(
                [
                    {},
                    {"prefix": ("users",)},
                    {"prefix": ("*", "alice")},
                    {"suffix": ("bob",)},
                    {"prefix": ("users",), "suffix": ("*",)},
                    {"max_depth": 1},
                    {"max_depth": 2, "limit": 3, "offset": 1},
                    {"limit": 2, "offset": rng.randint(0, 3)},
                ]
            )
            assert ours.list_namespaces(**kwargs) == ref.list_namespaces(**kwargs), kwargs
    # a fresh process sees the same items
    again = AutomemStore(memory_url)
    _prune(ref)
    assert again.list_namespaces(limit=1000) == ref.list_namespaces(limit=1000)
    assert _summary(again.search((), limit=1000)) == _summary(ref.search((), limit=1000))


def test_batch_reads_before_writes_and_commits_one_version(memory_url: str) -> None:
    ours, ref = AutomemStore(memory_url), InMemoryStore()
    ops: list[Any] = [
        PutOp(("docs",), "a", {"v": 1}),
        GetOp(("docs",), "a"),
        PutOp(("docs",), "b", {"v": 2}),
        PutOp(("docs",), "a", {"v": 3}),
        SearchOp(("docs",), None, 10, 0),
        ListNamespacesOp((MatchCondition("prefix", ("docs",)),), None, 10, 0),
    ]
    before = ours.memory.version
    got, want = ours.batch(ops), ref.batch(ops)
    assert got == [None, None, None, None, [], []]
    assert want[:5] == got[:5]  # InMemoryStore's get made ("docs",) exist, empty: see _prune
    assert ours.memory.version == before + 1  # one journal entry for the whole batch
    assert ours.get(("docs",), "a").value == ref.get(("docs",), "a").value == {"v": 3}
    assert asyncio.run(ours.abatch([GetOp(("docs",), "b")]))[0].value == {"v": 2}
    ours.put(("docs",), "a", {"v": 4})
    item = ours.get(("docs",), "a")
    assert item.created_at < item.updated_at  # an update keeps the creation time
    item.value["v"] = "changed by the caller"
    ours.search(("docs",))[0].value.clear()
    assert ours.get(("docs",), "a").value == {"v": 4}  # what is stored is not changed


def test_items_are_readable_json_files_in_the_journal(memory_url: str) -> None:
    store = AutomemStore(memory_url)
    store.put(("users", "alice"), "prefs", {"drink": "tea"})
    store.put(("users", "alice"), "prefs", {"drink": "coffee"})
    store.delete(("users", "alice"), "prefs")
    store.put(("users", "bob"), "a b/c", {"x": 1})
    mem = MemoryStore(memory_url)
    assert mem.list() == ["users/bob/a=20b=2Fc.json"]
    assert '"key": "a b/c"' in mem.read("users/bob/a=20b=2Fc.json")
    assert [e.op for e in mem.history()][-4:] == ["write", "write", "delete", "write"]
    assert mem.snapshot(mem.version - 2)["users/alice/prefs.json"].count("coffee") == 1


def test_search_order_and_keyword_query(memory_url: str) -> None:
    store = AutomemStore(memory_url)
    store.put(("m",), "1", {"text": "likes green tea"})
    store.put(("m",), "2", {"text": "lives in Lisbon"})
    store.put(("m",), "3", {"text": "tea in Lisbon"})
    assert [i.key for i in store.search(("m",))] == ["3", "2", "1"]  # newest first
    hits = store.search(("m",), query="Lisbon tea")
    assert [(i.key, i.score) for i in hits] == [("3", 1.0), ("2", 0.5), ("1", 0.5)]
    assert store.search(("m",), query="coffee") == []


def bag_of_words(texts: list[str]) -> list[list[float]]:
    """A deterministic embedding: hashed word counts in 16 dimensions."""
    out = []
    for text in texts:
        vec = [0.0] * 16
        for word in text.lower().split():
            vec[int(hashlib.md5(word.strip('",.{}:').encode()).hexdigest(), 16) % 16] += 1.0
        out.append(vec)
    return out


def _by_score(items: list[Any]) -> list[tuple[float | None, set[str]]]:
    groups: dict[float | None, set[str]] = {}
    for i in items:
        groups.setdefault(None if i.score is None else round(i.score, 9), set()).add(i.key)
    return [(score, groups[score]) for score in groups]


def test_semantic_search_matches_inmemorystore(file_url: str) -> None:
    index: Any = {"dims": 16, "embed": bag_of_words, "fields": ["text"]}
    ours, ref = AutomemStore(file_url, index=index), InMemoryStore(index=index)
    docs = ["green tea every morning", "moved to Lisbon", "peanut allergy", "tea in Lisbon"]
    for i, text in enumerate(docs):
        for s in (ours, ref):
            s.put(("docs",), f"d{i}", {"text": text, "n": i})
    for s in (ours, ref):
        s.put(("docs",), "raw", {"text": "not embedded", "n": 9}, index=False)
    cases = [("tea", None, 0, 10), ("Lisbon tea", {"n": {"$gt": 0}}, 0, 10), ("tea", None, 1, 1)]
    for query, flt, offset, limit in cases:
        got = ours.search(("docs",), query=query, filter=flt, limit=limit, offset=offset)
        want = ref.search(("docs",), query=query, filter=flt, limit=limit, offset=offset)
        assert _by_score(got) == _by_score(want)  # same items and scores, ties in any order
    reopened = AutomemStore(file_url, index=index)  # the vectors are in the item files
    assert reopened.search(("docs",), query="peanut", limit=1)[0].key == "d2"
    with pytest.raises(ValueError, match="embed"):
        AutomemStore(file_url, index={"dims": 3})  # type: ignore[typeddict-item]


def test_limits_and_bad_input_are_clear(memory_url: str) -> None:
    store = AutomemStore(memory_url)
    with pytest.raises(InvalidNamespaceError, match="at most 7"):
        store.put(tuple("abcdefgh"), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError, match="periods"):
        store.put(("a.b",), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError, match="langgraph"):
        store.batch([PutOp(("langgraph", "x"), "k", {"v": 1})])
    with pytest.raises(ValueError, match="positive number of minutes"):
        store.put(("a",), "k", {"v": 1}, ttl=-5)
    store.put(("a",), "k", {"v": 1})
    store.delete(("a",), "k")
    with pytest.raises(ValueError, match=r"\$regex"):
        store.search(("a",), filter={"v": {"$regex": "x"}})
    assert store.memory.list() == []  # nothing half-written
    store.memory.write("notes.md", "a human's note\n")
    store.memory.write("cfg/settings.json", "{}\n")  # a JSON file that is not an item
    assert store.list_namespaces() == [] and store.search(()) == []


def test_create_agent_with_the_store_on_every_backend(
    store_url: tuple[str, dict[str, Any] | None],
) -> None:
    pytest.importorskip("langchain.agents")
    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.tools import tool

    from automem_sdk.testing import FakeToolChatModel

    url, options = store_url

    @tool
    def remember(fact: str, runtime: ToolRuntime) -> str:
        """Save a fact about the user."""
        assert runtime.store is not None
        user = runtime.config["configurable"]["user_id"]
        runtime.store.put(("users", user, "facts"), str(len(fact)), {"fact": fact})
        return "saved"

    @tool
    def recall(runtime: ToolRuntime) -> str:
        """Everything saved about the user."""
        assert runtime.store is not None
        user = runtime.config["configurable"]["user_id"]
        return "; ".join(i.value["fact"] for i in runtime.store.search(("users", user)))

    def respond(msgs: list[Any]) -> AIMessage:
        if isinstance(msgs[-1], ToolMessage):
            return AIMessage(content=f"tool said: {msgs[-1].content}")
        text = str(msgs[-1].content)
        call = (
            {"name": "recall", "args": {}, "id": "r"}
            if text == "what do you know?"
            else {"name": "remember", "args": {"fact": text}, "id": "s"}
        )
        return AIMessage(content="", tool_calls=[call])

    store = AutomemStore(url, storage_options=options)
    agent = create_agent(FakeToolChatModel.from_function(respond), [remember, recall], store=store)

    def ask(user: str, text: str) -> str:
        out = agent.invoke(
            {"messages": [{"role": "user", "content": text}]}, {"configurable": {"user_id": user}}
        )
        return str(out["messages"][-1].content)

    assert ask("alice", "likes tea") == "tool said: saved"
    assert ask("bob", "likes coffee") == "tool said: saved"
    assert ask("alice", "what do you know?") == "tool said: likes tea"
    other = AutomemStore(url, storage_options=options)  # another process, same memory
    assert [i.value for i in other.search(("users", "bob"))] == [{"fact": "likes coffee"}]
    assert other.list_namespaces(max_depth=2) == [("users", "alice"), ("users", "bob")]


def test_langmem_tools_work_with_the_store(store_url: tuple[str, dict[str, Any] | None]) -> None:
    langmem = pytest.importorskip("langmem", reason="langmem is not installed")
    url, options = store_url
    store = AutomemStore(url, storage_options=options)
    manage = langmem.create_manage_memory_tool(namespace=("memories", "{user_id}"), store=store)
    search = langmem.create_search_memory_tool(namespace=("memories", "{user_id}"), store=store)
    alice = {"configurable": {"user_id": "alice"}}
    bob = {"configurable": {"user_id": "bob"}}
    created = manage.invoke({"action": "create", "content": "prefers dark mode"}, alice)
    manage.invoke({"action": "create", "content": "prefers light mode"}, bob)
    key = created.split()[-1]
    assert store.get(("memories", "alice"), key).value == {"content": "prefers dark mode"}
    manage.invoke({"action": "update", "id": key, "content": "prefers dark mode, always"}, alice)
    found = search.invoke({"query": "dark mode"}, alice)
    assert "dark mode, always" in str(found) and "light" not in str(found)
    manage.invoke({"action": "delete", "id": key}, alice)
    assert store.search(("memories", "alice")) == []
    assert len(store.search(("memories", "bob"))) == 1


def test_async_embeddings_and_bad_values(memory_url: str) -> None:
    from datetime import datetime

    async def aembed(texts: list[str]) -> list[list[float]]:
        return bag_of_words(texts)

    index: Any = {"dims": 16, "embed": aembed, "fields": ["text"]}
    ours, ref = AutomemStore(memory_url, index=index), InMemoryStore(index=index)

    async def run(store: Any) -> list[tuple[str, float | None]]:
        await store.aput(("d",), "tea", {"text": "green tea"})
        await store.aput(("d",), "lisbon", {"text": "moved to Lisbon"})
        hits = await store.asearch(("d",), query="tea please")
        return [(h.key, None if h.score is None else round(h.score, 9)) for h in hits]

    assert asyncio.run(run(ours)) == asyncio.run(run(ref))
    version = ours.memory.version
    with pytest.raises(ValueError, match="not JSON"):
        asyncio.run(
            ours.abatch(
                [
                    PutOp(("d",), "ok", {"text": "fine"}),
                    PutOp(("d",), "bad", {"at": datetime.now()}),
                ]
            )
        )
    assert ours.memory.version == version and ours.get(("d",), "ok") is None  # nothing written


def test_langmem_tools_inside_create_agent_use_the_agents_store(memory_url: str) -> None:
    langmem = pytest.importorskip("langmem", reason="langmem is not installed")
    pytest.importorskip("langchain.agents")
    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage, ToolMessage

    from automem_sdk.testing import FakeToolChatModel

    def respond(msgs: list[Any]) -> AIMessage:
        if isinstance(msgs[-1], ToolMessage):
            return AIMessage(content=str(msgs[-1].content))
        text = str(msgs[-1].content)
        if text.startswith("search "):
            call = {"name": "search_memory", "args": {"query": text[7:]}, "id": "s"}
        else:
            call = {
                "name": "manage_memory",
                "args": {"content": text, "action": "create"},
                "id": "m",
            }
        return AIMessage(content="", tool_calls=[call])

    store = AutomemStore(memory_url)
    tools = [
        langmem.create_manage_memory_tool(namespace=("memories", "{user_id}")),
        langmem.create_search_memory_tool(namespace=("memories", "{user_id}")),
    ]
    agent = create_agent(FakeToolChatModel.from_function(respond), tools, store=store)

    def ask(user: str, text: str) -> str:
        out = agent.invoke(
            {"messages": [{"role": "user", "content": text}]}, {"configurable": {"user_id": user}}
        )
        return str(out["messages"][-1].content)

    assert ask("alice", "prefers window seats").startswith("created memory")
    assert ask("bob", "prefers aisle seats").startswith("created memory")
    found = ask("alice", "search seats")
    assert "window" in found and "aisle" not in found
    assert store.list_namespaces() == [("memories", "alice"), ("memories", "bob")]
    assert all(p.startswith("memories/") for p in store.memory.list())


class Clock:
    def __init__(self) -> None:
        from datetime import datetime, timezone

        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> Any:
        return self.now

    def advance(self, minutes: float) -> None:
        from datetime import timedelta

        self.now += timedelta(minutes=minutes)


def test_ttl_expires_refreshes_on_read_and_sweeps(memory_url: str) -> None:
    clock = Clock()
    store = AutomemStore(memory_url, clock=clock)
    assert store.supports_ttl
    store.put(("s",), "short", {"v": 1}, ttl=10)
    store.put(("s",), "kept", {"v": 2})
    store.put(("t",), "gone", {"v": 3}, ttl=10)
    clock.advance(8)
    assert store.get(("s",), "short").value == {"v": 1}  # a read pushes expiry to 18 min
    clock.advance(8)  # 16 min: "short" was refreshed, "gone" was not
    assert store.get(("t",), "gone") is None
    assert [i.key for i in store.search(("s",))] == ["kept", "short"]
    assert store.list_namespaces() == [("s",)]
    clock.advance(5)  # 21 min; the search at 16 refreshed "short" to 26
    assert store.get(("s",), "short", refresh_ttl=False) is not None
    clock.advance(6)  # 27 min
    assert store.get(("s",), "short") is None
    version = store.memory.version
    assert store.sweep_ttl() == 2 and store.memory.version == version + 1
    assert sorted(store.memory.list()) == ["s/kept.json"]
    defaults = AutomemStore(
        memory_url, clock=clock, ttl={"default_ttl": 1, "refresh_on_read": False}
    )
    defaults.put(("d",), "k", {"v": 1})
    clock.advance(0.5)
    assert defaults.get(("d",), "k") is not None
    clock.advance(0.6)
    assert defaults.get(("d",), "k") is None
