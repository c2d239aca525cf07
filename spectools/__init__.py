"""Contract governance over an OpenAPI document: guideline lint and the breaking-change gate.

Generic like ``codegen`` (it reads any OpenAPI 3.x document through ``codegen.bundle``); the
house rules it enforces are the project's contract conventions
(docs/contract-conventions.md; the codes in the README, `just lint-spec`), each with its own code.
"""
