"""Property-based checks of the calling rules against an independent, minute-by-minute oracle.

The oracle walks the call minute by minute in the respondent's wall-clock time and looks the
holidays up in the ``holidays`` package directly. Custom windows are drawn on a 15-minute grid
between 06:00 and 23:00, so no window edge falls into a DST-skipped or repeated hour (there the
oracle's wall-clock view and the real-time rule legitimately differ).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cati.sampling.calling_rules import (
    CallingRules,
    CaseFacts,
    HolidayCalendar,
    explain,
    next_window_start,
    window_reasons,
)
from cati.sampling.dispositions import default_table, retry_delay
from cati.sampling.regions import STATE_CODES

UTC = dt.UTC
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (time zone, country, states to draw from)
PLACES = [
    ("Europe/Berlin", "DE", [None] * 8 + list(STATE_CODES)),
    ("Europe/Vienna", "AT", [None]),
    ("America/New_York", "US", ["NY"]),
    ("Australia/Sydney", "AU", ["NSW"]),
]
SPECIAL_DAYS = [
    dt.date(2026, 3, 29), dt.date(2026, 10, 25), dt.date(2025, 3, 30), dt.date(2025, 10, 26),  # EU DST
    dt.date(2026, 3, 8), dt.date(2026, 11, 1), dt.date(2026, 4, 5), dt.date(2026, 10, 4),  # US/AU DST
    dt.date(2025, 10, 31), dt.date(2025, 11, 1), dt.date(2025, 12, 25), dt.date(2025, 8, 15),
    dt.date(2025, 3, 8), dt.date(2025, 11, 19), dt.date(2026, 6, 4), dt.date(2025, 7, 4),
    dt.date(2026, 3, 27), dt.date(2026, 3, 28),
]


# --------------------------------------------------------------------------- oracle


@cache
def _holiday_days(country: str, state: str | None, year: int) -> frozenset[dt.date]:
    cats = ("public", "catholic") if country == "DE" else ("public",)
    if country == "DE" and state is None:
        days: set[dt.date] = set()
        for sub in STATE_CODES:
            days |= set(holidays.country_holidays("DE", subdiv=sub, years=year, categories=cats))
        return frozenset(days)
    if country == "AT" and state is None:
        days = set()
        for sub in holidays.AT.subdivisions:
            days |= set(holidays.country_holidays("AT", subdiv=sub, years=year))
        return frozenset(days)
    return frozenset(holidays.country_holidays(country, subdiv=state, years=year, categories=cats))


def _windows_for(rules: CallingRules, spec: list[list], day: dt.date, country: str, state: str | None
                 ) -> list[tuple[int, int]]:
    """Wall-clock windows (minutes) of a local day, straight from the rules' definition."""
    weekday = day.weekday()
    restricted = weekday == 6 or day in _holiday_days(country, state, day.year)
    if rules.profile == "adm":
        if restricted:
            return [(600, 1080)] if rules.allow_sunday_holiday else []
        return [(540, 1260)] if weekday < 5 else [(600, 1200)]
    if rules.profile == "ddv":
        return [] if restricted else [(480, 1200)]
    if restricted:
        if not rules.allow_sunday_holiday:
            return []
        weekday = 6
    result = []
    for first, last, start, end in spec:
        if first <= weekday <= last:
            h1, m1 = map(int, start.split(":"))
            h2, m2 = map(int, end.split(":"))
            result.append((h1 * 60 + m1, h2 * 60 + m2))
    return result


def oracle_ok(rules: CallingRules, spec: list[list], tz: str, country: str, state: str | None,
              at: dt.datetime) -> bool:
    zone = ZoneInfo(tz)
    start = at.astimezone(zone)
    windows = _windows_for(rules, spec, start.date(), country, state)
    if not windows:
        return False
    steps = [at + dt.timedelta(minutes=k) for k in range(rules.expected_duration)] + [at + rules.duration]
    for instant in steps:
        wall = instant.astimezone(zone)
        if wall.date() != start.date():
            return False
        minute = wall.hour * 60 + wall.minute + wall.second / 60 + wall.microsecond / 60e6
        if not any(ws <= minute <= we for ws, we in windows):
            return False
    return True


# --------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class Scenario:
    rules: CallingRules
    spec: list[list]
    tz: str
    country: str
    state: str | None


@st.composite
def custom_windows(draw: st.DrawFn) -> list[list]:
    spec = []
    for _ in range(draw(st.integers(1, 3))):
        first = draw(st.integers(0, 6))
        last = draw(st.integers(first, 6))
        start = draw(st.integers(24, 88))  # quarter hours: 06:00 .. 22:00
        end = draw(st.integers(start + 1, 92))  # .. 23:00
        spec.append([first, last, f"{start // 4:02d}:{start % 4 * 15:02d}", f"{end // 4:02d}:{end % 4 * 15:02d}"])
    return spec


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    profile = draw(st.sampled_from(["adm", "ddv", "custom"]))
    spec = draw(custom_windows()) if profile == "custom" else []
    values: dict = {
        "calling_profile": profile,
        "allow_sunday_holiday": draw(st.booleans()),
        "expected_duration": draw(st.sampled_from([1, 5, 15, 30, 45, 90, 240])),
        "max_attempts": draw(st.integers(1, 12)),
        "max_attempts_per_day": draw(st.integers(1, 5)),
        "legal_basis": draw(st.sampled_from(["none", "consent"])),
        "retry.no_answer": draw(st.sampled_from([15, 120, 600])),
    }
    if spec:
        values["calling_windows"] = spec
    tz, country, states = draw(st.sampled_from(PLACES))
    rules = CallingRules.from_settings(values, purpose="research", calendar=CALENDAR)
    return Scenario(rules, spec, tz, country, draw(st.sampled_from(states)))


CALENDAR = HolidayCalendar()  # shared across examples: the cache is part of what is tested


@st.composite
def moments(draw: st.DrawFn, scenario: Scenario) -> dt.datetime:
    """Near window edges on interesting days, or anywhere in 2025-2027."""
    if draw(st.booleans()):
        return draw(st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 12, 31),
                                 timezones=st.just(UTC)))
    day = draw(st.one_of(st.sampled_from(SPECIAL_DAYS),
                         st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31))))
    duration = scenario.rules.expected_duration
    edges = [540, 600, 480, 1080, 1200, 1260]
    for _, _, start, end in scenario.spec:
        edges += [int(start[:2]) * 60 + int(start[3:]), int(end[:2]) * 60 + int(end[3:])]
    minute = draw(st.sampled_from(edges)) + draw(st.sampled_from([-duration - 1, -duration, -duration + 1, -1, 0, 1]))
    minute = max(0, min(minute, 1439))
    second = draw(st.sampled_from([0, 0, 0, 30]))
    wall = dt.datetime.combine(day, dt.time(minute // 60, minute % 60, second))
    return wall.replace(tzinfo=ZoneInfo(scenario.tz)).astimezone(UTC)


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(data=st.data())
def test_window_reasons_match_the_oracle(data: st.DataObject) -> None:
    s = data.draw(scenarios())
    at = data.draw(moments(s))
    found = window_reasons(s.rules, s.tz, s.state, s.country, at)
    assert (found == []) == oracle_ok(s.rules, s.spec, s.tz, s.country, s.state, at), found
    assert all(isinstance(r, str) and r for r in found)


@SETTINGS
@given(data=st.data())
def test_next_window_start_is_the_first_callable_minute(data: st.DataObject) -> None:
    s = data.draw(scenarios())
    after = data.draw(moments(s))
    found = next_window_start(s.rules, s.tz, s.state, s.country, after)
    if found is None:
        # no window at all within the horizon: nothing callable in the next weeks either
        for days in range(0, 21):
            probe = after + dt.timedelta(days=days, minutes=data.draw(st.integers(0, 1439)))
            assert not oracle_ok(s.rules, s.spec, s.tz, s.country, s.state, probe)
        return
    assert found >= after
    assert window_reasons(s.rules, s.tz, s.state, s.country, found) == []
    assert oracle_ok(s.rules, s.spec, s.tz, s.country, s.state, found)
    # every minute between `after` and the result (the first two days), then a sample
    span = found - after
    minutes = int(span.total_seconds() // 60)
    checked = list(range(min(minutes, 2 * 24 * 60)))
    if minutes > len(checked):
        checked += data.draw(st.lists(st.integers(len(checked), minutes - 1), max_size=40))
    for k in checked:
        probe = after + dt.timedelta(minutes=k)
        if probe < found:
            assert not oracle_ok(s.rules, s.spec, s.tz, s.country, s.state, probe), probe


@st.composite
def facts_for(draw: st.DrawFn, s: Scenario, at: dt.datetime) -> CaseFacts:
    temporary = [o.code for o in default_table().values() if not o.final]
    attempts_today = draw(st.integers(0, 5))
    last_attempt_at = None
    if attempts_today or draw(st.booleans()):
        last_attempt_at = at - dt.timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    def maybe_time(lo: int, hi: int) -> dt.datetime | None:
        return at + dt.timedelta(minutes=draw(st.integers(lo, hi))) if draw(st.booleans()) else None
    return CaseFacts(
        tz=s.tz,
        state=s.state,
        country=s.country,
        person_type=draw(st.sampled_from([None, "private", "business"])),
        customer=draw(st.booleans()),
        consent_at=maybe_time(-10_000, 600),
        attempts_total=draw(st.integers(0, 12)),
        attempts_today=attempts_today,
        last_outcome=draw(st.sampled_from(temporary)) if last_attempt_at else None,
        last_attempt_at=last_attempt_at,
        next_retry_at=maybe_time(-600, 3000) if draw(st.booleans()) else None,
        appointment_at=maybe_time(-600, 3000) if draw(st.integers(0, 3)) == 0 else None,
        dnc=draw(st.integers(0, 9)) == 0,
        final=draw(st.integers(0, 9)) == 0,
        study_status=draw(st.sampled_from(["field"] * 8 + ["paused", "draft"])),
    )


def facts_allow(facts: CaseFacts, s: Scenario, at: dt.datetime) -> bool:
    """Everything except the window, checked independently of the implementation."""
    rules = s.rules
    zone = ZoneInfo(s.tz)
    if facts.study_status != "field" or facts.dnc or facts.final:
        return False
    if rules.legal_basis == "consent":
        business_ok = facts.person_type == "business" and facts.customer
        consent_ok = facts.consent_at is not None and facts.consent_at <= at
        if not (business_ok or consent_ok):
            return False
    if facts.attempts_total >= rules.max_attempts:
        return False
    last = facts.last_attempt_at
    same_day = last is None or last.astimezone(zone).date() == at.astimezone(zone).date()
    if same_day and facts.attempts_today >= rules.max_attempts_per_day:
        return False
    if facts.appointment_at is not None:
        return at >= facts.appointment_at
    if facts.next_retry_at is not None:
        return at >= facts.next_retry_at
    if facts.last_outcome and facts.last_attempt_at:
        delay = retry_delay(default_table()[facts.last_outcome], rules.settings) or 0
        return at >= facts.last_attempt_at + dt.timedelta(minutes=delay)
    return True


@SETTINGS
@given(data=st.data())
def test_explain_is_sound_and_its_next_time_is_callable(data: st.DataObject) -> None:
    s = data.draw(scenarios())
    at = data.draw(moments(s))
    facts = data.draw(facts_for(s, at))
    result = explain(facts, s.rules, at)
    expected = facts_allow(facts, s, at) and oracle_ok(s.rules, s.spec, s.tz, s.country, s.state, at)
    assert result.callable == expected, result.reasons
    assert result.callable == (result.reasons == [])
    if result.callable:
        assert result.next_callable_at == at
    elif result.next_callable_at is not None:
        later = result.next_callable_at
        assert later > at
        assert explain(facts, s.rules, later).callable
        for _ in range(10):  # sampled: nothing callable before it
            probe = at + (later - at) * data.draw(st.floats(0, 1, exclude_max=True))
            assume(probe < later)
            assert not explain(facts, s.rules, probe).callable
