"""Engine, sessions and the per-request transaction.

Every request gets ``request.dbsession`` joined to ``request.tm`` (pyramid_tm): the request
commits as a whole or not at all, and nothing calls ``commit()`` by hand. Scripts use
:func:`get_tm_session` with their own ``transaction.TransactionManager``.

SQLite is the embedded default. It gets WAL (readers never block the writer) with every commit
synced to disk (``cati.sqlite_synchronous``, see :data:`SQLITE_SYNCHRONOUS`), a busy timeout,
foreign keys, and ``BEGIN IMMEDIATE`` so that a transaction that will write takes the write lock
up front: with deferred BEGIN two transactions that read and then write deadlock and one fails
at once with "database is locked" instead of waiting its turn.

Within one process, SQLite transactions also queue in arrival order on a :class:`FifoLock`
before ``BEGIN IMMEDIATE``. Without it the threads of a waitress process wait in SQLite's busy
handler, which polls with sleeps growing to 100 ms: a transaction that arrives while the lock is
held waits for the next poll, not for the commit, and an unlucky one keeps losing the race for
seconds (a 1 s p99 for 28 ms median answer submissions, and logins timing out behind argon2). The
busy timeout still governs waits for other processes (the CLI, an export worker).

Read-only transactions are the exception: on a connection with the execution option
``cati_read_only=True`` (:func:`read_only_engine`, :func:`read_only_session`) SQLite gets a plain
deferred ``BEGIN`` and no place in the queue, so it reads its WAL snapshot while writers come and
go and never holds the write lock; it must not write. On PostgreSQL it is an ordinary transaction
declared ``READ ONLY``. Logins use one to verify the password (argon2, 50-150 ms of CPU) before the
request's writing transaction begins, so a burst of logins does not stall everybody's writes.

Whole requests run read-only too: a GET or HEAD of a route the web layer declares read-only
(``cati.web.routes.READ_ONLY_ROUTES``, registered under :data:`READ_ONLY_ROUTES_KEY`) gets a
``request.dbsession`` on the read-only engine, still joined to ``request.tm``. Supervisors'
dashboards and reports read for 100-500 ms; in a writing transaction each would hold SQLite's
write lock that long and every interviewer's answer would wait behind it. The choice is made when
``request.dbsession`` is first used, from the matched route; a session asked for before routing
(nothing does so: pyramid_tm's ``tm.annotate_user`` is switched off for this) is a writing one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import zope.sqlalchemy
from sqlalchemy import engine_from_config, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


class FifoLock:
    """A lock handed to its waiters in the order they asked (``threading.Lock`` is not fair)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            baton = threading.Lock()
            baton.acquire()
            self._waiters.append(baton)
        if baton.acquire(timeout=timeout):
            return True
        with self._mutex:
            try:
                self._waiters.remove(baton)
            except ValueError:
                return True  # handed over just as the wait timed out: it is ours
        return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # straight to the next in line; never free between
            else:
                self._held = False


_HOLDS = "cati.fifo_lock_held"
#: ``cati.sqlite_synchronous``: ``full`` (the default) syncs the write-ahead log to disk at every
#: commit, so an answer whose next screen the interviewer saw survives a power cut or an operating
#: system crash too; ``normal`` syncs only at checkpoints: 0.3 ms less per commit here, but the
#: last commits before a power cut may be gone (an application crash loses nothing either way).
SQLITE_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}
#: Execution option of connections whose transactions only read (see the module docstring).
READ_ONLY = "cati_read_only"
#: Registry key of the names of the routes whose GET and HEAD requests only read.
READ_ONLY_ROUTES_KEY = "cati.read_only_routes"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def _read_only(connection: Any) -> bool:
    return bool(connection.get_execution_options().get(READ_ONLY))


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, synchronous: str = "full") -> None:
    queue = FifoLock()
    timeout = max(busy_timeout_ms, 1) / 1000

    def release(connection: Any) -> None:
        try:
            info = connection.info
        except (AttributeError, NotImplementedError):  # the dialect's first-connect probe
            return
        if info.pop(_HOLDS, False):
            queue.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {SQLITE_SYNCHRONOUS[synchronous]}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if _read_only(connection):
            connection.exec_driver_sql("BEGIN")  # deferred: takes no lock a writer needs
            return
        # Past the timeout go on without the queue: SQLite's busy timeout then has the last word.
        if queue.acquire(timeout):
            connection.info[_HOLDS] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            release(connection)
            raise

    # Released after the COMMIT/ROLLBACK itself (engine events fire before it, and the next in
    # line would find the database still locked). The dialect object belongs to this engine;
    # the pool's rollback of a connection returned mid-transaction passes through here too.
    dialect = engine.dialect
    for name in ("do_commit", "do_rollback"):
        finish = getattr(dialect, name)

        def finish_then_release(dbapi_connection: Any, finish: Any = finish) -> None:
            try:
                finish(dbapi_connection)
            finally:
                release(dbapi_connection)

        setattr(dialect, name, finish_then_release)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # A connection invalidated mid-transaction: nobody will commit or roll it back.
        if record.info.pop(_HOLDS, False):
            queue.release()


def _configure_read_only(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if _read_only(connection):  # the driver has not sent BEGIN yet: this opens the transaction
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")


def get_engine(settings: dict[str, Any], prefix: str = "sqlalchemy.") -> Engine:
    """The engine for ``settings`` (``sqlalchemy.*``, as :func:`sqlalchemy.engine_from_config`).

    A PostgreSQL server that restarted (a crash, a fail-over, maintenance) leaves every pooled
    connection dead; the first request on each would fail. So on PostgreSQL a connection is tested
    when it is taken from the pool (``pool_pre_ping``, one round trip) and replaced if it is gone,
    unless the settings say otherwise (``sqlalchemy.pool_pre_ping = false``).
    """
    # engine_from_config passes an INI file's "false" on as a (true) string: read it here.
    ping = settings.get(f"{prefix}pool_pre_ping", not str(settings.get(f"{prefix}url", "")).startswith("sqlite"))
    ping = ping.strip().lower() in ("true", "yes", "on", "1") if isinstance(ping, str) else bool(ping)
    settings = {**settings, f"{prefix}pool_pre_ping": ping}
    engine = engine_from_config(settings, prefix)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, int(settings.get("cati.sqlite_busy_timeout_ms", 15000)),
                          str(settings.get("cati.sqlite_synchronous", "full")).lower())
    else:
        _configure_read_only(engine)
    return engine


def read_only_engine(engine: Engine) -> Engine:
    """``engine`` for transactions that only read: on SQLite they take neither the queue nor the
    write lock (see the module docstring)."""
    return engine.execution_options(**{READ_ONLY: True})


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


def reads_only(request: Any) -> bool:
    """Whether ``request`` may run in a read-only transaction: a GET or HEAD of a route declared
    read-only. Before routing there is no matched route, hence no: the writing session is the safe
    fallback."""
    route = getattr(request, "matched_route", None)
    return (route is not None and request.method in SAFE_METHODS
            and route.name in request.registry.get(READ_ONLY_ROUTES_KEY, ()))


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    settings["tm.activate_hook"] = lambda request: not request.path.startswith("/static/")
    # pyramid_tm would load the user through request.dbsession before routing, fixing every
    # request to a writing session; the audit trail records who did what itself.
    settings["tm.annotate_user"] = False
    settings.setdefault("retry.attempts", 3)
    config.include("pyramid_tm")
    config.include("pyramid_retry")
    engine = settings.get("cati.engine") or get_engine(settings)
    config.registry["dbengine"] = engine
    config.registry["dbsession_factory"] = factory = get_session_factory(engine)
    config.registry["dbengine_read_only"] = read_only = read_only_engine(engine)
    config.registry["dbsession_factory_read_only"] = read_only_factory = get_session_factory(read_only)

    def dbsession(request: Any) -> Session:
        shared = request.environ.get("cati.dbsession")  # tests hand in a session inside their transaction
        if shared is not None:
            return shared
        return get_tm_session(read_only_factory if reads_only(request) else factory, request.tm, request)

    config.add_request_method(dbsession, reify=True)


@contextmanager
def own_write_session(request: Any) -> Iterator[Session]:
    """A writing transaction of its own, committed when the block is left (rolled back if it
    raises), for a request that reads in a read-only transaction but must record a fact: a report
    download's audit event. SQLite's write lock is taken when the block's writes are flushed, at its
    end, not while the request read; the caller records only after its reading is done.

    Tests that hand in ``cati.dbsession`` get that session back (see :func:`read_only_session`)."""
    shared = request.environ.get("cati.dbsession")
    if shared is not None:
        yield shared
        return
    session = request.registry["dbsession_factory"]()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


@contextmanager
def read_only_session(request: Any) -> Iterator[Session]:
    """A session for reads made before the request's own transaction begins, in a read-only
    transaction of its own that ends (rolled back) when the block is left. Nothing it loads may be
    written through ``request.dbsession``: pass ids or values across.

    Tests that hand in ``cati.dbsession`` get that session back, since the data they set up is only
    visible inside their transaction."""
    shared = request.environ.get("cati.dbsession")
    if shared is not None:
        yield shared
        return
    registry = request.registry
    session = registry["dbsession_factory_read_only"]()
    try:
        yield session
    finally:
        session.close()
