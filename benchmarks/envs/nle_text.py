"""Text observations and named actions for the NLE games (NetHack and MiniHack).

An NLE observation (glyphs, chars, blstats, tty_chars, inventory arrays) becomes text in
five parts: the game message, a language description of the surroundings (in the style
of BALROG's language wrapper: ``staircase down far east``, ``wall adjacent north``,
``jackals near west and southwest``), the explored part of the ASCII map with its
coordinates, a status line read from blstats, and the inventory. The description uses
lookup tables built once per process (names, roles and distance/direction words of every
glyph and offset) and a numpy scan of the explored area: every monster, object and
dungeon feature (stairs, fountains, closed doors, ...) on screen is listed; walls,
doorways, traps and unexplored darkness are listed along eight rays from the player, up
to the first wall. Parts that did not change since the last step are reused.

:class:`NLETextEnv` is the shared :class:`~automem_sdk.env.TextEnv` machinery of
:mod:`~automem_sdk.benchmarks.envs.nethack` and :mod:`~automem_sdk.benchmarks.envs.minihack`:
named actions, invalid action -> default action with feedback, ``--More--`` skipping,
"did anything change" detection, a step cap, and the ``info`` dict scripted policies read.

The game metadata (action names, descriptions, status words, glyph naming rules and the
instruction prompts) lives in the package data file ``data/nle_text.json``.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from automem_sdk.env import StepResult
from automem_sdk.errors import AutomemError

__all__ = [
    "DIRECTIONS16",
    "DISTANCES",
    "NLE_OBS_STYLES",
    "ActionSet",
    "GameSetupError",
    "GlyphTable",
    "NLETextEnv",
    "RenderedObservation",
    "TextRenderer",
    "action_names_of",
    "balrog_contexts",
    "cursor_text",
    "describe_glyphs",
    "glyph_table",
    "inventory_text",
    "message_text",
    "nle_text_data",
    "pluralize",
    "position_words",
    "status_text",
]

#: Distance words, farthest first (the order descriptions are listed in).
DISTANCES = ("very far", "far", "near", "very near", "adjacent")
#: Direction words, clockwise from north (the order descriptions are listed in).
DIRECTIONS16 = (
    "north",
    "northnortheast",
    "northeast",
    "eastnortheast",
    "east",
    "eastsoutheast",
    "southeast",
    "southsoutheast",
    "south",
    "southsouthwest",
    "southwest",
    "westsouthwest",
    "west",
    "westnorthwest",
    "northwest",
    "northnorthwest",
)
_DIR_INDEX = {d: i for i, d in enumerate(DIRECTIONS16)}
_MAP_H, _MAP_W = 21, 79
#: Observation styles: ``default`` (ours: message, language description, the explored
#: map cropped with its coordinates, status, inventory), ``balrog`` (BALROG's hybrid
#: text: message, language description, cursor, the full terminal screen; inventory as
#: ``info["short_term_context"]``), ``automem`` (ours, with autopickup on in MiniHack as
#: AutoMem's configs have it; NetHack picks up by default).
NLE_OBS_STYLES: tuple[str, ...] = ("default", "balrog", "automem")
_MULTI_PAGE = re.compile(rb"--More--|\(end\)|\(\d+ of \d+\)")
_MORE = b"--More--"
_BL_TIME = 20  # blstats index of the game clock (NLE_BL_TIME)
# NLE's StepStatus values (all tasks): -1 aborted, 0 running, 1 death, 2 task successful.
_STATUS_NAMES = {-1: "ABORTED", 0: "RUNNING", 1: "DEATH", 2: "TASK_SUCCESSFUL"}


class GameSetupError(AutomemError, RuntimeError):
    """A game cannot be set up (unknown task, missing level files, misuse of an env)."""


@lru_cache(maxsize=1)
def nle_text_data() -> dict[str, Any]:
    """The game metadata file ``data/nle_text.json`` (parsed once per process)."""
    path = resources.files("automem_sdk.benchmarks.data").joinpath("nle_text.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --------------------------------------------------------------------------- words
def pluralize(noun: str) -> str:
    """Plural of a glyph name, with the language wrapper's rules and exceptions."""
    g = nle_text_data()["glyphs"]
    if noun in g["plural_exceptions"]:
        return str(g["plural_exceptions"][noun])
    if any(noun.endswith(s) for s in g["mass_suffixes"]):
        return noun
    for prefix, repl in g["plural_prefixes"].items():
        if noun.startswith(prefix):
            return str(repl) + noun[len(prefix) :]
    if " of " in noun:  # "potion of healing" -> "potions of healing"
        head, tail = noun.split(" of ", 1)
        return pluralize(head) + " of " + tail
    if len(noun) >= 2 and noun[-1] == "y" and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("z", "x", "ch", "sh", "ss", "s")):
        return noun + "es"
    if noun.endswith("ff"):
        return noun[:-2] + "ves"
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    return noun + "s"


def position_words(dx: int, dy: int) -> tuple[str, str]:
    """Distance and direction words for an offset (``dy`` > 0 is north).

    ``(3, 0)`` is ``("near", "east")``, ``(5, 2)`` is ``("near", "eastnortheast")``: the
    diagonal part is named last, the remaining straight part first.
    """
    diag = min(abs(dx), abs(dy))
    diagonal = ""
    if diag > 0:
        diagonal = ("north" if dy > 0 else "south") + ("east" if dx > 0 else "west")
    y_rest = dy - diag if dy > 0 else dy + diag
    x_rest = dx - diag if dx > 0 else dx + diag
    span = max(abs(dx), abs(dy))
    if span <= 1:
        dist = "adjacent"
    elif span == 2:
        dist = "very near"
    elif span < 6:
        dist = "near"
    elif span < 20:
        dist = "far"
    else:
        dist = "very far"
    ydir = "north" if y_rest > 0 else "south" if y_rest < 0 else ""
    xdir = "east" if x_rest > 0 else "west" if x_rest < 0 else ""
    return dist, ydir + xdir + diagonal


def _join_directions(dirs: list[str]) -> str:
    if len(dirs) == 1:
        return dirs[0]
    if len(dirs) == 2:
        return f"{dirs[0]} and {dirs[1]}"
    return ", ".join(dirs[:-1]) + ", and " + dirs[-1]


# --------------------------------------------------------------------------- glyphs
@dataclass(frozen=True)
class GlyphTable:
    """Per-glyph names and roles, plus an offset lookup, built once from NLE's data.

    Attributes:
        names: name of every glyph ("" for floor and the like).
        name_ids: index of each glyph's name in ``names_unique`` (a list, for speed).
        names_unique: distinct names; ``plurals`` has their plural forms.
        screen: bool array, glyphs described wherever they are (monsters, objects,
            features such as stairs and fountains).
        ray: per glyph, described along the 8 rays from the player (walls, doorways,
            traps, unexplored darkness).
        blocking: per glyph, ends a ray (walls, darkness).
        offset_words: ``offset_words[(dy + 21) * 159 + dx + 79]`` is
            ``distance_index * 16 + direction_index`` (into DISTANCES, DIRECTIONS16) for
            a screen offset (dy grows south).
        kinds: one movement class character per glyph (see ``cmap.kinds`` in the data
            file): ``f`` floor, ``w`` wall, ``d`` doorway, ``D`` closed door, ``>``/``<``
            stairs, ``x`` danger, ``m`` monster, ``b`` boulder, ``o`` object, `` `` unknown.
    """

    names: tuple[str, ...]
    name_ids: list[int] = field(repr=False)
    names_unique: tuple[str, ...]
    plurals: tuple[str, ...]
    screen: np.ndarray = field(repr=False)
    ray: list[bool] = field(repr=False)
    blocking: list[bool] = field(repr=False)
    offset_words: list[int] = field(repr=False)
    kinds: str = field(default="", repr=False)


_OFF_W = 2 * _MAP_W + 1
# Ray order as in the language wrapper: E, SE, S, SW, W, NW, N, NE (screen y grows south).
_RAYS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
_RAY_LEN = 9


def _object_name(nh: Any, obj_id: int) -> str:
    oc = nh.objclass(obj_id)
    name = nh.OBJ_NAME(oc) or ""
    descr = nh.OBJ_DESCR(oc) or ""
    cls = ord(oc.oc_class)
    if cls in (nh.ARMOR_CLASS, nh.TOOL_CLASS):
        return descr or name
    if cls == nh.RING_CLASS:
        return f"{descr} ring"
    if cls == nh.AMULET_CLASS:
        return descr if "Amulet" in descr else f"{descr} amulet"
    if cls == nh.FOOD_CLASS:
        return name + descr
    if cls == nh.POTION_CLASS:
        return f"{descr} potion"
    if cls == nh.SCROLL_CLASS:
        return f"scroll labeled {descr}"
    if cls == nh.SPBOOK_CLASS:
        return f"{descr} spellbook"
    if cls == nh.WAND_CLASS:
        return f"{descr} wand"
    if cls == nh.GEM_CLASS:
        return name if descr in name else f"{descr} {name}"
    if cls == nh.VENOM_CLASS:
        return f"splash of {name}"
    if cls in (
        nh.ILLOBJ_CLASS,
        nh.WEAPON_CLASS,
        nh.COIN_CLASS,
        nh.ROCK_CLASS,
        nh.BALL_CLASS,
        nh.CHAIN_CLASS,
    ):
        return name
    return ""


def _glyph_names(nh: Any, data: dict[str, Any]) -> tuple[list[str], Any, Any, Any]:
    """Every glyph's name and its screen, ray and blocking flags (before ray masking)."""
    cm = data["cmap"]
    gd = data["glyphs"]
    n = int(nh.MAX_GLYPH)
    names = [""] * n
    screen = np.zeros(n, dtype=bool)
    ray = np.zeros(n, dtype=bool)
    blocking = np.zeros(n, dtype=bool)
    floor = set(cm["floor"])
    screen_cmap = set(cm["screen"])
    blocking_cmap = set(cm["blocking"])
    overrides = {int(k): v for k, v in cm["names"].items()}

    def mname(g: int) -> str:
        return str(nh.permonst(nh.glyph_to_mon(g)).mname)

    for g in range(n):
        if g >= nh.GLYPH_STATUE_OFF:
            names[g], screen[g] = mname(g) + " statue", True
        elif g >= nh.GLYPH_WARNING_OFF:
            names[g], screen[g] = gd["warnings"][(g - nh.GLYPH_WARNING_OFF) % 6], True
        elif g >= nh.GLYPH_SWALLOW_OFF:
            names[g], screen[g] = gd["swallow"][(g - nh.GLYPH_SWALLOW_OFF) % 8], True
        elif g >= nh.GLYPH_ZAP_OFF:
            names[g], screen[g] = gd["zap"][(g - nh.GLYPH_ZAP_OFF) % 4], True
        elif g >= nh.GLYPH_EXPLODE_OFF:
            names[g], screen[g] = gd["explosion"][(g - nh.GLYPH_EXPLODE_OFF) % 9], True
        elif g >= nh.GLYPH_CMAP_OFF:
            idx = g - nh.GLYPH_CMAP_OFF
            if idx in floor:
                continue
            names[g] = overrides.get(idx) or str(nh.symdef.from_idx(idx).explanation)
            if idx in screen_cmap:
                screen[g] = True
            else:
                ray[g] = True
                blocking[g] = idx in blocking_cmap
        elif g >= nh.GLYPH_OBJ_OFF:
            names[g] = _object_name(nh, g - nh.GLYPH_OBJ_OFF)
            screen[g] = bool(names[g])
        elif g >= nh.GLYPH_RIDDEN_OFF:
            names[g], screen[g] = "ridden " + mname(g), True
        elif g >= nh.GLYPH_BODY_OFF:
            names[g] = str(nh.permonst(g - nh.GLYPH_BODY_OFF).mname) + " corpse"
            screen[g] = True
        elif g >= nh.GLYPH_DETECT_OFF:
            names[g], screen[g] = "detected " + mname(g), True
        elif g >= nh.GLYPH_INVIS_OFF:
            names[g], screen[g] = "invisible creature", True
        elif g >= nh.GLYPH_PET_OFF:
            names[g], screen[g] = "tame " + mname(g), True
        else:
            names[g], screen[g] = mname(g), True
    return names, screen, ray, blocking


def _offset_words() -> list[int]:
    """Distance and direction word ids of every map offset, packed for describe_glyphs."""
    dist_pos = {d: i for i, d in enumerate(DISTANCES)}
    offset_words = [0] * ((2 * _MAP_H + 1) * _OFF_W)
    for sy in range(-_MAP_H, _MAP_H + 1):
        for sx in range(-_MAP_W, _MAP_W + 1):
            if sx == 0 and sy == 0:
                continue
            dist, direction = position_words(sx, -sy)
            offset_words[(sy + _MAP_H) * _OFF_W + sx + _MAP_W] = (
                dist_pos[dist] * 16 + _DIR_INDEX[direction]
            )
    return offset_words


@lru_cache(maxsize=1)
def glyph_table() -> GlyphTable:
    """Build (once per process) the glyph naming and lookup tables from NLE."""
    from nle import nethack as nh

    data = nle_text_data()
    names, screen, ray, blocking = _glyph_names(nh, data)
    n = len(names)
    ray &= ~screen
    kinds = _glyph_kinds(nh, n, data["cmap"]["kinds"], names)
    uniq: dict[str, int] = {}
    ids = [uniq.setdefault(nm, len(uniq)) for nm in names]
    unique = tuple(uniq)
    if len(unique) >= 4096:  # describe_glyphs packs name ids in 12 bits
        raise RuntimeError(f"{len(unique)} glyph names do not fit in 12 bits")
    return GlyphTable(
        names=tuple(names),
        name_ids=ids,
        names_unique=unique,
        plurals=tuple(pluralize(nm) if nm else "" for nm in unique),
        screen=screen,
        ray=ray.tolist(),
        blocking=(blocking & ray).tolist(),
        offset_words=_offset_words(),
        kinds=kinds,
    )


def _glyph_kinds(nh: Any, n: int, cmap_kinds: dict[str, Any], names: list[str]) -> str:
    """The movement class of every glyph (see :class:`GlyphTable`)."""
    by_cmap: dict[int, str] = {}
    for kind, idxs in cmap_kinds.items():
        if kind != "comment":
            for i in idxs:
                by_cmap[int(i)] = kind
    out = []
    for g in range(n):
        if g >= nh.GLYPH_STATUE_OFF:
            out.append("w")
        elif g >= nh.GLYPH_WARNING_OFF:
            out.append("m")
        elif g >= nh.GLYPH_SWALLOW_OFF:
            out.append("w")
        elif g >= nh.GLYPH_EXPLODE_OFF:
            out.append("f")
        elif g >= nh.GLYPH_CMAP_OFF:
            out.append(by_cmap.get(g - nh.GLYPH_CMAP_OFF, "f"))
        elif g >= nh.GLYPH_OBJ_OFF:
            out.append("b" if names[g] == "boulder" else "o")
        elif g >= nh.GLYPH_BODY_OFF and g < nh.GLYPH_RIDDEN_OFF:
            out.append("o")  # corpse
        else:
            out.append("m")
    return "".join(out)


_RayPlan = tuple[np.ndarray, list[tuple[int, int]], list[int]]


def _ray_plan(x: int, y: int, h: int, w: int) -> _RayPlan:
    """Flat indices of the 8 rays' cells, each ray's span in them, and their offset words."""
    t = glyph_table()
    idx: list[int] = []
    spans: list[tuple[int, int]] = []
    words: list[int] = []
    base = (_MAP_H - y) * _OFF_W + _MAP_W - x
    for ux, uy in _RAYS:
        start = len(idx)
        cx, cy = x, y
        for _ in range(_RAY_LEN):
            cx += ux
            cy += uy
            if not (0 <= cx < w and 0 <= cy < h):
                break
            idx.append(cy * w + cx)
            words.append(t.offset_words[base + cy * _OFF_W + cx])
        spans.append((start, len(idx)))
    return np.array(idx, dtype=np.intp), spans, words


def describe_glyphs(
    glyphs: np.ndarray,
    x: int,
    y: int,
    table: GlyphTable | None = None,
    ray_plans: dict[tuple[int, int, int, int], _RayPlan] | None = None,
    memo: dict[str, Any] | None = None,
    bbox: tuple[int, int, int, int] | None = None,
) -> str:
    """Language description of what the player at column ``x``, row ``y`` can see.

    One line per (thing, distance), farthest first, e.g. ``staircase down far east`` or
    ``walls adjacent north and west``; a thing seen several times in one direction is
    named in the plural.

    Args:
        glyphs: the (21, 79) glyph array.
        x: player column.
        y: player row.
        table: lookup tables (default: :func:`glyph_table`).
        ray_plans: a dict to cache the per-position ray cells in (speed only).
        memo: a dict remembering the last description (speed only).
        bbox: (x0, y0, x1, y1), a box holding every non-blank map cell: only it is
            scanned for monsters, objects and features (speed only).

    Returns:
        The description, one item per line ("" when nothing is in view).
    """
    t = table or glyph_table()
    h, w = glyphs.shape
    flat = glyphs.ravel()
    ids = t.name_ids
    words = t.offset_words
    # One int per thing: (distance*16 + direction) << 24 | listing order << 12 | name id,
    # so that sorting orders by distance, direction, then screen/ray order.
    items: list[int] = []
    base = (_MAP_H - y) * _OFF_W + _MAP_W - x
    seq = 0
    bx0, by0, bx1, by1 = bbox if bbox is not None else (0, 0, w - 1, h - 1)
    box = glyphs[by0 : by1 + 1, bx0 : bx1 + 1]
    bw = bx1 - bx0 + 1
    bflat = box.ravel()
    pos = t.screen.take(bflat).nonzero()[0]
    player = (y - by0) * bw + x - bx0
    base += by0 * _OFF_W + bx0
    for i, g in zip(pos.tolist(), bflat.take(pos).tolist(), strict=True):
        if i != player:
            gy, gx = divmod(i, bw)
            items.append((words[base + gy * _OFF_W + gx] << 24) | (seq << 12) | ids[g])
            seq += 1
    key = (x, y, h, w)
    plan = ray_plans.get(key) if ray_plans is not None else None
    if plan is None:
        plan = _ray_plan(x, y, h, w)
        if ray_plans is not None:
            ray_plans[key] = plan
    idx, spans, ray_words = plan
    vals = flat.take(idx).tolist()
    ray, blocking = t.ray, t.blocking
    for start, end in spans:
        for j in range(start, end):
            g = vals[j]
            if ray[g]:
                items.append((ray_words[j] << 24) | (seq << 12) | ids[g])
                seq += 1
                if blocking[g]:
                    break
    if not items:
        return ""
    items.sort()
    if memo is not None:
        key2 = tuple(items)
        if memo.get("key") == key2:
            return str(memo["text"])
        memo["key"] = key2
        memo["text"] = text = _group_lines(items, t)
        return text
    return _group_lines(items, t)


def _group_lines(items: list[int], t: GlyphTable) -> str:
    """Description lines from sorted packed items (see :func:`describe_glyphs`)."""
    # Group by (name, distance) in listing order; directions come sorted.
    groups: dict[int, list[int]] = {}
    for v in items:
        word = v >> 24
        key = ((v & 0xFFF) << 3) | (word >> 4)
        dirs = groups.get(key)
        if dirs is None:
            groups[key] = [word & 15]
        else:
            dirs.append(word & 15)
    lines: list[str] = []
    names = t.names_unique
    for key, dirs in groups.items():
        n_id, d = key >> 3, key & 7
        if len(dirs) == 1:
            lines.append(f"{names[n_id]} {DISTANCES[d]} {DIRECTIONS16[dirs[0]]}")
            continue
        if len(set(dirs)) == len(dirs):
            joined = _join_directions([DIRECTIONS16[r] for r in dirs])
            lines.append(f"{names[n_id]} {DISTANCES[d]} {joined}")
            continue
        counts: dict[int, int] = {}
        for r in dirs:
            counts[r] = counts.get(r, 0) + 1
        single = [DIRECTIONS16[r] for r, c in counts.items() if c == 1]
        multi = [DIRECTIONS16[r] for r, c in counts.items() if c > 1]
        if single:
            lines.append(f"{names[n_id]} {DISTANCES[d]} {_join_directions(single)}")
        if multi:
            lines.append(f"{t.plurals[n_id]} {DISTANCES[d]} {_join_directions(multi)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- text parts
def message_text(
    tty_chars: np.ndarray, message: np.ndarray | None = None, waiting: bool = True
) -> str:
    """The game message, including multi-line menus and pages from the terminal.

    A one-line message is the top terminal row. When the screen shows a menu or a
    multi-line message (a row ending ``--More--``, ``(end)`` or ``(n of m)``), every row
    from the top to that marker is included.

    Args:
        tty_chars: the terminal characters.
        message: NLE's ``message`` array; used as is when ``waiting`` is False.
        waiting: whether the game waits for a key (NLE ``misc[2]``, xwaitforspace),
            i.e. a menu or a ``--More--`` may be on screen.
    """
    if not waiting and message is not None:
        return message.tobytes().split(b"\0", 1)[0].strip().decode("latin-1")
    raw = tty_chars.tobytes()
    cols = int(tty_chars.shape[1])
    top = raw[:cols]
    first = top.strip()
    if not first:
        return ""
    if not (_MORE in raw or b"(end)" in raw or (b" of " in raw and _MULTI_PAGE.search(raw))):
        return first.decode("latin-1")
    indent = len(top) - len(top.lstrip(b" "))
    rows: list[bytes] = []
    for r in range(int(tty_chars.shape[0])):
        row = raw[r * cols + indent : (r + 1) * cols].strip()
        rows.append(row)
        if _MULTI_PAGE.search(row):
            return "\n".join(x.decode("latin-1") for x in rows if x)
    return first.decode("latin-1")


def _strength(str125: int) -> str:
    if str125 <= 18:
        return str(str125)
    if str125 <= 117:
        return f"18/{str125 - 18:02d}"
    if str125 == 118:
        return "18/**"
    return str(str125 - 100)


@lru_cache(maxsize=1)
def _status_words() -> tuple[
    tuple[str, ...], tuple[str, ...], dict[int, str], tuple[tuple[int, str], ...]
]:
    from nle import nethack as nh

    st = nle_text_data()["status"]
    conds = tuple((int(getattr(nh, k)), str(v)) for k, v in st["conditions"].items())
    align = {int(k): str(v) for k, v in st["alignment"].items()}
    return tuple(st["hunger"]), tuple(st["encumbrance"]), align, conds


def status_text(blstats: np.ndarray) -> str:
    """Two status lines from blstats, like NetHack's bottom lines.

    ``Dlvl:1 $:0 HP:14(14) Pw:4(4) AC:6 Xp:1/0 T:1 Not Hungry`` and
    ``St:16 Dx:13 Co:14 In:10 Wi:10 Ch:8 Neutral Score:0``.
    """
    # NLE blstats layout: 0 x, 1 y, 2 str25, 3 str125, 4 dex, 5 con, 6 int, 7 wis, 8 cha,
    # 9 score, 10 hp, 11 hpmax, 12 depth, 13 gold, 14 ene, 15 enemax, 16 ac, 17 hd,
    # 18 xlvl, 19 exp, 20 time, 21 hunger, 22 encumbrance, 23 dnum, 24 dlevel,
    # 25 condition, 26 alignment.
    b = blstats.tolist()
    hunger_w, enc_w, align_w, cond_w = _status_words()
    extra = [hunger_w[b[21]]] if 0 <= b[21] < len(hunger_w) else []
    if 0 < b[22] < len(enc_w):
        extra.append(enc_w[b[22]])
    if b[25]:
        extra.extend(w for m, w in cond_w if b[25] & m)
    line1 = (
        f"Dlvl:{b[12]} $:{b[13]} HP:{b[10]}({b[11]}) Pw:{b[14]}({b[15]}) AC:{b[16]} "
        f"Xp:{b[18]}/{b[19]} T:{b[20]}"
    )
    if extra:
        line1 += " " + " ".join(extra)
    align = align_w.get(b[26], "") if len(b) > 26 else ""
    return (
        f"{line1}\nSt:{_strength(b[3])} Dx:{b[4]} Co:{b[5]} In:{b[6]} Wi:{b[7]} Ch:{b[8]}"
        + (f" {align}" if align else "")
        + f" Score:{b[9]}"
    )


def inventory_text(inv_letters: np.ndarray, inv_strs: np.ndarray) -> str:
    """Inventory lines ``a: a +1 long sword (weapon in hand)`` ("" when empty)."""
    lines = []
    for letter, row in zip(inv_letters.tolist(), inv_strs, strict=False):
        if letter == 0:
            break
        text = row.tobytes().split(b"\0", 1)[0].decode("latin-1")
        lines.append(f"{chr(letter)}: {text}")
    return "\n".join(lines)


def _map_text(
    chars: np.ndarray, x: int, y: int, raw: bytes | None = None
) -> tuple[str, int, int, int, int]:
    """The explored part of the map (bounding box of non-blank cells and the player).

    Args:
        chars: the (rows, columns) map characters.
        x: player column.
        y: player row.
        raw: ``chars.tobytes()`` if already at hand.

    Returns:
        (text, x0, y0, x1, y1): the rows (trailing blanks stripped), the top-left and
        the bottom-right cell.
    """
    seen = chars != 32
    rows = seen.any(axis=1).nonzero()[0]
    if rows.size == 0:
        x0 = x1 = x
        y0 = y1 = y
    else:
        cols = seen.any(axis=0).nonzero()[0]
        y0, y1 = min(int(rows[0]), y), max(int(rows[-1]), y)
        x0, x1 = min(int(cols[0]), x), max(int(cols[-1]), x)
    if raw is None:
        raw = chars.tobytes()
    w = int(chars.shape[1])
    text = b"\n".join([raw[r * w + x0 : r * w + x1 + 1].rstrip() for r in range(y0, y1 + 1)])
    return text.decode("latin-1"), x0, y0, x1, y1


class _MapRows:
    """Incremental :func:`_map_text`: only rows that changed are re-measured."""

    def __init__(self) -> None:
        self.rows: list[bytes] = []
        self.ext: list[tuple[int, int] | None] = []

    def render(self, raw: bytes, h: int, w: int, x: int, y: int) -> tuple[str, int, int, int, int]:
        if len(self.rows) != h:
            self.rows = [b""] * h
            self.ext = [None] * h
        rows, ext = self.rows, self.ext
        for i in range(h):
            row = raw[i * w : (i + 1) * w]
            if row != rows[i]:
                rows[i] = row
                right = len(row.rstrip())
                ext[i] = (right - len(row[:right].lstrip()), right - 1) if right else None
        y0 = y1 = y
        x0 = x1 = x
        for i, e in enumerate(ext):
            if e is not None:
                if i < y0:
                    y0 = i
                y1 = i if i > y1 else y1
                if e[0] < x0:
                    x0 = e[0]
                if e[1] > x1:
                    x1 = e[1]
        text = b"\n".join([r[x0 : x1 + 1].rstrip() for r in rows[y0 : y1 + 1]])
        return text.decode("latin-1"), x0, y0, x1, y1


@dataclass(slots=True)
class RenderedObservation:
    """The text parts of one observation."""

    message: str
    description: str
    map: str
    map_origin: tuple[int, int]
    map_end: tuple[int, int]
    status: str
    inventory: str
    x: int
    y: int
    state_key: tuple[bytes, bytes, bytes] = (b"", b"", b"")
    stats: list[int] = field(default_factory=list)
    around_kinds: str = ""

    def text(self, note: str = "") -> str:
        """The full observation text shown to agents."""
        (x0, y0), (x1, y1) = self.map_origin, self.map_end
        return (
            (f"{note}\n\n" if note else "")
            + f"message:\n{self.message or '(no message)'}\n\n"
            + f"language observation:\n{self.description or '(nothing in view)'}\n\n"
            + f"map (columns x={x0}..{x1}, rows y={y0}..{y1}; "
            + f"you are @ at x={self.x}, y={self.y}):\n{self.map}\n\n"
            + f"status:\n{self.status}\n\n"
            + f"inventory:\n{self.inventory or '(empty)'}"
        )


class TextRenderer:
    """Renders NLE observation dicts to text, reusing parts that did not change.

    Needs the observation keys ``glyphs``, ``chars``, ``blstats``, ``tty_chars``,
    ``inv_letters`` and ``inv_strs``.
    """

    def __init__(self) -> None:
        self.table = glyph_table()
        self._ray_plans: dict[tuple[int, int, int, int], _RayPlan] = {}
        self._map_rows = _MapRows()
        self._memo: dict[str, Any] = {}
        self._glyph_key = b""
        self._pos: tuple[int, int] = (-1, -1)
        self._description = ""
        self._kinds = ""
        self._chars_key = b""
        self._map: tuple[str, int, int, int, int] = ("", 0, 0, 0, 0)
        self._inv_key = b""
        self._inventory = ""
        self._bl_key = b""
        self._status = ""

    def render(self, obs: dict[str, np.ndarray], message: str | None = None) -> RenderedObservation:
        """Render one observation (``message`` overrides the terminal's message)."""
        blstats = obs["blstats"]
        stats = blstats.tolist()
        x, y = stats[0], stats[1]
        chars = obs["chars"]
        h, w = chars.shape
        chars_key = chars.tobytes()
        if chars_key != self._chars_key:
            self._map = self._map_rows.render(chars_key, h, w, x, y)
            self._chars_key = chars_key
        glyphs = obs["glyphs"]
        glyph_key = glyphs.tobytes()
        if glyph_key != self._glyph_key or self._pos != (x, y):
            _, x0, y0, x1, y1 = self._map
            self._description = describe_glyphs(
                glyphs, x, y, self.table, self._ray_plans, self._memo, (x0, y0, x1, y1)
            )
            self._kinds = self._around_kinds(glyphs, x, y)
            self._glyph_key = glyph_key
            self._pos = (x, y)
        inv_strs = obs["inv_strs"]
        inv_key = inv_strs.tobytes()
        if inv_key != self._inv_key:
            self._inventory = inventory_text(obs["inv_letters"], inv_strs)
            self._inv_key = inv_key
        bl_key = blstats.tobytes()
        if bl_key != self._bl_key:
            self._status = status_text(blstats)
            self._bl_key = bl_key
        if message is None:
            misc = obs.get("misc")
            waiting = misc is None or bool(misc.item(2))
            message = message_text(obs["tty_chars"], obs.get("message"), waiting)
        # State for "did the action change anything": map, stats except the clock, items.
        t = _BL_TIME * blstats.itemsize
        text, x0, y0, x1, y1 = self._map
        return RenderedObservation(
            message=message,
            description=self._description,
            map=text,
            map_origin=(x0, y0),
            map_end=(x1, y1),
            status=self._status,
            inventory=self._inventory,
            x=x,
            y=y,
            state_key=(glyph_key, bl_key[:t] + bl_key[t + blstats.itemsize :], inv_key),
            stats=stats,
            around_kinds=self._kinds,
        )

    def _around_kinds(self, glyphs: np.ndarray, x: int, y: int) -> str:
        h, w = glyphs.shape
        kinds = self.table.kinds
        if 1 <= x < w - 1 and 1 <= y < h - 1:
            return "".join(
                [kinds[g] for g in glyphs[y - 1 : y + 2, x - 1 : x + 2].ravel().tolist()]
            )
        out = []
        for cy in (y - 1, y, y + 1):
            for cx in (x - 1, x, x + 1):
                out.append(kinds[int(glyphs[cy, cx])] if 0 <= cx < w and 0 <= cy < h else " ")
        return "".join(out)


# --------------------------------------------------------------------------- BALROG text
def cursor_text(glyphs: np.ndarray, x: int, y: int, tty_cursor: np.ndarray) -> str:
    """What is under the terminal cursor, as the NLE language wrapper's ``text_cursor``:
    ``Yourself a <name>`` on the player, else ``<distance> <direction> <name>``."""
    row, col = int(tty_cursor[0]), int(tty_cursor[1])
    cy, cx = row - 1, col
    h, w = glyphs.shape
    if not (0 <= cx < w and 0 <= cy < h) or cy * w + cx <= 0:
        return ""
    name = glyph_table().names[int(glyphs[cy, cx])]
    if (cx, cy) == (x, y):
        return f"Yourself a {name}"
    dist, direction = position_words(cx - x, y - cy)
    return f"{dist} {direction} {name}"


def balrog_contexts(
    obs: dict[str, np.ndarray], rendered: RenderedObservation, note: str = ""
) -> tuple[str, str]:
    """BALROG's hybrid observation: (long-term context, short-term context).

    Long-term: the message, the language description, the cursor (description and
    ``(x=col, y=row)``) and the full terminal screen but its top line; short-term: the
    inventory (BALROG's ``render_hybrid``). ``note`` goes before it all.
    """
    tty = obs["tty_chars"]
    cursor = obs.get("tty_cursor")
    rows = [tty[i].tobytes().decode("latin-1") for i in range(tty.shape[0])]
    screen = "\n".join(rows[1:]) + "\n"
    if cursor is not None:
        where = cursor_text(obs["glyphs"], rendered.x, rendered.y, cursor)
        cursor_part = f"{where}\n(x={int(cursor[1])}, y={int(cursor[0])})"
    else:
        cursor_part = ""
    parts = (
        ("message", rendered.message),
        ("language observation", rendered.description),
        ("cursor", cursor_part),
        ("map", screen),
    )
    long_term = "\n".join(f"{name}:\n{value}\n" for name, value in parts)
    if note:
        long_term = f"{note}\n\n{long_term}"
    return long_term, f"inventory:\n{rendered.inventory}\n"


# --------------------------------------------------------------------------- actions
class ActionSet:
    """Named actions mapped to an NLE env's action indices.

    Args:
        env_actions: the env's action tuple (``env.unwrapped.actions``).
        names: the names offered, in order (each must map to an action of the env).
        default: the action taken when an unknown name is given.
        descriptions: name -> short description for the instruction prompt.

    Raises:
        GameSetupError: a name does not map to one of the env's actions.
    """

    def __init__(
        self,
        env_actions: tuple[Any, ...] | list[Any],
        names: list[str],
        default: str,
        descriptions: dict[str, str] | None = None,
    ) -> None:
        index = {int(a): i for i, a in enumerate(env_actions)}
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        for name in names:
            value = _action_value(name)
            if value is None or value not in index:
                raise GameSetupError(f"action {name!r} is not available in this game")
            if name not in self.ids:
                self.names.append(name)
                self.ids[name] = index[value]
        if default not in self.ids:
            raise GameSetupError(f"default action {default!r} is not in the action set")
        self.default = default
        self.descriptions = dict(descriptions or {})
        aliases = nle_text_data()["aliases"]
        self._lower = {n.lower(): n for n in self.names if len(n) > 1}
        self._aliases = {a: n for a, n in aliases.items() if n in self.ids}

    def resolve(self, action: str) -> tuple[str, bool]:
        """Map a requested action to an offered name; returns (name, was_invalid)."""
        if action in self.ids:
            return action, False
        key = action.strip()
        if key in self.ids:
            return key, False
        low = key.lower()
        name = self._lower.get(low) or self._aliases.get(low)
        if name is not None:
            return name, False
        return self.default, True

    def describe(self) -> str:
        """``name: description`` lines for the names that have a description."""
        return ",\n".join(
            f"{n}: {self.descriptions[n]}" for n in self.names if n in self.descriptions
        )


@lru_cache(maxsize=1)
def _action_values() -> dict[str, int]:
    from nle.nethack import actions as nla

    out: dict[str, int] = {}
    for name, ref in nle_text_data()["nle_actions"].items():
        enum_name, member = ref.split(".")
        out[name] = int(getattr(getattr(nla, enum_name), member))
    return out


def _action_value(name: str) -> int | None:
    """The NLE key code of a named action or a single letter (``"a"`` -> ``ord("a")``)."""
    values = _action_values()
    if name in values:
        return values[name]
    if len(name) == 1 and name.isascii() and name.isalpha():
        return ord(name)
    return None


def _name_of_value() -> dict[int, str]:
    out: dict[int, str] = {}
    for name, value in _action_values().items():
        out.setdefault(value, name)
    return out


# --------------------------------------------------------------------------- env base
class NLETextEnv:
    """Shared :class:`~automem_sdk.env.TextEnv` machinery for NLE games.

    Subclasses set ``name``, ``instruction``, the action set and implement
    :meth:`_seed_game` and :meth:`_progress`.

    Args:
        gym_env: the underlying gymnasium NLE env (observation keys must include
            glyphs, chars, blstats, tty_chars, inv_letters, inv_strs).
        action_set: the named actions.
        max_steps: agent steps per episode (``--More--`` pages skipped automatically
            do not count).
        game: ``"nethack"`` or ``"minihack"`` (goes into ``info["game"]``).
        obs: observation style, one of :data:`NLE_OBS_STYLES` (``balrog`` needs the
            ``tty_cursor`` observation key for the cursor).

    Raises:
        GameSetupError: an unknown observation style.
    """

    name: str = "nle"
    instruction: str = ""

    def __init__(
        self,
        gym_env: Any,
        action_set: ActionSet,
        *,
        max_steps: int,
        game: str,
        obs: str = "default",
    ) -> None:
        if obs not in NLE_OBS_STYLES:
            raise GameSetupError(
                f"unknown observation style {obs!r}; choose from {', '.join(NLE_OBS_STYLES)}"
            )
        self.obs = obs
        self._env = gym_env
        self.action_set = action_set
        self.actions: list[str] = list(action_set.names)
        self.max_steps = int(max_steps)
        self.game = game
        self._renderer = TextRenderer()
        self._more_id = action_set.ids.get("more")
        self._steps = 0
        self._seed: int | None = None
        self._started = False
        self._done = False
        self._prev: tuple[bytes, bytes, bytes] | None = None
        self._progression = 0.0
        #: When a list, every raw action id sent to the game is appended to it (the
        #: Enter presses that dismiss ``--More--`` included) and ``-1`` marks a reset:
        #: :meth:`replay_raw` plays such a log on the bare env (speed measurements).
        self.key_log: list[int] | None = None

    # -- public API ---------------------------------------------------------------
    @property
    def raw_env(self) -> Any:
        """The underlying gymnasium env (for speed measurements and debugging)."""
        return self._env

    @property
    def unwrapped(self) -> Any:
        """The innermost NLE env."""
        return self._env.unwrapped

    def action_id(self, name: str) -> int:
        """The raw env action index of a named action (unknown names: the default's)."""
        resolved, _ = self.action_set.resolve(name)
        return self.action_set.ids[resolved]

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode; the same seed always gives the same world."""
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        self._seed = int(seed)
        self._seed_game(self._seed)
        obs, raw_info = self._env.reset()
        if self.key_log is not None:
            self.key_log.append(-1)
        self._renderer = TextRenderer()
        self._steps = 0
        self._started = True
        self._done = False
        self._progression = 0.0
        obs, message, _, _, _, raw_info = self._skip_more(obs, 0.0, False, False, raw_info)
        rendered = self._renderer.render(obs, message)
        self._prev = rendered.state_key
        info = self._info(obs, raw_info, rendered, changed=True, invalid=False, action=None)
        return self._text(obs, rendered, "", info), info

    def step(self, action: str) -> StepResult:
        """Apply a named action (unknown names become the default action, with a note).

        Raises:
            GameSetupError: ``reset`` was not called, or the episode is over.
        """
        if not self._started:
            raise GameSetupError("call reset() before step()")
        if self._done:
            raise GameSetupError("the episode is over; call reset()")
        name, invalid = self.action_set.resolve(action)
        key = self.action_set.ids[name]
        if self.key_log is not None:
            self.key_log.append(key)
        obs, reward, term, trunc, raw_info = self._env.step(key)
        obs, message, reward, term, trunc, raw_info = self._skip_more(
            obs, float(reward), bool(term), bool(trunc), raw_info
        )
        self._steps += 1
        if self._steps >= self.max_steps and not term:
            trunc = True
        self._done = bool(term or trunc)
        rendered = self._renderer.render(obs, message)
        changed = rendered.state_key != self._prev
        self._prev = rendered.state_key
        info = self._info(obs, raw_info, rendered, changed=changed, invalid=invalid, action=name)
        note = ""
        if invalid:
            note = (
                f"Note: your previous action '{action}' is not a valid action; "
                f"'{name}' was taken instead."
            )
        return StepResult(
            observation=self._text(obs, rendered, note, info),
            reward=reward,
            terminated=bool(term),
            truncated=bool(trunc) and not term,
            info=info,
        )

    def replay_raw(self, keys: list[int], seed: int) -> tuple[int, float]:
        """Play a :attr:`key_log` on the bare env: no rendering, no ``--More--`` logic.

        Each ``-1`` reseeds the game with ``seed`` and resets it, as :meth:`reset` does,
        so the bare env plays the very same game as the wrapper did. The wrapper's own
        state no longer matches the game afterwards: call :meth:`reset` before stepping it.

        Returns:
            The number of raw steps and the seconds spent in them (resets not timed).
        """
        env = self._env
        clock = time.perf_counter
        n, spent = 0, 0.0
        for key in keys:
            if key < 0:
                self._seed_game(seed)
                env.reset()
                continue
            t0 = clock()
            env.step(key)
            spent += clock() - t0
            n += 1
        return n, spent

    def close(self) -> None:
        """Close the game."""
        self._env.close()

    def _text(
        self,
        obs: dict[str, np.ndarray],
        rendered: RenderedObservation,
        note: str,
        info: dict[str, Any],
    ) -> str:
        """The observation text in this env's style (BALROG's puts its short-term context
        into ``info``)."""
        if self.obs != "balrog":
            return rendered.text(note)
        long_term, short_term = balrog_contexts(obs, rendered, note)
        info["short_term_context"] = short_term
        return long_term

    # -- hooks ----------------------------------------------------------------------
    def _seed_game(self, seed: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _progress(self, stats: list[int], raw_info: dict[str, Any]) -> dict[str, Any]:
        """Game-specific info from blstats (as a list): must set ``progression`` (so far)."""
        raise NotImplementedError  # pragma: no cover

    # -- internals ------------------------------------------------------------------
    def _skip_more(
        self,
        obs: dict[str, np.ndarray],
        reward: float,
        term: bool,
        trunc: bool,
        raw_info: dict[str, Any],
    ) -> tuple[dict[str, np.ndarray], str | None, float, bool, bool, dict[str, Any]]:
        """Press Enter through ``--More--`` pages, joining their messages (BALROG's skip_more)."""
        misc = obs.get("misc")
        if (
            self._more_id is None
            or (misc is not None and not misc.item(2))
            or _MORE not in obs["tty_chars"].tobytes()
        ):
            return obs, None, reward, term, trunc, raw_info
        parts: list[str] = []
        for _ in range(32):
            if term or trunc:
                break
            msg = message_text(obs["tty_chars"])
            if "--More--" not in msg:
                break
            parts.append(msg.replace("--More--", "").strip())
            if self.key_log is not None:
                self.key_log.append(self._more_id)
            obs, r, term, trunc, raw_info = self._env.step(self._more_id)
            reward += float(r)
        last = message_text(obs["tty_chars"])
        if last:
            parts.append(last)
        return obs, "\n".join(p for p in parts if p), reward, bool(term), bool(trunc), raw_info

    def _info(
        self,
        obs: dict[str, np.ndarray],
        raw_info: dict[str, Any],
        rendered: RenderedObservation,
        *,
        changed: bool,
        invalid: bool,
        action: str | None,
    ) -> dict[str, Any]:
        b = rendered.stats
        end_status = raw_info.get("end_status")
        info: dict[str, Any] = {
            "game": self.game,
            "task": self.name,
            "seed": self._seed,
            "step": self._steps,
            "action": action,
            "changed": changed,
            "invalid_action": invalid,
            "x": rendered.x,
            "y": rendered.y,
            "dlvl": b[12],  # NLE_BL_DEPTH
            "xlvl": b[18],  # NLE_BL_XP
            "hp": b[10],  # NLE_BL_HP
            "turn": b[_BL_TIME],
            "around_kinds": rendered.around_kinds,
            "map_origin": list(rendered.map_origin),
            "message": rendered.message,
            "end_status": (
                _STATUS_NAMES.get(int(end_status), str(end_status))
                if end_status is not None
                else "RUNNING"
            ),
        }
        info.update(self._progress(rendered.stats, raw_info))
        return info


def action_names_of(env_actions: tuple[Any, ...] | list[Any]) -> list[str]:
    """Names of an env's actions (first name per key code; unnamed actions skipped)."""
    by_value = _name_of_value()
    out = []
    for a in env_actions:
        name = by_value.get(int(a))
        if name is not None:
            out.append(name)
    return out
