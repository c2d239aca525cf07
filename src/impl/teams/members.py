"""Team memberships: who is in a team, with which role, and the rules that keep an owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from impl.accounts.repository import UserRepository
from impl.accounts.service import normalise_email
from impl.kit.errors import Forbidden
from impl.kit.pagination import CursorCodec, KeysetPosition, Page, build_page, clamp_limit
from impl.models import Membership, Role, User
from impl.settings import Settings
from impl.teams.access import TeamAccess
from impl.teams.errors import (
    LastOwnerError,
    MemberNotFoundError,
    NoSuchAccountError,
    OwnersOnlyError,
)
from impl.teams.repository import MembershipRepository

MANAGERS = frozenset({Role.OWNER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class MemberView:
    user_id: uuid.UUID
    email: str
    username: str
    role: str
    joined_at: datetime

    @classmethod
    def of(cls, membership: Membership, user: User) -> MemberView:
        return cls(
            user_id=user.id,
            email=user.email,
            username=user.username,
            role=membership.role,
            joined_at=membership.created_at,
        )


def _position(member: MemberView) -> KeysetPosition:
    return KeysetPosition(created_at=member.joined_at, id=member.user_id)


def _touches_owner(access: TeamAccess, *roles: str) -> None:
    if Role.OWNER in roles and access.role != Role.OWNER:
        raise OwnersOnlyError


class MembershipService:
    def __init__(self, settings: Settings) -> None:
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())

    async def list_members(
        self,
        session: AsyncSession,
        access: TeamAccess,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[MemberView]:
        limit = clamp_limit(limit)
        after = self._cursors.decode_position(cursor) if cursor else None
        rows = await MembershipRepository(session).list_page(
            access.team_id, limit=limit + 1, after=after
        )
        views = [MemberView.of(membership, user) for membership, user in rows]
        return build_page(views, limit=limit, codec=self._cursors, position=_position)

    async def add_member(
        self, session: AsyncSession, access: TeamAccess, *, email: str, role: str
    ) -> MemberView:
        _touches_owner(access, role)
        user = await UserRepository(session).get_by_email(normalise_email(email))
        if user is None or not user.is_active:
            raise NoSuchAccountError
        membership = await MembershipRepository(session).add(
            team_id=access.team_id, user_id=user.id, role=Role(role)
        )
        return MemberView.of(membership, user)

    async def update_member(
        self, session: AsyncSession, access: TeamAccess, *, user_id: uuid.UUID, role: str
    ) -> MemberView:
        members = MembershipRepository(session)
        membership, user = await self._locked_target(members, access, user_id)
        _touches_owner(access, membership.role, role)
        if membership.role == Role.OWNER and role != Role.OWNER:
            await self._keep_an_owner(members, access.team_id)
        await members.set_role(membership, Role(role))
        return MemberView.of(membership, user)

    async def remove_member(
        self, session: AsyncSession, access: TeamAccess, *, user_id: uuid.UUID
    ) -> None:
        members = MembershipRepository(session)
        membership, _ = await self._locked_target(members, access, user_id)
        if user_id != access.user_id:
            # Leaving is anyone's right; removing someone else is a manager's.
            if access.role not in MANAGERS:
                raise Forbidden(f"A team {access.role} may only remove themselves")
            _touches_owner(access, membership.role)
        if membership.role == Role.OWNER:
            await self._keep_an_owner(members, access.team_id)
        await members.delete(membership)

    async def _locked_target(
        self, members: MembershipRepository, access: TeamAccess, user_id: uuid.UUID
    ) -> tuple[Membership, User]:
        # The team row is locked first, so two owners demoting each other at once are
        # serialised and the second sees that it would remove the last owner.
        await members.lock_team(access.team_id)
        found = await members.get(access.team_id, user_id)
        if found is None:
            raise MemberNotFoundError
        return found

    async def _keep_an_owner(self, members: MembershipRepository, team_id: uuid.UUID) -> None:
        if await members.count_owners(team_id) <= 1:
            raise LastOwnerError
