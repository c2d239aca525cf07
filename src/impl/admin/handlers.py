from __future__ import annotations

from uuid import UUID

from generated import models
from generated.responses import admin as r
from impl.admin.service import AdminService, DeadLetterService
from impl.context import RequestContext
from impl.models import DeadLetter, User


def account_out(user: User) -> models.UserAccount:
    return models.UserAccount(
        id=user.id,
        email=user.email,
        username=user.username,
        is_active=user.is_active,
        is_admin=user.is_admin,
        created_at=user.created_at,
        deactivated_at=user.deactivated_at,
    )


def dead_letter_out(row: DeadLetter) -> models.DeadLetter:
    return models.DeadLetter(
        id=row.id,
        job_id=row.job_id,
        task=row.task,
        args=row.args,
        keyword_args=row.kwargs,
        attempts=row.attempts,
        error=row.error,
        failed_at=row.failed_at,
        retried_at=row.retried_at,
        retry_job_id=row.retry_job_id,
    )


class AdminHandlers:
    def __init__(self, admin: AdminService, dead_letters: DeadLetterService) -> None:
        self._admin = admin
        self._dead_letters = dead_letters

    async def list_users(
        self, ctx: RequestContext, *, is_active: bool | None, limit: int, cursor: str | None
    ) -> r.ListUsers200:
        page = await self._admin.list_users(
            ctx.session, ctx.caller(), is_active=is_active, limit=limit, cursor=cursor
        )
        return r.ListUsers200(
            body=models.UserAccountPage(
                items=[account_out(user) for user in page.items], next_cursor=page.next_cursor
            )
        )

    async def deactivate_user(self, ctx: RequestContext, *, user_id: UUID) -> r.DeactivateUser200:
        user = await self._admin.deactivate_user(ctx.session, ctx.caller(), user_id=user_id)
        return r.DeactivateUser200(body=account_out(user))

    async def list_dead_letters(
        self, ctx: RequestContext, *, retried: bool | None, limit: int, cursor: str | None
    ) -> r.ListDeadLetters200:
        page = await self._dead_letters.list_dead_letters(
            ctx.session, ctx.caller(), retried=retried, limit=limit, cursor=cursor
        )
        return r.ListDeadLetters200(
            body=models.DeadLetterPage(
                items=[dead_letter_out(row) for row in page.items], next_cursor=page.next_cursor
            )
        )

    async def retry_dead_letter(
        self, ctx: RequestContext, *, dead_letter_id: UUID
    ) -> r.RetryDeadLetter202:
        row = await self._dead_letters.retry(ctx.db, ctx.caller(), dead_letter_id=dead_letter_id)
        return r.RetryDeadLetter202(body=dead_letter_out(row))
