"""``python -m impl serve|migrate|seed``: the commands behind the justfile recipes."""

from __future__ import annotations

import argparse
import asyncio
import logging

from impl.settings import Settings

logger = logging.getLogger("storefront")


async def _migrate(settings: Settings) -> None:
    from impl.kit.migrate import migrate

    await migrate(settings.database_url)
    logger.info("database migrated: %s", _safe_url(settings.database_url))


async def _seed(settings: Settings) -> None:
    base_url = f"http://{settings.host}:{settings.port}"
    from impl.kit.db import create_engine, create_sessionmaker
    from impl.seed import seed_demo

    engine = create_engine(settings)
    try:
        credentials = await seed_demo(create_sessionmaker(engine))
    finally:
        await engine.dispose()
    if credentials is None:
        print("The database already has users; demo data was not added.")
        return
    print(
        "\nDemo login (seeded on first start; a team owner and platform admin):\n"
        f"  email:    {credentials.email}\n"
        f"  password: {credentials.password}\n"
        f"  team:     {credentials.team_id}\n"
        f"Get a token: curl -s -X POST {base_url}/v1/auth/token "
        f"-d grant_type=password -d username={credentials.email} "
        f"-d password={credentials.password}\n"
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m impl")
    parser.add_argument("command", choices=["serve", "migrate", "seed"])
    args = parser.parse_args(argv)
    settings = Settings()
    from impl.observability import configure_logging

    configure_logging(settings.log_level)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "seed":
        asyncio.run(_seed(settings))
    else:
        import uvicorn

        from impl.app import create_app

        asyncio.run(_migrate(settings))
        asyncio.run(_seed(settings))
        logger.info(
            "serving on http://%s:%d (API reference at /docs)", settings.host, settings.port
        )
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,
            # Our own access line carries the request id; uvicorn's would not.
            access_log=False,
            proxy_headers=False,
        )


if __name__ == "__main__":
    main()
