"""Nothing is lost and nothing is overwritten: second tabs, second interviewers, strangers, a
request that dies half-way, the heartbeat."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest
import transaction
import webtest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.models import AuditEvent, Case, Interview, StudyMember
from cati.services import audit, interviews
from cati.services.sample_import import import_sample
from cati.services.scheduler import next_case as claim_next
from cati.services.studies import create_study, update_settings
from cati.services.users import create_user

from . import test_console_journeys as journeys
from .conftest import csrf_token, login
from .test_console_journeys import (
    QUESTIONNAIRE,
    SAMPLE,
    START,
    answer,
    case_id_of,
    interview_of,
    interviewer_app,
    next_case,
    screen_key,
    start,
)

# The console fixtures, shared with the journeys.
clock, console_world, ines = journeys.clock, journeys.console_world, journeys.ines


class TestSecondWindow:
    def test_second_tab_is_refused_and_changes_nothing(self, console_world, ines, dbsession):
        page = answer(start(next_case(ines)))
        assert screen_key(page) == "Q1"
        other_tab = ines.get(page.request.path)  # the same question open twice
        answer(page, value="1")  # the first tab goes on
        form = other_tab.forms["answer-form"]
        form["value"] = "2"
        response = form.submit()
        assert response.status_int == 303  # refused: back to the current question...
        current = response.follow()
        assert "in einem anderen Fenster oder Tab fortgesetzt" in current.text  # ...with the reason
        assert screen_key(current) == "Q2"
        interview = interview_of(dbsession, dbsession.get(Case, case_id_of(page)))
        assert interview.state["answers"]["Q1"] == 1

    def test_stale_outcome_from_an_old_tab_is_refused(self, console_world, ines, dbsession):
        page = answer(start(next_case(ines)))
        old_tab = ines.get(page.request.path).click(linkid="outcome-link")
        answer(page, value="1")
        form = old_tab.forms["outcome-form"]
        form["outcome"] = "break_off"
        form["note"] = "aufgelegt"
        response = form.submit("then", value="home")
        assert response.status_int == 303 and "/console/cases/" in response.location
        case = dbsession.get(Case, case_id_of(page))
        assert interview_of(dbsession, case).status == "active" and case.state == "claimed"

    def test_double_submit_of_the_same_form_is_refused(self, console_world, ines, dbsession):
        page = answer(start(next_case(ines)))
        form = page.forms["answer-form"]
        form["value"] = "1"
        assert screen_key(form.submit().follow()) == "Q2"
        again = form.submit()  # a second click on a slow connection
        assert "in einem anderen Fenster oder Tab fortgesetzt" in again.follow().text
        interview = interview_of(dbsession, dbsession.get(Case, case_id_of(page)))
        answers = dbsession.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "interview.answer", AuditEvent.target == f"interview:{interview.id}"))
        assert answers == 1


    def test_digits_python_reads_but_ids_are_not_made_of_are_refused_not_a_crash(self, console_world, ines,
                                                                                      dbsession):
        """``"²".isdigit()`` is true and ``int("²")`` raises: such a revision, grid row, phone
        position or confirmed check index was a 500."""
        page = answer(start(next_case(ines)))
        form = page.forms["answer-form"]
        form["value"] = "1"
        form["revision"] = "²"
        response = form.submit(status=303)  # a revision that cannot be one: treated as stale
        current = response.follow()
        assert screen_key(current) == "Q1" and "in einem anderen Fenster oder Tab fortgesetzt" in current.text
        url = page.request.path
        for field in ("row-²", "phone-²", "confirm"):
            ines.post(f"{url}/answer", {"csrf_token": csrf_token(ines), "key": "Q1", "type": "grid",
                                        field: "²", "revision": "x"}, status=(303, 422))
        interview = interview_of(dbsession, dbsession.get(Case, case_id_of(page)))
        assert "Q1" not in interview.state["answers"]
        # Back with a revision that cannot be one is stale too, not a Back without a guard
        at_q2 = answer(current, value="1")
        assert screen_key(at_q2) == "Q2"
        ines.post(f"{url}/back", {"csrf_token": csrf_token(ines), "revision": "²"}, status=303)
        assert screen_key(ines.get(url)) == "Q2"


class TestOtherPeople:
    def test_second_interviewer_is_refused(self, console_world, ines, browser, dbsession):
        page = answer(start(next_case(ines)))
        url = page.request.path
        bert = interviewer_app(browser, "bert")
        refused = bert.get(url, status=409)
        assert "Ines Interviewer bearbeitet diesen Fall gerade" in refused.text
        assert "answer-form" not in refused.text and "Erika" not in refused.text  # no respondent data
        token = csrf_token(bert)
        for action, data in (("answer", {"key": "Q1", "value": "2"}), ("outcome", {"outcome": "no_answer"}),
                             ("start", {}), ("back", {}), ("contact", {"name": "X"})):
            bert.post(f"{url}/{action}", {**data, "csrf_token": token}, status=409)
        for page_name in ("outcome", "contact"):
            assert "Erika" not in bert.get(f"{url}/{page_name}", status=409).text
        bert.post(f"{url}/heartbeat", headers={"X-CSRF-Token": token}, status=409)
        case = dbsession.get(Case, case_id_of(page))
        interview = interview_of(dbsession, case)
        assert (case.claimed_by, interview.state["answers"].get("Q1")) == (console_world.interviewer.id, None)

    def test_interviewer_cannot_open_a_case_of_a_study_not_assigned(self, console_world, ines, dbsession,
                                                                       browser, clock):
        elsewhere = create_study(dbsession, source=QUESTIONNAIRE.replace("id: konsole_test", "id: anderswo"),
                                 source_name="anderswo.yaml", purpose="research")
        update_settings(dbsession, elsewhere, {"status": "field"})
        import_sample(dbsession, elsewhere, SAMPLE.encode(), filename="s.csv")
        stranger_case = dbsession.scalar(select(Case).where(Case.study_id == elsewhere.id).limit(1))
        url = f"/console/cases/{stranger_case.id}"
        assert ines.get(url, status=404)
        token = csrf_token(ines)
        ines.post(f"{url}/claim", {"csrf_token": token}, status=404)
        ines.post(f"{url}/answer", {"csrf_token": token}, status=404)
        # Not even by the inbound look-up: it searches the interviewer's studies only.
        lookup = ines.get("/console/lookup", {"phone": "030 4411001"})
        assert lookup.html.find(id=f"claim-{stranger_case.id}") is None
        assert lookup.html.find(id=f"claim-{console_world.case(dbsession, 'K-001').id}") is not None
        assert stranger_case.state == "ready"

    def test_unknown_case_is_404_and_anonymous_goes_to_login(self, console_world, ines, browser):
        ines.get("/console/cases/999999", status=404)
        anonymous = browser()
        response = anonymous.get("/console/cases/999999", status=303)
        assert "/login?next=" in response.location


class TestHeartbeat:
    def test_login_heartbeats_and_logout_make_the_work_session(self, console_world, ines, dbsession, clock):
        """Logged-in time for productivity: from the login, moved by heartbeats at most once a
        minute, ended by the logout."""
        from cati.models import WorkSession

        [row] = dbsession.scalars(select(WorkSession).where(
            WorkSession.user_id == console_world.interviewer.id)).all()
        assert row.ended_at is None
        page = next_case(ines)
        dbsession.refresh(row)
        assert row.last_seen_at == clock.now
        console = page.html.find(id="console")
        beat = {"headers": {"X-CSRF-Token": console["data-csrf"]}}
        clock.advance(seconds=30)
        ines.post(console["data-heartbeat-url"], **beat)
        dbsession.refresh(row)
        assert row.last_seen_at == clock.now - dt.timedelta(seconds=30)  # not every heartbeat writes
        clock.advance(minutes=2)
        ines.post(console["data-heartbeat-url"], **beat)
        dbsession.refresh(row)
        assert row.last_seen_at == clock.now
        ines.post("/logout", {"csrf_token": console["data-csrf"]}, status=303)
        dbsession.refresh(row)
        assert row.ended_at is not None

    def test_heartbeat_keeps_the_claim_and_reports_a_lost_one(self, console_world, ines, dbsession, clock):
        page = next_case(ines)
        case = dbsession.get(Case, case_id_of(page))
        token = page.html.find(id="console")["data-csrf"]
        url = page.html.find(id="console")["data-heartbeat-url"]
        clock.advance(minutes=5)
        assert ines.post(url, headers={"X-CSRF-Token": token}).json == {"ok": True}
        dbsession.flush()
        dbsession.refresh(case)
        assert case.heartbeat_at == clock.now
        ines.post(url, status=400)  # no CSRF token
        case.state, case.claimed_by = "ready", None  # released (stale-claim release, a supervisor)
        dbsession.flush()
        assert ines.post(url, headers={"X-CSRF-Token": token}, status=409).json == {"ok": False}
        page = ines.get(page.request.path, status=409)
        assert "nicht zugeteilt" in page.text and "verloren" in page.text


# --------------------------------------------------------------------------- a request dies


@pytest.fixture
def committed_case(app: Any, clean_database: Any) -> dict[str, Any]:
    """A study, an interviewer and a claimed case with a started interview, all committed for
    real: this test runs requests in pyramid_tm's own transactions, not the savepoint fixture's."""
    manager = transaction.TransactionManager(explicit=True)
    password = secrets.token_hex(8)
    with manager:
        session: Session = app.registry["dbsession_factory"]()
        import zope.sqlalchemy

        zope.sqlalchemy.register(session, transaction_manager=manager)
        study = create_study(session, source=QUESTIONNAIRE, source_name="konsole.yaml", purpose="research")
        update_settings(session, study, {"status": "field"})
        user = create_user(session, "kim", role="interviewer", password=password, display_name="Kim")
        session.add(StudyMember(study_id=study.id, user_id=user.id))
        import_sample(session, study, SAMPLE.encode(), filename="s.csv")
        case = claim_next(session, user, now=START).case
        view = interviews.open_for_case(session, case, user, now=START)
        interviews.forward(session, view.interview, user, now=START)  # past the introduction, at Q1
        ids = {"case": case.id, "interview": view.interview.id}
    return {"password": password, **ids}


def test_a_request_that_dies_after_parsing_the_answer_leaves_nothing_half_written(app, committed_case, clean_database,
                                                                                   monkeypatch):
    web = webtest.TestApp(app, extra_environ={"HTTP_HOST": "cati.test"})
    assert login(web, "kim", committed_case["password"]).status_int == 303
    url = f"/console/cases/{committed_case['case']}"

    def read() -> tuple[int, dict[str, Any], int]:
        with Session(clean_database) as session:
            interview = session.get(Interview, committed_case["interview"])
            events = session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "interview.answer"))
            return interview.revision, interview.state, events

    before = read()
    page = web.get(url)
    assert screen_key(page) == "Q1"
    form = page.forms["answer-form"]
    form["value"] = "1"
    real_record = audit.record

    def dies(session: Any, action: str, **kw: Any) -> Any:
        if action == "interview.answer":
            # The answer has been parsed, validated and the new state flushed: now the process dies.
            raise RuntimeError("power cut")
        return real_record(session, action, **kw)

    monkeypatch.setattr(audit, "record", dies)
    with pytest.raises(RuntimeError, match="power cut"):
        form.submit()
    assert read() == before  # revision, state and audit trail as they were

    monkeypatch.setattr(audit, "record", real_record)
    again = web.get(url)
    assert screen_key(again) == "Q1"  # the same question, nothing lost and nothing half-stored
    form = again.forms["answer-form"]
    form["value"] = "1"
    assert screen_key(form.submit().follow()) == "Q2"
    revision, state, events = read()
    assert (revision, state["answers"]["Q1"], events) == (before[0] + 1, 1, before[2] + 1)


def test_claims_and_outcomes_survive_the_commit(app, committed_case, clean_database, monkeypatch):
    """Outside the savepoint fixtures: the claim of "next case" (a textual UPDATE in the
    scheduler) and an outcome are committed by pyramid_tm, not silently rolled back."""
    from cati.web.views import console as console_views

    monkeypatch.setattr(console_views, "now_utc", lambda: START)
    web = webtest.TestApp(app, extra_environ={"HTTP_HOST": "cati.test"})
    assert login(web, "kim", committed_case["password"]).status_int == 303
    page = web.get(f"/console/cases/{committed_case['case']}/outcome")
    form = page.forms["outcome-form"]
    form["outcome"] = "busy"
    response = form.submit("then", value="next")
    assert response.status_int == 303 and "/console/cases/" in response.location
    new_case = int(response.location.rsplit("/", 1)[1])
    assert new_case != committed_case["case"]
    assert "start-form" in response.follow().forms
    with Session(clean_database) as session:
        old, new = session.get(Case, committed_case["case"]), session.get(Case, new_case)
        assert (old.state, old.outcome, old.claimed_by) == ("ready", "busy", None)
        assert (new.state, new.claimed_by) == ("claimed", session.get(Interview, committed_case["interview"])
                                               .interviewer_id)
        assert session.get(Interview, committed_case["interview"]).status == "broken_off"

