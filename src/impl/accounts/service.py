from __future__ import annotations

import dataclasses
import functools
import secrets
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from impl.accounts.errors import (
    InvalidGrantError,
    RefreshTokenReusedError,
    UnknownTimezoneError,
)
from impl.accounts.repository import RefreshTokenRepository, SignInRepository, UserRepository
from impl.auth.passwords import (
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from impl.auth.principal import Principal
from impl.auth.tokens import TokenService, hash_refresh_token, invalid_token, new_refresh_token
from impl.kit.clock import utcnow
from impl.kit.errors import UnprocessableContent
from impl.kit.text import is_storable
from impl.models import Theme, User, UserPreferences
from impl.ratelimits import SignInThrottle
from impl.settings import Settings

# Matches the column sizes; longer input would fail on PostgreSQL but be stored by SQLite.
MAX_EMAIL_LENGTH = 320
MAX_USERNAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    # The refresh token's expiry.
    expires_at: datetime


@functools.cache
def _dummy_password_hash() -> str:
    # Verified against when the email is unknown, so both paths cost one argon2 verification.
    return hash_password(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _checked(field: str, value: str, max_length: int) -> str:
    if not is_storable(value):
        raise UnprocessableContent(f"{field} contains characters that cannot be stored")
    if not value or len(value) > max_length:
        raise UnprocessableContent(f"{field} must be 1 to {max_length} characters")
    return value


def _email(email: str) -> str:
    return _checked("email", normalise_email(email), MAX_EMAIL_LENGTH)


def _username(username: str) -> str:
    return _checked("username", username.strip(), MAX_USERNAME_LENGTH)


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(frozen=True, slots=True)
class PreferencesView:
    timezone: str
    locale: str
    theme: str
    order_updates: bool
    stock_alerts: bool
    weekly_digest: bool

    @classmethod
    def of(cls, row: UserPreferences) -> PreferencesView:
        return cls(
            timezone=row.timezone,
            locale=row.locale,
            theme=row.theme,
            order_updates=row.order_updates,
            stock_alerts=row.stock_alerts,
            weekly_digest=row.weekly_digest,
        )


# The contract's documented defaults, for accounts that never saved preferences.
DEFAULT_PREFERENCES = PreferencesView(
    timezone="UTC",
    locale="en",
    theme=Theme.SYSTEM,
    order_updates=True,
    stock_alerts=True,
    weekly_digest=False,
)


class AccountService:
    def __init__(self, settings: Settings, *, throttle: SignInThrottle | None = None) -> None:
        self._throttle = throttle
        self._tokens = TokenService(settings)
        self._refresh_ttl = timedelta(seconds=settings.refresh_token_ttl_seconds)

    async def sign_up(
        self, session: AsyncSession, *, email: str, username: str, password: str
    ) -> User:
        email, username = _email(email), _username(username)
        # The password is hashed, never stored: any text is fine, NUL included, if it encodes.
        if not is_storable(password.replace("\x00", "")):
            raise UnprocessableContent("password contains characters that cannot be encoded")
        password_hash = await hash_password_async(password)
        return await UserRepository(session).create(
            email=email, username=username, password_hash=password_hash
        )

    async def get_user(self, session: AsyncSession, principal: Principal) -> User:
        user = await UserRepository(session).get(principal.user_id)
        if user is None or not user.is_active:
            raise invalid_token("The user no longer exists or is disabled")
        return user

    async def issue_tokens(
        self, session: AsyncSession, *, email: str, password: str
    ) -> IssuedTokens:
        """OAuth2 password grant. Every failure is the same `invalid_grant`, in the same time."""
        users = UserRepository(session)
        storable = is_storable(email) and is_storable(password)
        account = normalise_email(email)
        if self._throttle is not None:
            await self._throttle.check(account)
        user = await users.get_by_email(account) if storable else None
        password_hash = user.password_hash if user is not None else _dummy_password_hash()
        valid = storable and await verify_password_async(password_hash, password)
        if user is None or not valid or not user.is_active:
            if self._throttle is not None:
                await self._throttle.failed(account)
            raise InvalidGrantError
        if self._throttle is not None:
            await self._throttle.succeeded(account)
        if needs_rehash(user.password_hash):
            await users.set_password_hash(user, await hash_password_async(password))
        sign_in_id = await SignInRepository(session).create(
            user_id=user.id, expires_at=utcnow() + self._refresh_ttl
        )
        return await self._issue(session, user, sign_in_id=sign_in_id)

    async def refresh_tokens(self, session: AsyncSession, *, refresh_token: str) -> IssuedTokens:
        """OAuth2 refresh grant: the presented token is used up and a new pair issued."""
        if not is_storable(refresh_token):
            raise InvalidGrantError("Invalid or expired refresh token")
        tokens = RefreshTokenRepository(session)
        stored = await tokens.get_by_hash(hash_refresh_token(refresh_token))
        if stored is None:
            raise InvalidGrantError("Invalid or expired refresh token")
        if not await tokens.consume(stored):
            if stored.revoked_at is not None or await tokens.is_revoked(stored):
                # Used before (or lost a race to a concurrent use): someone else holds a copy,
                # so nothing from this sign-in may be refreshed again (RFC 9700 §4.14.2).
                await tokens.revoke_family(stored.family_id)
                raise RefreshTokenReusedError
            raise InvalidGrantError("Invalid or expired refresh token")
        user = await UserRepository(session).get(stored.user_id)
        if user is None or not user.is_active:
            raise InvalidGrantError("Invalid or expired refresh token")
        issued = await self._issue(session, user, sign_in_id=stored.family_id)
        await SignInRepository(session).extend(stored.family_id, expires_at=issued.expires_at)
        return issued

    async def revoke_refresh_token(self, session: AsyncSession, *, refresh_token: str) -> None:
        """Sign-out: revoke the token and every token rotated from the same sign-in.

        Unknown tokens are ignored, as RFC 7009 §2.2 asks.
        """
        if not is_storable(refresh_token):
            return
        tokens = RefreshTokenRepository(session)
        stored = await tokens.get_by_hash(hash_refresh_token(refresh_token))
        if stored is not None:
            await tokens.revoke_family(stored.family_id)

    async def update_me(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        email: str | None = None,
        username: str | None = None,
    ) -> User:
        user = await self.get_user(session, principal)
        return await UserRepository(session).update(
            user,
            email=_email(email) if email is not None else None,
            username=_username(username) if username is not None else None,
        )

    async def get_preferences(self, session: AsyncSession, principal: Principal) -> PreferencesView:
        saved = await UserRepository(session).get_preferences(principal.user_id)
        return PreferencesView.of(saved) if saved is not None else DEFAULT_PREFERENCES

    async def put_preferences(
        self, session: AsyncSession, principal: Principal, preferences: PreferencesView
    ) -> PreferencesView:
        if preferences.timezone not in _timezones():
            raise UnknownTimezoneError(preferences.timezone)
        saved = await UserRepository(session).save_preferences(
            principal.user_id, dataclasses.asdict(preferences)
        )
        return PreferencesView.of(saved)

    async def _issue(
        self, session: AsyncSession, user: User, *, sign_in_id: uuid.UUID
    ) -> IssuedTokens:
        """A new access token and refresh token of the sign-in `sign_in_id`."""
        access_token, expires_in = self._tokens.issue_access_token(user.id, sign_in_id)
        refresh_token, refresh_hash = new_refresh_token()
        expires_at = utcnow() + self._refresh_ttl
        await RefreshTokenRepository(session).create(
            user_id=user.id, family_id=sign_in_id, token_hash=refresh_hash, expires_at=expires_at
        )
        return IssuedTokens(
            access_token=access_token,
            expires_in=expires_in,
            refresh_token=refresh_token,
            expires_at=expires_at,
        )
