from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from impl.app import create_app
from impl.observability.logs import LogFormat, configure_logging, route_structlog_to_stdlib
from impl.settings import Settings

Configure = Callable[..., io.StringIO]


@pytest.fixture
def log_to() -> Iterator[Configure]:
    """`log_to(level, format)`: the real pipeline, into a buffer; undone afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def configure(level: str = "INFO", log_format: LogFormat | None = "json") -> io.StringIO:
        buffer = io.StringIO()
        configure_logging(level, log_format, stream=buffer)
        return buffer

    try:
        yield configure
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.captureWarnings(False)
        route_structlog_to_stdlib()
        for name in logging.root.manager.loggerDict:
            if name.startswith(("sqlalchemy", "aiosqlite", "asyncio", "multipart", "alembic")):
                logging.getLogger(name).setLevel(logging.NOTSET)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


async def served(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


@pytest.fixture
async def client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    # `sessionmaker`: the tables are emptied after the test.
    async for c in served(create_app(settings, validate_responses=True)):
        yield c
