"""The scheduler: delivery order, calling rules per zone, outcomes and what they schedule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cati.models import Case
from cati.services import scheduler
from cati.services.sample_import import import_sample
from cati.services.scheduler import OutcomeError, due_cases, explain_case, next_case, record_outcome
from cati.services.studies import assign_member, create_study, update_settings
from cati.services.users import create_user

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"
BERLIN = ZoneInfo("Europe/Berlin")


def local(*args):
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(dt.UTC)


TUESDAY_10 = local(2026, 11, 24, 10, 0)


@pytest.fixture
def study(dbsession):
    source = (EXAMPLES / "ebike_abo_konzept.yaml").read_text()
    study = create_study(dbsession, source=source, source_name="ebike.yaml", purpose="research")
    update_settings(dbsession, study, {"status": "field"})
    return study


@pytest.fixture
def anna(dbsession, study):
    user = create_user(dbsession, "anna", role="interviewer", password="geheim-passwort")
    assign_member(dbsession, study, user)
    return user


@pytest.fixture
def ben(dbsession, study):
    user = create_user(dbsession, "ben", role="interviewer", password="geheim-passwort")
    assign_member(dbsession, study, user)
    return user


def load(session, study, rows):
    text = "id,phone,state,language\n" + "".join(f"{r},{p},{s},{lang}\n" for r, p, s, lang in rows)
    report = import_sample(session, study, text.encode(), filename="s.csv")
    assert report.committed, report.lines()


SAMPLE = [("A", "030 1111111", "BE", ""), ("B", "089 2222222", "BY", ""), ("C", "0511 3333333", "NI", ""),
          ("D", "0221 4444444", "NW", "")]


def claim_all(session, user, now):
    refs = []
    while (delivery := next_case(session, user, now=now)) is not None:
        refs.append(delivery.case.ref)
    return refs


def test_each_case_is_delivered_once_in_seeded_order(dbsession, study, anna, ben):
    load(dbsession, study, SAMPLE)
    first = next_case(dbsession, anna, now=TUESDAY_10)
    second = next_case(dbsession, ben, now=TUESDAY_10)
    assert first.reason == second.reason == "fresh"
    rest = claim_all(dbsession, anna, TUESDAY_10)
    delivered = [first.case.ref, second.case.ref, *rest]
    assert sorted(delivered) == ["A", "B", "C", "D"]
    expected = [c.ref for c in dbsession.scalars(select(Case).order_by(Case.order_key))]
    assert delivered == expected
    claimed = dbsession.scalars(select(Case)).all()
    assert {c.state for c in claimed} == {"claimed"}
    assert {c.ref: c.claimed_by for c in claimed}[first.case.ref] == anna.id


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(2026, 11, 22, 12, 0), []),  # Sunday
        (local(2026, 11, 24, 8, 59), []),  # before 09:00 (adm)
        (local(2026, 11, 24, 20, 46), []),  # a 15-minute call would end after 21:00
        (local(2026, 11, 24, 20, 45), ["A", "B", "C", "D"]),  # ... ends at 21:00 exactly
        (local(2026, 11, 28, 9, 30), []),  # Saturday before 10:00
        (local(2026, 10, 31, 11, 0), ["A", "B", "D"]),  # Reformation Day: holiday in NI, not in BE/BY/NW
        (local(2026, 11, 18, 11, 0), ["A", "B", "C", "D"]),  # Buß- und Bettag: only Saxony
        (local(2026, 11, 1, 11, 0), []),  # All Saints is a Sunday in 2026 anyway
    ],
)
def test_calling_hours_and_state_holidays(dbsession, study, anna, moment, expected):
    load(dbsession, study, SAMPLE)
    assert sorted(claim_all(dbsession, anna, moment)) == expected


def test_ddv_profile_for_customer_satisfaction_calls_from_eight(dbsession, study, anna):
    update_settings(dbsession, study, {"calling_profile": "ddv"})
    load(dbsession, study, SAMPLE[:1])
    assert claim_all(dbsession, anna, local(2026, 11, 24, 8, 5)) == ["A"]


def test_no_answer_waits_for_the_retry_delay_then_comes_before_fresh(dbsession, study, anna):
    load(dbsession, study, SAMPLE[:2])
    first = next_case(dbsession, anna, now=TUESDAY_10).case
    record_outcome(dbsession, first, anna, "no_answer", now=TUESDAY_10 + dt.timedelta(minutes=1))
    assert (first.state, first.tier, first.attempts, first.aapor) == ("ready", 1, 1, "3.13")
    assert first.next_call_at >= TUESDAY_10 + dt.timedelta(minutes=121)
    # Before the delay only the fresh case is due; afterwards the retry comes first.
    soon = TUESDAY_10 + dt.timedelta(minutes=30)
    assert [(d.reason) for d in due_cases(dbsession, study, soon)] == ["fresh"]
    assert first.ref not in [d.ref for d in due_cases(dbsession, study, soon)]
    later = first.next_call_at + dt.timedelta(minutes=1)
    due = due_cases(dbsession, study, later)
    assert [(d.ref, d.reason) for d in due] == [(first.ref, "retry"), (due[1].ref, "fresh")]
    assert next_case(dbsession, anna, now=later).case.ref == first.ref


def test_hard_appointment_belongs_to_its_interviewer_until_the_grace_period(dbsession, study, anna, ben):
    load(dbsession, study, SAMPLE[:1])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    at = local(2026, 11, 25, 18, 0)
    record_outcome(dbsession, case, anna, "appointment_hard", appointment_at=at, now=TUESDAY_10)
    assert (case.tier, case.reserved_for) == (0, anna.id)
    assert next_case(dbsession, ben, now=at) is None
    assert explain_case(dbsession, study, case, at).callable is False
    assert next_case(dbsession, ben, now=at + dt.timedelta(minutes=16)).case.ref == case.ref


def test_soft_appointment_goes_to_whoever_draws_first_when_due(dbsession, study, anna, ben):
    """"Soft: anyone may call": no reservation; at its time it comes before every fresh case, to
    the first interviewer who asks, not only to the one who made it."""
    load(dbsession, study, SAMPLE)
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    at = local(2026, 11, 25, 18, 0)
    record_outcome(dbsession, case, anna, "appointment_soft", appointment_at=at, now=TUESDAY_10)
    assert case.reserved_for is None
    assert next_case(dbsession, ben, now=at - dt.timedelta(minutes=5)).reason == "fresh"  # not due yet
    delivery = next_case(dbsession, ben, now=at)
    assert (delivery.case.ref, delivery.reason) == (case.ref, "appointment")


def test_appointment_is_kept_in_the_respondents_time_zone(dbsession, study, anna):
    """A respondent in New York asked for 10:00 their time: that is 16:00 in Berlin, and the case
    is due then, not at 10:00 Berlin time."""
    from zoneinfo import ZoneInfo

    load(dbsession, study, [("US", "+1 212 555 0123", "", "")])
    case = next_case(dbsession, anna, now=local(2026, 11, 24, 17, 0)).case
    at = dt.datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    record_outcome(dbsession, case, anna, "appointment_hard", appointment_at=at, now=local(2026, 11, 24, 17, 0))
    assert next_case(dbsession, anna, now=local(2026, 11, 25, 10, 0)) is None
    delivery = next_case(dbsession, anna, now=local(2026, 11, 25, 16, 0))
    assert (delivery.case.ref, delivery.reason) == ("US", "appointment")


def test_appointment_due_goes_to_its_interviewer(dbsession, study, anna):
    load(dbsession, study, SAMPLE[:2])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    at = local(2026, 11, 25, 18, 0)
    record_outcome(dbsession, case, anna, "appointment_hard", appointment_at=at, now=TUESDAY_10)
    delivery = next_case(dbsession, anna, now=at)
    assert (delivery.case.ref, delivery.reason) == (case.ref, "appointment")


@pytest.mark.parametrize(
    ("at", "message"),
    [(local(2026, 11, 29, 12, 0), "outside calling hours"), (local(2026, 11, 23, 12, 0), "in the past")],
)
def test_appointment_outside_calling_hours_is_refused(dbsession, study, anna, at, message):
    load(dbsession, study, SAMPLE[:1])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    with pytest.raises(OutcomeError, match=message):
        record_outcome(dbsession, case, anna, "appointment_soft", appointment_at=at, now=TUESDAY_10)
    assert (case.state, case.attempts) == ("claimed", 0)


def test_final_outcomes_close_the_case(dbsession, study, anna):
    load(dbsession, study, SAMPLE[:1])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    record_outcome(dbsession, case, anna, "hard_refusal", note="will nie angerufen werden", now=TUESDAY_10)
    assert case.state == "final"
    assert case.aapor.startswith("2.11")
    assert next_case(dbsession, anna, now=TUESDAY_10 + dt.timedelta(days=30)) is None
    reasons = explain_case(dbsession, study, case, TUESDAY_10).reasons
    assert any("final disposition" in r for r in reasons)


def test_do_not_call_blocks_the_number_in_every_study(dbsession, study, anna):
    load(dbsession, study, SAMPLE[:1])
    other = create_study(dbsession, source=(EXAMPLES / "ebike_abo_konzept.yaml").read_text(),
                         source_name="e.yaml", slug="zweite")
    load(dbsession, other, SAMPLE[:1])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    record_outcome(dbsession, case, anna, "do_not_call", now=TUESDAY_10)
    twin = dbsession.scalar(select(Case).where(Case.study_id == other.id))
    dbsession.refresh(twin)
    assert (case.state, twin.state, twin.block_kind) == ("final", "blocked", "dnc")


def test_attempt_limits(dbsession, study, anna):
    update_settings(dbsession, study, {"max_attempts": "3", "max_attempts_per_day": "2", "retry.busy": "1"})
    load(dbsession, study, SAMPLE[:1])
    now = TUESDAY_10
    for _ in range(2):
        case = next_case(dbsession, anna, now=now).case
        record_outcome(dbsession, case, anna, "busy", now=now)
        now = case.next_call_at
    # Two attempts today: the next is tomorrow from 09:00.
    assert case.next_call_at == local(2026, 11, 25, 9, 0)
    case = next_case(dbsession, anna, now=case.next_call_at).case
    record_outcome(dbsession, case, anna, "busy", now=local(2026, 11, 25, 9, 1))
    assert (case.state, case.outcome, case.attempts) == ("final", "busy", 3)


def test_language_skill_restricts_delivery(dbsession, study, anna, ben):
    anna.skills = {"languages": ["de"]}
    ben.skills = {"languages": ["de", "tr"]}
    load(dbsession, study, [("T", "030 5555555", "BE", "tr")])
    assert next_case(dbsession, anna, now=TUESDAY_10) is None
    assert next_case(dbsession, ben, now=TUESDAY_10).case.ref == "T"


def test_soft_refusals_go_to_refusal_converters(dbsession, study, anna, ben):
    ben.skills = {"refusal_conversion": True}
    load(dbsession, study, SAMPLE[:1])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    record_outcome(dbsession, case, anna, "soft_refusal", note="keine Zeit", now=TUESDAY_10)
    later = case.next_call_at
    assert next_case(dbsession, anna, now=later) is None
    assert next_case(dbsession, ben, now=later).case.ref == case.ref


def test_stale_claims_return_to_the_pool(dbsession, study, anna, ben):
    load(dbsession, study, SAMPLE[:1])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    assert next_case(dbsession, ben, now=TUESDAY_10) is None
    later = TUESDAY_10 + dt.timedelta(minutes=31)
    assert scheduler.release_stale_claims(dbsession, later, 1800, force=True) == 1
    assert next_case(dbsession, ben, now=later).case.ref == case.ref


def test_a_number_put_on_the_dnc_list_during_the_call_blocks_the_case_whatever_ends_the_claim(
        dbsession, study, anna, ben):
    from cati.services import dnc

    load(dbsession, study, SAMPLE[:2])
    vanished = next_case(dbsession, anna, now=TUESDAY_10).case
    outcome = next_case(dbsession, ben, now=TUESDAY_10).case
    numbers = [p.e164 for case in (vanished, outcome) for p in case.contact.phones]
    dnc.add_numbers(dbsession, numbers, salt="another-salt-than-the-release-knows")
    for case in (vanished, outcome):
        dbsession.refresh(case)  # as the next request would load them
    assert (vanished.state, vanished.claimed_by) == ("claimed", anna.id)  # the call goes on
    later = TUESDAY_10 + dt.timedelta(minutes=31)
    scheduler.heartbeat(dbsession, outcome, ben, now=later - dt.timedelta(minutes=1))
    assert scheduler.release_stale_claims(dbsession, later, 1800, force=True) == 1
    record_outcome(dbsession, outcome, ben, "no_answer", now=later)  # the default salt: no help either
    for case in (vanished, outcome):
        dbsession.refresh(case)
        assert (case.state, case.block_kind) == ("blocked", "dnc")
    assert next_case(dbsession, anna, now=later + dt.timedelta(days=1)) is None


def test_heartbeat_keeps_the_claim(dbsession, study, anna):
    load(dbsession, study, SAMPLE[:1])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    assert scheduler.heartbeat(dbsession, case, anna, now=TUESDAY_10 + dt.timedelta(minutes=29))
    assert scheduler.release_stale_claims(dbsession, TUESDAY_10 + dt.timedelta(minutes=31), 1800, force=True) == 0


def test_only_studies_in_field_deliver(dbsession, study, anna):
    load(dbsession, study, SAMPLE[:1])
    update_settings(dbsession, study, {"status": "paused"})
    assert next_case(dbsession, anna, now=TUESDAY_10) is None
    assert due_cases(dbsession, study, TUESDAY_10) == []
    case = dbsession.scalar(select(Case))
    assert any("paused" in r for r in explain_case(dbsession, study, case, TUESDAY_10).reasons)


def test_explain_gives_every_reason_and_the_next_time(dbsession, study, anna):
    load(dbsession, study, SAMPLE[:1])
    case = dbsession.scalar(select(Case))
    sunday = local(2026, 11, 22, 12, 0)
    explanation = explain_case(dbsession, study, case, sunday)
    assert not explanation.callable
    assert any("Sunday" in r for r in explanation.reasons)
    assert explanation.next_callable_at == local(2026, 11, 23, 9, 0)
    assert explain_case(dbsession, study, case, TUESDAY_10).callable


def test_outcome_needing_a_note_is_refused_without_one(dbsession, study, anna):
    load(dbsession, study, SAMPLE[:1])
    case = next_case(dbsession, anna, now=TUESDAY_10).case
    with pytest.raises(OutcomeError, match="note"):
        record_outcome(dbsession, case, anna, "soft_refusal", now=TUESDAY_10)
    with pytest.raises(OutcomeError, match="unknown outcome"):
        record_outcome(dbsession, case, anna, "vanished", now=TUESDAY_10)
    assert (case.state, case.attempts) == ("claimed", 0)


def test_no_answers_spread_over_parts_of_the_day(dbsession, study, anna):
    update_settings(dbsession, study, {"retry.no_answer": "30"})
    load(dbsession, study, SAMPLE[:1])
    now = local(2026, 11, 24, 9, 0)
    parts = []
    for _ in range(4):
        case = next_case(dbsession, anna, now=now).case
        parts.append(scheduler.calling_rules.day_part(now.astimezone(BERLIN)))
        record_outcome(dbsession, case, anna, "no_answer", now=now)
        now = case.next_call_at
    # After two morning no-answers the next try moves out of the morning.
    assert parts[:2] == ["morning", "morning"]
    assert "morning" not in parts[2:]


def test_higher_priority_study_first_within_a_tier_and_unassigned_studies_never(dbsession, study, anna):
    source = (EXAMPLES / "ebike_abo_konzept.yaml").read_text()
    urgent = create_study(dbsession, source=source, source_name="ebike.yaml", slug="eilig", purpose="research")
    stranger = create_study(dbsession, source=source, source_name="ebike.yaml", slug="fremd", purpose="research")
    for other in (urgent, stranger):
        update_settings(dbsession, other, {"status": "field"})
    assign_member(dbsession, urgent, anna)
    update_settings(dbsession, study, {"priority": "20"})
    update_settings(dbsession, urgent, {"priority": "80"})
    load(dbsession, study, SAMPLE[:2])
    load(dbsession, urgent, SAMPLE[2:])
    load(dbsession, stranger, [("X", "040 5555555", "HH", "")])
    first = next_case(dbsession, anna, now=TUESDAY_10)
    assert first.case.study_id == urgent.id and first.reason == "fresh"
    record_outcome(dbsession, first.case, anna, "no_answer", now=TUESDAY_10)
    # later: the retry of the urgent study, then the urgent study's last fresh case, then the other's
    later = TUESDAY_10 + dt.timedelta(hours=3)
    order = [(d.case.study_id, d.reason) for d in iter(lambda: next_case(dbsession, anna, now=later), None)]
    assert order == [(urgent.id, "retry"), (urgent.id, "fresh"), (study.id, "fresh"), (study.id, "fresh")]
