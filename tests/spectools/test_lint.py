"""spectools.lint: each rule on a small multi-file spec, located in the file a reviewer edits."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from spectools.lint import ERROR, RULES, WARNING, Finding, lint

ROOT = Path(__file__).resolve().parents[2]

ROOT_YAML = """\
openapi: 3.1.0
info:
  title: Widgets
  version: 1.0.0
security:
  - Bearer: []
tags:
  - name: widgets
paths:
  /v1/widgets:
    $ref: "./paths/widgets.yaml#/widgets"
  /v1/widgets/{widget_id}:
    $ref: "./paths/widgets.yaml#/widget"
components:
  securitySchemes:
    Bearer:
      type: http
      scheme: bearer
  schemas:
    Widget:
      $ref: "./components.yaml#/schemas/Widget"
    WidgetCreate:
      $ref: "./components.yaml#/schemas/WidgetCreate"
    WidgetPage:
      $ref: "./components.yaml#/schemas/WidgetPage"
    Problem:
      $ref: "./components.yaml#/schemas/Problem"
  parameters:
    WidgetId:
      $ref: "./components.yaml#/parameters/WidgetId"
    Limit:
      $ref: "./components.yaml#/parameters/Limit"
    Cursor:
      $ref: "./components.yaml#/parameters/Cursor"
  responses:
    BadRequest:
      $ref: "./components.yaml#/responses/BadRequest"
    Unauthorized:
      $ref: "./components.yaml#/responses/Unauthorized"
    NotFound:
      $ref: "./components.yaml#/responses/NotFound"
    UnprocessableContent:
      $ref: "./components.yaml#/responses/UnprocessableContent"
    PayloadTooLarge:
      $ref: "./components.yaml#/responses/PayloadTooLarge"
    ServiceUnavailable:
      $ref: "./components.yaml#/responses/ServiceUnavailable"
"""

PATHS_YAML = """\
widgets:
  get:
    operationId: list_widgets
    tags:
      - widgets
    summary: List widgets
    parameters:
      - $ref: "../components.yaml#/parameters/Limit"
      - $ref: "../components.yaml#/parameters/Cursor"
    responses:
      "200":
        description: One page of widgets.
        content:
          application/json:
            schema:
              $ref: "../components.yaml#/schemas/WidgetPage"
            examples:
              page:
                value:
                  items:
                    - id: 0192f4a3-5d6e-7f80-a1b2-c3d4e5f60718
                      name: Gear
                      created_at: "2024-11-05T09:40:00Z"
                  next_cursor: null
      "400":
        $ref: "../components.yaml#/responses/BadRequest"
      "401":
        $ref: "../components.yaml#/responses/Unauthorized"
      "422":
        $ref: "../components.yaml#/responses/UnprocessableContent"
      "503":
        $ref: "../components.yaml#/responses/ServiceUnavailable"
  post:
    operationId: create_widget
    tags:
      - widgets
    summary: Create a widget
    requestBody:
      required: true
      content:
        application/json:
          schema:
            $ref: "../components.yaml#/schemas/WidgetCreate"
          examples:
            new_widget:
              value:
                name: Gear
    responses:
      "201":
        description: The widget was created.
        content:
          application/json:
            schema:
              $ref: "../components.yaml#/schemas/Widget"
            examples:
              created:
                value:
                  id: 0192f4a3-5d6e-7f80-a1b2-c3d4e5f60718
                  name: Gear
                  created_at: "2024-11-05T09:40:00Z"
      "400":
        $ref: "../components.yaml#/responses/BadRequest"
      "401":
        $ref: "../components.yaml#/responses/Unauthorized"
      "413":
        $ref: "../components.yaml#/responses/PayloadTooLarge"
      "422":
        $ref: "../components.yaml#/responses/UnprocessableContent"
      "503":
        $ref: "../components.yaml#/responses/ServiceUnavailable"
widget:
  parameters:
    - $ref: "../components.yaml#/parameters/WidgetId"
  get:
    operationId: get_widget
    tags:
      - widgets
    summary: Get a widget
    responses:
      "200":
        description: The widget.
        content:
          application/json:
            schema:
              $ref: "../components.yaml#/schemas/Widget"
            examples:
              widget:
                value:
                  id: 0192f4a3-5d6e-7f80-a1b2-c3d4e5f60718
                  name: Gear
                  created_at: "2024-11-05T09:40:00Z"
      "401":
        $ref: "../components.yaml#/responses/Unauthorized"
      "404":
        $ref: "../components.yaml#/responses/NotFound"
      "422":
        $ref: "../components.yaml#/responses/UnprocessableContent"
      "503":
        $ref: "../components.yaml#/responses/ServiceUnavailable"
"""

COMPONENTS_YAML = """\
schemas:
  Widget:
    type: object
    required:
      - id
      - name
      - created_at
    properties:
      id:
        type: string
        format: uuid
      name:
        type: string
        minLength: 1
      created_at:
        type: string
        format: date-time
  WidgetCreate:
    type: object
    required:
      - name
    properties:
      name:
        type: string
        minLength: 1
  WidgetPage:
    type: object
    required:
      - items
      - next_cursor
    properties:
      items:
        type: array
        items:
          $ref: "#/schemas/Widget"
      next_cursor:
        type:
          - string
          - "null"
  Problem:
    type: object
    properties:
      title:
        type: string
      status:
        type: integer
parameters:
  WidgetId:
    name: widget_id
    in: path
    required: true
    schema:
      type: string
      format: uuid
  Limit:
    name: limit
    in: query
    schema:
      type: integer
      minimum: 1
      maximum: 100
      default: 20
  Cursor:
    name: cursor
    in: query
    schema:
      type: string
responses:
  BadRequest:
    description: The request could not be read.
    content:
      application/problem+json:
        schema:
          $ref: "#/schemas/Problem"
  Unauthorized:
    description: No valid token.
    content:
      application/problem+json:
        schema:
          $ref: "#/schemas/Problem"
  NotFound:
    description: No such widget.
    content:
      application/problem+json:
        schema:
          $ref: "#/schemas/Problem"
  UnprocessableContent:
    description: The request failed validation.
    content:
      application/problem+json:
        schema:
          $ref: "#/schemas/Problem"
  PayloadTooLarge:
    description: The request body is too large.
    content:
      application/problem+json:
        schema:
          $ref: "#/schemas/Problem"
  ServiceUnavailable:
    description: The request missed the server's deadline.
    content:
      application/problem+json:
        schema:
          $ref: "#/schemas/Problem"
"""

ROOT_FILE = "openapi.yaml"
PATHS = "paths/widgets.yaml"
COMPONENTS = "components.yaml"


class Spec:
    """The clean widgets spec in a folder, edited per test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        for name, text in (
            (ROOT_FILE, ROOT_YAML),
            (PATHS, PATHS_YAML),
            (COMPONENTS, COMPONENTS_YAML),
        ):
            (self.folder / name).parent.mkdir(parents=True, exist_ok=True)
            (self.folder / name).write_text(text, encoding="utf-8")

    @property
    def root(self) -> Path:
        return self.folder / ROOT_FILE

    def edit(self, name: str, old: str, new: str, occurrence: int = 1) -> None:
        """Replace the ``occurrence``-th ``old`` in file ``name``."""
        path = self.folder / name
        parts = path.read_text(encoding="utf-8").split(old)
        assert len(parts) > occurrence, f"{old!r} is not in {name} {occurrence} time(s)"
        text = old.join(parts[:occurrence]) + new + old.join(parts[occurrence:])
        path.write_text(text, encoding="utf-8")

    def line(self, name: str, needle: str, occurrence: int = 1, *, whole: bool = False) -> int:
        """1-based line of the ``occurrence``-th line of ``name`` that contains ``needle``.

        With ``whole``, the line must be exactly ``needle``.
        """
        lines = (self.folder / name).read_text(encoding="utf-8").splitlines()
        hits = [
            i + 1 for i, text in enumerate(lines) if (text == needle if whole else needle in text)
        ]
        return hits[occurrence - 1]

    def findings(self) -> list[Finding]:
        return lint(self.root)

    def only(self, code: str) -> Finding:
        """The one finding of the spec, which must have ``code``."""
        findings = self.findings()
        assert [f.code for f in findings] == [code], "\n".join(map(str, findings))
        return findings[0]

    def assert_at(self, finding: Finding, name: str, line: int) -> None:
        assert finding.location is not None
        assert Path(finding.location.file) == self.folder / name, str(finding)
        assert finding.location.line == line, str(finding)


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    return Spec(tmp_path)


def test_the_clean_spec_has_no_findings(spec: Spec) -> None:
    assert spec.findings() == []


def test_every_rule_has_a_known_severity_and_a_fix() -> None:
    assert {rule.severity for rule in RULES.values()} == {ERROR, WARNING}
    assert all(code == rule.code and rule.fix.endswith(".") for code, rule in RULES.items())


def test_finding_text_names_file_line_code_and_fix(spec: Spec) -> None:
    spec.edit(PATHS, "    summary: Get a widget\n", "")
    finding = spec.only("operation-summary")
    assert str(finding) == (
        f"{spec.folder / PATHS}:{spec.line(PATHS, '  get:', 2)}: error[operation-summary]: "
        "get_widget has no summary. Fix: add a one-line summary."
    )


# -- one rule, one finding ----------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    file: str
    old: str
    new: str
    occurrence: int = 1


@dataclass(frozen=True)
class Case:
    """Edits that break exactly one rule, and where the finding must point."""

    code: str
    edits: tuple[Edit, ...]
    file: str
    needle: str
    says: str
    occurrence: int = 1
    severity: str = ERROR
    whole: bool = False


_ZONE = """\
    properties:
      zone:
        type: string
        enum:
          - UTC
          - price
          - -price
          - GMT+0
          - GMT0
      name:
"""
_LINK = """\
description: The widget was created.
        links:
          GetWidget:
            operationId: get_widget
            parameters:
              path.widget_id: $response.body#/id
            requestBody: {body}
"""

CASES = [
    Case(
        "operation-id-missing",
        (Edit(PATHS, "    operationId: create_widget\n", ""),),
        PATHS,
        "  post:",
        "POST /v1/widgets has no operationId",
    ),
    Case(
        "operation-id-snake-case",
        (Edit(PATHS, "operationId: list_widgets", "operationId: listWidgets"),),
        PATHS,
        "listWidgets",
        "rename it to 'list_widgets'",
    ),
    Case(
        "operation-id-unique",
        (Edit(PATHS, "operationId: get_widget", "operationId: list_widgets"),),
        PATHS,
        "operationId: list_widgets",
        "also used by GET /v1/widgets",
        occurrence=2,
    ),
    Case(
        "operation-tags",
        (
            Edit(
                PATHS,
                "      - widgets\n    summary: Get",
                "      - widgets\n      - x\n    summary: Get",
            ),
        ),
        PATHS,
        "  get:",
        "get_widget has 2 tags",
        occurrence=2,
    ),
    Case(
        "operation-security",
        (
            Edit(ROOT_FILE, "security:\n  - Bearer: []\n", ""),
            Edit(
                PATHS,
                "    summary: List widgets\n",
                "    summary: List widgets\n    security: []\n",
            ),
            Edit(
                PATHS,
                "    summary: Get a widget\n",
                "    summary: Get a widget\n    security:\n      - Bearer: []\n",
            ),
        ),
        PATHS,
        "  post:",
        "create_widget declares no security",
    ),
    Case(
        "error-response-ref",
        (
            Edit(
                PATHS,
                '      "404":\n',
                '      "409":\n        description: A conflict.\n        content:\n'
                "          application/problem+json:\n            schema:\n"
                '              $ref: "../components.yaml#/schemas/Problem"\n      "404":\n',
            ),
        ),
        PATHS,
        '"409":',
        "get_widget describes its 409 response inline",
    ),
    *(
        Case(
            f"error-response-{status}",
            (Edit(PATHS, f'      "{status}":\n', "      x-removed:\n", occurrence),),
            PATHS,
            "    responses:",
            f"get_widget {reason} but does not document {status}",
            occurrence=3,
        )
        for status, occurrence, reason in (
            ("401", 3, "requires a token"),
            ("404", 1, "has path parameters"),
            ("422", 3, "takes input that can fail validation"),
        )
    ),
    Case(
        "error-response-400",
        (Edit(PATHS, '      "400":\n', "      x-removed:\n"),),
        PATHS,
        "    responses:",
        "list_widgets takes a cursor that can be malformed",
    ),
    Case(
        "error-response-413",
        (Edit(PATHS, '      "413":\n', "      x-removed:\n"),),
        PATHS,
        "    responses:",
        "create_widget reads a body that can be too large but does not document 413",
        occurrence=2,
    ),
    Case(
        "error-response-503",
        (Edit(PATHS, '      "503":\n', "      x-removed:\n", 3),),
        PATHS,
        "    responses:",
        "get_widget can miss the server's deadline but does not document 503",
        occurrence=3,
    ),
    Case(
        "rate-limit-valid",
        (
            Edit(
                PATHS,
                "    summary: Get a widget\n",
                "    summary: Get a widget\n    x-rate-limit: {limit: 0, window: 60, key: ip}\n",
            ),
        ),
        PATHS,
        "    x-rate-limit:",
        "limit and window must be positive integers",
    ),
    Case(
        "rate-limit-429",
        (
            Edit(
                PATHS,
                '      "503":\n',
                '      "429":\n        $ref: "../components.yaml#/responses/NotFound"\n'
                '      "503":\n',
                3,
            ),
        ),
        PATHS,
        "    responses:",
        "get_widget is not rate limited but does document 429",
        occurrence=3,
    ),
    Case(
        "error-response-conditional",
        (
            Edit(
                PATHS,
                "    summary: Get a widget\n",
                "    summary: Get a widget\n    parameters:\n      - name: If-Match\n"
                "        in: header\n        schema:\n          type: string\n",
            ),
        ),
        PATHS,
        "    responses:",
        "takes If-Match but does not document both 412 and 428",
        occurrence=3,
    ),
    Case(
        "error-media-type",
        (
            Edit(
                COMPONENTS,
                "widget.\n    content:\n      application/problem+json:",
                "widget.\n    content:\n      application/json:",
            ),
        ),
        COMPONENTS,
        "application/json:",
        "the 404 response of get_widget is application/json",
    ),
    Case(
        "pagination-limit",
        (Edit(COMPONENTS, "maximum: 100", "maximum: 500"),),
        COMPONENTS,
        "  Limit:",
        "list_widgets lists a collection but has no `limit`",
    ),
    Case(
        "pagination-cursor",
        (
            Edit(PATHS, '      - $ref: "../components.yaml#/parameters/Cursor"\n', ""),
            Edit(
                ROOT_FILE, '    Cursor:\n      $ref: "./components.yaml#/parameters/Cursor"\n', ""
            ),
        ),
        PATHS,
        "    parameters:",
        "no string `cursor` query parameter",
    ),
    Case(
        "pagination-page",
        (
            Edit(
                COMPONENTS,
                '        type:\n          - string\n          - "null"\n',
                "        type: string\n",
            ),
            Edit(PATHS, "next_cursor: null", "next_cursor: abc"),
        ),
        COMPONENTS,
        "  WidgetPage:",
        "`next_cursor` that is not a nullable string",
    ),
    # Not page-shaped at all: still a list, because /v1/widgets/{widget_id} exists.
    Case(
        "pagination-page",
        (
            Edit(
                PATHS,
                '              $ref: "../components.yaml#/schemas/WidgetPage"',
                "              type: array\n              items:\n"
                '                $ref: "../components.yaml#/schemas/Widget"',
            ),
            Edit(PATHS, "                  next_cursor: null\n", ""),
            Edit(
                PATHS,
                "                value:\n                  items:\n",
                "                value:\n",
            ),
            Edit(
                ROOT_FILE,
                '    WidgetPage:\n      $ref: "./components.yaml#/schemas/WidgetPage"\n',
                "",
            ),
        ),
        PATHS,
        "schema:",
        "its 200 body has no `items` array",
    ),
    Case(
        "path-version",
        (Edit(ROOT_FILE, "  /v1/widgets:\n", "  /widgets:\n"),),
        PATHS,
        "widgets:",
        "/widgets is not under a version prefix",
        whole=True,
    ),
    Case(
        "path-kebab-case",
        (Edit(ROOT_FILE, "/v1/widgets:", "/v1/widget_list:"),),
        PATHS,
        "widgets:",
        "segment 'widget_list' of /v1/widget_list is not kebab-case",
        whole=True,
    ),
    Case(
        "path-param-snake-case",
        (
            Edit(ROOT_FILE, "{widget_id}", "{widgetId}"),
            Edit(COMPONENTS, "name: widget_id", "name: widgetId"),
        ),
        PATHS,
        "widget:",
        "path parameter {widgetId} of /v1/widgets/{widgetId}",
        whole=True,
    ),
    Case(
        "path-plural",
        (Edit(ROOT_FILE, "/v1/widgets/{widget_id}", "/v1/widget/{widget_id}"),),
        PATHS,
        "widget:",
        "collection 'widget' of /v1/widget/{widget_id} is not a plural noun",
        severity=WARNING,
        whole=True,
    ),
    Case(
        "property-snake-case",
        (
            Edit(
                COMPONENTS,
                "      name:\n        type: string\n",
                "      displayName:\n        type: string\n",
            ),
        ),
        COMPONENTS,
        "displayName:",
        "rename it to 'display_name'",
    ),
    *(
        Case(
            "timestamp-naming",
            (
                Edit(
                    COMPONENTS,
                    "      - name\n    properties:\n",
                    f"      - name\n    properties:\n{prop}",
                ),
            ),
            COMPONENTS,
            needle,
            says,
        )
        for prop, needle, says in (
            (
                "      due:\n        type: string\n        format: date-time\n",
                "due:",
                "'due' is a date-time but its name does not end in `_at`",
            ),
            (
                "      archived_at:\n        type: string\n",
                "archived_at:",
                "'archived_at' is named like a time",
            ),
        )
    ),
    Case(
        "inline-schema",
        (
            Edit(
                PATHS,
                '            $ref: "../components.yaml#/schemas/WidgetCreate"\n',
                "            type: object\n            properties:\n              name:\n"
                "                type: string\n",
            ),
            Edit(
                ROOT_FILE,
                '    WidgetCreate:\n      $ref: "./components.yaml#/schemas/WidgetCreate"\n',
                "",
            ),
            Edit(COMPONENTS, "  WidgetCreate:\n", "  Unregistered:\n"),
        ),
        PATHS,
        "          schema:",
        "the request body of create_widget has an inline anonymous object schema",
        occurrence=2,
    ),
    Case(
        "example-valid",
        (Edit(PATHS, "value:\n                name: Gear\n", "value:\n                name: 5\n"),),
        PATHS,
        "new_widget:",
        "example 'new_widget' does not match its schema: at /name: 5 is not of type",
    ),
    # Through the page's $ref to Widget, with formats asserted.
    Case(
        "example-valid",
        (Edit(PATHS, "- id: 0192f4a3-5d6e-7f80-a1b2-c3d4e5f60718\n", "- id: not-a-uuid\n"),),
        PATHS,
        "              page:",
        'example \'page\' does not match its schema: at /items/0/id: "not-a-uuid" is not a "uuid"',
    ),
    Case(
        "example-valid",
        (
            Edit(
                COMPONENTS,
                "        minLength: 1\n",
                "        minLength: 1\n        examples:\n          - Gear\n          - ''\n",
            ),
        ),
        COMPONENTS,
        "          - ''",
        "the example does not match its schema",
    ),
    Case(
        "example-missing",
        (
            Edit(
                PATHS,
                "            examples:\n              widget:\n",
                "            x-examples:\n              widget:\n",
            ),
        ),
        PATHS,
        "application/json:",
        "the 200 response body of get_widget has no example",
        occurrence=4,
        severity=WARNING,
    ),
    # `-price` next to `price` is fine (generators name it positionally or number it).
    Case(
        "boolean-schema",
        (
            Edit(
                COMPONENTS,
                "    properties:\n      name:\n",
                "    properties:\n      tags:\n        type: array\n        items: true\n"
                "        description: Anything.\n      name:\n",
            ),
        ),
        COMPONENTS,
        "        items: true",
        "the boolean schema `true` stops openapi-python-client",
    ),
    Case(
        "enum-name-collision",
        (Edit(COMPONENTS, "    properties:\n      name:\n", _ZONE),),
        COMPONENTS,
        "          - GMT0",
        "enum values 'GMT+0' and 'GMT0' become the same identifier ('gmt0')",
    ),
    Case(
        "enum-name-collision",
        (
            Edit(COMPONENTS, "    properties:\n      name:\n", _ZONE),
            Edit(
                COMPONENTS, "          - GMT0\n", "          - GMT0\n        x-enum-varnames: [A]\n"
            ),
        ),
        COMPONENTS,
        "x-enum-varnames",
        "x-enum-varnames must list one name per `enum` value (5)",
    ),
    Case(
        "enum-name-collision",
        (
            Edit(COMPONENTS, "    properties:\n      name:\n", _ZONE),
            Edit(
                COMPONENTS,
                "          - GMT0\n",
                "          - GMT0\n"
                "        x-enum-varnames: [UTC, PRICE, MINUS_PRICE, GMT_0, GMT0]\n",
            ),
        ),
        COMPONENTS,
        "x-enum-varnames",
        "member names 'GMT_0' and 'GMT0' become the same identifier",
    ),
    Case(
        "link-request-body",
        (Edit(PATHS, "description: The widget was created.\n", _LINK.format(body="{name: Gear}")),),
        PATHS,
        "requestBody: {name: Gear}",
        "link GetWidget of create_widget's 201 response has a dict `requestBody`",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{case.code}" for i, case in enumerate(CASES)])
def test_rule(spec: Spec, case: Case) -> None:
    for edit in case.edits:
        spec.edit(edit.file, edit.old, edit.new, edit.occurrence)
    finding = spec.only(case.code)
    assert finding.severity == case.severity
    assert case.says in f"{finding.message} {finding.fix}"
    spec.assert_at(
        finding, case.file, spec.line(case.file, case.needle, case.occurrence, whole=case.whole)
    )


def test_a_rate_limited_operation_documents_429_and_the_header_fields(spec: Spec) -> None:
    spec.edit(
        PATHS,
        "    summary: Get a widget\n",
        "    summary: Get a widget\n    x-rate-limit: {limit: 5, window: 60, key: ip}\n",
    )
    findings = spec.findings()
    assert [f.code for f in findings][:1] == ["rate-limit-429"], "\n".join(map(str, findings))
    assert "get_widget is rate limited but does not document 429" in findings[0].message
    # Each of its responses lacks RateLimit-Policy and RateLimit.
    headers = [f for f in findings if f.code == "rate-limit-headers"]
    assert len(headers) == len(findings) - 1 >= 4
    assert all("RateLimit-Policy and RateLimit" in f.message for f in headers)


# -- components ---------------------------------------------------------------------------------


ORPHANS = (
    "  Orphan:\n    type: object\n    properties:\n      lonely:\n"
    '        $ref: "#/schemas/Lonely"\n  Lonely:\n    type: string\n'
)
ORPHANS_ROOT = (
    '    Orphan:\n      $ref: "./components.yaml#/schemas/Orphan"\n'
    '    Lonely:\n      $ref: "./components.yaml#/schemas/Lonely"\n'
)


def test_unused_components_are_warnings(spec: Spec) -> None:
    spec.edit(COMPONENTS, "parameters:\n", ORPHANS + "parameters:\n")
    spec.edit(ROOT_FILE, "  parameters:\n", ORPHANS_ROOT + "  parameters:\n")
    findings = spec.findings()
    assert [(f.code, f.severity) for f in findings] == [("unused-component", WARNING)] * 2
    spec.assert_at(findings[0], COMPONENTS, spec.line(COMPONENTS, "  Orphan:"))
    spec.assert_at(findings[1], COMPONENTS, spec.line(COMPONENTS, "  Lonely:"))


def test_a_waived_component_keeps_what_it_references(spec: Spec) -> None:
    waived = ORPHANS.replace(
        "  Orphan:\n",
        "  Orphan:\n    x-lint-ignore:\n      - rule: unused-component\n"
        "        reason: Kept for the next version.\n",
    )
    spec.edit(COMPONENTS, "parameters:\n", waived + "parameters:\n")
    spec.edit(ROOT_FILE, "  parameters:\n", ORPHANS_ROOT + "  parameters:\n")
    assert spec.findings() == []


# -- waivers ------------------------------------------------------------------------------------


def _waive(spec: Spec, entry: str, where: str = "    summary: Get a widget\n") -> None:
    spec.edit(PATHS, where, f"    x-lint-ignore:\n      - {entry}\n")


def test_a_waiver_with_a_reason_waives(spec: Spec) -> None:
    _waive(spec, "{rule: operation-summary, reason: Generated by a tool that has none.}")
    assert spec.findings() == []


def test_a_waiver_on_a_path_item_covers_its_operations(spec: Spec) -> None:
    spec.edit(PATHS, "    summary: Get a widget\n", "")
    spec.edit(
        PATHS,
        "\nwidget:\n",
        "\nwidget:\n  x-lint-ignore:\n    - rule: operation-summary\n      reason: Legacy.\n",
    )
    assert spec.findings() == []


def test_a_waiver_without_a_reason_is_an_error_and_waives_nothing(spec: Spec) -> None:
    _waive(spec, "rule: operation-summary")
    findings = spec.findings()
    assert [(f.code, f.severity) for f in findings] == [
        ("operation-summary", ERROR),
        ("waiver-reason", ERROR),
    ]
    spec.assert_at(findings[1], PATHS, spec.line(PATHS, "- rule: operation-summary"))


def test_a_waiver_of_an_unknown_rule(spec: Spec) -> None:
    _waive(spec, "{rule: summary-please, reason: typo}", "    summary: Get a widget\n")
    findings = spec.findings()
    assert [f.code for f in findings] == ["operation-summary", "waiver-rule"]
    assert "operation-summary" in findings[1].fix


def test_a_waiver_that_waives_nothing_is_a_warning(spec: Spec) -> None:
    spec.edit(
        PATHS,
        "    summary: Get a widget\n",
        "    summary: Get a widget\n    x-lint-ignore:\n"
        "      - {rule: operation-tags, reason: One day.}\n",
    )
    finding = spec.only("waiver-unused")
    assert finding.severity == WARNING
    spec.assert_at(finding, PATHS, spec.line(PATHS, "x-lint-ignore:"))


# -- invalid documents, the CLI, the project ----------------------------------------------------


def test_an_invalid_document_reports_validation_errors_only(spec: Spec) -> None:
    spec.edit(COMPONENTS, "      minimum: 1\n", "      minimum: low\n")
    spec.edit(PATHS, "    summary: Get a widget\n", "")
    finding = spec.only("oas-valid")
    assert "(at /components/parameters/Limit/schema/minimum)" in finding.message
    spec.assert_at(finding, COMPONENTS, spec.line(COMPONENTS, "minimum: low"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spectools.lint", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_clean_spec_exits_0_and_writes_the_bundle(spec: Spec, tmp_path: Path) -> None:
    out = tmp_path / "build" / "openapi.json"
    done = _cli("--spec", str(spec.root), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""
    assert "0 error(s), 0 warning(s)" in done.stderr
    assert set(json.loads(out.read_text())["paths"]) == {"/v1/widgets", "/v1/widgets/{widget_id}"}


def test_cli_warnings_print_but_pass(spec: Spec) -> None:
    spec.edit(ROOT_FILE, "/v1/widgets/{widget_id}", "/v1/widget/{widget_id}")
    done = _cli("--spec", str(spec.root))
    assert done.returncode == 0
    assert "warning[path-plural]" in done.stdout


def test_cli_errors_exit_1(spec: Spec) -> None:
    spec.edit(PATHS, "    summary: Get a widget\n", "")
    done = _cli("--spec", str(spec.root))
    assert done.returncode == 1
    assert f"{PATHS}:{spec.line(PATHS, '  get:', 2)}: error[operation-summary]" in done.stdout


def test_cli_invalid_document_exits_1(spec: Spec) -> None:
    spec.edit(COMPONENTS, "      minimum: 1\n", "      minimum: low\n")
    done = _cli("--spec", str(spec.root))
    assert done.returncode == 1
    assert "error[oas-valid]" in done.stdout


def test_the_project_spec_has_no_errors() -> None:
    findings = lint(ROOT / "openapi" / "openapi.yaml")
    assert [str(f) for f in findings if f.severity == ERROR] == []


def test_distinct_member_names_and_a_string_link_body_pass(spec: Spec) -> None:
    spec.edit(COMPONENTS, "    properties:\n      name:\n", _ZONE)
    spec.edit(
        COMPONENTS,
        "          - GMT0\n",
        "          - GMT0\n        x-enum-varnames: [UTC, PRICE, MINUS_PRICE, GMT_PLUS_0, GMT0]\n",
    )
    spec.edit(PATHS, "description: The widget was created.\n", _LINK.format(body="$request.body"))
    assert spec.findings() == []


# -- `$ref` siblings: specfirst.document's rule -------------------------------------------------


def test_in_3_1_a_reference_takes_its_own_description_and_no_other_sibling(spec: Spec) -> None:
    spec.edit(
        PATHS,
        '        $ref: "../components.yaml#/responses/NotFound"\n',
        '        $ref: "../components.yaml#/responses/NotFound"\n'
        "        description: No widget has this id in the caller's teams.\n",
    )
    assert spec.findings() == []
    spec.edit(
        PATHS, "in the caller's teams.\n", "in the caller's teams.\n        x-owner: widgets\n"
    )
    assert [f.code for f in spec.findings()] == ["oas-valid"]  # the 3.1 schema refuses it


def _as_3_0(spec: Spec) -> None:
    spec.edit(ROOT_FILE, "openapi: 3.1.0", "openapi: 3.0.3")
    spec.edit(
        COMPONENTS,
        '      next_cursor:\n        type:\n          - string\n          - "null"\n',
        "      next_cursor:\n        type: string\n        nullable: true\n",
    )


def _timestamp(spec: Spec) -> None:
    """``created_at``: a ``$ref`` to a plain string, its format a sibling."""
    spec.edit(COMPONENTS, "  Problem:\n", "  Timestamp:\n    type: string\n  Problem:\n")
    spec.edit(
        COMPONENTS,
        "      created_at:\n        type: string\n        format: date-time\n",
        '      created_at:\n        $ref: "#/schemas/Timestamp"\n        format: date-time\n',
    )
    spec.edit(
        ROOT_FILE,
        "    Problem:\n",
        '    Timestamp:\n      $ref: "./components.yaml#/schemas/Timestamp"\n    Problem:\n',
    )


def test_in_3_0_every_sibling_of_a_ref_is_ignored(spec: Spec) -> None:
    _as_3_0(spec)
    assert spec.findings() == []
    spec.edit(
        PATHS,
        '    - $ref: "../components.yaml#/parameters/WidgetId"\n',
        '    - $ref: "../components.yaml#/parameters/WidgetId"\n'
        "      description: The widget's id, as list_widgets gives it.\n",
    )
    _timestamp(spec)
    findings = spec.findings()
    assert [(f.code, f.severity) for f in findings] == [
        ("timestamp-naming", ERROR),  # the format beside the `$ref` is not read
        ("ref-sibling-ignored", WARNING),
        ("ref-sibling-ignored", WARNING),
    ], "\n".join(map(str, findings))
    assert findings[1].message.startswith("`format` beside a `$ref` is ignored: OpenAPI 3.0")
    spec.assert_at(findings[1], COMPONENTS, spec.line(COMPONENTS, "format: date-time"))
    assert findings[2].message.startswith("`description` beside a `$ref` is ignored")
    spec.assert_at(findings[2], PATHS, spec.line(PATHS, "as list_widgets gives it"))


_PAGE = COMPONENTS_YAML[
    COMPONENTS_YAML.index("  WidgetPage:") : COMPONENTS_YAML.index("  Problem:")
]
# The same page: `items` and `required` beside a `$ref` to a schema that has `next_cursor`.
_PAGE_BY_REF = """\
  CursorPage:
    type: object
    required:
      - next_cursor
    properties:
      next_cursor:
        type:
          - string
          - "null"
  WidgetPage:
    $ref: "#/schemas/CursorPage"
    required:
      - items
    properties:
      items:
        type: array
        items:
          $ref: "#/schemas/Widget"
"""


def test_a_schemas_siblings_apply_in_addition_to_its_target(spec: Spec) -> None:
    # Read as allOf (OpenAPI 3.1), the page still has both properties, both required, and
    # `created_at` is still a date-time.
    spec.edit(COMPONENTS, _PAGE, _PAGE_BY_REF)
    spec.edit(
        ROOT_FILE,
        "    Problem:\n",
        '    CursorPage:\n      $ref: "./components.yaml#/schemas/CursorPage"\n    Problem:\n',
    )
    _timestamp(spec)
    assert spec.findings() == []
    # A sibling that narrows the target applies too: the examples no longer fit.
    spec.edit(
        COMPONENTS,
        '      created_at:\n        $ref: "#/schemas/Timestamp"\n',
        '      created_at:\n        $ref: "#/schemas/Timestamp"\n        maxLength: 10\n',
    )
    assert {f.code for f in spec.findings()} == {"example-valid"}
