"""Which generated handler methods change signature between two versions of a document.

Both bundles go through codegen's parser, so the names and annotations compared are exactly
the ones ``src/generated/interfaces/<tag>.py`` would declare.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen import ir
from codegen.bundle import Bundle
from codegen.models import generate_models
from codegen.parser import parse
from spectools.diff import operation_key


@dataclass(frozen=True, slots=True)
class SignatureChange:
    """The changes of one generated handler method."""

    protocol: str
    method: str
    file: str
    changes: tuple[str, ...]

    def __str__(self) -> str:
        return f"`{self.protocol}.{self.method}` ({self.file}): {'; '.join(self.changes)}"


def parse_api(bundle: Bundle) -> ir.Api:
    """The IR of a validated bundle, with the model classes codegen would generate."""

    def emit(document: dict[str, object]) -> tuple[set[str], dict[str, str]]:
        _, classes, by_schema = generate_models(document)
        return classes, by_schema

    return parse(bundle, emit).api


def _owners(api: ir.Api) -> dict[tuple[str, str], tuple[ir.Tag, ir.Operation]]:
    return {
        operation_key(op.method, op.path): (tag, op) for tag in api.tags for op in tag.operations
    }


def _parameters(old: ir.Operation, new: ir.Operation) -> list[str]:
    before = {p.python_name: p for p in old.parameters}
    after = {p.python_name: p for p in new.parameters}
    found = [f"parameter `{name}` removed" for name in before if name not in after]
    for name, param in after.items():
        was = before.get(name)
        if was is None:
            kind = "required" if param.required else "optional"
            found.append(f"new {kind} parameter `{name}: {param.annotation}`")
            continue
        if param.required != was.required:
            found.append(
                f"parameter `{name}` became {'required' if param.required else 'optional'}"
            )
        # Optional parameters are annotated `T | None`; requiredness is reported just above.
        if param.annotation.removesuffix(" | None") != was.annotation.removesuffix(" | None"):
            found.append(f"parameter `{name}`: `{was.annotation}` → `{param.annotation}`")
    return found


def _body(old: ir.Operation, new: ir.Operation) -> list[str]:
    was = old.body.annotation if old.body else None
    now = new.body.annotation if new.body else None
    if was == now:
        return []
    if now is None:
        return ["`body` removed"]
    if was is None:
        return [f"new `body: {now}`"]
    return [f"`body`: `{was}` → `{now}`"]


def _responses(old: ir.Operation, new: ir.Operation) -> list[str]:
    found = []
    if old.return_annotation != new.return_annotation:
        found.append(f"returns `{new.return_annotation}` (was `{old.return_annotation}`)")
    before = {r.class_name: r for r in old.responses}
    for response in new.responses:
        was = before.get(response.class_name)
        if was is None:
            continue
        if was.body_annotation != response.body_annotation:
            found.append(
                f"`{response.class_name}.body`: `{was.body_annotation or 'None'}` → "
                f"`{response.body_annotation or 'None'}`"
            )
        old_headers = {h.attribute: h for h in was.headers}
        new_headers = {h.attribute: h for h in response.headers}
        for attribute in old_headers.keys() - new_headers.keys():
            found.append(f"`{response.class_name}.{attribute}` removed")
        for attribute in new_headers.keys() - old_headers.keys():
            found.append(f"new `{response.class_name}.{attribute}`")
        for attribute in sorted(old_headers.keys() & new_headers.keys()):
            h_old, h_new = old_headers[attribute], new_headers[attribute]
            if (h_old.annotation, h_old.required) != (h_new.annotation, h_new.required):
                found.append(f"`{response.class_name}.{attribute}` changed type or requiredness")
    return found


def signature_changes(
    base: ir.Api, head: ir.Api, generated: str = "src/generated"
) -> list[SignatureChange]:
    """Generated handler methods that are new, removed or declared differently in ``head``.

    ``generated`` is the folder of the generated package, used to name interface files.
    """

    def change(tag: ir.Tag, op: ir.Operation, changes: list[str]) -> SignatureChange:
        file = f"{generated}/interfaces/{tag.module}.py"
        return SignatureChange(tag.protocol, op.method_name, file, tuple(changes))

    before, after = _owners(base), _owners(head)
    found = []
    for key, (tag, op) in after.items():
        if key not in before:
            found.append(change(tag, op, ["new method to implement"]))
            continue
        old_tag, old_op = before[key]
        changes = []
        if old_op.method_name != op.method_name:
            changes.append(f"renamed from `{old_tag.protocol}.{old_op.method_name}`")
        elif old_tag.protocol != tag.protocol:
            changes.append(f"moved from `{old_tag.protocol}`")
        changes += _parameters(old_op, op) + _body(old_op, op) + _responses(old_op, op)
        if changes:
            found.append(change(tag, op, changes))
    for key, (tag, op) in before.items():
        if key not in after:
            found.append(change(tag, op, ["removed"]))
    return found
