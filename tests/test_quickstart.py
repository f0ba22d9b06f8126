"""The README quickstart runs as written: on local disk, then on S3 (moto server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from automem_sdk import MemoryStore, read_trace

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "quickstart.py"


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_readme_shows_the_example_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    body = EXAMPLE.read_text().split('"""', 2)[2].strip()
    code = body.split("\nagent.finish()")[0]
    assert code in readme


def test_readme_has_exactly_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", setup, re.S)
    assert [b.strip() for b in blocks] == [
        'pip install -e ".[games]" && automem demo',
        'pip install -e ".[dev]" && python -m pytest',
    ]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    # CI runs the README's test command exactly, in a fresh virtual environment
    assert 'pip install -e ".[dev]"' in ci and "python -m pytest" in ci
    assert any("-m venv" in line for line in ci)


def test_quickstart_local_disk(tmp_path: Path) -> None:
    out = _run([], tmp_path)
    assert "A locked door.                   -> open door" in out
    store = MemoryStore((tmp_path / "quickstart-memory").as_uri())
    assert store.read("notes.md") == "A hall. A small key lies here.\n"
    tr = read_trace(str(tmp_path / "quickstart-memory-trace.jsonl"))
    assert tr.complete and tr.header.mode == "two-model"


@pytest.mark.s3
def test_quickstart_on_s3(tmp_path: Path, s3_store_url: tuple[str, dict[str, Any]]) -> None:
    url, opts = s3_store_url
    endpoint = opts["client_kwargs"]["endpoint_url"]
    # fsspec reads FSSPEC_S3_* variables as s3fs options: the script runs unchanged.
    out = _run(
        [url],
        tmp_path,
        {
            "FSSPEC_S3_ENDPOINT_URL": endpoint,
            "FSSPEC_S3_KEY": "testing",
            "FSSPEC_S3_SECRET": "testing",
        },
    )
    assert "-> open door" in out
    store = MemoryStore(url, opts)
    assert store.read("notes.md") == "A hall. A small key lies here.\n"
    assert read_trace(url + "-trace.jsonl", opts).complete
