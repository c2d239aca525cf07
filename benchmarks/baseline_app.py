"""The baseline for `just bench`: the same three operations written as typical FastAPI code.

FastAPI + SQLAlchemy async ORM, the way the full-stack FastAPI template does it: a session
dependency with one transaction per request, a current-user dependency that decodes the JWT
and looks the user up, a membership check, `response_model`s built from ORM objects, and
the order written through the ORM. It reads and writes the same tables as Storefront (our
ORM models, so the same rows; the audit recorder is installed too, so both apps write the
same audit trail). Serve it with `uvicorn --factory benchmarks.baseline_app:create_app`.
"""

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException, Response, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import selectinload

from impl.audit import recorder
from impl.models import (
    IdempotencyKey,
    Membership,
    Order,
    OrderLine,
    Product,
    StockLevel,
    StockMovement,
    User,
)
from impl.settings import Settings


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    team_id: uuid.UUID
    sku: str
    name: str
    description: str | None
    price: Decimal
    currency: str
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


class LineIn(BaseModel):
    product_id: uuid.UUID
    quantity: int


class OrderIn(BaseModel):
    customer_email: str
    lines: list[LineIn]
    note: str | None = None


class LineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    customer_email: str
    currency: str
    total: Decimal
    note: str | None
    lines: list[LineOut]
    created_at: datetime
    updated_at: datetime


def create_app() -> FastAPI:
    settings = Settings()
    recorder.install()
    engine = create_async_engine(
        settings.database_url, pool_size=settings.db_pool_size, max_overflow=0
    )
    session_factory = async_sessionmaker(engine, expire_on_commit=False)
    oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token")
    secret = settings.jwt_secret.get_secret_value()

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with session_factory() as session, session.begin():
            yield session

    session_dep = Annotated[AsyncSession, Depends(get_session)]

    async def current_user(session: session_dep, token: Annotated[str, Depends(oauth2)]) -> User:
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
            )
        except jwt.PyJWTError as error:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid token") from error
        user = await session.get(User, uuid.UUID(claims["sub"]))
        if user is None or not user.is_active:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Inactive user")
        return user

    async def team_member(
        team_id: uuid.UUID, session: session_dep, user: Annotated[User, Depends(current_user)]
    ) -> User:
        membership = await session.get(Membership, (team_id, user.id))
        if membership is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Team not found")
        return user

    member_dep = Annotated[User, Depends(team_member)]
    app = FastAPI()

    @app.get("/v1/teams/{team_id}/products/{product_id}", response_model=ProductOut)
    async def get_product(
        team_id: uuid.UUID, product_id: uuid.UUID, session: session_dep, _user: member_dep
    ) -> Product:
        product = await session.scalar(
            select(Product).where(
                Product.id == product_id, Product.team_id == team_id, Product.deleted_at.is_(None)
            )
        )
        if product is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Product not found")
        return product

    @app.get("/v1/teams/{team_id}/products", response_model=ProductPage)
    async def list_products(
        team_id: uuid.UUID, session: session_dep, _user: member_dep, limit: int = 20
    ) -> ProductPage:
        rows = await session.scalars(
            select(Product)
            .where(Product.team_id == team_id, Product.deleted_at.is_(None))
            .order_by(Product.created_at, Product.id)
            .limit(limit + 1)
        )
        products = list(rows)
        next_cursor = str(products[limit - 1].id) if len(products) > limit else None
        return ProductPage(
            items=[ProductOut.model_validate(p) for p in products[:limit]],
            next_cursor=next_cursor,
        )

    @app.post("/v1/teams/{team_id}/orders", response_model=OrderOut, status_code=201)
    async def create_order(
        team_id: uuid.UUID,
        body: OrderIn,
        session: session_dep,
        user: member_dep,
        response: Response,
        idempotency_key: Annotated[str, Header()],
    ) -> Order:
        request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        existing = await session.get(IdempotencyKey, (team_id, "create_order", idempotency_key))
        if existing is not None:
            if existing.request_hash != request_hash or existing.resource_id is None:
                raise HTTPException(422, "Idempotency-Key reused")
            replayed = await session.scalar(
                select(Order)
                .where(Order.id == existing.resource_id)
                .options(selectinload(Order.lines))
            )
            assert replayed is not None
            return replayed
        products = {
            p.id: p
            for p in await session.scalars(
                select(Product).where(
                    Product.team_id == team_id,
                    Product.id.in_([line.product_id for line in body.lines]),
                    Product.deleted_at.is_(None),
                )
            )
        }
        if any(line.product_id not in products for line in body.lines):
            raise HTTPException(422, "No such product")
        lines = [
            OrderLine(
                position=position,
                product_id=line.product_id,
                sku=products[line.product_id].sku,
                name=products[line.product_id].name,
                unit_price=products[line.product_id].price,
                quantity=line.quantity,
                line_total=products[line.product_id].price * line.quantity,
            )
            for position, line in enumerate(body.lines)
        ]
        order = Order(
            team_id=team_id,
            status="pending",
            customer_email=body.customer_email,
            currency=next(iter(products.values())).currency,
            total=sum((line.line_total for line in lines), Decimal("0.00")),
            note=body.note,
            created_by=user.id,
            lines=lines,
        )
        session.add(order)
        await session.flush()
        for line in sorted(body.lines, key=lambda line: line.product_id):
            level = await session.get(StockLevel, line.product_id, with_for_update=True)
            if level is None or level.on_hand < line.quantity:
                raise HTTPException(409, "Insufficient stock")
            level.on_hand -= line.quantity
            level.version += 1
            session.add(
                StockMovement(
                    team_id=team_id,
                    product_id=line.product_id,
                    delta=-line.quantity,
                    on_hand_after=level.on_hand,
                    reason="order",
                    order_id=order.id,
                    actor_id=user.id,
                )
            )
        session.add(
            IdempotencyKey(
                team_id=team_id,
                operation="create_order",
                key=idempotency_key,
                request_hash=request_hash,
                resource_id=order.id,
                response=json.loads(OrderOut.model_validate(order).model_dump_json()),
            )
        )
        await session.flush()
        response.headers["Location"] = f"/v1/teams/{team_id}/orders/{order.id}"
        return order

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
