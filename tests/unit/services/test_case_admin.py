"""A supervisor's changes to single cases: each is checked, changes nothing when refused, and is
audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from cati.models import Attempt, AuditEvent, ContactChange
from cati.services import case_admin, scheduler
from cati.services.case_admin import CaseAdminError
from cati.services.dnc import is_blocked
from tests.fieldwork_seed import TUESDAY_10, add_attempt, add_case, local, make_study, make_user, zone


@pytest.fixture
def study(dbsession):
    return make_study(dbsession)


@pytest.fixture
def anna(dbsession, study):
    return make_user(dbsession, study, "anna")


@pytest.fixture
def ben(dbsession, study):
    return make_user(dbsession, study, "ben")


def audit_actions(session, study):
    return list(session.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study.id,
                                                                AuditEvent.action.like("case.%"))
                                .order_by(AuditEvent.id)))


class TestSearch:
    def test_by_reference_exact_then_prefix(self, dbsession, study):
        for ref in ("K-100", "K-1001", "K-1002", "L_1"):
            add_case(dbsession, study, ref)
        assert [c.ref for c in case_admin.search(dbsession, study, "K-100").cases] == ["K-100"]
        assert [c.ref for c in case_admin.search(dbsession, study, "K-10").cases] == ["K-100", "K-1001", "K-1002"]
        assert [c.ref for c in case_admin.search(dbsession, study, "L_").cases] == ["L_1"]
        assert case_admin.search(dbsession, study, "L%").cases == []  # LIKE wildcards are literal
        assert case_admin.search(dbsession, study, "  ").cases == []

    def test_by_number_in_any_notation(self, dbsession, study):
        case = add_case(dbsession, study, "P1", phone="+4930123456")
        other = make_study(dbsession, slug="andere")
        add_case(dbsession, other, "P1", phone="+4930123456")
        for query in ("030 123456", "+49 30 123456", "0049-30-123456"):
            result = case_admin.search(dbsession, study, query, actor_id=None)
            assert (result.by, result.normalised, [c.id for c in result.cases]) == ("number", "+4930123456",
                                                                                   [case.id])
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "case.search")).first()
        assert event.details == {"by": "number", "found": 1}
        assert "123456" not in str(event.details)

    def test_an_unreadable_number_says_why(self, dbsession, study):
        result = case_admin.search(dbsession, study, "+99 123 456 789")
        assert result.cases == []
        assert result.problem

    def test_cases_of_another_study_are_not_found(self, dbsession, study):
        other = make_study(dbsession, slug="andere")
        case = add_case(dbsession, other, "X1")
        assert case_admin.search(dbsession, study, "X1").cases == []
        assert case_admin.get_case(dbsession, study, case.id) is None


class TestRelease:
    def test_claimed_case_goes_back_to_the_pool(self, dbsession, study, anna):
        case = add_case(dbsession, study, state="claimed", claimed_by=anna.id, claimed_at=TUESDAY_10,
                        heartbeat_at=TUESDAY_10)
        case_admin.release(dbsession, case)
        assert (case.state, case.claimed_by) == ("ready", None)
        assert audit_actions(dbsession, study) == ["case.release"]
        assert scheduler.next_case(dbsession, anna, now=TUESDAY_10).case.id == case.id

    def test_a_number_put_on_the_dnc_list_during_the_call_stays_blocked(self, dbsession, study, anna, ben):
        from cati.services import dnc

        cases = [add_case(dbsession, study, phone=f"+4930555000{i}", state="claimed", claimed_by=anna.id,
                          claimed_at=TUESDAY_10, heartbeat_at=TUESDAY_10) for i in (1, 2)]
        dnc.add_numbers(dbsession, ["+49305550001", "+49305550002"], salt="s")
        for case in cases:
            dbsession.refresh(case)  # as the supervisor's request would load it
        case_admin.release(dbsession, cases[0])
        assert (cases[0].state, cases[0].block_kind) == ("blocked", "dnc")
        with pytest.raises(CaseAdminError, match="may not be called any more"):
            case_admin.reassign(dbsession, study, cases[1], ben, now=TUESDAY_10)
        assert cases[1].state == "claimed"
        assert scheduler.next_case(dbsession, ben, now=TUESDAY_10) is None

    def test_only_claimed_cases(self, dbsession, study):
        with pytest.raises(CaseAdminError, match="not being worked on"):
            case_admin.release(dbsession, add_case(dbsession, study))


class TestReassign:
    def test_claimed_case_goes_to_another_interviewer_first(self, dbsession, study, anna, ben):
        case = add_case(dbsession, study, state="claimed", claimed_by=anna.id, claimed_at=TUESDAY_10)
        due = case_admin.reassign(dbsession, study, case, ben, now=TUESDAY_10)
        assert due == TUESDAY_10
        assert (case.state, case.tier, case.reserved_for) == ("ready", 0, ben.id)
        assert case.reserved_until == TUESDAY_10 + dt.timedelta(minutes=15)
        assert scheduler.next_case(dbsession, anna, now=TUESDAY_10) is None
        assert scheduler.next_case(dbsession, ben, now=TUESDAY_10).case.id == case.id
        assert audit_actions(dbsession, study) == ["case.release", "case.reassign"]

    def test_retry_keeps_its_time_and_respects_calling_hours(self, dbsession, study, ben):
        later = local(2026, 11, 24, 20, 50)  # too late for a 15-minute call: next morning 09:00
        case = add_case(dbsession, study, tier=1, outcome="no_answer", aapor="3.13", next_call_at=later)
        due = case_admin.reassign(dbsession, study, case, ben, now=TUESDAY_10)
        assert due == local(2026, 11, 25, 9, 0)

    def test_to_anyone(self, dbsession, study, anna):
        case = add_case(dbsession, study, tier=0, next_call_at=TUESDAY_10, reserved_for=anna.id,
                        reserved_until=TUESDAY_10)
        case_admin.reassign(dbsession, study, case, None, now=TUESDAY_10)
        assert (case.reserved_for, case.reserved_until) == (None, None)

    def test_refusals(self, dbsession, study, anna):
        outsider = make_user(dbsession, None, "otto")
        supervisor = make_user(dbsession, study, "sina", role="supervisor")
        case = add_case(dbsession, study)
        for user in (outsider, supervisor):
            with pytest.raises(CaseAdminError) as info:
                case_admin.reassign(dbsession, study, case, user, now=TUESDAY_10)
            assert info.value.field == "user_id"
        with pytest.raises(CaseAdminError, match="only open cases"):
            case_admin.reassign(dbsession, study, add_case(dbsession, study, state="final"), anna, now=TUESDAY_10)
        assert (case.tier, case.reserved_for) == (2, None)
        assert audit_actions(dbsession, study) == []


class TestFinalise:
    def test_closes_without_an_attempt(self, dbsession, study, anna):
        case = add_case(dbsession, study, tier=1, outcome="no_answer", aapor="3.13", attempts=1)
        case_admin.finalise(dbsession, study, case, "not_eligible", "Firma, kein Haushalt")
        assert (case.state, case.outcome, case.aapor, case.next_call_at) == ("final", "not_eligible", "4.70", None)
        assert dbsession.scalar(select(func.count()).select_from(Attempt)) == 0
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "case.finalise")).one()
        assert event.details["before"] == {"state": "ready", "outcome": "no_answer", "aapor": "3.13"}
        # the note may name the respondent: kept in contact_changes (erasable), the event says there is one
        assert event.details["note"] is True and "Firma" not in str(event.details)
        note = dbsession.get(ContactChange, event.details["note_id"])
        assert (note.case_id, note.field, note.new_value) == (case.id, "finalise_note", "Firma, kein Haushalt")

    def test_max_attempts_keeps_the_most_informative_outcome(self, dbsession, study, anna):
        case = add_case(dbsession, study, tier=1, outcome="answering_machine_message", aapor="3.14", attempts=2)
        add_attempt(dbsession, case, anna, "answering_machine_message", "3.14", TUESDAY_10)
        add_attempt(dbsession, case, anna, "no_answer", "3.13", TUESDAY_10)
        case_admin.finalise(dbsession, study, case, "max_attempts", "Feldende")
        assert (case.state, case.outcome, case.aapor) == ("final", "answering_machine_message", "3.14")

    def test_do_not_call_blocks_the_number(self, dbsession, study):
        case = add_case(dbsession, study, phone="+4930999888")
        case_admin.finalise(dbsession, study, case, "do_not_call", "rief beim Institut an", dnc_salt="s")
        assert is_blocked(dbsession, "+4930999888", salt="s")
        assert (case.state, case.block_kind) == ("final", "dnc")

    @pytest.mark.parametrize(("code", "note", "field"), [("complete", "weil", "outcome"), ("no_answer", "weil",
                                                                                            "outcome"),
                                                         ("hard_refusal", " ", "note")])
    def test_refusals(self, dbsession, study, code, note, field):
        case = add_case(dbsession, study)
        with pytest.raises(CaseAdminError) as info:
            case_admin.finalise(dbsession, study, case, code, note)
        assert info.value.field == field
        assert case.state == "ready"

    def test_claimed_and_final_cases_are_refused(self, dbsession, study, anna):
        for state in ("claimed", "final"):
            with pytest.raises(CaseAdminError):
                case_admin.finalise(dbsession, study, add_case(dbsession, study, state=state, claimed_by=anna.id),
                                    "hard_refusal", "weil")

    def test_offered_outcomes(self, study):
        codes = case_admin.finalise_outcomes(study)
        assert "hard_refusal" in codes and "max_attempts" in codes
        assert "complete" not in codes and "no_answer" not in codes


class TestAppointment:
    def test_hard_appointment_for_an_interviewer(self, dbsession, study, anna, ben):
        case = add_case(dbsession, study)
        at = local(2026, 11, 25, 18, 0)
        case_admin.set_appointment(dbsession, study, case, at, user=ben, note="Rückruf erbeten", now=TUESDAY_10)
        assert (case.tier, case.next_call_at, case.reserved_for) == (0, at, ben.id)
        assert scheduler.next_case(dbsession, anna, now=at) is None
        assert scheduler.next_case(dbsession, ben, now=at).reason == "appointment"
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "case.appointment")).one()
        assert event.details["for_user"] == ben.id
        assert event.details["note"] is True and "Rückruf" not in str(event.details)
        note = dbsession.get(ContactChange, event.details["note_id"])
        assert (note.case_id, note.field, note.new_value) == (case.id, "appointment_note", "Rückruf erbeten")

    @pytest.mark.parametrize(("at", "message"), [(local(2026, 11, 29, 12, 0), "outside calling hours"),
                                                 (local(2026, 11, 23, 12, 0), "in the past")])
    def test_rules_are_checked_in_local_time(self, dbsession, study, at, message):
        case = add_case(dbsession, study)
        with pytest.raises(CaseAdminError, match=message):
            case_admin.set_appointment(dbsession, study, case, at, now=TUESDAY_10)
        assert (case.tier, case.next_call_at) == (2, None)

    def test_respondent_time_zone(self, dbsession, study):
        ny = zone(dbsession, study, "", "America/New_York", "US")
        case = add_case(dbsession, study, zone_id=ny)
        at = case_admin.parse_local("2026-11-25T18:00", "America/New_York")
        case_admin.set_appointment(dbsession, study, case, at, now=TUESDAY_10)
        assert case_admin.local_time(case, case.next_call_at).hour == 18
        with pytest.raises(CaseAdminError, match="outside calling hours"):  # 06:00 in New York
            case_admin.set_appointment(dbsession, study, case, local(2026, 11, 25, 12, 0), now=TUESDAY_10)

    def test_blocked_and_final_cases_are_refused(self, dbsession, study):
        for state in ("blocked", "final", "claimed"):
            with pytest.raises(CaseAdminError):
                case_admin.set_appointment(dbsession, study, add_case(dbsession, study, state=state),
                                           local(2026, 11, 25, 18, 0), now=TUESDAY_10)

    def test_parse_local(self):
        assert case_admin.parse_local("2026-11-25T18:00", "Europe/Berlin") == local(2026, 11, 25, 18, 0)
        with pytest.raises(CaseAdminError):
            case_admin.parse_local("morgen", "Europe/Berlin")


class TestDetail:
    def test_history_and_explanation(self, dbsession, study, anna):
        case = add_case(dbsession, study, tier=1, outcome="no_answer", aapor="3.13", attempts=1,
                        next_call_at=TUESDAY_10 + dt.timedelta(hours=2), phone="+4930123456")
        add_attempt(dbsession, case, anna, "no_answer", "3.13", TUESDAY_10 - dt.timedelta(hours=1))
        info = case_admin.detail(dbsession, study, case, now=TUESDAY_10)
        assert [(a.outcome, a.interviewer) for a in info.attempts] == [("no_answer", "anna")]
        assert info.phones == ["+49301…56"]
        assert not info.explanation.callable
