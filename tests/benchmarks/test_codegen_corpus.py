"""``just codegen-corpus``: its pure parts (credentials, the failure line, the counts), and a
bounded run over a fixed sample of both corpora (tests/benchmarks/corpus/)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.codegen_corpus import (
    construct,
    credentials,
    document_name,
    failures_summary,
    run,
    sample,
    summary_lines,
)


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


SAMPLE = Path(__file__).parent / "corpus"
# Each document of the fixed sample and the outcome the corpus run must give it.
EXPECTED = {
    "apis-guru/azure.com/azsadmin-Operations": "ok",
    "apis-guru/freetv-app.com": "ok",
    "apis-guru/medcorder.com": "ok",
    "apis-guru/medium.com": "ok",
    "apis-guru/zeno.fm": "ok",
    "readme/2.0/json/petstore-minimal": "skipped-version",
    "readme/3.0/json/openapi-workshop/post": "ok",
    "readme/3.0/json/parameters-common": "ok",
    "readme/3.0/json/response-http-behavior": "ok",
    "readme/3.1/json/schema-validation-top-level": "ok",
}


def test_the_fixed_sample_generates_imports_routes_and_mocks(tmp_path: Path) -> None:
    documents = sample(SAMPLE, 0, 0)
    assert [document_name(spec, SAMPLE) for spec in documents] == sorted(EXPECTED)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda spec: run(spec, SAMPLE, tmp_path, timeout=60), documents))
    outcomes = {name: (outcome, message) for name, outcome, _, message in results}
    assert {name: outcome for name, (outcome, _) in outcomes.items()} == EXPECTED, outcomes
    assert outcomes["readme/2.0/json/petstore-minimal"][1] == "swagger 2.0"


def test_a_document_past_its_time_is_a_timeout(tmp_path: Path) -> None:
    spec = SAMPLE / "apis-guru/zeno.fm.json"
    name, outcome, seconds, message = run(spec, SAMPLE, tmp_path, timeout=0.5)
    assert (name, outcome) == ("apis-guru/zeno.fm", "timeout")
    # Generation may fit in the time when the model cache knows the document.
    assert message in ("over 0.5 s (in generation)", "over 0.5 s (in import, routing and mock)")
    assert seconds < 10


def test_refusals_are_counted_by_construct() -> None:
    stderr = (
        "a.json:3: error: the path template repeats parameter {id}; each (at /paths/~1a)\n"
        "a.json:9: error: unsupported style 'matrix' for 'x' (at /paths/~1b)\n"
    )
    assert construct(stderr) == "the path template repeats parameter {id}; each (at …/~1a)"
    assert construct("x.json: error: unsupported style 'matrix' 3 (at /p/q)") == (
        "unsupported style '…' N (at …/q)"
    )
    quoted = 'x.json: error: {"a":{"b":[1]}} is not of type "array" (at /c/S/examples)'
    assert construct(quoted) == "… is not of type '…' (at …/examples)"
    results = [
        ("a", "refused", 1.0, "unsupported style '…'"),
        ("b", "refused", 1.0, "unsupported style '…'"),
        ("c", "ok", 1.0, ""),
        ("d", "crash", 1.0, "KeyError: 12"),
        ("e", "skipped-version", 0.0, "swagger 2.0"),
    ]
    assert summary_lines(results) == [
        "5 documents: 2 refused, 1 ok, 1 crash, 1 skipped-version",
        "  refused            2  unsupported style '…'",
        "  skipped-version    1  swagger 2.0",
        "  crash              1  KeyError: N",
    ]
