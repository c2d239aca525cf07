"""Keep the start-up heap out of the garbage collector's full collections.

A full (generation 2) collection walks every container object the process holds. After
start-up that is mostly the modules, the generated models, the OpenAPI document and the ORM
mappers: objects that live as long as the process and are never garbage. Walking them took
70-110 ms per full collection in a served Storefront, every few seconds under load, and
every request in flight waited that long (the p99 at 64 connections was about one such
pause). `gc.freeze()` moves them to a permanent generation that collections skip; a full
collection then walks only what requests allocated, a few milliseconds.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import configure_mappers


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze what exists now (after collecting the garbage among it) for the block's length;
    unfreeze after, so a process that builds many apps (the tests) does not keep them all."""
    # The mappers are configured on first use otherwise: do it now, so it is frozen too.
    configure_mappers()
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
