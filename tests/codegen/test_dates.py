"""Dates and date-times in request bodies, which are validated in strict mode."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.codegen.conftest import generated_package

EVENT = {
    "type": "object",
    "required": ["at", "day"],
    "properties": {
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
    },
}
DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "dates", "version": "1"},
    "paths": {
        "/events": {
            "post": {
                "operationId": "post_event",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": EVENT}},
                },
                "responses": {
                    "200": {
                        "description": "the same",
                        "content": {"application/json": {"schema": EVENT}},
                    }
                },
            }
        }
    },
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    package = generated_package(DOCUMENT, tmp_path_factory.mktemp("dates"), "dates_api")
    return package.build_app(None, mock=True, validate_responses=True)


@pytest.mark.parametrize(
    ("at", "day", "status"),
    [
        ("2024-11-05T09:30:00Z", "2024-11-05", 200),
        ("2024-11-05T09:30:00.123456789+01:00", "2024-02-29", 200),
        ("2024-11-05t09:30:00z", "2024-11-05", 200),
        ("2024-11-05T09:30:00", "2024-11-05", 422),  # no offset
        ("1700000000", "2024-11-05", 422),  # a Unix time, as Pydantic alone would read it
        ("2024-11-05T09:30:00Z", "2023-02-29", 422),  # no such day
        ("2024-11-05T09:30:00Z", "20241105", 422),
    ],
)
async def test_rfc_3339_text_in_a_strict_body(app: Any, at: str, day: str, status: int) -> None:
    # Until this test, a date-time in a request body was refused whatever its text: the
    # RFC 3339 check handed the strict validator a `str`, which strict mode does not read.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/events", json={"at": at, "day": day})
    assert response.status_code == status, response.text
