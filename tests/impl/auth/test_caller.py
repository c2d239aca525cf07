from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.auth.principal import Principal, TokenSubject
from impl.auth.repository import CallerRepository, caller_and, caller_query_and
from impl.kit.db import Unit
from impl.models import ExternalIdentity, Product, Role, User
from tests.factories import add_member, create_product, create_sign_in, create_team, create_user


class TestLoad:
    async def test_active_user_without_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session, is_admin=True)
        found = await CallerRepository(unit).load(await create_sign_in(session, user=user), None)
        assert found == (Principal(user_id=user.id, email=user.email, is_admin=True), None)

    async def test_deactivated_or_unknown_user(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session, is_active=False)
        assert (
            await CallerRepository(unit).load(await create_sign_in(session, user=user), None)
            is None
        )
        assert (
            await CallerRepository(unit).load(
                TokenSubject(user_id=uuid.uuid4(), sign_in_id=uuid.uuid4()), None
            )
            is None
        )

    async def test_role_in_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=await create_user(session))
        await add_member(session, team=team, user=user, role=Role.VIEWER)
        found = await CallerRepository(unit).load(await create_sign_in(session, user=user), team.id)
        assert found is not None
        assert found[1] == "viewer"

    async def test_not_a_member_or_deleted_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        other = await create_team(session, owner=await create_user(session))
        deleted = await create_team(session, owner=user)
        deleted.deleted_at = datetime.now(UTC)
        await session.flush()
        for team_id in (other.id, deleted.id, uuid.uuid4()):
            found = await CallerRepository(unit).load(
                await create_sign_in(session, user=user), team_id
            )
            assert found is not None
            assert found[1] is None


_PRODUCTS_STATEMENT = (
    select(Product.__table__.c.sku)
    .where(Product.__table__.c.team_id == bindparam("team_id", type_=Product.team_id.type))
    .where(Product.__table__.c.price >= bindparam("at_least", type_=Product.price.type))
)
_PRODUCTS = caller_and(_PRODUCTS_STATEMENT)

_BOTH = caller_query_and(_PRODUCTS_STATEMENT)


class TestLoadWith:
    async def test_the_caller_and_the_statements_rows_in_one_query(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=user)
        for sku, price in (("B", "5"), ("A", "9"), ("C", "1")):
            await create_product(session, team=team, sku=sku, price=Decimal(price))
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, await create_sign_in(session, user=user), team.id, {"at_least": Decimal(5)}
        )
        assert found is not None
        principal, role, rows = found
        assert (principal.user_id, role) == (user.id, "owner")
        # Subquery order is not kept: in no particular order.
        assert sorted(tuple(row) for row in rows) == [("A",), ("B",)]

    async def test_no_rows_is_an_empty_list_not_a_missing_caller(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=user)
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, await create_sign_in(session, user=user), team.id, {"at_least": Decimal(0)}
        )
        assert found is not None
        assert found[1:] == ("owner", [])

    async def test_a_deactivated_caller_gets_nothing(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user = await create_user(session, is_active=False)
        team = await create_team(session, owner=await create_user(session))
        await create_product(session, team=team)
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, await create_sign_in(session, user=user), team.id, {"at_least": Decimal(0)}
        )
        assert found is None

    async def test_rows_of_a_team_the_caller_is_not_in_come_with_no_role(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        # The context refuses such a caller before a handler sees the rows (test_products).
        user = await create_user(session)
        team = await create_team(session, owner=await create_user(session))
        await create_product(session, team=team, sku="X")
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, await create_sign_in(session, user=user), team.id, {"at_least": Decimal(0)}
        )
        assert found is not None
        assert found[1] is None


class TestSignIn:
    async def test_a_revoked_sign_in_is_no_caller(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=user)
        revoked = await create_sign_in(session, user=user, revoked_at=datetime.now(UTC))
        live = await create_sign_in(session, user=user)
        assert await CallerRepository(unit).load(revoked, team.id) is None
        assert await CallerRepository(unit).load(live, team.id) is not None
        found = await CallerRepository(unit).load_with(
            _PRODUCTS, revoked, team.id, {"at_least": Decimal(0)}
        )
        assert found is None

    async def test_a_sign_in_vouches_for_its_own_account_only(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user, other = await create_user(session), await create_user(session)
        theirs = await create_sign_in(session, user=other)
        forged = TokenSubject(user_id=user.id, sign_in_id=theirs.sign_in_id)
        assert await CallerRepository(unit).load(forged, None) is None


async def _linked(session: AsyncSession, user: User, subject: str = "user_1") -> TokenSubject:
    """What the external verifier makes of a token of `subject`, linked to `user`."""
    identity = ExternalIdentity(issuer="https://idp.example", subject=subject, user_id=user.id)
    session.add(identity)
    await session.flush()
    return TokenSubject(user_id=user.id, sign_in_id=None, identity_id=identity.id)


class TestExternal:
    async def test_a_linked_subject_is_the_caller(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=user)
        await create_product(session, team=team, sku="A")
        subject = await _linked(session, user)

        assert await CallerRepository(unit).load(subject, team.id) == (
            Principal(user_id=user.id, email=user.email),
            "owner",
        )
        found = await CallerRepository(unit).load_with(
            _BOTH.of(subject), subject, team.id, {"at_least": Decimal(0)}
        )
        assert found is not None
        assert found[2] == [("A",)]

    async def test_a_link_vouches_for_its_own_account_only(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user, other = await create_user(session), await create_user(session)
        theirs = await _linked(session, other)
        forged = TokenSubject(user_id=user.id, sign_in_id=None, identity_id=theirs.identity_id)
        assert await CallerRepository(unit).load(forged, None) is None

    async def test_a_removed_link_or_a_deactivated_account_is_no_caller(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        user = await create_user(session)
        subject = await _linked(session, user)
        await session.execute(delete(ExternalIdentity))
        assert await CallerRepository(unit).load(subject, None) is None

        inactive = await _linked(session, await create_user(session, is_active=False), "user_2")
        assert await CallerRepository(unit).load(inactive, None) is None

    async def test_our_tokens_cannot_skip_their_sign_in(
        self, session: AsyncSession, unit: Unit
    ) -> None:
        # Only the external verifier sets `identity_id`: without it a sign-in is required.
        user = await create_user(session)
        await _linked(session, user)
        subject = TokenSubject(user_id=user.id, sign_in_id=None)
        assert await CallerRepository(unit).load(subject, None) is None
        found = await CallerRepository(unit).load_with(
            _BOTH.of(subject), subject, None, {"at_least": Decimal(0)}
        )
        assert found is None
