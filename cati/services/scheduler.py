"""Next case: the right case, to exactly one interviewer, only when the rules allow.

How a draw stays cheap whatever the sample size (see ``cati.models.sample``):

1. The calling rules are evaluated per *zone* (time zone + country + German state), not per case:
   a study's sample lies in a handful of zones (``study_zones``), and for each we ask once whether a
   call started now could end inside the window on a day that is no holiday there.
2. For each delivery tier (appointments, retries, fresh cases) and each open zone, the index
   ``ix_cases_draw (study_id, state, tier, zone_id, order_key)`` yields the first rows in delivery
   order: an index range scan that stops after ``k`` rows. One statement reads the (tier, study)
   groups in delivery order under one LIMIT, so later tiers are not read once earlier ones fill
   it. PostgreSQL gets the zones as an array (``unnest`` + ``LATERAL``), so the statement text is
   the same for every draw and prepared once per connection; SQLite gets a cached UNION ALL text.
3. The claim takes one candidate. PostgreSQL: in the same statement, ``FOR UPDATE SKIP LOCKED``
   (concurrent claimers never wait for each other and never get the same row) and the
   ``UPDATE ... SET state = 'claimed'``. SQLite: the transaction already holds the write lock
   (``BEGIN IMMEDIATE``), so the first candidate is free and a guarded ``UPDATE ... WHERE state =
   'ready'`` claims it. If every candidate was taken by someone else, the draw widens ``k`` and
   tries again, so an interviewer is never told "no case" while a callable case exists.

Everything a case's callability depends on over time (retry delays, per-day limits, appointments,
the next window) is folded into ``order_key``/``next_call_at`` when an attempt ends
(:func:`record_outcome`, due times rounded up to whole seconds); what depends on the moment (the
zone's window, a consent's date) is checked per draw. Blocks that arrive while a case is claimed
(do-not-call, legal basis) are applied when the claim ends.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import TextClause, bindparam, select, text, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from cati.models import Attempt, CallingZone, Case, CasePhone, Study, StudyMember, StudyZone, User
from cati.models.meta import UTCDateTime, utcnow
from cati.sampling import calling_rules
from cati.sampling.calling_rules import CallingRules, CaseFacts, Explanation, HolidayCalendar, legal_basis_reason
from cati.sampling.dispositions import Outcome, current_disposition, retry_delay

from . import audit, dnc, quotas

TIER_APPOINTMENT, TIER_RETRY, TIER_FRESH = 0, 1, 2
TIER_REASON = {TIER_APPOINTMENT: "appointment", TIER_RETRY: "retry", TIER_FRESH: "fresh"}
TIER_PRIORITY = {TIER_APPOINTMENT: 300, TIER_RETRY: 200, TIER_FRESH: 100}
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
    """Whole epoch seconds of a moment (rounded down): the draw compares ``order_key <= _epoch(now)``."""
    return int(moment.timestamp())


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _due_key(moment: dt.datetime) -> int:
    """``order_key`` of a case due at ``moment``: epoch seconds rounded *up*, so that the draw's
    ``order_key <= _epoch(now)`` never delivers it a fraction of a second early."""
    delta = moment - _EPOCH
    return delta.days * 86400 + delta.seconds + (1 if delta.microseconds else 0)


def _study_zones(session: Session, study: Study) -> Sequence[Any]:
    """(id, tz, region, country) of the calling zones the study's cases are in."""
    return session.execute(
        select(CallingZone.id, CallingZone.tz, CallingZone.region, CallingZone.country)
        .join(StudyZone, StudyZone.zone_id == CallingZone.id)
        .where(StudyZone.study_id == study.id)
    ).all()


def open_zones(session: Session, study: Study, rules: CallingRules, now: dt.datetime) -> list[int]:
    """Zones of the study in which a call may start now (and end within the window)."""
    zones = _study_zones(session, study)
    return [z.id for z in zones if not calling_rules.window_reasons(rules, z.tz, z.region or None, z.country, now)]


#: A SQLite draw statement covers at most this many per-zone index reads (SQLite allows 500 terms
#: in a compound SELECT); more groups are drawn by further statements, in delivery order.
MAX_PARTS = 300


@dataclass(frozen=True)
class _Group:
    """One (tier, study) of the delivery order with the study's open zones. ``consent``: the
    study's legal basis is consent, so a consent dated after the moment does not count yet, except
    for business customers (presumed consent). The import blocks such cases, but a study can
    switch to consent while they are ready."""

    tier: int
    study_id: int
    zones: tuple[int, ...]
    consent: bool = False


@dataclass(frozen=True)
class _Filters:
    """What restricts a draw besides tier, zone and due time: the interviewer's skills (None:
    an interviewer with every skill, as ``due_cases`` shows) and hard appointments of others."""

    languages: tuple[str, ...] | None = None
    refusal_conversion: bool = True
    reserved: bool = False

    @classmethod
    def for_user(cls, user: User | None) -> _Filters:
        if user is None:
            return cls()
        skills = user.skills or {}
        return cls(tuple(str(x) for x in skills.get("languages") or ()), bool(skills.get("refusal_conversion")),
                   True)

    def sql(self, tier: int) -> str:
        """Conditions of one tier besides study, state, tier, zone and due time. Fresh cases have
        no outcome yet (an attempt moves a case to another tier), so their index read needs no
        table row unless languages matter."""
        where = "" if tier == TIER_FRESH else " AND order_key <= :now_key"
        if self.languages:
            where += " AND (language = '' OR language IN :languages)"
        if not self.refusal_conversion and tier != TIER_FRESH:
            where += " AND outcome != 'soft_refusal'"
        if self.reserved and tier == TIER_APPOINTMENT:
            where += " AND (reserved_for IS NULL OR reserved_for = :user_id OR reserved_until <= :now)"
        return where


def _group_sql(dialect: str, g: int, group: _Group, filters: _Filters) -> str:
    """The first ``:width`` ready cases of one group in delivery order: one read of
    ``ix_cases_draw`` per open zone (an index range scan that stops after ``:width`` rows, whatever
    the sample size), merged. SQLite: the zones are inlined (ints from the database) and glued by
    UNION ALL. PostgreSQL: a LATERAL join over the zone array, so the statement text does not
    depend on the zones and is prepared once per connection (planning a 50-way UNION cost more
    than running it)."""
    where = f"state = 'ready' AND tier = {int(group.tier)}{filters.sql(group.tier)}"
    if group.consent:
        where += " AND (consent_at IS NULL OR consent_at <= :now OR (person_type = 'business' AND customer))"
    first = "ORDER BY order_key LIMIT :width"
    if dialect == "postgresql":
        return (f"(SELECT c.id, c.order_key, {g} AS g FROM unnest(CAST(:zones_{g} AS int[])) AS z(zone_id) "  # noqa: S608
                f"CROSS JOIN LATERAL (SELECT id, order_key FROM cases WHERE study_id = :study_{g} AND {where} "
                f"AND zone_id = z.zone_id {first}) AS c ORDER BY c.order_key, c.id LIMIT :width)")
    study = int(group.study_id)
    parts = [f"SELECT * FROM (SELECT id, order_key, {g} AS g FROM cases "  # noqa: S608 (ints only)
             f"WHERE study_id = {study} AND {where} AND zone_id = {int(zone)} {first})" for zone in group.zones]
    union = " UNION ALL ".join(parts)
    return f"SELECT * FROM (SELECT * FROM ({union}) ORDER BY order_key, id LIMIT :width)"  # noqa: S608


_PG_CLAIM = (
    "WITH cand AS MATERIALIZED ({candidates}), pick AS (SELECT c.id, cand.g FROM cand "
    "JOIN cases c ON c.id = cand.id WHERE c.state = 'ready' ORDER BY cand.g, cand.order_key, cand.id "
    "LIMIT 1 FOR UPDATE OF c SKIP LOCKED), "
    "claimed AS (UPDATE cases SET state = 'claimed', claimed_by = :user_id, claimed_at = :now, heartbeat_at = :now "
    "FROM pick WHERE cases.id = pick.id RETURNING cases.id, pick.g) "
    # one row always: the claimed case (or NULL) and how many candidates this very snapshot saw
    "SELECT claimed.id, claimed.g, (SELECT count(*) FROM cand) AS found FROM (SELECT 1) AS one "
    "LEFT JOIN claimed ON TRUE"
)


@lru_cache(maxsize=512)
def _draw_statement(dialect: str, groups: tuple[_Group, ...], filters: _Filters, claim: bool) -> TextClause:
    """The candidates of ``groups`` (columns id, order_key, g = position of the group in delivery
    order): the groups' reads in delivery order under one LIMIT, so once the first groups
    yield ``:width`` rows the later ones are not read (both databases run UNION ALL members in
    order; callers sort by (g, order_key, id) and rely only on getting the first rows). With
    ``claim`` (PostgreSQL) the whole claim is one statement: the first candidate that is still
    ready and not locked by a concurrent claimer (``FOR UPDATE SKIP LOCKED``) is flipped to
    ``claimed``; it returns one row (id, g, found): the claimed case or NULLs, and the number of
    candidates it saw."""
    if dialect == "postgresql":  # the zones and studies are parameters: one text per group shape
        groups = tuple(_Group(group.tier, 0, (), group.consent) for group in groups)
    members = " UNION ALL ".join(_group_sql(dialect, g, group, filters) for g, group in enumerate(groups))
    sql = f"SELECT id, order_key, g FROM ({members}) AS u LIMIT :width"  # noqa: S608 (ints only)
    if claim:
        sql = _PG_CLAIM.format(candidates=sql)
    statement = text(sql)
    if re.search(r":now\b", sql):
        statement = statement.bindparams(bindparam("now", type_=UTCDateTime()))
    if filters.languages:
        statement = statement.bindparams(bindparam("languages", expanding=True))
    return statement


_CLAIM = text("UPDATE cases SET state = 'claimed', claimed_by = :user_id, claimed_at = :now, heartbeat_at = :now "
              "WHERE id = :id AND state = 'ready'").bindparams(bindparam("now", type_=UTCDateTime()))


def _draw_params(groups: Sequence[_Group], filters: _Filters, user: User | None, now: dt.datetime, width: int,
                 dialect: str) -> dict[str, Any]:
    params: dict[str, Any] = {"now_key": _epoch(now), "now": now, "width": width,
                              "user_id": user.id if user is not None else None}
    if filters.languages:
        params["languages"] = list(filters.languages)
    if dialect == "postgresql":
        for g, group in enumerate(groups):
            params[f"study_{g}"] = group.study_id
            params[f"zones_{g}"] = list(group.zones)
    return params


def _statement_batches(groups: Sequence[_Group], dialect: str) -> list[tuple[_Group, ...]]:
    """Groups split so that each SQLite statement stays below MAX_PARTS reads (PostgreSQL: one)."""
    if dialect == "postgresql":
        return [tuple(groups)]
    batches: list[list[_Group]] = [[]]
    parts = 0
    for group in groups:
        if batches[-1] and parts + len(group.zones) > MAX_PARTS:
            batches.append([])
            parts = 0
        batches[-1].append(group)
        parts += len(group.zones)
    return [tuple(b) for b in batches if b]


def _candidates(session: Session, groups: tuple[_Group, ...], filters: _Filters, user: User | None,
                now: dt.datetime, width: int) -> list[Any]:
    """Rows (id, order_key, g) of the first ``width`` ready cases of ``groups`` due at ``now``, in
    delivery order."""
    dialect = session.get_bind().dialect.name
    statement = _draw_statement(dialect, groups, filters, False)
    rows = list(session.execute(statement, _draw_params(groups, filters, user, now, width, dialect)))
    rows.sort(key=lambda row: (row.g, row.order_key, row.id))
    return rows


#: Candidates per draw: SQLite holds the write lock during the draw (``BEGIN IMMEDIATE``), so the
#: first candidate is always free; PostgreSQL claimers skip each other's locked rows and need a few.
CANDIDATE_WIDTHS = {"sqlite": (1, 16, 256, 4096), "postgresql": (8, 64, 512, 4096)}


def _claim(session: Session, groups: Sequence[_Group], user: User, now: dt.datetime) -> tuple[int, int] | None:
    """Claim the first callable case of ``groups`` (in delivery order) for ``user``.

    Returns (case id, tier) or None when no case is callable. Candidates taken by concurrent
    claimers are skipped; when all ``width`` candidates were taken the draw widens, so "no case"
    is only answered when the candidates ran out."""
    dialect = session.get_bind().dialect.name
    filters = _Filters.for_user(user)
    for batch in _statement_batches(groups, dialect):
        for width in CANDIDATE_WIDTHS.get(dialect, CANDIDATE_WIDTHS["postgresql"]):
            if dialect == "postgresql":
                params = _draw_params(batch, filters, user, now, width, dialect)
                row = session.execute(_draw_statement(dialect, batch, filters, True), params).one()
                if row.id is not None:
                    return row.id, batch[row.g].tier
                found = row.found
            else:
                # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so the first
                # candidate is ours; the guarded UPDATE keeps it safe without that lock, too.
                rows = _candidates(session, batch, filters, user, now, width)
                for row in rows:
                    if session.execute(_CLAIM, {"id": row.id, "user_id": user.id, "now": now}).rowcount == 1:
                        return row.id, batch[row.g].tier
                found = len(rows)
            if found < width:
                break  # every candidate of this batch is being claimed by someone else right now
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


#: Blocks that a case being called keeps as a mark (the updates that set them skip the claim):
#: whatever ends the claim - an outcome, a stale release, a supervisor - turns them into a block.
CLAIM_END_BLOCKS = ("dnc", "legal")
#: The state a claimed case returns to when its claim ends without an outcome.
STATE_AFTER_CLAIM = sql_case((Case.block_kind.in_(CLAIM_END_BLOCKS), "blocked"), else_="ready")


def release_stale_claims(session: Session, now: dt.datetime, timeout_seconds: int, *, force: bool = False) -> int:
    """Return claimed cases whose interviewer has sent no heartbeat for ``timeout_seconds`` to the
    pool (their interview state is kept). Runs at most every 30 s per process unless forced."""
    global _last_release
    if not force and time.monotonic() - _last_release < 30:
        return 0
    _last_release = time.monotonic()
    stale = session.execute(
        update(Case).where(Case.state == "claimed",
                           Case.heartbeat_at < now - dt.timedelta(seconds=timeout_seconds))
        .values(state=STATE_AFTER_CLAIM,
                claimed_by=None, claimed_at=None, heartbeat_at=None)
        .returning(Case.id, Case.study_id, Case.state)
        .execution_options(synchronize_session=False)
    ).all()
    released = len(stale)
    # A legal basis the study lost while they were claimed blocks them now (see _block_on_release;
    # do-not-call numbers need the salt, so they count only once dnc.add_numbers marks the case).
    for study_id in {row.study_id for row in stale if row.state == "ready"}:
        study = session.get(Study, study_id)
        ids = [row.id for row in stale if row.study_id == study_id and row.state == "ready"]
        for released_case in session.scalars(select(Case).where(Case.id.in_(ids))):
            block = _block_on_release(session, released_case, study, rules_for(study), now, None)
            if block is not None:
                released_case.state, (released_case.block_kind, released_case.block_reason) = "blocked", block
    # the places their interviews held in quota cells are freed too (and those of interviews left
    # active when an outcome was recorded without ending them)
    quotas.release_stale(session)
    return released


def next_case(session: Session, user: User, *, now: dt.datetime | None = None,
              studies: Sequence[Study] | None = None, claim_timeout: int = 1800) -> Delivery | None:
    """Claim the best callable case for ``user``: due appointments, then retries, then fresh
    cases; within a tier the study with the higher priority first. None only when no case of the
    user's studies is callable now (or all callable ones are being claimed at this moment)."""
    now = now or utcnow()
    release_stale_claims(session, now, claim_timeout)
    studies = list(studies) if studies is not None else interviewer_studies(session, user)
    groups = []
    in_field = [(study, rules_for(study)) for study in studies if study.status == "field"]
    open_in = [(study, rules, open_zones(session, study, rules, now)) for study, rules in in_field]
    for tier in (TIER_APPOINTMENT, TIER_RETRY, TIER_FRESH):
        groups.extend(_Group(tier, study.id, tuple(zones), rules.legal_basis == "consent")
                      for study, rules, zones in open_in if zones)
    if not groups:
        return None
    claimed = _claim(session, groups, user, now)
    if claimed is None:
        return None
    case_id, tier = claimed
    return Delivery(session.get(Case, case_id, populate_existing=True), TIER_REASON[tier])


def next_opening(session: Session, studies: Sequence[Study], now: dt.datetime) -> dt.datetime | None:
    """When an interviewer who got no case may expect one again *because of calling hours*: the
    first moment after ``now`` at which a call may start in a calling zone of one of ``studies``
    in field. ``now`` itself when a zone is open (then retry waits, appointments or an empty
    sample are the reason, not the hours); None when nothing opens within the search horizon."""
    earliest: dt.datetime | None = None
    for study in studies:
        if study.status != "field":
            continue
        rules = rules_for(study)
        for zone in _study_zones(session, study):
            start = calling_rules.next_window_start(rules, zone.tz, zone.region or None, zone.country, now)
            if start is not None and (earliest is None or start < earliest):
                earliest = start
    return earliest


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
        today_count = case.attempts_today + 1 if case.attempts_day == _local_day(now, zone.tz) else 1
        if not problems and _local_day(appointment_at, zone.tz) == _local_day(now, zone.tz) \
                and today_count >= rules.max_attempts_per_day and case.attempts + 1 < rules.max_attempts:
            problems.append(f"{today_count} of {rules.max_attempts_per_day} attempts today are used: a call later "
                            "today would be one too many; choose a time from tomorrow on")
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
    if not outcome.final and case.attempts >= rules.max_attempts:
        # No attempt is left, so no appointment can be kept either (ADM: at most N attempts).
        history.append("max_attempts")
    disposition = current_disposition(history, rules.outcomes)
    assert disposition is not None
    case.outcome, case.aapor = disposition.code, disposition.aapor
    if aapor and disposition.code == code:
        case.aapor = aapor

    if disposition.final or outcome.adds_to_dnc:
        case.state, case.next_call_at = "final", None
        if outcome.adds_to_dnc:
            case.block_kind, case.block_reason = "dnc", calling_rules.DNC_REASON
    elif is_appointment:
        case.state, case.tier = "ready", TIER_APPOINTMENT
        case.next_call_at, case.order_key = appointment_at, _due_key(appointment_at)
        if code == "appointment_hard" and user is not None:
            grace = int(rules.settings.get("appointment_grace", 15))
            case.reserved_for, case.reserved_until = user.id, appointment_at + dt.timedelta(minutes=grace)
    else:
        _schedule_retry(session, case, rules, outcome, now, today)
    if case.state == "ready":
        block = _block_on_release(session, case, study, rules, now, dnc_salt)
        if block is not None:
            case.state, (case.block_kind, case.block_reason) = "blocked", block
    audit.record(session, "case.outcome", user_id=user.id if user else None, study_id=case.study_id,
                 target=f"case:{case.ref}", details={"outcome": code, "aapor": outcome.aapor,
                                                     "disposition": case.outcome, "note": bool(note)})
    return attempt


def _block_on_release(session: Session, case: Case, study: Study, rules: CallingRules, now: dt.datetime,
                      dnc_salt: str | None) -> tuple[str, str] | None:
    """Why a case whose call has ended must not go back into the pool: its number went on the
    do-not-call list, or the study's legal basis no longer covers it. Both updates
    (``dnc.add_numbers``, ``studies.refresh_legal_blocks``) skip claimed cases, so the claim's
    end checks again. Returns (block_kind, block_reason) or None."""
    if case.block_kind in CLAIM_END_BLOCKS:
        return case.block_kind, case.block_reason
    if dnc_salt is not None:
        numbers = session.scalars(select(CasePhone.e164).where(CasePhone.case_id == case.id))
        if any(dnc.is_blocked(session, number, salt=dnc_salt) for number in numbers):
            return "dnc", calling_rules.DNC_REASON
    legal = legal_basis_reason(rules.legal_basis, case.person_type, case.customer, case.consent_at,
                               purpose=study.purpose, at_utc=now)
    return ("legal", legal[:300]) if legal else None


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
    case.next_call_at, case.order_key = nxt, _due_key(nxt)


# --------------------------------------------------------------------------- due / explain


@dataclass(frozen=True)
class DueCase:
    ref: str
    priority: int
    local_time: dt.datetime
    reason: str
    case_id: int


def due_cases(session: Session, study: Study, at: dt.datetime, limit: int = 100) -> list[DueCase]:
    """The cases that may be called at ``at``, in the order they would be delivered (to an
    interviewer with every skill)."""
    if study.status != "field":
        return []
    rules = rules_for(study)
    zones = open_zones(session, study, rules, at)
    if not zones:
        return []
    study_priority = int((study.settings or {}).get("priority", 50))
    groups = tuple(_Group(tier, study.id, tuple(zones), rules.legal_basis == "consent")
                   for tier in (TIER_APPOINTMENT, TIER_RETRY, TIER_FRESH))
    dialect = session.get_bind().dialect.name
    found: list[tuple[int, int]] = []
    for batch in _statement_batches(groups, dialect):
        if len(found) >= limit:
            break
        candidates = _candidates(session, batch, _Filters(), None, at, limit - len(found))
        found.extend((row.id, batch[row.g].tier) for row in candidates)
    rows: dict[int, Case] = {}
    ids = [case_id for case_id, _ in found]
    for start in range(0, len(ids), 1000):
        rows.update((c.id, c) for c in session.scalars(select(Case).where(Case.id.in_(ids[start:start + 1000]))))
    return [DueCase(rows[case_id].ref, TIER_PRIORITY[tier] + study_priority,
                    at.astimezone(ZoneInfo(rows[case_id].zone.tz)), TIER_REASON[tier], case_id)
            for case_id, tier in found]


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
    if (case.state == "blocked" and case.block_kind not in ("dnc", "legal")) or case.block_kind == "erased":
        extra.append(case.block_reason)  # an erased closed case says so too
    if case.tier == TIER_APPOINTMENT and case.reserved_for and case.reserved_until and at < case.reserved_until:
        extra.append(f"hard appointment: reserved for its interviewer until "
                     f"{case.reserved_until.astimezone(ZoneInfo(case.zone.tz)):%H:%M} local time")
    if not extra:
        return explanation
    return Explanation(False, [*explanation.reasons, *extra],
                       None if case.state == "blocked" else explanation.next_callable_at)


def find_case(session: Session, study: Study, ref: str) -> Case | None:
    return session.scalar(select(Case).where(Case.study_id == study.id, Case.ref == ref))
