"""The browser tests' server: the app under waitress in a thread, on the test session's database
(SQLite, or the private PostgreSQL server when ``CATI_TEST_DB=postgresql``: the browser tests run
on both), with data committed by a seed function; nothing here shares the savepoint fixtures, and
the tables are emptied after each test (``clean_database``)."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import transaction


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
