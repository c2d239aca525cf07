"""A generic contract-first generator: OpenAPI 3.0/3.1 -> Pydantic models, typed handler
Protocols, per-status response classes and Starlette routes with a runtime that validates.

It knows nothing about any particular API.
"""
