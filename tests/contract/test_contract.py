"""Schemathesis over every operation of the hand-written spec, against the running service.

The schema is the bundle of ``openapi/`` (never the app's own document). Every check
schemathesis has is enabled, in positive and negative generation modes. One check is tuned,
not disabled: ``positive_data_acceptance`` also accepts 400 (an opaque cursor the server did
not issue, or wrong credentials on the token endpoint), 412 and 428 (a missing or stale
``If-Match``): schema-valid requests that the server's state rightly refuses, each
documented on its operation. Operations whose body refers to other resources also accept 422
(RFC 9110 §15.5.21: well-formed, but not processable), as their descriptions say: an email no
account uses (add_member); a product that is not in the team or not on sale, lines in two
currencies, or an Idempotency-Key reused with another body (create_order).
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

from codegen.generate import load_bundle
from tests.contract.conftest import ROOT, LiveServer

POSITIVE_EXPECTED = ["2xx", "400", "401", "403", "404", "409", "412", "428"]
REFERENCES_IN_BODY = ["add_member", "create_order"]

schema = schemathesis.openapi.from_dict(
    load_bundle(ROOT / "openapi/openapi.yaml").document,
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": 40, "deterministic": True},
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": POSITIVE_EXPECTED},
            },
            "operations": [
                {
                    "include-operation-id": operation_id,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*POSITIVE_EXPECTED, "422"]
                        }
                    },
                }
                for operation_id in REFERENCES_IN_BODY
            ],
        }
    ),
)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _aim_at_real_resources(case: Any, live: LiveServer) -> None:
    """Swap generated, valid ids for ids that exist, so operations get past the 404.

    Invalid ids (negative cases) are left alone. delete_team gets a team of its own, so the
    one every other operation uses survives.
    """
    params = case.path_parameters or {}
    real = {
        "team_id": live.doomed_team_id
        if case.operation.label.startswith("DELETE /v1/teams/{team_id}")
        and "products" not in case.operation.label
        else live.team_id,
        "product_id": live.product_id,
    }
    for name, value in real.items():
        if name in params and _is_uuid(params[name]):
            params[name] = value


@schema.parametrize()
def test_contract(case: Any, live_server: LiveServer) -> None:
    _aim_at_real_resources(case, live_server)
    headers = dict(case.headers or {})
    headers.setdefault("Authorization", f"Bearer {live_server.token}")
    case.call_and_validate(base_url=live_server.base_url, headers=headers)
