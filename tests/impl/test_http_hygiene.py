"""impl.http_hygiene: what CORS allows is derived from the contract."""

from __future__ import annotations

import json

from generated.spec import OPENAPI_JSON
from impl.http_hygiene import cors_surface


def test_cors_allows_what_the_contract_uses() -> None:
    methods, request_headers, response_headers = cors_surface(OPENAPI_JSON)
    assert {"GET", "POST", "PATCH", "PUT", "DELETE"} <= set(methods)
    assert {"Authorization", "Content-Type", "If-Match", "Idempotency-Key"} <= set(request_headers)
    assert {"ETag", "Location", "Retry-After", "X-Request-ID"} <= set(response_headers)


def test_extensions_and_shared_parameters_of_path_items_are_read_right() -> None:
    document = {
        "components": {"parameters": {"Trace": {"name": "X-Trace", "in": "header"}}},
        "paths": {
            "/a": {
                "x-notes": {"owner": "ops"},  # an extension, not a method
                "parameters": [{"$ref": "#/components/parameters/Trace"}],
                "get": {"responses": {"200": {"headers": {"X-Total": {}}}}},
            }
        },
    }
    methods, request_headers, response_headers = cors_surface(json.dumps(document))
    assert methods == ["GET"]
    assert "X-Trace" in request_headers
    assert "X-Total" in response_headers
