"""The event catalogue (`asyncapi/events.yaml`): validate it, render it for readers.

``python -m spectools.events check`` validates the document against the official AsyncAPI
3.0.0 JSON Schema (from the npm package `@asyncapi/specs`, vendored in `asyncapi/vendor/`
by `just events-schema`; validated with `jsonschema`, offline), checks each data schema is
a valid JSON Schema (draft-07, the AsyncAPI schema object's base), and checks what the
AsyncAPI schema cannot: each channel carries the one message of its name, whose envelope
names its event's CloudEvents `type` and the `$id` of its data schema.

``python -m spectools.events render [--out docs/events.md] [--check]`` writes the Markdown
rendering readers are pointed to (deterministic; `--check` fails if the file differs).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from specfirst.document import lookup_ref

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "asyncapi" / "events.yaml"
ASYNCAPI_SCHEMA = ROOT / "asyncapi" / "vendor" / "asyncapi-3.0.0.json"
RENDERED = ROOT / "docs" / "events.md"
TYPE_PREFIX = "com.storefront."
ENVELOPE = "CloudEvent"


def load(path: Path = CATALOGUE) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return document


def resolve(document: Mapping[str, Any], node: Any) -> Any:
    """`node`, or what its local `$ref` (`#/...`) points to in `document`."""
    seen: set[str] = set()
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ValueError(f"only local references are used here, not {ref!r}")
        if ref in seen:
            raise ValueError(f"the reference {ref!r} leads back to itself")
        seen.add(ref)
        node = lookup_ref(document, ref)
    return node


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the catalogue: its channel, message and data schema."""

    name: str
    address: str
    message: Mapping[str, Any]
    data_schema: Mapping[str, Any]

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.name

    @property
    def dataschema(self) -> str:
        return str(self.data_schema["$id"])

    @property
    def version(self) -> str:
        return self.dataschema.rsplit("/", 1)[1]


def dereferenced(document: Mapping[str, Any], node: Any) -> Any:
    """`node` with every local `$ref` in it replaced by what it points to (the catalogue
    has no cycles)."""
    node = resolve(document, node)
    if isinstance(node, Mapping):
        return {key: dereferenced(document, value) for key, value in node.items()}
    if isinstance(node, list):
        return [dereferenced(document, item) for item in node]
    return node


def envelope_validator(document: Mapping[str, Any], event: Event) -> jsonschema.Draft7Validator:
    """A validator of `event`'s whole message (the envelope and its data), formats checked."""
    return jsonschema.Draft7Validator(
        dereferenced(document, event.message["payload"]),
        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
    )


def _payload_part(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """The part of a message's payload (`allOf: [envelope, part]`) naming its event."""
    parts = message["payload"]["allOf"]
    return next(part for part in parts if "$ref" not in part)


def events(document: Mapping[str, Any]) -> list[Event]:
    """Every event of the catalogue, in the document's order."""
    found = []
    for name, channel in document.get("channels", {}).items():
        messages = list(channel.get("messages", {}).values())
        message = resolve(document, messages[0]) if len(messages) == 1 else {}
        data = _payload_part(message)["properties"]["data"] if message else {}
        found.append(Event(name, channel["address"], message, resolve(document, data)))
    return found


def _asyncapi_errors(document: Mapping[str, Any]) -> Iterator[str]:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        yield f"{error.json_path}: {error.message[:300]}"


def _catalogue_errors(document: Mapping[str, Any]) -> Iterator[str]:
    schemas = document.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        try:
            jsonschema.Draft7Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            yield f"components.schemas.{name}: not a valid JSON Schema: {error.message}"
    operations = {
        resolve(document, operation["channel"]).get("address")
        for operation in document.get("operations", {}).values()
        if operation.get("action") == "send"
    }
    for event in events(document):
        where = f"channels.{event.name}"
        if not event.message:
            yield f"{where}: needs exactly one message"
            continue
        if event.message.get("name") != event.name:
            yield f"{where}: its message is named {event.message.get('name')!r}"
        if event.address not in operations:
            yield f"{where}: no send operation names it"
        envelope = event.message["payload"]["allOf"][0]
        if envelope != {"$ref": f"#/components/schemas/{ENVELOPE}"}:
            yield f"{where}: the payload must start with the {ENVELOPE} envelope"
        properties = _payload_part(event.message)["properties"]
        if properties.get("type") != {"const": event.type}:
            yield f"{where}: the envelope's type must be the constant {event.type!r}"
        schema_id = event.data_schema.get("$id", "")
        if not str(schema_id).endswith(f"/{event.name}/{schema_id.rsplit('/', 1)[-1]}"):
            yield f"{where}: the data schema's $id must end with /{event.name}/<version>"
        if properties.get("dataschema") != {"const": schema_id}:
            yield f"{where}: the envelope's dataschema must be the constant {schema_id!r}"


def check(document: Mapping[str, Any]) -> list[str]:
    """Every problem found; empty when the catalogue is valid."""
    return [*_asyncapi_errors(document), *_catalogue_errors(document)]


def _type_of(schema: Mapping[str, Any]) -> str:
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    kinds = schema.get("type", "any")
    kind = " or ".join(kinds) if isinstance(kinds, list) else str(kinds)
    if kind == "array" and "items" in schema:
        kind = f"array of {_type_of(schema['items'])}"
    details = []
    if "format" in schema:
        details.append(schema["format"])  # says it all: its pattern only enforces it
    elif "pattern" in schema:
        details.append(f"pattern `{schema['pattern']}`")
    for key, word in (("minLength", "min length"), ("maxLength", "max length")):
        if key in schema:
            details.append(f"{word} {schema[key]}")
    if "minimum" in schema:
        details.append(f"≥ {schema['minimum']}")
    if schema.get("not") == {"const": 0}:
        details.append("≠ 0")
    return kind + (f" ({', '.join(details)})" if details else "")


def _fields(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    required = set(schema.get("required", ()))
    for name, field in schema.get("properties", {}).items():
        label = f"{prefix}{name}"
        yield (
            f"`{label}`",
            _type_of(field),
            "yes" if name in required else "no",
            " ".join(str(field.get("description", "")).split()),
        )
        items = field.get("items", {})
        if field.get("type") == "array" and items.get("type") == "object":
            yield from _fields(items, f"{label}[].")


def _table(header: tuple[str, ...], rows: Iterator[tuple[str, ...]]) -> list[str]:
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _anchor(name: str) -> str:
    return name.replace(".", "")


def render(document: Mapping[str, Any]) -> str:
    """The catalogue as Markdown: the events, the envelope, then each event's data."""
    info = document["info"]
    found = events(document)
    lines = [
        f"# {info['title']} (catalogue {info['version']})",
        "",
        "<!-- Rendered from asyncapi/events.yaml by `just events-doc`; edit that file. -->",
        "",
        str(info.get("description", "")).strip(),
        "",
        "| event | version | CloudEvents `type` | NATS subject | summary |",
        "|---|---|---|---|---|",
        *(
            f"| [`{e.name}`](#{_anchor(e.name)}) | {e.version} | `{e.type}` | `{e.address}` "
            f"| {e.message['title']} |"
            for e in found
        ),
        "",
        "## The envelope",
        "",
    ]
    envelope = document["components"]["schemas"][ENVELOPE]
    lines += [str(envelope.get("description", "")).strip(), ""]
    lines += _table(("attribute", "type", "required", "meaning"), _fields(envelope))
    for event in found:
        schema = event.data_schema
        lines += [
            "",
            f"## {event.name}",
            "",
            " ".join(str(schema.get("description", "")).split()),
            "",
            f"`type` `{event.type}`, `dataschema` `{event.dataschema}`, on `{event.address}`.",
            "",
        ]
        lines += _table(("`data` field", "type", "required", "meaning"), _fields(schema))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spectools.events", description=__doc__)
    parser.add_argument("command", choices=["check", "render"])
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--out", type=Path, default=RENDERED, help="render: the Markdown file")
    parser.add_argument("--check", action="store_true", help="render: fail if --out differs")
    args = parser.parse_args(argv)
    document = load(args.catalogue)
    if args.command == "check":
        problems = check(document)
        for problem in problems:
            print(f"{args.catalogue}: {problem}", file=sys.stderr)
        if not problems:
            print(f"{args.catalogue}: valid AsyncAPI 3.0.0, {len(events(document))} events")
        return 1 if problems else 0
    text = render(document)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run `just events-doc`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
