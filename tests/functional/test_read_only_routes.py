"""GETs of the routes declared read-only (``cati.web.routes.READ_ONLY_ROUTES``) run in read-only
transactions: on SQLite they read beside a writer instead of waiting for the write lock, on
PostgreSQL a write among them would fail (``READ ONLY``). Everything else still writes.

The requests run in their real transactions here, on committed data, not inside the test's
rolled-back one (whose shared session would bypass the choice); ``clean_database`` empties the
tables afterwards.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import webtest
from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cati import main
from cati.db import READ_ONLY, get_engine, reads_only
from cati.models import AuditEvent, BackCheck, Client, ExportJob, Study, StudyMember
from cati.web.routes import READ_ONLY_ROUTES
from tests.fieldwork_seed import add_attempt, add_case, add_interview, make_study, zone

from .conftest import add_user, csrf_token, login

USERS = {"admin": "alice", "supervisor": "sven", "interviewer": "ines", "client": "carla"}
#: Read-only routes that record an audit event after reading, in a short transaction of their own.
RECORDING = {"supervisor.report"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def seeded(engine, clean_database) -> dict[str, Any]:
    """A study in field owned by the client, supervised by Sven, with cases, attempts, an
    interview, a back-check and an export job: every read-only page has something to show."""
    with Session(engine) as session, session.begin():
        acme = Client(name="Acme Mobility")
        session.add(acme)
        session.flush()
        users = {role: add_user(session, name, role, client=acme if role == "client" else None)
                 for role, name in USERS.items()}
        study = make_study(session, slug="ebike-read-only")
        study.client_id = acme.id
        for role in ("supervisor", "interviewer"):
            session.add(StudyMember(study_id=study.id, user_id=users[role].id))
        ines = users["interviewer"]
        be = zone(session, study, "BE")
        add_case(session, study, "K-001", zone_id=be, phone="+4930111222")
        add_case(session, study, "K-002", zone_id=be, state="claimed", claimed_by=ines.id, claimed_at=now(),
                 heartbeat_at=now())
        done = add_case(session, study, "K-003", zone_id=be, state="final", outcome="complete", aapor="1.1",
                        attempts=1)
        add_attempt(session, done, ines, "complete", "1.1", now() - dt.timedelta(minutes=30), 15)
        interview = add_interview(session, study, done, ines, started_at=now() - dt.timedelta(minutes=29))
        session.add(BackCheck(study_id=study.id, interview_id=interview.id, interviewer_id=ines.id))
        session.add(ExportJob(study_id=study.id, requested_by=users["client"].id, format="csv",
                              options={"groups": ["complete"]}, fingerprint="f" * 64, status="failed",
                              error="disk full"))
        session.add(AuditEvent(user_id=users["supervisor"].id, study_id=study.id, action="study.settings",
                               target=f"study:{study.slug}"))
        return {"slug": study.slug, "study_id": study.id, "case_id": done.id}


def pages(seeded: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, path) for a page of every read-only route, each as a user who may see it."""
    study = f"/studies/{seeded['slug']}"
    portal = f"/portal/{seeded['slug']}"
    return [
        ("supervisor", "/"),
        ("interviewer", "/"),  # the interviewer's start page: held case and today's figures
        ("admin", "/admin/users"),
        ("admin", "/admin/audit"),
        ("admin", "/studies"),
        ("admin", study),
        ("supervisor", study),
        ("supervisor", f"{study}/quotas"),
        ("supervisor", f"{study}/dashboard"),
        ("supervisor", f"{study}/dashboard.json"),
        ("supervisor", f"{study}/dashboard/live"),
        ("supervisor", f"{study}/productivity"),
        ("supervisor", f"{study}/audit"),
        ("supervisor", f"{study}/control"),
        ("supervisor", f"{study}/cases/{seeded['case_id']}"),
        ("supervisor", f"{study}/due"),
        ("supervisor", f"{study}/backchecks"),
        ("supervisor", f"{study}/reports/dispositions.csv"),
        ("client", "/portal"),
        ("client", portal),
        ("client", f"{portal}/topline"),
        ("client", f"{portal}/downloads"),
    ]


def route_of(app: Any, path: str) -> str:
    """The route a path matches (the first one, as Pyramid's router tries them in order)."""
    for route in app.registry.getUtility(IRoutesMapper).get_routes():
        if route.match(path) is not None:
            return route.name
    raise AssertionError(f"no route for {path}")


def logged_in(app: Any) -> dict[str, webtest.TestApp]:
    clients = {}
    for role, username in USERS.items():
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "cati.test", "REMOTE_ADDR": "192.0.2.10"})
        assert login(client, username).status_int == 303
        clients[role] = client
    return clients


@pytest.fixture
def transactions(engine) -> Iterator[list[bool]]:
    """Whether each transaction begun meanwhile was read-only."""
    begun: list[bool] = []

    def record(connection: Any) -> None:
        begun.append(bool(connection.get_execution_options().get(READ_ONLY)))

    event.listen(engine, "begin", record)
    yield begun
    event.remove(engine, "begin", record)


def test_every_read_only_route_has_a_page_here(app, seeded):
    assert {route_of(app, path) for _role, path in pages(seeded)} == READ_ONLY_ROUTES


def test_read_only_pages_read_in_read_only_transactions_and_the_rest_writes(app, seeded, engine, transactions):
    # On PostgreSQL a write in any of the read-only ones would fail: READ ONLY.
    clients = logged_in(app)
    for role, path in pages(seeded):
        transactions.clear()
        response = clients[role].get(path, status=200)
        assert response.body
        if route_of(app, path) in RECORDING:  # reads first, then writes its audit event on its own
            assert transactions[:-1] and all(transactions[:-1]) and transactions[-1] is False, (path, transactions)
        else:
            assert transactions and all(transactions), (path, transactions)
    supervisor, study = clients["supervisor"], f"/studies/{seeded['slug']}"
    transactions.clear()
    supervisor.head(f"{study}/dashboard", status=200)
    assert transactions and all(transactions)

    token = csrf_token(supervisor)
    transactions.clear()
    supervisor.post(f"{study}/control/status", {"status": "paused", "csrf_token": token}, status=303)
    assert transactions == [False]
    transactions.clear()
    supervisor.get(f"{study}/cases", {"q": "030 111222"}, status=200)  # a search by number is audited
    assert transactions == [False]
    with Session(engine) as session:
        assert session.scalar(select(Study.status).where(Study.id == seeded["study_id"])) == "paused"
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.study_id == seeded["study_id"])))
        assert "case.search" in actions


def test_before_routing_the_session_is_a_writing_one(app):
    request = Request.blank("/studies/x/dashboard")
    request.registry = app.registry
    assert not reads_only(request)  # no matched route yet


@pytest.fixture
def impatient_app(app, settings, engine) -> Iterator[Any]:
    """The app on its own engine that gives up on SQLite's write lock after 0.3 s (not 15 s)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the write lock is SQLite's")
    impatient = get_engine({**settings, "cati.sqlite_busy_timeout_ms": 300})
    yield main({}, **settings, **{"cati.engine": impatient, "cati.gc_freeze": "false"})
    impatient.dispose()


def test_read_only_pages_do_not_wait_for_the_write_lock(impatient_app, seeded, engine):
    # A supervisor's dashboard reads for up to half a second; holding the write lock meanwhile
    # would stall every interviewer's answer behind it.
    clients = logged_in(impatient_app)
    writer = sqlite3.connect(engine.url.database, timeout=0.3, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # an interviewer's answer, being written
    try:
        for role, path in pages(seeded):
            if route_of(impatient_app, path) not in RECORDING:  # those write at the end (test below)
                clients[role].get(path, status=200)
        with pytest.raises(OperationalError, match="database is locked"):  # an undeclared route waits
            clients["supervisor"].get(f"/studies/{seeded['slug']}/cases")
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_report_is_built_without_the_write_lock(impatient_app, seeded, engine, monkeypatch):
    # The dispositions report of a big study takes seconds to write (as Excel); interviewers must
    # be able to save answers meanwhile. A writer with a 0.3 s timeout writes while the report is
    # being built: it would fail with "database is locked" if the report held the lock.
    from cati.services import reports

    build, written = reports.write_csv, []

    def build_while_someone_writes(rows: Any, out: Any) -> int:
        other = sqlite3.connect(engine.url.database, timeout=0.3, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("COMMIT")
        finally:
            other.close()
        written.append(True)
        return build(rows, out)

    monkeypatch.setattr(reports, "write_csv", build_while_someone_writes)
    supervisor = logged_in(impatient_app)["supervisor"]
    response = supervisor.get(f"/studies/{seeded['slug']}/reports/dispositions.csv", status=200)
    assert written and response.body.startswith(b"reference,")
    with Session(engine) as session:  # and the download is audited, after the build
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.download")).one()
        assert event.details["format"] == "csv"
