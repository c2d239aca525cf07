"""The pure parts of ``just codegen-corpus --fuzz``: credentials and the failure line."""

from __future__ import annotations

from benchmarks.codegen_corpus import credentials, failures_summary


def test_credentials_go_where_the_document_says() -> None:
    document = {
        "components": {
            "securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sid"},
                "query": {"type": "apiKey", "in": "query", "name": "api_key"},
            }
        }
    }
    assert credentials(document) == [
        "X-API-Key: x",
        "Authorization: Basic eDp4",
        "Cookie: sid=x",
    ]
    assert credentials({"components": {"securitySchemes": {"o": {"type": "oauth2"}}}}) == [
        "Authorization: Bearer x"
    ]
    assert credentials({}) == []


def test_the_failure_line_names_checks_and_operations() -> None:
    report = {
        "failures": [
            {"code": "ST108", "count": 4, "operations": ["GET /a", "POST /b"]},
            {"code": "ST105", "count": 1, "operations": ["GET /a", "GET /c", "GET /d", "GET /e"]},
        ]
    }
    assert failures_summary(report) == ("ST108 x4, ST105 x1 (GET /a, GET /c, GET /d, GET /e, ...)")
