"""Two-model mode on a vLLM server: a LoRA memory specialist beside an unchanged task model.

One vLLM server hosts the base model and the memory adapter trained by the behavioral
trainer (``vllm serve BASE --enable-lora --lora-modules memory-lora=PATH``). The adapter
is addressed by its name: it runs the LOG routine and the memory part of PLAN; the
base model, unchanged, only commits actions, seeing memory as extra context.

The task: walk a corridor; a note on the way gives the code of the keypad door at the
end. The task model sees only the current room, so it needs memory to open the door.

Run offline:   python examples/two_model_vllm.py --fake [--memory URL]
Run for real:  python examples/two_model_vllm.py --base-url http://HOST:8000/v1 \\
                   --task-model Qwen/Qwen2.5-7B-Instruct --memory-model memory-lora
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from typing import Any

import httpx

from automem_sdk import MemoryAgent, MemoryStore, read_trace, run_episode
from automem_sdk.env import StepResult
from automem_sdk.llm import OpenAICompatClient
from automem_sdk.testing import FakeOpenAIAPI

CODES = ["1234", "4711", "9052"]


class KeypadCorridor:
    """A corridor of ``length`` rooms; the door at the end opens with the code seen on the way."""

    name = "example/keypad-corridor"
    instruction = "Walk forward to the door at the end of the corridor and open it."

    def __init__(self, length: int = 4) -> None:
        self.length = length
        self.actions = ["forward", *[f"enter {c}" for c in CODES]]
        self.code = CODES[0]
        self.pos = 0

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        self.code = random.Random(seed).choice(CODES)
        self.pos = 0
        return self._obs(), {"progression": 0.0}

    def _obs(self) -> str:
        if self.pos == 1:
            return f"A dusty room. A note on the wall says: the door code is {self.code}."
        if self.pos == self.length:
            return "A locked door with a keypad. Enter the code to open it."
        return f"An empty room ({self.pos} of {self.length})."

    def step(self, action: str) -> StepResult:
        if action == "forward" and self.pos < self.length:
            self.pos += 1
            return StepResult(
                self._obs(), info={"progression": self.pos / (2 * self.length), "changed": True}
            )
        if action == f"enter {self.code}" and self.pos == self.length:
            return StepResult(
                "The door opens.",
                reward=1.0,
                terminated=True,
                info={"progression": 1.0, "changed": True},
            )
        return StepResult(self._obs() + " Nothing happens.", info={"changed": False})

    def close(self) -> None:
        pass


def fake_vllm(memory_model: str) -> FakeOpenAIAPI:
    """A scripted vLLM server that answers per model name, as vLLM does for LoRA adapters."""

    def answer(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if body["model"] == memory_model:  # the memory specialist
            if "LOG routine" in prompt:
                seen = re.search(r"door code is (\d+)", prompt)
                if seen is None:
                    return "<|DONE|>"
                return f"<|UPSERT|>notes.md|door code|{seen.group(1)}<|END|><|DONE|>"
            return "<|SEARCH|>notes.md|door code<|END|><|DONE|>"
        # the unchanged task model: it reads memory only from the prompt's context
        if "keypad" in prompt.split("Relevant memory:")[0]:
            memory = prompt.split("Relevant memory:", 1)[1].split("Choose one action")[0]
            code = next((c for c in CODES if c in memory), CODES[0])
            return f"enter {code}"
        return "forward"

    return FakeOpenAIAPI(answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fake", action="store_true", help="scripted vLLM server, no network")
    parser.add_argument("--memory", default="file://./two-model-memory", help="memory URL")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--task-model", default="Qwen/Qwen2.5-7B-Instruct")
    parser.add_argument("--memory-model", default="memory-lora", help="the LoRA adapter's name")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    server = fake_vllm(args.memory_model) if args.fake else None
    http = httpx.Client(transport=httpx.MockTransport(server)) if server else None
    task = OpenAICompatClient(args.base_url, args.task_model, http_client=http)
    memory = OpenAICompatClient(args.base_url, args.memory_model, http_client=http)

    agent = MemoryAgent(
        MemoryStore(args.memory), "generic", memory, mode="two-model", task_decider=task
    )
    trace_url = args.memory.rstrip("/") + "-trace.jsonl"
    result = run_episode(KeypadCorridor(), agent, seed=args.seed, max_steps=12, trace=trace_url)

    print(f"progression={result.progression:.2f} steps={result.steps} memory ops={result.n_ops}")
    print("notes.md:", agent.store.read("notes.md").strip())
    models = {t.model for t in read_trace(trace_url).turns}
    print("models in the trace:", ", ".join(sorted(models)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
