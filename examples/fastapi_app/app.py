"""A FastAPI team's existing app, serving the generated Notes API under /api.

The team keeps its own app, routes, middleware (CORS here) and dependencies; the generated
router brings the contract: every request validated by it, every answer rendered as it
documents (errors as RFC 9457 problems), the reviewed document at /api/openapi.json and its
docs at /api/docs.

    specfirst-codegen generate --spec openapi.yaml --out . --package notes_api
    uvicorn app:app
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated

import notes_api
from fastapi import Depends, FastAPI, Header
from fastapi.middleware.cors import CORSMiddleware
from notes_api import models
from notes_api.responses import notes as r


@dataclass
class Store:
    """Where the notes live (a database session in a real app: same shape, same Depends)."""

    notes: dict[int, models.Note] = field(default_factory=dict)


STORE = Store()


def get_store() -> Store:
    return STORE


def get_author(x_author: Annotated[str | None, Header()] = None) -> str:
    return x_author or "anonymous"


@dataclass(frozen=True)
class Context:
    store: Store
    author: str


# The context factory takes FastAPI dependencies; tests replace them with dependency_overrides.
@asynccontextmanager
async def context(
    info: notes_api.RequestInfo,
    store: Annotated[Store, Depends(get_store)],
    author: Annotated[str, Depends(get_author)],
) -> AsyncIterator[Context]:
    yield Context(store, author)


class Notes:
    """The handlers: typed by the generated Protocol, given only the contract's arguments."""

    async def list_notes(self, ctx: Context, *, limit: int) -> r.ListNotes200:
        newest = sorted(ctx.store.notes.values(), key=lambda note: -note.id)
        return r.ListNotes200(body=newest[:limit])

    async def create_note(self, ctx: Context, *, body: models.NoteCreate) -> r.CreateNote201:
        next_id = max(ctx.store.notes, default=0) + 1
        note = models.Note(id=next_id, text=body.text, author=ctx.author)
        ctx.store.notes[note.id] = note
        return r.CreateNote201(body=note, location=f"notes/{note.id}")

    async def get_note(self, ctx: Context, *, note_id: int) -> r.GetNote200 | r.GetNote404:
        note = ctx.store.notes.get(note_id)
        if note is None:
            problem = models.Problem(title="Not Found", status=404, detail=f"No note {note_id}.")
            return r.GetNote404(body=problem)
        return r.GetNote200(body=note)


app = FastAPI(title="The team's app")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://app.example.com"],
    allow_methods=["GET", "POST"],
    allow_headers=["content-type", "x-author"],
    expose_headers=["location", "x-request-id"],
)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


app.include_router(
    notes_api.build_router(notes_api.Implementation(context=context, notes=Notes())),
    prefix="/api",
)
