"""``automem --help`` imports no command module; scaffolds are validated when loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from automem_sdk.cli import COMMANDS, build_parser
from automem_sdk.errors import ScaffoldError
from automem_sdk.scaffold import Scaffold, load_scaffold


def _imported_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from automem_sdk.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES ' + ' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("MODULES "))
    return set(line.split()[1:])


def test_help_lists_every_command_without_importing_them() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "automem_sdk.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout
    mods = _imported_after(["--help"])
    heavy = {m for m, _ in COMMANDS.values()} | {
        "automem_sdk.ops",
        "automem_sdk.llm",
        "rich.console",
        "pydantic",
        "fsspec",
        "httpx",
    }
    assert not (heavy & mods), heavy & mods


def test_a_command_imports_only_its_module() -> None:
    mods = _imported_after(["memory", "--help"])
    assert "automem_sdk.cli_memory" in mods
    assert "automem_sdk.benchmarks.harness.cli" not in mods
    assert "automem_sdk.trainers.cli" not in mods


def test_build_parser_registers_everything() -> None:
    parser = build_parser()
    args = parser.parse_args(["memory", "ls", "."])
    assert callable(args.func)


# ---------------------------------------------------------------- scaffold on load
def _typo(tmp_path: Path) -> Path:
    data = load_scaffold("minihack").model_dump(mode="json")
    data["prompts"]["plan"] = data["prompts"]["plan"].replace("{observation}", "{observaton}")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_load_scaffold_refuses_a_misspelt_placeholder(tmp_path: Path) -> None:
    path = _typo(tmp_path)
    with pytest.raises(ScaffoldError) as err:
        load_scaffold(str(path))
    msg = str(err.value)
    assert "typo.yaml" in msg and "'observaton'" in msg and "\n" not in msg
    # the same message the structural trainer reports for a candidate
    bad = load_scaffold(str(path), validate=False)
    for problem in bad.validate_scaffold():
        assert problem in msg


def test_wrap_refuses_a_misspelt_placeholder(tmp_path: Path) -> None:
    from automem_sdk import wrap
    from automem_sdk.llm import ScriptedClient

    with pytest.raises(ScaffoldError, match="observaton"):
        wrap(
            lambda obs, memory: "go",
            memory=(tmp_path / "m").as_uri(),
            llm=ScriptedClient(["<|DONE|>"]),
            actions=["go"],
            scaffold=str(_typo(tmp_path)),
        )
    data = load_scaffold("generic").model_dump(mode="json")
    data["prompts"]["log"] += "\n{observaton}"
    with pytest.raises(ScaffoldError, match="observaton"):
        load_scaffold(Scaffold.from_dict(data))


def test_builtin_scaffolds_are_valid() -> None:
    from automem_sdk.scaffold import BUILTIN_SCAFFOLDS

    for name in BUILTIN_SCAFFOLDS:
        assert load_scaffold(name).validate_scaffold() == []


def test_a_module_listed_only_in_command_modules_still_registers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import automem_sdk.cli as cli

    (tmp_path / "extra_cmd_mod.py").write_text(
        "def register(sub):\n"
        "    p = sub.add_parser('hello', help='say hello')\n"
        "    p.set_defaults(func=lambda args: print('hello') or 0)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "extra_cmd_mod"))
    assert cli.main(["hello"]) == 0
    assert capsys.readouterr().out == "hello\n"
