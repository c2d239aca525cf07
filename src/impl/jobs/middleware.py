"""What each job run goes through, as taskiq middlewares: retries, dead letters, telemetry.

- `BackoffRetry` is taskiq's `SmartRetryMiddleware`, configured: every job is retried, at
  most `JOB_MAX_ATTEMPTS` runs in all, each retry scheduled through a schedule source (see
  `impl.jobs.schedule`) after an exponential, jittered delay. Its one override is the delay:
  SmartRetryMiddleware's `use_delay_exponent` grows it linearly (`delay * retries`). After
  the last attempt it files the job in the dead letters (`impl.jobs.dead_letters`), which
  taskiq has no notion of.
- `JobTelemetry` counts runs (`jobs_running`, `jobs_finished{job, outcome}`), binds `job` and
  `job_id` to every log line written while the job runs, and logs how each run ended.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import structlog
from taskiq import ScheduleSource, TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.exceptions import NoResultError
from taskiq.middlewares import SmartRetryMiddleware

from impl.jobs.dead_letters import DeadLetterSink, describe
from impl.observability.metrics import JOBS_FINISHED, JOBS_RUNNING

logger = logging.getLogger("storefront.jobs")

# Each retry waits its exponential delay plus up to this fraction more, drawn at random, so
# jobs that failed together (a dependency was down) do not all come back at the same moment.
JITTER = 0.25


def attempt_of(message: TaskiqMessage) -> int:
    """Which run of its job `message` is: 1, then 2 for the first retry, ..."""
    return int(message.labels.get("_retries", 0)) + 1


class BackoffRetry(SmartRetryMiddleware):
    def __init__(
        self,
        *,
        max_attempts: int,
        base_delay: float,
        max_delay: float,
        schedule_source: ScheduleSource,
        dead_letters: DeadLetterSink,
    ) -> None:
        super().__init__(
            default_retry_count=max_attempts,
            default_retry_label=True,  # every job, unless its task says `retry_on_error=False`
            no_result_on_retry=True,  # marks a retried run for `JobTelemetry`
            default_delay=base_delay,
            use_jitter=True,
            use_delay_exponent=True,
            max_delay_exponent=max_delay,
            schedule_source=schedule_source,
        )
        self.dead_letters = dead_letters

    def make_delay(self, message: TaskiqMessage, retries: int) -> float:
        """`base * 2**(retries - 1)`, capped, plus jitter: 2, 4, 8 s... for a 2 s base."""
        base = float(message.labels.get("delay", self.default_delay))
        delay: float = min(base * 2 ** (retries - 1), float(self.max_delay_exponent))
        delay += delay * JITTER * random.random()  # noqa: S311 (spreading load, not a secret)
        logger.warning(
            "job %s %s failed on attempt %d of %d; retrying in %.1f s",
            message.task_name,
            message.task_id,
            retries,
            int(message.labels.get("max_retries", self.default_retry_count)),
            delay,
        )
        return delay

    async def on_error(
        self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException
    ) -> None:
        await super().on_error(message, result, exception)
        if isinstance(exception, NoResultError) or isinstance(result.error, NoResultError):
            return  # not a failure, or retried
        attempts = attempt_of(message)
        logger.error(
            "job %s %s failed on attempt %d, its last; dead-lettered (%s)",
            message.task_name,
            message.task_id,
            attempts,
            describe(exception),
        )
        await self.dead_letters.record(
            job_id=message.task_id,
            task=message.task_name,
            args=list(message.args),
            kwargs=dict(message.kwargs),
            attempts=attempts,
            error=exception,
        )


class JobTelemetry(TaskiqMiddleware):
    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        # Runs in the task that runs the job: the bindings end with it (and `post_execute`).
        structlog.contextvars.bind_contextvars(job=message.task_name, job_id=message.task_id)
        JOBS_RUNNING.inc()
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        JOBS_RUNNING.dec()
        if not result.is_err:
            outcome = "done"
            logger.info(
                "job %s %s done in %.2f s (attempt %d)",
                message.task_name,
                message.task_id,
                result.execution_time,
                attempt_of(message),
            )
        elif isinstance(result.error, NoResultError):
            outcome = "retry"
        else:
            outcome = "dead"
        JOBS_FINISHED.labels(message.task_name, outcome).inc()
        structlog.contextvars.unbind_contextvars("job", "job_id")
