from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.jobs.runtime import JobRuntime
from impl.kit.db import create_engine
from impl.observability.metrics import Metrics
from impl.observability.multiprocess_dir import prepare_multiprocess_dir
from impl.settings import Settings
from tests.conftest import Database
from tests.polling import until

ROOT = Path(__file__).resolve().parents[3]


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float | None:
    return _samples(text).get((name, frozenset(labels.items())))


class TestPerOperation:
    async def test_rate_errors_and_duration(self, client: httpx.AsyncClient) -> None:
        for _ in range(3):
            await client.get("/healthz")
        await client.get("/v1/me")  # 401
        await client.get("/v1/nowhere")  # 404, unmatched
        text = (await client.get("/metrics")).text
        ok = {"operation": "get_health", "method": "GET", "status": "200"}
        assert _value(text, "http_requests_total", **ok) == 3
        assert _value(text, "http_requests_total", operation="get_me", method="GET", status="401")
        assert (
            _value(text, "http_requests_total", operation="unmatched", method="GET", status="404")
            == 1
        )
        assert _value(text, "http_request_duration_seconds_count", operation="get_health") == 3
        assert (
            _value(text, "http_request_duration_seconds_bucket", operation="get_health", le="+Inf")
            == 3
        )


class TestPoolGauges:
    async def test_follow_checkouts_and_checkins(self, settings: Settings) -> None:
        engine = create_engine(settings.model_copy(update={"db_pool_size": 3}))
        metrics = Metrics()
        metrics.watch_pool(engine)

        def gauge(name: str) -> float | None:
            return metrics.registry.get_sample_value(name)

        try:
            assert gauge("db_pool_size") == 3
            assert gauge("db_pool_checked_out") == 0
            async with engine.connect(), engine.connect():
                assert gauge("db_pool_checked_out") == 2
            assert gauge("db_pool_checked_out") == 0
            connection = await engine.connect()
            await connection.invalidate()  # a broken connection is checked in as well
            await connection.close()
            assert gauge("db_pool_checked_out") == 0
        finally:
            await engine.dispose()

    async def test_exposed(self, client: httpx.AsyncClient, settings: Settings) -> None:
        text = (await client.get("/metrics")).text
        assert _value(text, "db_pool_size") == settings.db_pool_size
        # The scrape's own request holds at most one connection.
        checked_out = _value(text, "db_pool_checked_out")
        assert checked_out is not None
        assert 0 <= checked_out <= 1


class TestJobMetrics:
    async def test_running_and_finished_by_outcome(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        registry = Metrics().registry  # the process's job metrics, exposed by every app

        def value(name: str, **labels: str) -> float:
            return registry.get_sample_value(name, labels) or 0.0

        def finished(job: str, outcome: str) -> float:
            return value("jobs_finished_total", job=job, outcome=outcome)

        before = {
            (job, outcome): finished(job, outcome)
            for job, outcome in (("t", "done"), ("bad", "retry"), ("bad", "dead"))
        }
        fast = {
            "housekeeping_interval_minutes": 0,
            "job_max_attempts": 2,
            "job_retry_delay_seconds": 0.01,
            "job_schedule_refresh_seconds": 1,
        }
        runtime = JobRuntime(settings.model_copy(update=fast), sessionmaker, role="app")
        running: list[float] = []

        async def t() -> None:
            running.append(value("jobs_running"))

        async def bad() -> None:
            raise RuntimeError("no")

        runtime.broker.register_task(t, task_name="t")
        runtime.broker.register_task(bad, task_name="bad")
        await runtime.start()
        try:
            await runtime.kick("t")
            await runtime.kick("t")
            await runtime.kick("bad")
            await until(lambda: finished("bad", "dead") == before["bad", "dead"] + 1)
            await until(lambda: finished("t", "done") == before["t", "done"] + 2)
        finally:
            await runtime.stop()
        assert len(running) == 2
        assert all(r >= 1 for r in running)
        assert finished("bad", "retry") == before["bad", "retry"] + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "tests/contract/serve.py"), str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _check_running(process: subprocess.Popen[bytes], log: Path) -> None:
    if process.poll() is not None:
        raise RuntimeError(f"server exited early:\n{log.read_text()}")


@asynccontextmanager
async def _server(
    env: dict[str, str], log: Path
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """The real app under uvicorn (tests/contract/serve.py) on a free loopback port."""
    port = _free_port()
    process = _start(env, port, log)
    base_url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        _check_running(process, log)
        try:
            async with httpx.AsyncClient() as c:
                return (await c.get(f"{base_url}/healthz", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await until(up, within=30)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.terminate()
        await asyncio.to_thread(process.wait, 10)


class TestMultiprocess:
    async def test_metrics_add_up_every_process_and_drop_an_exited_ones_gauges(
        self, database: Database, tmp_path: Path
    ) -> None:
        directory = tmp_path / "prometheus"
        prepare_multiprocess_dir(str(directory), reset=True)
        env = {
            **os.environ,
            "DATABASE_URL": database.url,
            "DB_POOL_SIZE": "4",
            "PROMETHEUS_MULTIPROC_DIR": str(directory),
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        }
        env.pop("REDIS_URL", None)
        async with (
            _server(env, tmp_path / "a") as (a, _),
            _server(env, tmp_path / "b") as (b, process_b),
            httpx.AsyncClient() as http,
        ):
            for _ in range(2):
                await http.get(f"{a}/healthz")
            for _ in range(3):
                await http.get(f"{b}/healthz")
            health = {"operation": "get_health", "method": "GET", "status": "200"}
            for url in (a, b):  # either process answers for both
                text = (await http.get(f"{url}/metrics")).text
                # Each also answered the start-up polls of /healthz: at least one each.
                assert (_value(text, "http_requests_total", **health) or 0) >= 2 + 3 + 2
                assert _value(text, "db_pool_size") == 8
            before = _value(text, "http_requests_total", **health)
            process_b.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process_b.wait, 10)
            text = (await http.get(f"{a}/metrics")).text
            # An exited worker's gauges go; its counts stay (a rate must not drop).
            assert _value(text, "db_pool_size") == 4
            assert _value(text, "http_requests_total", **health) == before
        logs = await asyncio.to_thread(lambda: [(tmp_path / n).read_text() for n in "ab"])
        assert all("Traceback" not in log for log in logs)
