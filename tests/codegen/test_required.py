"""A required property a schema names but does not declare must still be present."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from codegen.required import declare_required
from tests.codegen.conftest import generated_package


def _document() -> dict[str, Any]:
    # apicurio.local/registry: ArtifactMetaData requires `group` and declares `groupId`.
    meta = {
        "type": "object",
        "required": ["id", "group"],
        "properties": {"id": {"type": "string"}, "groupId": {"type": "string"}},
    }
    base = {"type": "object", "properties": {"id": {"type": "integer"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "required", "version": "1"},
        "paths": {
            "/meta": {
                "post": {
                    "operationId": "put_meta",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Meta"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "the same",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Meta"}
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "Meta": meta,
                "Base": base,
                # Composition makes a property of Base required: nothing to declare here.
                "Child": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"required": ["id"]}]},
            }
        },
    }


def test_undeclared_required_names_get_an_any_schema() -> None:
    document = _document()
    completed = declare_required(document)
    schemas = completed["components"]["schemas"]
    assert schemas["Meta"]["properties"]["group"] == {}
    assert schemas["Child"] == _document()["components"]["schemas"]["Child"]
    assert document == _document()  # the served document is left alone
    assert declare_required(completed) is completed


async def test_the_server_and_its_mock_require_it(tmp_path: Path) -> None:
    package = generated_package(_document(), tmp_path, "required_api")
    mock = package.build_app(None, mock=True, validate_responses=True)
    transport = httpx.ASGITransport(app=mock)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        missing = await client.post("/meta", json={"id": "a", "groupId": "g"})
        assert missing.status_code == 422
        assert [e["pointer"] for e in missing.json()["errors"]] == ["/body/group"]
        given = await client.post("/meta", json={"id": "a", "group": None})
        assert given.status_code == 200, given.text
        assert "group" in given.json()  # the mock's answer has it too
