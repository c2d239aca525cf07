"""A fake OpenAI-compatible Chat Completions server over real HTTP on loopback, with faults
on command.

It answers `POST /v1/chat/completions` like the real thing, checks the bearer key, records
every request (headers and body, to assert the model, the messages and the auth header),
and fails on command: a script of faults for the next requests (`then`), a fault for every
request (`always`), a latency added to every answer, and a fraction of random failures
from a seeded generator (the benchmark's 300 ms and 10%). Faults: any status (429 or 503
with `Retry-After`, 500, 401, ...), a slow answer, a body cut short (the connection closes
before `Content-Length` bytes), a body that is not JSON, JSON that is not a completion, a
completion with no text.

In tests: `with serve_llm() as fake: ...` (base URL `fake.base_url`). Standalone, for a
benchmark: `uv run python -m tests.fakes.llm --port 8765 --latency 0.3 --failure-rate 0.1`;
`POST /_fake` with any of `latency`, `failure_rate`, `then` (a list of faults) changes it
while it runs, `GET /_fake` counts the requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.serving import serve

# What the fake expects unless told otherwise.
API_KEY = "sk-fake-0123456789abcdef"  # pragma: allowlist secret
FaultKind = Literal["ok", "status", "slow", "truncated", "malformed", "not_a_completion", "empty"]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind = "ok"
    status: int = 500  # "status": the status answered
    retry_after: str | None = None  # "status": the Retry-After header sent, as written
    seconds: float = 0.0  # "slow": the wait before a good answer


OK = Fault()
TRUNCATED = Fault("truncated")
MALFORMED = Fault("malformed")
NOT_A_COMPLETION = Fault("not_a_completion")
EMPTY = Fault("empty")


def status(code: int, retry_after: str | None = None) -> Fault:
    return Fault("status", status=code, retry_after=retry_after)


def slow(seconds: float) -> Fault:
    return Fault("slow", seconds=seconds)


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)


class FakeLlm:
    """The server's state; the app reads it on every request (from the server's thread)."""

    def __init__(self, *, seed: int = 0) -> None:
        self.api_key: str | None = API_KEY  # None: any key, or none, is accepted
        self.reply: str | None = None  # None: a text made from the request
        self.latency = 0.0
        self.failure_rate = 0.0
        self.random_failure = status(500)
        self.requests: list[Recorded] = []
        self.base_url = ""  # the API's: ".../v1"
        self._default = OK
        self._script: deque[Fault] = deque()
        self._random = random.Random(seed)  # noqa: S311 (reproducible faults, not secrets)
        self._lock = threading.Lock()
        self.go_down: Callable[[], None] = lambda: None  # set by `serve_llm`

    def then(self, *faults: Fault) -> None:
        """The next requests get these faults, in order; then the `always` one again."""
        with self._lock:
            self._script.extend(faults)

    def always(self, fault: Fault) -> None:
        """Every request gets `fault` once the script is done (OK to undo)."""
        with self._lock:
            self._default = fault

    def next_fault(self) -> Fault:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self.failure_rate and self._random.random() < self.failure_rate:
                return self.random_failure
            return self._default

    @property
    def completions(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def text_for(self, body: dict[str, Any]) -> str:
        if self.reply is not None:
            return self.reply
        return f"A fake summary from {len(body['messages'])} messages to {body['model']}."


class _CutShort(Response):
    """Announces the whole body's length, sends half, and ends: the client sees the
    connection close mid-body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            half = self.body[: len(self.body) // 2]
            await send({"type": "http.response.body", "body": half, "more_body": False})
        except RuntimeError:
            pass  # uvicorn: "shorter than Content-Length"; it closes the connection


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": "fake_error", "code": status_code}}
    return JSONResponse(body, status_code=status_code, headers=headers)


def _completion(fake: FakeLlm, body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{len(fake.requests)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140},
    }


def _app(fake: FakeLlm) -> Starlette:
    async def completions(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        fake.requests.append(Recorded(request.url.path, dict(request.headers), body))
        if fake.api_key is not None and request.headers.get("authorization") != (
            f"Bearer {fake.api_key}"
        ):
            return _error(401, "Incorrect API key provided.")
        if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
            return _error(400, "model and messages are required")
        fault = fake.next_fault()
        await asyncio.sleep(fake.latency + (fault.seconds if fault.kind == "slow" else 0))
        match fault.kind:
            case "status":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                return _error(fault.status, f"fault injected: {fault.status}", headers)
            case "truncated":
                return _CutShort(json.dumps(_completion(fake, body, fake.text_for(body))))
            case "malformed":
                cut = b'{"id": "chatcmpl-fake", "choices": [{"mess'
                return Response(cut, 200, media_type="application/json")
            case "not_a_completion":
                return JSONResponse({"object": "list", "data": []})
            case "empty":
                return JSONResponse(_completion(fake, body, ""))
            case _:
                return JSONResponse(_completion(fake, body, fake.text_for(body)))

    async def control(request: Request) -> Response:
        if request.method == "POST":
            change = await request.json()
            fake.latency = float(change.get("latency", fake.latency))
            fake.failure_rate = float(change.get("failure_rate", fake.failure_rate))
            fake.then(*(Fault(**fault) for fault in change.get("then", [])))
        return JSONResponse(
            {
                "latency": fake.latency,
                "failure_rate": fake.failure_rate,
                "requests": len(fake.completions),
                "random_failure": asdict(fake.random_failure),
            }
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/_fake", control, methods=["GET", "POST"]),
        ]
    )


@contextmanager
def serve_llm(*, seed: int = 0) -> Iterator[FakeLlm]:
    """A fake LLM under uvicorn in a thread, on a free loopback port."""
    fake = FakeLlm(seed=seed)
    with serve(_app(fake)) as served:
        fake.base_url = f"{served.base_url}/v1"
        fake.go_down = served.go_down
        yield fake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server on loopback.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to answers")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="fraction of 500s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", default=API_KEY, help="the bearer key expected")
    args = parser.parse_args(argv)
    fake = FakeLlm(seed=args.seed)
    fake.api_key, fake.latency, fake.failure_rate = args.api_key, args.latency, args.failure_rate
    fake.base_url = f"http://127.0.0.1:{args.port}/v1"
    print(f"fake LLM: LLM_BASE_URL={fake.base_url}", flush=True)
    uvicorn.run(_app(fake), host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
