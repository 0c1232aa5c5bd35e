"""The web side of interviewers' work sessions (:mod:`cati.services.work_sessions`): the
session cookie holds the open work session's id and when it was last moved, so that a heartbeat
writes to it at most once a minute."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cati.models import Role, User
from cati.models.meta import utcnow
from cati.services import work_sessions

WORK_KEY = "cati.work_session"
SEEN_KEY = "cati.work_seen"


def begin(request: Any, user: User, now: dt.datetime | None = None) -> None:
    """At login (after the session was renewed): interviewers' logged-in time starts."""
    if user.role == Role.INTERVIEWER:
        now = now or utcnow()
        request.session[WORK_KEY] = work_sessions.start(request.dbsession, user, now)
        request.session[SEEN_KEY] = now.timestamp()


def keep(request: Any, now: dt.datetime | None = None) -> None:
    """A sign of life (heartbeat, "Next case")."""
    session_id = request.session.get(WORK_KEY)
    now = now or utcnow()
    if session_id is None or now.timestamp() - request.session.get(SEEN_KEY, 0) < \
            work_sessions.TOUCH_EVERY.total_seconds():
        return
    work_sessions.touch(request.dbsession, session_id, request.identity.id, now)
    request.session[SEEN_KEY] = now.timestamp()


def finish(request: Any) -> None:
    """At logout (before the session is dropped)."""
    session_id = request.session.get(WORK_KEY)
    if session_id is not None and request.identity is not None:
        work_sessions.end(request.dbsession, session_id, request.identity.id)
