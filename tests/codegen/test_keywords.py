"""Keywords that do not apply to a schema's type are dropped from the code, with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from codegen.generate import generate
from codegen.keywords import drop_inapplicable
from tests.codegen.conftest import generated_package

# spacetraders.io: `minimum` on a date-time string became `Field(ge=0)` on a datetime, which
# fails on every value, so the mock had no answer and requests could not be validated.
COOLDOWN = {
    "type": "object",
    "required": ["expiration", "seconds"],
    "properties": {
        "expiration": {"type": "string", "format": "date-time", "minimum": 0},
        "seconds": {"type": ["integer", "null"], "minimum": 0, "pattern": "^[0-9]+$"},
        # A property named like a keyword is a property, not a keyword.
        "pattern": {"type": "string", "maxLength": 3},
    },
}


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "keywords", "version": "1"},
        "paths": {
            "/cooldowns": {
                "post": {
                    "operationId": "put_cooldown",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Cooldown"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "the same",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Cooldown"}
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {"schemas": {"Cooldown": COOLDOWN}},
    }


def test_inapplicable_keywords_are_dropped_and_named() -> None:
    document = _document()
    dropped, found = drop_inapplicable(document)
    base = "/components/schemas/Cooldown/properties"
    assert found == [
        (f"{base}/expiration/minimum", "minimum"),
        (f"{base}/seconds/pattern", "pattern"),
    ]
    properties = dropped["components"]["schemas"]["Cooldown"]["properties"]
    assert "minimum" not in properties["expiration"]
    assert properties["seconds"] == {"type": ["integer", "null"], "minimum": 0}
    assert properties["pattern"] == {"type": "string", "maxLength": 3}
    assert document == _document()


def test_generation_warns_and_the_server_accepts_dates(tmp_path: Path) -> None:
    spec = tmp_path / "api.json"
    spec.write_text(json.dumps(_document()))
    warnings = [(w.pointer, w.message) for w in generate(spec).warnings]
    assert warnings == [
        (
            "/components/schemas/Cooldown/properties/expiration/minimum",
            "'minimum' does not apply to the schema's type; it is not enforced",
        ),
        (
            "/components/schemas/Cooldown/properties/seconds/pattern",
            "'pattern' does not apply to the schema's type; it is not enforced",
        ),
    ]


async def test_the_mock_answers_and_validates(tmp_path: Path) -> None:
    package = generated_package(_document(), tmp_path, "keywords_api")
    app = package.build_app(None, mock=True, validate_responses=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = {"expiration": "2024-01-01T00:00:00Z", "seconds": 5, "pattern": "abc"}
        answered = await client.post("/cooldowns", json=body)
        assert answered.status_code == 200, answered.text
        negative = await client.post("/cooldowns", json={**body, "seconds": -1})
        assert negative.status_code == 422
        assert [e["pointer"] for e in negative.json()["errors"]] == ["/body/seconds"]
