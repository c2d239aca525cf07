"""``/docs`` in a real browser (Debian's Chromium, driven by Playwright): under a prefix, at the
host root and included in an existing FastAPI app, Swagger UI renders the reviewed document
and "Try it out" calls the app that serves the page, on its port and under its prefix."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, sync_playwright
from starlette.types import ASGIApp

from tests.codegen.conftest import generated_package, served
from tests.codegen.test_fastapi import DOCUMENT, _implementation


def _chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Chromium is missing (just _chromium installs Debian's package)")
    pytest.skip("Chromium is not installed (just _chromium installs Debian's package)")


@pytest.fixture(scope="module")
def things(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return generated_package(DOCUMENT, tmp_path_factory.mktemp("browser"), "browser_things_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def _mounted(things: ModuleType) -> ASGIApp:
    outer = FastAPI()
    outer.mount("/mounted/here", things.build_app(_implementation(things)))
    return outer


def _included(things: ModuleType) -> ASGIApp:
    host = FastAPI()
    host.include_router(things.build_router(_implementation(things)), prefix="/api")
    return host


def _root(things: ModuleType) -> ASGIApp:
    app: ASGIApp = things.build_app(_implementation(things))
    return app


@pytest.mark.parametrize(
    ("build", "prefix"), [(_mounted, "/mounted/here"), (_included, "/api"), (_root, "")]
)
def test_try_it_out_calls_the_app_serving_the_docs(
    browser: Browser,
    things: ModuleType,
    build: Callable[[ModuleType], ASGIApp],
    prefix: str,
    tmp_path: Path,
) -> None:
    with served(build(things)) as base:
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        failed: list[str] = []
        page.on("pageerror", lambda error: failed.append(str(error)))
        page.goto(f"{base}{prefix}/docs")
        operation = page.locator("#operations-things-get_thing")
        operation.click()
        page.get_by_role("button", name="Try it out").click()
        page.locator("input[placeholder='thing_id']").fill("2")
        page.get_by_role("button", name="Execute").click()
        page.locator(".live-responses-table .response-col_status").first.wait_for()
        shown_url = page.locator(".request-url pre").inner_text()
        status = page.locator(".live-responses-table tbody .response-col_status").inner_text()
        body = page.locator(".live-responses-table tbody .response-col_description pre").first
        page.screenshot(path=str(tmp_path / "docs.png"))
        shown_body = body.inner_text()
        page.close()
    assert failed == []
    assert f"{base}{prefix}/openapi.json" in requested
    assert f"{base}{prefix}/docs/assets/swagger-ui-bundle.js" in requested
    assert shown_url == f"{base}{prefix}/things/2"
    assert requested[-1] == f"{base}{prefix}/things/2"
    assert status.strip() == "200"
    assert '"rocket"' in shown_body
