from __future__ import annotations

from generated import models
from generated.responses import auth as ra
from generated.responses import users as ru
from impl.accounts.service import AccountService, IssuedTokens, PreferencesView
from impl.context import RequestContext
from impl.kit.absent import or_none
from impl.models import User


def user_out(user: User) -> models.User:
    return models.User(
        id=user.id, email=user.email, username=user.username, created_at=user.created_at
    )


def preferences_out(preferences: PreferencesView) -> models.Preferences:
    return models.Preferences(
        timezone=models.TimeZone(preferences.timezone),
        locale=preferences.locale,
        theme=models.Theme(preferences.theme),
        notifications=models.NotificationSettings(
            order_updates=preferences.order_updates,
            stock_alerts=preferences.stock_alerts,
            weekly_digest=preferences.weekly_digest,
        ),
    )


def preferences_in(body: models.Preferences) -> PreferencesView:
    return PreferencesView(
        timezone=body.timezone.value,
        locale=body.locale,
        theme=body.theme.value,
        order_updates=body.notifications.order_updates,
        stock_alerts=body.notifications.stock_alerts,
        weekly_digest=body.notifications.weekly_digest,
    )


def token_out(issued: IssuedTokens) -> models.Token:
    return models.Token(
        access_token=issued.access_token,
        token_type=models.TokenType.BEARER,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
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

    async def update_me(self, ctx: RequestContext, *, body: models.UserUpdate) -> ru.UpdateMe200:
        user = await self._accounts.update_me(
            ctx.session, ctx.caller(), email=or_none(body.email), username=or_none(body.username)
        )
        return ru.UpdateMe200(body=user_out(user))

    async def get_preferences(self, ctx: RequestContext) -> ru.GetPreferences200:
        preferences = await self._accounts.get_preferences(ctx.session, ctx.caller())
        return ru.GetPreferences200(body=preferences_out(preferences))

    async def put_preferences(
        self, ctx: RequestContext, *, body: models.Preferences
    ) -> ru.PutPreferences200:
        preferences = await self._accounts.put_preferences(
            ctx.session, ctx.caller(), preferences_in(body)
        )
        return ru.PutPreferences200(body=preferences_out(preferences))


class AuthHandlers:
    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts

    async def create_token(
        self, ctx: RequestContext, *, body: models.TokenRequest
    ) -> ra.CreateToken200:
        issued = await self._accounts.issue_tokens(
            ctx.session, email=body.username, password=body.password
        )
        return ra.CreateToken200(body=token_out(issued), cache_control="no-store")

    async def refresh_token(
        self, ctx: RequestContext, *, body: models.RefreshRequest
    ) -> ra.RefreshToken200:
        issued = await self._accounts.refresh_tokens(ctx.session, refresh_token=body.refresh_token)
        return ra.RefreshToken200(body=token_out(issued), cache_control="no-store")

    async def logout(self, ctx: RequestContext, *, body: models.RefreshRequest) -> ra.Logout204:
        await self._accounts.revoke_refresh_token(ctx.session, refresh_token=body.refresh_token)
        return ra.Logout204()
