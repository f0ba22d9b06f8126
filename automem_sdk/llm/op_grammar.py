"""The op-token grammar for constrained decoding: one op, ``<|NAME|>args<|END|>`` or ``<|DONE|>``.

Two forms of the same grammar:

- :class:`OpTracker`, a character automaton used by the in-process provider's logits
  processor (:mod:`automem_sdk.llm.local`): per decoding state it precomputes which
  vocabulary entries keep the output inside the grammar.
- :func:`op_gbnf`, a GBNF grammar (package data ``op_grammar.gbnf``) for llama.cpp
  servers, sent as the ``grammar`` request field.

The grammar follows :mod:`automem_sdk.codec`: a name is ``[A-Za-z][A-Za-z0-9_]*``;
inside arguments ``\\`` escapes the next character, and ``<|`` may only start the
closing ``<|END|>``.

Both forms can also be restricted to a set of op names (:func:`op_names`; for a scaffold,
:meth:`~automem_sdk.scaffold.Scaffold.op_tokens`): then the name must be one of them,
spelled in capitals as the prompts show it, so a constrained model cannot invent an op
(``<|LOG|>``) or use one the scaffold disabled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from importlib import resources

__all__ = [
    "END_TOKEN",
    "OpState",
    "OpTracker",
    "accepts_from",
    "advance",
    "grammar_setting",
    "op_gbnf",
    "op_names",
]

END_TOKEN = "<|END|>"
_END_TAIL = "END|>"


class OpState(IntEnum):
    """States of the op automaton (one op per completion)."""

    START = 0  # expects "<"
    LT = 1  # expects "|"
    NAME_START = 2  # expects a letter
    NAME = 3  # name characters or "|"
    BAR = 4  # expects ">" (end of the header)
    ARGS = 5  # any character; "\\" escapes; "<" may start the closing token
    ARGS_ESC = 6  # after "\\": any character
    ARGS_LT = 7  # after "<" in arguments: "|" starts the closing token, else back to ARGS
    CLOSE = 8  # after "<|" in arguments: must spell "END|>"
    CLOSE_E = 9
    CLOSE_EN = 10
    CLOSE_END = 11
    CLOSE_BAR = 12
    FINISHED = 13  # "<|DONE|>" or "...<|END|>" complete: nothing more may follow


#: states from which the automaton reads characters (FINISHED reads none)
LIVE_STATES: tuple[OpState, ...] = tuple(s for s in OpState if s is not OpState.FINISHED)
_CLOSE_CHAIN = {
    OpState.CLOSE: ("E", OpState.CLOSE_E),
    OpState.CLOSE_E: ("N", OpState.CLOSE_EN),
    OpState.CLOSE_EN: ("D", OpState.CLOSE_END),
    OpState.CLOSE_END: ("|", OpState.CLOSE_BAR),
    OpState.CLOSE_BAR: (">", OpState.FINISHED),
}


_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _is_name_char(ch: str) -> bool:
    return ch == "_" or (ch.isascii() and ch.isalnum())


def op_names(names: Iterable[str]) -> frozenset[str]:
    """Normalise op names for a restricted grammar (capitals, validated).

    Raises:
        ValueError: a name is not a valid op token name, or there is none.
    """
    out = set()
    for name in names:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"not an op token name: {name!r}")
        out.add(name.upper())
    if not out:
        raise ValueError("a restricted op grammar needs at least one op name")
    return frozenset(out)


def grammar_setting(grammar: bool | Iterable[str] | None) -> bool | frozenset[str]:
    """A client's ``grammar=`` argument: ``True``/``False``, or restricted op names.

    Raises:
        LLMError: a string (not a collection of names) or invalid names.
    """
    from automem_sdk.errors import LLMError

    if grammar is None or isinstance(grammar, bool):
        return bool(grammar)
    if isinstance(grammar, str):
        raise LLMError("grammar= takes True/False or a collection of op names, not a string")
    try:
        return op_names(grammar)
    except ValueError as exc:
        raise LLMError(f"bad grammar= op names: {exc}") from exc


def _name_ok(buf: str, names: frozenset[str] | None, *, complete: bool) -> bool:
    if names is None:
        return True
    if complete:
        return buf in names
    return any(n.startswith(buf) for n in names)


def advance(state: OpState, ch: str) -> OpState | None:
    """One step of the automaton, ignoring which name was spelled.

    Args:
        state: the current state.
        ch: the next character.

    Returns:
        The next state, or ``None`` when ``ch`` leaves the grammar. A completed header
        always moves to :attr:`OpState.ARGS` here; :class:`OpTracker` turns
        ``<|DONE|>`` into :attr:`OpState.FINISHED`.
    """
    if state is OpState.START:
        return OpState.LT if ch == "<" else None
    if state is OpState.LT:
        return OpState.NAME_START if ch == "|" else None
    if state is OpState.NAME_START:
        return OpState.NAME if ch.isascii() and ch.isalpha() else None
    if state is OpState.NAME:
        if ch == "|":
            return OpState.BAR
        return OpState.NAME if _is_name_char(ch) else None
    if state is OpState.BAR:
        return OpState.ARGS if ch == ">" else None
    if state is OpState.ARGS:
        if ch == "\\":
            return OpState.ARGS_ESC
        return OpState.ARGS_LT if ch == "<" else OpState.ARGS
    if state is OpState.ARGS_ESC:
        return OpState.ARGS
    if state is OpState.ARGS_LT:
        if ch == "|":
            return OpState.CLOSE
        if ch == "\\":
            return OpState.ARGS_ESC
        return OpState.ARGS_LT if ch == "<" else OpState.ARGS
    if state in _CLOSE_CHAIN:
        want, nxt = _CLOSE_CHAIN[state]
        return nxt if ch == want else None
    return None  # FINISHED


def accepts_from(
    state: OpState, text: str, *, names: frozenset[str] | None = None, prefix: str = ""
) -> bool:
    """Whether ``text`` can follow in ``state`` without leaving the grammar.

    Text past the end of the op is rejected, except that a completed header may be
    followed by anything when ``names`` is ``None`` (the name is unknown here, see
    :func:`advance`).

    Args:
        state: the automaton state.
        text: the candidate continuation.
        names: restrict op names to these (from :func:`op_names`).
        prefix: the part of the name already spelled (``state`` in the header).
    """
    if not text:
        return True
    if state is OpState.ARGS and "<" not in text and "\\" not in text:
        return True  # fast path: ordinary argument text
    current: OpState | None = state
    buf = prefix
    for i, ch in enumerate(text):
        if current is None or current is OpState.FINISHED:
            return False
        nxt = advance(current, ch)
        if names is not None and current < OpState.ARGS:
            if nxt is OpState.NAME:
                buf += ch
                if not _name_ok(buf, names, complete=False):
                    return False
            elif nxt is OpState.BAR and not _name_ok(buf, names, complete=True):
                return False
            elif current is OpState.BAR and nxt is OpState.ARGS:
                rest = text[i + 1 :]
                return not rest if buf == "DONE" else accepts_from(OpState.ARGS, rest)
        current = nxt
    return current is not None


@dataclass
class OpTracker:
    """Follows one completion character by character.

    Attributes:
        state: the automaton state after the text seen so far.
        name: the op name spelled in the header (empty until it is complete).
        text: the text kept so far (characters after the end of the op are dropped).
        violated: a character left the grammar (the rest of the text is dropped).
    """

    state: OpState = OpState.START
    name: str = ""
    text: str = ""
    violated: bool = False
    names: frozenset[str] | None = None
    _name_buf: list[str] = field(default_factory=list, repr=False)

    @property
    def name_prefix(self) -> str:
        """The part of the op name spelled so far."""
        return "".join(self._name_buf)

    @property
    def finished(self) -> bool:
        """The op is complete (``<|DONE|>`` or the closing ``<|END|>`` was produced)."""
        return self.state is OpState.FINISHED

    @property
    def in_args(self) -> bool:
        """The header is complete and the arguments are being written."""
        return OpState.ARGS <= self.state < OpState.FINISHED

    def feed(self, piece: str) -> None:
        """Consume more generated text."""
        for ch in piece:
            if self.finished or self.violated:
                return
            nxt = advance(self.state, ch)
            if nxt is None:
                self.violated = True
                return
            if nxt is OpState.NAME:  # a name character
                self._name_buf.append(ch)
                if not _name_ok(self.name_prefix, self.names, complete=False):
                    self._name_buf.pop()
                    self.violated = True
                    return
            elif nxt is OpState.BAR and not _name_ok(self.name_prefix, self.names, complete=True):
                self.violated = True
                return
            self.text += ch
            if self.state is OpState.BAR:
                self.name = "".join(self._name_buf)
                if self.name.upper() == "DONE":
                    nxt = OpState.FINISHED
            self.state = nxt

    def closed_text(self) -> str:
        """The op text, with ``<|END|>`` appended if generation stopped inside arguments."""
        if self.in_args:
            text = self.text
            # drop a half-written closing token before closing it properly
            if self.state in _CLOSE_CHAIN or self.state is OpState.ARGS_LT:
                text = text[: text.rfind("<")]
            elif self.state is OpState.ARGS_ESC:
                text = text[:-1]
            return text + END_TOKEN
        return self.text


def op_gbnf(names: Iterable[str] | None = None) -> str:
    """The same grammar in GBNF, for llama.cpp's ``grammar`` request field.

    Args:
        names: restrict op names to these (see :func:`op_names`); ``DONE`` is allowed
            only if it is among them.
    """
    text = resources.files("automem_sdk.llm").joinpath("op_grammar.gbnf").read_text("utf-8")
    if names is None:
        return text
    allowed = sorted(op_names(names))
    ops = [n for n in allowed if n != "DONE"]
    alts = ["done"] if "DONE" in allowed else []
    if ops:
        alts.append("op")
    lines = []
    for line in text.splitlines():
        if line.startswith("root "):
            line = f'root  ::= "<|" ( {" | ".join(alts)} )'
        elif line.startswith("done "):
            line = 'done  ::= "DONE|>"'
        elif line.startswith(("name ", "op ", "args ", "plain ", "esc ", "lts ")) and not ops:
            line = ""  # only <|DONE|> is allowed: no op rules
        elif line.startswith("name "):
            line = "name  ::= " + " | ".join(f'"{n}"' for n in ops)
        lines.append(line)
    return "\n".join(line for line in lines if line) + "\n"
