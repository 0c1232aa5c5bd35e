"""When a case may be called, and why not: calling hours, holidays, legal basis, attempt limits.

All checks run in the respondent's local time (``zoneinfo``; comparisons are made in UTC so DST
days are handled correctly) and every exclusion comes with a short English reason naming the rule.

Sources of the rules:

* Calling hours ``adm``: ADM/ASI/BVM/DGOF "Richtlinie für telefonische Befragungen" - Mon-Fri
  09-21, Sat 10-20, Sundays/public holidays 10-18 only when methodologically necessary (here: the
  study setting ``allow_sunday_holiday``). The guideline also asks that the expected interview
  length be taken into account, hence "due only if the call can END inside the window".
* Calling hours ``ddv``: DDV Ehrenkodex Telefonmarketing family - Mon-Sat 08-20, never on Sundays
  or public holidays (``allow_sunday_holiday`` is ignored).
* ``custom``: the study's weekly windows. Sundays and public holidays follow the same switch as
  ``adm``: with ``allow_sunday_holiday`` the study's Sunday windows apply on both, otherwise no calls.
* Attempts: ADM guideline - at most 10 contact attempts per number and survey, 4 per day.
* Legal basis: UWG § 7 (2) Nr. 1 - advertising calls need prior express consent of consumers and
  at least presumed consent of businesses; after-sales satisfaction calls count as advertising
  (OLG Köln 6 U 191/11), documented per § 7a UWG.
* Holidays: ``holidays`` package for the number's country and the contact's state; a contact with
  unknown state gets the union of all subdivisions' holidays (for Germany the 16 states).
  German calendars include the ``catholic`` category (Assumption in Bavaria, Corpus Christi in
  parts of Saxony and Thuringia): those days are holidays in many municipalities, so no calls.

Windows are wall-clock times of the respondent's local day; a window that starts at a time skipped
by a DST change (only possible in custom windows) starts at the first valid instant zoneinfo
gives for it. Windows do not run across midnight.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from cati.sampling import fieldwork_settings
from cati.sampling.dispositions import Outcome, customise, default_table, retry_delay
from cati.sampling.regions import STATE_CODES

__all__ = [
    "DAY_PARTS",
    "CallingRules",
    "CaseFacts",
    "Explanation",
    "Holiday",
    "HolidayCalendar",
    "Window",
    "attempt_reasons",
    "day_part",
    "explain",
    "legal_basis_reason",
    "next_window_start",
    "preferred_retry_start",
    "validate_appointment",
    "window_reasons",
]

UTC = dt.UTC
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_PARTS = ("morning", "afternoon", "evening", "saturday")
SEARCH_DAYS = 400
_SUNDAY = 6


# --------------------------------------------------------------------------- holidays


@dataclass(frozen=True, slots=True)
class Holiday:
    name: str
    #: where it applies, for reasons: "NW", "AT-9", "DE", or the states when the state is unknown
    where: str


class HolidayCalendar:
    """Public holidays per (country, state, year), cached. Country None means Germany."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str | None, int], dict[dt.date, Holiday]] = {}

    def holiday(self, country: str | None, state: str | None, day: dt.date) -> Holiday | None:
        country = (country or "DE").upper()
        key = (country, state or None, day.year)
        table = self._cache.get(key)
        if table is None:
            table = self._cache[key] = self._build(country, state or None, day.year)
        return table.get(day)

    @staticmethod
    def _calendar(country: str, state: str | None, year: int) -> Mapping[dt.date, str]:
        base = _country_class(country)
        if base is None:
            return {}
        categories = ("public", "catholic") if country == "DE" else ("public",)
        return holidays_lib.country_holidays(
            country, subdiv=state, years=year, language=base.default_language, categories=categories
        )

    def _build(self, country: str, state: str | None, year: int) -> dict[dt.date, Holiday]:
        if _country_class(country) is None:
            return {}  # the holidays package does not know the country: no holidays known
        subdivisions = _subdivisions(country)
        if state is not None and state in subdivisions:
            where = state if country == "DE" else f"{country}-{state}"
            return {d: Holiday(n, where) for d, n in self._calendar(country, state, year).items()}
        if not subdivisions:
            return {d: Holiday(n, country) for d, n in self._calendar(country, None, year).items()}
        # Unknown state: union of all subdivisions' holidays (the safe side).
        names: dict[dt.date, dict[str, list[str]]] = {}
        for sub in subdivisions:
            for day, name in self._calendar(country, sub, year).items():
                names.setdefault(day, {}).setdefault(name, []).append(sub)
        result: dict[dt.date, Holiday] = {}
        for day, by_name in names.items():
            subs = sorted({s for group in by_name.values() for s in group})
            if len(subs) == len(subdivisions):
                where = country
            else:
                where = f"{', '.join(subs)} (state unknown, so every state's holidays apply)"
            result[day] = Holiday(" / ".join(sorted(by_name)), where)
        return result


#: Why a case with a number on the do-not-call list is not called (block reason and explanation).
DNC_REASON = "number is on the do-not-call list"


@lru_cache(maxsize=256)
def _country_class(country: str) -> Any:
    try:
        return type(holidays_lib.country_holidays(country, years=()))
    except NotImplementedError:
        return None


@lru_cache(maxsize=256)
def _subdivisions(country: str) -> tuple[str, ...]:
    if country == "DE":
        return STATE_CODES  # the 16 states; "Augsburg" (a city) is not a state
    base = _country_class(country)
    return tuple(base.subdivisions) if base is not None else ()


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Window:
    """Weekly window: days ``first_day``..``last_day`` (0 = Monday), minutes after midnight."""

    first_day: int
    last_day: int
    start: int
    end: int

    def covers(self, weekday: int) -> bool:
        return self.first_day <= weekday <= self.last_day


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


PROFILE_WINDOWS: dict[str, tuple[Window, ...]] = {
    # ADM guideline: Mon-Fri 9-21, Sat 10-20.
    "adm": (Window(0, 4, 9 * 60, 21 * 60), Window(5, 5, 10 * 60, 20 * 60)),
    # DDV code: Mon-Sat 8-20.
    "ddv": (Window(0, 5, 8 * 60, 20 * 60),),
}
#: ADM guideline: Sundays and public holidays 10-18, only if methodologically necessary.
ADM_SUNDAY_HOLIDAY = ((10 * 60, 18 * 60),)


@dataclass(frozen=True)
class CallingRules:
    profile: str
    windows: tuple[Window, ...]
    #: windows on Sundays and public holidays; empty = no calls on those days
    sunday_holiday_windows: tuple[tuple[int, int], ...]
    allow_sunday_holiday: bool = False
    expected_duration: int = 15
    legal_basis: str = "none"
    purpose: str = "research"
    max_attempts: int = 10
    max_attempts_per_day: int = 4
    settings: Mapping[str, Any] = field(default_factory=dict)
    outcomes: Mapping[str, Outcome] = field(default_factory=default_table)
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar, compare=False)

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any],
        *,
        purpose: str = "research",
        calendar: HolidayCalendar | None = None,
        outcomes: Mapping[str, Outcome] | None = None,
    ) -> CallingRules:
        """From a study's settings (missing keys take the defaults for ``purpose``, see
        ``fieldwork_settings.effective``). Raises ValueError for a custom profile without windows."""
        values = fieldwork_settings.effective(purpose, settings)
        if outcomes is None and (overrides := fieldwork_settings.outcome_overrides(values)):
            outcomes = customise(overrides)
        profile = values["calling_profile"]
        allow = bool(values.get("allow_sunday_holiday"))
        if profile == "custom":
            raw = values.get("calling_windows")
            if not raw:
                raise ValueError("calling_profile custom needs calling_windows")
            if isinstance(raw, str):
                raw = fieldwork_settings.parse_windows(raw)
            windows = tuple(Window(int(a), int(b), _minutes(s), _minutes(e)) for a, b, s, e in raw)
            sunday = tuple((w.start, w.end) for w in windows if w.covers(_SUNDAY))
        elif profile in PROFILE_WINDOWS:
            windows = PROFILE_WINDOWS[profile]
            sunday = ADM_SUNDAY_HOLIDAY if profile == "adm" else ()
        else:
            raise ValueError(f"unknown calling_profile {profile!r}")
        return cls(
            profile=profile,
            windows=windows,
            sunday_holiday_windows=_merge(sunday) if allow else (),
            allow_sunday_holiday=allow,
            expected_duration=int(values["expected_duration"]),
            legal_basis=values["legal_basis"],
            purpose=purpose,
            max_attempts=int(values["max_attempts"]),
            max_attempts_per_day=int(values["max_attempts_per_day"]),
            settings=dict(values),
            outcomes=dict(outcomes) if outcomes is not None else default_table(),
            calendar=calendar or HolidayCalendar(),
        )

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.expected_duration)

    def weekday_windows(self, weekday: int) -> tuple[tuple[int, int], ...]:
        return _merge(tuple((w.start, w.end) for w in self.windows if w.covers(weekday)))


def _merge(spans: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort and merge overlapping or touching windows (a call may run across 12:00 when one
    window ends and the next begins there)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime (UTC)")
    return value.astimezone(UTC)


def _local_instant(day: dt.date, minutes: int, zone: ZoneInfo) -> dt.datetime:
    """Wall-clock time ``minutes`` after local midnight of ``day`` (1440 = next midnight), in UTC."""
    if minutes >= 1440:
        day, minutes = day + dt.timedelta(days=1), minutes - 1440
    local = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class _Day:
    windows: tuple[tuple[int, int], ...]  # minutes, merged
    closed_reasons: tuple[str, ...]  # why there are no calls on this day
    label: str  # "profile adm" or "Sunday/holiday hours of profile adm"


def _day_rules(rules: CallingRules, tz: str, state: str | None, country: str | None, day: dt.date) -> _Day:
    weekday = day.weekday()
    hol = rules.calendar.holiday(country, state, day)
    if (weekday == _SUNDAY or hol is not None) and rules.sunday_holiday_windows:
        return _Day(rules.sunday_holiday_windows, (), f"Sunday/holiday hours of profile {rules.profile}")
    restricted: list[str] = []
    if weekday == _SUNDAY:
        switch = "; allow_sunday_holiday is off" if rules.profile != "ddv" else ""
        restricted.append(
            f"Sunday in the respondent's time zone ({tz}): no calls on Sundays (profile {rules.profile}{switch})"
        )
    if hol is not None:
        restricted.append(f"public holiday in {hol.where}: {hol.name}")
    if restricted:
        return _Day((), tuple(restricted), f"profile {rules.profile}")
    windows = rules.weekday_windows(weekday)
    if not windows:
        reason = f"no calling window on {DAY_NAMES[weekday]}s (profile {rules.profile})"
        return _Day((), (reason,), f"profile {rules.profile}")
    return _Day(windows, (), f"profile {rules.profile}")


def _no_zone_reason(tz: str | None) -> str:
    if not tz:
        return "no time zone known for the respondent (give a timezone in the sample)"
    return f"unknown time zone {tz!r}"


def window_reasons(
    rules: CallingRules, local_tz: str | None, state: str | None, country: str | None, at_utc: dt.datetime
) -> list[str]:
    """Why a call may not start at ``at_utc``; empty = it can start now and end by
    now + expected_duration inside one calling window of the respondent's local day."""
    zone = _zone(local_tz) if local_tz else None
    if zone is None:
        return [_no_zone_reason(local_tz)]
    at = _utc(at_utc)
    local = at.astimezone(zone)
    day = local.date()
    rule = _day_rules(rules, local_tz, state, country, day)
    if rule.closed_reasons:
        return list(rule.closed_reasons)
    end = at + rules.duration
    spans = [(_local_instant(day, s, zone), _local_instant(day, e, zone), s, e) for s, e in rule.windows]
    for start_utc, end_utc, _, _ in spans:
        if start_utc <= at and end <= end_utc:
            return []
    now = f"{local:%H:%M} on {DAY_NAMES[day.weekday()]} in {local_tz}"
    for start_utc, end_utc, _, e in spans:
        if start_utc <= at < end_utc:
            return [
                f"too late to finish: a {rules.expected_duration}-minute call from {now} would end at "
                f"{end.astimezone(zone):%H:%M}, after {_hhmm(e)} ({rule.label})"
            ]
    if at < spans[0][0]:
        return [f"too early: {now}; calls from {_hhmm(spans[0][2])} ({rule.label})"]
    later = [s for start_utc, _, s, _ in spans if start_utc > at]
    if later:
        hours = ", ".join(f"{_hhmm(s)}–{_hhmm(e)}" for _, _, s, e in spans)
        return [f"outside calling hours: {now}; calling hours {hours}, next from {_hhmm(later[0])} ({rule.label})"]
    return [f"too late: {now}; calls until {_hhmm(spans[-1][3])} ({rule.label})"]


def _callable_spans(
    rules: CallingRules, zone: ZoneInfo, tz: str, state: str | None, country: str | None, day: dt.date
) -> list[tuple[dt.datetime, dt.datetime]]:
    """(first start, last start) in UTC of each window of ``day`` that fits a whole call."""
    rule = _day_rules(rules, tz, state, country, day)
    spans = []
    for s, e in rule.windows:
        first, last = _local_instant(day, s, zone), _local_instant(day, e, zone) - rules.duration
        if first <= last:
            spans.append((first, last))
    return spans


def next_window_start(
    rules: CallingRules, tz: str | None, state: str | None, country: str | None, after_utc: dt.datetime
) -> dt.datetime | None:
    """The first moment at or after ``after_utc`` at which a call may start (window, holidays and
    duration only); None if there is none within ~400 days or the time zone is unknown."""
    zone = _zone(tz) if tz else None
    if zone is None or tz is None:
        return None
    after = _utc(after_utc)
    day = after.astimezone(zone).date()
    for offset in range(SEARCH_DAYS + 1):
        for first, last in _callable_spans(rules, zone, tz, state, country, day + dt.timedelta(days=offset)):
            candidate = max(first, after)
            if candidate <= last:
                return candidate
    return None


def validate_appointment(
    rules: CallingRules,
    tz: str | None,
    state: str | None,
    country: str | None,
    at_utc: dt.datetime,
    now_utc: dt.datetime | None = None,
) -> list[str]:
    """Reasons to refuse an appointment at ``at_utc`` (empty = accepted): the interview must be
    able to start and end inside calling hours of the respondent's day, and not lie in the past."""
    reasons = []
    if now_utc is not None and _utc(at_utc) < _utc(now_utc):
        reasons.append("the appointment lies in the past")
    found = window_reasons(rules, tz, state, country, at_utc)
    reasons.extend(f"appointment outside calling hours: {r}" for r in found)
    return reasons


# --------------------------------------------------------------------------- legal basis


def legal_basis_reason(
    purpose_rule: str,
    person_type: str | None,
    customer: bool,
    consent_at: dt.datetime | None,
    *,
    purpose: str | None = None,
    at_utc: dt.datetime | None = None,
) -> str | None:
    """Why the contact may not be called under the study's legal basis (None = may be called).

    ``purpose_rule`` is the study's ``legal_basis``: ``none`` (research: no consent needed) or
    ``consent`` (UWG § 7 (2) Nr. 1): private persons need documented prior consent (``consent_at``);
    business contacts need consent or an existing customer relationship (presumed consent). An
    unknown person type is treated as private, the stricter case. Consent dated after ``at_utc``
    does not count.
    """
    if purpose_rule != "consent":
        return None
    what = f"purpose {purpose}" if purpose else "legal basis consent"
    if person_type == "business" and customer:
        return None
    if consent_at is not None:
        if at_utc is not None and _utc(consent_at) > _utc(at_utc):
            return f"consent is dated in the future ({_utc(consent_at):%Y-%m-%d %H:%M} UTC)"
        return None
    if person_type == "business":
        return (
            "business contact without documented consent or existing customer relationship "
            f"({what} requires presumed consent for business contacts, UWG § 7)"
        )
    unknown = "" if person_type == "private" else "; person type unknown, treated as private"
    return f"no documented consent ({what} requires consent for private persons{unknown})"


# --------------------------------------------------------------------------- attempts


def _describe_local(moment: dt.datetime, zone: ZoneInfo, reference: dt.datetime) -> str:
    local = moment.astimezone(zone)
    if local.date() == reference.astimezone(zone).date():
        return f"{local:%H:%M}"
    return f"{local:%a %Y-%m-%d %H:%M}"


def _attempt_blocks(
    rules: CallingRules,
    zone: ZoneInfo,
    at: dt.datetime,
    attempts_total: int,
    attempts_today: int,
    last_outcome: str | None,
    last_attempt_at: dt.datetime | None,
    next_retry_at: dt.datetime | None,
    retry_applies: bool = True,
) -> list[tuple[str, dt.datetime | None]]:
    """(reason, not-before) pairs; not-before None = permanent."""
    blocks: list[tuple[str, dt.datetime | None]] = []
    if attempts_total >= rules.max_attempts:
        blocks.append((f"{attempts_total} of {rules.max_attempts} attempts used", None))
    local_day = at.astimezone(zone).date()
    same_day = last_attempt_at is None or _utc(last_attempt_at).astimezone(zone).date() == local_day
    if same_day and attempts_today >= rules.max_attempts_per_day:
        midnight = _local_instant(local_day, 1440, zone)
        blocks.append(
            (f"{attempts_today} of {rules.max_attempts_per_day} attempts today used (respondent's local day)", midnight)
        )
    if not retry_applies:
        return blocks
    outcome = rules.outcomes.get(last_outcome) if last_outcome else None
    due = _utc(next_retry_at) if next_retry_at is not None else None
    if due is None and outcome is not None and last_attempt_at is not None:
        delay = retry_delay(outcome, rules.settings)
        if delay:
            due = _utc(last_attempt_at) + dt.timedelta(minutes=delay)
    if due is not None and at < due:
        after = f"after {outcome.label_en.lower()} " if outcome is not None else ""
        blocks.append((f"retry {after}not before {_describe_local(due, zone, at)}", due))
    return blocks


def attempt_reasons(
    rules: CallingRules,
    *,
    tz: str,
    at_utc: dt.datetime,
    attempts_total: int = 0,
    attempts_today: int = 0,
    last_outcome: str | None = None,
    last_attempt_at: dt.datetime | None = None,
    next_retry_at: dt.datetime | None = None,
) -> list[str]:
    """Attempt limits (ADM: 10 per number, 4 per day) and the retry delay of the last outcome.

    ``attempts_today`` counts attempts on the respondent's local day of ``last_attempt_at``; it is
    ignored once that day is over. ``next_retry_at`` (as stored by the scheduler, possibly moved
    to another part of the day) wins over the outcome's delay."""
    zone = _zone(tz) if tz else None
    if zone is None:
        return [_no_zone_reason(tz)]
    blocks = _attempt_blocks(
        rules, zone, _utc(at_utc), attempts_total, attempts_today, last_outcome, last_attempt_at, next_retry_at
    )
    return [reason for reason, _ in blocks]


# --------------------------------------------------------------------------- explain


@dataclass(frozen=True)
class CaseFacts:
    """What the scheduler stores per case."""

    tz: str | None
    state: str | None = None
    country: str | None = "DE"
    person_type: str | None = None
    customer: bool = False
    consent_at: dt.datetime | None = None
    attempts_total: int = 0
    attempts_today: int = 0
    last_outcome: str | None = None
    last_attempt_at: dt.datetime | None = None
    next_retry_at: dt.datetime | None = None
    appointment_at: dt.datetime | None = None
    appointment_kind: str | None = None  # "soft" | "hard"
    dnc: bool = False
    final: bool = False
    final_outcome: str | None = None
    study_status: str = "field"


@dataclass(frozen=True)
class Explanation:
    callable: bool
    reasons: list[str]
    next_callable_at: dt.datetime | None


def explain(facts: CaseFacts, rules: CallingRules, at_utc: dt.datetime) -> Explanation:
    """Whether the case may be called at ``at_utc``, every reason why not, and the next moment it
    may (None when a reason is permanent: study not in field, closed case, do-not-call, no legal
    basis, no time zone, attempts used up; or when no window exists within ~400 days).

    An appointment replaces the retry delay (the respondent chose the time); attempt limits
    still apply to appointment calls.
    """
    at = _utc(at_utc)
    permanent: list[str] = []
    waits: list[tuple[str, dt.datetime]] = []
    if facts.study_status != "field":
        permanent.append(f"study is {facts.study_status}: only studies in field deliver cases")
    if facts.final:
        what = f" ({facts.final_outcome})" if facts.final_outcome else ""
        permanent.append(f"case is closed with a final disposition{what}")
    if facts.dnc:
        permanent.append(DNC_REASON)
    legal = legal_basis_reason(
        rules.legal_basis, facts.person_type, facts.customer, facts.consent_at, purpose=rules.purpose, at_utc=at
    )
    if legal and facts.consent_at is not None and _utc(facts.consent_at) > at:
        waits.append((legal, _utc(facts.consent_at)))  # valid from the documented moment on
    elif legal:
        permanent.append(legal)
    zone = _zone(facts.tz) if facts.tz else None
    if zone is None:
        permanent.append(_no_zone_reason(facts.tz))
        return Explanation(False, permanent + [r for r, _ in waits], None)
    appointment = _utc(facts.appointment_at) if facts.appointment_at is not None else None
    blocks = _attempt_blocks(
        rules, zone, at, facts.attempts_total, facts.attempts_today, facts.last_outcome,
        facts.last_attempt_at, facts.next_retry_at, retry_applies=appointment is None,
    )
    for reason, until in blocks:
        if until is None:
            permanent.append(reason)
        else:
            waits.append((reason, until))
    if appointment is not None and at < appointment:
        kind = f"{facts.appointment_kind} " if facts.appointment_kind else ""
        waits.append((f"{kind}appointment at {_describe_local(appointment, zone, at)}", appointment))
    window = window_reasons(rules, facts.tz, facts.state, facts.country, at)
    reasons = permanent + [r for r, _ in waits] + window
    if not reasons:
        return Explanation(True, [], at)
    if permanent:
        return Explanation(False, reasons, None)
    start = max([at, *(until for _, until in waits)])
    return Explanation(False, reasons, next_window_start(rules, facts.tz, facts.state, facts.country, start))


# --------------------------------------------------------------------------- day parts


def day_part(local_dt: dt.datetime) -> str:
    """morning (< 12:00), afternoon (12:00-17:00), evening (>= 17:00) on weekdays; Saturday (and
    Sunday, where a study calls on Sundays) is one part, "saturday"."""
    if local_dt.weekday() >= 5:
        return "saturday"
    if local_dt.hour < 12:
        return "morning"
    if local_dt.hour < 17:
        return "afternoon"
    return "evening"


_PART_BOUNDS = (12 * 60, 17 * 60)


def preferred_retry_start(
    rules: CallingRules,
    tz: str | None,
    state: str | None,
    country: str | None,
    earliest_utc: dt.datetime,
    no_answer_parts: Sequence[str],
    *,
    threshold: int = 2,
    horizon_days: int = 14,
) -> dt.datetime | None:
    """The retry time after a no-answer, spread over the parts of the day (queXS time slots,
    UNICOM "tries per day part").

    Rule: a part of the day with ``threshold`` (2) or more no-answers is avoided while another
    part has fewer; when every part has reached the threshold, the parts with the fewest
    no-answers are preferred. The result is the earliest callable start at or after
    ``earliest_utc`` in a preferred part (searched ``horizon_days`` ahead), else the plain
    :func:`next_window_start`.
    """
    counts = Counter(p for p in no_answer_parts if p in DAY_PARTS)
    if all(counts[p] < threshold for p in DAY_PARTS):
        return next_window_start(rules, tz, state, country, earliest_utc)
    preferred = {p for p in DAY_PARTS if counts[p] < threshold}
    if not preferred:
        fewest = min(counts[p] for p in DAY_PARTS)
        preferred = {p for p in DAY_PARTS if counts[p] == fewest}
    zone = _zone(tz) if tz else None
    if zone is None or tz is None:
        return None
    earliest = _utc(earliest_utc)
    first_day = earliest.astimezone(zone).date()
    for offset in range(horizon_days + 1):
        day = first_day + dt.timedelta(days=offset)
        for first, last in _callable_spans(rules, zone, tz, state, country, day):
            cuts = [_local_instant(day, m, zone) for m in _PART_BOUNDS] if day.weekday() < 5 else []
            edges = [first, *(c for c in cuts if first < c <= last)]
            for index, seg_start in enumerate(edges):
                candidate = max(seg_start, earliest)
                # a part ends where the next begins; the last part runs to the last possible start
                inside = candidate < edges[index + 1] if index + 1 < len(edges) else candidate <= last
                if inside and day_part(candidate.astimezone(zone)) in preferred:
                    return candidate
    return next_window_start(rules, tz, state, country, earliest_utc)
