"""Who may call what, read from the contract: the one place authorisation is decided.

Operations carry their rule in the spec, where reviewers see it:
- `x-platform-admin: true`: platform admins only (others get 403).
- `x-team-roles: [owner, admin, ...]`: team-scoped operations (a `team_id` path parameter);
  the caller must be a member of the team (404 otherwise, so ids cannot be probed) in one of
  the listed roles (403 otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from impl.models import Role
from specfirst.document import Document


@dataclass(frozen=True, slots=True)
class Rule:
    platform_admin: bool = False
    team_roles: frozenset[Role] | None = None


class AccessPolicy:
    """Per-operation rules, keyed by operationId."""

    def __init__(self, rules: Mapping[str, Rule]) -> None:
        self._rules = dict(rules)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> AccessPolicy:
        """Read the rules of every operation; a malformed rule is a contract bug: fail fast."""
        rules: dict[str, Rule] = {}
        for op in Document(document).operations():
            rule = _rule(op.path, op.method, op.operation)
            if rule is not None:
                rules[op.operation["operationId"]] = rule
        return cls(rules)

    @classmethod
    def from_json(cls, text: str) -> AccessPolicy:
        return cls.from_document(json.loads(text))

    def rule(self, operation_id: str) -> Rule | None:
        return self._rules.get(operation_id)


def _rule(path: str, method: str, operation: dict[str, Any]) -> Rule | None:
    where = f"{method.upper()} {path}"
    admin = operation.get("x-platform-admin", False)
    roles = operation.get("x-team-roles")
    team_scoped = "{team_id}" in path
    if not isinstance(admin, bool):
        raise ValueError(f"{where}: x-platform-admin must be a boolean")
    if roles is None:
        if team_scoped:
            raise ValueError(f"{where}: team-scoped operations must declare x-team-roles")
        return Rule(platform_admin=True) if admin else None
    if not team_scoped:
        raise ValueError(f"{where}: x-team-roles needs a {{team_id}} path parameter")
    if not isinstance(roles, list) or not roles:
        raise ValueError(f"{where}: x-team-roles must be a non-empty list of roles")
    return Rule(platform_admin=admin, team_roles=frozenset(Role(role) for role in roles))
