"""Interviewers' time logged in, for productivity's "time logged in vs on cases".

A :class:`~cati.models.WorkSession` starts at an interviewer's login and ends at the logout. A
browser closed without logging out leaves it open: it then ends at its last sign of life
(``last_seen_at``, moved by the console's heartbeats and "Next case", at most once a minute, see
:data:`TOUCH_EVERY`) plus :data:`GRACE`. Two windows of the same interviewer at once count once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cati.models import User, WorkSession
from cati.models.meta import utcnow

#: After the last sign of life of a session nobody logged out of.
GRACE = dt.timedelta(minutes=2)
#: How often a session's ``last_seen_at`` is moved at most (the callers keep the time).
TOUCH_EVERY = dt.timedelta(minutes=1)


def start(session: Session, user: User, now: dt.datetime | None = None) -> int:
    """A new work session of ``user`` (at login); its id."""
    now = now or utcnow()
    row = WorkSession(user_id=user.id, started_at=now, last_seen_at=now)
    session.add(row)
    session.flush()
    return row.id


def touch(session: Session, session_id: int, user_id: int, now: dt.datetime | None = None) -> None:
    """The interviewer of an open session is still at work."""
    session.execute(update(WorkSession).where(WorkSession.id == session_id, WorkSession.user_id == user_id,
                                              WorkSession.ended_at.is_(None))
                    .values(last_seen_at=now or utcnow()).execution_options(synchronize_session=False))


def end(session: Session, session_id: int, user_id: int, now: dt.datetime | None = None) -> None:
    """The logout."""
    now = now or utcnow()
    session.execute(update(WorkSession).where(WorkSession.id == session_id, WorkSession.user_id == user_id,
                                              WorkSession.ended_at.is_(None))
                    .values(ended_at=now, last_seen_at=now).execution_options(synchronize_session=False))


def logged_in_seconds(session: Session, user_ids: Iterable[int], start: dt.datetime, end: dt.datetime,
                      now: dt.datetime | None = None) -> dict[int, float]:
    """Seconds each of ``user_ids`` was logged in between ``start`` and ``end``; users without a
    session then are left out. Sessions are read through (user_id, started_at): those begun up to
    a day before ``start`` (a night shift) and before ``end``."""
    now = now or utcnow()
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    spans: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for user_id, began, seen, ended in session.execute(
        select(WorkSession.user_id, WorkSession.started_at, WorkSession.last_seen_at, WorkSession.ended_at)
        .where(WorkSession.user_id.in_(ids), WorkSession.started_at >= start - dt.timedelta(days=1),
               WorkSession.started_at < end)
    ):
        finish = ended if ended is not None else min(seen + GRACE, now)
        lo, hi = max(began, start), min(finish, end)
        if hi > lo:
            spans.setdefault(user_id, []).append((lo, hi))
    return {user_id: _union_seconds(parts) for user_id, parts in spans.items()}


def _union_seconds(spans: list[tuple[dt.datetime, dt.datetime]]) -> float:
    total, current_start, current_end = 0.0, None, None
    for lo, hi in sorted(spans):
        if current_end is None or lo > current_end:
            if current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = lo, hi
        else:
            current_end = max(current_end, hi)
    if current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total
