from __future__ import annotations

import asyncio
import io
import logging
import warnings
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.service import AccountService
from impl.jobs.runtime import JobRuntime
from impl.observability.logs import resolve_format
from impl.settings import Settings
from tests.impl.observability.conftest import Configure, lines

PASSWORD = "correct-horse-battery-staple-42"


async def _sign_up(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    created = await client.post(
        "/v1/users",
        json={"email": f"{name}@example.com", "username": name, "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    token = await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": f"{name}@example.com", "password": PASSWORD},
    )
    assert token.status_code == 200, token.text
    tokens: dict[str, Any] = token.json()
    tokens["user_id"] = created.json()["id"]
    return tokens


def _access(records: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    [line] = [r for r in records if r["event"] == "request" and r["request_id"] == request_id]
    return line


class TestRequestLines:
    async def test_access_line_has_the_request_and_its_caller(
        self, client: httpx.AsyncClient, log_to: Configure
    ) -> None:
        tokens = await _sign_up(client, "alice")
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        team = await client.post("/v1/teams", json={"name": "Shop"}, headers=auth)
        team_id = team.json()["id"]
        out = log_to("INFO")
        response = await client.get(
            f"/v1/teams/{team_id}/products", headers={**auth, "X-Request-ID": "req-1"}
        )
        assert response.status_code == 200
        line = _access(lines(out), "req-1")
        assert line["logger"] == "storefront.access"
        assert line["level"] == "info"
        assert line["operation"] == "list_products"
        assert line["method"] == "GET"
        assert line["path"] == f"/v1/teams/{team_id}/products"
        assert line["status"] == 200
        assert line["bytes"] == len(response.content)
        assert line["duration_ms"] > 0
        assert line["user_id"] == tokens["user_id"]
        assert line["team_id"] == team_id
        assert "trace_id" not in line  # tracing is off
        assert line["timestamp"].endswith("Z")

    async def test_unmatched_and_refused_requests(
        self, client: httpx.AsyncClient, log_to: Configure
    ) -> None:
        out = log_to("INFO")
        await client.get("/v1/nowhere", headers={"X-Request-ID": "req-404"})
        await client.get("/v1/me", headers={"X-Request-ID": "req-401"})
        records = lines(out)
        assert _access(records, "req-404")["operation"] == "unmatched"
        assert _access(records, "req-404")["status"] == 404
        refused = _access(records, "req-401")
        assert (refused["operation"], refused["status"]) == ("get_me", 401)
        assert "user_id" not in refused

    async def test_lines_logged_during_a_request_carry_its_fields(
        self,
        client: httpx.AsyncClient,
        log_to: Configure,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        tokens = await _sign_up(client, "bob")
        original = AccountService.get_user

        async def get_user(self: AccountService, *args: Any) -> Any:
            logging.getLogger("storefront.test").info("stdlib line in a handler")
            structlog.stdlib.get_logger("storefront.test").info("structlog line", extra=1)
            return await original(self, *args)

        monkeypatch.setattr(AccountService, "get_user", get_user)
        out = log_to("INFO")
        response = await client.get(
            "/v1/me",
            headers={"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": "r-2"},
        )
        assert response.status_code == 200
        logging.getLogger("storefront.test").info("outside any request")
        records = lines(out)
        inside = [r for r in records if r["logger"] == "storefront.test" and "request_id" in r]
        assert [r["event"] for r in inside] == ["stdlib line in a handler", "structlog line"]
        for record in inside:
            assert record["request_id"] == "r-2"
            assert record["operation"] == "get_me"
            assert record["user_id"] == tokens["user_id"]
        assert inside[1]["extra"] == 1
        [outside] = [r for r in records if r["event"] == "outside any request"]
        assert set(outside) == {"event", "level", "logger", "timestamp"}

    async def test_unhandled_error_is_one_json_line_with_its_traceback(
        self,
        client: httpx.AsyncClient,
        log_to: Configure,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        tokens = await _sign_up(client, "carol")

        async def explode(*_args: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(AccountService, "get_user", explode)
        out = log_to("INFO")
        response = await client.get(
            "/v1/me",
            headers={"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": "r-5"},
        )
        assert response.status_code == 500
        records = lines(out)
        [error] = [r for r in records if r["level"] == "error"]
        assert error["request_id"] == "r-5"
        assert error["logger"] == "specfirst"
        assert (error["operation"], error["user_id"]) == ("get_me", tokens["user_id"])
        assert "RuntimeError: boom" in error["exception"]
        assert _access(records, "r-5")["status"] == 500
        logging.getLogger("storefront.test").info("after the request")
        assert set(lines(out)[-1]) == {"event", "level", "logger", "timestamp"}


class TestOnePipeline:
    def test_stdlib_uvicorn_and_warnings_render_alike(self, log_to: Configure) -> None:
        out = log_to("INFO")
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
        logging.getLogger("alembic.runtime.migration").info("Running upgrade")
        warnings.warn("a SQLAlchemy warning", SAWarning, stacklevel=1)
        records = lines(out)
        assert [(r["logger"], r["level"]) for r in records] == [
            ("uvicorn.error", "info"),
            ("alembic.runtime.migration", "info"),
            ("py.warnings", "warning"),
        ]
        assert records[0]["event"] == "Started server process [42]"
        assert "SAWarning: a SQLAlchemy warning" in records[2]["event"]

    async def test_job_lines_carry_the_job(
        self,
        log_to: Configure,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        done = asyncio.Event()

        async def demo() -> None:
            logging.getLogger("storefront.jobs").info("working")
            done.set()

        quiet = settings.model_copy(update={"housekeeping_interval_minutes": 0})
        runtime = JobRuntime(quiet, sessionmaker, role="app")
        runtime.broker.register_task(demo, task_name="demo")
        out = log_to("INFO")
        await runtime.start()
        try:
            job_id = await runtime.kick("demo")
            await done.wait()
        finally:
            await runtime.stop()
        records = [r for r in lines(out) if r.get("job_id") == job_id]
        assert [r["event"] for r in records if r["logger"] == "storefront.jobs"][:1] == ["working"]
        # taskiq's own lines while the job runs, and the "done" line, carry it too.
        assert any(r["logger"].startswith("taskiq") for r in records)
        assert any(str(r["event"]).startswith(f"job demo {job_id} done") for r in records)
        assert all(r["job"] == "demo" for r in records)
        # And nothing else does: the bindings end with the job.
        assert all(r.get("job") in (None, "demo") for r in lines(out))

    def test_level(self, log_to: Configure) -> None:
        out = log_to("WARNING")
        logging.getLogger("storefront").info("hidden")
        structlog.stdlib.get_logger("storefront").info("hidden too")
        logging.getLogger("storefront").warning("shown")
        assert [r["event"] for r in lines(out)] == ["shown"]

    def test_console_format(self, log_to: Configure) -> None:
        out = log_to("INFO", "console")
        logging.getLogger("storefront").info("hello console")
        text = out.getvalue()
        assert "hello console" in text
        assert "[storefront]" in text
        assert not text.startswith("{")


class TestFormatChoice:
    def test_json_unless_a_terminal(self) -> None:
        class Terminal:
            def isatty(self) -> bool:
                return True

        assert resolve_format(None, io.StringIO()) == "json"
        assert resolve_format(None, Terminal()) == "console"  # type: ignore[arg-type]
        assert resolve_format("json", Terminal()) == "json"  # type: ignore[arg-type]

    def test_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LOG_FORMAT", "console")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        settings = Settings()
        assert settings.log_format == "console"
        assert settings.otel_exporter_otlp_endpoint is None

    async def test_default_is_json_lines_on_stdout(
        self, capsys: pytest.CaptureFixture[str], log_to: Configure
    ) -> None:
        from impl.observability.logs import configure_logging

        configure_logging("INFO")  # pytest's captured stdout is no terminal
        logging.getLogger("storefront").info("to stdout")
        await asyncio.sleep(0)
        captured = capsys.readouterr()
        assert '"event":"to stdout"' in captured.out
        assert "to stdout" not in captured.err


class TestNoSecrets:
    async def test_a_full_flow_at_debug_logs_no_password_token_or_key(
        self, client: httpx.AsyncClient, settings: Settings, log_to: Configure
    ) -> None:
        out = log_to("DEBUG")
        tokens = await _sign_up(client, "dave")
        refreshed = await client.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200
        new = refreshed.json()
        auth = {"Authorization": f"Bearer {new['access_token']}"}
        assert (await client.get("/v1/me", headers=auth)).status_code == 200
        assert (await client.post("/v1/teams", json={"name": "T"}, headers=auth)).status_code == 201
        wrong = "not-the-password-at-all-99"
        failed = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "dave@example.com", "password": wrong},
        )
        assert failed.status_code == 400
        # A replayed refresh token (revokes the sign-in) and a logout.
        replay = await client.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert replay.status_code == 400  # invalid_grant (RFC 6749)
        await client.post("/v1/auth/logout", json={"refresh_token": new["refresh_token"]})
        text = out.getvalue()
        records = lines(out)
        assert len([r for r in records if r["event"] == "request"]) == 8
        assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
        secrets = {
            "password": PASSWORD,
            "wrong password": wrong,
            "JWT secret": settings.jwt_secret.get_secret_value(),
            "cursor secret": settings.cursor_secret.get_secret_value(),
        }
        for name in ("access_token", "refresh_token"):
            for i, issued in enumerate((tokens, new)):
                secrets[f"{name} {i}"] = issued[name]
                # Half a token is as bad: its signature, or any long piece of it.
                secrets[f"{name} {i} tail"] = issued[name][-20:]
        leaked = [name for name, value in secrets.items() if value in text]
        assert leaked == []
