"""`format: uri`: an absolute URI as RFC 3986 writes one, kept as the client wrote it.

Found by the fuzzer on coverage/hooks.yaml: a callback URL of "" was accepted, since the
models typed `format: uri` as a plain str (Pydantic's AnyUrl rewrites URLs and drops
maxLength). The check agrees with jsonschema-rs, which schemathesis validates formats with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.provisional import urls

from specfirst import is_uri
from tests.codegen.conftest import generated_package, no_context

FORMAT = jsonschema_rs.validator_for({"type": "string", "format": "uri"}, validate_formats=True)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("https://a.example/", True),
        ("http://u:p@[::1]:8080/a/b?c=d&e#f", True),
        ("http://[v1.x]/", True),
        ("urn:isbn:0451450523", True),
        ("mailto:a@b.example", True),
        ("file:///etc/hosts", True),
        ("a:%41", True),
        ("", False),
        ("/relative/path", False),
        ("//no.scheme/", False),
        ("http://a b/", False),
        ("http://h:8a/", False),
        ("http://[::g]/", False),
        ("http://[fe80::1%25eth0]/", False),
        ("a:%zz", False),
        ("http://é.example/", False),  # an IRI, not a URI
        ("1http://a/", False),
    ],
)
def test_absolute_uris(value: str, valid: bool) -> None:
    assert is_uri(value) is valid
    assert FORMAT.is_valid(value) is valid


_PIECES = st.text(st.sampled_from(list("aZ09:/?#[]@!$&'()*+,;=%-._~ éfv")), max_size=20)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        _PIECES,
        urls(),
        st.tuples(st.sampled_from(["http:", "http://", "a:", "x://[", "http://u@h:"]), _PIECES).map(
            "".join
        ),
    )
)
def test_is_uri_agrees_with_jsonschema_rs(value: str) -> None:
    assert is_uri(value) == FORMAT.is_valid(value)


def _document() -> dict[str, Any]:
    uri = {"type": "string", "format": "uri", "maxLength": 30}
    return {
        "openapi": "3.1.0",
        "info": {"title": "uris", "version": "1"},
        "paths": {
            "/links": {
                "post": {
                    "operationId": "add_link",
                    "parameters": [{"name": "via", "in": "query", "schema": uri}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["href"],
                                    "properties": {
                                        "href": uri,
                                        "mirrors": {"type": "array", "items": uri},
                                        "home": {"$ref": "#/components/schemas/Home"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"200": {"description": "what was read"}},
                }
            }
        },
        "components": {
            "schemas": {"Home": {"type": ["string", "null"], "format": "uri", "default": ""}}
        },
    }


async def test_generated_models_and_parameters_check_uris(tmp_path: Path) -> None:
    package = generated_package(_document(), tmp_path, "uris_api")
    read: list[tuple[Any, Any]] = []

    class Links:
        async def add_link(self, ctx: Any, *, via: Any, body: Any) -> Any:
            read.append((via, body))
            return package.responses.default.AddLink200()

    app = package.build_app(package.Implementation(context=no_context, default=Links()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        good = {"href": "HTTPS://a.example", "mirrors": ["ftp://b.example/x"], "home": None}
        ok = await client.post("/links?via=urn:x", json=good)
        assert ok.status_code == 200, ok.text
        bad_query = await client.post("/links?via=nope", json=good)
        bad = await client.post(
            "/links", json={"href": "", "mirrors": ["ok:1", "a b"], "home": "/relative"}
        )
        too_long = await client.post("/links", json={"href": "https://" + "a" * 30})
    (via, body), *_ = read
    assert via == "urn:x"
    assert body.href == "HTTPS://a.example"  # as written: no trailing slash, no lower-casing
    assert bad_query.status_code == 422
    assert [e["pointer"] for e in bad_query.json()["errors"]] == ["/query/via"]
    assert bad.status_code == 422
    errors = bad.json()["errors"]
    assert sorted(e["pointer"] for e in errors) == ["/body/home", "/body/href", "/body/mirrors/1"]
    assert {e["code"] for e in [*errors, *bad_query.json()["errors"]]} == {"uri_syntax"}
    assert too_long.status_code == 422  # maxLength still holds
    # A document's default is not checked (real documents write "" for URIs).
    assert package.models.AddLinkRequest(href="a:b").home == ""
