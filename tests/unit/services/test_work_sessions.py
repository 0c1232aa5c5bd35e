"""Interviewers' logged-in time from their work sessions."""

from __future__ import annotations

import datetime as dt

import pytest

from cati.models import WorkSession
from cati.services import work_sessions
from cati.services.users import create_user

pytestmark = pytest.mark.db

DAY = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return DAY + dt.timedelta(hours=hours)


@pytest.fixture
def anna(dbsession):
    return create_user(dbsession, "anna", role="interviewer", password="geheim-passwort")


def add(dbsession, user, start, seen, end=None):
    dbsession.add(WorkSession(user_id=user.id, started_at=start, last_seen_at=seen, ended_at=end))
    dbsession.flush()


def test_login_to_logout_and_to_the_last_sign_of_life(dbsession, anna):
    add(dbsession, anna, at(8), at(12), at(12))  # logged out at noon: 4 h
    add(dbsession, anna, at(13), at(14))  # browser closed: last seen 14:00, + 2 min grace
    seconds = work_sessions.logged_in_seconds(dbsession, [anna.id], at(0), at(24), now=at(20))
    assert seconds == {anna.id: 4 * 3600 + 3600 + 120}


def test_two_windows_at_once_count_once_and_the_day_clips(dbsession, anna):
    add(dbsession, anna, at(-2), at(1), at(1))  # a night shift into the day: 1 h of it
    add(dbsession, anna, at(9), at(11), at(11))
    add(dbsession, anna, at(10), at(12), at(12))  # overlaps the one before
    seconds = work_sessions.logged_in_seconds(dbsession, [anna.id], at(0), at(24), now=at(20))
    assert seconds == {anna.id: 3600 + 3 * 3600}


def test_an_open_session_counts_up_to_now_at_most(dbsession, anna):
    add(dbsession, anna, at(9), at(9.5))
    now = at(9.51)
    assert work_sessions.logged_in_seconds(dbsession, [anna.id], at(0), at(24), now=now) == {
        anna.id: pytest.approx(0.51 * 3600)}


def test_start_touch_end(dbsession, anna):
    session_id = work_sessions.start(dbsession, anna, at(8))
    work_sessions.touch(dbsession, session_id, anna.id, at(9))
    work_sessions.touch(dbsession, session_id, anna.id + 1, at(10))  # not hers: nothing
    work_sessions.end(dbsession, session_id, anna.id, at(11))
    work_sessions.touch(dbsession, session_id, anna.id, at(12))  # ended: nothing
    row = dbsession.get(WorkSession, session_id)
    dbsession.refresh(row)
    assert (row.started_at, row.last_seen_at, row.ended_at) == (at(8), at(11), at(11))
