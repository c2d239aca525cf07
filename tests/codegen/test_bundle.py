"""Bundling multi-file documents, and carrying on (with warnings) where the intent is clear."""

from __future__ import annotations

from pathlib import Path

from codegen.bundle import bundle
from codegen.generate import generate


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
        "openapi: 3.1.0\n"
        "info: {title: t, version: '1'}\n"
        "paths:\n"
        "  /a:\n"
        "    get:\n"
        "      operationId: get_a\n"
        "      responses:\n"
        "        '500':\n"
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
