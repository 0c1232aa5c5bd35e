"""Next case: the right case, to exactly one interviewer, only when the rules allow.

How a draw stays cheap whatever the sample size (see ``cati.models.sample``):

1. The calling rules are evaluated per *zone* (time zone + country + German state), not per case:
   a study's sample lies in a handful of zones (``study_zones``), and for each we ask once whether a
   call started now could end inside the window on a day that is no holiday there.
2. For each delivery tier (appointments, retries, fresh cases) and each open zone, the index
   ``ix_cases_draw (study_id, state, tier, zone_id, order_key)`` yields the first rows in delivery
   order; a UNION ALL of those per-zone "LIMIT k" reads gives the candidates in one statement.
3. The claim locks one candidate (PostgreSQL ``FOR UPDATE SKIP LOCKED``, so concurrent claimers
   never wait for each other and never get the same row) and flips it to ``claimed`` with a
   guarded ``UPDATE ... WHERE state = 'ready'``. On SQLite the transaction already holds the write
   lock (``BEGIN IMMEDIATE``), so the guarded update is enough. If every candidate was taken by
   someone else, the draw widens ``k`` and tries again, so an interviewer is never told "no case"
   while a callable case exists.

Everything a case's callability depends on over time (retry delays, per-day limits, appointments,
the next window) is folded into ``order_key``/``next_call_at`` when an attempt ends
(:func:`record_outcome`); what depends on the moment (the zone's window) is checked per draw.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select, union_all, update
from sqlalchemy.orm import Session

from cati.models import Attempt, CallingZone, Case, CasePhone, Study, StudyMember, StudyZone, User
from cati.models.meta import utcnow
from cati.sampling import calling_rules
from cati.sampling.calling_rules import CallingRules, CaseFacts, Explanation, HolidayCalendar
from cati.sampling.dispositions import Outcome, current_disposition, retry_delay

from . import audit, dnc, quotas

TIER_APPOINTMENT, TIER_RETRY, TIER_FRESH = 0, 1, 2
TIER_REASON = {TIER_APPOINTMENT: "appointment", TIER_RETRY: "retry", TIER_FRESH: "fresh"}
TIER_PRIORITY = {TIER_APPOINTMENT: 300, TIER_RETRY: 200, TIER_FRESH: 100}
CANDIDATE_WIDTHS = (8, 64, 512, 4096)
#: Minutes a retry waits when neither the study nor the outcome names a delay.
FALLBACK_DELAY = 60

_calendar = HolidayCalendar()  # holiday tables are the same for every study: share the cache
_rules_cache: dict[tuple[int, str, str], CallingRules] = {}
_rules_lock = threading.Lock()


class OutcomeError(ValueError):
    """A call outcome that cannot be recorded; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def rules_for(study: Study) -> CallingRules:
    """The study's calling rules, built once per distinct settings (settings are small JSON)."""
    import json

    key = (study.id, study.purpose, json.dumps(study.settings or {}, sort_keys=True, default=str))
    rules = _rules_cache.get(key)
    if rules is None:
        rules = CallingRules.from_settings(study.settings or {}, purpose=study.purpose, calendar=_calendar)
        with _rules_lock:
            if len(_rules_cache) > 512:
                _rules_cache.clear()
            _rules_cache[key] = rules
    return rules


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def open_zones(session: Session, study: Study, rules: CallingRules, now: dt.datetime) -> list[int]:
    """Zones of the study in which a call may start now (and end within the window)."""
    zones = session.execute(
        select(CallingZone.id, CallingZone.tz, CallingZone.region, CallingZone.country)
        .join(StudyZone, StudyZone.zone_id == CallingZone.id)
        .where(StudyZone.study_id == study.id)
    ).all()
    return [z.id for z in zones if not calling_rules.window_reasons(rules, z.tz, z.region or None, z.country, now)]


def _skills_filter(user: User | None) -> list[Any]:
    if user is None:
        return []
    skills = user.skills or {}
    conditions = []
    languages = skills.get("languages") or []
    if languages:
        conditions.append(or_(Case.language == "", Case.language.in_(languages)))
    if not skills.get("refusal_conversion"):
        conditions.append(Case.outcome != "soft_refusal")
    return conditions


def _candidates(study_id: int, tier: int, zones: Sequence[int], now: dt.datetime, width: int,
                user: User | None) -> Select[Any]:
    parts = []
    for zone_id in zones:
        query = select(Case.id, Case.order_key).where(
            Case.study_id == study_id, Case.state == "ready", Case.tier == tier, Case.zone_id == zone_id,
            *_skills_filter(user),
        )
        if tier != TIER_FRESH:
            query = query.where(Case.order_key <= _epoch(now))
        if tier == TIER_APPOINTMENT and user is not None:
            query = query.where(or_(Case.reserved_for.is_(None), Case.reserved_for == user.id,
                                    Case.reserved_until <= now))
        parts.append(select(query.order_by(Case.order_key).limit(width).subquery()))
    combined = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return select(combined.c.id, combined.c.order_key).order_by(combined.c.order_key, combined.c.id).limit(width)


def _claim_in(session: Session, study: Study, tier: int, zones: list[int], user: User, now: dt.datetime) -> int | None:
    for width in CANDIDATE_WIDTHS:
        candidates = [row.id for row in session.execute(_candidates(study.id, tier, zones, now, width, user))]
        if not candidates:
            return None
        locked = session.scalar(
            select(Case.id).where(Case.id.in_(candidates), Case.state == "ready")
            .order_by(Case.order_key, Case.id).limit(1).with_for_update(skip_locked=True)
        )
        if locked is not None:
            claimed = session.execute(
                update(Case).where(Case.id == locked, Case.state == "ready")
                .values(state="claimed", claimed_by=user.id, claimed_at=now, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed == 1:
                return locked
        if len(candidates) < width:
            return None  # every callable case is being claimed by someone else right now
    return None


def interviewer_studies(session: Session, user: User) -> list[Study]:
    """Studies in field the interviewer is assigned to, highest study priority first."""
    studies = session.scalars(
        select(Study).join(StudyMember, StudyMember.study_id == Study.id)
        .where(StudyMember.user_id == user.id, Study.status == "field").order_by(Study.id)
    ).all()
    return sorted(studies, key=lambda s: -int((s.settings or {}).get("priority", 50)))


@dataclass(frozen=True)
class Delivery:
    case: Case
    reason: str


_last_release = 0.0


def release_stale_claims(session: Session, now: dt.datetime, timeout_seconds: int, *, force: bool = False) -> int:
    """Return claimed cases whose interviewer has sent no heartbeat for ``timeout_seconds`` to the
    pool (their interview state is kept). Runs at most every 30 s per process unless forced."""
    global _last_release
    if not force and time.monotonic() - _last_release < 30:
        return 0
    _last_release = time.monotonic()
    released = session.execute(
        update(Case).where(Case.state == "claimed",
                           Case.heartbeat_at < now - dt.timedelta(seconds=timeout_seconds))
        .values(state="ready", claimed_by=None, claimed_at=None, heartbeat_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if released:
        quotas.release_stale(session)  # the places their interviews held in quota cells are freed too
    return released


def next_case(session: Session, user: User, *, now: dt.datetime | None = None,
              studies: Sequence[Study] | None = None, claim_timeout: int = 1800) -> Delivery | None:
    """Claim the best callable case for ``user``: due appointments, then retries, then fresh
    cases; within a tier the study with the higher priority first. None only when no case of the
    user's studies is callable now (or all callable ones are being claimed at this moment)."""
    now = now or utcnow()
    release_stale_claims(session, now, claim_timeout)
    studies = list(studies) if studies is not None else interviewer_studies(session, user)
    open_by_study = {}
    for study in studies:
        if study.status == "field":
            open_by_study[study.id] = (study, open_zones(session, study, rules_for(study), now))
    for tier in (TIER_APPOINTMENT, TIER_RETRY, TIER_FRESH):
        for study, zones in open_by_study.values():
            if not zones:
                continue
            case_id = _claim_in(session, study, tier, zones, user, now)
            if case_id is not None:
                return Delivery(session.get(Case, case_id, populate_existing=True), TIER_REASON[tier])
    return None


def heartbeat(session: Session, case: Case, user: User, now: dt.datetime | None = None) -> bool:
    """Keep a claim alive; False if the case is no longer this user's (released or taken)."""
    return session.execute(
        update(Case).where(Case.id == case.id, Case.state == "claimed", Case.claimed_by == user.id)
        .values(heartbeat_at=now or utcnow()).execution_options(synchronize_session=False)
    ).rowcount == 1


# --------------------------------------------------------------------------- outcomes


def _local_day(moment: dt.datetime, tz: str) -> dt.date:
    return moment.astimezone(ZoneInfo(tz)).date()


def record_outcome(
    session: Session,
    case: Case,
    user: User | None,
    code: str,
    *,
    note: str = "",
    appointment_at: dt.datetime | None = None,
    phone_position: int = 1,
    started_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    dnc_salt: str = "cati-dnc",
    aapor: str | None = None,
) -> Attempt:
    """End an attempt with an outcome and schedule what comes next.

    Raises :class:`OutcomeError` (nothing changed) for an unknown outcome, a missing required
    note, or an appointment outside calling hours or in the past. ``aapor`` overrides the
    outcome's AAPOR code (endings defined by the questionnaire carry their own, e.g. 2.112).
    """
    now = now or utcnow()
    study = session.get(Study, case.study_id)
    rules = rules_for(study)
    outcome: Outcome | None = rules.outcomes.get(code)
    if outcome is None:
        raise OutcomeError("outcome", f"unknown outcome {code!r}")
    if outcome.note_required and not note.strip():
        raise OutcomeError("note", f"outcome {code} needs a note")
    zone = case.zone
    is_appointment = code.startswith("appointment")
    if is_appointment:
        if appointment_at is None:
            raise OutcomeError("appointment_at", "an appointment needs a date and time")
        problems = calling_rules.validate_appointment(rules, zone.tz, zone.region or None, zone.country,
                                                      appointment_at, now)
        if problems:
            raise OutcomeError("appointment_at", "; ".join(problems))

    attempt = Attempt(case_id=case.id, study_id=case.study_id, user_id=user.id if user else None,
                      phone_position=phone_position, started_at=started_at or case.claimed_at or now,
                      ended_at=now, outcome=code, aapor=aapor or outcome.aapor, note=note[:2000])
    session.add(attempt)
    session.flush()  # the history queries below include this attempt
    today = _local_day(now, zone.tz)
    case.attempts_today = case.attempts_today + 1 if case.attempts_day == today else 1
    case.attempts_day = today
    case.attempts += 1
    case.last_attempt_at = now
    case.claimed_by = case.claimed_at = case.heartbeat_at = None
    case.reserved_for = case.reserved_until = None

    history = list(session.scalars(select(Attempt.outcome).where(Attempt.case_id == case.id)
                                   .order_by(Attempt.id)))
    if outcome.adds_to_dnc:
        numbers = list(session.scalars(select(CasePhone.e164).where(CasePhone.case_id == case.id)))
        dnc.add_numbers(session, numbers, salt=dnc_salt, source=f"outcome in study {study.slug}",
                        actor_id=user.id if user else None)
    if not outcome.final and not is_appointment and case.attempts >= rules.max_attempts:
        history.append("max_attempts")
    disposition = current_disposition(history, rules.outcomes)
    assert disposition is not None
    case.outcome, case.aapor = disposition.code, disposition.aapor
    if aapor and disposition.code == code:
        case.aapor = aapor

    if disposition.final or outcome.adds_to_dnc:
        case.state, case.next_call_at = "final", None
        if outcome.adds_to_dnc:
            case.block_kind, case.block_reason = "dnc", "number is on the do-not-call list"
    elif is_appointment:
        case.state, case.tier = "ready", TIER_APPOINTMENT
        case.next_call_at, case.order_key = appointment_at, _epoch(appointment_at)
        if code == "appointment_hard" and user is not None:
            grace = int(rules.settings.get("appointment_grace", 15))
            case.reserved_for, case.reserved_until = user.id, appointment_at + dt.timedelta(minutes=grace)
    else:
        _schedule_retry(session, case, rules, outcome, now, today)
    audit.record(session, "case.outcome", user_id=user.id if user else None, study_id=case.study_id,
                 target=f"case:{case.ref}", details={"outcome": code, "aapor": outcome.aapor,
                                                     "disposition": case.outcome, "note": bool(note)})
    return attempt


def _schedule_retry(session: Session, case: Case, rules: CallingRules, outcome: Outcome, now: dt.datetime,
                    today: dt.date) -> None:
    zone = case.zone
    earliest = now + dt.timedelta(minutes=retry_delay(outcome, rules.settings) or FALLBACK_DELAY)
    if case.attempts_today >= rules.max_attempts_per_day:
        tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), ZoneInfo(zone.tz))
        earliest = max(earliest, tomorrow.astimezone(dt.UTC))
    if outcome.code == "no_answer":
        times = session.scalars(select(Attempt.started_at).where(
            Attempt.case_id == case.id, Attempt.outcome == "no_answer"))
        parts = [calling_rules.day_part(t.astimezone(ZoneInfo(zone.tz))) for t in times]
        nxt = calling_rules.preferred_retry_start(rules, zone.tz, zone.region or None, zone.country, earliest, parts)
    else:
        nxt = calling_rules.next_window_start(rules, zone.tz, zone.region or None, zone.country, earliest)
    if nxt is None:
        case.state, case.block_kind = "blocked", "window"
        case.block_reason = "no calling window within the next 400 days"
        case.next_call_at = None
        return
    case.state, case.tier = "ready", TIER_RETRY
    case.next_call_at, case.order_key = nxt, _epoch(nxt)


# --------------------------------------------------------------------------- due / explain


@dataclass(frozen=True)
class DueCase:
    ref: str
    priority: int
    local_time: dt.datetime
    reason: str


def due_cases(session: Session, study: Study, at: dt.datetime, limit: int = 100) -> list[DueCase]:
    """The cases that may be called at ``at``, in the order they would be delivered (to an
    interviewer with every skill)."""
    if study.status != "field":
        return []
    rules = rules_for(study)
    zones = open_zones(session, study, rules, at)
    if not zones:
        return []
    out: list[DueCase] = []
    study_priority = int((study.settings or {}).get("priority", 50))
    for tier in (TIER_APPOINTMENT, TIER_RETRY, TIER_FRESH):
        remaining = limit - len(out)
        if remaining <= 0:
            break
        ids = [r.id for r in session.execute(_candidates(study.id, tier, zones, at, remaining, None))]
        if not ids:
            continue
        rows = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(ids)))}
        for case_id in ids:
            case = rows[case_id]
            out.append(DueCase(case.ref, TIER_PRIORITY[tier] + study_priority,
                               at.astimezone(ZoneInfo(case.zone.tz)), TIER_REASON[tier]))
    return out


def case_facts(case: Case, study: Study) -> CaseFacts:
    zone = case.zone
    return CaseFacts(
        tz=zone.tz, state=zone.region or None, country=zone.country, person_type=case.person_type,
        customer=case.customer, consent_at=case.consent_at, attempts_total=case.attempts,
        attempts_today=case.attempts_today, last_outcome=case.outcome or None,
        last_attempt_at=case.last_attempt_at,
        next_retry_at=case.next_call_at if case.tier == TIER_RETRY and case.state == "ready" else None,
        appointment_at=case.next_call_at if case.tier == TIER_APPOINTMENT and case.state == "ready" else None,
        appointment_kind=("hard" if case.reserved_for else "soft") if case.tier == TIER_APPOINTMENT else None,
        dnc=case.block_kind == "dnc", final=case.state == "final", final_outcome=case.outcome or None,
        study_status=study.status,
    )


def explain_case(session: Session, study: Study, case: Case, at: dt.datetime) -> Explanation:
    """Whether ``case`` may be called at ``at``, every reason why not, and when it next may."""
    explanation = calling_rules.explain(case_facts(case, study), rules_for(study), at)
    extra = []
    if case.state == "claimed":
        extra.append(f"being called right now (claimed at {case.claimed_at:%Y-%m-%d %H:%M} UTC)")
    if case.state == "blocked" and case.block_kind not in ("dnc", "legal"):
        extra.append(case.block_reason)
    if case.tier == TIER_APPOINTMENT and case.reserved_for and case.reserved_until and at < case.reserved_until:
        extra.append(f"hard appointment: reserved for its interviewer until "
                     f"{case.reserved_until.astimezone(ZoneInfo(case.zone.tz)):%H:%M} local time")
    if not extra:
        return explanation
    return Explanation(False, [*explanation.reasons, *extra],
                       None if case.state == "blocked" else explanation.next_callable_at)


def find_case(session: Session, study: Study, ref: str) -> Case | None:
    return session.scalar(select(Case).where(Case.study_id == study.id, Case.ref == ref))
