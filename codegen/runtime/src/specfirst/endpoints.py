"""One endpoint per operation: parse, validate, authenticate, call within the context, render."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import (
    Any,
    Generic,
)

import anyio
import anyio.to_thread
from pydantic import (
    ValidationError,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .bodies import _check_declared_length, _JsonShape, _located, _read_body
from .dependencies import ContextDependencies
from .document import join
from .errors import ApiError, _Problem
from .operations import (
    Authenticator,
    ContextFactory,
    Ctx,
    Limits,
    Operation,
    RequestInfo,
    SecurityScheme,
)
from .params import _read_params, _validation_problem
from .responses import ProblemWriter, _render
from .security import _authenticate
from .streams import call_in_context, render, streams

logger = logging.getLogger("specfirst")


@dataclass(frozen=True, slots=True)
class Options(Generic[Ctx]):
    context: ContextFactory[Ctx, Any] | None
    authenticator: Authenticator[Any] | None
    schemes: Mapping[str, SecurityScheme]
    validate_responses: bool
    problems: ProblemWriter | None = None
    limits: Limits = field(default_factory=Limits)
    # The FastAPI dependencies the context factory declares (None: it declares none).
    dependencies: ContextDependencies | None = None


# ---------------------------------------------------------------------------- endpoints


def _param_pointer(op: Operation) -> Callable[[tuple[Any, ...]], str]:
    by_python = {p.python_name: p for p in op.params}

    def pointer(loc: tuple[Any, ...]) -> str:
        loc = _located(loc)
        if not loc:
            return "/"
        param = by_python.get(str(loc[0]))
        if param is None:
            return join("", *loc)
        return join("", param.location, param.name, *loc[1:])

    return pointer


Endpoint = Callable[[Request], Awaitable[Response]]


class _DeadlineExceeded(Exception):
    """The handler was cancelled at its deadline."""


class _Watch:
    __slots__ = ("done", "due", "expired", "task")

    def __init__(self, due: float, task: asyncio.Task[Any]) -> None:
        self.due = due
        self.task = task
        self.done = False
        self.expired = False


class _Deadlines:
    """The handler deadlines of one operation, watched by one timer.

    Every request gets the same timeout, so deadlines fall due in the order requests start:
    a queue, of which the timer looks at the oldest only. A request costs an append and a
    flag (a timer of its own costs 2 µs on asyncio, ``asyncio.timeout`` 4.6 µs,
    ``anyio.fail_after`` 10 µs); a deadline is met at most a quarter of the timeout (at most
    a second) late. The timer runs only while requests are in flight.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(seconds / 4, 1.0)
        self.pending: collections.deque[_Watch] = collections.deque()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None

    async def run(self, run: Callable[[], Awaitable[Any]]) -> Any:
        """``run()``, cancelled at the deadline (then :class:`_DeadlineExceeded`)."""
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task is None:  # not asyncio (trio): anyio's own timeout
            with anyio.move_on_after(self.seconds):
                return await run()
            raise _DeadlineExceeded
        loop = task.get_loop()
        watch = _Watch(loop.time() + self.seconds, task)
        self.pending.append(watch)
        if self.timer is None or self.loop is not loop:
            self.loop = loop
            self.timer = loop.call_later(self.tick, self._check)
        try:
            result = await run()
        except asyncio.CancelledError:
            if not watch.expired or task.uncancel() > 0:
                raise  # cancelled from outside too (the server shutting down, the client gone)
            raise _DeadlineExceeded from None
        finally:
            watch.done = True
        if watch.expired:
            task.uncancel()  # the handler swallowed its cancellation and finished anyway
        return result

    def _check(self) -> None:
        loop = self.loop
        assert loop is not None
        now = loop.time()
        pending = self.pending
        while pending and (pending[0].done or pending[0].due <= now):
            watch = pending.popleft()
            if not watch.done:
                watch.expired = True
                watch.task.cancel()
        self.timer = loop.call_later(self.tick, self._check) if pending else None


def _not_implemented(op: Operation, problems: ProblemWriter) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        request.scope["openapi.operation"] = op
        missing = _Problem(
            501, "Not Implemented", f"Operation {op.operation_id} has no implementation yet."
        )
        return problems.error(missing, op, request.url.path)

    return endpoint


def _from_http_exception(exc: HTTPException) -> ApiError:
    code = exc.status_code
    title = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
    detail = exc.detail if isinstance(exc.detail, str) else title
    return _Problem(code, title, detail, headers=exc.headers)


@asynccontextmanager
async def _opened_with(
    dependencies: ContextDependencies,
    context: Callable[..., AbstractAsyncContextManager[Any]],
    info: RequestInfo[Any],
) -> AsyncIterator[Any]:
    """The context, given its FastAPI dependencies; theirs close after it, as in FastAPI."""
    async with AsyncExitStack() as stack:
        values = await dependencies.solve(info.request, stack)
        async with context(info, **values) as ctx:
            yield ctx


def make_endpoint(
    op: Operation, handler: Callable[..., Awaitable[Any]], options: Options[Any]
) -> Endpoint:
    """Build the request handler of one operation."""
    specs = {spec.cls: spec for spec in op.responses}
    param_pointer = _param_pointer(op)
    adapter = op.params_adapter
    context = options.context
    dependencies = options.dependencies
    needs_auth = op.security != ((),) and any(op.security)
    problems = options.problems or ProblemWriter(None, ())
    limits = options.limits
    body_limit = op.max_body_bytes if op.max_body_bytes is not None else limits.max_body_bytes
    shape = _JsonShape.of(limits)
    timeout = limits.request_timeout
    deadlines = _Deadlines(timeout) if timeout is not None else None
    streaming = streams(op)  # a stream keeps the context open until it ends

    async def endpoint(request: Request) -> Response:
        request.scope["openapi.operation"] = op
        try:
            if op.body is not None:
                # Refused before credentials are checked: an oversized upload costs nothing.
                _check_declared_length(request, body_limit)
            principal = await _authenticate(op, options, request) if needs_auth else None
            kwargs: dict[str, Any] = {}
            if adapter is not None:
                try:
                    kwargs = adapter.validate_python(_read_params(op, request))
                except ValidationError as exc:
                    raise _validation_problem(exc, param_pointer) from None
            if op.body is not None:
                kwargs["body"] = await _read_body(op.body, request, limits, body_limit, shape)
        except ApiError as exc:
            # The runtime's own answers (validation, media type, credentials) are always sent.
            return problems.error(exc, op, request.url.path)

        async def run() -> Any:
            if context is None:
                return await handler(None, **kwargs)
            info = RequestInfo(request, op, principal, kwargs)
            opened = (
                context(info) if dependencies is None else _opened_with(dependencies, context, info)
            )
            if streaming:
                return await call_in_context(opened, handler, kwargs)
            async with opened as ctx:
                return await handler(ctx, **kwargs)

        try:
            result = await run() if deadlines is None else await deadlines.run(run)
        except _DeadlineExceeded:
            late = _Problem(
                503,
                "Service Unavailable",
                f"The request was not handled within {timeout:g} seconds; try again later.",
                headers={"Retry-After": str(limits.retry_after)},
            )
            return problems.error(late, op, request.url.path)
        except (ApiError, HTTPException) as caught:
            # An HTTPException is what FastAPI dependencies raise: answered like an ApiError.
            error = caught if isinstance(caught, ApiError) else _from_http_exception(caught)
            if not op.documents(error.status):
                message = (
                    f"{op.operation_id} raised status {error.status}, "
                    "which its contract does not document"
                )
                if options.validate_responses:
                    raise TypeError(message) from caught
                logger.warning(message)
            return problems.error(error, op, request.url.path)
        if streaming:
            return await render(result, lambda value: _render(op, specs, value))
        return _render(op, specs, result)

    return endpoint
