"""The generated API reference shows values whole, protocols' attributes and the prompts."""

from __future__ import annotations

from automem_sdk.apidoc import render_module, render_prompts


def test_values_are_shown_whole() -> None:
    from automem_sdk.codec import OP_FIELDS
    from automem_sdk.llm import SPEC_FORMS

    codec = "\n".join(render_module("automem_sdk.codec"))
    for token, (_, fields, _) in OP_FIELDS.items():
        assert f"'{token}'" in codec and repr(fields) in codec  # e.g. UPSERT's (path, key, value)
    llm = "\n".join(render_module("automem_sdk.llm"))
    for form in SPEC_FORMS:
        assert repr(form) in llm


def test_protocol_attributes_and_unions_are_documented() -> None:
    env = "\n".join(render_module("automem_sdk.env"))
    decider = env[env.index("### class `Decider") :]
    assert "- `name: str` (required attribute)" in decider.split("### ", 2)[1]
    ops = "\n".join(render_module("automem_sdk.ops"))
    block = ops[ops.index("### type `MemoryOp`") :].split("\n### ", 1)[0]
    assert "`UpsertOp`" in block and "discriminated union on the `op` field" in block
    assert "Runtime representation" not in block


def test_prompts_of_each_routine_are_documented() -> None:
    from automem_sdk.scaffold import TEMPLATE_VARIABLES, load_scaffold

    text = "\n".join(render_prompts("generic"))
    sc = load_scaffold("generic")
    for routine, allowed in TEMPLATE_VARIABLES.items():
        assert f"### `{routine}`" in text
        assert getattr(sc.prompts, routine).rstrip() in text
        for var in allowed:
            assert f"`{{{var}}}`" in text


def test_signatures_read_as_python_and_mixins_are_documented() -> None:
    store = "\n".join(render_module("automem_sdk.store"))
    entry = store[store.index("### class `MemoryStore") :].split("\n### ", 1)[0]
    assert "create_bucket: bool = False" in entry
    # string defaults keep their quotes (an empty default was shown as nothing)
    assert "**`create(self, path: str, text: str = '') -> int`**" in entry
    # methods the store takes from its mixins are in its own entry
    from automem_sdk.store_read import ReadMixin

    inherited = [n for n in vars(ReadMixin) if not n.startswith("_")]
    assert inherited and all(f"**`{n}(" in entry or f"**`{n}`**" in entry for n in inherited)
