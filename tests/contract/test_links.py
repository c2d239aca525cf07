"""The spec's OpenAPI links: the main flow is chained, and schemathesis accepts every link.

The links let schemathesis' stateful phase act on resources a scenario created, where
independent cases mostly meet a 404. The stateful phase itself runs in ``just fuzz`` (in
``.ci/run``): its engine retries a scenario that a changed server state makes Hypothesis
unable to replay, which a pytest state machine against a live server cannot.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from codegen.generate import load_bundle
from tests.contract.conftest import LINK_BODY, ROOT, for_schemathesis, resolved

MAIN_FLOW = {
    ("create_team", "201"): {"get_team", "create_product", "list_products"},
    ("create_product", "201"): {
        "get_product",
        "update_product",
        "delete_product",
        "adjust_stock",
        "get_stock",
        "create_order",
    },
    ("adjust_stock", "201"): {"create_order"},
    ("create_order", "201"): {"get_order", "pay_order", "cancel_order"},
    ("pay_order", "200"): {"fulfill_order", "refund_order"},
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_bundle(ROOT / "openapi/openapi.yaml").document


def _operations(document: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """operationId -> (path item, operation)."""
    return {
        operation["operationId"]: (item, operation)
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def _links(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    return {
        (operation_id, status): response["links"]
        for operation_id, (_, operation) in _operations(document).items()
        for status, response in operation["responses"].items()
        if "links" in response
    }


def test_the_main_flow_is_linked(document: dict[str, Any]) -> None:
    targets = {
        source: {link["operationId"] for link in links.values()}
        for source, links in _links(document).items()
    }
    assert targets == MAIN_FLOW


def test_an_updated_or_deleted_product_carries_its_etag(document: dict[str, Any]) -> None:
    links = _links(document)["create_product", "201"]
    for name in ("UpdateProduct", "DeleteProduct"):
        assert links[name]["parameters"]["header.If-Match"] == "$response.header.ETag"


def test_an_order_line_gets_the_product(document: dict[str, Any]) -> None:
    for source, field in (
        (("create_product", "201"), "id"),
        (("adjust_stock", "201"), "product_id"),
    ):
        link = _links(document)[source]["CreateOrder"]
        assert "requestBody" not in link  # openapi-generator would reject the document
        body = link[LINK_BODY]
        assert body["lines"][0]["product_id"] == f"$response.body#/{field}"


def test_schemathesis_accepts_every_link(document: dict[str, Any]) -> None:
    # Unknown operations or malformed expressions fail here (InvalidStateMachine). A copy
    # (schemathesis writes the links it infers into the document it is given), with each
    # link's x-request-body as its requestBody, as `just fuzz` hands it over.
    machine = schemathesis.openapi.from_dict(for_schemathesis(document)).as_state_machine()
    rule_names = {name for name in dir(machine) if not name.startswith("_")}
    for (source, status), links in _links(document).items():
        for name in links:
            assert any(f"{status}_{name}_" in rule for rule in rule_names), (source, name)


def test_link_parameters_exist_and_expressions_name_response_fields(
    document: dict[str, Any],
) -> None:
    operations = _operations(document)
    for (source, status), links in _links(document).items():
        response = resolved(document, operations[source][1]["responses"][status])
        fields = resolved(document, response["content"]["application/json"]["schema"])["properties"]
        for name, link in links.items():
            item, target = operations[link["operationId"]]
            declared = {
                (parameter["in"], parameter["name"])
                for parameter in (
                    resolved(document, node)
                    for node in [*item.get("parameters", []), *target.get("parameters", [])]
                )
            }
            for key, expression in link.get("parameters", {}).items():
                where, _, parameter = key.partition(".")
                assert (where, parameter) in declared, (source, name, key)
                if expression.startswith("$response.body#/"):
                    assert expression.removeprefix("$response.body#/") in fields, (name, key)
