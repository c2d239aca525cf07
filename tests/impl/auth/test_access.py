from __future__ import annotations

from typing import Any

import pytest

from generated.spec import OPENAPI_JSON
from impl.auth.access import AccessPolicy, Rule
from impl.models import Role


def _document(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    return {"paths": {path: {"get": {"operationId": "op", **operation}}}}


class TestFromDocument:
    def test_team_roles(self) -> None:
        policy = AccessPolicy.from_document(
            _document("/teams/{team_id}/x", {"x-team-roles": ["owner", "admin"]})
        )
        assert policy.rule("op") == Rule(team_roles=frozenset({Role.OWNER, Role.ADMIN}))

    def test_platform_admin(self) -> None:
        policy = AccessPolicy.from_document(_document("/admin", {"x-platform-admin": True}))
        assert policy.rule("op") == Rule(platform_admin=True)
        assert policy.rule("other") is None

    @pytest.mark.parametrize(
        ("path", "operation", "message"),
        [
            ("/teams/{team_id}", {}, "must declare x-team-roles"),
            ("/admin", {"x-team-roles": ["owner"]}, "needs a {team_id} path parameter"),
            ("/teams/{team_id}", {"x-team-roles": []}, "non-empty list"),
            ("/admin", {"x-platform-admin": "yes"}, "must be a boolean"),
        ],
    )
    def test_malformed_rules_fail_fast(
        self, path: str, operation: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            AccessPolicy.from_document(_document(path, operation))

    def test_unknown_role(self) -> None:
        with pytest.raises(ValueError, match="'janitor'"):
            AccessPolicy.from_document(_document("/teams/{team_id}", {"x-team-roles": ["janitor"]}))


def test_the_contract_declares_a_rule_for_every_team_scoped_operation() -> None:
    policy = AccessPolicy.from_json(OPENAPI_JSON)
    assert policy.rule("delete_team") == Rule(team_roles=frozenset({Role.OWNER}))
    assert policy.rule("list_users") == Rule(platform_admin=True)
    assert policy.rule("create_team") is None
