"""``python -m impl serve|serve-prod|migrate|seed|worker|create-admin``: the commands behind
the justfile recipes."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING

from impl.settings import Settings

if TYPE_CHECKING:
    from impl.seed import DemoAccount

logger = logging.getLogger("storefront")
# `serve-prod`'s metrics directory when PROMETHEUS_MULTIPROC_DIR is unset.
DEFAULT_MULTIPROC_DIR = "var/prometheus"


async def _migrate(settings: Settings) -> None:
    from impl.kit.migrate import migrate

    await migrate(settings.database_url)
    logger.info("database migrated: %s", _safe_url(settings.database_url))


async def _seed(
    settings: Settings, fake: tuple[int, int, int] | None = None, *, on_start: bool = False
) -> None:
    """Seed the demo (and `fake`) data if the database is empty, then say how to sign in.

    `on_start` (`serve` in development): every start prints the demo login, not only the one
    that seeded it.
    """
    from impl.audit import recorder
    from impl.kit.db import create_engine, create_sessionmaker
    from impl.seed import find_demo_account, seed_demo

    recorder.install()
    engine = create_engine(settings)
    try:
        sessionmaker = create_sessionmaker(engine)
        credentials = await seed_demo(sessionmaker, settings)
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
        demo = await find_demo_account(sessionmaker, settings)
    finally:
        await engine.dispose()
    if credentials is None and not on_start:
        print("The database already has users; demo data was not added.")
    print(_demo_login(demo, f"http://{settings.host}:{settings.port}"), flush=True)


def _demo_login(demo: DemoAccount | None, base_url: str) -> str:
    """How to sign in as the demo account (development only), as `serve` and `seed` print it."""
    if demo is None:
        return (
            "\nNo demo account in this database (it had users before its first development "
            "start): sign up with POST /v1/users, or make a platform admin with "
            "`just create-admin EMAIL USERNAME`.\n"
        )
    roles = [f"owner of team {demo.team_id}"] if demo.team_id else []
    roles += ["platform admin"] if demo.is_admin else []
    lines = [
        "\nDemo login (development only; there is no demo account in production):",
        f"  email:    {demo.email}",
        f"  password: {demo.password or '(changed since it was seeded: not the demo password)'}",
        f"  roles:    {', '.join(roles) or 'none'}",
    ]
    if not demo.active:
        lines.append("The demo account is deactivated: it cannot sign in.")
    elif demo.password:
        lines.append(
            f"Get a token: curl -s -X POST {base_url}/v1/auth/token "
            f"-d grant_type=password -d username={demo.email} -d password={demo.password}"
        )
    return "\n".join(lines) + "\n"


async def _create_admin(settings: Settings, email: str, username: str) -> int:
    import getpass
    import os
    import sys

    from pydantic import ValidationError

    from generated.models import UserCreate
    from impl.audit import recorder
    from impl.kit.db import create_engine, create_sessionmaker
    from impl.seed import create_admin

    password = os.environ.get("ADMIN_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password for the new admin: ")
            if getpass.getpass("Again: ") != password:
                print("The passwords differ; nothing was changed.", file=sys.stderr)
                return 2
    try:
        # The rules of public sign-up, from the contract.
        account = UserCreate.model_validate(
            {"email": email, "username": username, "password": password}
        )
    except ValidationError as error:
        for problem in error.errors(include_input=False):
            print(f"{problem['loc'][0]}: {problem['msg']}", file=sys.stderr)
        return 2
    recorder.install()
    engine = create_engine(settings)
    try:
        admin = await create_admin(
            create_sessionmaker(engine),
            settings,
            email=str(account.email),
            username=account.username,
            password=account.password,
        )
    finally:
        await engine.dispose()
    verb = "Created" if admin.created else "Promoted the existing account"
    print(f"{verb} {admin.email} (id {admin.user_id}): a platform admin.")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m impl")
    parser.add_argument(
        "command", choices=["serve", "serve-prod", "migrate", "seed", "worker", "create-admin"]
    )
    admin = parser.add_argument_group(
        "create-admin: a platform admin (password from ADMIN_PASSWORD, standard input or a prompt)"
    )
    admin.add_argument("--email", help="the admin's email (an existing account is promoted)")
    admin.add_argument("--username", help="the new account's username")
    worker = parser.add_argument_group("worker: background jobs")
    worker.add_argument(
        "--processes",
        type=int,
        default=1,
        help="worker processes (default 1; more than one needs REDIS_URL)",
    )
    fake = parser.add_argument_group("seed: fake data (Faker, deterministic) besides the demo")
    fake.add_argument("--teams", type=int, default=0, help="teams to add (default 0)")
    fake.add_argument("--products", type=int, default=20, help="products per team")
    fake.add_argument("--orders", type=int, default=20, help="orders per team")
    args = parser.parse_args(argv)
    settings = _settings()
    if args.command == "serve-prod" and not settings.prometheus_multiproc_dir:
        import os

        # Several processes: /metrics must add up every worker's counts, not show one's.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = DEFAULT_MULTIPROC_DIR
        settings = _settings()
    if settings.prometheus_multiproc_dir:
        from impl.observability.multiprocess_dir import prepare_multiprocess_dir

        # Before prometheus-client is imported; emptied by `serve` and `serve-prod` only,
        # before any worker starts (a `worker` process beside them keeps the server's files).
        prepare_multiprocess_dir(
            settings.prometheus_multiproc_dir, reset=args.command in ("serve", "serve-prod")
        )
    from impl.observability.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "seed":
        _exit_unless_development(settings)
        asyncio.run(_seed(settings, (args.teams, args.products, args.orders)))
    elif args.command == "create-admin":
        if not args.email or not args.username:
            parser.error("create-admin needs --email and --username")
        raise SystemExit(asyncio.run(_create_admin(settings, args.email, args.username)))
    elif args.command == "worker":
        from impl.jobs.worker import run_workers

        raise SystemExit(run_workers(settings, args.processes))
    elif args.command == "serve-prod":
        asyncio.run(_migrate(settings))
        _serve_workers(settings)
    else:
        import uvicorn

        from impl.app import create_app

        asyncio.run(_migrate(settings))
        if settings.environment == "development":
            asyncio.run(_seed(settings, on_start=True))
        logger.info(
            "serving on http://%s:%d (API reference at /docs)", settings.host, settings.port
        )
        from specfirst import MissingOperationsError

        try:
            app = create_app(settings)
        except MissingOperationsError as error:  # the contract has an operation not implemented
            raise SystemExit(f"Refusing to start: {error}") from None
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            # Our own access line carries the request id; uvicorn's would not.
            access_log=False,
            proxy_headers=False,
            server_header=False,  # no version banner for scanners
        )


def _serve_workers(settings: Settings) -> None:
    """`WORKERS` uvicorn processes on one socket, each its own app on the same settings.

    Nothing they share lives in a process: the database (and Redis, with `REDIS_URL`) holds
    sign-ins, idempotency keys and the job queue. SIGTERM (or Ctrl-C) stops accepting, lets
    requests in flight finish for up to `SHUTDOWN_GRACE_SECONDS`, then each worker's lifespan
    ends (the job in hand is finished, the pool closed).
    """
    import os

    import uvicorn

    workers = settings.workers or os.cpu_count() or 1
    logger.info(
        "serving on http://%s:%d with %d worker(s) on %s",
        settings.host,
        settings.port,
        workers,
        _safe_url(settings.database_url),
    )
    uvicorn.run(
        "impl.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        # One line per refused setting, without a traceback (and without its value).
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        raise SystemExit(f"Refusing to start: {reasons}") from None


def _exit_unless_development(settings: Settings) -> None:
    from impl.seed import NotDevelopmentError, require_development

    try:
        require_development(settings)
    except NotDevelopmentError as error:
        raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main()
