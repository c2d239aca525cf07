from __future__ import annotations

from generated import models
from generated.responses import auth as ra
from generated.responses import users as ru
from impl.accounts.service import AccountService
from impl.context import RequestContext
from impl.models import User


def user_out(user: User) -> models.User:
    return models.User(
        id=user.id, email=user.email, username=user.username, created_at=user.created_at
    )


class UsersHandlers:
    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts

    async def create_user(
        self, ctx: RequestContext, *, body: models.UserCreate
    ) -> ru.CreateUser201:
        user = await self._accounts.sign_up(
            ctx.session, email=body.email, username=body.username, password=body.password
        )
        return ru.CreateUser201(body=user_out(user), location="/v1/me")

    async def get_me(self, ctx: RequestContext) -> ru.GetMe200:
        user = await self._accounts.get_user(ctx.session, ctx.caller())
        return ru.GetMe200(body=user_out(user))


class AuthHandlers:
    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts

    async def create_token(
        self, ctx: RequestContext, *, body: models.TokenRequest
    ) -> ra.CreateToken200:
        issued = await self._accounts.issue_tokens(
            ctx.session, email=body.username, password=body.password
        )
        token = models.Token(
            access_token=issued.access_token,
            token_type=models.TokenType.BEARER,
            expires_in=issued.expires_in,
            refresh_token=issued.refresh_token,
        )
        return ra.CreateToken200(body=token, cache_control="no-store")
