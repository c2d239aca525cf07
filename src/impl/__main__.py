"""``python -m impl serve|migrate|seed|worker``: the commands behind the justfile recipes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from impl.settings import Settings

logger = logging.getLogger("storefront")


async def _migrate(settings: Settings) -> None:
    from impl.kit.migrate import migrate

    await migrate(settings.database_url)
    logger.info("database migrated: %s", _safe_url(settings.database_url))


async def _seed(settings: Settings, fake: tuple[int, int, int] | None = None) -> None:
    base_url = f"http://{settings.host}:{settings.port}"
    from impl.audit import recorder
    from impl.kit.db import create_engine, create_sessionmaker
    from impl.seed import seed_demo

    recorder.install()
    engine = create_engine(settings)
    try:
        sessionmaker = create_sessionmaker(engine)
        credentials = await seed_demo(sessionmaker)
        if fake is not None and any(fake):
            from impl.fake_data import FAKE_PASSWORD, seed_fake

            teams, products, orders = fake
            made = await seed_fake(
                sessionmaker, settings, teams=teams, products=products, orders=orders
            )
            print(
                f"Added {made.users} users, {made.teams} teams, {made.products} products and "
                f"{made.orders} orders of fake data (every fake user's password: "
                f"{FAKE_PASSWORD})."
            )
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


async def _work(settings: Settings) -> int:
    from impl.audit import recorder
    from impl.jobs.runtime import build_runtime
    from impl.kit.db import create_engine, create_sessionmaker
    from impl.observability.metrics import process_exited

    recorder.install()
    engine = create_engine(settings)
    jobs = build_runtime(settings, create_sessionmaker(engine), role="worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if settings.redis_url:
        logger.info(
            "worker: running jobs from Redis stream %s:stream (REDIS_URL %s) against %s",
            settings.jobs_redis_prefix,
            _safe_url(settings.redis_url),
            _safe_url(settings.database_url),
        )
    else:
        logger.info(
            "worker: REDIS_URL is unset, so this is a standalone in-process queue and "
            "scheduler against %s; it runs its own periodic jobs, not jobs other processes "
            "enqueue",
            _safe_url(settings.database_url),
        )
    await jobs.start()
    try:
        if await jobs.run_until(stop):
            logger.info("worker: stopping (the job in hand is finished first)")
            status = 0
        else:
            # A bug, logged with its traceback: exit so the process manager restarts us.
            logger.error("worker: a job task ended unexpectedly; exiting")
            status = 1
    finally:
        await jobs.stop()
        await engine.dispose()
        process_exited(settings.prometheus_multiproc_dir)
    logger.info("worker: stopped")
    return status


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m impl")
    parser.add_argument("command", choices=["serve", "migrate", "seed", "worker"])
    fake = parser.add_argument_group("seed: fake data (Faker, deterministic) besides the demo")
    fake.add_argument("--teams", type=int, default=0, help="teams to add (default 0)")
    fake.add_argument("--products", type=int, default=20, help="products per team")
    fake.add_argument("--orders", type=int, default=20, help="orders per team")
    args = parser.parse_args(argv)
    settings = Settings()
    if settings.prometheus_multiproc_dir:
        from impl.observability.multiprocess_dir import prepare_multiprocess_dir

        # Before prometheus-client is imported; emptied by `serve` only, before any worker
        # starts (a `worker` process beside it keeps the server's files).
        prepare_multiprocess_dir(settings.prometheus_multiproc_dir, reset=args.command == "serve")
    from impl.observability.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "seed":
        asyncio.run(_seed(settings, (args.teams, args.products, args.orders)))
    elif args.command == "worker":
        raise SystemExit(asyncio.run(_work(settings)))
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
