"""OpenAPI 3.2 documents: validated against the 3.2 schema and dialect; what the generator
cannot serve is refused by name and JSON pointer (exit 2), never with a traceback.

What it serves (streams, the query method, additionalOperations, querystring) is fuzzed in
tests/codegen/test_coverage.py over coverage/oas32.yaml and coverage/streams31.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.codegen.test_cli import run_codegen

TICK = {"type": "object", "properties": {"n": {"type": "integer"}}}
OK = {"description": "ok", "content": {"application/json": {"schema": TICK}}}


def _document(version: str, paths: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": paths}


def _generate(tmp_path: Path, document: dict[str, Any]) -> tuple[int, str]:
    spec = tmp_path / "api.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    done = run_codegen("generate", "--spec", str(spec), "--out", str(tmp_path / "out"))
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr


def _get(**operation: Any) -> dict[str, Any]:
    return {"get": {"operationId": "op", "responses": {"200": OK}, **operation}}


def _querystring(media_type: str) -> dict[str, Any]:
    return {"name": "q", "in": "querystring", "content": {media_type: {"schema": TICK}}}


REFUSED = [
    (
        {"/a": {"additionalOperations": {"purge": {"responses": {"200": OK}}}}},
        "additionalOperations method 'purge' is not upper-case",
        "/paths/~1a/additionalOperations/purge",
    ),
    (
        {"/a": _get(parameters=[_querystring("text/plain")])},
        "`in: querystring` content 'text/plain' is not supported",
        "/paths/~1a/get/parameters/0/content/text~1plain",
    ),
    (
        {  # the schema refuses both in one list; the path item's list is merged in
            "/a": {
                **_get(parameters=[_querystring("application/json")]),
                "parameters": [{"name": "n", "in": "query", "schema": {"type": "integer"}}],
            }
        },
        "`in: querystring` cannot be combined with `in: query` parameters",
        "/paths/~1a/get/parameters/0",
    ),
    (
        {
            "/a": {
                **_get(parameters=[{**_querystring("application/json"), "name": "r"}]),
                "parameters": [_querystring("application/json")],
            }
        },
        "an operation has at most one `in: querystring` parameter ('q', 'r')",
        "/paths/~1a/get/parameters/0",
    ),
    (
        {
            "/a": {
                "post": {
                    "requestBody": {"content": {"application/jsonl": {"itemSchema": TICK}}},
                    "responses": {"200": OK},
                }
            }
        },
        "itemSchema is not supported here: request bodies are read whole, not streamed",
        "/paths/~1a/post/requestBody/content/application~1jsonl/itemSchema",
    ),
    (
        {
            "/a": _get(
                responses={
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"itemSchema": TICK}},
                    }
                }
            )
        },
        "itemSchema is not supported here: application/json is not a sequential media type",
        "/paths/~1a/get/responses/200/content/application~1json/itemSchema",
    ),
    (
        {
            "/a": _get(
                responses={
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/jsonl": {"itemSchema": TICK, "x-item-schema": TICK}
                        },
                    }
                }
            )
        },
        "itemSchema and x-item-schema say the same: give one",
        "/paths/~1a/get/responses/200/content/application~1jsonl/x-item-schema",
    ),
]


@pytest.mark.parametrize(("paths", "message", "pointer"), REFUSED)
def test_what_cannot_be_served_is_refused_by_name_and_pointer(
    tmp_path: Path, paths: dict[str, Any], message: str, pointer: str
) -> None:
    code, stderr = _generate(tmp_path, _document("3.2.0", paths))
    assert code == 2
    assert message in stderr
    assert f"(at {pointer})" in stderr
    assert not (tmp_path / "out").exists()


def test_3_2_documents_are_checked_against_the_3_2_schema_and_dialect(tmp_path: Path) -> None:
    # 3.2's schema knows query, additionalOperations and itemSchema; 3.1's does not.
    paths = {"/a": {"query": {"responses": {"200": OK}}}}
    assert _generate(tmp_path, _document("3.2.0", paths))[0] == 0
    code, stderr = _generate(tmp_path, _document("3.1.0", paths))
    assert code == 2
    assert "/paths/~1a" in stderr
    # A fixed method may not be repeated under additionalOperations.
    twice = {"/a": {**_get(), "additionalOperations": {"GET": {"responses": {"200": OK}}}}}
    code, stderr = _generate(tmp_path, _document("3.2.0", twice))
    assert code == 2
    assert "/paths/~1a/additionalOperations" in stderr
    # Schema Objects are checked against the 3.2 dialect.
    bad = {
        "/a": _get(
            responses={"200": {**OK, "content": {"application/json": {"schema": {"minimum": "x"}}}}}
        )
    }
    code, stderr = _generate(tmp_path, _document("3.2.0", bad))
    assert code == 2
    assert "/paths/~1a/get/responses/200/content/application~1json/schema/minimum" in stderr
    code, stderr = _generate(tmp_path, _document("3.3.0", paths))
    assert code == 2
    assert "expected 3.0.x, 3.1.x or 3.2.x" in stderr
