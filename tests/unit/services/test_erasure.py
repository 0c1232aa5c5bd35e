"""Erasing contact data (GDPR Art. 17): contacts, numbers, notes and answers to pii questions go;
the other answers, the data export and the disposition stay; the case is never delivered again;
one audit event without personal data per case; all or nothing."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from cati.models import Attempt, AuditEvent, BackCheck, Base, Case, CasePhone, Contact, ContactChange, Interview
from cati.questionnaires.engine import Ended
from cati.services import case_admin, console, dnc, erasure, exports, interviews, reports, scheduler
from cati.services.erasure import ErasureError
from cati.services.exports import Selection
from cati.services.studies import create_study, update_settings
from tests.fieldwork_seed import TUESDAY_10, add_attempt, add_case, make_study, make_user
from tests.unit.services.test_exports_service import COMPLETE, QUESTIONNAIRE, add_interview

NUMBER = "+4930555123"  # the erased contact's numbers
MOBILE = "+491715550199"
SALT = "cati-dnc"


@pytest.fixture
def study(dbsession):
    study = create_study(dbsession, source=QUESTIONNAIRE, source_name="export_test.yaml", purpose="research")
    update_settings(dbsession, study, {"status": "field"})
    return study


@pytest.fixture
def anna(dbsession, study):
    return make_user(dbsession, study, "anna")


@pytest.fixture
def done(dbsession, study, anna):
    """A completed case: two numbers, a personal sample field, an attempt note naming her."""
    case = add_case(dbsession, study, "K-1", phone=NUMBER, state="final", outcome="complete", aapor="1.1",
                    attempts=2, fields={"region": 1})
    dbsession.add(CasePhone(case_id=case.id, study_id=study.id, position=2, e164=MOBILE))
    case.contact.pii_fields = {"kd_tel": "030 555123"}
    attempt = add_attempt(dbsession, case, anna, "no_answer", "3.13", TUESDAY_10)
    attempt.note = "Erika Muster: lieber auf 0171 5550199 anrufen"
    add_attempt(dbsession, case, anna, "complete", "1.1", TUESDAY_10)
    add_interview(dbsession, study, COMPLETE, case=case, sample={"kd_tel": "030 555123", "region": 1})
    dbsession.flush()
    return case


def _erase(session, study, refs, **kw):
    kw.setdefault("actor_id", None)
    return erasure.erase_contacts(session, study, erasure.find_cases(session, study, refs), **kw)


def _anonymous_rows(session, study):
    """The data export's rows: personal variables (``pii``) are left out of it."""
    personal = {v.name for book in exports.codebooks(session, study, []).values() for v in book if v.pii}
    return [{k: v for k, v in row.items() if k not in personal}
            for row in exports.iter_rows(session, study, Selection())]


def _rows_mentioning(session, needle: str) -> list[str]:
    """Every row of every table whose text contains ``needle``."""
    hits = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            if needle in str(tuple(row)).replace(" ", ""):
                hits.append(f"{table.name}: {row}")
    return hits


class TestErase:
    def test_contact_numbers_and_notes_are_gone_everywhere(self, dbsession, study, done):
        for needle in ("555123", "5550199", "Muster"):
            assert _rows_mentioning(dbsession, needle)  # there before
        [result] = _erase(dbsession, study, ["K-1"], reason="Brief vom 20.11.")
        assert (result.numbers, result.notes_blanked, result.sample_values_removed) == (2, 1, 1)
        dbsession.expire_all()
        assert dbsession.get(Contact, done.id) is None
        assert dbsession.scalar(select(func.count()).select_from(CasePhone)) == 0
        for needle in ("555123", "5550199", "Muster"):
            assert _rows_mentioning(dbsession, needle) == []
        # attempts keep outcome, time and interviewer; never a number
        assert [(a.outcome, a.note, a.phone_position) for a in
                dbsession.scalars(select(Attempt).order_by(Attempt.id))] == [("no_answer", "", 1),
                                                                           ("complete", "", 1)]

    def test_corrections_and_supervisor_notes_leave_nothing_anywhere(self, dbsession, study, done, anna):
        """Corrected names and numbers and supervisors' notes live in erasable rows; the audit
        trail only names them, and shows "erased" afterwards."""
        corrected = add_case(dbsession, study, "K-5", phone="+4940555777")
        console.correct_contact(dbsession, corrected, anna, name="Erika Neuname", phones={1: "+49 40 5558888"},
                                add_phone="+49 171 5552222")
        case_admin.finalise(dbsession, study, corrected, "not_eligible", "Frau Neuname: Firma, 040 5558888",
                            actor_id=anna.id)
        interview = dbsession.scalar(select(Interview).where(Interview.case_id == done.id))
        dbsession.add(BackCheck(study_id=study.id, interview_id=interview.id, status="failed",
                                note="Frau Muster sagt, 0171 5550199 sei falsch"))
        dbsession.flush()
        needles = ("555777", "5558888", "5552222", "Neuname", "555123", "5550199", "Muster")
        for needle in needles:
            assert _rows_mentioning(dbsession, needle)  # there before
        [audited] = [r for r in reports.audit_trail(dbsession, study)[0] if r.action == "contact.change"]
        assert [(v.field, v.old, v.new, v.erased) for v in audited.values] == [
            ("name", "Erika Muster", "Erika Neuname", False), ("phone_1", "+4940555777", "+49405558888", False),
            ("phone_2", None, "+491715552222", False)]
        [result, _] = _erase(dbsession, study, ["K-5", "K-1"], actor_id=anna.id)
        assert result.changes_deleted == 4  # three corrections and the note
        dbsession.expire_all()
        assert dbsession.scalar(select(func.count()).select_from(ContactChange)) == 0
        for needle in needles:
            assert _rows_mentioning(dbsession, needle) == []
        rows = {r.action: r for r in reports.audit_trail(dbsession, study)[0]}
        assert [(v.field, v.erased) for v in rows["contact.change"].values] == [
            ("name", True), ("phone_1", True), ("phone_2", True)]
        assert [(v.field, v.erased) for v in rows["case.finalise"].values] == [("note", True)]
        assert dbsession.get(Case, corrected.id).outcome == "not_eligible"

    def test_answers_disposition_and_data_export_stay(self, dbsession, study, done):
        interview = dbsession.scalar(select(Interview))
        answers = copy.deepcopy(interview.state["answers"])
        data_before = _anonymous_rows(dbsession, study)
        _erase(dbsession, study, ["K-1"])
        dbsession.expire_all()
        interview = dbsession.scalar(select(Interview))
        assert interview.state["answers"] == {k: v for k, v in answers.items() if k != "T1"}  # T1 is pii
        assert interview.state["sample"] == {"region": 1}
        assert (interview.status, interview.data["region"], interview.data["kd_tel"], interview.data["T1"]) == (
            "complete", 1, None, None)
        assert _anonymous_rows(dbsession, study) == data_before  # what the data export holds
        case = dbsession.get(Case, done.id)
        assert (case.state, case.outcome, case.aapor, case.block_kind) == ("final", "complete", "1.1", "erased")
        # the contact export still has the interview, without contact data
        [row] = exports.iter_rows(dbsession, study, Selection(), contacts=True)
        assert row["resp_id"] == interview.resp_id and row["case_ref"] == "K-1"
        assert [row[k] for k in ("contact_name", "contact_phone", "contact_phone2", "kd_tel", "T1")] == [None] * 5
        built = exports.build(dbsession, study, Selection(), contacts=True)
        assert built.dataset is not None
        explanation = scheduler.explain_case(dbsession, study, case, TUESDAY_10)
        assert any(r.startswith("contact data erased") for r in explanation.reasons)

    def test_answers_to_pii_questions_are_gone_everywhere(self, dbsession, study, anna):
        """T1 (pii: a call-back number) answered in the interviewer screen: after erasure the
        number is in no table, the audit trail included; the other answers are unchanged."""
        case = add_case(dbsession, study, "K-7", phone=NUMBER, state="claimed", claimed_by=anna.id)
        view = interviews.open_for_case(dbsession, case, anna, now=TUESDAY_10)
        given, screen = {**COMPLETE, "T1": "0176 555 4433"}, view.screen
        while not isinstance(screen, Ended):
            screen = interviews.answer(dbsession, view.interview, anna, screen.key, given[screen.key],
                                       confirm_soft=range(5), now=TUESDAY_10).screen
        interview = view.interview
        assert interview.status == "complete" and interview.data["T1"] == "0176 555 4433"
        assert _rows_mentioning(dbsession, "01765554433")  # there before: the interview's state and row
        answers, data_before = copy.deepcopy(interview.state["answers"]), _anonymous_rows(dbsession, study)
        [result] = _erase(dbsession, study, ["K-7"])
        assert result.pii_answers_removed == 1
        dbsession.expire_all()
        assert _rows_mentioning(dbsession, "01765554433") == []
        interview = dbsession.get(Interview, interview.id)
        assert interview.state["answers"] == {k: v for k, v in answers.items() if k != "T1"}
        assert interview.data["T1"] is None and interview.data["N1"] == 9
        assert _anonymous_rows(dbsession, study) == data_before
        [event] = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "case.erase"))
        assert event.details["pii_answers_removed"] == 1

    def test_an_open_case_is_never_delivered_again_and_explain_says_why(self, dbsession, study, anna):
        case = add_case(dbsession, study, "K-2", phone=NUMBER, state="ready", tier=scheduler.TIER_APPOINTMENT,
                        next_call_at=TUESDAY_10, reserved_for=anna.id, reserved_until=TUESDAY_10)
        _erase(dbsession, study, ["K-2"])
        assert (case.state, case.block_kind, case.next_call_at, case.reserved_for) == ("blocked", "erased", None,
                                                                                      None)
        assert scheduler.next_case(dbsession, anna, now=TUESDAY_10) is None
        explanation = scheduler.explain_case(dbsession, study, case, TUESDAY_10)
        assert not explanation.callable and explanation.next_callable_at is None
        assert any(r.startswith("contact data erased") for r in explanation.reasons)

    def test_with_dnc_the_numbers_are_blocked_in_every_study(self, dbsession, study, done):
        other_study = make_study(dbsession, slug="andere")
        other = add_case(dbsession, other_study, "X-9", phone=MOBILE)
        [result] = _erase(dbsession, study, ["K-1"], do_not_call=True, dnc_salt=SALT)
        assert result.dnc
        assert dnc.is_blocked(dbsession, NUMBER, salt=SALT) and dnc.is_blocked(dbsession, MOBILE, salt=SALT)
        dbsession.refresh(other)
        assert (other.state, other.block_kind) == ("blocked", "dnc")
        case = dbsession.get(Case, done.id)
        assert case.block_reason.endswith("(numbers on the do-not-call list)")

    def test_one_audit_event_per_case_without_personal_data(self, dbsession, study, done, anna):
        add_case(dbsession, study, "K-3", phone="+4989123456")
        _erase(dbsession, study, ["K-1", "K-3"], actor_id=anna.id, reason="Anruf beim Institut", do_not_call=True,
               dnc_salt=SALT)
        events = list(dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "case.erase")
                                        .order_by(AuditEvent.id)))
        assert [(e.target, e.user_id, e.study_id) for e in events] == [("case:K-1", anna.id, study.id),
                                                                       ("case:K-3", anna.id, study.id)]
        assert events[0].details["reason"] == "Anruf beim Institut"
        assert events[0].details["do_not_call"] is True
        assert events[0].details["case_id"] == done.id
        text_of_events = str([(e.target, e.details) for e in events])
        for needle in ("555123", "5550199", "89123456", "Muster"):
            assert needle not in text_of_events
        # erasing again: nothing to do, no second event
        [again] = _erase(dbsession, study, ["K-1"])
        assert again.already
        assert dbsession.scalar(select(func.count()).where(AuditEvent.action == "case.erase")) == 2


class TestRefused:
    def _unchanged(self, dbsession, case):
        dbsession.expire_all()
        assert dbsession.get(Contact, case.id) is not None
        assert dbsession.scalar(select(func.count()).select_from(CasePhone)) >= 1
        assert dbsession.get(Case, case.id).block_kind == ""
        assert dbsession.scalar(select(func.count()).where(AuditEvent.action == "case.erase")) == 0

    def test_unknown_references_are_named_and_nothing_is_erased(self, dbsession, study, done):
        with pytest.raises(ErasureError, match="K-404, K-405") as info:
            erasure.find_cases(dbsession, study, ["K-1", "K-404", "K-405"])
        assert info.value.refs == ["K-404", "K-405"]
        self._unchanged(dbsession, done)

    def test_a_case_being_called_is_refused(self, dbsession, study, done, anna):
        busy = add_case(dbsession, study, "K-4", phone="+4989123456", state="claimed", claimed_by=anna.id,
                        claimed_at=TUESDAY_10, heartbeat_at=TUESDAY_10)
        with pytest.raises(ErasureError, match=r"being called right now: K-4 \(by anna\)"):
            _erase(dbsession, study, ["K-1", "K-4"])
        self._unchanged(dbsession, done)
        assert dbsession.get(Contact, busy.id) is not None

    def test_a_claim_between_the_check_and_the_erasure_stops_it(self, dbsession, study, done, anna):
        from sqlalchemy import update

        open_case = add_case(dbsession, study, "K-5", phone="+4989654321")
        cases = erasure.find_cases(dbsession, study, ["K-5"])  # loaded as ready ...
        dbsession.execute(update(Case).where(Case.id == open_case.id)  # ... then an interviewer claims it
                          .values(state="claimed", claimed_by=anna.id).execution_options(synchronize_session=False))
        with pytest.raises(ErasureError, match="claimed by an interviewer meanwhile; nothing erased"):
            erasure.erase_contacts(dbsession, study, cases, actor_id=None)
        # the caller's transaction is rolled back (cati.cli.env does); nothing was deleted before the check
        assert dbsession.get(Contact, open_case.id) is not None

    def test_a_reason_naming_the_contact_is_refused(self, dbsession, study, done):
        for reason in ("Erika Muster hat geschrieben", "Anruf von 030 555 123"):
            with pytest.raises(ErasureError, match="reason names the contact of case K-1"):
                _erase(dbsession, study, ["K-1"], reason=reason)
        self._unchanged(dbsession, done)



def test_erasure_removes_the_study_s_contact_export_files(dbsession, study, done, tmp_path):
    from cati.services import export_jobs

    job, _ = export_jobs.request_export(dbsession, study, "csv", Selection(), user_id=None, directory=tmp_path,
                                        contacts=True)
    path = export_jobs.download_path(job, tmp_path)
    assert path.is_file()
    _erase(dbsession, study, ["K-1"], export_directory=tmp_path)
    assert not path.exists() and job.status == "expired"
