"""Interviews against the database: start with preloads, answer to the end, resume, refuse stale saves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cati.models import AuditEvent, Interview
from cati.questionnaires.engine import Ended
from cati.services import interviews
from cati.services.interviews import InterviewError, StaleInterview
from cati.services.sample_import import import_sample
from cati.services.scheduler import next_case
from cati.services.studies import assign_member, create_study, update_settings
from cati.services.users import create_user

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)
HEADER = "id,phone,name,state,person_type,consent_at,kd_anrede,kd_name,kd_tel,produkt,kaufdatum,montage\n"
ROW = "H1,030 1234567,Erika Muster,BE,private,2026-01-05T10:00:00+01:00,2,Muster,030 1234567,Waschmaschine," \
      "2026-10-01,1\n"


@pytest.fixture
def setup(dbsession):
    study = create_study(dbsession, source=(EXAMPLES / "haustech_nachkauf.yaml").read_text(),
                         source_name="haustech.yaml", purpose="customer_satisfaction")
    update_settings(dbsession, study, {"status": "field"})
    anna = create_user(dbsession, "anna", role="interviewer", password="geheim-passwort", display_name="Anna Berger")
    ben = create_user(dbsession, "ben", role="interviewer", password="geheim-passwort")
    for user in (anna, ben):
        assign_member(dbsession, study, user)
    assert import_sample(dbsession, study, (HEADER + ROW).encode(), filename="s.csv").imported == 1
    case = next_case(dbsession, anna, now=NOW).case
    return study, case, anna, ben


def valid_answer(screen):
    """A simple valid answer for any screen of the fixture."""
    if screen.type in ("single",):
        return screen.options[0].code
    if screen.type == "multi":
        return [screen.options[0].code]
    if screen.type == "nps":
        return 9
    if screen.type == "numeric":
        return screen.min
    if screen.type == "grid":
        return {row.code: 1 for row in screen.rows}
    if screen.type == "text":
        return screen.default or "sehr gut"
    raise AssertionError(screen.type)


def test_start_preloads_the_sample_and_fills_texts(dbsession, setup):
    _, case, anna, _ = setup
    view = interviews.open_for_case(dbsession, case, anna, now=NOW)
    assert view.screen.key == "A1"
    assert "Anna" in view.screen.text and "Frau Muster" in view.screen.text
    assert view.interview.state["sample"]["produkt"] == "Waschmaschine"
    assert view.interview.resp_id and len(view.interview.resp_id) == 32
    # contact data is not in the interview row apart from what the questionnaire declared
    assert "Erika" not in repr(view.interview.state["sample"])


def test_full_interview_completes_and_closes_the_case(dbsession, setup):
    study, case, anna, _ = setup
    view = interviews.open_for_case(dbsession, case, anna, now=NOW)
    interview, screen = view.interview, view.screen
    for _ in range(40):
        if isinstance(screen, Ended):
            break
        result = interviews.answer(dbsession, interview, anna, screen.key, valid_answer(screen),
                                   revision=interview.revision, now=NOW)
        assert result.accepted, (screen.key, result.errors, result.soft)
        screen = result.screen
    assert isinstance(screen, Ended) and screen.disposition == "COMPLETE"
    assert (interview.status, interview.disposition, interview.disposition_code) == ("complete", "COMPLETE", 1)
    assert interview.data["resp_id"] == interview.resp_id and interview.data["N1"] == 9
    assert interview.data["interviewer_id"] == anna.code
    assert (case.state, case.outcome, case.aapor) == ("final", "complete", "1.1")
    actions = [e.action for e in dbsession.scalars(select(AuditEvent).where(AuditEvent.study_id == study.id))]
    assert actions.count("interview.answer") >= 5 and "interview.end" in actions


def test_answers_to_pii_questions_leave_no_value_in_the_audit_trail(dbsession, setup):
    """F3 (pii: the call-back number) is audited as changed, without the number: the trail is
    append-only and erasure cannot reach it. Other answers keep old and new."""
    _, case, anna, _ = setup
    view = interviews.open_for_case(dbsession, case, anna, now=NOW)
    interview, screen = view.interview, view.screen
    given = {"N1": 3, "F3": "0171 5550199"}  # a detractor: the follow-up block asks for a call-back number
    while not isinstance(screen, Ended) and screen.key != "F4":
        screen = interviews.answer(dbsession, interview, anna, screen.key, given.get(screen.key, valid_answer(screen)),
                                   now=NOW).screen
    interviews.back(dbsession, interview, anna, "F3", now=NOW)
    interviews.answer(dbsession, interview, anna, "F3", "030 7654321", now=NOW)
    assert interview.state["answers"]["F3"] == "030 7654321"
    events = [e.details for e in dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "interview.answer")
                                                   .order_by(AuditEvent.id))]
    assert [e["changes"] for e in events if e["key"] == "F3"] == [{"F3": {"pii": True}}] * 2
    assert [e["changes"] for e in events if e["key"] == "N1"] == [{"N1": [None, 3], "N1_band": [None, 1]}]
    for number in ("5550199", "7654321"):
        assert not [e for e in dbsession.scalars(select(AuditEvent)) if number in repr(e.details)]
    assert interviews.personal_keys(interviews.engine_of(dbsession, interview.version_id)) == {"F3"}


def test_questionnaire_refusal_gives_its_own_aapor_code(dbsession, setup):
    _, case, anna, _ = setup
    interview = interviews.open_for_case(dbsession, case, anna, now=NOW).interview
    interviews.answer(dbsession, interview, anna, "A1", 1, now=NOW)
    result = interviews.answer(dbsession, interview, anna, "A2", 2, now=NOW)
    assert isinstance(result.screen, Ended) and result.screen.disposition == "REFUSED"
    assert (interview.status, case.state, case.outcome, case.aapor) == ("ended", "final", "hard_refusal", "2.112")


def test_stale_revision_is_refused_and_changes_nothing(dbsession, setup):
    _, case, anna, _ = setup
    interview = interviews.open_for_case(dbsession, case, anna, now=NOW).interview
    old = interview.revision
    interviews.answer(dbsession, interview, anna, "A1", 1, revision=old, now=NOW)
    state = dict(interview.state)
    with pytest.raises(StaleInterview):
        interviews.answer(dbsession, interview, anna, "A2", 1, revision=old, now=NOW)
    assert interview.state == state


def test_a_second_interviewer_cannot_open_the_case(dbsession, setup):
    _, case, anna, ben = setup
    interviews.open_for_case(dbsession, case, anna, now=NOW)
    with pytest.raises(InterviewError, match="not yours"):
        interviews.open_for_case(dbsession, case, ben, now=NOW)


def test_break_off_resumes_at_the_same_question_on_the_next_call(dbsession, setup):
    _, case, anna, _ = setup
    interview = interviews.open_for_case(dbsession, case, anna, now=NOW).interview
    interviews.answer(dbsession, interview, anna, "A1", 1, now=NOW)
    interviews.answer(dbsession, interview, anna, "A2", 1, now=NOW)
    interviews.break_off(dbsession, interview, anna, note="Akku leer", now=NOW)
    assert (interview.status, case.state, case.outcome) == ("broken_off", "ready", "break_off")
    later = case.next_call_at
    again = next_case(dbsession, anna, now=later)
    assert again.case.id == case.id
    view = interviews.open_for_case(dbsession, again.case, anna, now=later)
    assert view.interview.id == interview.id and view.interview.status == "active"
    assert view.screen.key == "N1"
    assert view.interview.state["answers"]["A2"] == 1
    assert dbsession.scalar(select(Interview.id).where(Interview.case_id == case.id)) == interview.id


def test_back_navigation_is_stored(dbsession, setup):
    _, case, anna, _ = setup
    interview = interviews.open_for_case(dbsession, case, anna, now=NOW).interview
    interviews.answer(dbsession, interview, anna, "A1", 1, now=NOW)
    screen = interviews.back(dbsession, interview, anna, now=NOW)
    assert screen.key == "A1" and screen.existing == 1
    # The stored state reopens on the revisited question, with its answer.
    view = interviews.open_for_case(dbsession, case, anna, now=NOW)
    assert (view.screen.key, view.screen.existing) == ("A1", 1)


def test_refused_break_off_changes_nothing(dbsession, setup):
    from cati.services.scheduler import OutcomeError

    _, case, anna, _ = setup
    interview = interviews.open_for_case(dbsession, case, anna, now=NOW).interview
    interviews.answer(dbsession, interview, anna, "A1", 1, now=NOW)
    with pytest.raises(OutcomeError, match="note"):
        interviews.break_off(dbsession, interview, anna, now=NOW)
    assert (interview.status, case.state, case.attempts) == ("active", "claimed", 0)


def test_engines_are_found_by_checksum_once_per_session_and_built_once(dbsession, setup):
    from sqlalchemy import event

    version = setup[0].current_version
    interviews.engine_for(version)  # built in this process (creating the study may have done so)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if "questionnaire_versions" in statement:
            statements.append(statement)

    bind = dbsession.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        dbsession.info.pop("cati.engines", None)
        engine = interviews.engine_of(dbsession, version.id)
        assert interviews.engine_of(dbsession, version.id) is engine
        assert len(statements) == 1 and "source" not in statements[0]  # the checksum only
        dbsession.info.pop("cati.engines")  # a new request
        assert interviews.engine_of(dbsession, version.id) is engine and len(statements) == 2
        assert interviews.engine_for(version) is engine
    finally:
        event.remove(bind, "before_cursor_execute", count)
