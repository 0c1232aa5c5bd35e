"""The browser tests' server: the app under waitress in a thread, on the test session's database
(SQLite, or the private PostgreSQL server when ``CATI_TEST_DB=postgresql``: the browser tests run
on both), with data committed by a seed function; nothing here shares the savepoint fixtures, and
the tables are emptied after each test (``clean_database``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import transaction

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Without Debian's Chromium the test is skipped on a workstation but fails on CI (``CI`` set)."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the browser tests")
    pytest.skip(message)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright; closed afterwards."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_db(clean_database: Any, settings: dict[str, Any]) -> str:
    """The URL of the session's database, emptied after the test."""
    return str(settings["sqlalchemy.url"])


@contextlib.contextmanager
def served_app(url: str, seed: Callable[[Any], None], *, threads: int = 2) -> Iterator[tuple[str, Any]]:
    """Yields (base URL, engine); ``seed(session)`` runs in one committed transaction first."""
    from waitress.server import create_server

    from cati import main
    from cati.db import get_engine, get_session_factory, get_tm_session
    from cati.migrate import upgrade

    settings = {
        "sqlalchemy.url": url,
        "cati.session_secret": secrets.token_hex(32),
        "pyramid.default_locale_name": "de",
    }
    engine = get_engine(dict(settings))
    upgrade(engine)
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        seed(get_tm_session(get_session_factory(engine), manager))
    app = main({}, **settings, **{"cati.engine": engine})
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", engine
    finally:
        server.close()
        thread.join(timeout=5)
        engine.dispose()
