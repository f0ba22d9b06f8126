"""The BALROG-protocol agent, through an OpenAI-compatible mock server (httpx.MockTransport).

Each expected message list below is what BALROG's own code builds for the same episode
prefix, derived by hand from (BALROG commit af7d1f1):

- ``balrog/prompt_builder/history.py`` ``HistoryPromptBuilder.get_prompt``: the
  instruction as the first message with role ``user``; a deque of ``2 * max_text_history``
  events (observations and actions); older observations as ``"Observation:\\n" + text``,
  the newest as ``"Current Observation:\\n" + short_term + "\\n" + text``; actions as
  assistant messages;
- ``balrog/agents/naive.py``: the naive instruction appended to the last user message
  after ``"\\n\\n"``; the answer filtered with ``re.sub(r"[^a-zA-Z\\s:]", "", ...)``;
- ``balrog/evaluator.py``: an answer not in the action space becomes the default action
  and the next observation's text starts with "Your previous output did not contain a
  valid action. Defaulted to action: ..."; the history keeps the filtered answer;
- ``balrog/client.py``: the completion is ``.strip()``-ped; ``balrog/config/config.yaml``:
  temperature 1.0, ``max_text_history`` 16.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from automem_sdk.benchmarks.players.balrog_agent import (
    BalrogHistory,
    balrog_instruction,
    make_balrog_agent,
    parse_balrog_action,
)

from automem_sdk.agent import run_episode
from automem_sdk.env import StepResult
from automem_sdk.llm import OpenAICompatClient
from automem_sdk.store import MemoryStore
from automem_sdk.trace import read_trace

NAIVE = (
    "You always have to output one of the above actions at a time and no other text. "
    "You always have to output an action until the episode terminates."
)
FEEDBACK = (
    "\n\nYour previous output did not contain a valid action. Defaulted to action: {}"
    "\n\nObservation:\n"
)
MAZE_INSTRUCTION = (
    "You are an agent playing MiniHack. The following are the possible actions you can "
    "take in the game, followed by a short description of each action:\n\n"
    "north: move north,\neast: move east,\nsouth: move south,\nwest: move west.\n\n"
    "In a moment I will present a history of actions and observations from the game.\n\n"
    "Tip: there is no point in outputting the same action over and over if nothing "
    "changes.\n\nYour goal is to get as far as possible in the game.\n\nPLAY!"
)


class FakeMaze:
    """A tiny TextEnv named like a MiniHack task; observation ``obs t`` at step t."""

    name = "minihack/MazeWalk-9x9"
    actions = ["north", "east", "south", "west"]
    instruction = "unused by the BALROG agent"

    def __init__(self, short_term: str = "") -> None:
        self.t = 0
        self.taken: list[str] = []
        self.short_term = short_term

    def _info(self) -> dict[str, Any]:
        return {"short_term_context": self.short_term} if self.short_term else {}

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        self.t = 0
        self.taken = []
        return "obs 0", self._info()

    def step(self, action: str) -> StepResult:
        self.taken.append(action)
        self.t += 1
        return StepResult(observation=f"obs {self.t}", info=self._info())

    def close(self) -> None:
        pass


class MockServer:
    """An OpenAI-compatible /v1/chat/completions endpoint answering from a script."""

    def __init__(self, answers: list[str], memory_answers: list[str] | None = None) -> None:
        self.answers = list(answers)
        self.memory_answers = list(memory_answers or [])
        self.requests: list[dict[str, Any]] = []
        self.memory_requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/chat/completions")
        body = json.loads(request.content)
        if body["messages"][0]["role"] == "system":  # automem's memory routines
            self.memory_requests.append(body)
            text = self.memory_answers.pop(0) if self.memory_answers else "<|DONE|>"
        else:
            self.requests.append(body)
            text = self.answers.pop(0)
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 3, "total_tokens": 103},
            },
        )


def _client(server: MockServer) -> OpenAICompatClient:
    http = httpx.Client(transport=httpx.MockTransport(server))
    return OpenAICompatClient("http://mock/v1", "mock-model", http_client=http)


def _play(
    tmp_path: Path,
    server: MockServer,
    env: Any,
    steps: int,
    *,
    memory: bool = False,
    **kw: Any,
) -> Any:
    agent = make_balrog_agent(
        MemoryStore(str(tmp_path / "mem")),
        "generic",
        _client(server),
        env.name,
        memory=memory,
        **kw,
    )
    return run_episode(env, agent, 0, max_steps=steps, trace=str(tmp_path / "t.jsonl"))


def _msgs(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


def test_message_layout_history_window_instruction_and_feedback(tmp_path: Path) -> None:
    # step 0 valid; step 1 invalid ("Go East!" -> "Go East", not an action); step 2 is
    # "east" after strip; step 3 "south." -> "south".
    server = MockServer(["north", "Go East!", " east\n", "south."])
    env = FakeMaze()
    res = _play(tmp_path, server, env, 4, history=2)
    assert res.steps == 4
    assert env.taken == ["north", "north", "east", "south"]  # invalid -> MiniHack's default
    first, second, third, fourth = (_msgs(b) for b in server.requests)
    assert first == [
        ("user", MAZE_INSTRUCTION),
        ("user", "Current Observation:\nobs 0\n\n" + NAIVE),
    ]
    assert second == [
        ("user", MAZE_INSTRUCTION),
        ("user", "Observation:\nobs 0"),
        ("assistant", "north"),
        ("user", "Current Observation:\nobs 1\n\n" + NAIVE),
    ]
    # history 2: the deque keeps 4 events (a0 o1 a1 o2); BALROG's feedback opens o2
    assert third == [
        ("user", MAZE_INSTRUCTION),
        ("assistant", "north"),
        ("user", "Observation:\nobs 1"),
        ("assistant", "Go East"),
        ("user", "Current Observation:\n" + FEEDBACK.format("north") + "obs 2\n\n" + NAIVE),
    ]
    assert fourth == [
        ("user", MAZE_INSTRUCTION),
        ("assistant", "Go East"),
        ("user", "Observation:\n" + FEEDBACK.format("north") + "obs 2"),
        ("assistant", "east"),
        ("user", "Current Observation:\nobs 3\n\n" + NAIVE),
    ]
    for body in server.requests:
        assert body["temperature"] == 1.0 and "max_tokens" not in body
        assert body["model"] == "mock-model"
    trace = read_trace(str(tmp_path / "t.jsonl"))
    acts = [t for t in trace.turns if t.routine == "act"]
    assert [(m.role, m.content) for m in acts[3].messages] == fourth  # what the model saw
    assert trace.footer is not None and trace.footer.usage.prompt_tokens == 400


def test_default_history_is_sixteen_observations(tmp_path: Path) -> None:
    server = MockServer(["west"] * 20)
    _play(tmp_path, server, FakeMaze(short_term="inventory:\na: a sword\n"), 20, max_tokens=64)
    last = _msgs(server.requests[-1])
    observations = [c for r, c in last if r == "user"][1:]
    assert len(observations) == 16 and len(last) == 1 + 16 + 16
    assert last[1] == ("assistant", "west")  # the window starts with an action
    assert observations[0] == "Observation:\nobs 4"
    # the short-term context is shown for the current observation only
    assert last[-1][1] == "Current Observation:\ninventory:\na: a sword\n\nobs 19\n\n" + NAIVE
    assert all("inventory" not in c for c in observations[:-1])
    assert server.requests[0]["max_tokens"] == 64


def test_action_parsing_matches_balrogs_filter() -> None:
    valid = ["north", "far east", "Move West"]
    assert parse_balrog_action("  north\n", valid, "north") == ("north", True)
    assert parse_balrog_action("far east!", valid, "north") == ("far east", True)
    assert parse_balrog_action("Move West.", valid, "x") == ("Move West", True)
    assert parse_balrog_action("North", valid, "north") == ("north", False)  # exact match
    assert parse_balrog_action("I move north", valid, "esc") == ("esc", False)
    assert parse_balrog_action("<|ACTION|>north<|END|>", valid, "d") == ("d", False)


def test_history_builder_drops_text_beyond_the_window() -> None:
    h = BalrogHistory(max_text_history=1)
    h.instruction = "rules"
    h.add_observation("o0")
    h.add_action("a0")
    h.add_observation("o1", "inv")
    assert [(m.role, m.content) for m in h.messages()] == [
        ("user", "rules"),
        ("assistant", "a0"),
        ("user", "Current Observation:\ninv\no1"),
    ]
    with pytest.raises(ValueError):
        BalrogHistory(0)


def test_balrog_memory_shows_memory_only_in_the_current_observation(tmp_path: Path) -> None:
    # The memory model (same LLM, automem's prompts) writes in LOG and reads in PLAN.
    memory = [
        "<|APPEND|>notes.md|dead end west of the start<|END|><|DONE|>",
        "<|READ|>notes.md<|END|>",
        "<|ACTION|>north<|END|>",
    ] * 3
    server = MockServer(["north", "east", "south"], memory_answers=memory)
    env = FakeMaze()
    _play(tmp_path, server, env, 3, memory=True)
    assert env.taken == ["north", "east", "south"]
    assert server.memory_requests, "the memory routines ran through the same endpoint"
    last = _msgs(server.requests[-1])
    current = last[-1][1]
    assert current.startswith("Current Observation:\nmemory:\n")
    assert "dead end west of the start" in current and current.endswith("obs 2\n\n" + NAIVE)
    assert all("memory:" not in c for _, c in last[:-1])  # never kept in the history
    assert last[0] == ("user", MAZE_INSTRUCTION)


def test_crafter_instruction_and_names() -> None:
    text = balrog_instruction("crafter", ["noop"])
    assert text.startswith("You are an agent playing Crafter.")
    assert "Move West: move west on flat ground,\nMove East" in text
    assert "22. Collect Diamond" in text and text.endswith("PLAY!")
    nethack = balrog_instruction("nethack", ["north"])
    assert "far northwest: move far northwest" in nethack and "esc: exit menu or message" in nethack


@pytest.mark.games
def test_balrog_agent_on_crafter_maps_balrogs_names(tmp_path: Path) -> None:
    pytest.importorskip("crafter")
    from automem_sdk.benchmarks.registry import make_env

    env = make_env("crafter", max_steps=3, obs="balrog")
    server = MockServer(["Move West", "Do", "Make Wood Pickaxe!"])
    _play(tmp_path, server, env, 3)
    trace = read_trace(str(tmp_path / "t.jsonl"))
    assert [s.action for s in trace.steps] == ["move_left", "do", "make_wood_pickaxe"]
    first = _msgs(server.requests[0])
    assert first[0][1].startswith("You are an agent playing Crafter.")
    assert first[-1][1].startswith("Current Observation:\nYour status:\n- health: 9/9")
    assert "You face " in first[-1][1] and "Achievements unlocked" not in first[-1][1]


@pytest.mark.games
def test_balrog_observation_of_minihack_is_the_full_screen(tmp_path: Path) -> None:
    pytest.importorskip("minihack")
    from automem_sdk.benchmarks.registry import make_env

    env = make_env("minihack/MazeWalk-9x9", max_steps=2, obs="balrog")
    server = MockServer(["north", "fly"])
    _play(tmp_path, server, env, 2)
    current = _msgs(server.requests[1])[-1][1]
    assert current.startswith("Current Observation:\ninventory:\n")
    assert "\nmessage:\n" in current and "\nlanguage observation:\n" in current
    assert "\ncursor:\nYourself a " in current and "(x=" in current
    screen = current.split("\nmap:\n", 1)[1]
    assert screen.count("\n") >= 23 and "Dlvl:1" in screen  # 23 terminal rows, status too
