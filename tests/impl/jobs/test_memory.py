from __future__ import annotations

import asyncio
import logging

import pytest

from impl.jobs.core import JobHandlers, JsonObject, RetryPolicy
from impl.jobs.memory import InProcessQueue
from tests.polling import until

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


class Worker:
    """An in-process queue with its worker task running."""

    def __init__(self, queue: InProcessQueue, handlers: JobHandlers) -> None:
        self.queue = queue
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(queue.work(handlers, self.stop))

    async def close(self) -> None:
        self.stop.set()
        await self.task
        await self.queue.close()


@pytest.fixture
def runs() -> list[tuple[str, JsonObject]]:
    return []


def _handlers(runs: list[tuple[str, JsonObject]], *, failures: int = 0) -> JobHandlers:
    left = {"failures": failures}

    async def greet(payload: JsonObject) -> None:
        runs.append(("greet", payload))

    async def flaky(payload: JsonObject) -> None:
        runs.append(("flaky", payload))
        if left["failures"]:
            left["failures"] -= 1
            raise RuntimeError("not yet")

    return {"greet": greet, "flaky": flaky}


async def test_jobs_run_in_order(runs: list[tuple[str, JsonObject]]) -> None:
    worker = Worker(InProcessQueue(FAST), _handlers(runs))
    try:
        for n in range(3):
            await worker.queue.enqueue("greet", {"n": n})
        await until(lambda: len(runs) == 3)
    finally:
        await worker.close()
    assert runs == [("greet", {"n": 0}), ("greet", {"n": 1}), ("greet", {"n": 2})]
    assert not worker.queue.dead


async def test_failure_is_retried_then_succeeds(runs: list[tuple[str, JsonObject]]) -> None:
    worker = Worker(InProcessQueue(FAST), _handlers(runs, failures=2))
    try:
        await worker.queue.enqueue("flaky", {"id": 7})
        await until(lambda: len(runs) == 3)
        await until(lambda: worker.queue.pending() == 0)
    finally:
        await worker.close()
    assert runs == [("flaky", {"id": 7})] * 3
    assert not worker.queue.dead


async def test_failures_are_bounded_then_dead_lettered(
    runs: list[tuple[str, JsonObject]], caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker(InProcessQueue(FAST), _handlers(runs, failures=100))
    try:
        with caplog.at_level(logging.WARNING, logger="storefront.jobs"):
            await worker.queue.enqueue("flaky", {"id": 8})
            await until(lambda: len(worker.queue.dead) == 1)
            await asyncio.sleep(0.1)  # no further attempt comes
    finally:
        await worker.close()
    assert len(runs) == FAST.max_attempts
    [dead] = worker.queue.dead
    assert (dead.job.name, dead.job.payload, dead.job.attempt) == ("flaky", {"id": 8}, 3)
    assert dead.error == "RuntimeError: not yet"
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.WARNING] * 2
    [final] = [r for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert final.levelno == logging.ERROR
    assert final.exc_info is not None  # the traceback is logged


async def test_unknown_job_is_dead_lettered_not_retried(
    runs: list[tuple[str, JsonObject]],
) -> None:
    worker = Worker(InProcessQueue(FAST), _handlers(runs))
    try:
        await worker.queue.enqueue("nobody-handles-this")
        await worker.queue.enqueue("greet")
        await until(lambda: len(runs) == 1)
    finally:
        await worker.close()
    [dead] = worker.queue.dead
    assert dead.job.attempt == 1
    assert "no handler" in dead.error


async def test_enqueue_once_per_key() -> None:
    queue = InProcessQueue(FAST)
    assert await queue.enqueue_once("greet", {}, key="greet:1", ttl_seconds=60)
    assert not await queue.enqueue_once("greet", {}, key="greet:1", ttl_seconds=60)
    assert await queue.enqueue_once("greet", {}, key="greet:2", ttl_seconds=60)
    assert await queue.enqueue_once("greet", {}, key="short:1", ttl_seconds=0.01)
    await asyncio.sleep(0.02)
    assert await queue.enqueue_once("greet", {}, key="short:1", ttl_seconds=0.01)
    assert queue.pending() == 4


async def test_payload_must_be_json() -> None:
    with pytest.raises(TypeError):
        await InProcessQueue(FAST).enqueue("greet", {"when": object()})


async def test_stop_finishes_the_job_in_hand(runs: list[tuple[str, JsonObject]]) -> None:
    started = asyncio.Event()

    async def slow(payload: JsonObject) -> None:
        started.set()
        await asyncio.sleep(0.05)
        runs.append(("slow", payload))

    worker = Worker(InProcessQueue(FAST), {"slow": slow})
    await worker.queue.enqueue("slow")
    await started.wait()
    await worker.close()
    assert runs == [("slow", {})]
