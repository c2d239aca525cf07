"""`python -m impl worker [--processes N]` (`just worker`): processes that run the jobs.

With REDIS_URL, taskiq's process manager starts N worker processes and starts again any
that dies; each runs a `JobRuntime` that reads the Redis stream (taskiq's `Receiver`) and
schedules. SIGTERM or Ctrl-C stops them all, each finishing its jobs in hand first (up to
SHUTDOWN_GRACE_SECONDS). Without REDIS_URL, one standalone process runs the in-process
broker and scheduler against DATABASE_URL: it runs its own periodic jobs, not jobs other
processes enqueue, so several of them would only repeat each other's work.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from sqlalchemy.engine import make_url
from taskiq.cli.worker.args import WorkerArgs
from taskiq.cli.worker.process_manager import ProcessManager

from impl.jobs.broker import stream_name
from impl.settings import Settings

logger = logging.getLogger("storefront")


def run_workers(settings: Settings, processes: int) -> int:
    """Run until stopped; return the exit status."""
    if processes < 1:
        raise SystemExit("Refusing to start: --processes must be at least 1")
    if not settings.redis_url:
        if processes != 1:
            raise SystemExit(
                "Refusing to start: without REDIS_URL there is no shared queue, so only one "
                "worker process (--processes 1) runs the in-process jobs"
            )
        logger.info(
            "worker: REDIS_URL is unset, so this is a standalone in-process broker and "
            "scheduler against %s; it runs its own periodic jobs, not jobs other processes "
            "enqueue",
            _safe_url(settings.database_url),
        )
        status = _run(settings)
        logger.info("worker: stopped")
        return status
    logger.info(
        "worker: %d process(es) running jobs from Redis stream %s (REDIS_URL %s) against %s",
        processes,
        stream_name(settings),
        _safe_url(settings.redis_url),
        _safe_url(settings.database_url),
    )
    # The manager's own arguments: the broker and modules are the child's business (`_child`).
    manager = ProcessManager(
        args=WorkerArgs(broker="", modules=[], workers=processes, configure_logging=False),
        worker_function=_child,
    )
    outcome = manager.start()  # returns once told to stop, having signalled each child
    for process in manager.workers:
        process.join()
    logger.info("worker: stopped")
    return 0 if outcome is None else 1


def _child(args: WorkerArgs) -> None:
    """One worker process (forked, or spawned: its settings are read again here)."""
    from impl.observability.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    raise SystemExit(_run(settings))


# SIGTERM or SIGINT before the event loop handles them (a process still starting), kept for it.
_stop_requested = False


def _request_stop(_signum: int, _frame: object) -> None:
    global _stop_requested
    _stop_requested = True


def _run(settings: Settings) -> int:
    """`work` in a new event loop; a stop signal is never a KeyboardInterrupt traceback, also
    while the process starts or winds down (the manager's SIGINT, a terminal's Ctrl-C)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _request_stop)
    try:
        return asyncio.run(work(settings))
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # stopping already


async def work(settings: Settings) -> int:
    """Run the jobs of one process until SIGTERM or SIGINT; 1 if a job task crashed."""
    from impl.audit import recorder
    from impl.jobs.runtime import JobRuntime
    from impl.kit.db import create_engine, create_sessionmaker
    from impl.observability.metrics import process_exited

    recorder.install()
    engine = create_engine(settings)
    jobs = JobRuntime(settings, create_sessionmaker(engine), role="worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if _stop_requested:
        stop.set()
    await jobs.start()
    try:
        if await jobs.run_until(stop):
            logger.info("worker: stopping (the jobs in hand are finished first)")
            status = 0
        else:
            # A bug, logged with its traceback: exit so the process manager restarts us.
            logger.error("worker: a job task ended unexpectedly; exiting")
            status = 1
    finally:
        await jobs.stop(grace=settings.shutdown_grace_seconds)
        await engine.dispose()
        process_exited(settings.prometheus_multiproc_dir)
    return status


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
