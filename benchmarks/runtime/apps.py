"""The apps `just bench-runtime` serves: the same in-memory GET five ways.

``generated``: the package specfirst-codegen writes from ``products.yaml`` (in
build/bench/runtime), served by its ``build_app``; ``starlette-shaped``: the same routes and
middleware in a plain Starlette app (the runtime's shape before 1.0); ``included``: its
``build_router`` included in a plain FastAPI app under ``/api``; ``fastapi``: the endpoint
written by hand in FastAPI (typed UUID path parameters, a Pydantic response model), as a
FastAPI team would; ``starlette``: a bare Starlette route returning fixed JSON, the floor.
"""

from __future__ import annotations

import datetime
import importlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal
from uuid import UUID

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TEAM = UUID("8d2f7c3e-3c1a-4f4e-9a55-1f0c8b7d2a10")
PRODUCT = UUID("0b6b1b2a-55a7-4a7e-8a25-3f3c2d9e4b11")
CREATED = datetime.datetime(2026, 12, 1, 9, 30, tzinfo=datetime.UTC)
ROW: dict[str, Any] = {
    "id": PRODUCT,
    "team_id": TEAM,
    "sku": "SKU-0001",
    "name": "Anvil, 50 kg",
    "description": "Drop-forged steel.",
    "price_cents": 12900,
    "currency": "EUR",
    "status": "active",
    "tags": ["tools", "heavy"],
    "created_at": CREATED,
}
PATH = f"/teams/{TEAM}/products/{PRODUCT}"


def generated() -> Any:
    pkg = importlib.import_module("bench_runtime_api")
    models, responses = pkg.models, pkg.responses.products
    product = models.Product.model_validate(ROW)

    class Products:
        async def get_product(self, ctx: None, *, team_id: UUID, product_id: UUID) -> Any:
            return responses.GetProduct200(body=product)

    @asynccontextmanager
    async def context(info: Any) -> AsyncIterator[None]:
        yield None

    return pkg.Implementation(context=context, products=Products())


def generated_app() -> Any:
    return importlib.import_module("bench_runtime_api").build_app(generated())


def starlette_shaped_app() -> Starlette:
    """The generated layer's routes and middleware in a plain Starlette app, as the runtime
    served them before it was FastAPI-native: what the FastAPI app object itself costs."""
    app = generated_app()
    return Starlette(
        routes=app.router.routes,
        middleware=app.user_middleware,
        exception_handlers=app.exception_handlers,
    )


def included_app() -> FastAPI:
    app = FastAPI()
    router = importlib.import_module("bench_runtime_api").build_router(generated())
    app.include_router(router, prefix="/api")
    return app


class Product(BaseModel):
    id: UUID
    team_id: UUID
    sku: str
    name: str
    description: str | None = None
    price_cents: int
    currency: str
    status: Literal["draft", "active", "archived"]
    tags: list[str]
    created_at: datetime.datetime


def fastapi_app() -> FastAPI:
    app = FastAPI()
    product = Product.model_validate(ROW)

    @app.get("/teams/{team_id}/products/{product_id}", response_model=Product)
    async def get_product(team_id: UUID, product_id: UUID) -> Product:
        return product

    return app


def starlette_app() -> Starlette:
    body = json.dumps(Product.model_validate(ROW).model_dump(mode="json")).encode()

    async def get_product(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/teams/{team_id}/products/{product_id}", get_product)])
