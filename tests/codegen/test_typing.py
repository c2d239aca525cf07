"""mypy is the compile-time conformance check: a handler that does not fit its Protocol fails."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api

from tests.codegen.test_golden import DATA

HANDLERS = """
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from uuid import UUID

from collections.abc import Sequence

from pets_expected import Credentials, Implementation, RequestInfo, models
from pets_expected.responses import auth as ra, pets as rp


class Keys:
    async def authenticate(self, credentials: Credentials, scopes: Sequence[str]) -> str | None:
        return credentials.value


def context(info: RequestInfo[{principal}]) -> AbstractAsyncContextManager[None]:
    @asynccontextmanager
    async def open_context() -> AsyncIterator[None]:
        yield None

    return open_context()


class Auth:
    async def post_login(self, ctx: None, *, body: models.PostLoginRequest) -> ra.PostLogin200:
        return ra.PostLogin200(body="hi")


class Pets:
    async def list_pets(
        self,
        ctx: None,
        *,
        limit: int,
        kind: str | None,
        tags: list[str] | None,
        x_trace: str | None,
    ) -> rp.ListPets200:
        return rp.ListPets200(body=[], x_total=0)

    async def create_pet(self, ctx: None, *, body: models.NewPet) -> rp.CreatePet201:
        raise NotImplementedError

    async def get_pet(self, ctx: None, *, {get_pet_arg}: UUID) -> {get_pet_returns}:
        raise NotImplementedError

    async def delete_pet(self, ctx: None, *, pet_id: UUID) -> rp.DeletePet204:
        return rp.DeletePet204()


implementation: Implementation[None, str] = Implementation(
    context=context, authenticator=Keys(), auth=Auth(), pets=Pets()
)
"""


def _mypy(
    tmp_path: Path, *, get_pet_arg: str, get_pet_returns: str, principal: str = "str"
) -> tuple[int, str]:
    source = (
        HANDLERS.replace("{get_pet_arg}", get_pet_arg)
        .replace("{get_pet_returns}", get_pet_returns)
        .replace("{principal}", principal)
    )
    return _check(tmp_path, "handlers.py", textwrap.dedent(source))


def _check(tmp_path: Path, name: str, source: str) -> tuple[int, str]:
    """mypy --strict's exit status and output on ``source``, the golden packages importable."""
    module = tmp_path / name
    module.write_text(source)
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--config-file",
            "",
            "--follow-imports",
            "silent",
            str(module),
            "--python-version",
            "3.11",
        ]
    )
    return status, stdout + stderr


@pytest.fixture(autouse=True)
def _golden_on_mypy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYPYPATH", str(DATA))


def test_conforming_handlers_type_check(tmp_path: Path) -> None:
    status, output = _mypy(tmp_path, get_pet_arg="pet_id", get_pet_returns="rp.GetPet200")
    assert status == 0, output


def test_wrong_argument_name_fails(tmp_path: Path) -> None:
    status, output = _mypy(tmp_path, get_pet_arg="id", get_pet_returns="rp.GetPet200")
    assert status == 1
    assert 'Argument "pets" to "Implementation" has incompatible type "Pets"' in output


def test_undocumented_response_type_fails(tmp_path: Path) -> None:
    status, output = _mypy(tmp_path, get_pet_arg="pet_id", get_pet_returns="rp.ListPets200")
    assert status == 1
    assert 'Argument "pets" to "Implementation" has incompatible type "Pets"' in output


def test_principal_type_flows_from_authenticator_to_context(tmp_path: Path) -> None:
    status, output = _mypy(
        tmp_path, get_pet_arg="pet_id", get_pet_returns="rp.GetPet200", principal="int"
    )
    assert status == 1
    assert 'Argument "context" to "Implementation" has incompatible type' in output


RECEIVER = """
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hooks_expected import models
from hooks_expected.receiver import Paths, Receivers, build_receiver
from hooks_expected.receiver.responses import default as r


@asynccontextmanager
async def context(info: object) -> AsyncIterator[None]:
    yield None


class Consumer:
    async def post_new_pet(
        self, ctx: None, *, shard: int | None, x_signature: str, body: models.PostNewPetRequest
    ) -> r.PostNewPet200:
        return r.PostNewPet200()

    async def notify_event(
        self, ctx: None, *, x_attempt: int | None, body: models.Event
    ) -> r.NotifyEvent204:
        return r.NotifyEvent204()


class Wrong(Consumer):
    async def notify_event(  # type: ignore[override]
        self, ctx: None, *, x_attempt: int | None, body: models.PostNewPetRequest
    ) -> r.NotifyEvent204:
        return r.NotifyEvent204()


paths: Paths = {"post_new_pet": "/pets", "notify_event": "/events"}
build_receiver(Receivers(context=context, default=Consumer()), paths)
build_receiver(Receivers(context=context, default=Wrong()), paths)
build_receiver(Receivers(context=context, default=Consumer()), {"new_pet": "/pets"})
"""


def test_receiver_handlers_and_paths_are_typed(tmp_path: Path) -> None:
    status, output = _check(tmp_path, "consumer.py", RECEIVER)
    errors = [line for line in output.splitlines() if ": error:" in line]
    assert status == 1
    assert len(errors) == 2, output
    assert 'Argument "default" to "Receivers" has incompatible type "Wrong"' in errors[0]
    assert '"new_pet"' in errors[1]


RENDERER = """
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pets_expected import Implementation, Problem, models
from pets_expected.responses import pets as rp
from specfirst import Operation


@asynccontextmanager
async def context(info: object) -> AsyncIterator[None]:
    yield None


def render(problem: Problem, operation: Operation | None) -> rp.CreatePet4XX | None:
    if operation is None or operation.operation_id != "create_pet":
        return None
    title = "; ".join(f"{e.pointer}: {e.message}" for e in problem.errors) or problem.title
    error = models.Error(status=problem.status, title=title)
    return rp.CreatePet4XX(status=problem.status, body=error)


def untyped(problem: str) -> None:
    return None


Implementation[None, str](context=context, problems=render)
Implementation[None, str](context=context, problems=untyped)
"""


def test_problem_renderer_is_typed(tmp_path: Path) -> None:
    status, output = _check(tmp_path, "renderer.py", RENDERER)
    errors = [line for line in output.splitlines() if ": error:" in line]
    assert status == 1
    assert len(errors) == 1, output
    assert 'Argument "problems" to "Implementation" has incompatible type' in errors[0]
