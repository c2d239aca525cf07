from __future__ import annotations

import gc

import httpx

from impl.app import create_app
from impl.kit.heap import frozen_heap
from impl.settings import Settings


def _tracked(thing: object) -> bool:
    """True if a collection would walk `thing` (gc.get_objects skips the frozen ones)."""
    return any(candidate is thing for candidate in gc.get_objects())


def test_frozen_heap_hides_what_exists_from_collections_until_the_block_ends() -> None:
    before = [object()]  # a container: tracked by the collector
    assert _tracked(before)
    with frozen_heap():
        during = [object()]
        assert not _tracked(before)
        assert _tracked(during)  # what requests allocate is collected as usual
    assert _tracked(before)
    assert gc.get_freeze_count() == 0


async def test_the_served_app_freezes_its_start_up_heap(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"freeze_heap": True}))
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 0
        assert not _tracked(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200
    assert gc.get_freeze_count() == 0
    assert _tracked(app)


def test_the_default_is_on() -> None:
    assert Settings.model_fields["freeze_heap"].default is True
