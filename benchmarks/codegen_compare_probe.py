"""Which of a document's operations a generated app serves; run inside each tool's environment.

Standalone on purpose (the standard library and Starlette only): `just codegen-compare` runs it
with each generator's own interpreter, so one judge applies to every tool's output:

    python codegen_compare_probe.py ROOT MODULE EXPRESSION SPEC OPERATIONS

puts ROOT first on sys.path, imports MODULE, evaluates EXPRESSION with the module as ``m``
(``m.app``, ``m.build_app(None, allow_missing=True)``; ``None`` for models only) and prints
one JSON line: ``{"routed": [[method, path], ...], "seconds": import and build time}``, the
operations among OPERATIONS (a JSON list of [METHOD, path], which the driver reads from the
document with :mod:`specfirst.document`, as the generator does) that the app serves.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

# What a path parameter is replaced by: one segment that str and int converters both accept.
SAMPLE_SEGMENT = "1"


def server_prefixes(document: dict[str, Any]) -> list[str]:
    """Path prefixes a generator may mount the operations under: "" and each server's path."""
    prefixes = [""]
    for server in document.get("servers") or []:
        url = server.get("url", "") if isinstance(server, dict) else ""
        path = urlsplit(re.sub(r"\{[^}]*\}", "x", url)).path.rstrip("/")
        if path and path not in prefixes:
            prefixes.append(path)
    return prefixes


def concrete_path(template: str) -> str:
    """A request path for a path template: each ``{param}`` becomes one plain segment."""
    return re.sub(r"\{[^}]*\}", SAMPLE_SEGMENT, template)


def concrete_request(template: str) -> tuple[str, bytes]:
    """The path and query string of a request for a path key. A key carrying a query string
    (``/search?q={q}``, invalid but written) is asked as a client sends it: the path without
    it, the query string apart, so a route matching the literal ``?`` does not count."""
    path, _, query = template.partition("?")
    return concrete_path(path), quote(concrete_path(query), safe="=&").encode()


def routed(
    routes: Sequence[Any], wanted: Iterable[tuple[str, str]], prefixes: Sequence[str] = ("",)
) -> list[tuple[str, str]]:
    """The operations in ``wanted`` that some route of ``routes`` fully matches.

    Asks each route as Starlette's router does (``route.matches(scope)``; a full match means the
    request reaches an endpoint with that method), so mounts, included routers, converters and
    rewritten parameter names are judged by the framework itself, not by comparing strings.
    The limit of judging by requests: an operation on a literal path (``/users/me``) that a tool
    dropped still counts when a templated sibling (``/users/{id}``) answers that path.
    """
    found = []
    for method, template in wanted:
        path, query = concrete_request(template)
        for prefix in prefixes:
            scope = {
                "type": "http",
                "method": method,
                "path": prefix + path,
                "root_path": "",
                "headers": [],
                "query_string": query,
            }
            if _serves(routes, scope):
                found.append((method, template))
                break
    return found


def _serves(routes: Sequence[Any], scope: dict[str, Any]) -> bool:
    from starlette.routing import Host, Match, Mount

    for route in routes:
        match, child = route.matches(dict(scope))
        if match != Match.FULL:
            continue
        inner = getattr(route, "routes", None) if isinstance(route, Mount | Host) else None
        # A mount matches on its prefix alone: the request is served if a route inside it is
        # (a mounted app without routes, static files say, serves whatever reaches it).
        if not inner or _serves(inner, {**scope, **child}):
            return True
    return False


def load(spec: Path) -> dict[str, Any]:
    """A JSON or YAML document (YAML needs PyYAML, which every tool's environment has)."""
    text = spec.read_text(encoding="utf-8")
    if spec.suffix == ".json":
        loaded = json.loads(text)
    else:
        import yaml

        loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, dict) else {}


def main(argv: Sequence[str]) -> None:
    root, module, expression, spec, wanted = argv
    sys.path.insert(0, root)
    document = load(Path(spec))
    started = time.perf_counter()
    imported = __import__(module, fromlist=["_"])
    app = eval(expression, {"m": imported})  # noqa: S307 - the driver's fixed expressions
    seconds = time.perf_counter() - started
    if app is None:  # models only: importing them was the test
        found = []
    else:
        operations = [(str(method), str(path)) for method, path in json.loads(wanted)]
        found = routed(app.router.routes, operations, server_prefixes(document))
    print(json.dumps({"routed": found, "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main(sys.argv[1:])
