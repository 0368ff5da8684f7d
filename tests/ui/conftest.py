"""Fixtures the web UI's modules share.

In process (httpx over ASGI): ``service``, a fresh registry under ``tmp_path`` acting as
meera, and ``call``, which sends one request to the app over it, keeping cookies between
calls. In a browser: ``browser``, Debian's Chromium for the module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.bootstrap import build_service
from charter.config import Settings
from charter.server.app import create_app
from charter.service import RegistryService

HTML = {"accept": "text/html,application/xhtml+xml"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RegistryService]:
    registry = build_service(Settings.load({"home": tmp_path}, env={}), actor="meera")
    yield registry
    registry.db.dispose()


@pytest.fixture
def call(service: RegistryService, tmp_path: Path) -> Callable[..., httpx.Response]:
    """Send one request (cookies kept between calls) to the app over the service; with
    ``actor``, as that (unverified) caller."""
    app = create_app(service, Settings.load({"home": tmp_path}, env={}))
    cookies = httpx.Cookies()

    def send(method: str, path: str, actor: str | None = None, **kwargs: Any
             ) -> httpx.Response:
        headers = {**HTML, "x-charter-actor": actor} if actor else HTML

        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://ui.test", headers=headers,
                                         cookies=cookies) as client:
                response = await client.request(method, path, **kwargs)
                cookies.update(client.cookies)
                return response

        return asyncio.run(go())

    return send


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/install-browser.sh)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
