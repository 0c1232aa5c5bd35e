"""Interviewer productivity per study and day, computed in SQL, checked against hand-counted days."""

from __future__ import annotations

import datetime as dt

import pytest

from cati.services.productivity import productivity, working_now
from tests.fieldwork_seed import TUESDAY_10, add_attempt, add_case, add_interview, local, make_study, make_user

DAY = dt.date(2026, 11, 24)


@pytest.fixture
def study(dbsession):
    return make_study(dbsession)


@pytest.fixture
def day(dbsession, study):
    anna = make_user(dbsession, study, "anna")
    ben = make_user(dbsession, study, "ben")
    case = add_case(dbsession, study)
    for start, minutes, outcome, aapor in [
        ((9, 0), 2, "no_answer", "3.13"),
        ((9, 5), 2, "busy", "3.12"),  # 3-minute pause: logged in
        ((9, 10), 20, "complete", "1.1"),  # 3-minute pause: logged in
        ((11, 0), 5, "hard_refusal", "2.111"),  # 90-minute pause: a break
    ]:
        add_attempt(dbsession, case, anna, outcome, aapor, local(2026, 11, 24, *start), minutes)
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
