"""The served document (JSON and YAML) and Swagger UI, offline."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

logger = logging.getLogger("specfirst")

_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
"""

_DOCS_INIT = (
    "window.ui = SwaggerUIBundle("
    '{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});\n'
)


def _to_yaml(spec_json: str) -> bytes:
    try:
        import yaml
    except ImportError:  # JSON is YAML too; PyYAML only makes it prettier
        return spec_json.encode()
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    document = json.loads(spec_json)
    return yaml.dump(
        document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100
    ).encode()


def _spec_routes(spec_json: str, *, docs: bool, title: str) -> list[BaseRoute]:
    json_bytes = spec_json.encode()
    yaml_cache: list[bytes] = []

    async def openapi_json(request: Request) -> Response:
        return Response(json_bytes, media_type="application/json")

    async def openapi_yaml(request: Request) -> Response:
        if not yaml_cache:
            yaml_cache.append(_to_yaml(spec_json))
        return Response(yaml_cache[0], media_type="application/yaml")

    routes: list[BaseRoute] = [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/openapi.yaml", openapi_yaml, methods=["GET"]),
    ]
    if docs:
        routes.extend(_docs_routes(title))
    return routes


def _docs_routes(title: str) -> list[BaseRoute]:
    # Swagger UI 5 (OpenAPI 3.1) ships inside the swagger-ui-py package; only its static files
    # are used, so it is located, not imported. Without it there are no docs, nothing else lacks.
    found = importlib.util.find_spec("swagger_ui")
    if found is None or not found.submodule_search_locations:
        return []
    static = Path(next(iter(found.submodule_search_locations))) / "static"
    if not (static / "swagger-ui-bundle.js").is_file():
        return []
    from html import escape

    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    page = _DOCS_PAGE.format(title=escape(title)).encode()

    async def docs_page(request: Request) -> Response:
        return Response(page, media_type="text/html")

    async def docs_init(request: Request) -> Response:
        return Response(_DOCS_INIT.encode(), media_type="text/javascript")

    return [
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/init.js", docs_init, methods=["GET"]),
        Mount("/docs/assets", app=StaticFiles(directory=str(static)), name="docs-assets"),
    ]
