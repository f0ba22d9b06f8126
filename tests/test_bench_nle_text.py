"""Text rendering of NLE observations: words, descriptions, status, inventory, actions."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nle")

from automem_sdk.benchmarks.envs import nle_text as nt

pytestmark = pytest.mark.games


def _cmap(idx: int) -> int:
    from nle import nethack as nh

    return int(nh.GLYPH_CMAP_OFF + idx)


def _monster(name: str) -> int:
    from nle import nethack as nh

    for i in range(nh.NUMMONS):
        if nh.permonst(i).mname == name:
            return int(nh.GLYPH_MON_OFF + i)
    raise AssertionError(name)


def _object(name: str) -> int:
    from nle import nethack as nh

    for i in range(nh.NUM_OBJECTS):
        if nh.OBJ_NAME(nh.objclass(i)) == name:
            return int(nh.GLYPH_OBJ_OFF + i)
    raise AssertionError(name)


def _room(h: int = 21, w: int = 79) -> np.ndarray:
    """A lit room (floor) surrounded by walls, everything else unexplored stone."""
    g = np.full((h, w), _cmap(0), dtype=np.int16)
    g[5:16, 20:60] = _cmap(2)  # horizontal wall ring
    g[6:15, 21:59] = _cmap(19)  # floor
    return g


def test_position_words_follow_the_language_wrapper() -> None:
    assert nt.position_words(1, 0) == ("adjacent", "east")
    assert nt.position_words(0, -1) == ("adjacent", "south")
    assert nt.position_words(-1, 1) == ("adjacent", "northwest")
    assert nt.position_words(2, 0) == ("very near", "east")
    assert nt.position_words(3, 0) == ("near", "east")
    assert nt.position_words(5, 2) == ("near", "eastnortheast")
    assert nt.position_words(1, -5) == ("near", "southsoutheast")
    assert nt.position_words(-6, 0) == ("far", "west")
    assert nt.position_words(0, 19) == ("far", "north")
    assert nt.position_words(-20, -3) == ("very far", "westsouthwest")


def test_pluralize() -> None:
    assert nt.pluralize("jackal") == "jackals"
    assert nt.pluralize("boulder") == "boulders"
    assert nt.pluralize("fly") == "flies"
    assert nt.pluralize("box") == "boxes"
    assert nt.pluralize("dwarf") == "dwarves"
    assert nt.pluralize("iron bars") == "iron bars"
    assert nt.pluralize("potion of healing") == "potions of healing"


def test_describe_lists_things_farthest_first_with_plural_groups() -> None:
    g = _room()
    g[10, 40] = _monster("human")  # the player (never described)
    g[10, 45] = _cmap(24)  # staircase down, 5 east -> near
    g[10, 39] = _object("boulder")  # adjacent west
    g[12, 40] = _monster("jackal")
    g[13, 40] = _monster("jackal")  # two jackals south: plural
    text = nt.describe_glyphs(g, 40, 10)
    lines = text.split("\n")
    assert "staircase down near east" in lines
    assert "boulder adjacent west" in lines
    assert "jackal very near south" in lines
    assert "jackal near south" in lines
    # walls are seen along the rays (up to 9 cells): the top and bottom walls 5 rows
    # away, straight and diagonally; the side walls are 20 columns away, out of reach
    assert "wall near north, northeast, southeast, south, southwest, and northwest" in lines
    assert lines.index("staircase down near east") < lines.index("boulder adjacent west")
    assert "human" not in text


def test_describe_groups_same_thing_same_distance_and_direction() -> None:
    g = _room()
    g[10, 40] = _monster("human")
    for dx in (3, 4, 5):
        g[10, 40 + dx] = _object("boulder")  # three boulders near east
    g[10, 37] = _object("boulder")  # one near west
    text = nt.describe_glyphs(g, 40, 10)
    assert "boulders near east" in text.split("\n")
    assert "boulder near west" in text.split("\n")


def test_rays_stop_at_the_first_wall() -> None:
    g = np.full((21, 79), _cmap(19), dtype=np.int16)  # open floor everywhere
    g[10, 42] = _cmap(1)  # wall 2 east
    g[10, 44] = _cmap(1)  # hidden behind it
    g[10, 40] = _monster("human")
    text = nt.describe_glyphs(g, 40, 10)
    assert text == "wall very near east"


def _reference_description(g: np.ndarray, x: int, y: int) -> str:
    """A slow, literal version of the language wrapper's algorithm."""
    t = nt.glyph_table()
    h, w = g.shape
    found: list[tuple[str, str, str]] = []
    for gy in range(h):  # things anywhere on screen, row by row
        for gx in range(w):
            if t.screen[g[gy, gx]] and (gx, gy) != (x, y):
                found.append((t.names[g[gy, gx]], *nt.position_words(gx - x, y - gy)))
    for ux, uy in [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]:
        for k in range(1, 10):  # walls and the like along 8 rays, up to the first wall
            cx, cy = x + ux * k, y + uy * k
            if not (0 <= cx < w and 0 <= cy < h):
                break
            if t.ray[g[cy, cx]]:
                found.append((t.names[g[cy, cx]], *nt.position_words(cx - x, y - cy)))
                if t.blocking[g[cy, cx]]:
                    break
    found.sort(key=lambda e: (nt.DISTANCES.index(e[1]), nt.DIRECTIONS16.index(e[2])))
    groups: dict[tuple[str, str], list[str]] = {}
    for name, dist, direction in found:
        groups.setdefault((name, dist), []).append(direction)
    lines = []
    for (name, dist), dirs in groups.items():
        order = list(dict.fromkeys(dirs))
        single = [d for d in order if dirs.count(d) == 1]
        multi = [d for d in order if dirs.count(d) > 1]
        for noun, ds in ((name, single), (nt.pluralize(name), multi)):
            if ds:
                joined = (
                    ds[0]
                    if len(ds) == 1
                    else f"{ds[0]} and {ds[1]}"
                    if len(ds) == 2
                    else ", ".join(ds[:-1]) + ", and " + ds[-1]
                )
                lines.append(f"{noun} {dist} {joined}")
    return "\n".join(lines)


def test_describe_matches_a_slow_reference_on_random_maps() -> None:
    rng = np.random.default_rng(0)
    pool = [
        _cmap(0),
        _cmap(1),
        _cmap(12),
        _cmap(15),
        _cmap(19),
        _cmap(24),
        _cmap(31),
        _cmap(52),
        _monster("jackal"),
        _monster("newt"),
        _object("boulder"),
        _object("dagger"),
    ]
    p = [0.25, 0.1, 0.04, 0.02, 0.4, 0.01, 0.02, 0.02, 0.04, 0.03, 0.04, 0.03]
    renderer = nt.TextRenderer()
    for _ in range(40):
        g = rng.choice(pool, size=(21, 79), p=p).astype(np.int16)
        x, y = int(rng.integers(79)), int(rng.integers(21))
        g[y, x] = _monster("human")
        ref = _reference_description(g, x, y)
        assert nt.describe_glyphs(g, x, y) == ref
        assert nt.describe_glyphs(g, x, y, None, {}, {}, None) == ref
        # a box around all non-blank cells (here: the whole map) gives the same
        assert nt.describe_glyphs(g, x, y, bbox=(0, 0, 78, 20)) == ref
    # the renderer (caches, explored box) agrees on a small explored area too
    g = np.full((21, 79), _cmap(0), dtype=np.int16)
    g[3:9, 10:30] = rng.choice(pool[1:], size=(6, 20), p=np.array(p[1:]) / sum(p[1:]))
    g[5, 15] = _monster("human")
    chars = np.where(g == _cmap(0), 32, 46).astype(np.uint8)
    obs = _fake_obs(g, chars, 15, 5)
    assert renderer.render(obs).description == _reference_description(g, 15, 5)


def _fake_obs(g: np.ndarray, chars: np.ndarray, x: int, y: int) -> dict[str, np.ndarray]:
    b = np.zeros(27, dtype=np.int64)
    b[0], b[1], b[12], b[18] = x, y, 1, 1
    return {
        "glyphs": g,
        "chars": chars,
        "blstats": b,
        "tty_chars": np.full((24, 80), 32, dtype=np.uint8),
        "message": np.zeros(256, dtype=np.uint8),
        "inv_letters": np.zeros(55, dtype=np.uint8),
        "inv_strs": np.zeros((55, 80), dtype=np.uint8),
        "misc": np.zeros(3, dtype=np.int32),
    }


def test_status_text_reads_blstats() -> None:
    b = np.zeros(27, dtype=np.int64)
    b[[0, 1, 3, 4, 5, 6, 7, 8]] = [5, 6, 68, 13, 14, 10, 11, 9]
    b[9], b[10], b[11], b[12], b[13] = 42, 7, 15, 3, 20  # score hp hpmax depth gold
    b[14], b[15], b[16], b[18], b[19], b[20] = 2, 4, 6, 2, 25, 300
    b[21], b[22], b[26] = 2, 1, -1  # hungry, burdened, chaotic
    text = nt.status_text(b)
    line1, line2 = text.split("\n")
    assert line1 == "Dlvl:3 $:20 HP:7(15) Pw:2(4) AC:6 Xp:2/25 T:300 Hungry Burdened"
    assert line2 == "St:18/50 Dx:13 Co:14 In:10 Wi:11 Ch:9 Chaotic Score:42"


def test_inventory_and_message_text() -> None:
    letters = np.zeros(55, dtype=np.uint8)
    strs = np.zeros((55, 80), dtype=np.uint8)
    for i, (ch, s) in enumerate([("a", "a +1 long sword"), ("b", "2 food rations")]):
        letters[i] = ord(ch)
        strs[i, : len(s)] = np.frombuffer(s.encode(), dtype=np.uint8)
    assert nt.inventory_text(letters, strs) == "a: a +1 long sword\nb: 2 food rations"
    tty = np.full((24, 80), ord(" "), dtype=np.uint8)
    row0 = b"Hello there.--More--"
    tty[0, : len(row0)] = np.frombuffer(row0, dtype=np.uint8)
    assert nt.message_text(tty) == "Hello there.--More--"
    menu = np.full((24, 80), ord(" "), dtype=np.uint8)
    for r, line in enumerate([b"  Weapons", b"  a - a dagger", b"  (end)"]):
        menu[r, 30 : 30 + len(line)] = np.frombuffer(line, dtype=np.uint8)
    assert nt.message_text(menu) == "Weapons\na - a dagger\n(end)"
    msg = np.zeros(256, dtype=np.uint8)
    msg[:9] = np.frombuffer(b"It's a wall.", dtype=np.uint8)[:9]
    assert nt.message_text(tty, msg, waiting=False) == "It's a wa"


def test_action_set_resolves_names_aliases_and_invalid() -> None:
    from nle import nethack as nh

    names = ["north", "south", "pickup", "wait", "a", "A"]
    aset = nt.ActionSet(nh.ACTIONS, names, "wait")
    assert aset.names == names
    assert aset.resolve("north") == ("north", False)
    assert aset.resolve(" North ") == ("north", False)
    assert aset.resolve("pick up") == ("pickup", False)
    assert aset.resolve("a") == ("a", False)
    assert aset.resolve("A") == ("A", False)
    assert aset.ids["a"] != aset.ids["A"]
    assert aset.resolve("dance") == ("wait", True)
    assert nh.ACTIONS[aset.ids["north"]] == nh.CompassDirection.N
    with pytest.raises(nt.GameSetupError):
        nt.ActionSet(nh.ACTIONS, ["no such action"], "wait")


@pytest.mark.parametrize(
    "module",
    [
        "automem_sdk.benchmarks.envs.nle_text",
        "automem_sdk.benchmarks.envs.nethack",
        "automem_sdk.benchmarks.envs.minihack",
        "automem_sdk.benchmarks.players",
        "automem_sdk.benchmarks.players.nle_explorer",
        "automem_sdk.benchmarks.players.compare_nle",
    ],
)
def test_public_api_is_importable_and_documented(module: str) -> None:
    import importlib
    import inspect

    m = importlib.import_module(module)
    assert m.__doc__
    for name in m.__all__:
        obj = getattr(m, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module}.{name} has no docstring"
