"""Shared fixtures.

The database is chosen by ``CATI_TEST_DB`` (``sqlite``, the default, or ``postgresql``). For
PostgreSQL the session starts a private server (tests/pgserver.py) unless ``CATI_TEST_PG_URL``
names one. The schema is built once per session with ``alembic upgrade head``, so every run also
exercises the migrations.

Tests that touch the database are marked ``db`` automatically; ``make test`` runs the whole
suite on SQLite and the ``db`` tests again on PostgreSQL.

``dbsession`` follows the SQLAlchemy 2 "join an external transaction" recipe: each test runs in
an outer transaction that is rolled back, and the app's commits become savepoints. Tests that
need real commits and several connections (concurrency) use ``engine`` and clean up with
``clean_database``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import transaction
import webtest
import zope.sqlalchemy
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from cati import main
from cati.db import get_engine
from cati.models import Base

TEST_DB = os.environ.get("CATI_TEST_DB", "sqlite")
DB_FIXTURES = {"engine", "dbsession", "testapp", "app", "db_url", "clean_database"}


def pytest_report_header(config: pytest.Config) -> str:
    return f"cati test database: {TEST_DB}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_DB == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'cati-test.sqlite'}"
        return
    if TEST_DB != "postgresql":
        raise pytest.UsageError(f"CATI_TEST_DB must be sqlite or postgresql, not {TEST_DB!r}")
    if os.environ.get("CATI_TEST_PG_URL"):
        yield os.environ["CATI_TEST_PG_URL"]
        return
    from tests.pgserver import PostgresServer

    server = PostgresServer()
    server.start()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    try:
        yield server.create_database(f"cati_test_{worker}")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def settings(db_url: str) -> dict[str, Any]:
    return {
        "sqlalchemy.url": db_url,
        "cati.session_secret": secrets.token_hex(32),
        "cati.login_max_failures": "5",
        "cati.login_lockout_seconds": "300",
        "pyramid.default_locale_name": "de",
        "pyramid.reload_templates": "false",
        "retry.attempts": "3",
    }


@pytest.fixture(scope="session")
def engine(settings: dict[str, Any]) -> Iterator[Engine]:
    from cati.migrate import upgrade

    engine = get_engine(settings)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(settings: dict[str, Any], engine: Engine) -> Any:
    return main({}, **settings, **{"cati.engine": engine})


@pytest.fixture
def tm() -> Iterator[transaction.TransactionManager]:
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    manager.doom()
    yield manager
    manager.abort()


@pytest.fixture
def dbsession(app: Any, engine: Engine, tm: transaction.TransactionManager) -> Iterator[Any]:
    connection = engine.connect()
    outer = connection.begin()
    session = app.registry["dbsession_factory"](bind=connection, join_transaction_mode="create_savepoint")
    zope.sqlalchemy.register(session, transaction_manager=tm)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def testapp(app: Any, tm: transaction.TransactionManager, dbsession: Any) -> webtest.TestApp:
    return webtest.TestApp(
        app,
        extra_environ={
            "HTTP_HOST": "cati.test",
            "REMOTE_ADDR": "192.0.2.10",
            "tm.active": True,
            "tm.manager": tm,
            "cati.dbsession": dbsession,
        },
    )


@pytest.fixture
def clean_database(engine: Engine) -> Iterator[Engine]:
    """For tests that commit for real (several connections, threads): empty every table after."""
    yield engine
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "audit_events")
            connection.exec_driver_sql(f"TRUNCATE {names}, audit_events RESTART IDENTITY CASCADE")
        else:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
            from cati.migrate import create_audit_triggers

            create_audit_triggers(connection)


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"


@pytest.fixture
def spec_examples() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "specs" / "examples"
