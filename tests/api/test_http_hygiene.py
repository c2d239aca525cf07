"""Storefront's limits and HTTP headers, through the app: 413 and 400s from the contract's
limits, CORS preflights, and the headers every response carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.app import create_app
from impl.settings import Settings
from tests.api.conftest import PASSWORD, sign_up

ORIGIN = "https://shop.example"


@pytest.fixture
async def configured(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with an allowed origin and TLS terminated in front."""
    changed = settings.model_copy(
        update={"cors_allowed_origins": [ORIGIN], "tls_terminated": True, "max_body_bytes": 4096}
    )
    app = create_app(changed, validate_responses=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_a_10_mb_form_to_the_token_endpoint_is_refused_with_413(
    client: httpx.AsyncClient,
) -> None:
    form = b"grant_type=password&username=a%40example.com&password=" + b"x" * (10 << 20)
    response = await client.post(
        "/v1/auth/token",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    problem = _problem(response, 413)
    assert problem["title"] == "Content Too Large"
    assert problem["detail"] == (
        "The request body is larger than 1048576 bytes, the most this operation accepts."
    )
    assert response.headers["cache-control"] == "no-store"


async def test_a_chunked_body_over_the_limit_is_refused_with_413(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(2048):
            yield b"x" * 1024

    response = await client.post(
        "/v1/teams", content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    _problem(response, 413)


async def test_the_body_limit_comes_from_the_settings(
    configured: httpx.AsyncClient,
) -> None:
    response = await configured.post("/v1/users", json={"email": "x" * 5000})
    assert "4096 bytes" in _problem(response, 413)["detail"]


async def test_deep_json_gets_its_own_400(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/teams",
        content='{"name": ' + "[" * 100 + "]" * 100 + "}",
        headers={**auth, "content-type": "application/json"},
    )
    problem = _problem(response, 400)
    assert problem["detail"] == "The request body is nested deeper than 64 levels."


async def test_a_long_number_gets_its_own_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/teams",
        content='{"name": ' + "7" * 5000 + "}",
        headers={**auth, "content-type": "application/json"},
    )
    problem = _problem(response, 400)
    assert problem["detail"] == "A number in the request body has more than 100 digits."


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/healthz"),
        await client.get("/v1/me"),  # 401
        await client.get("/no/such/path"),  # 404
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers  # TLS_TERMINATED unset
        assert "x-frame-options" not in response.headers
        assert "server" not in response.headers
    assert "cache-control" not in (await client.get("/healthz")).headers


async def test_authenticated_responses_are_not_stored(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    me = await client.get("/v1/me", headers=auth)
    assert me.status_code == 200
    assert me.headers["cache-control"] == "no-store"
    refused = await client.get("/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"


async def test_token_responses_are_not_stored_and_say_so_once(client: httpx.AsyncClient) -> None:
    await sign_up(client, name="cacheless")
    token = await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "password",
            "username": "cacheless@example.com",
            "password": PASSWORD,
        },
    )
    assert token.status_code == 200, token.text
    # The contract's own no-store is kept, not repeated.
    assert token.headers.get_list("cache-control") == ["no-store"]


async def test_the_docs_may_not_be_framed(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    if docs.status_code == 404:
        pytest.skip("swagger-ui-py is not installed: no /docs")
    assert docs.headers["x-frame-options"] == "DENY"
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_hsts_when_tls_terminates_in_front(configured: httpx.AsyncClient) -> None:
    response = await configured.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=63072000"


async def test_a_preflight_from_an_allowed_origin_is_answered(
    configured: httpx.AsyncClient,
) -> None:
    response = await configured.options(
        "/v1/teams",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= {
        h.strip() for h in allowed.split(",")
    }
    assert response.headers["x-content-type-options"] == "nosniff"
    # The actual request then carries the origin's permission and the readable headers.
    created = await configured.get("/healthz", headers={"Origin": ORIGIN})
    assert created.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in created.headers["access-control-expose-headers"].lower()


async def test_a_preflight_from_another_origin_is_refused(client: httpx.AsyncClient) -> None:
    # No CORS_ALLOWED_ORIGINS (the default): every origin is refused, before routing (no 405).
    response = await client.options(
        "/v1/teams",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    problem = _problem(response, 400)
    assert problem["detail"] == "The CORS preflight is refused: disallowed CORS origin."
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_handler_past_its_deadline_answers_503_and_changes_nothing(
    settings: Settings, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # A deadline no database round trip can meet: the handler is cancelled at its first one.
    hurried = create_app(settings.model_copy(update={"request_timeout_seconds": 1e-6}))
    async with hurried.router.lifespan_context(hurried):
        transport = httpx.ASGITransport(app=hurried)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as late:
            for _ in range(3):  # and again: the cancelled connections went back to the pool
                response = await late.post("/v1/teams", json={"name": "Late"}, headers=auth)
                problem = _problem(response, 503)
                assert response.headers["retry-after"] == "5"
                assert problem["detail"].startswith("The request was not handled within")
    teams = await client.get("/v1/teams", headers=auth)
    assert teams.status_code == 200
    assert [team["name"] for team in teams.json()["items"]] == []
