"""The breaking-change gate: one spec pair per rule, the signature report, and the CLI on git."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen.bundle import Bundle
from codegen.errors import unescape_pointer_token
from spectools.diff import diff_documents
from spectools.signatures import parse_api, signature_changes

ITEMS = "/paths/~1items"
ITEM = "/paths/~1items~1{item_id}"
SCHEMAS = "/components/schemas"
DELETE = object()


def _json(schema_ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def make_spec() -> dict[str, Any]:
    """A small valid document: a public list, a create with a body, a read with auth."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Items", "version": "1.2.0"},
        "paths": {
            "/items": {
                "get": {
                    "operationId": "list_items",
                    "tags": ["items"],
                    "security": [],
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "Names.",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": {"type": "string"}}
                                }
                            },
                        }
                    },
                },
                "post": {
                    "operationId": "create_item",
                    "tags": ["items"],
                    "security": [{"Bearer": []}],
                    "requestBody": {"required": True, "content": _json("ItemCreate")},
                    "responses": {"204": {"description": "Created."}},
                },
            },
            "/items/{item_id}": {
                "parameters": [
                    {
                        "name": "item_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "get": {
                    "operationId": "get_item",
                    "tags": ["items"],
                    "security": [{"Bearer": ["read"]}, {"Key": []}],
                    "responses": {
                        "200": {
                            "description": "The item.",
                            "headers": {"ETag": {"required": True, "schema": {"type": "string"}}},
                            "content": _json("Item"),
                        }
                    },
                },
            },
        },
        "components": {
            "securitySchemes": {
                "Bearer": {"type": "http", "scheme": "bearer"},
                "Key": {"type": "apiKey", "in": "header", "name": "X-Key"},
            },
            "schemas": {
                "Status": {"type": "string", "enum": ["draft", "active"]},
                "ItemCreate": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 100},
                        "note": {"type": "string"},
                        "price": {"type": "string", "pattern": "^[0-9]+$"},
                        "count": {"type": "integer", "minimum": 0, "maximum": 50},
                        "tags": {"type": "array", "maxItems": 10, "items": {"type": "string"}},
                        "status": {"$ref": "#/components/schemas/Status"},
                        "children": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/ItemCreate"},
                        },
                    },
                },
                "Item": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "name": {"type": "string"},
                        "status": {"$ref": "#/components/schemas/Status"},
                        "parent": {"$ref": "#/components/schemas/Item"},
                    },
                },
            },
        },
    }


def edit(document: dict[str, Any], pointer: str, value: Any) -> None:
    """Set (or with DELETE remove) the node at ``pointer``; ``/-`` appends to a list."""
    *parents, last = [unescape_pointer_token(t) for t in pointer.lstrip("/").split("/")]
    node: Any = document
    for token in parents:
        node = node[int(token)] if isinstance(node, list) else node[token]
    if isinstance(node, list):
        if last == "-":
            node.append(value)
        elif value is DELETE:
            del node[int(last)]
        else:
            node[int(last)] = value
    elif value is DELETE:
        del node[last]
    else:
        node[last] = value


Edits = list[tuple[str, Any]]
Found = list[tuple[str, str, bool, str]]


def classify(edits: Edits) -> Found:
    """(operationId, rule, breaking, pointer) of every change the edits make, in order."""
    base, head = make_spec(), make_spec()
    for pointer, value in edits:
        edit(head, pointer, value)
    return classify_pair(base, head)


def classify_pair(base: dict[str, Any], head: dict[str, Any]) -> Found:
    """(operationId, rule, breaking, pointer) of every change from ``base`` to ``head``."""
    diff = diff_documents(base, head)
    return [
        (op.operation_id, c.rule, c.breaking, c.pointer)
        for op in diff.operations
        for c in op.changes
    ]


def test_identical_documents_have_no_changes() -> None:
    assert classify([]) == []


def test_additive_changes_are_all_non_breaking() -> None:
    new_op = {
        "operationId": "delete_item",
        "tags": ["items"],
        "responses": {"204": {"description": "Deleted."}},
    }
    found = classify(
        [
            (
                f"{ITEMS}/get/parameters/-",
                {"name": "q", "in": "query", "schema": {"type": "string"}},
            ),
            (f"{ITEM}/delete", new_op),
            (f"{ITEM}/get/responses/404", {"description": "No such item."}),
            (f"{SCHEMAS}/ItemCreate/properties/color", {"type": "string"}),
            (f"{SCHEMAS}/Item/properties/color", {"type": "string"}),
            (f"{SCHEMAS}/ItemCreate/properties/name/maxLength", 200),
        ]
    )
    assert found == [
        ("list_items", "parameter-added", False, f"{ITEMS}/get/parameters/1"),
        (
            "create_item",
            "request-constraint-widened",
            False,
            f"{SCHEMAS}/ItemCreate/properties/name/maxLength",
        ),
        ("create_item", "request-property-added", False, f"{SCHEMAS}/ItemCreate/properties/color"),
        ("get_item", "response-property-added", False, f"{SCHEMAS}/Item/properties/color"),
        ("get_item", "response-status-added", False, f"{ITEM}/get/responses/404"),
        ("delete_item", "operation-added", False, f"{ITEM}/delete"),
    ]


CREATE = f"{SCHEMAS}/ItemCreate"
READ = f"{SCHEMAS}/Item"
GET_200 = f"{ITEM}/get/responses/200"
STATUS = {"$ref": "#/components/schemas/Status"}
REQUIRED_Q = {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}

# (edits of head, every change expected as (operationId, rule, breaking, pointer)), one per rule
RULE_CASES: dict[str, tuple[Edits, Found]] = {
    "path-removed": ([(ITEM, DELETE)], [("get_item", "path-removed", True, ITEM)]),
    "operation-removed": (
        [(f"{ITEMS}/post", DELETE)],
        [("create_item", "operation-removed", True, f"{ITEMS}/post")],
    ),
    "parameter-removed": (
        [(f"{ITEMS}/get/parameters", DELETE)],
        [("list_items", "parameter-removed", True, f"{ITEMS}/get/parameters/0")],
    ),
    "parameter-became-required": (
        [(f"{ITEMS}/get/parameters/0/required", True)],
        [("list_items", "parameter-became-required", True, f"{ITEMS}/get/parameters/0/required")],
    ),
    "parameter-added-required": (
        [(f"{ITEMS}/get/parameters/-", REQUIRED_Q)],
        [("list_items", "parameter-added-required", True, f"{ITEMS}/get/parameters/1")],
    ),
    "request-property-removed": (
        [(f"{CREATE}/properties/note", DELETE)],
        [("create_item", "request-property-removed", True, f"{CREATE}/properties/note")],
    ),
    "request-property-became-required": (
        [(f"{CREATE}/required/-", "note")],
        [("create_item", "request-property-became-required", True, f"{CREATE}/required")],
    ),
    "request-property-added-required": (
        [(f"{CREATE}/properties/sku", {"type": "string"}), (f"{CREATE}/required/-", "sku")],
        [("create_item", "request-property-added-required", True, f"{CREATE}/properties/sku")],
    ),
    "response-property-removed": (
        [(f"{READ}/properties/name", DELETE), (f"{READ}/required/1", DELETE)],
        [("get_item", "response-property-removed", True, f"{READ}/properties/name")],
    ),
    "response-property-became-optional": (
        [(f"{READ}/required/1", DELETE)],
        [("get_item", "response-property-became-optional", True, f"{READ}/required")],
    ),
    "response-became-nullable": (
        [(f"{READ}/properties/name/type", ["string", "null"])],
        [("get_item", "response-became-nullable", True, f"{READ}/properties/name/type")],
    ),
    "response-became-nullable-through-any-of": (
        [(f"{READ}/properties/status", {"anyOf": [STATUS, {"type": "null"}]})],
        [("get_item", "response-became-nullable", True, f"{READ}/properties/status")],
    ),
    "response-variant-added": (
        [(f"{READ}/properties/status", {"oneOf": [STATUS, {"type": "integer"}]})],
        [("get_item", "response-variant-added", True, f"{READ}/properties/status/oneOf/1")],
    ),
    "response-status-removed": (
        [(GET_200, DELETE), (f"{ITEM}/get/responses/204", {"description": "-"})],
        [
            ("get_item", "response-status-removed", True, GET_200),
            ("get_item", "response-status-added", False, f"{ITEM}/get/responses/204"),
        ],
    ),
    "response-media-type-removed": (
        [(f"{GET_200}/content", {"application/xml": {}})],
        [
            (
                "get_item",
                "response-media-type-removed",
                True,
                f"{GET_200}/content/application~1json",
            ),
            ("get_item", "response-media-type-added", False, f"{GET_200}/content/application~1xml"),
        ],
    ),
    "response-header-removed": (
        [(f"{GET_200}/headers/ETag", DELETE)],
        [("get_item", "response-header-removed", True, f"{GET_200}/headers/ETag")],
    ),
    "type-changed": (
        [(f"{CREATE}/properties/count/type", "string")],
        [("create_item", "type-changed", True, f"{CREATE}/properties/count/type")],
    ),
    "request-integer-to-number-is-widening": (
        [(f"{CREATE}/properties/count/type", "number")],
        [("create_item", "request-type-widened", False, f"{CREATE}/properties/count/type")],
    ),
    "format-changed": (
        [(f"{READ}/properties/id/format", "uri")],
        [("get_item", "format-changed", True, f"{READ}/properties/id/format")],
    ),
    "request-format-added": (
        [(f"{CREATE}/properties/note/format", "email")],
        [("create_item", "request-format-added", True, f"{CREATE}/properties/note/format")],
    ),
    "request-additional-properties-forbidden": (
        [(f"{CREATE}/additionalProperties", False)],
        [("create_item", "request-constraint-narrowed", True, f"{CREATE}/additionalProperties")],
    ),
    "operation-id-changed": (
        [(f"{ITEMS}/get/operationId", "list_all_items")],
        [("list_all_items", "operation-id-changed", True, f"{ITEMS}/get/operationId")],
    ),
    "public-operation-requires-auth": (
        [(f"{ITEMS}/get/security", [{"Bearer": []}])],
        [("list_items", "security-added", True, f"{ITEMS}/get/security")],
    ),
    "security-scheme-removed": (
        [(f"{ITEM}/get/security/1", DELETE)],
        [("get_item", "security-scheme-removed", True, f"{ITEM}/get/security")],
    ),
    "security-scopes-added": (
        [(f"{ITEMS}/post/security/0/Bearer", ["write"])],
        [("create_item", "security-scopes-added", True, f"{ITEMS}/post/security")],
    ),
    "security-scopes-removed-is-relaxed": (
        [(f"{ITEM}/get/security/0/Bearer", [])],
        [("get_item", "security-relaxed", False, f"{ITEM}/get/security")],
    ),
    "operation-made-public": (
        [(f"{ITEMS}/post/security", [])],
        [("create_item", "security-removed", False, f"{ITEMS}/post/security")],
    ),
}


@pytest.mark.parametrize(("edits", "expected"), RULE_CASES.values(), ids=RULE_CASES.keys())
def test_rule(edits: Edits, expected: Found) -> None:
    assert classify(edits) == expected


NAME = f"{SCHEMAS}/ItemCreate/properties/name"
PRICE = f"{SCHEMAS}/ItemCreate/properties/price"
COUNT = f"{SCHEMAS}/ItemCreate/properties/count"
TAGS = f"{SCHEMAS}/ItemCreate/properties/tags"


@pytest.mark.parametrize(
    ("pointer", "value", "rule", "reported_at"),
    [
        (f"{NAME}/maxLength", 50, "request-constraint-narrowed", f"{NAME}/maxLength"),
        (f"{NAME}/minLength", 3, "request-constraint-narrowed", f"{NAME}/minLength"),
        (f"{COUNT}/maximum", 10, "request-constraint-narrowed", f"{COUNT}/maximum"),
        (f"{COUNT}/minimum", 1, "request-constraint-narrowed", f"{COUNT}/minimum"),
        (f"{TAGS}/maxItems", 5, "request-constraint-narrowed", f"{TAGS}/maxItems"),
        (f"{TAGS}/items/maxLength", 20, "request-constraint-narrowed", f"{TAGS}/items/maxLength"),
        (f"{NAME}/pattern", "^[a-z]+$", "request-constraint-narrowed", f"{NAME}/pattern"),
        (f"{PRICE}/pattern", "^[0-9]{1,5}$", "constraint-changed", f"{PRICE}/pattern"),
        (
            f"{SCHEMAS}/Status/enum",
            ["draft"],
            "request-enum-value-removed",
            f"{SCHEMAS}/Status/enum",
        ),
    ],
)
def test_narrowed_request_constraint_breaks(
    pointer: str, value: Any, rule: str, reported_at: str
) -> None:
    found = classify([(pointer, value)])
    # The enum is shared with the response of get_item, where a removed value breaks nothing.
    assert found[0] == ("create_item", rule, True, reported_at)
    assert all(not breaking for _, _, breaking, _ in found[1:])


def test_widened_request_constraint_does_not_break() -> None:
    assert classify([(f"{COUNT}/maximum", 500), (f"{PRICE}/pattern", DELETE)]) == [
        ("create_item", "request-constraint-widened", False, PRICE),
        ("create_item", "request-constraint-widened", False, f"{COUNT}/maximum"),
    ]


def test_a_shared_component_is_reported_under_each_operation_with_its_pointer() -> None:
    found = classify([(f"{SCHEMAS}/Status/enum/-", "archived")])
    enum = f"{SCHEMAS}/Status/enum"
    assert found == [
        ("create_item", "request-enum-value-added", False, enum),
        ("get_item", "response-enum-value-added", True, enum),
    ]


def test_recursive_schemas_are_compared_once_per_change() -> None:
    found = classify([(f"{SCHEMAS}/ItemCreate/properties/note/maxLength", 10)])
    note = f"{SCHEMAS}/ItemCreate/properties/note/maxLength"
    assert found == [("create_item", "request-constraint-narrowed", True, note)]


def test_read_only_properties_are_not_part_of_requests() -> None:
    assert classify([(f"{SCHEMAS}/ItemCreate/properties/note/readOnly", True)]) == [
        ("create_item", "request-property-removed", True, f"{SCHEMAS}/ItemCreate/properties/note")
    ]


def test_moving_properties_into_all_of_changes_nothing() -> None:
    base = make_spec()
    head = copy.deepcopy(base)
    item = head["components"]["schemas"]["Item"]
    head["components"]["schemas"]["Named"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": item["properties"].pop("name")},
    }
    item["required"].remove("name")
    head["components"]["schemas"]["Item"] = {
        "allOf": [{"$ref": "#/components/schemas/Named"}, item]
    }
    assert diff_documents(base, head).operations == ()


# -- generated handler signatures -----------------------------------------------------


def test_signature_changes_name_the_generated_methods() -> None:
    base, head = make_spec(), make_spec()
    edit(head, f"{ITEMS}/get/parameters/0/required", True)
    edit(head, f"{ITEMS}/post/operationId", "add_item")
    edit(head, f"{ITEM}/get/responses/404", {"description": "No such item."})
    found = signature_changes(
        parse_api(Bundle(base, Path("base.yaml"))), parse_api(Bundle(head, Path("head.yaml")))
    )
    assert [str(change) for change in found] == [
        "`ItemsApi.list_items` (src/generated/interfaces/items.py): "
        "parameter `limit` became required",
        "`ItemsApi.add_item` (src/generated/interfaces/items.py): "
        "renamed from `ItemsApi.create_item`; returns `r.AddItem204` (was `r.CreateItem204`)",
        "`ItemsApi.get_item` (src/generated/interfaces/items.py): "
        "returns `r.GetItem200 | r.GetItem404` (was `r.GetItem200`)",
    ]


# -- the command line, on a real git repository ---------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def _write_spec(repo: Path, document: dict[str, Any]) -> None:
    """Split like the real contract: the root references a schema file by name."""
    document = copy.deepcopy(document)
    schemas = document["components"]["schemas"]
    properties = schemas["Item"]["properties"]
    properties["parent"] = {"$ref": "#"}  # the file itself, registered as Item
    properties["status"] = {"$ref": "../openapi.yaml#/components/schemas/Status"}
    folder = repo / "openapi" / "schemas"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "item.yaml").write_text(yaml.safe_dump(schemas["Item"]), encoding="utf-8")
    schemas["Item"] = {"$ref": "./schemas/item.yaml"}
    (repo / "openapi" / "openapi.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")


def _gate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spectools.breaking", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose ``main`` holds the spec, checked out on a feature branch."""
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "config", "user.email", "test@example.com")
    _git(tmp_path, "config", "user.name", "Test")
    _write_spec(tmp_path, make_spec())
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "spec")
    _git(tmp_path, "checkout", "-q", "-b", "feature")
    return tmp_path


def _break_item(repo: Path, version: str) -> None:
    head = make_spec()
    head["info"]["version"] = version
    head["components"]["schemas"]["Item"]["required"].remove("name")
    head["paths"]["/items"]["get"]["parameters"][0]["required"] = True
    _write_spec(repo, head)


def test_cli_without_changes_passes(repo: Path) -> None:
    done = _gate(repo)
    assert done.returncode == 0, done.stderr
    assert "merge base with `main`" in done.stdout
    assert "No changes to the operations of the contract." in done.stdout


def test_cli_fails_on_a_breaking_change_and_writes_markdown(repo: Path) -> None:
    _git(repo, "commit", "-q", "--allow-empty", "-m", "later on the branch")
    _break_item(repo, "1.3.0")
    done = _gate(repo, "--markdown-out", "build/breaking.md")
    assert done.returncode == 1, done.stderr
    assert (repo / "build" / "breaking.md").read_text(encoding="utf-8") == done.stdout
    assert "### `get_item` `GET /items/{item_id}`\n\n" in done.stdout
    assert (
        "- **breaking**: response `200` (`application/json`) property `name` became optional "
        "(`/components/schemas/Item/required`)\n"
    ) in done.stdout
    assert (
        "### Generated handler methods that change\n\n"
        "- `ItemsApi.list_items` (src/generated/interfaces/items.py): "
        "parameter `limit` became required\n"
    ) in done.stdout
    assert "Gate: **fails**: 2 breaking change(s)" in done.stdout


def test_cli_allows_breaking_changes_with_a_major_bump(repo: Path) -> None:
    _break_item(repo, "2.0.0")
    done = _gate(repo)
    assert done.returncode == 0, done.stderr
    assert "- **breaking**: response `200`" in done.stdout
    assert "breaking changes allowed: `info.version`'s major was bumped (1.2.0 → 2.0.0)" in (
        done.stdout
    )


def test_cli_compares_with_an_explicit_base(repo: Path) -> None:
    _break_item(repo, "1.3.0")
    _git(repo, "commit", "-q", "-am", "break it")
    assert _gate(repo).returncode == 1
    assert _gate(repo, "--base", "HEAD").returncode == 0


def test_cli_rejects_an_unknown_ref(repo: Path) -> None:
    done = _gate(repo, "--base", "no-such-ref")
    assert done.returncode == 2
    assert "unknown git ref 'no-such-ref'" in done.stderr


def test_cli_rejects_an_invalid_spec(repo: Path) -> None:
    (repo / "openapi" / "schemas" / "item.yaml").write_text("type: 12\n", encoding="utf-8")
    done = _gate(repo)
    assert done.returncode == 2
    assert "the spec at the working tree is invalid" in done.stderr
    assert "openapi/schemas/item.yaml" in done.stderr


def test_cli_needs_a_base_when_there_is_no_main(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "trunk")
    _write_spec(tmp_path, make_spec())
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "s")
    done = _gate(tmp_path)
    assert done.returncode == 2
    assert "no merge base between HEAD and 'main'; pass --base REF" in done.stderr


def test_cli_rejects_a_base_without_the_spec(repo: Path) -> None:
    commit = _git(
        repo, "commit-tree", _git(repo, "hash-object", "-t", "tree", "/dev/null"), "-m", "e"
    )
    done = _gate(repo, "--base", commit)
    assert done.returncode == 2
    assert f"cannot read openapi/ at {commit[:10]}" in done.stderr


# -- `$ref` siblings: specfirst.document's rule -------------------------------------------------

CODE = {"$ref": "#/components/schemas/Code"}


def _with_code(version: str = "3.1.0") -> dict[str, Any]:
    """The spec, with a `code` property of ItemCreate that is a `$ref` to `Code`."""
    spec = make_spec()
    spec["openapi"] = version
    edit(spec, f"{SCHEMAS}/Code", {"type": "string", "maxLength": 10})
    edit(spec, f"{CREATE}/properties/code", dict(CODE))
    return spec


@pytest.mark.parametrize(
    ("sibling", "found"),
    [
        # Stricter than Code's own 10: what a client may send narrows.
        (
            5,
            [
                (
                    "create_item",
                    "request-constraint-narrowed",
                    True,
                    f"{CREATE}/properties/code/maxLength",
                )
            ],
        ),
        # Looser: Code's 10 still holds (allOf), nothing a client sees changes.
        (20, []),
    ],
)
def test_a_schema_sibling_is_the_schema_change_it_makes(sibling: int, found: Found) -> None:
    base, head = _with_code(), _with_code()
    edit(head, f"{CREATE}/properties/code", {**CODE, "maxLength": sibling})
    assert classify_pair(base, head) == found
    if found:
        message = diff_documents(base, head).changes[0].message
        assert "maxLength lowered from `10` to `5`" in message


def test_a_properties_sibling_adds_to_the_targets_properties() -> None:
    base, head = make_spec(), make_spec()
    schema = f"{GET_200}/content/application~1json/schema"
    edit(
        head,
        schema,
        {"$ref": "#/components/schemas/Item", "properties": {"color": {"type": "string"}}},
    )
    assert classify_pair(base, head) == [
        ("get_item", "response-property-added", False, f"{schema}/properties/color")
    ]


def test_a_reference_objects_other_siblings_are_ignored() -> None:
    base, head = make_spec(), make_spec()
    limit = base["paths"]["/items"]["get"]["parameters"][0]
    head["components"]["parameters"] = {"Limit": copy.deepcopy(limit)}
    reference = {
        "$ref": "#/components/parameters/Limit",
        "description": "Page size.",
        "required": True,
    }
    edit(head, f"{ITEMS}/get/parameters/0", reference)
    assert classify_pair(base, head) == []


def test_in_3_0_schema_siblings_are_ignored() -> None:
    base, head = _with_code("3.0.3"), _with_code("3.0.3")
    edit(head, f"{CREATE}/properties/code", {**CODE, "maxLength": 5})
    assert classify_pair(base, head) == []
