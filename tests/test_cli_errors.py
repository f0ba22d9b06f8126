"""Every user mistake on the ``automem`` command line is one line and an exit status.

Each case asserts: stderr is exactly one line starting ``automem: error:`` that names
the flag, value or extra to fix, no traceback, and the status (2 usage, 1 runtime).
Read-only commands on a missing store or bucket create nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from automem_sdk.cli import describe_error, main, missing_extra


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str], status: int) -> str:
    rc = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == status, err
    assert len(lines) == 1, err
    assert lines[0].startswith("automem: error: "), err
    assert "Traceback" not in err and out == ""
    return lines[0]


def _run(args: list[str], *, pre: str = "", env: dict[str, str] | None = None) -> Any:
    """Run the CLI in a fresh interpreter (``pre`` runs first, e.g. to hide a module)."""
    code = f"import sys\n{pre}\nfrom automem_sdk.cli import main\nsys.exit(main({args!r}))\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _assert_one_line(proc: Any, status: int) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == status, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("automem: error: "), proc.stderr
    return str(lines[0])


# ---------------------------------------------------------------- usage mistakes (2)
def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line(capsys, ["memroy", "ls", "."], 2)
    assert "'memroy'" in line and "memory" in line


def test_missing_argument_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line(capsys, ["bench"], 2)
    assert "--env" in line and "automem bench --help" in line


def test_bad_storage_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _one_line(capsys, ["memory", "ls", str(tmp_path), "--storage-options", "{nope"], 2)
    assert "--storage-options" in line and "JSON" in line


def test_bench_unknown_env(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "b"
    line = _one_line(capsys, ["bench", "--env", "foo", "--episodes", "1", "--out", str(out)], 2)
    assert "--env foo" in line and "minihack/<Task>" in line
    assert not out.exists()


def test_bench_unknown_minihack_task(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["bench", "--env", "minihack/MazeWalk-99", "--episodes", "1", "--out", str(tmp_path)]
    line = _one_line(capsys, argv, 2)
    assert "MazeWalk-99" in line and "MazeWalk-9x9" in line


def test_bench_unknown_agent(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["bench", "--env", "minihack/MazeWalk-9x9", "--agent", "explorr", "--episodes", "1"]
    line = _one_line(capsys, [*argv, "--out", str(tmp_path / "b")], 2)
    assert "--agent" in line and "explorr" in line and "explorer" in line
    assert not (tmp_path / "b").exists()


def test_bench_llm_spec_without_provider(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["bench", "--env", "minihack/MazeWalk-9x9", "--agent", "llm", "--llm", "gpt-4o"]
    line = _one_line(capsys, [*argv, "--episodes", "1", "--out", str(tmp_path / "b")], 2)
    assert "--llm gpt-4o" in line and "provider" in line and "openai:MODEL" in line


def test_memory_version_out_of_range(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from automem_sdk.store import MemoryStore

    MemoryStore(str(tmp_path)).write("a.md", "x\n")
    line = _one_line(capsys, ["memory", "diff", str(tmp_path), "0", "7"], 2)
    assert "version 7" in line and "0..1" in line


# ---------------------------------------------------------------- runtime mistakes (1)
def test_trace_show_on_json_that_is_not_a_trace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({"progression": 0.5}) + "\n")
    line = _one_line(capsys, ["trace", "show", str(bad)], 1)
    assert "not an automem trace" in line and "line 1" in line


def test_trace_show_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _one_line(capsys, ["trace", "show", str(tmp_path / "nope.jsonl")], 1)
    assert "nope.jsonl" in line


def test_scaffold_with_misspelt_placeholder_refused_by_bench(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from automem_sdk.scaffold import load_scaffold

    data = load_scaffold("minihack").model_dump(mode="json")
    data["prompts"]["plan"] = data["prompts"]["plan"].replace("{observation}", "{observaton}")
    path = tmp_path / "typo.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    argv = ["bench", "--env", "minihack/MazeWalk-9x9", "--scaffold", str(path)]
    line = _one_line(capsys, [*argv, "--episodes", "1", "--out", str(tmp_path / "b")], 1)
    assert "observaton" in line and "typo.yaml" in line
    assert not (tmp_path / "b").exists()


def test_core_only_install_names_the_games_extra(tmp_path: Path) -> None:
    pre = "sys.modules['numpy'] = None  # as on a core-only install"
    argv = ["demo", "--quick", "--workers", "1", "--quiet", "--out", str(tmp_path / "d")]
    line = _assert_one_line(_run(argv, pre=pre), 1)
    assert "'numpy'" in line and "automem-sdk[games]" in line


def test_s3_url_without_s3fs_names_the_s3_extra() -> None:
    pre = "sys.modules['s3fs'] = None"
    line = _assert_one_line(_run(["memory", "ls", "s3://some-bucket/mem"], pre=pre), 1)
    assert "s3fs" in line and "automem-sdk[s3]" in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = _run(["--debug", "trace", "show", str(tmp_path / "nope.jsonl")])
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and proc.stderr.strip().endswith("nope.jsonl'")


def test_missing_extra_mapping() -> None:
    assert missing_extra(ModuleNotFoundError("x", name="torch")) == "train"
    assert missing_extra(ImportError("Install s3fs to access S3")) == "s3"
    assert missing_extra(ModuleNotFoundError("x", name="leftpad")) is None
    assert describe_error(RuntimeError("a bug")) is None


# ---------------------------------------------------------------- S3 (moto server)
def _no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.s3
def test_s3_without_credentials(
    moto_server: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_aws_env(monkeypatch, tmp_path)
    opts = {"client_kwargs": dict(moto_server["client_kwargs"])}
    argv = ["memory", "ls", "s3://any-bucket/mem", "--storage-options", json.dumps(opts)]
    line = _one_line(capsys, argv, 1)
    assert "credentials" in line and "AWS_ACCESS_KEY_ID" in line


@pytest.mark.s3
def test_s3_unreachable_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("s3fs")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = {
        "key": "k",
        "secret": "s",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
    }
    argv = ["memory", "log", "s3://any-bucket/mem", "--storage-options", json.dumps(opts)]
    line = _one_line(capsys, argv, 1)
    assert "cannot reach the S3 endpoint" in line and str(port) in line


def _buckets(options: dict[str, Any]) -> set[str]:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    return {b.rstrip("/") for b in fs.ls("", refresh=True)}


@pytest.mark.s3
@pytest.mark.parametrize(
    "argv",
    [
        ["memory", "ls"],
        ["memory", "log"],
        ["memory", "cat", "{url}", "notes.md"],
        ["memory", "diff", "{url}", "0", "1"],
        ["trace", "show", "{url}/trace.jsonl"],
    ],
    ids=["ls", "log", "cat", "diff", "trace-show"],
)
def test_read_commands_never_create_a_bucket(
    argv: list[str], moto_server: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = f"nobucket-{uuid.uuid4().hex[:8]}"
    url = f"s3://{bucket}/mem"
    args = [a.replace("{url}", url) for a in argv]
    if "{url}" not in " ".join(argv):
        args.append(url)
    line = _one_line(capsys, [*args, "--storage-options", json.dumps(moto_server)], 1)
    assert bucket in line and "does not exist" in line
    assert bucket not in _buckets(moto_server)


@pytest.mark.s3
def test_read_commands_on_an_empty_prefix_write_nothing(
    s3_store_url: tuple[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    import s3fs

    url, options = s3_store_url
    for argv in (["memory", "ls", url], ["memory", "log", url]):
        rc = main([*argv, "--storage-options", json.dumps(options)])
        capsys.readouterr()
        assert rc in (0, 1)
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    bucket = url.split("://", 1)[1].split("/", 1)[0]
    assert fs.find(bucket) == []


# ---------------------------------------------------------------- local folders
@pytest.mark.parametrize(
    "argv",
    [
        ["memory", "ls", "{p}"],
        ["memory", "log", "{p}"],
        ["memory", "cat", "{p}", "notes.md"],
        ["memory", "diff", "{p}", "0", "1"],
        ["memory", "search", "{p}", "key"],
        ["memory", "restore", "{p}", "0"],
        ["trace", "show", "{p}/trace.jsonl"],
    ],
    ids=["ls", "log", "cat", "diff", "search", "restore", "trace-show"],
)
def test_commands_on_a_missing_folder_create_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "typo"
    line = _one_line(capsys, [a.replace("{p}", str(typo)) for a in argv], 1)
    assert "typo" in line
    assert list(tmp_path.iterdir()) == []


def test_read_commands_leave_an_existing_store_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automem_sdk.store import MemoryStore

    MemoryStore(str(tmp_path)).write("notes.md", "key north\n")

    def tree() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}

    before = tree()
    for argv in (["ls"], ["log"], ["cat", "notes.md"], ["search", "key"], ["diff", "0", "1"]):
        assert main(["memory", argv[0], str(tmp_path), *argv[1:]]) == 0
    capsys.readouterr()
    assert tree() == before


def test_memory_init_creates_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = tmp_path / "new"
    assert main(["memory", "init", str(where)]) == 0
    assert "version 0" in capsys.readouterr().out
    assert main(["memory", "ls", str(where)]) == 0


@pytest.mark.s3
def test_memory_init_creates_a_bucket_only_with_create(
    moto_server: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = f"made-{uuid.uuid4().hex[:8]}"
    opts = ["--storage-options", json.dumps(moto_server)]
    line = _one_line(capsys, ["memory", "init", f"s3://{bucket}/mem", *opts], 1)
    assert "does not exist" in line and bucket not in _buckets(moto_server)
    assert main(["memory", "init", f"s3://{bucket}/mem", "--create", *opts]) == 0
    assert bucket in _buckets(moto_server)
    assert main(["memory", "ls", f"s3://{bucket}/mem", *opts]) == 0
