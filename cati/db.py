"""Engine, sessions and the per-request transaction.

Every request gets ``request.dbsession`` joined to ``request.tm`` (pyramid_tm): the request
commits as a whole or not at all, and nothing calls ``commit()`` by hand. Scripts use
:func:`get_tm_session` with their own ``transaction.TransactionManager``.

SQLite is the embedded default. It gets WAL (readers never block the writer), a busy timeout,
foreign keys, and ``BEGIN IMMEDIATE`` so that a transaction that will write takes the write lock
up front: with deferred BEGIN two transactions that read and then write deadlock and one fails
at once with "database is locked" instead of waiting its turn.
"""

from __future__ import annotations

from typing import Any

import zope.sqlalchemy
from sqlalchemy import engine_from_config, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(settings: dict[str, Any], prefix: str = "sqlalchemy.") -> Engine:
    engine = engine_from_config(settings, prefix)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, settings.get("cati.sqlite_busy_timeout_ms", 15000))
    return engine


def get_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_tm_session(session_factory: sessionmaker[Session], transaction_manager: Any, request: Any = None) -> Session:
    """A session joined to ``transaction_manager``: committing the transaction commits the session.

    The session starts in zope.sqlalchemy's "changed" state. Otherwise a transaction whose only
    writes are Core statements (the scheduler's guarded claim ``UPDATE``, bulk quota holds) looks
    read-only to zope.sqlalchemy, which then rolls it back at commit and the write is lost.
    """
    session = session_factory(info={"request": request})
    zope.sqlalchemy.register(session, transaction_manager=transaction_manager, initial_state="changed")
    return session


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    settings["tm.activate_hook"] = lambda request: not request.path.startswith("/static/")
    settings.setdefault("retry.attempts", 3)
    config.include("pyramid_tm")
    config.include("pyramid_retry")
    engine = settings.get("cati.engine") or get_engine(settings)
    config.registry["dbengine"] = engine
    config.registry["dbsession_factory"] = factory = get_session_factory(engine)

    def dbsession(request: Any) -> Session:
        shared = request.environ.get("cati.dbsession")  # tests hand in a session inside their transaction
        if shared is not None:
            return shared
        return get_tm_session(factory, request.tm, request)

    config.add_request_method(dbsession, reify=True)
