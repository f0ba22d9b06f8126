"""Search returns the first ``limit`` hits in path/line order without a full sort.

Checked against a brute-force scan on random stores where some words are in most files
(a dense candidate set) and some in few, with scopes, removals and rewrites.
"""

from __future__ import annotations

import random

from automem_sdk.store_index import SearchIndex


def _brute(docs: dict[str, str], q: str, scope: str | None, limit: int) -> list[tuple[str, int]]:
    out = []
    for path in sorted(docs):
        if scope and not (path == scope or path.startswith(scope + "/")):
            continue
        for i, line in enumerate(docs[path].splitlines(), 1):
            if q.casefold() in line.casefold():
                out.append((path, i))
                if len(out) >= limit:
                    return out
    return out


def test_search_matches_a_brute_force_scan() -> None:
    rng = random.Random(7)
    words = ["wood", "Wood", "woods", "stone", "cow", "rare1", "x", "ab-cd", "tree"]
    dirs = ["", "a/", "a-b/", "a.b/", "a/b/", "b/"]
    idx, docs = SearchIndex(), {}
    for step in range(1500):
        path = f"{rng.choice(dirs)}n{rng.randint(0, 300)}.md"
        if rng.random() < 0.15 and path in docs:
            idx.remove(path)
            del docs[path]
            continue
        common = rng.random() < 0.9
        lines = [
            " ".join(rng.choice(words[:3] if common else words) for _ in range(rng.randint(1, 4)))
            for _ in range(rng.randint(1, 3))
        ]
        text = "\n".join(lines) + "\n"
        docs[path] = text
        idx.put(path, text, str(step), len(text))
    for q in ["wood", "WOOD", "oo", "ood", "woods", "rare1", "ab-cd", "b-c", "x", "zzz", "d s"]:
        for scope in [None, "a", "a/b", "a-b", "b"]:
            for limit in (1, 7, 50, 10_000):
                got = [(h.path, h.line) for h in idx.search(q, scope, limit)]
                assert got == _brute(docs, q, scope, limit), (q, scope, limit)
