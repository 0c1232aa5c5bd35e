"""What the interviewer console needs besides the scheduler and the interview service.

* the contact panel of a case: numbers, the respondent's local time and state, the attempt
  history with outcomes and notes, a pending appointment, and a preview of the introduction;
* call outcomes entered by the interviewer (:func:`record_call_outcome`): an interview in progress
  is paused first, so it resumes where it stopped on the next call;
* contact data corrections (name, numbers, an added number), audited with old and new values;
* inbound calls: finding a case by phone number across the interviewer's studies and claiming it;
* the interviewer's own figures for today.

Every function works inside the caller's transaction and raises :class:`ConsoleError` before
changing anything.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from cati.models import Attempt, Case, CasePhone, Contact, Interview, Study, StudyMember, User
from cati.models.meta import utcnow
from cati.questionnaires.engine import Ended
from cati.questionnaires.sample_fields import preload
from cati.sampling.dispositions import Outcome
from cati.sampling.phones import check_phone
from cati.sampling.regions import state_name

from . import audit, dnc, quotas
from .interviews import _standard_columns, engine_for
from .scheduler import TIER_APPOINTMENT, record_outcome, rules_for


class ConsoleError(ValueError):
    """A refused console action: ``field`` names the input at fault, ``reason`` is a short code the
    web layer turns into a message (``invalid``, ``dnc``, ``duplicate``, ``erased``, ``too_long``,
    ``not_allowed``, ``not_started``, ``not_yours``, ``missing``, ``busy`` and the inbound refusals
    of :class:`InboundMatch`); ``detail`` is an English detail (a phone number's problem)."""

    def __init__(self, field: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{field}: {reason}" + (f" ({detail})" if detail else ""))
        self.field = field
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------- contact panel


@dataclass(frozen=True)
class PhoneLine:
    position: int
    e164: str
    display: str  # +49 30 1234567
    tel: str  # tel:+49301234567, for click-to-call


@dataclass(frozen=True)
class AttemptLine:
    started_at: dt.datetime
    outcome: str
    aapor: str
    note: str
    interviewer: str
    phone_position: int


@dataclass(frozen=True)
class Appointment:
    at: dt.datetime  # UTC
    local: dt.datetime  # in the respondent's time zone
    hard: bool
    reserved_for: str | None  # the interviewer of a hard appointment


@dataclass(frozen=True)
class ContactPanel:
    ref: str
    name: str
    postcode: str
    phones: list[PhoneLine]
    tz: str
    region: str  # German state code or ""
    country: str
    local_now: dt.datetime
    attempts: list[AttemptLine]
    appointment: Appointment | None
    language: str

    def region_name(self, language: str) -> str:
        if self.country == "DE" and self.region:
            try:
                return state_name(self.region, language)
            except KeyError:
                return self.region
        return self.region


@lru_cache(maxsize=4096)
def format_phone(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


# Statements on the console's hot path are built once: SQLAlchemy then reuses their cache key and
# compiled form instead of deriving them again on every request.
_PHONES = select(CasePhone).where(CasePhone.case_id == bindparam("case_id")).order_by(CasePhone.position)
_INTERVIEW = select(Interview).where(Interview.case_id == bindparam("case_id"))
_CONTACT = select(Contact).where(Contact.case_id == bindparam("case_id"))


def phone_lines(session: Session, case_id: int) -> list[PhoneLine]:
    phones = session.scalars(_PHONES, {"case_id": case_id})
    return [PhoneLine(p.position, p.e164, format_phone(p.e164), f"tel:{p.e164}") for p in phones]


def attempt_history(session: Session, case_id: int, limit: int = 50) -> list[AttemptLine]:
    """The case's attempts, newest first, with the interviewer's display name."""
    rows = session.execute(
        select(Attempt, User.display_name).outerjoin(User, User.id == Attempt.user_id)
        .where(Attempt.case_id == case_id).order_by(Attempt.id.desc()).limit(limit)
    ).all()
    return [AttemptLine(a.started_at, a.outcome, a.aapor, a.note, name or "", a.phone_position) for a, name in rows]


def pending_appointment(session: Session, case: Case) -> Appointment | None:
    if case.tier != TIER_APPOINTMENT or case.next_call_at is None or case.state == "final":
        return None
    reserved = None
    last = session.scalar(select(Attempt.outcome).where(Attempt.case_id == case.id).order_by(Attempt.id.desc())
                          .limit(1))
    hard = last == "appointment_hard"
    if hard and case.reserved_for is not None:
        reserved = session.scalar(select(User.display_name).where(User.id == case.reserved_for))
    local = case.next_call_at.astimezone(ZoneInfo(case.zone.tz))
    return Appointment(case.next_call_at, local, hard, reserved)


def contact_panel(session: Session, case: Case, now: dt.datetime | None = None, *,
                  history: bool = True) -> ContactPanel:
    """Everything the interviewer needs before dialling (``history=False``: without the attempts,
    for the compact panel beside a running interview)."""
    now = now or utcnow()
    contact = session.scalar(_CONTACT, {"case_id": case.id})
    zone = case.zone
    return ContactPanel(
        ref=case.ref,
        name=contact.name if contact is not None else "",
        postcode=contact.postcode if contact is not None else "",
        phones=phone_lines(session, case.id),
        tz=zone.tz,
        region=zone.region or "",
        country=zone.country,
        local_now=now.astimezone(ZoneInfo(zone.tz)),
        attempts=attempt_history(session, case.id) if history else [],
        appointment=pending_appointment(session, case),
        language=case.language,
    )


def introduction(session: Session, case: Case, user: User, now: dt.datetime | None = None) -> str | None:
    """The text the interview opens with (its first screen: an introduction, or a first question
    that greets the respondent), with its fills, so the interviewer can read it while the phone
    rings. Nothing is stored: the interview itself starts only when the interviewer starts it."""
    study = session.get(Study, case.study_id)
    version = study.current_version if study is not None else None
    if version is None:
        return None
    engine = engine_for(version)
    contact = session.get(Contact, case.id)
    sample = preload(engine.questionnaire.sample, case.fields or {}, (contact.pii_fields if contact else {}) or {},
                     _standard_columns(case, contact))
    languages = engine.questionnaire.languages
    lang = case.language if case.language in languages else languages[0]
    state = engine.start(secrets.randbits(62), sample, lang=lang, interviewer_name=user.first_name, now=now)
    screen = engine.screen(state)
    if isinstance(screen, Ended):
        return None
    return screen.text


def interview_of(session: Session, case: Case) -> Interview | None:
    return session.scalar(_INTERVIEW, {"case_id": case.id})


def claimed_case(session: Session, user: User) -> Case | None:
    """The case ``user`` holds right now (after a reload, a crash, a lost connection)."""
    return session.scalar(select(Case).where(Case.claimed_by == user.id, Case.state == "claimed")
                          .order_by(Case.claimed_at).limit(1))


def last_attempt(session: Session, case_id: int) -> Attempt | None:
    return session.scalar(select(Attempt).where(Attempt.case_id == case_id).order_by(Attempt.id.desc()).limit(1))


# --------------------------------------------------------------------------- outcomes


def interviewer_outcomes(study: Study) -> list[Outcome]:
    """The outcomes an interviewer may choose, in the study's table order. ``complete`` and the
    questionnaire's endings are never chosen by hand: the interview sets them."""
    return [o for o in rules_for(study).outcomes.values() if o.source == "interviewer"]


def appointment_time(tz: str, date_text: str, time_text: str) -> dt.datetime:
    """A date and time entered in the respondent's time zone, in UTC."""
    try:
        day = dt.date.fromisoformat(date_text.strip())
    except ValueError:
        raise ConsoleError("appointment_date", "missing") from None
    try:
        clock = dt.time.fromisoformat(time_text.strip())
    except ValueError:
        raise ConsoleError("appointment_time", "missing") from None
    return dt.datetime.combine(day, clock.replace(second=0, microsecond=0), ZoneInfo(tz)).astimezone(dt.UTC)


def record_call_outcome(
    session: Session,
    case: Case,
    user: User,
    code: str,
    *,
    note: str = "",
    appointment_at: dt.datetime | None = None,
    phone_position: int = 1,
    now: dt.datetime | None = None,
    dnc_salt: str = "cati-dnc",
) -> Attempt:
    """End the call with an outcome chosen by the interviewer; the case is released.

    An interview in progress is paused (status ``broken_off``, its quota reservations released),
    whatever the outcome, so that it resumes where it stopped if the case is called again. The
    scheduler validates first (note, appointment inside calling hours), so a refusal changes
    nothing.
    """
    now = now or utcnow()
    study = session.get(Study, case.study_id)
    outcome = rules_for(study).outcomes.get(code)
    if outcome is None or outcome.source != "interviewer":
        raise ConsoleError("outcome", "not_allowed", code)
    if case.state != "claimed" or case.claimed_by != user.id:
        raise ConsoleError("case", "not_yours")
    interview = interview_of(session, case)
    running = interview is not None and interview.status == "active"
    if code == "break_off" and not running:
        raise ConsoleError("outcome", "not_started")
    phones = {p.position for p in phone_lines(session, case.id)}
    if phones and phone_position not in phones:
        raise ConsoleError("phone_position", "missing")
    attempt = record_outcome(session, case, user, code, note=note, appointment_at=appointment_at,
                             phone_position=phone_position, now=now, dnc_salt=dnc_salt)
    if running:
        assert interview is not None
        # The same as interviews.break_off, for every outcome that interrupts an interview.
        interview.status = "broken_off"
        interview.updated_at = now
        quotas.on_interview_pause(session, interview)
    return attempt


# --------------------------------------------------------------------------- contact corrections


def _normalise(raw: str, country: str, field: str) -> str:
    phone, reason = check_phone(raw, country or "DE")
    if phone is None:
        raise ConsoleError(field, "invalid", reason or "")
    return phone.e164


def correct_contact(
    session: Session,
    case: Case,
    user: User,
    *,
    name: str | None = None,
    phones: Mapping[int, str] | None = None,
    add_phone: str = "",
    dnc_salt: str = "cati-dnc",
) -> dict[str, list[str | None]]:
    """Correct the respondent's name or numbers, or add a number (address qualification).

    ``phones`` maps positions to the (possibly corrected) numbers as entered. Returns the changes
    as ``{what: [old, new]}`` (empty when nothing changed). Each change is audited - who, when,
    which field - by a ``contact.change`` event naming ``contact_changes`` rows, which hold the old
    and new values (erased with the contact). Numbers on the do-not-call list are refused.
    """
    contact = session.get(Contact, case.id)
    if contact is None:
        raise ConsoleError("name", "erased")
    country = case.zone.country or "DE"
    current = {p.position: p for p in session.scalars(select(CasePhone).where(CasePhone.case_id == case.id))}
    changes: dict[str, list[str | None]] = {}
    new_numbers: dict[int, str] = {}
    for position, raw in (phones or {}).items():
        row = current.get(position)
        if row is None or not raw.strip():
            continue
        e164 = _normalise(raw, country, f"phone_{position}")
        if e164 != row.e164:
            new_numbers[position] = e164
    added = _normalise(add_phone, country, "add_phone") if add_phone.strip() else None
    final = {pos: new_numbers.get(pos, row.e164) for pos, row in current.items()}
    for field, e164 in [*((f"phone_{pos}", n) for pos, n in new_numbers.items()), ("add_phone", added)]:
        if e164 is None:
            continue
        if dnc.is_blocked(session, e164, salt=dnc_salt):
            raise ConsoleError(field, "dnc")
    for position, e164 in new_numbers.items():
        if any(other == e164 for pos, other in final.items() if pos != position):
            raise ConsoleError(f"phone_{position}", "duplicate")
    if added is not None and added in final.values():
        raise ConsoleError("add_phone", "duplicate")
    if name is not None and name.strip() and name.strip() != contact.name:
        if len(name.strip()) > 200:
            raise ConsoleError("name", "too_long")
        changes["name"] = [contact.name, name.strip()]
        contact.name = name.strip()
    for position, e164 in sorted(new_numbers.items()):
        changes[f"phone_{position}"] = [current[position].e164, e164]
        current[position].e164 = e164
    if added is not None:
        position = max(current, default=0) + 1
        session.add(CasePhone(case_id=case.id, study_id=case.study_id, position=position, e164=added))
        changes[f"phone_{position}"] = [None, added]
    if changes:
        session.flush()
        rows = [audit.personal_value(session, case, field, old, new, user_id=user.id)
                for field, (old, new) in changes.items()]
        audit.record(session, "contact.change", user_id=user.id, study_id=case.study_id, target=f"case:{case.ref}",
                     details={"changes": [{"id": row.id, "field": row.field} for row in rows]})
    return changes


# --------------------------------------------------------------------------- inbound calls


@dataclass(frozen=True)
class InboundMatch:
    case_id: int
    ref: str
    study_name: str
    name: str
    outcome: str
    #: None when the interviewer may open the case, else why not: ``yours`` (already open),
    #: ``claimed`` (someone is calling it), ``final``, ``dnc``, ``blocked``, ``not_in_field``.
    refusal: str | None


def _inbound_refusal(case: Case, study: Study, user: User) -> str | None:
    if study.status != "field":
        return "not_in_field"
    if case.state == "claimed":
        return "yours" if case.claimed_by == user.id else "claimed"
    if case.state == "final":
        return "final"
    if case.state == "blocked":
        return "dnc" if case.block_kind == "dnc" else ("blocked" if case.block_kind != "window" else None)
    return None


def find_by_phone(session: Session, user: User, raw: str, *, default_region: str = "DE",
                  limit: int = 20) -> list[InboundMatch]:
    """Cases of the interviewer's studies with this number (``ix_case_phones_e164``)."""
    e164 = _normalise(raw, default_region, "phone")
    rows = session.execute(
        select(Case, Study, Contact.name)
        .join(CasePhone, CasePhone.case_id == Case.id)
        .join(Study, Study.id == Case.study_id)
        .join(StudyMember, and_(StudyMember.study_id == Case.study_id, StudyMember.user_id == user.id))
        .outerjoin(Contact, Contact.case_id == Case.id)
        .where(CasePhone.e164 == e164)
        .order_by(Study.name, Case.ref).limit(limit)
    ).all()
    seen: set[int] = set()
    matches = []
    for case, study, name in rows:
        if case.id in seen:
            continue
        seen.add(case.id)
        matches.append(InboundMatch(case.id, case.ref, study.name, name or "", case.outcome,
                                    _inbound_refusal(case, study, user)))
    return matches


def claim_for_inbound(session: Session, case: Case, user: User, *, now: dt.datetime | None = None) -> None:
    """Give the case to ``user`` because the respondent called in, whether or not it is due.

    Refused for final, do-not-call or otherwise blocked cases (a closed calling window does not
    matter: the respondent called us), for cases someone else holds, and while the interviewer
    holds another case.
    """
    now = now or utcnow()
    study = session.get(Study, case.study_id)
    refusal = _inbound_refusal(case, study, user)
    if refusal == "yours":
        return
    if refusal is not None:
        raise ConsoleError("case", refusal)
    held = claimed_case(session, user)
    if held is not None and held.id != case.id:
        raise ConsoleError("case", "busy")
    claimed = session.execute(
        update(Case).where(Case.id == case.id, or_(Case.state == "ready",
                                                   and_(Case.state == "blocked", Case.block_kind == "window")))
        .values(state="claimed", claimed_by=user.id, claimed_at=now, heartbeat_at=now, block_kind="",
                block_reason="")
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise ConsoleError("case", "claimed")
    session.refresh(case)
    audit.record(session, "case.inbound", user_id=user.id, study_id=case.study_id, target=f"case:{case.ref}")


# --------------------------------------------------------------------------- today's figures


@dataclass(frozen=True)
class TodayStats:
    calls: int
    completes: int
    per_hour: float
    since: dt.datetime | None


def today_stats(session: Session, user: User, *, now: dt.datetime | None = None,
                tz: str = "Europe/Berlin") -> TodayStats:
    """Calls (attempts) and completes since local midnight; completes per hour over the time since
    the first call of the day (at least a quarter of an hour, so the first complete does not read
    as 60 an hour). One range read of ``ix_attempts_user_id_started_at``."""
    now = now or utcnow()
    local = now.astimezone(ZoneInfo(tz))
    midnight = dt.datetime.combine(local.date(), dt.time(), ZoneInfo(tz)).astimezone(dt.UTC)
    calls, completes, first = session.execute(
        select(func.count(Attempt.id), func.count(Attempt.id).filter(Attempt.outcome == "complete"),
               func.min(Attempt.started_at))
        .where(Attempt.user_id == user.id, Attempt.started_at >= midnight, Attempt.started_at <= now)
    ).one()
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=dt.UTC)  # aggregates bypass the UTCDateTime column type
    hours = max((now - first).total_seconds() / 3600, 0.25) if first is not None else 0
    return TodayStats(int(calls), int(completes or 0), (completes / hours) if hours else 0.0, first)
