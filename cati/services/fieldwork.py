"""Where fieldwork stands: the figures of the supervisor's study dashboard, and the supervisor's
settings that only the dashboard reads (the eligibility estimate ``e``, interviewer skills).

Every figure is a handful of indexed reads, whatever the sample size (measured in
``benchmarks/bench_dashboard.py``: 1,000,000 cases and 5,000,000 attempts):

* cases by phase, current disposition, AAPOR code and attempts come from ``case_tallies``, which
  database triggers keep up to date (``cati.models.fieldwork``): a few hundred rows per study;
* claimed cases, due retries and appointments, blocked cases by reason: range reads on the draw
  index ``ix_cases_draw (study_id, state, tier, zone_id, order_key)``;
* today's attempts: a range count on ``ix_attempts_study_id_started_at``;
* completes per day: ``ix_interviews_study_id_status_ended_at``, grouped by UTC hour in SQL and
  by local day here (at most 24 rows per day);
* quota cells: the quota service's counter rows (``quota_cells``).

"Callable now" uses the scheduler's zone logic: the calling rules are evaluated once per calling
zone; a ready case in an open zone counts if it is fresh or its retry/appointment time has come.
Like ``cati sample due``, it is the count for an interviewer with every skill (language and
refusal-conversion skills narrow it per person) and ignores hard appointments' reservations.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, literal, select, union_all
from sqlalchemy.orm import Session

from cati.models import Attempt, Case, CaseTally, Interview, QuotaCell, Study, StudyMember, StudyZone, User
from cati.models.fieldwork import ATTEMPTS_CAP
from cati.models.meta import utcnow
from cati.sampling import quotas as quota_arithmetic
from cati.sampling.aapor import RATE_NAMES, aapor_rates, eligibility_rate
from cati.sampling.dispositions import RATE_CLASSES, Outcome, rate_class_for

from . import audit, scheduler

#: The call centre's time zone: "today" and the days of the completes chart.
DEFAULT_TZ = "Europe/Berlin"
#: Settings keys of the supervisor's eligibility estimate (AAPOR ``e``) and its stated basis.
E_KEY, E_BASIS_KEY = "aapor_e", "aapor_e_basis"
#: AAPOR code of a case never attempted.
NOT_ATTEMPTED = "3.11"

__all__ = [
    "DEFAULT_TZ",
    "Dashboard",
    "EligibilityEstimate",
    "FieldworkError",
    "count_by_key",
    "dashboard",
    "eligibility_estimate",
    "rebuild_tallies",
    "set_eligibility_estimate",
    "set_interviewer_skills",
]


class FieldworkError(ValueError):
    """A supervisor's change that was refused; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


# --------------------------------------------------------------------------- tallies


def tally_key(table: Any = Case) -> tuple[ColumnElement[Any], ...]:
    """The tally key of a case as SQL expressions (the same as the triggers of migration 0006)."""
    is_open = and_(table.state.in_(("ready", "claimed")), table.is_test.is_(False))
    is_blocked = and_(table.state == "blocked", table.is_test.is_(False))
    return (
        table.study_id,
        case((table.is_test.is_(True), literal("test")), (table.state == "final", literal("final")),
             (table.state == "blocked", literal("blocked")), else_=literal("open")),
        case((is_open, table.tier), else_=literal(-1)),
        case((is_open, table.zone_id), else_=literal(0)),
        case((is_blocked, table.block_kind), else_=literal("")),
        table.outcome,
        table.aapor,
        case((table.attempts > ATTEMPTS_CAP, literal(ATTEMPTS_CAP)), else_=table.attempts),
    )


KEY_COLUMNS = ("study_id", "phase", "tier", "zone_id", "block_kind", "outcome", "aapor", "attempts")


def count_by_key(session: Session, study_id: int) -> dict[tuple[Any, ...], int]:
    """The tallies recomputed from the cases (a full read of the study: for checks and repair)."""
    key = tally_key()
    rows = session.execute(select(*key, func.count()).where(Case.study_id == study_id).group_by(*key))
    return {tuple(r[:-1]): int(r[-1]) for r in rows}


def stored_tallies(session: Session, study_id: int) -> dict[tuple[Any, ...], int]:
    """The tallies as the triggers keep them (zero rows left out)."""
    rows = session.execute(select(*(getattr(CaseTally, c) for c in KEY_COLUMNS), CaseTally.n)
                           .where(CaseTally.study_id == study_id, CaseTally.n != 0))
    return {tuple(r[:-1]): int(r[-1]) for r in rows}


def rebuild_tallies(session: Session, study_id: int) -> int:
    """Recount a study's tallies from its cases (after restoring a backup taken without the
    triggers, say). Returns the number of tally rows."""
    session.flush()
    session.execute(delete(CaseTally).where(CaseTally.study_id == study_id))
    key = tally_key()
    source = select(*key, func.count()).where(Case.study_id == study_id).group_by(*key)
    session.execute(insert(CaseTally).from_select([*KEY_COLUMNS, "n"], source))
    return int(session.scalar(select(func.count()).select_from(CaseTally).where(CaseTally.study_id == study_id))
               or 0)


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class DispositionRow:
    """Cases with one current disposition (outcome code + AAPOR code)."""

    aapor: str
    outcome: str
    rate_class: str
    final: int
    temporary: int

    @property
    def total(self) -> int:
        return self.final + self.temporary


@dataclass(frozen=True)
class EligibilityEstimate:
    """The ``e`` used for RR3/RR4/REF2/CON2 and how it was chosen (AAPOR: state the basis)."""

    value: float | None
    #: ``proportional``: eligible among the cases of known eligibility (I+P+R+NC+O)/(…+NE), the
    #: AAPOR Outcome Rate Calculator's default; ``supervisor``: a value set for the study.
    method: str
    basis: str = ""


@dataclass(frozen=True)
class AppointmentDue:
    case_id: int
    ref: str
    at: dt.datetime
    local_at: dt.datetime
    reserved_for: str | None
    overdue: bool


@dataclass(frozen=True)
class QuotaCellFigure:
    quota: str
    cell: str
    mode: str
    target: int | None
    completes: int
    pending: int
    remaining: int | None
    open: bool

    @property
    def share(self) -> float | None:
        """Completes as a share of the target, capped at 1 (for the bar)."""
        return None if not self.target else min(self.completes / self.target, 1.0)


@dataclass
class Dashboard:
    """Everything the study dashboard shows, as of ``at``."""

    study_id: int
    at: dt.datetime
    tz: str
    status: str
    total_cases: int = 0
    open_cases: int = 0
    claimed: int = 0
    blocked: int = 0
    blocked_by_kind: dict[str, int] = field(default_factory=dict)
    final_cases: int = 0
    completes: int = 0
    target: int | None = None
    target_source: str = ""
    attempts_today: int = 0
    callable_now: int = 0
    open_zones: int = 0
    zones: int = 0
    appointments: list[AppointmentDue] = field(default_factory=list)
    appointments_due: int = 0
    appointments_overdue: int = 0
    horizon_hours: int = 4
    dispositions: list[DispositionRow] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float | None] = field(default_factory=dict)
    e: EligibilityEstimate = field(default_factory=lambda: EligibilityEstimate(None, "proportional"))
    completes_per_day: list[tuple[dt.date, int]] = field(default_factory=list)
    attempts_histogram: list[tuple[int, int]] = field(default_factory=list)
    quota_cells: list[QuotaCellFigure] = field(default_factory=list)

    @property
    def progress(self) -> float | None:
        """Completes as a share of the target (None without a target)."""
        return None if not self.target else self.completes / self.target

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for the dashboard's auto-refresh and for wallboards."""
        return {
            "study_id": self.study_id,
            "at": self.at.isoformat(),
            "status": self.status,
            "cases": {"total": self.total_cases, "open": self.open_cases, "claimed": self.claimed,
                      "blocked": self.blocked, "final": self.final_cases, "blocked_by_kind": self.blocked_by_kind},
            "completes": self.completes,
            "target": self.target,
            "target_source": self.target_source,
            "progress": self.progress,
            "attempts_today": self.attempts_today,
            "callable_now": self.callable_now,
            "open_zones": self.open_zones,
            "zones": self.zones,
            "appointments_due": self.appointments_due,
            "appointments_overdue": self.appointments_overdue,
            "horizon_hours": self.horizon_hours,
            "appointments": [{"case_id": a.case_id, "ref": a.ref, "at": a.at.isoformat(),
                              "reserved_for": a.reserved_for, "overdue": a.overdue} for a in self.appointments],
            "dispositions": [{"aapor": d.aapor, "outcome": d.outcome, "rate_class": d.rate_class,
                              "final": d.final, "temporary": d.temporary} for d in self.dispositions],
            "class_counts": self.class_counts,
            "rates": self.rates,
            "e": {"value": self.e.value, "method": self.e.method, "basis": self.e.basis},
            "completes_per_day": [[day.isoformat(), n] for day, n in self.completes_per_day],
            "attempts_histogram": [[k, n] for k, n in self.attempts_histogram],
            "quota_cells": [{"quota": q.quota, "cell": q.cell, "mode": q.mode, "target": q.target,
                             "completes": q.completes, "pending": q.pending, "remaining": q.remaining,
                             "open": q.open} for q in self.quota_cells],
        }


def _local_midnight(moment: dt.datetime, tz: ZoneInfo, days_back: int = 0) -> dt.datetime:
    day = moment.astimezone(tz).date() - dt.timedelta(days=days_back)
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def _hour_bucket(session: Session, column: Any) -> Any:
    """The UTC hour of a (naive UTC) timestamp column, as text ``YYYY-MM-DD HH``."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def eligibility_estimate(study: Study, counts: Mapping[str, int]) -> EligibilityEstimate:
    """The supervisor's ``e`` if one is set for the study, else the proportional estimator."""
    settings = study.settings or {}
    if settings.get(E_KEY) is not None:
        return EligibilityEstimate(float(settings[E_KEY]), "supervisor", str(settings.get(E_BASIS_KEY) or ""))
    return EligibilityEstimate(eligibility_rate(counts), "proportional")


def _target(study: Study, cells: list[QuotaCellFigure]) -> tuple[int | None, str]:
    settings = study.settings or {}
    if isinstance(settings.get("target_completes"), int):
        return settings["target_completes"], "setting"
    # Without an overall target, the quota with the largest total target stands for it: every
    # quota's cells partition the interviews, so its targets add up to the planned completes.
    totals: dict[str, int] = defaultdict(int)
    for cell in cells:
        if cell.target is not None:
            totals[cell.quota] += cell.target
    if totals:
        return max(totals.values()), "quotas"
    return None, ""


def _quota_cells(session: Session, study: Study) -> list[QuotaCellFigure]:
    """The quota service's counter rows (``quota_cells``: effective target, mode, completes,
    pending), with the quota arithmetic for room and remaining. Not ``quotas.cell_status``: its
    per-cell sample statistics group the whole sample for sample-only quotas, which the quota page
    may afford but a dashboard refreshed every 30 seconds may not."""
    rows = session.scalars(select(QuotaCell).where(QuotaCell.study_id == study.id)
                           .order_by(QuotaCell.quota_position, QuotaCell.position, QuotaCell.id))
    return [QuotaCellFigure(quota=r.quota, cell=r.cell, mode=r.mode, target=r.target, completes=r.completes,
                            pending=r.pending, remaining=quota_arithmetic.remaining(r.target, r.completes),
                            open=quota_arithmetic.has_room(r.mode, r.target, r.overshoot, r.completes, r.pending))
            for r in rows]


def dashboard(session: Session, study: Study, *, now: dt.datetime | None = None, tz: str = DEFAULT_TZ,
              horizon_hours: int = 4, days: int = 30, appointment_rows: int = 20) -> Dashboard:
    """The figures of the study dashboard as of ``now``."""
    now = now or utcnow()
    zone = ZoneInfo(tz)
    board = Dashboard(study_id=study.id, at=now, tz=tz, status=study.status, horizon_hours=horizon_hours)
    rules = scheduler.rules_for(study)

    # Cases by phase, disposition and attempts: the tallies.
    tallies = session.execute(
        select(CaseTally.phase, CaseTally.tier, CaseTally.zone_id, CaseTally.block_kind, CaseTally.outcome,
               CaseTally.aapor, CaseTally.attempts, CaseTally.n)
        .where(CaseTally.study_id == study.id, CaseTally.n != 0, CaseTally.phase != "test")
    ).all()
    dispositions: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    histogram: dict[int, int] = defaultdict(int)
    fresh_by_zone: dict[int, int] = defaultdict(int)
    classes = dict.fromkeys(RATE_CLASSES, 0)
    blocked_by_kind: dict[str, int] = defaultdict(int)
    for phase, tier, zone_id, block_kind, outcome, aapor, attempts, n in tallies:
        board.total_cases += n
        if phase == "final":
            board.final_cases += n
        elif phase == "blocked":
            board.blocked += n
            blocked_by_kind[block_kind or "other"] += n
        else:
            board.open_cases += n
            if tier == scheduler.TIER_FRESH:
                fresh_by_zone[zone_id] += n
        dispositions[(aapor, outcome)][0 if phase == "final" else 1] += n
        histogram[attempts] += n
        try:
            classes[rate_class_for(aapor)] += n
        except ValueError:
            classes["UH"] += n  # not an AAPOR code (hand-edited data): unknown eligibility
    board.dispositions = sorted(
        (DispositionRow(aapor, outcome, rate_class_for(aapor) if aapor[:1] in "1234" else "UH", f, t)
         for (aapor, outcome), (f, t) in dispositions.items()),
        key=lambda d: (_aapor_sort_key(d.aapor), d.outcome),
    )
    board.attempts_histogram = sorted(histogram.items())
    board.blocked_by_kind = {kind: n for kind, n in sorted(blocked_by_kind.items()) if n}
    board.class_counts = classes
    board.completes = classes["I"]
    board.e = eligibility_estimate(study, classes)
    rates = aapor_rates(classes, board.e.value)
    board.rates = {name: rates[name] for name in RATE_NAMES}

    # Claimed cases (a few, being called right now): the draw index.
    claimed_by_tier_zone = session.execute(
        select(Case.tier, Case.zone_id, func.count()).where(Case.study_id == study.id, Case.state == "claimed")
        .group_by(Case.tier, Case.zone_id)
    ).all()
    board.claimed = sum(n for _, _, n in claimed_by_tier_zone)

    # Callable now: open zones (scheduler), fresh cases from the tallies minus the claimed ones,
    # due retries and appointments from the draw index (one range per zone).
    study_zones = list(session.scalars(select(StudyZone.zone_id).where(StudyZone.study_id == study.id)))
    open_zones = scheduler.open_zones(session, study, rules, now) if study.status == "field" else []
    board.open_zones, board.zones = len(open_zones), len(study_zones)
    if open_zones:
        is_open = set(open_zones)
        fresh = sum(n for zone_id, n in fresh_by_zone.items() if zone_id in is_open)
        fresh -= sum(n for tier, zone_id, n in claimed_by_tier_zone
                     if tier == scheduler.TIER_FRESH and zone_id in is_open)
        due = session.scalar(
            select(func.count()).select_from(Case).where(
                Case.study_id == study.id, Case.state == "ready",
                Case.tier.in_((scheduler.TIER_APPOINTMENT, scheduler.TIER_RETRY)),
                Case.zone_id.in_(open_zones), Case.order_key <= int(now.timestamp()))
        ) or 0
        board.callable_now = fresh + int(due)

    # Appointments due within the horizon (and overdue ones).
    horizon = int((now + dt.timedelta(hours=horizon_hours)).timestamp())
    appointments = (Case.study_id == study.id, Case.state == "ready", Case.tier == scheduler.TIER_APPOINTMENT,
                    Case.zone_id.in_(study_zones), Case.order_key <= horizon)
    grace = dt.timedelta(minutes=int(rules.settings.get("appointment_grace", 15)))
    overdue_key = int((now - grace).timestamp())
    counts = session.execute(
        select(func.count(), func.sum(case((Case.order_key < overdue_key, 1), else_=0))).where(*appointments)
    ).one()
    board.appointments_due, board.appointments_overdue = int(counts[0] or 0), int(counts[1] or 0)
    first_ids = _first_appointments(study, study_zones, horizon, appointment_rows) if study_zones else None
    rows = session.execute(
        select(Case.id, Case.ref, Case.next_call_at, Case.order_key, User.display_name)
        .outerjoin(User, User.id == Case.reserved_for)
        .where(*appointments, *(() if first_ids is None else (Case.id.in_(first_ids),)))
        .order_by(Case.order_key, Case.id).limit(appointment_rows)
    ).all() if study_zones else []
    board.appointments = [
        AppointmentDue(r.id, r.ref, r.next_call_at or dt.datetime.fromtimestamp(r.order_key, dt.UTC),
                       (r.next_call_at or dt.datetime.fromtimestamp(r.order_key, dt.UTC)).astimezone(zone),
                       r.display_name, r.order_key < overdue_key)
        for r in rows
    ]

    # Today's attempts (local day of the call centre).
    board.attempts_today = int(session.scalar(
        select(func.count()).select_from(Attempt).where(
            Attempt.study_id == study.id, Attempt.started_at >= _local_midnight(now, zone),
            Attempt.started_at <= now)
    ) or 0)

    # Completes per day over the last ``days`` days.
    since = _local_midnight(now, zone, days - 1)
    hour = _hour_bucket(session, Interview.ended_at)
    per_day: dict[dt.date, int] = defaultdict(int)
    for bucket, n in session.execute(
        select(hour, func.count()).where(Interview.study_id == study.id, Interview.status == "complete",
                                         Interview.ended_at >= since, Interview.is_test.is_(False))
        .group_by(hour)
    ):
        utc_hour = dt.datetime.strptime(bucket, "%Y-%m-%d %H").replace(tzinfo=dt.UTC)
        per_day[utc_hour.astimezone(zone).date()] += int(n)
    first = since.astimezone(zone).date()
    board.completes_per_day = [(first + dt.timedelta(days=i), per_day.get(first + dt.timedelta(days=i), 0))
                               for i in range(days)]

    board.quota_cells = _quota_cells(session, study)
    board.target, board.target_source = _target(study, board.quota_cells)
    return board


#: SQLite allows 500 terms in a compound SELECT.
MAX_ZONE_PARTS = 300


def _first_appointments(study: Study, zones: list[int], horizon: int, limit: int) -> Any:
    """The ids of the first ``limit`` appointments up to ``horizon`` over all zones: one ordered
    index read per zone (the draw index has the zone before the due time), merged, as the
    scheduler's draw does. None when there are too many zones for one statement."""
    if len(zones) > MAX_ZONE_PARTS:
        return None
    parts = [
        select(Case.id.label("id"), Case.order_key.label("order_key")).where(
            Case.study_id == study.id, Case.state == "ready", Case.tier == scheduler.TIER_APPOINTMENT,
            Case.zone_id == zone_id, Case.order_key <= horizon)
        .order_by(Case.order_key).limit(limit).subquery().select()
        for zone_id in zones
    ]
    merged = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    return select(merged.c.id).order_by(merged.c.order_key, merged.c.id).limit(limit)


def _aapor_sort_key(code: str) -> tuple[int, ...]:
    try:
        major, minor = code.split(".", 1)
        return (int(major), *(int(d) for d in minor))
    except ValueError:
        return (9,)


def outcome_labels(study: Study, locale: str) -> dict[str, str]:
    """Display names of the study's outcome codes in ``locale`` (de or en)."""
    table: Mapping[str, Outcome] = scheduler.rules_for(study).outcomes
    return {code: (o.label_de if locale == "de" else o.label_en) for code, o in table.items()}


def histogram_buckets(histogram: list[tuple[int, int]], top: int = 10) -> list[tuple[str, int]]:
    """Attempts per case for a chart: 0, 1, ..., ``top`` - 1 and ``top``+ together."""
    buckets = [0] * (top + 1)
    for attempts, n in histogram:
        buckets[min(attempts, top)] += n
    return [(str(i) if i < top else f"{top}+", n) for i, n in enumerate(buckets)]


# --------------------------------------------------------------------------- supervisor settings


def set_eligibility_estimate(session: Session, study: Study, value: float | None, basis: str = "",
                             actor_id: int | None = None) -> None:
    """Set the study's ``e`` (0..1) with the basis AAPOR asks to report, or go back to the
    proportional estimator (``value`` None)."""
    basis = basis.strip()
    if value is not None:
        if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
            raise FieldworkError("e", "must be a number between 0 and 1")
        if not basis:
            raise FieldworkError("basis", "state the basis of the estimate (AAPOR requires it in the report)")
        if len(basis) > 500:
            raise FieldworkError("basis", "at most 500 characters")
    settings = dict(study.settings or {})
    before = {E_KEY: settings.get(E_KEY), E_BASIS_KEY: settings.get(E_BASIS_KEY)}
    if value is None:
        settings.pop(E_KEY, None)
        settings.pop(E_BASIS_KEY, None)
    else:
        settings[E_KEY], settings[E_BASIS_KEY] = float(value), basis
    study.settings = settings
    audit.record(session, "study.settings", user_id=actor_id, study_id=study.id, target=f"study:{study.slug}",
                 details={"changes": {E_KEY: value, E_BASIS_KEY: basis if value is not None else None},
                          "before": before})


LANGUAGE_CODE_MAX = 8


def set_interviewer_skills(session: Session, study: Study, user: User, *, languages: list[str],
                           refusal_conversion: bool, actor_id: int | None = None) -> None:
    """Set the skills the scheduler honours for an interviewer of ``study`` (skills belong to the
    person, so they apply in all of the interviewer's studies)."""
    if user.role != "interviewer":
        raise FieldworkError("user_id", "skills are set for interviewers")
    if session.get(StudyMember, (study.id, user.id)) is None:
        raise FieldworkError("user_id", "not an interviewer of this study")
    cleaned = []
    for code in languages:
        code = code.strip().lower()
        if not code:
            continue
        if len(code) > LANGUAGE_CODE_MAX or not code.replace("-", "").isalpha():
            raise FieldworkError("languages", f"{code!r} is not a language code such as de or tr")
        if code not in cleaned:
            cleaned.append(code)
    before = dict(user.skills or {})
    skills = dict(before)
    skills["languages"] = cleaned
    skills["refusal_conversion"] = bool(refusal_conversion)
    user.skills = skills
    audit.record(session, "user.skills", user_id=actor_id, study_id=study.id, target=f"user:{user.id}",
                 details={"skills": skills, "before": before})


def interviewers(session: Session, study: Study) -> list[User]:
    """The study's interviewers, by name."""
    return list(session.scalars(
        select(User).join(StudyMember, StudyMember.user_id == User.id)
        .where(StudyMember.study_id == study.id, User.role == "interviewer").order_by(User.display_name)
    ))

