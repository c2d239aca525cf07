from __future__ import annotations

from uuid import UUID

from generated import models
from generated.responses import members as rm
from generated.responses import teams as r
from impl.context import RequestContext
from impl.kit.absent import or_none
from impl.kit.etags import strong_etag
from impl.teams.members import MembershipService, MemberView
from impl.teams.service import TeamService, TeamView


def team_out(team: TeamView) -> models.Team:
    return models.Team(
        id=team.id,
        name=team.name,
        role=models.Role(team.role),
        created_at=team.created_at,
        updated_at=team.updated_at,
    )


def team_etag(team: TeamView) -> str:
    return strong_etag(f"{team.id}-v{team.version}")


class TeamsHandlers:
    def __init__(self, teams: TeamService) -> None:
        self._teams = teams

    async def list_teams(
        self, ctx: RequestContext, *, limit: int, cursor: str | None
    ) -> r.ListTeams200:
        page = await self._teams.list_teams(ctx.session, ctx.caller(), limit=limit, cursor=cursor)
        return r.ListTeams200(
            body=models.TeamPage(
                items=[team_out(t) for t in page.items], next_cursor=page.next_cursor
            )
        )

    async def create_team(self, ctx: RequestContext, *, body: models.TeamCreate) -> r.CreateTeam201:
        team = await self._teams.create_team(ctx.session, ctx.caller(), name=body.name)
        return r.CreateTeam201(body=team_out(team), location=f"/v1/teams/{team.id}")

    async def get_team(self, ctx: RequestContext, *, team_id: UUID) -> r.GetTeam200:
        team = await self._teams.get_team(ctx.session, ctx.team_access())
        return r.GetTeam200(body=team_out(team), etag=team_etag(team))

    async def update_team(
        self, ctx: RequestContext, *, team_id: UUID, body: models.TeamUpdate
    ) -> r.UpdateTeam200:
        team = await self._teams.update_team(
            ctx.session, ctx.team_access(), name=or_none(body.name)
        )
        return r.UpdateTeam200(body=team_out(team), etag=team_etag(team))

    async def delete_team(self, ctx: RequestContext, *, team_id: UUID) -> r.DeleteTeam204:
        await self._teams.delete_team(ctx.session, ctx.team_access())
        return r.DeleteTeam204()


def member_out(member: MemberView) -> models.Member:
    return models.Member(
        user_id=member.user_id,
        email=member.email,
        username=member.username,
        role=models.Role(member.role),
        joined_at=member.joined_at,
    )


class MembersHandlers:
    def __init__(self, members: MembershipService) -> None:
        self._members = members

    async def list_members(
        self, ctx: RequestContext, *, team_id: UUID, limit: int, cursor: str | None
    ) -> rm.ListMembers200:
        page = await self._members.list_members(
            ctx.session, ctx.team_access(), limit=limit, cursor=cursor
        )
        return rm.ListMembers200(
            body=models.MemberPage(
                items=[member_out(m) for m in page.items], next_cursor=page.next_cursor
            )
        )

    async def add_member(
        self, ctx: RequestContext, *, team_id: UUID, body: models.MemberCreate
    ) -> rm.AddMember201:
        member = await self._members.add_member(
            ctx.session, ctx.team_access(), email=body.email, role=body.role.value
        )
        return rm.AddMember201(
            body=member_out(member), location=f"/v1/teams/{team_id}/members/{member.user_id}"
        )

    async def update_member(
        self, ctx: RequestContext, *, team_id: UUID, user_id: UUID, body: models.MemberUpdate
    ) -> rm.UpdateMember200:
        member = await self._members.update_member(
            ctx.session, ctx.team_access(), user_id=user_id, role=body.role.value
        )
        return rm.UpdateMember200(body=member_out(member))

    async def remove_member(
        self, ctx: RequestContext, *, team_id: UUID, user_id: UUID
    ) -> rm.RemoveMember204:
        await self._members.remove_member(ctx.session, ctx.team_access(), user_id=user_id)
        return rm.RemoveMember204()
