"""Waiting on work that happens elsewhere (another task, process or Redis client)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

POLL_SECONDS = 0.02


async def until(condition: Callable[[], Any], *, within: float = 10.0) -> None:
    """Return once `condition()` (a value, or an awaitable of one) is truthy.

    Raises TimeoutError after `within` seconds. What is awaited happens in another task, a
    subprocess or Redis, so there is no event to wait on, only a state to poll.
    """
    async with asyncio.timeout(within):
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(POLL_SECONDS)
