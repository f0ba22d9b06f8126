"""In-memory search index of a :class:`~automem_sdk.store.MemoryStore`.

The index holds, per file, its content (the store is bounded by ``max_store_bytes``, so
this is bounded too), its case-folded content and its set of word tokens, plus an
inverted index ``token -> files``. A query (case-insensitive substring, matched per
line) is turned into constraints on files:

* a word of the query with non-word characters on both sides must be a whole token of
  the file (exact posting lookup);
* a word at the start of the query must *end* a token of the file, a word at the end
  must *start* one, and a query that is a single word must occur inside a token; these
  are answered from a sorted-free vocabulary string searched with ``str.find``.

Constraints are intersected, smallest first, and only the surviving files are scanned
line by line. The constraints are necessary conditions, so results are exactly those of
a full scan. The index is updated on every mutation and by journal replay.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from automem_sdk.errors import AutomemError

__all__ = ["SearchHit", "SearchIndex"]

_TOKEN = re.compile(r"\w+")
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_MIN_PARTIAL = 2  # partial words shorter than this match too much to be worth expanding
_CHECKPOINT_VERSION = 1


class SearchHit(BaseModel):
    """One matching line.

    Attributes:
        path: file that contains the line.
        line: 1-based line number.
        text: the line, verbatim.
    """

    path: str
    line: int
    text: str


@dataclass(slots=True)
class _Doc:  # folded and tokens are empty until SearchIndex._settle for put_lazy docs
    sha: str
    size: int
    text: str
    folded: str
    tokens: frozenset[str]


class SearchIndex:
    """Contents, tokens and postings of every file in a store."""

    def __init__(self) -> None:
        self._docs: dict[str, _Doc] = {}
        self._postings: dict[str, set[str]] = {}
        self._dirs: dict[str, int] | None = {}  # folder -> files under it; None: not built
        self._vocab: str | None = None
        self._stale_vocab = 0  # removed words still listed in _vocab
        self._order: list[str] = []  # every path, sorted (search walks it in order)
        self._pending: set[str] = set()  # loaded by put_lazy, not tokenised yet
        self._unsorted = False  # _order has paths appended by put_lazy
        self.total_bytes = 0

    # -- inspection --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, path: object) -> bool:
        return path in self._docs

    def paths(self) -> list[str]:
        """All file paths, sorted."""
        if self._unsorted:
            self._order.sort()
            self._unsorted = False
        return list(self._order)

    def text(self, path: str) -> str | None:
        """Content of ``path`` or ``None``."""
        doc = self._docs.get(path)
        return None if doc is None else doc.text

    def sha(self, path: str) -> str | None:
        """Content address of ``path`` or ``None``."""
        doc = self._docs.get(path)
        return None if doc is None else doc.sha

    def size(self, path: str) -> int:
        """Size in bytes of ``path`` (0 if absent)."""
        doc = self._docs.get(path)
        return 0 if doc is None else doc.size

    def is_dir(self, path: str) -> bool:
        """Whether some file lives under ``path/``."""
        return self._folders().get(path, 0) > 0

    def _folders(self) -> dict[str, int]:
        if self._dirs is None:
            dirs: dict[str, int] = {}
            for p in self._docs:
                for parent in _parents(p):
                    dirs[parent] = dirs.get(parent, 0) + 1
            self._dirs = dirs
        return self._dirs

    def manifest(self) -> dict[str, tuple[str, int]]:
        """``path -> (sha256, size)`` for every file."""
        return {p: (d.sha, d.size) for p, d in self._docs.items()}

    def texts_by_sha(self) -> dict[str, str]:
        """``sha256 -> content`` for every current file."""
        return {d.sha: d.text for d in self._docs.values()}

    # -- mutation ----------------------------------------------------------------------
    def put_lazy(self, path: str, text: str, sha: str, size: int) -> None:
        """Add a new ``path`` whose tokens are computed on the first search (opening a
        store tokenises nothing). ``path`` must not be in the index yet."""
        if path in self._docs:
            raise ValueError(f"{path} is already indexed")
        self._docs[path] = _Doc(sha, size, text, "", frozenset())
        self._pending.add(path)
        self._order.append(path)
        self._unsorted = True
        self._dirs = None  # counted when first asked for
        self.total_bytes += size

    def _settle(self) -> None:
        """Tokenise what :meth:`put_lazy` loaded; sort the path list."""
        if self._unsorted:
            self._order.sort()
            self._unsorted = False
        if not self._pending:
            return
        postings = self._postings
        grown = self._vocab is not None
        for path in self._pending:
            doc = self._docs[path]
            doc.folded = doc.text.casefold()
            doc.tokens = frozenset(_TOKEN.findall(doc.folded))
            for tok in doc.tokens:
                posting = postings.get(tok)
                if posting is None:
                    postings[tok] = {path}
                    if grown:
                        self._vocab = None  # rebuilt on the next partial search
                        grown = False
                else:
                    posting.add(path)
        self._pending.clear()

    def put(self, path: str, text: str, sha: str, size: int) -> None:
        """Add or replace ``path``."""
        old = self._docs.get(path)
        if old is not None and old.sha == sha:
            return
        self._settle()
        if (
            old is not None
            and len(text) > len(old.text)
            and (not old.text or _TOKEN.match(old.text[-1]) is None)
            and text.startswith(old.text)
        ):  # an append after a word boundary: only the new tail needs tokenising
            tail = text[len(old.text) :].casefold()
            folded = old.folded + tail
            tokens = old.tokens | frozenset(_TOKEN.findall(tail))
        else:
            folded = text.casefold()
            tokens = frozenset(_TOKEN.findall(folded))
        old_tokens: frozenset[str] = frozenset()
        if old is None:
            bisect.insort(self._order, path)
            dirs = self._folders()
            for parent in _parents(path):
                dirs[parent] = dirs.get(parent, 0) + 1
        else:
            old_tokens = old.tokens
            self.total_bytes -= old.size
        for tok in old_tokens - tokens:
            self._unpost(tok, path)
        for tok in tokens - old_tokens:
            posting = self._postings.get(tok)
            if posting is None:
                self._postings[tok] = {path}
                if self._vocab is not None:  # grow the vocabulary in place
                    self._vocab += tok + "\n"
            else:
                posting.add(path)
        self._docs[path] = _Doc(sha, size, text, folded, tokens)
        self.total_bytes += size

    def remove(self, path: str) -> None:
        """Drop ``path`` if present."""
        if path not in self._docs:
            return
        self._settle()
        dirs = self._folders()  # counted before the file goes
        doc = self._docs.pop(path)
        i = bisect.bisect_left(self._order, path)
        if i < len(self._order) and self._order[i] == path:
            del self._order[i]
        self.total_bytes -= doc.size
        for tok in doc.tokens:
            self._unpost(tok, path)
        for parent in _parents(path):
            left = dirs[parent] - 1
            if left:
                dirs[parent] = left
            else:
                del dirs[parent]

    def _unpost(self, tok: str, path: str) -> None:
        posting = self._postings[tok]
        posting.discard(path)
        if not posting:
            del self._postings[tok]
            self._stale_vocab += 1
            if self._stale_vocab > 1024 and self._stale_vocab > len(self._postings) // 4:
                self._vocab = None  # many dead words: rebuild on the next partial search

    # -- search ------------------------------------------------------------------------
    def _ordered(self, scope: str | None) -> Iterator[str]:
        """Paths in sorted order, from the first one under ``scope`` (all if ``None``)."""
        order = self._order
        if not scope:
            yield from order
            return
        under = scope + "/"
        i = bisect.bisect_left(order, scope)
        while i < len(order):
            path = order[i]
            if path != scope and not path.startswith(under):
                if path > under:
                    return
            else:
                yield path
            i += 1

    def _expand(self, word: str, anchored_start: bool, anchored_end: bool) -> set[str] | None:
        """Files holding a token that contains ``word`` (``None``: too many to list)."""
        if self._vocab is None:
            self._vocab = "\n" + "\n".join(self._postings) + "\n"
            self._stale_vocab = 0
        vocab = self._vocab
        needle = ("\n" if anchored_start else "") + word + ("\n" if anchored_end else "")
        postings: list[set[str]] = []
        total = 0
        dense = len(self._docs) // 8
        pos = vocab.find(needle)
        while pos >= 0:
            start = vocab.rfind("\n", 0, pos + (1 if anchored_start else 0)) + 1
            end = vocab.find("\n", pos + len(needle) - (1 if anchored_end else 0))
            posting = self._postings.get(vocab[start:end])  # None: a removed word
            if posting:
                postings.append(posting)
                total += len(posting)
                if total > dense:
                    return None  # most files match: cheaper to scan them in order
            pos = vocab.find(needle, end)
        out: set[str] = set()
        for posting in postings:
            out |= posting
        return out

    def candidates(self, folded_query: str) -> Iterable[str] | None:
        """Files that can contain ``folded_query``; ``None`` means "no constraint"."""
        sets: list[set[str]] = []
        n = len(folded_query)
        for m in _TOKEN.finditer(folded_query):
            word = m.group()
            whole_start, whole_end = m.start() > 0, m.end() < n
            if whole_start and whole_end:
                posting = self._postings.get(word)
                if not posting:
                    return ()
                sets.append(posting)
            elif whole_start or whole_end or len(word) >= _MIN_PARTIAL:
                # A word that touches the query's start is the *end* of a token, etc.
                expanded = self._expand(word, anchored_start=whole_start, anchored_end=whole_end)
                if expanded is None:
                    continue  # too common to narrow anything down
                if not expanded:
                    return ()
                sets.append(expanded)
        if not sets:
            return None
        sets.sort(key=len)
        if len(sets) == 1:
            return sets[0]  # read-only use: no copy
        result = set(sets[0])
        for other in sets[1:]:
            result &= other
            if not result:
                break
        return result

    def search(self, query: str, scope: str | None = None, limit: int = 50) -> list[SearchHit]:
        """Case-insensitive substring search, per line.

        Args:
            query: the text to find (an empty query matches nothing).
            scope: ``None`` for all files, else a file path or a directory prefix.
            limit: maximum number of hits, in path then line order.

        Returns:
            The matching lines.
        """
        q = query.casefold()
        if not q or limit <= 0 or any(ch in _LINE_BREAKS for ch in q):
            return []
        self._settle()
        cand = self.candidates(q)
        if cand is not None and not isinstance(cand, set):
            cand = set(cand)
        if cand is not None and len(cand) * 8 < len(self._docs):
            # few candidates: visit just those, in order
            paths: Iterable[str] = sorted(
                p for p in cand if not scope or p == scope or p.startswith(scope + "/")
            )
        else:
            # many candidates (a common or partial word): walk the sorted paths and stop
            # at ``limit`` hits, never sorting the candidate set
            paths = self._ordered(scope)
        hits: list[SearchHit] = []
        for path in paths:
            if cand is not None and path not in cand:
                continue
            doc = self._docs[path]
            if q not in doc.folded:
                continue
            for i, line in enumerate(doc.text.splitlines(), 1):
                if q in line.casefold():
                    hits.append(SearchHit(path=path, line=i, text=line))
                    if len(hits) >= limit:
                        return hits
        return hits

    # -- checkpoint --------------------------------------------------------------------
    def dump_cache(self) -> bytes:
        """Serialise the content cache (``sha256 -> text``) for fast reopening."""
        body = {"schema_version": _CHECKPOINT_VERSION, "texts": self.texts_by_sha()}
        return json.dumps(body, ensure_ascii=False).encode("utf-8")


def load_cache(data: bytes) -> dict[str, str]:
    """Parse a content cache written by :meth:`SearchIndex.dump_cache`.

    Raises:
        AutomemError: the cache is unreadable or from an unsupported version.
    """
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise AutomemError(f"index cache is unreadable: {exc}") from exc
    if not isinstance(body, dict) or body.get("schema_version") != _CHECKPOINT_VERSION:
        raise AutomemError("index cache has an unsupported schema version")
    texts = body.get("texts")
    if not isinstance(texts, dict):
        raise AutomemError("index cache has no texts")
    return {str(k): str(v) for k, v in texts.items()}


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
