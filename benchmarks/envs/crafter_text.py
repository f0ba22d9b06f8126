"""Crafter as a text environment (BALROG-style observations, seedable, fast).

The observation describes the local 9x7 view in words (the nearest cell of each kind of
material or creature, with its distance and direction, and what the player faces), the
player's status (health, food, drink, energy), its inventory and the achievements
unlocked so far. Progression is unlocked achievements / 22.

Every episode is reproducible from its seed: ``reset(seed)`` regenerates the world from
that seed alone (crafter derives the world from ``(seed, episode counter)``; the counter
is reset with the seed, so the same seed always gives the same world, which BALROG's
wrapper does not do). Crafter renders an image on every step; the text env does not
need it, so :func:`fast_crafter_env` runs crafter's own step logic without rendering
(and with the nearby-object test vectorised), keeping the game dynamics identical.
Crafter itself picks the creature to despawn from a set ordered by memory address, so
the same seed can play out differently between runs; here chunks' objects are balanced
in the order they were added.
"""

from __future__ import annotations

import copy
import random
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import numpy as np

from automem_sdk.env import StepResult
from automem_sdk.errors import AutomemError

__all__ = [
    "CRAFTER_ACHIEVEMENTS",
    "CRAFTER_ACTIONS",
    "CRAFTER_MAX_STEPS",
    "CRAFTER_OBS_STYLES",
    "CrafterSetupError",
    "CrafterTextEnv",
    "balrog_action_names",
    "fast_crafter_class",
    "fast_crafter_env",
    "make_crafter",
]

#: BALROG's step limit for Crafter episodes.
CRAFTER_MAX_STEPS = 2000
#: Crafter's 17 actions, in crafter's order (BALROG's names).
CRAFTER_ACTIONS: tuple[str, ...] = (
    "noop",
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "do",
    "sleep",
    "place_stone",
    "place_table",
    "place_furnace",
    "place_plant",
    "make_wood_pickaxe",
    "make_stone_pickaxe",
    "make_iron_pickaxe",
    "make_wood_sword",
    "make_stone_sword",
    "make_iron_sword",
)
#: Crafter's 22 achievements.
CRAFTER_ACHIEVEMENTS: tuple[str, ...] = (
    "collect_coal",
    "collect_diamond",
    "collect_drink",
    "collect_iron",
    "collect_sapling",
    "collect_stone",
    "collect_wood",
    "defeat_skeleton",
    "defeat_zombie",
    "eat_cow",
    "eat_plant",
    "make_iron_pickaxe",
    "make_iron_sword",
    "make_stone_pickaxe",
    "make_stone_sword",
    "make_wood_pickaxe",
    "make_wood_sword",
    "place_furnace",
    "place_plant",
    "place_stone",
    "place_table",
    "wake_up",
)
_DEFAULT_ACTION = "noop"
_STATUS = ("health", "food", "drink", "energy")
_MOVES = {"move_left": (-1, 0), "move_right": (1, 0), "move_up": (0, -1), "move_down": (0, 1)}
_VIEW = (9, 7)  # cells of the local view (x, y); crafter's 9x9 minus two item rows
_INSTRUCTION = """You are playing Crafter, a 2D survival and crafting game.
Unlock as many achievements as possible: collect wood, stone, coal, iron, diamond,
saplings and water, place tables, furnaces, stones and plants, make wooden, stone and
iron pickaxes and swords, eat cows and plants, defeat zombies and skeletons, and wake up
after sleeping. Keep health, food, drink and energy up (eat, drink, sleep).
Actions:
- noop: do nothing
- move_left, move_right, move_up, move_down: move west, east, north, south (or turn
  towards a blocked cell)
- do: interact with what you face (collect a material, attack a creature, eat, drink)
- sleep: sleep when energy is low
- place_stone, place_table, place_furnace, place_plant: place in front of you (table:
  wood; furnace: stone, next to a table; plant: a sapling, on grass)
- make_wood_pickaxe, make_stone_pickaxe, make_iron_pickaxe, make_wood_sword,
  make_stone_sword, make_iron_sword: craft next to a table (iron tools also need a
  furnace)
One action per step; the game lasts {max_steps} steps."""
#: Observation styles: ``default`` (ours: view, status, inventory and achievements in
#: one text), ``balrog`` (BALROG's long-term context as the text, its short-term context,
#: status and inventory, in ``info["short_term_context"]``), ``automem`` (as default).
CRAFTER_OBS_STYLES: tuple[str, ...] = ("default", "balrog", "automem")


@lru_cache(maxsize=1)
def balrog_action_names() -> dict[str, str]:
    """BALROG's Crafter action names -> crafter's (``"Move West"`` -> ``"move_left"``)."""
    import json
    from importlib import resources

    path = resources.files("automem_sdk.benchmarks.data").joinpath("balrog_protocol.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    return dict(data["crafter"]["to_env"])


class CrafterSetupError(AutomemError):
    """Crafter is missing or misused (step before reset, step after the end)."""


def _update_near(player: Any, objs: list[Any], limit: int) -> None:
    """Update the player, then each other object nearer than ``limit`` (crafter's order)."""
    if objs and objs[0] is player:
        # Only the player moves during its own update; the other objects'
        # positions are their positions when their turn comes.
        player.update()
        rest = objs[1:]
        if rest:
            pos = np.array([o.pos for o in rest])
            near = (np.abs(pos - player.pos).sum(1) < limit).tolist()
            for obj, close in zip(rest, near, strict=True):
                if close:
                    obj.update()
    else:  # pragma: no cover - crafter always adds the player first
        for obj in objs:
            if player.distance(obj) < limit:
                obj.update()


def _step_result(env: Any, player: Any) -> tuple[Any, float, bool, dict[str, Any]]:
    """Reward (health change, +1 per new achievement), done and ``info`` of a step."""
    last_health = float(env.__dict__["_last_health"])
    reward = (player.health - last_health) / 10
    env._last_health = player.health
    unlocked = {
        name
        for name, count in player.achievements.items()
        if count > 0 and name not in env._unlocked
    }
    if unlocked:
        env._unlocked |= unlocked
        reward += 1.0
    dead = player.health <= 0
    over = env._length and env._step >= env._length
    info = {
        "inventory": player.inventory.copy(),
        "achievements": player.achievements.copy(),
        "discount": 1 - float(dead),
        "player_pos": player.pos,
        "reward": reward,
    }
    if not env._reward:
        reward = 0.0
    return None, reward, bool(dead or over), info


@lru_cache(maxsize=1)
def fast_crafter_class() -> type:
    """:class:`crafter.Env` without rendering (imports crafter on first use)."""
    try:
        import crafter
        from crafter import constants
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise CrafterSetupError("crafter is not installed: pip install crafter") from exc

    class _FastCrafterEnv(crafter.Env):  # type: ignore[misc]
        """crafter.Env whose ``reset``/``step`` return no image (``render()`` still works).

        The world RNG draws a default-size render makes at night are still made, so
        the game plays out as with crafter's own ``Env`` rendering 64x64 images.

        ``step`` is crafter 1.8's step with the nearby-object test vectorised, the
        objects of a chunk balanced in a reproducible order, and without the image
        and the semantic map; ``info`` keeps inventory,
        achievements, discount, player_pos and reward.
        """

        def _obs(self) -> Any:
            # crafter's render adds night noise drawn from the world's RNG, so the
            # image size shapes the game: draw the same numbers as a default render.
            if self._world.daylight < 0.5:
                unit = np.array(self._size) // self._view
                shape = tuple(int(v) for v in self._local_view._grid * unit)
                self._world.random.uniform(32, 127, shape)
            return None

        def _balance_all(self) -> None:
            # crafter passes each chunk's objects as a set, whose order follows object
            # ids (memory addresses), so which creature despawns differs between runs
            # of the same seed. Objects are passed in the order they were added.
            obj_map = self._world._obj_map
            for chunk, chunk_objs in self._world.chunks.items():
                ordered = sorted(chunk_objs, key=lambda o: int(obj_map[o.pos[0], o.pos[1]]))
                self._balance_chunk(chunk, ordered)

        def step(self, action: int) -> tuple[Any, float, bool, dict[str, Any]]:
            self._step += 1
            self._update_time()
            player = self._player
            player.action = constants.actions[action]
            _update_near(player, self._world.objects, 2 * max(self._view))
            if self._step % 10 == 0:
                self._balance_all()
            self._obs()
            return _step_result(self, player)

    return _FastCrafterEnv


def fast_crafter_env(**kwargs: Any) -> Any:
    """Build a rendering-free crafter env (same arguments as ``crafter.Env``)."""
    return fast_crafter_class()(**kwargs)


def _direction(dx: int, dy: int) -> str:
    parts = []
    if dy < 0:
        parts.append("north")
    elif dy > 0:
        parts.append("south")
    if dx < 0:
        parts.append("west")
    elif dx > 0:
        parts.append("east")
    return "-".join(parts)


@lru_cache(maxsize=1)
def _view_geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Cell offsets of the local view sorted by distance, and their descriptions."""
    w, h = _VIEW
    dx, dy = np.meshgrid(np.arange(w) - w // 2, np.arange(h) - h // 2, indexing="ij")
    dist = np.abs(dx) + np.abs(dy)
    order = np.argsort(dist.ravel(), kind="stable")
    descs = []
    for i in order.tolist():
        ox, oy = int(dx.ravel()[i]), int(dy.ravel()[i])
        d = abs(ox) + abs(oy)
        descs.append(f"{d} step{'s' if d != 1 else ''} to your {_direction(ox, oy)}")
    return order, dx.ravel()[order], dy.ravel()[order], descs


class CrafterTextEnv:
    """Crafter as a :class:`~automem_sdk.env.TextEnv` with BALROG's action names.

    ``info`` carries ``progression`` (unlocked / 22), ``achievements`` (names unlocked),
    ``changed`` (position, facing, inventory or the local view changed),
    ``invalid_action``, ``x``/``y`` (world cell of the player), ``facing`` (``(dx, dy)``,
    y grows south), ``facing_kind``, ``around`` (move action -> kind of the cell it
    leads to), ``inventory``, ``status``, ``nearest`` (kind ->
    absolute ``(x, y)`` of the nearest visible cell of that kind), ``sleeping``,
    ``step``, ``seed`` and ``action``.

    BALROG's action names (``Move West``, ``Make Wood Pickaxe``) are accepted as aliases
    of crafter's.

    Args:
        max_steps: steps per episode (BALROG: 2000).
        size: crafter's world area (cells per side).
        world_cache: generated worlds kept (by seed) to skip regeneration.
        obs: observation style, one of :data:`CRAFTER_OBS_STYLES`.

    Raises:
        CrafterSetupError: an unknown observation style.
    """

    name = "crafter"

    def __init__(
        self,
        *,
        max_steps: int = CRAFTER_MAX_STEPS,
        size: int = 64,
        world_cache: int = 4,
        obs: str = "default",
    ) -> None:
        if obs not in CRAFTER_OBS_STYLES:
            raise CrafterSetupError(
                f"unknown observation style {obs!r}; choose from {', '.join(CRAFTER_OBS_STYLES)}"
            )
        self.obs = obs
        self._aliases = balrog_action_names()
        self.max_steps = int(max_steps)
        self.size = int(size)
        self.actions: list[str] = list(CRAFTER_ACTIONS)
        self._ids = {a: i for i, a in enumerate(self.actions)}
        self.instruction = _INSTRUCTION.format(max_steps=self.max_steps)
        self._env = fast_crafter_env(
            area=(self.size, self.size),
            view=(9, 9),
            size=(64, 64),
            reward=True,
            length=self.max_steps,
            seed=0,
        )
        world = self._env._world
        self._mat_names: dict[int, str] = {
            i: (n if n is not None else "nothing") for i, n in world._mat_names.items()
        }
        self._kind_names: dict[int, str] = dict(self._mat_names)
        self._obj_kind: dict[type, int] = {}
        self._seed: int | None = None
        self._started = False
        self._done = False
        self._steps = 0
        self._prev_key: bytes = b""
        self._cache_size = int(world_cache)
        self._worlds: OrderedDict[int, Any] = OrderedDict()

    # -- public API ---------------------------------------------------------------
    @property
    def raw_env(self) -> Any:
        """The underlying (rendering-free) crafter env."""
        return self._env

    def action_id(self, name: str) -> int:
        """Crafter's action index of a named action (unknown names: ``noop``'s)."""
        return self._ids.get(name, self._ids[_DEFAULT_ACTION])

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode; the world is a function of ``seed`` alone."""
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        self._seed = int(seed)
        # crafter seeds the world with hash((seed, episode)) after incrementing the
        # episode counter: reset both so the world depends on the seed only.
        self._reset_world(self._seed)
        self._started = True
        self._done = False
        self._steps = 0
        text, info = self._describe(action=None, invalid=False, note="")
        return text, info

    def step(self, action: str) -> StepResult:
        """Apply a named action (unknown names become ``noop``, with a note).

        Raises:
            CrafterSetupError: ``reset`` was not called, or the episode is over.
        """
        if not self._started:
            raise CrafterSetupError("call reset() before step()")
        if self._done:
            raise CrafterSetupError("the episode is over; call reset()")
        action_name = self._aliases.get(action.strip(), action)
        invalid = action_name not in self._ids
        name = _DEFAULT_ACTION if invalid else action_name
        _, reward, done, _ = self._env.step(self._ids[name])
        self._steps += 1
        dead = self._env._player.health <= 0
        truncated = bool(done and not dead) or (self._steps >= self.max_steps and not dead)
        self._done = bool(dead or truncated)
        note = ""
        if invalid:
            note = (
                f"Note: your previous action '{action}' is not a valid action; "
                f"'{name}' was taken instead."
            )
        text, info = self._describe(action=name, invalid=invalid, note=note)
        return StepResult(
            observation=text,
            reward=float(reward),
            terminated=bool(dead),
            truncated=truncated,
            info=info,
        )

    def close(self) -> None:
        """Nothing to release (kept for the TextEnv protocol)."""

    # -- internals ------------------------------------------------------------------
    def _reset_world(self, seed: int) -> None:
        """crafter's reset for ``seed``; generated worlds are kept (copied) per seed.

        World generation takes seconds; a cached world is restored as a deep copy of
        the state crafter's reset leaves (map, objects, player, world RNG).
        """
        env = self._env
        world = env._world
        memo = {id(world): world}
        cached = self._worlds.get(seed)
        if cached is None:
            # crafter seeds the world with hash((seed, episode)) after incrementing the
            # episode counter: reset both so the world depends on the seed only.
            env._seed = seed
            env._episode = 0
            env.reset()
            if self._cache_size > 0:
                self._worlds[seed] = copy.deepcopy((dict(world.__dict__), env._player), memo)
                while len(self._worlds) > self._cache_size:
                    self._worlds.popitem(last=False)
            return
        self._worlds.move_to_end(seed)
        state, player = copy.deepcopy(cached, memo)
        env._seed = seed
        env._episode = 1
        env._step = 0
        world.__dict__.update(state)
        env._update_time()
        env._player = player
        env._last_health = player.health
        env._unlocked = set()

    def _kind_of_object(self, obj: Any) -> int:
        cls = type(obj)
        kid = self._obj_kind.get(cls)
        if kid is None:
            kid = 256 + len(self._obj_kind)
            self._obj_kind[cls] = kid
            self._kind_names[kid] = cls.__name__.lower()
        return kid

    def _local_kinds(self, px: int, py: int) -> np.ndarray:
        """Kind ids of the 9x7 view around the player (0 outside the world)."""
        world = self._env._world
        w, h = _VIEW
        area = world.area
        x0, y0 = px - w // 2, py - h // 2
        kinds = np.zeros((w, h), np.int32)
        ax0, ay0 = max(x0, 0), max(y0, 0)
        ax1, ay1 = min(x0 + w, area[0]), min(y0 + h, area[1])
        if ax0 >= ax1 or ay0 >= ay1:
            return kinds
        sl = (slice(ax0 - x0, ax1 - x0), slice(ay0 - y0, ay1 - y0))
        kinds[sl] = world._mat_map[ax0:ax1, ay0:ay1]
        objs = world._obj_map[ax0:ax1, ay0:ay1]
        if objs.any():
            sub = kinds[sl]
            for i, j in zip(*np.nonzero(objs), strict=True):
                obj = world._objects[int(objs[i, j])]
                if obj is not None:
                    sub[i, j] = self._kind_of_object(obj)
        return kinds

    def _in_view(
        self, kinds: Any, px: int, py: int
    ) -> tuple[list[str], dict[str, tuple[int, int]]]:
        """One line per kind in view (nearest first) and where the nearest of each is."""
        player = self._env._player
        order, odx, ody, descs = _view_geometry()
        flat = kinds.ravel()[order]
        uniq, first = np.unique(flat, return_index=True)
        player_kid = self._obj_kind.get(type(player))
        seen: list[tuple[int, int]] = []  # (rank, kind id)
        for kid, rank in zip(uniq.tolist(), first.tolist(), strict=True):
            if kid == 0 or kid == player_kid:
                continue
            seen.append((rank, kid))
        seen.sort()
        nearest: dict[str, tuple[int, int]] = {}
        lines = []
        for rank, kid in seen:
            kname = self._kind_names[kid]
            nearest[kname] = (px + int(odx[rank]), py + int(ody[rank]))
            lines.append(f"- {kname} {descs[rank]}")
        return lines, nearest

    def _text_parts(
        self,
        player: Any,
        note: str,
        view: str,
        face: str,
        vitals: str,
        held: str,
        unlocked: list[str],
    ) -> tuple[list[str], str]:
        """The observation's paragraphs and, for ``obs="balrog"``, its short-term context."""
        parts = [note] if note else []
        short_term = ""
        if self.obs == "balrog":
            # BALROG's describe_frame: (sleeping/dead note,) what is in view and what the
            # player faces as the long-term context; status and inventory as short-term.
            if player.sleeping:
                parts.append(
                    "You are sleeping, and will not be able take actions until energy is full."
                )
            elif player.health <= 0:
                parts.append("You died.")
            parts += [view, face]
            short_term = f"{vitals}\n\n{held}"
        else:
            parts += [view, face]
            if player.sleeping:
                parts.append("You are sleeping.")
            parts += [vitals, held]
            parts.append(
                f"Achievements unlocked ({len(unlocked)}/{len(CRAFTER_ACHIEVEMENTS)}): "
                + (", ".join(unlocked) if unlocked else "none")
            )
        return parts, short_term

    def _describe(
        self, *, action: str | None, invalid: bool, note: str
    ) -> tuple[str, dict[str, Any]]:
        env = self._env
        player = env._player
        px, py = int(player.pos[0]), int(player.pos[1])
        fx, fy = int(player.facing[0]), int(player.facing[1])
        kinds = self._local_kinds(px, py)
        lines, nearest = self._in_view(kinds, px, py)
        w, h = _VIEW
        cx, cy = w // 2, h // 2
        facing_kind = self._kind_names.get(int(kinds[cx + fx, cy + fy]), "nothing")
        around = {
            move: self._kind_names.get(int(kinds[cx + mx, cy + my]), "nothing")
            for move, (mx, my) in _MOVES.items()
        }
        inv = player.inventory
        status = {k: int(inv[k]) for k in _STATUS}
        items = {k: int(v) for k, v in inv.items() if k not in _STATUS and v > 0}
        unlocked = [a for a in CRAFTER_ACHIEVEMENTS if player.achievements.get(a, 0) > 0]
        progression = len(unlocked) / len(CRAFTER_ACHIEVEMENTS)
        view = "You see:\n" + "\n".join(lines) if lines else "You see nothing away from you."
        face = f"You face {facing_kind} at your front."
        vitals = "Your status:\n" + "\n".join(f"- {k}: {v}/9" for k, v in status.items())
        held = (
            "Your inventory:\n" + "\n".join(f"- {k}: {v}" for k, v in items.items())
            if items
            else "You have nothing in your inventory."
        )
        parts, short_term = self._text_parts(player, note, view, face, vitals, held, unlocked)
        key = np.array([px, py, fx, fy, *inv.values()], np.int64).tobytes() + kinds.tobytes()
        changed = key != self._prev_key
        self._prev_key = key
        info: dict[str, Any] = {
            "game": "crafter",
            "seed": self._seed,
            "step": self._steps,
            "action": action,
            "invalid_action": invalid,
            "changed": changed,
            "progression": progression,
            "achievements": unlocked,
            "x": px,
            "y": py,
            "facing": (fx, fy),
            "facing_kind": facing_kind,
            "around": around,
            "inventory": items,
            "status": status,
            "nearest": nearest,
            "sleeping": bool(player.sleeping),
        }
        if self.obs == "balrog":
            info["short_term_context"] = short_term
        return "\n\n".join(parts), info


def make_crafter(
    *,
    max_steps: int = CRAFTER_MAX_STEPS,
    size: int = 64,
    world_cache: int = 4,
    obs: str = "default",
) -> CrafterTextEnv:
    """Crafter as a seedable text environment.

    Args:
        max_steps: steps per episode (BALROG: 2000).
        size: world area, cells per side (crafter's default 64).
        world_cache: generated worlds kept per env (by seed) so a seed played again
            starts without regenerating its world (0: no cache).
        obs: observation style, one of :data:`CRAFTER_OBS_STYLES`.

    Returns:
        The text environment; ``reset(seed)`` gives the same world for the same seed.

    Raises:
        CrafterSetupError: crafter is not installed.
    """
    return CrafterTextEnv(max_steps=max_steps, size=size, world_cache=world_cache, obs=obs)
