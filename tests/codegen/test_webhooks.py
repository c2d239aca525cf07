"""Webhooks and callbacks become typed senders and a typed receiver; here the generated sender
reaches a plain endpoint, and the generated receiver, over real HTTP."""

from __future__ import annotations

import datetime
import enum
import importlib
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import specfirst
from specfirst.receiving import SENDER_KEY
from tests.codegen.conftest import HttpSender, no_context, served
from tests.codegen.test_golden import DATA


@pytest.fixture(scope="module")
def hooks() -> Iterator[ModuleType]:
    sys.path.insert(0, str(DATA))
    try:
        yield importlib.import_module("hooks_expected")
    finally:
        sys.path.remove(str(DATA))


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A third party's endpoint: uvicorn on a loopback port, recording what arrives."""
    received: list[dict[str, Any]] = []

    async def record(request: Request) -> Response:
        received.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
                "body": await request.body(),
            }
        )
        return Response(status_code=204 if request.url.path == "/events" else 200)

    app = Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])
    with served(app) as base_url:
        yield base_url, received


async def test_webhook_is_sent_as_the_contract_says(
    hooks: ModuleType, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    base_url, received = receiver
    async with httpx.AsyncClient() as client:
        delivery = await hooks.webhooks.send_post_new_pet(
            HttpSender(client),
            f"{base_url}/pets",
            shard=3,
            x_signature="sig",
            body=hooks.models.PostNewPetRequest(name="Rex"),
        )
    assert delivery.status == 200
    sent = received[-1]
    assert (sent["method"], sent["path"], sent["query"]) == ("POST", "/pets", {"shard": "3"})
    assert sent["headers"]["x-signature"] == "sig"
    assert sent["headers"]["content-type"] == "application/json"
    assert sent["body"] == b'{"name":"Rex"}'


async def test_callback_sender_leaves_out_absent_parameters(
    hooks: ModuleType, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    base_url, received = receiver
    async with httpx.AsyncClient() as client:
        delivery = await hooks.webhooks.send_notify_event(
            HttpSender(client),
            f"{base_url}/events",
            x_attempt=None,
            body=hooks.models.Event(kind="created"),
        )
    assert delivery.status == 204
    sent = received[-1]
    assert "x-attempt" not in sent["headers"]
    assert sent["body"] == b'{"kind":"created"}'


def test_outbound_operations_are_not_routed(hooks: ModuleType) -> None:
    assert [op.operation_id for op in hooks.OPERATIONS] == ["subscribe"]


# ------------------------------------------------------------------ the generated receiver


class Consumer:
    """A consumer's handlers for the hooks package's webhook and callback: it records them."""

    def __init__(self, hooks: ModuleType) -> None:
        self.r = hooks.receiver.responses.default
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def post_new_pet(
        self, ctx: Any, *, shard: int | None, x_signature: str, body: Any
    ) -> Any:
        self.calls.append(("post_new_pet", {"shard": shard, "sig": x_signature, "body": body}))
        return self.r.PostNewPet200()

    async def notify_event(self, ctx: Any, *, x_attempt: int | None, body: Any) -> Any:
        self.calls.append(("notify_event", {"attempt": x_attempt, "body": body}))
        return self.r.NotifyEvent204()


@pytest.fixture(scope="module")
def consumer(hooks: ModuleType) -> Iterator[tuple[str, Consumer]]:
    """The generated receiver, mounted at paths of the consumer's choosing, on uvicorn."""
    handlers = Consumer(hooks)
    app = hooks.receiver.build_receiver(
        hooks.receiver.Receivers(context=no_context, default=handlers),
        {"post_new_pet": "/hooks/pets", "notify_event": "/hooks/events"},
        validate_responses=True,
    )
    with served(app) as base_url:
        yield base_url, handlers


async def test_sender_reaches_the_generated_receiver(
    hooks: ModuleType, consumer: tuple[str, Consumer]
) -> None:
    base_url, handlers = consumer
    async with httpx.AsyncClient() as client:
        sender = HttpSender(client)
        pet = await hooks.webhooks.send_post_new_pet(
            sender,
            f"{base_url}/hooks/pets",
            shard=3,
            x_signature="sig",
            body=hooks.models.PostNewPetRequest(name="Rex"),
        )
        event = await hooks.webhooks.send_notify_event(
            sender, f"{base_url}/hooks/events", x_attempt=2, body=hooks.models.Event(kind="created")
        )
    assert (pet.status, event.status) == (200, 204)
    (name, pet_args), (_, event_args) = handlers.calls[-2:]
    assert name == "post_new_pet"
    assert (pet_args["shard"], pet_args["sig"], pet_args["body"].name) == (3, "sig", "Rex")
    assert isinstance(pet_args["body"], hooks.models.PostNewPetRequest)
    assert event_args["attempt"] == 2
    assert event_args["body"].kind == hooks.models.Kind.CREATED


@pytest.mark.parametrize(
    ("path", "headers", "body", "pointers"),
    [
        ("/hooks/pets", {"X-Signature": "s"}, {"nickname": "R"}, ["/body/name"]),
        ("/hooks/pets", {}, {"name": "Rex"}, ["/header/X-Signature"]),
        ("/hooks/pets?shard=x", {"X-Signature": "s"}, {"name": "Rex"}, ["/query/shard"]),
        ("/hooks/events", {}, {"kind": "renamed"}, ["/body/kind"]),
    ],
)
async def test_receiver_rejects_invalid_payloads(
    consumer: tuple[str, Consumer],
    path: str,
    headers: dict[str, str],
    body: Any,
    pointers: list[str],
) -> None:
    base_url, handlers = consumer
    before = len(handlers.calls)
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base_url}{path}", headers=headers, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in response.json()["errors"]] == pointers
    assert len(handlers.calls) == before  # the handler never saw it


async def test_receiver_serves_only_the_mounted_paths(consumer: tuple[str, Consumer]) -> None:
    base_url, _ = consumer
    async with httpx.AsyncClient() as client:
        elsewhere = await client.post(f"{base_url}/newPet", json={"name": "Rex"})
        spec = await client.get(f"{base_url}/openapi.json")
        wrong_method = await client.get(f"{base_url}/hooks/pets")
        not_json = await client.post(
            f"{base_url}/hooks/events",
            content=b"kind=created",
            headers={"content-type": "text/plain"},
        )
    assert elsewhere.status_code == 404
    assert spec.status_code == 404  # a consumer does not publish the sender's document
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert not_json.status_code == 415
    assert not_json.headers["content-type"] == "application/problem+json"


def test_receiver_start_up_names_missing_handlers_and_unknown_hooks(hooks: ModuleType) -> None:
    receivers = hooks.receiver.Receivers(context=no_context)
    with pytest.raises(specfirst.MissingOperationsError, match="notify_event"):
        hooks.receiver.build_receiver(receivers, {"notify_event": "/events"})
    with pytest.raises(ValueError, match="no webhook or callback named new_pet"):
        hooks.receiver.build_receiver(receivers, {"new_pet": "/pets"})
    with pytest.raises(ValueError, match="two receivers share POST /hooks"):
        hooks.receiver.build_receiver(
            receivers, {"post_new_pet": "/hooks", "notify_event": "/hooks"}, allow_missing=True
        )


# ------------------------------------------------------------------ serialising what is sent


class Recording:
    """A sender that keeps the request and answers 204."""

    def __init__(self) -> None:
        self.sent: list[specfirst.OutboundRequest] = []

    async def send(self, request: specfirst.OutboundRequest) -> specfirst.Delivery:
        self.sent.append(request)
        return specfirst.Delivery(status=204)


class Colour(enum.Enum):
    RED = "red"


class Shipped(BaseModel):
    order: str
    parcels: list[str]
    signed: bool
    note: str | None = None


def _outbound(*params: specfirst.Param, kind: str = "json") -> specfirst.Outbound:
    content = specfirst.Content(
        media_type="application/x-www-form-urlencoded" if kind == "form" else "application/json",
        kind=kind,
        adapter=TypeAdapter(Shipped),
    )
    return specfirst.Outbound(
        kind="callback",
        name="onShipped",
        method="POST",
        params=params,
        body=specfirst.Body(required=True, contents=(content,)),
        statuses=frozenset(["204"]),
    )


async def test_parameters_are_sent_as_json_writes_them() -> None:
    # str() wrote "2024-11-05 09:30:00+00:00" (a space for the T, refused by the receiver as
    # not RFC 3339) and "Colour.RED"; a path value went into the URL unencoded.
    outbound = _outbound(
        specfirst.Param(name="id", location="path", python_name="id_"),
        specfirst.Param(name="colour", location="query", python_name="colour"),
        specfirst.Param(name="at", location="query", python_name="at"),
        specfirst.Param(name="X-Sent-At", location="header", python_name="sent_at"),
        specfirst.Param(name="X-Delivery", location="header", python_name="delivery"),
        specfirst.Param(name="X-Retry", location="header", python_name="retry"),
    )
    sender = Recording()
    when = datetime.datetime(2024, 11, 5, 9, 30, tzinfo=datetime.UTC)
    values = {
        "id_": "a b/c,d",
        "colour": [Colour.RED, Colour.RED],
        "at": datetime.date(2024, 11, 5),
        "sent_at": when,
        "delivery": uuid.UUID(int=1),
        "retry": False,
    }
    body = Shipped(order="o", parcels=["p"], signed=True)
    await specfirst.deliver(sender, outbound, "http://h/orders/{id}", values, body)
    (request,) = sender.sent
    assert request.url == "http://h/orders/a%20b%2Fc,d?colour=red&colour=red&at=2024-11-05"
    assert request.headers == {
        "X-Sent-At": "2024-11-05T09:30:00Z",
        "X-Delivery": "00000000-0000-0000-0000-000000000001",
        "X-Retry": "false",
        "Content-Type": "application/json",
    }


async def test_form_bodies_are_written_as_forms_write_them() -> None:
    # Python's True and None are not form values: a receiver reading JSON Schema's boolean
    # takes "true"; a form has no null.
    sender = Recording()
    body = Shipped(order="o 1", parcels=["p", "q"], signed=True, note=None)
    await specfirst.deliver(sender, _outbound(kind="form"), "http://h/shipped", {}, body)
    (request,) = sender.sent
    assert request.content == b"order=o+1&parcels=p&parcels=q&signed=true"
    assert request.headers == {"Content-Type": "application/x-www-form-urlencoded"}


# ------------------------------------------------------------------ the receiver's document


def _sender_document() -> dict[str, Any]:
    problem = {"$ref": "#/components/responses/Problem"}
    return {
        "openapi": "3.2.0",
        "info": {"title": "Sender", "version": "1"},
        "servers": [{"url": "https://sender.example/v1"}],
        "security": [{"key": []}],
        "paths": {
            "/orders": {
                "post": {
                    "operationId": "place_order",
                    "responses": {
                        "202": {
                            "description": "accepted",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"id": {"type": "string"}},
                                    }
                                }
                            },
                        }
                    },
                    "callbacks": {"onShipped": {"$ref": "#/components/callbacks/Shipped"}},
                }
            }
        },
        "webhooks": {
            "changed": {"$ref": "#/components/pathItems/Changed"},
            "linked": {
                "additionalOperations": {
                    "LINK": {"operationId": "linked", "responses": {"204": {"description": "ok"}}}
                }
            },
        },
        "components": {
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}},
            "responses": {"Problem": {"description": "a problem"}},
            "parameters": {
                "Pet": {"name": "X-Pet", "in": "header", "required": True, "schema": {}}
            },
            "pathItems": {
                "Changed": {
                    "parameters": [
                        {"$ref": "#/components/parameters/Pet"},
                        {"name": "v", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "put": {
                        "operationId": "changed",
                        "servers": [{"url": "https://elsewhere.example"}],
                        "parameters": [{"name": "v", "in": "query", "schema": {"type": "string"}}],
                        "responses": {"204": {"description": "applied"}, "422": problem},
                    },
                }
            },
            "callbacks": {
                "Shipped": {
                    "{$request.body#/notify_url}": {
                        "post": {
                            "operationId": "shipped",
                            "requestBody": {
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "$ref": "#/paths/~1orders/post/responses/202/"
                                            "content/application~1json/schema"
                                        }
                                    }
                                }
                            },
                            "responses": {"204": {"description": "noted"}},
                        }
                    }
                }
            },
        },
    }


SOURCES = {
    "changed": "/webhooks/changed/put",
    "linked": "/webhooks/linked/additionalOperations/LINK",
    "shipped": "/paths/~1orders/post/callbacks/onShipped/{$request.body#~1notify_url}/post",
}


def test_as_paths_puts_each_mounted_hook_at_its_path() -> None:
    document = _sender_document()
    derived = specfirst.as_paths(
        document, SOURCES, {"changed": "/in/pets", "linked": "/in/pets", "shipped": "/in/orders"}
    )
    assert document == _sender_document()  # not changed
    assert set(derived) == {"openapi", "info", "security", "components", "paths", SENDER_KEY}
    changed = derived["paths"]["/in/pets"]["put"]
    assert "servers" not in changed  # the sender's, not the receiver's
    # The path item's parameters are the operation's, its own winning (by name and place).
    assert changed["parameters"] == [
        {"$ref": "#/components/parameters/Pet"},
        {"name": "v", "in": "query", "schema": {"type": "string"}},
    ]
    assert derived["paths"]["/in/pets"]["additionalOperations"]["LINK"]["operationId"] == "linked"
    shipped = derived["paths"]["/in/orders"]["post"]
    ref = shipped["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    # The reference into the sender's paths points where they are kept, and resolves there.
    assert ref.startswith(f"#/{SENDER_KEY}/paths/~1orders/post/")
    target: Any = derived
    for token in ref[2:].split("/"):
        target = target[token.replace("~1", "/").replace("~0", "~")]
    assert target == {"type": "object", "properties": {"id": {"type": "string"}}}
    validate(derived)  # a valid 3.2 document


def test_as_paths_without_references_into_the_paths_keeps_nothing_of_them() -> None:
    document = _sender_document()
    del document["components"]["callbacks"], document["paths"]["/orders"]["post"]["callbacks"]
    derived = specfirst.as_paths(document, SOURCES, {"changed": "/in/pets"})
    assert list(derived["paths"]) == ["/in/pets"]
    assert SENDER_KEY not in derived
    assert "webhooks" not in derived


def test_as_paths_refuses_unknown_names_and_two_on_one_method_and_path() -> None:
    with pytest.raises(ValueError, match="no webhook or callback named nope"):
        specfirst.as_paths(_sender_document(), SOURCES, {"nope": "/x"})
    two = {"changed": "/x", "linked": "/y", "shipped": "/x"}
    specfirst.as_paths(_sender_document(), SOURCES, two)  # PUT and POST on /x
    with pytest.raises(ValueError, match="two receivers share POST /x"):
        specfirst.as_paths(
            _sender_document(), {**SOURCES, "again": SOURCES["shipped"]}, {**two, "again": "/x"}
        )
