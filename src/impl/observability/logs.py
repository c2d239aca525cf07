"""One logging pipeline (structlog) for the app, uvicorn, SQLAlchemy, Alembic and the jobs.

Every stdlib logger's records (uvicorn, SQLAlchemy, Alembic, the jobs, Python warnings) and
our own structured lines (`structlog.get_logger`) go through the same processors and
renderer: a `structlog.stdlib.ProcessorFormatter` on the root handler, whose
`foreign_pre_chain` gives stdlib records what structlog's chain gives its own events, which
it writes to the same stream. Lines go to stdout: JSON, or a console rendering for a
terminal. Until `configure_logging` runs (tests), structlog's lines are stdlib records.

During a request every line carries its request id and, once known, its operationId, the
caller's user id, the team and the trace id: the request's `RequestFields`, held in one
context variable the middleware sets (one `set` per request, read by a processor only when
a line is written). `structlog.contextvars` stays available for other bindings (the jobs
bind theirs).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any, Literal, TextIO

import orjson
import structlog
from starlette.types import Scope
from structlog.typing import EventDict, Processor, WrappedLogger

from specfirst import Operation, request_id_var

LogFormat = Literal["json", "console"]

# Libraries that log statements or their parameters at INFO/DEBUG: values would include
# password hashes and token digests, and a line per statement costs more than the statement.
_QUIET = {
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "sqlalchemy.orm": logging.WARNING,
    "aiosqlite": logging.WARNING,
    "asyncio": logging.WARNING,
    "python_multipart": logging.INFO,
    "multipart": logging.INFO,
    # Alembic announces each of its plugins at INFO; the migration lines themselves stay.
    "alembic.runtime.plugins": logging.WARNING,
}


class RequestFields:
    """What the log lines of one request carry; filled in as the request goes on."""

    __slots__ = ("request_id", "scope", "team_id", "trace_id", "user_id")

    def __init__(self, request_id: str, scope: Scope) -> None:
        self.request_id = request_id
        # The operation is read from the scope when a line is written: the generated runtime
        # puts it there once routed, so lines need no binding step for it.
        self.scope = scope
        self.user_id: str | None = None
        self.team_id: str | None = None
        self.trace_id: str | None = None

    def operation_id(self) -> str | None:
        operation = self.scope.get("openapi.operation")
        return operation.operation_id if isinstance(operation, Operation) else None


request_fields: ContextVar[RequestFields | None] = ContextVar("request_fields", default=None)


def bind_request(*, user_id: object = None, team_id: object = None) -> None:
    """Attach the caller and the team to the current request's log lines (no-op outside one)."""
    fields = request_fields.get()
    if fields is None:
        return
    if user_id is not None:
        fields.user_id = str(user_id)
    if team_id is not None:
        fields.team_id = str(team_id)


def add_request_fields(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Processor: the request's id, operationId, principal, team and trace id, where known."""
    fields = request_fields.get()
    request_id = request_id_var.get()
    # Fields left set by a request that raised (for the runtime's error line, logged after
    # our middleware) are stale once the runtime has reset the request id.
    if fields is None or fields.request_id != request_id:
        if request_id != "-":  # the runtime's own lines, outside our middleware
            event.setdefault("request_id", request_id)
        return event
    event.setdefault("request_id", fields.request_id)
    if (operation := fields.operation_id()) is not None:
        event.setdefault("operation", operation)
    if fields.user_id is not None:
        event.setdefault("user_id", fields.user_id)
    if fields.team_id is not None:
        event.setdefault("team_id", fields.team_id)
    if fields.trace_id is not None:
        event.setdefault("trace_id", fields.trace_id)
    return event


def _json(obj: Any, **_kw: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_fields,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def route_structlog_to_stdlib() -> None:
    """structlog's own lines become stdlib records, for whatever handlers the root has:
    `configure_logging`'s, or pytest's before it is called."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


route_structlog_to_stdlib()


class _LineWriter(structlog.WriteLogger):
    """structlog's writer, named as a stdlib logger is (for `add_logger_name`)."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def resolve_format(log_format: LogFormat | None, stream: TextIO) -> LogFormat:
    """`LOG_FORMAT`, or by default JSON unless the stream is a terminal."""
    if log_format is not None:
        return log_format
    return "console" if stream.isatty() else "json"


def configure_logging(
    level: str, log_format: LogFormat | None = None, *, stream: TextIO | None = None
) -> None:
    """Route every logger of the process through one structlog pipeline to `stream` (stdout).

    Replaces the root logger's handlers; uvicorn's loggers propagate to it, and Python
    warnings (SQLAlchemy's among them) are logged as `py.warnings` lines.
    """
    out = stream or sys.stdout
    renderer: Processor
    if resolve_format(log_format, out) == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_json)
        exceptions: list[Processor] = [structlog.processors.format_exc_info]
    else:
        # Plain tracebacks: the default rich one shows local variables, secrets among them.
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        exceptions = []
    shared = _shared_processors()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exceptions,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our own lines skip the stdlib round trip (two LogRecords and a stack walk each: the
    # access line cost twice as much through it), through the same processors and renderer.
    # Not cached: a later call (tests) reconfigures loggers already in use.
    structlog.configure(
        processors=[*shared, *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(root.level),
        logger_factory=lambda *args: _LineWriter(out, str(args[0]) if args else ""),
        cache_logger_on_first_use=False,
    )
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        # A uvicorn configured earlier in the process (`log_level=`) set its own levels.
        logger.setLevel(logging.NOTSET)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, root.level))
    logging.captureWarnings(True)
