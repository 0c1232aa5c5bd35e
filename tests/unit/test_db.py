"""Transactions driven by a transaction manager commit Core-only writes too."""

from __future__ import annotations

import time

import pytest
import transaction
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from cati.db import get_session_factory, get_tm_session
from cati.models import AuditEvent
from tests.conftest import TEST_DB


def test_core_only_write_is_committed(engine, clean_database):
    # A claim is a guarded Core UPDATE and nothing else: it must survive the commit.
    tm = transaction.TransactionManager(explicit=True)
    with tm:
        session = get_tm_session(get_session_factory(engine), tm)
        session.execute(text("INSERT INTO audit_events (at, action, target, details) "
                             "VALUES (CURRENT_TIMESTAMP, 'core-only', '', '{}')"))
    with tm:
        session = get_tm_session(get_session_factory(engine), tm)
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_aborted_transaction_writes_nothing(engine, clean_database):
    tm = transaction.TransactionManager(explicit=True)
    tm.begin()
    session = get_tm_session(get_session_factory(engine), tm)
    session.execute(text("INSERT INTO audit_events (at, action, target, details) "
                         "VALUES (CURRENT_TIMESTAMP, 'aborted', '', '{}')"))
    tm.abort()
    with tm:
        session = get_tm_session(get_session_factory(engine), tm)
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def _sqlite_engine(path, busy_timeout_ms=15000):
    from cati.db import get_engine

    engine = get_engine({"sqlalchemy.url": f"sqlite:///{path}", "cati.sqlite_busy_timeout_ms": busy_timeout_ms})
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE arrivals (id INTEGER PRIMARY KEY, who INTEGER)")
    return engine


def test_sqlite_writers_of_one_process_get_the_lock_in_arrival_order(tmp_path):
    """SQLite's own busy handler polls with growing sleeps, so the writer that has waited longest
    is the one most likely to oversleep a free lock; the process's queue serves it first."""
    import threading
    import time

    engine = _sqlite_engine(tmp_path / "order.sqlite")
    holder = engine.connect()
    holder.begin()  # holds the write lock while the others line up
    threads = []

    def write(who):
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO arrivals (who) VALUES (?)", (who,))

    for who in range(8):
        thread = threading.Thread(target=write, args=(who,))
        thread.start()
        threads.append(thread)
        time.sleep(0.06)  # each one queues before the next arrives
    holder.commit()
    holder.close()
    for thread in threads:
        thread.join(10)
    with engine.connect() as connection:
        order = [row[0] for row in connection.exec_driver_sql("SELECT who FROM arrivals ORDER BY id")]
    assert order == list(range(8))


def test_sqlite_lock_is_given_back_by_rollback_failure_and_invalidation(tmp_path):
    from cati.db import FifoLock

    engine = _sqlite_engine(tmp_path / "release.sqlite", busy_timeout_ms=2000)
    with engine.connect() as connection:
        connection.begin()
        connection.exec_driver_sql("INSERT INTO arrivals (who) VALUES (1)")
        connection.rollback()
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            connection.exec_driver_sql("INSERT INTO nowhere VALUES (1)")
        except Exception:
            transaction.rollback()
    with engine.connect() as connection:
        connection.begin()
        connection.invalidate()  # the connection is gone mid-transaction
    started = time.monotonic()
    with engine.begin() as connection:  # would wait for the timeout if a hold had leaked
        connection.exec_driver_sql("INSERT INTO arrivals (who) VALUES (2)")
    assert time.monotonic() - started < 1.0
    lock = FifoLock()
    assert lock.acquire(0.01) and not lock.acquire(0.05)
    lock.release()
    assert lock.acquire(0.01)


def test_sqlite_read_only_transaction_takes_neither_queue_nor_write_lock(tmp_path):
    """A read-only transaction (``cati_read_only``) begins deferred and outside the queue: it reads
    while another connection holds the write lock, and a writer does not wait for it."""
    engine = _sqlite_engine(tmp_path / "read-only.sqlite", busy_timeout_ms=300)
    reader_engine = engine.execution_options(cati_read_only=True)
    holder = engine.connect()
    holder.begin()  # holds the queue and the write lock
    holder.exec_driver_sql("INSERT INTO arrivals (who) VALUES (1)")
    started = time.monotonic()
    with reader_engine.connect() as reader, reader.begin():
        assert reader.exec_driver_sql("SELECT count(*) FROM arrivals").scalar() == 0  # not yet committed
    assert time.monotonic() - started < 0.25
    holder.commit()
    holder.close()
    with reader_engine.connect() as reader, reader.begin():
        assert reader.exec_driver_sql("SELECT count(*) FROM arrivals").scalar() == 1
        started = time.monotonic()
        with engine.begin() as writer:  # the open read transaction holds nothing a writer needs
            writer.exec_driver_sql("INSERT INTO arrivals (who) VALUES (2)")
        assert time.monotonic() - started < 0.25
        assert reader.exec_driver_sql("SELECT count(*) FROM arrivals").scalar() == 1  # its snapshot


def test_read_only_transaction_reads_and_leaves_the_connection_as_it_was(engine):
    from cati.db import read_only_engine

    postgresql = engine.dialect.name == "postgresql"
    with read_only_engine(engine).connect() as connection, connection.begin():
        assert connection.scalar(select(func.count()).select_from(AuditEvent)) >= 0
        if postgresql:
            assert connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
    if postgresql:
        with engine.connect() as connection, connection.begin():
            assert connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "off"


@pytest.mark.db
@pytest.mark.skipif(TEST_DB != "postgresql", reason="restarts a PostgreSQL server")
def test_pooled_connections_survive_a_postgresql_restart():
    from cati.db import get_engine
    from tests.pgserver import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        url = server.create_database("restart")
        checked = get_engine({"sqlalchemy.url": url})
        unchecked = get_engine({"sqlalchemy.url": url, "sqlalchemy.pool_pre_ping": "false"})
        for engine in (checked, unchecked):
            with engine.connect() as connection:  # leaves a connection in the pool
                assert connection.execute(text("SELECT 1")).scalar() == 1
        server.restart()  # as a crash: every connection is cut
        with checked.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
        # What the check prevents: the pooled connection is dead and its first statement fails.
        with pytest.raises(OperationalError), unchecked.connect() as connection:
            connection.execute(text("SELECT 1"))
        checked.dispose()
        unchecked.dispose()
    finally:
        server.stop()


@pytest.mark.parametrize(("setting", "level"), [(None, 2), ("full", 2), ("normal", 1)])
def test_sqlite_commits_are_synced_to_disk_unless_configured_otherwise(tmp_path, setting, level):
    # FULL (2): a commit is on disk before it returns, so an acknowledged answer survives a power cut.
    from cati.db import get_engine

    settings = {"sqlalchemy.url": f"sqlite:///{tmp_path / 'sync.sqlite'}"}
    if setting is not None:
        settings["cati.sqlite_synchronous"] = setting
    engine = get_engine(settings)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == level
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


@pytest.mark.parametrize(("url", "setting", "expected"), [
    ("sqlite:///x.sqlite", None, False), ("sqlite:///x.sqlite", "true", True),
    ("postgresql+psycopg://u@/db", None, True), ("postgresql+psycopg://u@/db", "false", False),
    ("postgresql+psycopg://u@/db", "No", False), ("postgresql+psycopg://u@/db", " yes ", True),
])
def test_pool_pre_ping_defaults_by_database_and_reads_ini_words(url, setting, expected):
    # SQLAlchemy passes an INI "false" on as the string "false", which is true.
    from cati.db import get_engine

    settings = {"sqlalchemy.url": url}
    if setting is not None:
        settings["sqlalchemy.pool_pre_ping"] = setting
    engine = get_engine(settings)
    assert engine.pool._pre_ping is expected
    engine.dispose()
