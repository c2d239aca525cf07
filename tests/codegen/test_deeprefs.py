"""References into the middle of a schema (APIs.guru's bundles) become component schemas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from codegen.deeprefs import hoist_deep_refs
from tests.codegen.conftest import generated_package, no_context

S = "#/components/schemas/"


def _document() -> dict[str, Any]:
    # The shape of azure.com/network-applicationGateway: a reference to the first `allOf`
    # member of a property, one to a property of that member, and readOnly fields, which make
    # the model generator build Request/Response variants of each (it failed with "Invalid
    # JSON pointer array index '0Request'").
    return {
        "openapi": "3.0.3",
        "info": {"title": "deep", "version": "1"},
        "paths": {
            "/servers/{name}": {
                "put": {
                    "operationId": "put_server",
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": S + "Server"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "the configuration",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": S + "Server/properties/config/allOf/0"}
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "Server": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "readOnly": True},
                        "config": {
                            "allOf": [
                                {
                                    "type": "object",
                                    "required": ["port"],
                                    "properties": {
                                        "etag": {"type": "string", "readOnly": True},
                                        "port": {"type": "integer", "minimum": 1},
                                        "mode": {"type": "string", "enum": ["a", "b"]},
                                        # A pointer into the schema that holds it.
                                        "fallback": {
                                            "$ref": S + "Server/properties/config/allOf/0"
                                        },
                                    },
                                }
                            ]
                        },
                        "mode": {"$ref": S + "Server/properties/config/allOf/0/properties/mode"},
                    },
                }
            }
        },
    }


def test_deep_targets_move_to_components_and_references_follow() -> None:
    document = _document()
    hoisted, moved = hoist_deep_refs(document)
    assert moved == {
        "ServerConfigAllOf0": "/components/schemas/Server/properties/config/allOf/0",
        "ServerConfigAllOf0Mode": "/components/schemas/ServerConfigAllOf0/properties/mode",
    }
    schemas = hoisted["components"]["schemas"]
    assert schemas["Server"]["properties"]["config"] == {
        "allOf": [{"$ref": S + "ServerConfigAllOf0"}]
    }
    assert schemas["Server"]["properties"]["mode"] == {"$ref": S + "ServerConfigAllOf0Mode"}
    config = schemas["ServerConfigAllOf0"]["properties"]
    assert config["fallback"] == {"$ref": S + "ServerConfigAllOf0"}
    assert config["mode"] == {"$ref": S + "ServerConfigAllOf0Mode"}
    assert schemas["ServerConfigAllOf0Mode"] == {"type": "string", "enum": ["a", "b"]}
    response = hoisted["paths"]["/servers/{name}"]["put"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == {"$ref": S + "ServerConfigAllOf0"}
    # The caller's document (the one that is served) is left as it was.
    assert document == _document()


def test_a_document_without_deep_references_is_returned_as_is() -> None:
    document = {"openapi": "3.1.0", "components": {"schemas": {"A": {"$ref": S + "B"}, "B": {}}}}
    assert hoist_deep_refs(document) == (document, {})


def test_a_broken_pointer_is_left_for_the_validator() -> None:
    document = {
        "components": {"schemas": {"A": {"type": "object"}, "B": {"$ref": S + "A/properties/x"}}}
    }
    hoisted, moved = hoist_deep_refs(document)
    assert moved == {}
    assert hoisted["components"]["schemas"]["B"] == {"$ref": S + "A/properties/x"}


async def test_the_generated_server_validates_through_the_moved_schemas(tmp_path: Path) -> None:
    package = generated_package(_document(), tmp_path, "deep_refs_api")

    class Servers:
        async def put_server(self, ctx: Any, *, name: str, body: Any) -> Any:
            return package.responses.default.PutServer200(body=body.config)

    @asynccontextmanager
    async def context(info: Any) -> AsyncIterator[None]:
        yield None

    app = package.build_app(
        package.Implementation(context=context, default=Servers()), validate_responses=True
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.put(
            "/servers/a", json={"config": {"port": 8080, "mode": "a"}, "mode": "b"}
        )
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"port": 8080, "mode": "a"}
        bad = await client.put("/servers/a", json={"config": {"port": 0}, "mode": "c"})
        assert bad.status_code == 422
        pointers = {error["pointer"] for error in bad.json()["errors"]}
        assert pointers == {"/body/config/port", "/body/mode"}


def _foreign_document() -> dict[str, Any]:
    order_id = "#/paths/~1orders/post/responses/202/content/application~1json/schema/properties/id"
    return {
        "openapi": "3.1.0",
        "info": {"title": "foreign", "version": "1"},
        "paths": {
            "/orders": {
                "post": {
                    "operationId": "place_order",
                    "parameters": [{"$ref": "#/components/parameters/Limit"}],
                    "responses": {
                        "202": {
                            "description": "accepted",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["id"],
                                        "properties": {
                                            "id": {"type": "string", "pattern": "^ord_[0-9]{4}$"}
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/shipments": {
                "post": {
                    "operationId": "ship",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": S + "Shipment"}}},
                    },
                    "responses": {"204": {"description": "noted"}},
                }
            },
        },
        "components": {
            "parameters": {
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 9},
                }
            },
            "schemas": {
                "Shipment": {
                    "type": "object",
                    "required": ["order", "count"],
                    "properties": {
                        # The model generator, given the component schemas only, typed
                        # both of these Any.
                        "order": {"$ref": order_id},
                        "count": {"$ref": "#/components/parameters/Limit/schema"},
                        # Data, not a schema: nothing moves for it.
                        "example": {"type": "object", "default": {"$ref": "#/paths/~1orders"}},
                    },
                }
            },
        },
    }


def test_schemas_referenced_outside_the_component_schemas_move_there_too() -> None:
    document = _foreign_document()
    hoisted, moved = hoist_deep_refs(document)
    assert moved == {
        "ParametersLimit": "/components/parameters/Limit/schema",
        "OrdersPostResponses202ApplicationJsonId": "/paths/~1orders/post/responses/202/content"
        "/application~1json/schema/properties/id",
    }
    shipment = hoisted["components"]["schemas"]["Shipment"]["properties"]
    assert shipment["order"] == {"$ref": S + "OrdersPostResponses202ApplicationJsonId"}
    assert shipment["count"] == {"$ref": S + "ParametersLimit"}
    assert (
        shipment["example"]
        == _foreign_document()["components"]["schemas"]["Shipment"]["properties"]["example"]
    )
    assert hoisted["components"]["parameters"]["Limit"]["schema"] == {"$ref": S + "ParametersLimit"}
    assert document == _foreign_document()


async def test_the_generated_server_validates_through_schemas_from_elsewhere(
    tmp_path: Path,
) -> None:
    package = generated_package(_foreign_document(), tmp_path, "foreign_refs_api")
    fields = package.models.Shipment.model_fields
    assert "Any" not in str(fields["order"].annotation)

    class Orders:
        async def place_order(self, ctx: Any, *, limit: int | None) -> Any:
            raise NotImplementedError

        async def ship(self, ctx: Any, *, body: Any) -> Any:
            return package.responses.default.Ship204()

    app = package.build_app(package.Implementation(context=no_context, default=Orders()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.post("/shipments", json={"order": "ord_0001", "count": 2})
        bad = await client.post("/shipments", json={"order": "nope", "count": 0})
    assert ok.status_code == 204, ok.text
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/body/order", "/body/count"}
