"""Browser tests: a real HTTP server on its own SQLite file (CSRF on) driven by Debian's Chromium.

The live app is separate from the session `app` fixture: it has its own database file, so the browser's
commits never meet the rolled-back sessions of the other tests, and CSRF protection is enabled so the
forms are exercised exactly as in production.

Chromium is not downloaded by Playwright: CI installs Debian's package (/usr/bin/chromium). When it is
missing the tests fail (not skip), so a broken CI image cannot pass unnoticed.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import create_app
from app.config import TestConfig
from tests.conftest import setup_database

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Generous for a slow CI machine, short enough that a hung page fails the test quickly.
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/browser carries the `browser` marker (select with -m browser)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


# The UI catalogs are compiled by tests/conftest.py (pytest_configure) before any page renders.


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve a fresh app (own SQLite file, CSRF enabled) on 127.0.0.1:<free port>; yield its base URL."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        """No line per request (errors are still logged)."""

        def log_request(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            pass

    os.environ.setdefault("APP_ENV", "testing")
    db_file = tmp_path_factory.mktemp("browser-db") / "itsm.sqlite3"
    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config.update({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}",
        "WTF_CSRF_ENABLED": True,
        "SERVER_NAME": None,  # requests arrive as 127.0.0.1:<port>
    })
    application = create_app(config)
    setup_database(application)
    server = make_server("127.0.0.1", 0, application, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="browser-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        from app.extensions import db

        with application.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's headless Chromium through Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium "
                    f"(apt-get install chromium) to run the browser tests", pytrace=False)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()


@pytest.fixture
def page(browser, live_server: str) -> Iterator:
    """A fresh browser context (no cookies) and page whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                  locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()
