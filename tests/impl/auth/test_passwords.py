from __future__ import annotations

from argon2 import PasswordHasher

from impl.auth.passwords import (
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password,
    verify_password_async,
)


def test_hash_and_verify() -> None:
    hashed = hash_password("s3cret!")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "s3cret!")
    assert not verify_password(hashed, "S3cret!")
    assert not needs_rehash(hashed)


def test_garbage_hash_never_verifies() -> None:
    assert not verify_password("not a hash", "anything")
    assert needs_rehash("not a hash")


def test_weaker_parameters_need_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    assert verify_password(weak, "pw")
    assert needs_rehash(weak)


async def test_async_variants() -> None:
    hashed = await hash_password_async("pw")
    assert await verify_password_async(hashed, "pw")
    assert not await verify_password_async(hashed, "nope")
