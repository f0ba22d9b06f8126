"""Traces: streaming, gzip, killed writers leave readable prefixes, versioning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from automem_sdk.errors import TraceError
from automem_sdk.trace import (
    StepRecord,
    TraceFooter,
    TraceHeader,
    TraceWriter,
    TurnRecord,
    iter_records,
    list_traces,
    read_trace,
)

WRITER = """
import sys
from automem_sdk.trace import TraceWriter, TraceHeader, TurnRecord, StepRecord
w = TraceWriter(sys.argv[1])
w.write(TraceHeader(env="loop", seed=1))
i = 0
while True:
    w.write(TurnRecord(step=i, routine="log", output="<|DONE|>" * 20))
    w.write(StepRecord(step=i, action="east", observation="x" * 200))
    if i == 50:
        print("ready", flush=True)
    i += 1
"""


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    url = str(tmp_path / f"t{suffix}")
    with TraceWriter(url) as w:
        w.write(TraceHeader(env="e", seed=7))
        w.write(TurnRecord(step=0, routine="log", output="<|DONE|>"))
        w.write(StepRecord(step=0, action="a", reward=1.0, progression=0.5))
        w.write(TraceFooter(steps=1, progression=0.5))
    tr = read_trace(url)
    assert tr.header.seed == 7 and tr.complete and tr.progression == 0.5
    assert [type(r).__name__ for r in iter_records(url)] == [
        "TraceHeader",
        "TurnRecord",
        "StepRecord",
        "TraceFooter",
    ]
    assert list_traces(str(tmp_path)) == [url]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_killed_writer_leaves_readable_prefix(tmp_path: Path, suffix: str) -> None:
    url = str(tmp_path / f"killed{suffix}")
    for attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.01 * attempt)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        tr = read_trace(url)
        assert not tr.complete
        assert len(tr.steps) >= 50 and len(tr.turns) >= len(tr.steps)
        assert [s.step for s in tr.steps] == list(range(len(tr.steps)))


def test_torn_last_line_is_skipped_but_strict_mode_reports_it(tmp_path: Path) -> None:
    url = tmp_path / "torn.jsonl"
    with TraceWriter(str(url)) as w:
        w.write(TraceHeader(env="e"))
        w.write(StepRecord(step=0, action="a"))
    with open(url, "ab") as f:
        f.write(b'{"kind": "step", "step": 1, "act')
    assert len(read_trace(str(url)).steps) == 1
    with pytest.raises(TraceError, match="truncated"):
        list(iter_records(str(url), strict=True))


def test_newer_schema_version_is_rejected_clearly(tmp_path: Path) -> None:
    url = tmp_path / "future.jsonl"
    url.write_text(json.dumps({"kind": "header", "schema_version": 99}) + "\n")
    with pytest.raises(TraceError, match="schema_version 99 is not supported"):
        read_trace(str(url))


def test_garbage_line_is_an_error_with_location(tmp_path: Path) -> None:
    url = tmp_path / "bad.jsonl"
    url.write_text(json.dumps({"kind": "header"}) + "\nnot json\n")
    with pytest.raises(TraceError, match=r"bad.jsonl:2"):
        read_trace(str(url))
    url.write_text(json.dumps({"kind": "step"}) + "\n")
    with pytest.raises(TraceError, match="invalid record"):
        read_trace(str(url))


KILLED_WRITER = r"""
import sys, time
from automem_sdk.trace import StepRecord, TraceHeader, TraceWriter
url, opts = sys.argv[1], {"client_kwargs": {"endpoint_url": sys.argv[2]}, "key": "k",
                          "secret": "s", "skip_instance_cache": True}
w = TraceWriter(url, opts, part_records=2)
w.write(TraceHeader(env="toy/keydoor", seed=1))
for i in range(4):
    w.write(StepRecord(step=i, action="north", reward=0.0, observation=f"obs {i}"))
print("written", flush=True)
time.sleep(60)
"""


@pytest.mark.s3
@pytest.mark.parametrize("name", ["run.jsonl", "run.jsonl.gz"])
def test_a_killed_run_writing_to_s3_leaves_a_readable_prefix(
    s3_store_url: tuple[str, dict[str, Any]], name: str
) -> None:
    import signal
    import subprocess
    import sys

    from automem_sdk.trace import list_traces, read_trace

    url, opts = s3_store_url
    endpoint = opts["client_kwargs"]["endpoint_url"]
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, f"{url}/traces/{name}", endpoint],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert list_traces(f"{url}/traces", opts) == [f"{url}/traces/{name}"]
    trace = read_trace(f"{url}/traces/{name}", opts)
    assert trace.header.seed == 1 and not trace.complete
    assert [s.step for s in trace.steps] == [0, 1, 2]  # 5 records: 2 parts of 2; 1 unflushed
    # a writer that closes leaves one object and no parts
    from automem_sdk.trace import TraceWriter

    with TraceWriter(f"{url}/done/{name}", opts, part_records=2) as w:
        w.write(trace.header)
        for s in trace.steps:
            w.write(s)
    import fsspec

    fs, root = fsspec.core.url_to_fs(f"{url}/done", **opts)
    fs.invalidate_cache()
    assert [p.rsplit("/", 1)[-1] for p in fs.find(root)] == [name]
    assert [s.step for s in read_trace(f"{url}/done/{name}", opts).steps] == [0, 1, 2]


def test_diagnostics_count_env_steps_not_conversation_marks(tmp_path: Path) -> None:
    from automem_sdk.diagnostics import diagnose
    from automem_sdk.outcomes import record_conversation
    from automem_sdk.trace import StepRecord, TraceHeader, TraceWriter, read_trace

    url = str(tmp_path / "t.jsonl")
    with TraceWriter(url) as w:
        w.write(TraceHeader(env="toy/keydoor", seed=0))
        w.write(StepRecord(step=0, action="north", observation="a wall"))
        assert record_conversation(w, step=1, conversation_id="thread-7")
        w.write(StepRecord(step=2, action="east", observation="a door", changed=False))
    d = diagnose(read_trace(url))
    assert d.steps == 2 and d.unproductive_actions == 1
