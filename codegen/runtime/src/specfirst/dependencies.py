"""FastAPI dependencies (``Depends``) declared by a context factory, solved per request.

A context factory takes the :class:`~specfirst.operations.RequestInfo` first; any further
parameter is a FastAPI dependency (``db: Session = Depends(get_db)``, or the same in
``Annotated``), solved by FastAPI's own resolver for each request, so ``yield`` dependencies
are closed after the response and ``app.dependency_overrides`` applies (the overrides of the
app serving the request: the generated app, or the app a generated router is included in).
A factory with no such parameter costs nothing: nothing is solved.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from fastapi.dependencies.utils import get_dependant, solve_dependencies
from starlette.requests import Request

from .errors import _Problem


def _declared(factory: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # a callable without a signature: nothing declared
        return []
    return [p for p in parameters[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


class ContextDependencies:
    """The dependencies of one context factory, or None from :meth:`of` when it has none."""

    def __init__(self, factory: Callable[..., Any], parameters: list[inspect.Parameter]) -> None:
        def solved(**values: Any) -> Mapping[str, Any]:  # pragma: no cover - never called
            return values

        # FastAPI reads the parameters from the signature and their annotations' names from
        # the factory's module (through __wrapped__).
        solved.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        solved.__wrapped__ = factory  # type: ignore[attr-defined]
        self.dependant = get_dependant(path="", call=solved)
        self.names = tuple(p.name for p in parameters)

    @classmethod
    def of(cls, factory: Callable[..., Any] | None) -> ContextDependencies | None:
        if factory is None:
            return None
        parameters = _declared(factory)
        return cls(factory, parameters) if parameters else None

    async def solve(self, request: Request, stack: AsyncExitStack) -> dict[str, Any]:
        """The dependencies' values for this request; their teardown joins ``stack``."""
        scope = request.scope
        # Where FastAPI's resolver keeps what dependencies with `yield` must close.
        scope["fastapi_inner_astack"] = stack
        scope["fastapi_function_astack"] = stack
        solved = await solve_dependencies(
            request=request,
            dependant=self.dependant,
            dependency_overrides_provider=scope.get("app"),
            async_exit_stack=stack,
            embed_body_fields=False,
        )
        if solved.errors:
            raise _dependency_problem(solved.errors)
        return {name: solved.values[name] for name in self.names if name in solved.values}


def _dependency_problem(errors: list[Any]) -> _Problem:
    found = [
        {
            "pointer": "/" + "/".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "code": str(error.get("type", "")),
        }
        for error in errors
        if isinstance(error, Mapping)
    ]
    return _Problem(
        422,
        "Unprocessable Content",
        "The request did not satisfy a dependency of the server's context.",
        extensions={"errors": found},
    )
