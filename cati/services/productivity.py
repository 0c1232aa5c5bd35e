"""Interviewer productivity per study and day, and who is working on which case right now.

Per interviewer and (local) day, from the attempts of the study:

* calls: attempts; contacts: attempts whose outcome has ``contacted`` in the study's outcome
  table; completes: attempts with an AAPOR 1.1 code (the call that completed an interview);
* time on cases: the sum of the attempts' durations (claim to outcome);
* time logged in: the interviewer's login sessions that day (:mod:`.work_sessions`: login to
  logout, or to the last heartbeat; all studies together, an interviewer is logged in, not logged
  into a study). For days without recorded sessions (before they were recorded) it is estimated
  from activity: time on cases plus the pauses between one attempt's end and the next one's start
  that are shorter than ``break_minutes`` (waiting for the next case, wrap-up);
* completes per hour (per hour logged in), attempts per complete ("burn rate");
* average interview length: completed interviews that ended that day (start to end).

Everything is aggregated in SQL, one row per interviewer (GROUP BY the interviewer, counts as
sums of CASE expressions), in one pass over the day's range of the covering index
``ix_attempts_study_id_started_at_figures`` (study_id, started_at, user_id, ended_at, outcome,
aapor, id): no attempt row is read from the table and none reaches Python. Durations and pauses
included (window function ``lag``), so the cost follows the day's attempts, not the study's
history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from cati.models import Attempt, Case, Interview, Study, User
from cati.models.meta import utcnow
from cati.sampling.dispositions import CONTACT_CLASSES, RATE_CLASS_PREFIXES, Outcome

from . import scheduler, work_sessions

__all__ = ["InterviewerDay", "Productivity", "WorkingNow", "productivity", "working_now"]

#: Pauses between two attempts up to this long count as logged-in time.
DEFAULT_BREAK_MINUTES = 15


@dataclass
class InterviewerDay:
    user_id: int | None
    name: str
    code: str
    calls: int = 0
    contacts: int = 0
    completes: int = 0
    on_case_seconds: float = 0.0
    logged_in_seconds: float = 0.0
    interviews: int = 0
    interview_seconds: float = 0.0
    first_call: dt.datetime | None = None
    last_call: dt.datetime | None = None
    #: logged-in time from login sessions (True) or estimated from the calls (False)
    logged_in_measured: bool = False

    @property
    def completes_per_hour(self) -> float | None:
        hours = self.logged_in_seconds / 3600
        return None if hours <= 0 else self.completes / hours

    @property
    def attempts_per_complete(self) -> float | None:
        return None if not self.completes else self.calls / self.completes

    @property
    def average_interview_minutes(self) -> float | None:
        return None if not self.interviews else self.interview_seconds / self.interviews / 60

    @property
    def contact_share(self) -> float | None:
        return None if not self.calls else self.contacts / self.calls

    def add(self, other: InterviewerDay) -> None:
        for name in ("calls", "contacts", "completes", "on_case_seconds", "logged_in_seconds", "interviews",
                     "interview_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        firsts = [t for t in (self.first_call, other.first_call) if t is not None]
        lasts = [t for t in (self.last_call, other.last_call) if t is not None]
        self.first_call = min(firsts) if firsts else None
        self.last_call = max(lasts) if lasts else None

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id, "name": self.name, "code": self.code, "calls": self.calls,
            "contacts": self.contacts, "completes": self.completes, "on_case_seconds": round(self.on_case_seconds),
            "logged_in_seconds": round(self.logged_in_seconds), "completes_per_hour": self.completes_per_hour,
            "attempts_per_complete": self.attempts_per_complete,
            "average_interview_minutes": self.average_interview_minutes,
        }


@dataclass(frozen=True)
class WorkingNow:
    user_id: int
    name: str
    case_id: int
    ref: str
    claimed_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    interview_status: str | None


@dataclass
class Productivity:
    study_id: int
    day: dt.date
    tz: str
    interviewers: list[InterviewerDay] = field(default_factory=list)
    totals: InterviewerDay = field(default_factory=lambda: InterviewerDay(None, "", ""))
    working_now: list[WorkingNow] = field(default_factory=list)
    break_minutes: int = DEFAULT_BREAK_MINUTES


def _seconds(session: Session, start: Any, end: Any) -> Any:
    """Seconds from ``start`` to ``end`` (timestamp columns) in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _day_range(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return start, end


def _aware(value: Any) -> dt.datetime:
    """A timestamp read through a subquery (no column type applied): aware UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _contacted(table: Mapping[str, Outcome]) -> Any:
    """1 for an attempt that reached a person, else 0, in SQL: the outcome's ``contacted`` in
    the study's outcome table; an outcome the table does not know goes by its AAPOR code's rate
    class (:data:`~cati.sampling.dispositions.RATE_CLASS_PREFIXES`, first match decides)."""
    by_class = [(Attempt.aapor.like(f"{prefix}%"), int(rate_class in CONTACT_CLASSES))
                for prefix, rate_class in RATE_CLASS_PREFIXES]
    return case((Attempt.outcome.in_(sorted(code for code, o in table.items() if o.contacted)), 1),
                (Attempt.outcome.in_(sorted(table)), 0), *by_class, else_=0)


def productivity(session: Session, study: Study, day: dt.date | None = None, *, tz: str = "Europe/Berlin",
                 now: dt.datetime | None = None, break_minutes: int = DEFAULT_BREAK_MINUTES) -> Productivity:
    """Productivity of the study's interviewers on ``day`` (local date in ``tz``; default today)."""
    now = now or utcnow()
    zone = ZoneInfo(tz)
    day = day or now.astimezone(zone).date()
    start, end = _day_range(day, zone)

    people: dict[int | None, InterviewerDay] = {}

    def person(user_id: int | None) -> InterviewerDay:
        if user_id not in people:
            people[user_id] = InterviewerDay(user_id, "", "")
        return people[user_id]

    # One row per attempt of the day with its figures and the pause since the end of the same
    # person's previous attempt (window function lag), summed up per person. The partition key is
    # ``user_id + 0`` so that SQLite reads the day from the covering index
    # ix_attempts_study_id_started_at_figures instead of sorting through (user_id, started_at).
    previous_end = func.lag(Attempt.ended_at).over(partition_by=Attempt.user_id + 0,
                                                   order_by=(Attempt.started_at, Attempt.id))
    rows = select(
        Attempt.user_id.label("user_id"),
        Attempt.started_at.label("started_at"),
        func.coalesce(_seconds(session, Attempt.started_at, Attempt.ended_at), 0).label("seconds"),
        _seconds(session, previous_end, Attempt.started_at).label("gap"),
        _contacted(scheduler.rules_for(study).outcomes).label("contact"),
        case((Attempt.aapor.like("1.1%"), 1), else_=0).label("complete"),
    ).where(Attempt.study_id == study.id, Attempt.started_at >= start, Attempt.started_at < end).subquery()
    pause = case((rows.c.gap.between(0, break_minutes * 60), rows.c.gap), else_=literal(0))
    for user_id, calls, contacts, completes, seconds, pauses, first, last in session.execute(
        select(rows.c.user_id, func.count(), func.sum(rows.c.contact), func.sum(rows.c.complete),
               func.sum(rows.c.seconds), func.sum(pause), func.min(rows.c.started_at), func.max(rows.c.started_at))
        .group_by(rows.c.user_id)
    ):
        row = person(user_id)
        row.calls, row.contacts, row.completes = calls, int(contacts or 0), int(completes or 0)
        row.on_case_seconds = float(seconds or 0)
        row.logged_in_seconds = row.on_case_seconds + float(pauses or 0)
        row.first_call, row.last_call = _aware(first), _aware(last)

    for user_id, n, seconds in session.execute(
        select(Interview.interviewer_id, func.count(),
               func.sum(_seconds(session, Interview.started_at, Interview.ended_at)))
        .where(Interview.study_id == study.id, Interview.status == "complete", Interview.ended_at >= start,
               Interview.ended_at < end, Interview.is_test.is_(False))
        .group_by(Interview.interviewer_id)
    ):
        row = person(user_id)
        row.interviews += n
        row.interview_seconds += float(seconds or 0)

    sessions = work_sessions.logged_in_seconds(session, [i for i in people if i is not None], start, end, now)
    for user_id, seconds in sessions.items():
        row = people[user_id]
        row.logged_in_seconds, row.logged_in_measured = max(seconds, row.on_case_seconds), True

    names = {u.id: (u.display_name, u.code) for u in session.scalars(
        select(User).where(User.id.in_([i for i in people if i is not None])))} if people else {}
    for user_id, row in people.items():
        row.name, row.code = names.get(user_id, ("–", "")) if user_id is not None else ("–", "")
    result = Productivity(study.id, day, tz, break_minutes=break_minutes)
    result.interviewers = sorted(people.values(), key=lambda r: (r.user_id is None, r.name.lower()))
    for row in result.interviewers:
        result.totals.add(row)
    result.working_now = working_now(session, study)
    return result


def working_now(session: Session, study: Study) -> list[WorkingNow]:
    """Interviewers holding a case of the study right now, longest first."""
    rows = session.execute(
        select(Case.id, Case.ref, Case.claimed_by, Case.claimed_at, Case.heartbeat_at, User.display_name,
               Interview.status)
        .join(User, User.id == Case.claimed_by)
        .outerjoin(Interview, Interview.case_id == Case.id)
        .where(Case.study_id == study.id, Case.state == "claimed")
        .order_by(Case.claimed_at, Case.id)
    ).all()
    return [WorkingNow(r.claimed_by, r.display_name, r.id, r.ref, r.claimed_at, r.heartbeat_at, r.status)
            for r in rows]


def days_with_calls(session: Session, study: Study, *, tz: str = "Europe/Berlin", now: dt.datetime | None = None,
                    days: int = 14) -> list[dt.date]:
    """The last ``days`` local dates up to today, newest first (for the day picker)."""
    today = (now or utcnow()).astimezone(ZoneInfo(tz)).date()
    return [today - dt.timedelta(days=i) for i in range(days)]

