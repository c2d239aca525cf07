from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.auth.principal import Principal
from impl.models import Membership, Team, User


class CallerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(
        self, user_id: uuid.UUID, team_id: uuid.UUID | None
    ) -> tuple[Principal, str | None] | None:
        """The active account `user_id`, and its role in `team_id` (None: not a member, or
        the team is deleted); None if the account is missing or deactivated. One query."""
        role = (
            select(Membership.role)
            .join(Team, Team.id == Membership.team_id)
            .where(
                Membership.user_id == User.id,
                Membership.team_id == team_id,
                Team.deleted_at.is_(None),
            )
            .correlate(User)
            .scalar_subquery()
        )
        statement = select(User.email, User.is_admin, role).where(
            User.id == user_id, User.is_active.is_(True)
        )
        row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            return None
        return Principal(user_id=user_id, email=row[0], is_admin=row[1]), row[2]
