from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from codegen.generate import generate
from codegen.patterns import for_runtime


def test_compatible_patterns_are_kept() -> None:
    assert for_runtime("^[a-z]+$") == "^[a-z]+$"


def test_unicode_escapes_work() -> None:
    pattern = for_runtime("^[\\u0041-\\u005A]+$")
    assert pattern is not None
    adapter = TypeAdapter(Annotated[str, Field(pattern=pattern)])
    assert adapter.validate_python("ABC") == "ABC"
    with pytest.raises(ValidationError):
        adapter.validate_python("abc")


def test_what_cannot_be_compiled_is_named(tmp_path: Path) -> None:
    (tmp_path / "api.json").write_text(
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {},'
        ' "components": {"schemas": {"Thing": {"type": "object", "properties": {'
        '"a": {"type": "string", "pattern": "^(?!x).*$"},'
        '"b": {"type": "string", "pattern": "[\\\\uD800-\\\\uDBFF]"}}}}}}'
    )
    result = generate(tmp_path / "api.json")
    messages = [w.message for w in result.warnings]
    assert len(messages) == 2
    assert all("it is not enforced" in m for m in messages)
    assert [w.pointer for w in result.warnings] == [
        "/components/schemas/Thing/properties/a/pattern",
        "/components/schemas/Thing/properties/b/pattern",
    ]
    assert "(?!x)" not in result.files["models.py"]


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_a_pattern_that_is_not_ecma_262_is_a_warning_not_a_refusal(
    tmp_path: Path, version: str
) -> None:
    # amazonaws.com/config (APIs.guru): `\d-_` is not a range in ECMA-262, Python or Rust.
    (tmp_path / "api.json").write_text(
        f'{{"openapi": "{version}", "info": {{"title": "t", "version": "1",'
        ' "contact": {"email": "not an email"}}, "paths": {},'
        ' "components": {"schemas": {"Arn": {"type": "string",'
        ' "pattern": "^arn:[a-zA-Z\\\\d-_/]+$"}}}}'
    )
    result = generate(tmp_path / "api.json")
    assert [(w.pointer, "it is not enforced" in w.message) for w in result.warnings] == [
        ("/components/schemas/Arn/pattern", True)
    ]
