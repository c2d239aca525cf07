"""Pydantic v2 models of a document's schemas, written by datamodel-code-generator."""

from __future__ import annotations

import ast
import warnings
from typing import Any

from codegen.errors import Diagnostic, SpecError


def generate_models(document: dict[str, Any], class_names: dict[str, str]) -> tuple[str, set[str]]:
    """Source of ``models.py`` and the names of the classes it defines."""
    from datamodel_code_generator import (
        DataModelType,
        GenerateConfig,
        InputFileType,
        PythonVersion,
        generate,
    )

    config = GenerateConfig(
        input_file_type=InputFileType.OpenAPI,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        disable_timestamp=True,
        use_annotated=True,
        field_constraints=True,
        use_standard_collections=True,
        use_union_operator=True,
        strict_nullable=True,
        use_schema_description=True,
        use_field_description=True,
        collapse_root_models=True,
        capitalise_enum_members=True,
        snake_case_field=True,
        use_double_quotes=True,
        set_default_enum_member=True,
        use_missing_sentinel=True,
        formatters=[],
        model_name_map=class_names,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            source = generate(document, config=config)
        except Exception as exc:  # the generator's own errors carry no pointer; name the step
            raise SpecError(
                [
                    Diagnostic(
                        f"datamodel-code-generator failed on the schemas: {exc}",
                        "/components/schemas",
                    )
                ]
            ) from exc
    if not isinstance(source, str):
        raise SpecError(
            [Diagnostic("datamodel-code-generator produced several modules", "/components/schemas")]
        )
    lines = source.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    source = "\n".join(lines) + "\n"
    # MISSING left pydantic.experimental in Pydantic 2.14.
    source = source.replace(
        "from pydantic.experimental.missing_sentinel import MISSING", "from pydantic import MISSING"
    )
    tree = ast.parse(source)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    return source, classes
