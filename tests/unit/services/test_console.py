"""The console service: contact panel, outcomes entered by hand, corrections, inbound, figures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cati.models import Attempt, AuditEvent, Case, CasePhone, Contact, ContactChange
from cati.services import console, dnc, interviews
from cati.services.console import ConsoleError
from cati.services.sample_import import import_sample
from cati.services.scheduler import OutcomeError, next_case
from cati.services.studies import assign_member, create_study, update_settings
from cati.services.users import create_user

ROOT = Path(__file__).resolve().parents[3]
BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN).astimezone(dt.UTC)  # a Tuesday
SAMPLE = (
    "id,phone,name,state,postcode,person_type,customer,consent_at,consent_source,language\n"
    "LD-1,030 4411001,Erika Muster,BE,10437,private,no,,,de\n"
    "LD-2,0221 4411002,Max Beispiel,NW,50667,private,no,,,de\n"
)


@pytest.fixture
def setup(dbsession):
    source = (ROOT / "questionnaires" / "lieferdienst_nachfrage.yaml").read_text(encoding="utf-8")
    study = create_study(dbsession, source=source, source_name="lieferdienst.yaml", purpose="research")
    update_settings(dbsession, study, {"status": "field"})
    anna = create_user(dbsession, "anna", role="interviewer", password="geheim-passwort", display_name="Anna Berger",
                       first_name="Anna")
    ben = create_user(dbsession, "ben", role="interviewer", password="geheim-passwort", display_name="Ben Yilmaz")
    for user in (anna, ben):
        assign_member(dbsession, study, user)
    assert import_sample(dbsession, study, SAMPLE.encode(), filename="s.csv").imported == 2
    return study, anna, ben


def case_by_ref(session, study, ref):
    return session.scalar(select(Case).where(Case.study_id == study.id, Case.ref == ref))


class TestContactPanel:
    def test_panel_has_numbers_local_time_and_history(self, dbsession, setup):
        _study, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        console.record_call_outcome(dbsession, case, anna, "busy", now=NOW)
        panel = console.contact_panel(dbsession, case, now=NOW)
        assert panel.name in ("Erika Muster", "Max Beispiel")
        assert panel.phones[0].tel.startswith("tel:+49") and panel.phones[0].display.startswith("+49 ")
        assert panel.local_now == NOW.astimezone(BERLIN) and panel.tz == "Europe/Berlin"
        assert panel.region_name("de") in ("Berlin", "Nordrhein-Westfalen")
        assert [(a.outcome, a.interviewer) for a in panel.attempts] == [("busy", "Anna Berger")]
        assert panel.appointment is None

    def test_introduction_is_the_first_screen_with_fills(self, dbsession, setup):
        _study, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        text = console.introduction(dbsession, case, anna, now=NOW)
        assert text.startswith("Guten Tag, mein Name ist Anna vom Institut Feldblick")
        assert console.interview_of(dbsession, case) is None  # a preview stores nothing

    def test_claimed_case_is_found_again(self, dbsession, setup):
        _, anna, ben = setup
        case = next_case(dbsession, anna, now=NOW).case
        assert console.claimed_case(dbsession, anna) is case
        assert console.claimed_case(dbsession, ben) is None


class TestOutcomes:
    def test_only_interviewer_outcomes_are_offered(self, setup):
        study, _, _ = setup
        codes = [o.code for o in console.interviewer_outcomes(study)]
        assert codes[:2] == ["no_answer", "busy"] and "break_off" in codes
        assert not {"complete", "partial", "screened_out", "quota_full", "max_attempts"} & set(codes)

    def test_engine_outcomes_cannot_be_chosen(self, dbsession, setup):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        with pytest.raises(ConsoleError) as refused:
            console.record_call_outcome(dbsession, case, anna, "complete", now=NOW)
        assert (refused.value.field, refused.value.reason) == ("outcome", "not_allowed")

    def test_break_off_needs_a_started_interview(self, dbsession, setup):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        with pytest.raises(ConsoleError, match="not_started"):
            console.record_call_outcome(dbsession, case, anna, "break_off", note="x", now=NOW)

    def test_an_outcome_pauses_the_running_interview(self, dbsession, setup):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        interview = interviews.open_for_case(dbsession, case, anna, now=NOW).interview
        at = dt.datetime(2026, 11, 25, 18, 0, tzinfo=BERLIN).astimezone(dt.UTC)
        console.record_call_outcome(dbsession, case, anna, "appointment_soft", appointment_at=at, now=NOW)
        assert interview.status == "broken_off"
        assert (case.state, case.tier, case.next_call_at, case.reserved_for) == ("ready", 0, at, None)
        panel = console.contact_panel(dbsession, case, now=NOW)
        assert panel.appointment.local == at.astimezone(BERLIN) and not panel.appointment.hard

    def test_a_refused_outcome_changes_nothing(self, dbsession, setup):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        interview = interviews.open_for_case(dbsession, case, anna, now=NOW).interview
        with pytest.raises(OutcomeError, match="note"):
            console.record_call_outcome(dbsession, case, anna, "break_off", now=NOW)
        assert (interview.status, case.state) == ("active", "claimed")
        assert dbsession.scalar(select(Attempt.id).where(Attempt.case_id == case.id)) is None

    def test_someone_elses_case_is_refused(self, dbsession, setup):
        _, anna, ben = setup
        case = next_case(dbsession, anna, now=NOW).case
        with pytest.raises(ConsoleError, match="not_yours"):
            console.record_call_outcome(dbsession, case, ben, "no_answer", now=NOW)

    def test_wrong_phone_position_is_refused(self, dbsession, setup):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        with pytest.raises(ConsoleError, match="phone_position"):
            console.record_call_outcome(dbsession, case, anna, "no_answer", phone_position=7, now=NOW)

    @pytest.mark.parametrize(("day", "clock", "utc"), [
        ("2026-11-25", "18:00", "2026-11-25T17:00:00+00:00"),  # winter time
        ("2026-07-01", "18:00", "2026-07-01T16:00:00+00:00"),  # summer time
    ])
    def test_appointment_time_is_local_to_the_respondent(self, day, clock, utc):
        assert console.appointment_time("Europe/Berlin", day, clock).isoformat() == utc

    @pytest.mark.parametrize(("day", "clock", "field"), [("", "18:00", "appointment_date"),
                                                         ("2026-11-25", "6 pm", "appointment_time")])
    def test_appointment_time_needs_date_and_time(self, day, clock, field):
        with pytest.raises(ConsoleError) as refused:
            console.appointment_time("Europe/Berlin", day, clock)
        assert refused.value.field == field


class TestCorrections:
    def test_changes_are_applied_and_audited(self, dbsession, setup):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        old = dbsession.get(Contact, case.id).name
        changes = console.correct_contact(dbsession, case, anna, name="  Neue Person ", phones={1: "0171 2345678"},
                                          add_phone="+49 30 5556667")
        number = changes["phone_1"][0]
        assert changes == {"name": [old, "Neue Person"], "phone_1": [number, "+491712345678"],
                           "phone_2": [None, "+49305556667"]}
        phones = dbsession.scalars(select(CasePhone).where(CasePhone.case_id == case.id)
                                   .order_by(CasePhone.position)).all()
        assert [(p.position, p.e164, p.study_id) for p in phones] == [
            (1, "+491712345678", case.study_id), (2, "+49305556667", case.study_id)]
        # the audit event: who, when, which fields and the change ids - never the values
        event = dbsession.scalar(select(AuditEvent).where(AuditEvent.action == "contact.change"))
        kept = dbsession.scalars(select(ContactChange).order_by(ContactChange.id)).all()
        assert (event.user_id, event.target, event.details) == (anna.id, f"case:{case.ref}", {"changes": [
            {"id": c.id, "field": c.field} for c in kept]})
        for value in (old, number, "Neue Person", "+491712345678", "+49305556667"):
            assert value not in str(event.details)
        # the values: erasable, with who and which case
        assert [(c.case_id, c.study_id, c.user_id, c.field, c.old_value, c.new_value) for c in kept] == [
            (case.id, case.study_id, anna.id, "name", old, "Neue Person"),
            (case.id, case.study_id, anna.id, "phone_1", number, "+491712345678"),
            (case.id, case.study_id, anna.id, "phone_2", None, "+49305556667")]

    def test_unchanged_values_are_no_change(self, dbsession, setup):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        contact = dbsession.get(Contact, case.id)
        number = dbsession.scalar(select(CasePhone.e164).where(CasePhone.case_id == case.id))
        assert console.correct_contact(dbsession, case, anna, name=contact.name, phones={1: number}) == {}

    @pytest.mark.parametrize(("kwargs", "field", "reason"), [
        ({"add_phone": "12"}, "add_phone", "invalid"),
        ({"phones": {1: "nonsense"}}, "phone_1", "invalid"),
        ({"name": "x" * 201}, "name", "too_long"),
    ])
    def test_refusals(self, dbsession, setup, kwargs, field, reason):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        with pytest.raises(ConsoleError) as refused:
            console.correct_contact(dbsession, case, anna, **kwargs)
        assert (refused.value.field, refused.value.reason) == (field, reason)

    def test_duplicate_and_do_not_call_numbers_are_refused(self, dbsession, setup):
        _, anna, _ = setup
        case = next_case(dbsession, anna, now=NOW).case
        number = dbsession.scalar(select(CasePhone.e164).where(CasePhone.case_id == case.id))
        with pytest.raises(ConsoleError, match="duplicate"):
            console.correct_contact(dbsession, case, anna, add_phone=number)
        dnc.add_numbers(dbsession, ["+49305556667"], salt="salz")
        with pytest.raises(ConsoleError, match="dnc"):
            console.correct_contact(dbsession, case, anna, add_phone="030 5556667", dnc_salt="salz")


class TestInbound:
    def test_found_by_number_in_any_notation_in_own_studies_only(self, dbsession, setup):
        _study, anna, _ = setup
        outsider = create_user(dbsession, "otto", role="interviewer", password="geheim-passwort")
        for raw in ("030 4411001", "+49 30 4411001", "0049 (0)30 441 1001"):
            matches = console.find_by_phone(dbsession, anna, raw)
            assert [(m.ref, m.name, m.refusal) for m in matches] == [("LD-1", "Erika Muster", None)]
        assert console.find_by_phone(dbsession, outsider, "030 4411001") == []
        with pytest.raises(ConsoleError, match="invalid"):
            console.find_by_phone(dbsession, anna, "0")

    def test_claim_whatever_the_calling_window(self, dbsession, setup):
        study, anna, _ = setup
        case = case_by_ref(dbsession, study, "LD-1")
        case.state, case.block_kind, case.block_reason = "blocked", "window", "no calling window"
        dbsession.flush()
        console.claim_for_inbound(dbsession, case, anna, now=NOW)
        assert (case.state, case.claimed_by, case.block_kind) == ("claimed", anna.id, "")
        console.claim_for_inbound(dbsession, case, anna, now=NOW)  # again: already hers, fine
        assert [m.refusal for m in console.find_by_phone(dbsession, anna, "030 4411001")] == ["yours"]

    @pytest.mark.parametrize(("state", "block_kind", "reason"), [
        ("final", "", "final"), ("blocked", "dnc", "dnc"), ("blocked", "legal", "blocked"),
    ])
    def test_closed_cases_are_refused(self, dbsession, setup, state, block_kind, reason):
        study, anna, _ = setup
        case = case_by_ref(dbsession, study, "LD-1")
        case.state, case.block_kind = state, block_kind
        dbsession.flush()
        with pytest.raises(ConsoleError) as refused:
            console.claim_for_inbound(dbsession, case, anna, now=NOW)
        assert refused.value.reason == reason

    def test_taken_cases_and_busy_interviewers_are_refused(self, dbsession, setup):
        study, anna, ben = setup
        first, second = case_by_ref(dbsession, study, "LD-1"), case_by_ref(dbsession, study, "LD-2")
        console.claim_for_inbound(dbsession, first, ben, now=NOW)
        with pytest.raises(ConsoleError, match="claimed"):
            console.claim_for_inbound(dbsession, first, anna, now=NOW)
        with pytest.raises(ConsoleError, match="busy"):
            console.claim_for_inbound(dbsession, second, ben, now=NOW)

    def test_study_not_in_field(self, dbsession, setup):
        study, anna, _ = setup
        update_settings(dbsession, study, {"status": "paused"})
        assert [m.refusal for m in console.find_by_phone(dbsession, anna, "030 4411001")] == ["not_in_field"]


class TestToday:
    def test_calls_completes_and_rate(self, dbsession, setup):
        study, anna, ben = setup
        case = case_by_ref(dbsession, study, "LD-1")

        def attempt(user, started, outcome):
            dbsession.add(Attempt(case_id=case.id, study_id=study.id, user_id=user.id, started_at=started,
                                  ended_at=started, outcome=outcome, aapor="1.1"))

        attempt(anna, NOW - dt.timedelta(days=1), "complete")  # yesterday
        attempt(anna, NOW - dt.timedelta(hours=2), "no_answer")
        attempt(anna, NOW - dt.timedelta(hours=1), "complete")
        attempt(anna, NOW - dt.timedelta(minutes=30), "complete")
        attempt(ben, NOW - dt.timedelta(minutes=5), "complete")
        dbsession.flush()
        stats = console.today_stats(dbsession, anna, now=NOW, tz="Europe/Berlin")
        assert (stats.calls, stats.completes, stats.per_hour) == (3, 2, 1.0)
        assert stats.since == NOW - dt.timedelta(hours=2)
        first = console.today_stats(dbsession, ben, now=NOW, tz="Europe/Berlin")
        assert (first.calls, first.completes, first.per_hour) == (1, 1, 4.0)  # at least a quarter of an hour
        nothing = console.today_stats(dbsession, create_user(dbsession, "neu", role="interviewer",
                                                             password="geheim-passwort"), now=NOW)
        assert (nothing.calls, nothing.completes, nothing.per_hour, nothing.since) == (0, 0, 0.0, None)
