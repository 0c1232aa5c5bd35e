"""A supervisor's hand on single cases: look one up, release it, hand it to another interviewer,
finalise it, or set an appointment. Every change is checked first (:class:`CaseAdminError`
names the input at fault and nothing changes) and written to the audit trail. A supervisor's
free-text note (closing a case, an appointment) may name the respondent, so it is kept in
``contact_changes`` (erased with the contact) and the audit event says ``"note": true`` and its id.

Search goes through indexes only: the reference through ``uq_cases_study_id_ref`` (study, ref),
a telephone number - normalised to E.164 as at import - through ``ix_case_phones_study_id_e164``.
Searching by number is itself recorded (who looked up a number, how many cases matched; not the
number).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cati.models import Attempt, Case, CasePhone, Interview, Study, StudyMember, User
from cati.models.meta import utcnow
from cati.sampling import calling_rules
from cati.sampling.calling_rules import Explanation
from cati.sampling.dispositions import current_disposition
from cati.sampling.phones import check_phone

from . import audit, dnc, scheduler

__all__ = [
    "CaseAdminError",
    "CaseDetail",
    "finalise",
    "finalise_outcomes",
    "reassign",
    "release",
    "search",
    "set_appointment",
]

#: Characters that make a query a telephone number rather than a reference.
_PHONE_CHARS = set("+0123456789 ()-/.")
SEARCH_LIMIT = 50


class CaseAdminError(ValueError):
    """Why a change to a case was refused; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class SearchResult:
    cases: list[Case]
    by: str  # "ref" or "number"
    normalised: str  # the E.164 form of a number, else the reference as given
    problem: str | None = None  # why a number could not be read


def _target(case: Case) -> str:
    return f"case:{case.ref}"


def _looks_like_number(query: str) -> bool:
    digits = sum(ch.isdigit() for ch in query)
    return digits >= 6 and all(ch in _PHONE_CHARS for ch in query)


def search(session: Session, study: Study, query: str, *, default_region: str = "DE",
           actor_id: int | None = None, limit: int = SEARCH_LIMIT) -> SearchResult:
    """Cases of ``study`` with reference ``query`` (exact, else starting with it), or - if
    ``query`` is a telephone number - with that number."""
    query = query.strip()
    if not query:
        return SearchResult([], "ref", "")
    if _looks_like_number(query):
        phone, problem = check_phone(query, default_region)
        if phone is None:
            return SearchResult([], "number", query, problem)
        cases = list(session.scalars(
            select(Case).join(CasePhone, CasePhone.case_id == Case.id)
            .where(CasePhone.study_id == study.id, CasePhone.e164 == phone.e164)
            .order_by(Case.ref).limit(limit)
        ).unique())
        audit.record(session, "case.search", user_id=actor_id, study_id=study.id, target=f"study:{study.slug}",
                     details={"by": "number", "found": len(cases)})
        return SearchResult(cases, "number", phone.e164)
    exact = session.scalar(select(Case).where(Case.study_id == study.id, Case.ref == query))
    if exact is not None:
        return SearchResult([exact], "ref", query)
    cases = list(session.scalars(
        select(Case).where(Case.study_id == study.id, Case.ref.startswith(query, autoescape=True))
        .order_by(Case.ref).limit(limit)
    ))
    return SearchResult(cases, "ref", query)


def get_case(session: Session, study: Study, case_id: int) -> Case | None:
    """The case with ``case_id`` if it belongs to ``study``."""
    case = session.get(Case, case_id)
    return case if case is not None and case.study_id == study.id else None


# --------------------------------------------------------------------------- detail


@dataclass(frozen=True)
class AttemptRow:
    started_at: dt.datetime
    ended_at: dt.datetime | None
    outcome: str
    aapor: str
    interviewer: str | None
    note: str


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    attempts: list[AttemptRow]
    interview_status: str | None
    claimed_by: str | None
    reserved_for: str | None
    explanation: Explanation
    phones: list[str]  # masked
    local_tz: str


def mask_number(e164: str) -> str:
    """``+4930123456`` -> ``+49301…56``: enough to tell numbers apart on the screen."""
    if len(e164) <= 7:
        return e164[:3] + "…"
    return e164[:6] + "…" + e164[-2:]


def detail(session: Session, study: Study, case: Case, *, now: dt.datetime | None = None) -> CaseDetail:
    """What the case page shows: history, interview, why it is (not) callable now."""
    now = now or utcnow()
    names = dict(session.execute(select(User.id, User.display_name).where(
        User.id.in_([i for i in (case.claimed_by, case.reserved_for) if i is not None]))).all())
    attempts = [
        AttemptRow(r.started_at, r.ended_at, r.outcome, r.aapor, r.display_name, r.note)
        for r in session.execute(
            select(Attempt.started_at, Attempt.ended_at, Attempt.outcome, Attempt.aapor, Attempt.note,
                   User.display_name)
            .outerjoin(User, User.id == Attempt.user_id)
            .where(Attempt.case_id == case.id).order_by(Attempt.started_at, Attempt.id)
        )
    ]
    phones = [mask_number(p) for p in session.scalars(
        select(CasePhone.e164).where(CasePhone.case_id == case.id).order_by(CasePhone.position))]
    return CaseDetail(
        case=case,
        attempts=attempts,
        interview_status=session.scalar(select(Interview.status).where(Interview.case_id == case.id)),
        claimed_by=names.get(case.claimed_by) if case.claimed_by else None,
        reserved_for=names.get(case.reserved_for) if case.reserved_for else None,
        explanation=scheduler.explain_case(session, study, case, now),
        phones=phones,
        local_tz=case.zone.tz,
    )


# --------------------------------------------------------------------------- changes


def _interviewer_of(session: Session, study: Study, user: User | None, field: str = "user_id") -> None:
    if user is None:
        return
    if user.role != "interviewer" or not user.active:
        raise CaseAdminError(field, f"{user.display_name} is not an active interviewer")
    if session.get(StudyMember, (study.id, user.id)) is None:
        raise CaseAdminError(field, f"{user.display_name} is not assigned to this study")


def release(session: Session, case: Case, actor_id: int | None = None) -> None:
    """Give a claimed case back to the pool (the interviewer left it; its interview is kept and
    resumes with whoever gets the case next) - or to its block, if its number went on the
    do-not-call list or its legal basis went while it was being called."""
    if case.state != "claimed":
        raise CaseAdminError("case", "the case is not being worked on")
    holder = case.claimed_by
    released = session.execute(
        update(Case).where(Case.id == case.id, Case.state == "claimed")
        .values(state=scheduler.STATE_AFTER_CLAIM, claimed_by=None, claimed_at=None, heartbeat_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(case)
    if released != 1:
        raise CaseAdminError("case", "the case was released or finished meanwhile")
    audit.record(session, "case.release", user_id=actor_id, study_id=case.study_id, target=_target(case),
                 details={"from_user": holder})


def _grace(study: Study) -> dt.timedelta:
    return dt.timedelta(minutes=int(scheduler.rules_for(study).settings.get("appointment_grace", 15)))


def reassign(session: Session, study: Study, case: Case, user: User | None, *, actor_id: int | None = None,
             now: dt.datetime | None = None) -> dt.datetime:
    """Hand an open case to ``user`` (an interviewer of the study), or to anyone (None).

    The case becomes an appointment for that interviewer at its next callable moment - its
    appointment or retry time if later - so it is delivered to them first; ``appointment_grace``
    minutes later it goes to anyone. A claimed case is released from its current interviewer.
    Returns the time the case is due.
    """
    now = now or utcnow()
    if case.state not in ("ready", "claimed"):
        raise CaseAdminError("case", f"only open cases can be reassigned (this one is {case.state})")
    if case.block_kind in scheduler.CLAIM_END_BLOCKS:
        raise CaseAdminError("case", f"the case may not be called any more: {case.block_reason}")
    _interviewer_of(session, study, user)
    rules = scheduler.rules_for(study)
    zone = case.zone
    earliest = max(now, case.next_call_at) if case.next_call_at and case.tier != scheduler.TIER_FRESH else now
    due = calling_rules.next_window_start(rules, zone.tz, zone.region or None, zone.country, earliest)
    if due is None:
        raise CaseAdminError("case", "no calling window for this case within the next 400 days")
    before = {"state": case.state, "claimed_by": case.claimed_by, "reserved_for": case.reserved_for,
              "tier": case.tier, "next_call_at": case.next_call_at.isoformat() if case.next_call_at else None}
    if case.state == "claimed":
        release(session, case, actor_id)
    case.state, case.tier = "ready", scheduler.TIER_APPOINTMENT
    case.next_call_at, case.order_key = due, int(due.timestamp())
    case.reserved_for = user.id if user is not None else None
    case.reserved_until = due + _grace(study) if user is not None else None
    audit.record(session, "case.reassign", user_id=actor_id, study_id=case.study_id, target=_target(case),
                 details={"to_user": user.id if user else None, "due": due.isoformat(), "before": before})
    return due


def finalise_outcomes(study: Study) -> list[str]:
    """Outcome codes a supervisor may close a case with: the final outcomes an interviewer or
    the system sets (completes and partials come only from interviews)."""
    table = scheduler.rules_for(study).outcomes
    return [code for code, o in table.items() if o.final and o.source in ("interviewer", "system")]


def finalise(session: Session, study: Study, case: Case, code: str, note: str, *, actor_id: int | None = None,
             dnc_salt: str = "cati-dnc") -> None:
    """Close a case with a final outcome (no call attempt is recorded; the audit trail says who,
    the note why - kept in ``contact_changes``, as it may name the respondent)."""
    note = note.strip()
    if case.state == "final":
        raise CaseAdminError("case", "the case is closed already")
    if case.state == "claimed":
        raise CaseAdminError("case", "an interviewer is working on the case; release it first")
    if code not in finalise_outcomes(study):
        raise CaseAdminError("outcome", f"{code!r} is not a final outcome a supervisor can set")
    if len(note) < 3:
        raise CaseAdminError("note", "say why the case is closed")
    outcome = scheduler.rules_for(study).outcomes[code]
    before = {"state": case.state, "outcome": case.outcome, "aapor": case.aapor}
    if outcome.closing:
        # "maximum attempts reached": the most informative outcome so far stays the disposition.
        history = list(session.scalars(select(Attempt.outcome).where(Attempt.case_id == case.id)
                                       .order_by(Attempt.id)))
        disposition = current_disposition([*history, code], scheduler.rules_for(study).outcomes)
        assert disposition is not None
        case.outcome, case.aapor = disposition.code, disposition.aapor
    else:
        case.outcome, case.aapor = code, outcome.aapor
    case.state, case.next_call_at = "final", None
    case.reserved_for = case.reserved_until = None
    if outcome.adds_to_dnc:
        numbers = list(session.scalars(select(CasePhone.e164).where(CasePhone.case_id == case.id)))
        dnc.add_numbers(session, numbers, salt=dnc_salt, source=f"supervisor in study {study.slug}",
                        actor_id=actor_id)
        case.block_kind, case.block_reason = "dnc", calling_rules.DNC_REASON
    kept = audit.personal_value(session, case, "finalise_note", None, note[:2000], user_id=actor_id)
    audit.record(session, "case.finalise", user_id=actor_id, study_id=case.study_id, target=_target(case),
                 details={"outcome": code, "aapor": case.aapor, "note": True, "note_id": kept.id, "before": before})


def set_appointment(session: Session, study: Study, case: Case, at: dt.datetime, *, user: User | None = None,
                    note: str = "", actor_id: int | None = None, now: dt.datetime | None = None) -> None:
    """Make an appointment for the case at ``at`` (UTC), for ``user`` (a hard appointment: theirs
    until ``appointment_grace`` minutes after) or for anyone. The time must lie in the future and
    inside the respondent's calling hours."""
    now = now or utcnow()
    if case.state == "final":
        raise CaseAdminError("case", "the case is closed")
    if case.state == "blocked":
        raise CaseAdminError("case", f"the case is blocked: {case.block_reason or case.block_kind}")
    if case.state == "claimed":
        raise CaseAdminError("case", "an interviewer is working on the case; release it first")
    _interviewer_of(session, study, user)
    zone = case.zone
    problems = calling_rules.validate_appointment(scheduler.rules_for(study), zone.tz, zone.region or None,
                                                  zone.country, at, now)
    if problems:
        raise CaseAdminError("appointment_at", "; ".join(problems))
    case.tier, case.next_call_at, case.order_key = scheduler.TIER_APPOINTMENT, at, int(at.timestamp())
    case.reserved_for = user.id if user is not None else None
    case.reserved_until = at + _grace(study) if user is not None else None
    note = note.strip()[:2000]
    kept = audit.personal_value(session, case, "appointment_note", None, note, user_id=actor_id) if note else None
    audit.record(session, "case.appointment", user_id=actor_id, study_id=case.study_id, target=_target(case),
                 details={"at": at.isoformat(), "for_user": user.id if user else None, "note": bool(note),
                          **({"note_id": kept.id} if kept else {})})


def local_time(case: Case, moment: dt.datetime | None) -> dt.datetime | None:
    """``moment`` in the respondent's time zone."""
    return None if moment is None else moment.astimezone(ZoneInfo(case.zone.tz))


def parse_local(value: str, tz: str) -> dt.datetime:
    """``YYYY-MM-DDTHH:MM`` (an HTML datetime-local value) in ``tz`` -> aware UTC."""
    try:
        naive = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise CaseAdminError("appointment_at", "give a date and time such as 2026-11-25T18:00") from None
    if naive.tzinfo is not None:
        return naive.astimezone(dt.UTC)
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)

