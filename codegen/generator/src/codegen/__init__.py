"""specfirst-codegen: a generic contract-first generator. OpenAPI 3.0/3.1 -> Pydantic models,
typed handler Protocols, per-status response classes, and operations described as data that
the specfirst runtime serves as a FastAPI app or an APIRouter.

It knows nothing about any particular API.
"""

__version__ = "1.0.0"

# The runtime version generated code is written for: it runs on specfirst-runtime >=1.0,<2.
RUNTIME_REQUIREMENT = "1.0"
