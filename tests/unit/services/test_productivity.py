"""Interviewer productivity per study and day, computed in SQL, checked against hand-counted days."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from cati.services.productivity import productivity, working_now
from tests.fieldwork_seed import TUESDAY_10, add_attempt, add_case, add_interview, local, make_study, make_user

DAY = dt.date(2026, 11, 24)


@pytest.fixture
def study(dbsession):
    return make_study(dbsession)


def add_calls(session, case, user, calls) -> None:
    """``user``'s attempts on Tuesday ``DAY``: (start (hour, minute), minutes or None if it never
    ended, outcome, aapor)."""
    for start, minutes, outcome, aapor in calls:
        attempt = add_attempt(session, case, user, outcome, aapor, local(2026, 11, 24, *start), minutes or 0)
        if minutes is None:
            attempt.ended_at = None
    session.flush()


@pytest.fixture
def day(dbsession, study):
    anna = make_user(dbsession, study, "anna")
    ben = make_user(dbsession, study, "ben")
    case = add_case(dbsession, study)
    add_calls(dbsession, case, anna, [
        ((9, 0), 2, "no_answer", "3.13"),
        ((9, 5), 2, "busy", "3.12"),  # 3-minute pause: logged in
        ((9, 10), 20, "complete", "1.1"),  # 3-minute pause: logged in
        ((11, 0), 5, "hard_refusal", "2.111"),  # 90-minute pause: a break
    ])
    add_interview(dbsession, study, case, anna, started_at=local(2026, 11, 24, 9, 12), minutes=18)
    add_interview(dbsession, study, None, anna, started_at=local(2026, 11, 24, 9, 40), minutes=5,
                  status="ended")  # not a complete
    add_attempt(dbsession, case, ben, "no_answer", "3.13", local(2026, 11, 24, 0, 30), 1)  # 23:30 UTC the day before
    add_attempt(dbsession, case, ben, "appointment_soft", "2.21", local(2026, 11, 24, 10, 0), 3)
    add_attempt(dbsession, case, ben, "no_answer", "3.13", local(2026, 11, 23, 23, 59), 1)  # Monday
    other = make_study(dbsession, slug="andere")
    add_attempt(dbsession, add_case(dbsession, other), anna, "complete", "1.1", local(2026, 11, 24, 12, 0), 10)
    return anna, ben


class TestProductivity:
    def test_per_interviewer(self, dbsession, study, day):
        result = productivity(dbsession, study, DAY, now=TUESDAY_10)
        anna, ben = result.interviewers
        assert (anna.name, anna.calls, anna.contacts, anna.completes) == ("anna", 4, 2, 1)
        assert anna.on_case_seconds == pytest.approx(29 * 60, abs=0.01)
        assert anna.logged_in_seconds == pytest.approx(35 * 60, abs=0.01)
        assert anna.completes_per_hour == pytest.approx(60 / 35, rel=1e-6)
        assert anna.attempts_per_complete == 4
        assert anna.average_interview_minutes == pytest.approx(18, abs=0.01)
        assert anna.first_call == local(2026, 11, 24, 9, 0)
        assert (ben.name, ben.calls, ben.contacts, ben.completes) == ("ben", 2, 1, 0)
        assert ben.logged_in_seconds == pytest.approx(4 * 60, abs=0.01)
        assert (ben.completes_per_hour, ben.attempts_per_complete, ben.average_interview_minutes) == (0, None, None)

    def test_totals(self, dbsession, study, day):
        totals = productivity(dbsession, study, DAY, now=TUESDAY_10).totals
        assert (totals.calls, totals.contacts, totals.completes, totals.interviews) == (6, 3, 1, 1)
        assert totals.logged_in_seconds == pytest.approx(39 * 60, abs=0.01)

    def test_break_length_is_a_parameter(self, dbsession, study, day):
        anna = productivity(dbsession, study, DAY, now=TUESDAY_10, break_minutes=120).interviewers[0]
        assert anna.logged_in_seconds == pytest.approx((29 + 6 + 90) * 60, abs=0.01)

    def test_another_day_is_empty(self, dbsession, study, day):
        result = productivity(dbsession, study, dt.date(2026, 11, 20), now=TUESDAY_10)
        assert result.interviewers == []
        assert result.totals.calls == 0

    def test_default_day_is_today(self, dbsession, study, day):
        assert productivity(dbsession, study, now=TUESDAY_10).day == DAY

    def test_json(self, dbsession, study, day):
        data = productivity(dbsession, study, DAY, now=TUESDAY_10).interviewers[0].as_json()
        assert data["calls"] == 4
        assert data["logged_in_seconds"] == 35 * 60


class TestWorkingNow:
    def test_who_holds_which_case(self, dbsession, study):
        ben = make_user(dbsession, study, "ben")
        held = add_case(dbsession, study, "HELD", state="claimed", claimed_by=ben.id,
                        claimed_at=TUESDAY_10, heartbeat_at=TUESDAY_10)
        add_case(dbsession, study, "FREE")
        add_interview(dbsession, study, held, ben, status="active", started_at=TUESDAY_10)
        [row] = working_now(dbsession, study)
        assert (row.name, row.ref, row.case_id, row.interview_status) == ("ben", "HELD", held.id, "active")


@pytest.fixture
def mixed_day(dbsession, study):
    """Attempts of every kind the figures tell apart, with the figures worked out by hand below."""
    carla = make_user(dbsession, study, "carla")
    dora = make_user(dbsession, study, "dora")
    case = add_case(dbsession, study)
    add_calls(dbsession, case, carla, [
        ((8, 0), 2, "no_answer", "3.13"),  # not a contact
        ((8, 5), 4, "complete", "1.1"),  # contact, complete; 3-minute pause
        ((8, 24), 1, "legacy_callback", "2.35"),  # not in the outcome table: class O, a contact; pause of exactly 15'
        ((8, 45), 3, "legacy_no_contact", "2.21"),  # unknown, class NC: no contact; 20-minute pause: a break
        ((8, 47), 2, "legacy_partial", "1.2"),  # unknown, class P: contact; starts before the last one ended
        ((9, 0), None, "legacy_odd", "9.9"),  # unknown, no AAPOR class: no contact; never ended; 11-minute pause
        ((9, 5), 1, "legacy_done", "1.1"),  # unknown, class I: contact and complete; no pause (previous never ended)
    ])
    add_attempt(dbsession, case, dora, "soft_refusal", "2.11", local(2026, 11, 24, 0, 0), 2)  # first instant of the day
    add_attempt(dbsession, case, dora, "busy", "2.11", local(2026, 11, 24, 23, 55), 10)  # the table says: no contact
    add_attempt(dbsession, case, dora, "complete", "1.1", local(2026, 11, 25, 0, 0), 5)  # Wednesday
    add_attempt(dbsession, case, dora, "complete", "1.1", local(2026, 11, 23, 23, 59), 5)  # Monday
    add_attempt(dbsession, case, None, "no_answer", "3.13", local(2026, 11, 24, 10, 0), 2)  # nobody's (auto dialler)
    add_attempt(dbsession, case, None, "hard_refusal", "2.111", local(2026, 11, 24, 10, 5), 3)
    dbsession.flush()
    return carla, dora


class TestMixedDay:
    def test_figures_per_interviewer_match_the_hand_count(self, dbsession, study, mixed_day):
        result = productivity(dbsession, study, DAY, now=TUESDAY_10)
        got = [(r.name, r.calls, r.contacts, r.completes, round(r.on_case_seconds / 60, 3),
                round(r.logged_in_seconds / 60, 3), r.first_call, r.last_call) for r in result.interviewers]
        assert got == [
            # 13' on cases; pauses 3' + 15' + 11' (not the 20' break, the overlap, nor after the open one)
            ("carla", 7, 4, 2, 13, 13 + 29, local(2026, 11, 24, 8, 0), local(2026, 11, 24, 9, 5)),
            ("dora", 2, 1, 0, 12, 12, local(2026, 11, 24, 0, 0), local(2026, 11, 24, 23, 55)),
            ("–", 2, 1, 0, 5, 5 + 3, local(2026, 11, 24, 10, 0), local(2026, 11, 24, 10, 5)),
        ]
        totals = result.totals
        assert (totals.calls, totals.contacts, totals.completes) == (11, 6, 2)
        assert totals.logged_in_seconds == pytest.approx((42 + 12 + 8) * 60, abs=0.01)
        carla = result.interviewers[0]
        assert carla.completes_per_hour == pytest.approx(2 / (42 / 60), rel=1e-6)
        assert carla.attempts_per_complete == 3.5

    def test_the_day_is_read_from_the_covering_index_in_one_row_per_interviewer(self, dbsession, study, mixed_day):
        statements = []

        def record(conn, cursor, statement, parameters, context, executemany):
            if "attempts" in statement and "lag(" in statement:
                statements.append((statement, parameters))

        engine = dbsession.get_bind().engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            productivity(dbsession, study, DAY, now=TUESDAY_10)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        [(statement, parameters)] = statements
        rows = dbsession.connection().exec_driver_sql(statement, parameters).all()
        assert len(rows) == 3  # carla, dora and nobody: grouped per interviewer, not per outcome
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in dbsession.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters))
            assert "COVERING INDEX ix_attempts_study_id_started_at_figures" in plan
