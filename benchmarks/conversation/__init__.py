"""A keyless conversational memory benchmark, generated from a seed.

Multi-session dialogues in which facts are stated, updated, corrected and asked about
much later (single fact, multi-hop, temporal, abstention); answers checked exactly; a
scripted task model that answers only from the context it is given. See
:mod:`.dialogue` (generator and checker), :mod:`.players` (memory writers and the task
model), :mod:`.writer` (the scaffold-following memory model and the weak start
scaffold), :mod:`.run` (conditions, runner), :mod:`.report` (tables and contrasts) and
:mod:`.evaluator` / :mod:`.train` (the structural loop on dialogues).
"""

from .dialogue import ABSTAIN, QUESTION_TYPES, SIZES, Dialogue, Question, check, generate
from .players import ContextAnswerer, FactNoteWriter, MemGPTWriter
from .report import build_report, write_report
from .run import CONDITIONS, play, run_benchmark

__all__ = [
    "ABSTAIN",
    "CONDITIONS",
    "QUESTION_TYPES",
    "SIZES",
    "ContextAnswerer",
    "Dialogue",
    "FactNoteWriter",
    "MemGPTWriter",
    "Question",
    "build_report",
    "check",
    "generate",
    "play",
    "run_benchmark",
    "write_report",
]
