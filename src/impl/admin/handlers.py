from __future__ import annotations

from uuid import UUID

from generated import models
from generated.responses import admin as r
from impl.admin.service import AdminService
from impl.context import RequestContext
from impl.models import User


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


class AdminHandlers:
    def __init__(self, admin: AdminService) -> None:
        self._admin = admin

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
