"""The served document (JSON and YAML) and Swagger UI, offline."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .errors import _Problem, error_response

logger = logging.getLogger("specfirst")

# Every URL is relative to the page (served at `<mount>/docs`), so the docs work wherever the
# app is mounted or its router included: `docs/assets/...` and `openapi.json` resolve beside it.
_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body></html>
"""

# The page is `<mount>/docs`, so `.` is the mount: where the app that serves these docs routes
# its paths. At the host root Swagger UI reads the document as served (its relative server URL
# resolves against the document's URL, RFC 3986). Under a prefix, where a server of `/` would
# resolve to the host root and miss the app, the page's in-memory copy lists the mount first
# (as FastAPI's `root_path` server does), the document's own servers after it: "Try it out"
# calls the app actually serving the docs, on any host, port and prefix. The served document
# is never changed.
_DOCS_INIT = """\
(async () => {
  const spec = new URL("openapi.json", document.baseURI).href;
  const mount = new URL(".", document.baseURI);
  const options = {dom_id: "#swagger-ui", deepLinking: true};
  if (mount.pathname === "/") {
    options.url = spec;
  } else {
    const served = await (await fetch(spec)).json();
    const here = mount.href.replace(/\\/$/, "");
    const described = {url: here, description: "This app, where these docs are served"};
    served.servers = [described, ...(served.servers || [])];
    options.spec = served;
  }
  window.ui = SwaggerUIBundle(options);
})();
"""

# What the page loads; nothing else of the package's static folder is served.
_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
}


def _to_yaml(spec_json: str) -> bytes:
    try:  # the `yaml` extra, imported by name: the runtime type-checks without its stubs
        yaml: Any = importlib.import_module("yaml")
    except ImportError:  # JSON is YAML too; PyYAML only makes it prettier
        return spec_json.encode()
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    document = json.loads(spec_json)
    text: str = yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
    return text.encode()


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
    if not all((static / name).is_file() for name in _ASSETS):
        return []
    from html import escape

    page = _DOCS_PAGE.format(title=escape(title)).encode()
    # Read once, at the first request for each: plain routes (not a static-files mount), so
    # FastAPI's include_router, which copies only routes, keeps them under its prefix.
    assets: dict[str, bytes] = {}

    async def docs_page(request: Request) -> Response:
        return Response(page, media_type="text/html")

    async def docs_init(request: Request) -> Response:
        return Response(_DOCS_INIT.encode(), media_type="text/javascript")

    async def docs_asset(request: Request) -> Response:
        name = request.path_params["name"]
        media_type = _ASSETS.get(name)
        if media_type is None:
            missing = _Problem(404, "Not Found", f"No asset is served at {request.url.path}.")
            return error_response(missing, request.url.path)
        if name not in assets:
            assets[name] = (static / name).read_bytes()
        headers = {"Cache-Control": "public, max-age=86400"}
        return Response(assets[name], media_type=media_type, headers=headers)

    return [
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/init.js", docs_init, methods=["GET"]),
        Route("/docs/assets/{name}", docs_asset, methods=["GET"]),
    ]
