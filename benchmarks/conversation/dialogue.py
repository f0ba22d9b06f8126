"""Seeded multi-session dialogues with facts stated, updated, corrected and asked later.

:func:`generate` turns ``(seed, size)`` into a :class:`Dialogue`: sessions of user turns
(facts among small talk) and, after the last session, questions of four types:

- ``single``: a fact's current value (``What is my car?`` after it was stated, maybe
  corrected: ``Sorry, I was wrong: my car is Volvo, not Fiat.``);
- ``multihop``: two facts joined (``My sister is called Maya.`` ... ``Maya lives in
  Oslo.`` -> ``In which city does my sister live?``);
- ``temporal``: the value before an update (``Update: my city changed from Oslo to
  Lima.`` -> ``What was my city before it changed?``);
- ``abstain``: a fact never stated; the answer is ``unknown``.

The same seed always gives the same dialogue (one :class:`random.Random`, no global
state); :func:`check` compares an answer with the expected one exactly, after
normalising case, punctuation and the ways of saying "I don't know".
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ABSTAIN",
    "QUESTION_TYPES",
    "SIZES",
    "Dialogue",
    "Question",
    "Session",
    "Size",
    "check",
    "generate",
    "normalize",
]

QuestionType = Literal["single", "multihop", "temporal", "abstain"]
QUESTION_TYPES: tuple[QuestionType, ...] = ("single", "multihop", "temporal", "abstain")
#: The expected answer of an abstention question.
ABSTAIN = "unknown"


@dataclass(frozen=True)
class Size:
    """How much a dialogue asks memory to hold."""

    name: str
    sessions: int
    attributes: int
    people: int
    updates: int
    corrections: int
    abstain: int
    turns_per_session: int = 6


#: Memory sizes: facts held and sessions they are spread over.
SIZES: dict[str, Size] = {
    "S": Size("S", sessions=4, attributes=4, people=1, updates=1, corrections=1, abstain=2),
    "M": Size("M", sessions=8, attributes=8, people=2, updates=2, corrections=2, abstain=2),
    "L": Size("L", sessions=16, attributes=12, people=3, updates=3, corrections=3, abstain=3),
}

_VALUES: dict[str, tuple[str, ...]] = {
    "city": ("Oslo", "Lima", "Porto", "Kyoto", "Quito", "Dakar", "Perth", "Riga", "Turin"),
    "job": ("nurse", "plumber", "teacher", "pilot", "chemist", "baker", "lawyer", "editor"),
    "car": ("Volvo", "Fiat", "Skoda", "Tesla", "Subaru", "Mazda", "Dacia", "Lancia"),
    "color": ("teal", "amber", "violet", "crimson", "olive", "indigo", "coral", "ivory"),
    "pet": ("Biscuit", "Pepper", "Rex", "Mochi", "Luna", "Ziggy", "Nacho", "Olive"),
    "drink": ("matcha", "espresso", "kombucha", "lemonade", "chai", "cider", "kefir"),
    "sport": ("squash", "rowing", "judo", "fencing", "curling", "hockey", "archery"),
    "instrument": ("cello", "banjo", "oboe", "harp", "ukulele", "trumpet", "sitar"),
    "language": ("Finnish", "Swahili", "Tagalog", "Welsh", "Basque", "Korean", "Greek"),
    "dish": ("ramen", "paella", "goulash", "tacos", "risotto", "pierogi", "falafel"),
    "flower": ("tulip", "lilac", "orchid", "peony", "daisy", "iris", "lotus"),
    "airline": ("Finnair", "Iberia", "Qantas", "Avianca", "Emirates", "Lufthansa"),
    "dentist": ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Brennan", "Castillo"),
    "bank": ("Nordea", "Monzo", "Revolut", "Rabobank", "Unicaja", "Santander"),
    "gym": ("Ironworks", "Pulse", "Summit", "Forge", "Apex", "Vertex"),
    "podcast": ("Radiolab", "Serial", "Freakonomics", "Hardcore", "Invisibilia"),
}
_RELATIONS = ("sister", "brother", "boss", "neighbor", "cousin", "mentor")
_NAMES = ("Maya", "Tomas", "Ines", "Kofi", "Greta", "Ravi", "Sofia", "Emil", "Yara", "Joon")
_FILLER = (
    "Can you help me draft an email about the quarterly review?",
    "What is a good way to learn touch typing?",
    "Summarise the pros and cons of standing desks, please.",
    "I had a long day, tell me a short joke.",
    "How do I convert a list to a set in Python?",
    "Recommend a documentary about the ocean.",
    "What should I pack for a weekend hike?",
    "Explain compound interest in two sentences.",
    "Give me three ideas for a birthday card message.",
    "How long should I boil an egg for a soft yolk?",
    "What is the difference between weather and climate?",
    "Can you suggest a name for a book club?",
    "Translate 'good morning' into French.",
    "How many minutes of exercise a day is healthy?",
    "Write a haiku about autumn rain.",
    "What are some tips for a job interview?",
    "Thanks, that was helpful.",
    "Remind me what a prime number is.",
    "How do plants make oxygen?",
    "Any advice for sleeping better?",
)


@dataclass(frozen=True)
class Question:
    """One question asked after the last session.

    Attributes:
        qtype: ``single``, ``multihop``, ``temporal`` or ``abstain``.
        text: what the user asks.
        answer: the expected answer (``unknown`` for abstention).
        key: the fact asked about (``city``, ``sister``).
        session: the session whose turn holds the evidence (-1 for abstention).
        turn: the global index of that user turn (-1 for abstention).
    """

    qtype: QuestionType
    text: str
    answer: str
    key: str
    session: int = -1
    turn: int = -1


@dataclass(frozen=True)
class Session:
    """One conversation: its user turns, in order."""

    index: int
    turns: tuple[str, ...]


@dataclass
class Dialogue:
    """Sessions of user turns, then questions about them."""

    seed: int
    size: str
    sessions: list[Session] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    def turns(self) -> list[tuple[int, str]]:
        """Every user turn as ``(session index, text)``, in order."""
        return [(s.index, t) for s in self.sessions for t in s.turns]


@dataclass
class _Plan:
    slots: list[list[str]]

    def put(self, rng: random.Random, text: str, lo: int, hi: int) -> tuple[int, int]:
        """Put a fact turn in a random session in [lo, hi]; return (session, position)."""
        s = rng.randint(lo, hi)
        self.slots[s].append(text)
        return s, len(self.slots[s]) - 1


def generate(seed: int, size: str | Size = "M") -> Dialogue:
    """The dialogue of ``seed`` at memory size ``size`` (``S``, ``M``, ``L``).

    Raises:
        KeyError: an unknown size name.
    """
    sz = SIZES[size] if isinstance(size, str) else size
    rng = random.Random(f"automem-conversation/{sz.name}/{seed}")
    n = sz.sessions
    attrs = rng.sample(sorted(_VALUES), sz.attributes + sz.abstain)
    stated, never = attrs[: sz.attributes], attrs[sz.attributes :]
    plan = _Plan([[] for _ in range(n)])
    marks: dict[str, tuple[int, int]] = {}  # key -> (session, position) of its evidence
    truth: dict[str, str] = {}
    before: dict[str, str] = {}
    updated = stated[: sz.updates]
    corrected = stated[sz.updates : sz.updates + sz.corrections]
    first_half = max(0, n // 2 - 1)
    for a in stated:
        v0, v1 = rng.sample(_VALUES[a], 2)
        if a in updated:
            s0, _ = plan.put(rng, f"My {a} is {v0}.", 0, first_half)
            marks[a] = plan.put(rng, f"Update: my {a} changed from {v0} to {v1}.", s0 + 1, n - 1)
            truth[a], before[a] = v1, v0
        elif a in corrected:
            s0, _ = plan.put(rng, f"My {a} is {v0}.", 0, n - 1)
            s1 = min(n - 1, s0 + rng.randint(0, 1))
            marks[a] = plan.put(rng, f"Sorry, I was wrong: my {a} is {v1}, not {v0}.", s1, s1)
            truth[a] = v1
        else:
            marks[a] = plan.put(rng, f"My {a} is {v0}.", 0, n - 1)
            truth[a] = v0
    people: dict[str, tuple[str, str]] = {}
    for rel, name in zip(
        rng.sample(_RELATIONS, sz.people), rng.sample(_NAMES, sz.people), strict=True
    ):
        city = rng.choice(_VALUES["city"])
        s0, _ = plan.put(rng, f"My {rel} is called {name}.", 0, n - 1)
        marks[rel] = plan.put(rng, f"{name} lives in {city}.", 0, n - 1)
        people[rel] = (name, city)
    sessions: list[Session] = []
    positions: dict[tuple[int, int], int] = {}
    g = 0
    for s, facts in enumerate(plan.slots):
        fill = max(0, sz.turns_per_session - len(facts))
        turns = [*facts, *rng.sample(_FILLER, fill)]
        order = list(range(len(turns)))
        # facts keep their relative order (an update after its statement), fillers shuffle in
        fact_pos = sorted(rng.sample(range(len(turns)), len(facts)))
        rest = [i for i in order if i not in fact_pos]
        arranged: list[str] = [""] * len(turns)
        for k, p in enumerate(fact_pos):
            arranged[p] = facts[k]
            positions[(s, k)] = g + p
        for k, p in enumerate(rest):
            arranged[p] = turns[len(facts) + k]
        sessions.append(Session(s, tuple(arranged)))
        g += len(arranged)
    qs: list[Question] = []
    for a in stated:
        s, k = marks[a]
        qs.append(Question("single", f"What is my {a}?", truth[a], a, s, positions[(s, k)]))
    for a in updated:
        s, k = marks[a]
        q = f"What was my {a} before it changed?"
        qs.append(Question("temporal", q, before[a], a, s, positions[(s, k)]))
    for rel, (_name, city) in people.items():
        s, k = marks[rel]
        q = f"In which city does my {rel} live?"
        qs.append(Question("multihop", q, city, rel, s, positions[(s, k)]))
    for a in never:
        qs.append(Question("abstain", f"What is my {a}?", ABSTAIN, a))
    rng.shuffle(qs)
    return Dialogue(seed=seed, size=sz.name, sessions=sessions, questions=qs)


_UNKNOWN = re.compile(
    r"^(unknown|i don'?t know|not (stated|known|mentioned|said)|never (said|mentioned)|"
    r"no (idea|information)|n/?a|none)$"
)


def normalize(answer: str) -> str:
    """Lower case, outer punctuation and articles stripped; every way of saying "I
    don't know" becomes ``unknown``."""
    a = answer.strip().lower()
    a = re.sub(r"^(the answer is|answer:)\s*", "", a)
    a = a.strip(" \t\n.!?\"'`*")
    a = re.sub(r"^(a|an|the)\s+", "", a)
    a = re.sub(r"\s+", " ", a)
    return ABSTAIN if _UNKNOWN.match(a) else a


def check(question: Question, answer: str) -> bool:
    """Whether ``answer`` is exactly the expected answer (after :func:`normalize`)."""
    return normalize(answer) == normalize(question.answer)
