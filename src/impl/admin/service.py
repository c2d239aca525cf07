from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from impl.accounts.errors import SelfDeactivationError, UserNotFoundError
from impl.accounts.repository import RefreshTokenRepository, UserRepository
from impl.auth.principal import Principal
from impl.jobs.repository import DeadLetterRepository
from impl.jobs.runtime import JobRuntime
from impl.kit.clock import utcnow
from impl.kit.db import Unit
from impl.kit.errors import Conflict, NotFound
from impl.kit.pagination import CursorCodec, KeysetPosition, Page, build_page, clamp_limit
from impl.models import DeadLetter, User
from impl.settings import Settings


def _position(user: User) -> KeysetPosition:
    return KeysetPosition(created_at=user.created_at, id=user.id)


class AdminService:
    """Platform administration. Callers are platform admins: the request context checked."""

    def __init__(self, settings: Settings) -> None:
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())

    async def list_users(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        is_active: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[User]:
        limit = clamp_limit(limit)
        after = self._cursors.decode_position(cursor) if cursor else None
        rows = await UserRepository(session).list_page(
            is_active=is_active, limit=limit + 1, after=after
        )
        return build_page(rows, limit=limit, codec=self._cursors, position=_position)

    async def deactivate_user(
        self, session: AsyncSession, principal: Principal, *, user_id: uuid.UUID
    ) -> User:
        """Deactivate an account and revoke its refresh tokens; its access tokens stop
        working at once because every request re-checks the account (`impl.context`)."""
        if user_id == principal.user_id:
            raise SelfDeactivationError
        users = UserRepository(session)
        user = await users.get(user_id)
        if user is None:
            raise UserNotFoundError
        await users.deactivate(user)
        await RefreshTokenRepository(session).revoke_all_for_user(user.id)
        return user


class DeadLetterNotFoundError(NotFound):
    def __init__(self) -> None:
        super().__init__("Dead letter not found")


class DeadLetterService:
    """The jobs that failed every attempt (`impl.jobs`): listed, and retried once each."""

    def __init__(self, settings: Settings, jobs: JobRuntime) -> None:
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())
        self._jobs = jobs

    async def list_dead_letters(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        retried: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[DeadLetter]:
        limit = clamp_limit(limit)
        after = self._cursors.decode_position(cursor) if cursor else None
        rows = await DeadLetterRepository(session).list_page(
            retried=retried, limit=limit + 1, after=after
        )
        return build_page(
            rows,
            limit=limit,
            codec=self._cursors,
            position=lambda row: KeysetPosition(created_at=row.failed_at, id=row.id),
        )

    async def retry(
        self, unit: Unit, principal: Principal, *, dead_letter_id: uuid.UUID
    ) -> DeadLetter:
        """Enqueue the job again (after the commit) as a new job; record which."""
        row = await DeadLetterRepository(unit.session).get_for_update(dead_letter_id)
        if row is None:
            raise DeadLetterNotFoundError
        if row.retried_at is not None:
            raise Conflict(f"This dead letter was retried already, as job {row.retry_job_id}.")
        if not self._jobs.knows(row.task):
            raise Conflict(f"This service no longer runs the task {row.task!r}.")
        row.retry_job_id = self._jobs.enqueue(unit, row.task, row.args, row.kwargs)
        row.retried_at = utcnow()
        await unit.session.flush()
        return row
