"""Bundling multi-file documents, and carrying on (with warnings) where the intent is clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codegen.bundle import bundle
from codegen.generate import generate

# A document with one operation, GET /a, up to its responses.
GET_A = (
    "info: {title: t, version: '1'}\n"
    "paths:\n"
    "  /a:\n"
    "    get:\n"
    "      operationId: get_a\n"
    "      responses:\n"
)


def test_foreign_components_are_registered_by_name(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared/common.yaml").write_text(
        "components:\n"
        "  schemas:\n"
        "    Error:\n"
        "      type: object\n"
        "      properties:\n"
        "        message: {type: string}\n"
        "        cause: {$ref: '#/components/schemas/Error'}\n"
    )
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.1.0\n" + GET_A + "        '500':\n"
        "          description: e\n"
        "          content:\n"
        "            application/json:\n"
        "              schema: {$ref: './shared/common.yaml#/components/schemas/Error'}\n"
    )
    document = bundle(tmp_path / "api.yaml").document
    media = document["paths"]["/a"]["get"]["responses"]["500"]["content"]["application/json"]
    assert media["schema"] == {"$ref": "#/components/schemas/Error"}
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["cause"] == {"$ref": "#/components/schemas/Error"}


def test_duplicate_operation_ids_warn_and_stay_distinct(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.1.0\n"
        "info: {title: t, version: '1'}\n"
        "paths:\n"
        "  /a:\n"
        "    get: {operationId: fetch, responses: {'204': {description: ok}}}\n"
        "  /b:\n"
        "    get: {operationId: fetch, responses: {'204': {description: ok}}}\n"
    )
    result = generate(tmp_path / "api.yaml")
    assert [str(w) for w in result.warnings] == [
        f"{tmp_path / 'api.yaml'}:7: warning: duplicate operationId 'fetch' "
        "(at /paths/~1b/get/operationId)"
    ]
    interfaces = result.files["interfaces/default.py"]
    assert "async def fetch(" in interfaces
    assert "async def fetch2(" in interfaces


_SHARED = (
    "Name: {type: string, maxLength: 10}\n"
    "Gone:\n"
    "  description: Gone for good.\n"
    "  content:\n"
    "    application/json:\n"
    "      schema: {$ref: '#/Name', maxLength: 5}\n"
)


def _inlining(tmp_path: Path, version: str) -> dict[str, Any]:
    """A response and, in it, a schema, each inlined from another file with siblings."""
    (tmp_path / "shared.yaml").write_text(_SHARED)
    (tmp_path / "api.yaml").write_text(
        f"openapi: {version}\n"
        + GET_A
        + "        '410': {$ref: './shared.yaml#/Gone', description: Mine., x-note: 1}\n"
    )
    response: dict[str, Any] = bundle(tmp_path / "api.yaml").document["paths"]["/a"]["get"][
        "responses"
    ]["410"]
    return response


def test_inlined_references_keep_the_sibling_rule(tmp_path: Path) -> None:
    # 3.1: the Reference Object takes its description, ignores the rest; the schema's
    # siblings apply in addition to the target (allOf), not over it.
    response = _inlining(tmp_path, "3.1.0")
    assert response["description"] == "Mine."
    assert "x-note" not in response
    assert response["content"]["application/json"]["schema"] == {
        "allOf": [{"type": "string", "maxLength": 10}],
        "maxLength": 5,
    }
    # 3.0: nothing beside a `$ref` is read.
    response = _inlining(tmp_path, "3.0.3")
    assert response["description"] == "Gone for good."
    assert response["content"]["application/json"]["schema"] == {
        "type": "string",
        "maxLength": 10,
    }
