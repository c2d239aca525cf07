"""schemathesis hooks for ``just fuzz`` (loaded through ``SCHEMATHESIS_HOOKS``).

Hypothesis draws few distinct ``Idempotency-Key`` values and repeats each while it varies the
rest of the request, so nearly every generated order reuses a key with another body and is
rightly refused with 422: the fuzzer then never gets past order creation. About half of the
drawn keys (chosen by the key's own CRC, so the split is stable) are replaced by a fresh UUID
on every request, as a client makes a new key per attempt; the others are sent as drawn, so
replays and reused keys are still exercised.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import schemathesis

KEY = "Idempotency-Key"


def fresh_key(drawn: str) -> bool:
    return zlib.crc32(drawn.encode()) % 2 == 1


@schemathesis.hook
def map_headers(context: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    if headers and isinstance(headers.get(KEY), str) and fresh_key(headers[KEY]):
        return {**headers, KEY: str(uuid.uuid4())}
    return headers
