from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from impl.accounts.errors import EmailTakenError, UsernameTakenError
from impl.kit.clock import utcnow
from impl.kit.db import is_unique_violation
from impl.kit.ids import new_id
from impl.kit.pagination import KeysetPosition, past
from impl.models import RefreshToken, SignIn, User, UserPreferences


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, email: str, username: str, password_hash: str) -> User:
        user = User(email=email, username=username, password_hash=password_hash)
        await self._save_unique(user, {})
        return user

    async def update(self, user: User, *, email: str | None, username: str | None) -> User:
        changes = {"email": email, "username": username}
        await self._save_unique(user, {k: v for k, v in changes.items() if v is not None})
        return user

    async def _save_unique(self, user: User, changes: Mapping[str, str]) -> None:
        # The unique constraints decide, not a read first: two concurrent claims can't both win.
        # Changes are made inside the savepoint, so a refused one leaves nothing to re-flush.
        try:
            async with self.session.begin_nested():
                self.session.add(user)
                for name, value in changes.items():
                    setattr(user, name, value)
                await self.session.flush()
        except IntegrityError as error:
            if is_unique_violation(
                error, constraint="uq_users_email", table="users", columns=["email"]
            ):
                raise EmailTakenError from error
            if is_unique_violation(
                error, constraint="uq_users_username", table="users", columns=["username"]
            ):
                raise UsernameTakenError from error
            raise

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(User)) or 0)

    async def any_exist(self) -> bool:
        return bool(await self.session.scalar(select(exists().select_from(User))))

    async def list_page(
        self, *, is_active: bool | None, limit: int, after: KeysetPosition | None
    ) -> list[User]:
        """Accounts in `(created_at, id)` order, strictly after `after`, at most `limit`."""
        statement = select(User).order_by(User.created_at, User.id).limit(limit)
        if is_active is not None:
            statement = statement.where(User.is_active.is_(is_active))
        if after is not None:
            statement = statement.where(past(after, User.created_at, User.id))
        return list((await self.session.scalars(statement)).all())

    async def deactivate(self, user: User) -> None:
        if user.is_active:
            user.is_active = False
            user.deactivated_at = utcnow()
            await self.session.flush()

    async def get_preferences(self, user_id: uuid.UUID) -> UserPreferences | None:
        return await self.session.get(UserPreferences, user_id)

    async def save_preferences(
        self, user_id: uuid.UUID, values: Mapping[str, object]
    ) -> UserPreferences:
        """Insert or replace the user's one row of preferences."""
        row = await self.session.get(UserPreferences, user_id)
        if row is None:
            try:
                async with self.session.begin_nested():
                    row = UserPreferences(user_id=user_id, **values)
                    self.session.add(row)
                    await self.session.flush()
                return row
            except IntegrityError:
                # A concurrent first save won the insert: replace what it wrote instead.
                row = await self.session.get(UserPreferences, user_id)
                if row is None:
                    raise
        for name, value in values.items():
            setattr(row, name, value)
        await self.session.flush()
        return row

    async def set_admin(self, user: User, *, is_admin: bool) -> None:
        user.is_admin = is_admin
        await self.session.flush()

    async def set_password_hash(self, user: User, password_hash: str) -> None:
        user.password_hash = password_hash
        await self.session.flush()


class SignInRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, user_id: uuid.UUID, expires_at: datetime) -> uuid.UUID:
        sign_in = SignIn(id=new_id(), user_id=user_id, expires_at=expires_at)
        self.session.add(sign_in)
        await self.session.flush()
        return sign_in.id

    async def extend(self, sign_in_id: uuid.UUID, *, expires_at: datetime) -> None:
        """A rotation issued a refresh token that lives until `expires_at`."""
        await self.session.execute(
            update(SignIn)
            .where(SignIn.id == sign_in_id)
            .values(expires_at=expires_at)
            .execution_options(synchronize_session=False)
        )

    async def delete_expired(self, *, now: datetime, limit: int) -> int:
        """Delete at most `limit` sign-ins whose every token expired before `now`."""
        batch = (
            select(SignIn.id)
            .where(SignIn.expires_at < now)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            delete(SignIn).where(SignIn.id.in_(batch)).execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self, *, user_id: uuid.UUID, family_id: uuid.UUID, token_hash: str, expires_at: datetime
    ) -> RefreshToken:
        token = RefreshToken(
            user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at
        )
        self.session.add(token)
        await self.session.flush()
        return token

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        result = await self.session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def consume(self, token: RefreshToken) -> bool:
        """Revoke `token` if it is still live; False if someone else used it first.

        A conditional UPDATE rather than read-then-write, so two concurrent refreshes with
        the same token cannot both succeed.
        """
        now = utcnow()
        result = await self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == token.id,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def is_revoked(self, token: RefreshToken) -> bool:
        """Re-read: a concurrent request may have used the token after we loaded it."""
        revoked_at = await self.session.scalar(
            select(RefreshToken.revoked_at).where(RefreshToken.id == token.id)
        )
        return revoked_at is not None

    async def revoke_all_for_user(self, user_id: uuid.UUID) -> None:
        """Every sign-in of `user_id` ends: its refresh tokens and its access tokens."""
        await self._revoke(RefreshToken.user_id == user_id, SignIn.user_id == user_id)

    async def revoke_family(self, family_id: uuid.UUID) -> None:
        """The sign-in `family_id` ends: its refresh tokens and its access tokens."""
        await self._revoke(RefreshToken.family_id == family_id, SignIn.id == family_id)

    async def _revoke(self, tokens: ColumnElement[bool], sign_ins: ColumnElement[bool]) -> None:
        now = utcnow()
        for table, which in ((RefreshToken, tokens), (SignIn, sign_ins)):
            await self.session.execute(
                update(table)
                .where(which, table.revoked_at.is_(None))
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )

    async def delete_expired(self, *, now: datetime, limit: int) -> int:
        """Delete at most `limit` tokens that expired before `now`; return how many went.

        Revoked tokens are kept until they expire like the others: replaying a used token
        revokes its whole family, and that needs the used token's row while it is unexpired.
        """
        batch = (
            select(RefreshToken.id)
            .where(RefreshToken.expires_at < now)
            .limit(limit)
            # PostgreSQL: a concurrent purge takes other rows instead of waiting on these.
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            delete(RefreshToken)
            .where(RefreshToken.id.in_(batch))
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
