from __future__ import annotations

import json
import zoneinfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from generated.spec import OPENAPI_JSON
from impl.accounts.repository import RefreshTokenRepository
from impl.accounts.service import AccountService
from impl.auth.passwords import verify_password
from impl.auth.tokens import TokenService, hash_refresh_token
from impl.kit.errors import BadRequest, Conflict, UnprocessableContent
from impl.settings import Settings
from tests.factories import DEFAULT_PASSWORD, create_user


@pytest.fixture
def service(settings: Settings) -> AccountService:
    return AccountService(settings)


def _assert_invalid_grant(error: BadRequest) -> None:
    assert error.status == 400
    assert error.extensions == {"error": "invalid_grant"}


class TestSignUp:
    async def test_valid(self, session: AsyncSession, service: AccountService) -> None:
        user = await service.sign_up(
            session, email="  Ada@Example.COM ", username="ada", password="analytical engine"
        )
        assert user.email == "ada@example.com"
        assert user.username == "ada"
        assert user.is_active
        assert user.password_hash != "analytical engine"
        assert verify_password(user.password_hash, "analytical engine")
        assert user.id.version == 7
        assert user.created_at.tzinfo is not None

    async def test_duplicate_email(self, session: AsyncSession, service: AccountService) -> None:
        await create_user(session, email="ada@example.com")
        with pytest.raises(Conflict, match="email") as caught:
            await service.sign_up(session, email="ADA@example.com", username="ada2", password="pw")
        assert caught.value.status == 409

    async def test_duplicate_username(self, session: AsyncSession, service: AccountService) -> None:
        await create_user(session, username="ada")
        with pytest.raises(Conflict, match="username"):
            await service.sign_up(session, email="new@example.com", username="ada", password="pw")

    async def test_session_usable_after_conflict(
        self, session: AsyncSession, service: AccountService
    ) -> None:
        await create_user(session, username="ada")
        with pytest.raises(Conflict):
            await service.sign_up(session, email="a@example.com", username="ada", password="pw")
        user = await service.sign_up(session, email="b@example.com", username="bob", password="pw")
        assert user.username == "bob"

    @pytest.mark.parametrize(
        ("email", "username"),
        [
            ("", "ada"),
            ("a@example.com", "  "),
            ("a@b.c", "x" * 65),
            ("a\x00@b.c", "ada"),
            ("a@b.c", "\ud800"),
        ],
    )
    async def test_invalid(
        self, session: AsyncSession, service: AccountService, email: str, username: str
    ) -> None:
        with pytest.raises(UnprocessableContent):
            await service.sign_up(session, email=email, username=username, password="pw")


class TestIssueTokens:
    async def test_valid(
        self, session: AsyncSession, service: AccountService, settings: Settings
    ) -> None:
        user = await create_user(session, email="ada@example.com")
        issued = await service.issue_tokens(
            session, email="Ada@Example.com", password=DEFAULT_PASSWORD
        )
        assert issued.expires_in == settings.access_token_ttl_seconds
        claims = TokenService(settings).decode_access_token(issued.access_token)
        assert claims.user_id == user.id
        stored = await RefreshTokenRepository(session).get_by_hash(
            hash_refresh_token(issued.refresh_token)
        )
        assert stored is not None
        assert stored.user_id == user.id
        assert stored.revoked_at is None

    async def test_wrong_password(self, session: AsyncSession, service: AccountService) -> None:
        await create_user(session, email="ada@example.com")
        with pytest.raises(BadRequest, match="Invalid email or password") as caught:
            await service.issue_tokens(session, email="ada@example.com", password="wrong")
        _assert_invalid_grant(caught.value)

    async def test_unknown_email(self, session: AsyncSession, service: AccountService) -> None:
        with pytest.raises(BadRequest, match="Invalid email or password") as caught:
            await service.issue_tokens(session, email="nobody@example.com", password="pw")
        _assert_invalid_grant(caught.value)

    async def test_inactive_user(self, session: AsyncSession, service: AccountService) -> None:
        await create_user(session, email="ada@example.com", is_active=False)
        with pytest.raises(BadRequest) as caught:
            await service.issue_tokens(session, email="ada@example.com", password=DEFAULT_PASSWORD)
        _assert_invalid_grant(caught.value)

    @pytest.mark.parametrize(
        ("email", "password"), [("nul\x00@example.com", "pw"), ("a@example.com", "\ud800")]
    )
    async def test_unstorable_input(
        self, session: AsyncSession, service: AccountService, email: str, password: str
    ) -> None:
        with pytest.raises(BadRequest) as caught:
            await service.issue_tokens(session, email=email, password=password)
        _assert_invalid_grant(caught.value)


class TestRefreshTokens:
    async def test_rotates(self, session: AsyncSession, service: AccountService) -> None:
        await create_user(session, email="ada@example.com")
        first = await service.issue_tokens(
            session, email="ada@example.com", password=DEFAULT_PASSWORD
        )
        second = await service.refresh_tokens(session, refresh_token=first.refresh_token)
        assert second.refresh_token != first.refresh_token
        tokens = RefreshTokenRepository(session)
        old = await tokens.get_by_hash(hash_refresh_token(first.refresh_token))
        new = await tokens.get_by_hash(hash_refresh_token(second.refresh_token))
        assert old is not None
        assert new is not None
        assert new.family_id == old.family_id

    async def test_single_use(self, session: AsyncSession, service: AccountService) -> None:
        await create_user(session, email="ada@example.com")
        issued = await service.issue_tokens(
            session, email="ada@example.com", password=DEFAULT_PASSWORD
        )
        await service.refresh_tokens(session, refresh_token=issued.refresh_token)
        with pytest.raises(BadRequest) as caught:
            await service.refresh_tokens(session, refresh_token=issued.refresh_token)
        _assert_invalid_grant(caught.value)

    async def test_unknown(self, session: AsyncSession, service: AccountService) -> None:
        with pytest.raises(BadRequest):
            await service.refresh_tokens(session, refresh_token="made-up")

    async def test_revoked_family(self, session: AsyncSession, service: AccountService) -> None:
        await create_user(session, email="ada@example.com")
        first = await service.issue_tokens(
            session, email="ada@example.com", password=DEFAULT_PASSWORD
        )
        second = await service.refresh_tokens(session, refresh_token=first.refresh_token)
        await service.revoke_refresh_token(session, refresh_token=first.refresh_token)
        with pytest.raises(BadRequest):
            await service.refresh_tokens(session, refresh_token=second.refresh_token)


def test_the_contract_lists_exactly_the_time_zones_the_server_knows() -> None:
    schema = json.loads(OPENAPI_JSON)["components"]["schemas"]["TimeZone"]
    assert set(schema["enum"]) == zoneinfo.available_timezones()
