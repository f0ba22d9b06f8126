"""Scaffold data model: built-ins, ids, validation, custom ops, YAML round trip."""

from __future__ import annotations

import pytest

from automem_sdk.errors import ScaffoldError
from automem_sdk.ops import CustomOp, UpsertOp
from automem_sdk.scaffold import BUILTIN_SCAFFOLDS, Scaffold, load_scaffold


@pytest.mark.parametrize("name", BUILTIN_SCAFFOLDS)
def test_builtins_load_and_validate(name: str) -> None:
    s = load_scaffold(name)
    assert s.name == name
    assert s.validate_scaffold() == []
    system = s.render(
        "system",
        instruction="Do X.",
        actions="a, b",
        files=s.describe_files(),
        ops=s.describe_ops(),
    )
    assert "Do X." in system and "<|DONE|>" in system
    assert "{" not in s.render("plan", observation="obs", actions="a")


def test_id_is_content_hash_independent_of_lineage() -> None:
    s = load_scaffold("generic")
    child = s.child("tighten budget", limits={**s.limits.model_dump(), "context_tokens": 2000})
    assert child.parent == s.id and child.changelog[-1] == "tighten budget"
    assert child.id != s.id
    same_content = child.model_copy(update={"parent": None, "changelog": []})
    back = same_content.child("undo", limits=s.limits.model_dump())
    assert back.id == s.id  # content decides identity, not history


def test_yaml_round_trip(tmp_path) -> None:
    s = load_scaffold("minihack")
    path = str(tmp_path / "s.yaml")
    s.save(path)
    again = load_scaffold(path)
    assert again == s and again.id == s.id
    s.save(str(tmp_path / "s.json"))
    assert load_scaffold(str(tmp_path / "s.json")).id == s.id


def test_custom_op_expands_to_primitives() -> None:
    s = load_scaffold("minihack")
    steps = s.expand_custom(CustomOp(name="UPSERT_MAP", args=["3,4", "wall"]))
    assert steps == [UpsertOp(path="map.md", key="3,4", value="wall")]
    with pytest.raises(ScaffoldError, match="takes 2 argument"):
        s.expand_custom(CustomOp(name="UPSERT_MAP", args=["3,4"]))
    with pytest.raises(ScaffoldError, match="unknown op"):
        s.expand_custom(CustomOp(name="NOPE", args=[]))


def test_validation_catches_bad_proposals() -> None:
    s = load_scaffold("generic")
    data = s.model_dump()
    data["prompts"]["log"] = "Step {step} {unknown_var}"
    data["custom_ops"] = [
        {"name": "READ", "params": [], "steps": [{"op": "read", "path": "x.md"}]},
        {"name": "BAD", "params": ["a"], "steps": [{"op": "delete", "path": "{a}"}]},
    ]
    data["ops"] = ["read", "append"]
    problems = Scaffold.from_dict(data).validate_scaffold()
    text = "\n".join(problems)
    assert "unknown_var" in text
    assert "shadows a built-in" in text
    assert "disabled op 'delete'" in text
    with pytest.raises(ScaffoldError):
        Scaffold.from_dict(data).check()


def test_schema_errors_are_clear() -> None:
    with pytest.raises(ScaffoldError, match="unknown primitive ops"):
        Scaffold.from_dict({**load_scaffold("generic").model_dump(), "ops": ["read", "teleport"]})
    with pytest.raises(ScaffoldError, match="newer than this SDK"):
        Scaffold.from_dict({**load_scaffold("generic").model_dump(), "schema_version": 99})
    with pytest.raises(ScaffoldError, match="unknown scaffold"):
        load_scaffold("no-such-thing")
    with pytest.raises(ScaffoldError, match="not valid YAML"):
        Scaffold.from_yaml("a: [")
