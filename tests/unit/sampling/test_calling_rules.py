"""Calling rules by example: profile edges, holidays per state, DST days, legal basis, attempts."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cati.sampling.calling_rules import (
    CallingRules,
    CaseFacts,
    HolidayCalendar,
    attempt_reasons,
    day_part,
    explain,
    legal_basis_reason,
    next_window_start,
    preferred_retry_start,
    validate_appointment,
    window_reasons,
)

UTC = dt.UTC
BERLIN = "Europe/Berlin"


def local(text: str, tz: str = BERLIN) -> dt.datetime:
    """Local wall time -> aware UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def rules(purpose: str = "research", **settings: Any) -> CallingRules:
    return CallingRules.from_settings(settings, purpose=purpose)


ADM = rules()
DDV = rules("customer_satisfaction")


def reasons(r: CallingRules, when: str, state: str | None = "BE", tz: str = BERLIN, country: str = "DE") -> list[str]:
    return window_reasons(r, tz, state, country, local(when, tz))


# --------------------------------------------------------------------------- profiles


def test_profiles_by_purpose() -> None:
    assert (ADM.profile, ADM.legal_basis, ADM.expected_duration) == ("adm", "none", 15)
    assert (DDV.profile, DDV.legal_basis) == ("ddv", "consent")
    assert rules("telemarketing").profile == "ddv"


@pytest.mark.parametrize(
    ("when", "ok", "fragment"),
    [
        ("2026-03-27T20:45", True, ""),  # Friday: 20:45 + 15 min = 21:00 exactly
        ("2026-03-27T20:46", False, "too late to finish"),
        ("2026-03-27T20:50", False, "would end at 21:05, after 21:00 (profile adm)"),
        ("2026-03-27T21:00", False, "too late: 21:00 on Friday"),
        ("2026-03-27T08:59", False, "too early: 08:59 on Friday in Europe/Berlin; calls from 09:00"),
        ("2026-03-27T09:00", True, ""),
        ("2026-03-28T09:59", False, "too early: 09:59 on Saturday"),
        ("2026-03-28T10:00", True, ""),
        ("2026-03-28T19:45", True, ""),
        ("2026-03-28T19:46", False, "after 20:00"),
        ("2026-03-22T12:00", False,
         "Sunday in the respondent's time zone (Europe/Berlin): no calls on Sundays (profile adm"),
    ],
)
def test_adm_edges(when: str, ok: bool, fragment: str) -> None:
    found = reasons(ADM, when)
    assert (found == []) is ok, found
    if fragment:
        assert fragment in found[0]


def test_adm_sundays_and_holidays_when_allowed() -> None:
    allowed = rules(allow_sunday_holiday=True)
    assert reasons(allowed, "2026-03-22T10:00") == []
    assert reasons(allowed, "2026-03-22T17:45") == []
    assert "Sunday/holiday hours of profile adm" in reasons(allowed, "2026-03-22T17:46")[0]
    assert "too early" in reasons(allowed, "2026-03-22T09:59")[0]
    # a public holiday on a weekday uses the same hours
    assert reasons(allowed, "2025-12-25T12:00") == []
    assert reasons(allowed, "2025-12-25T19:00") != []


@pytest.mark.parametrize(
    ("when", "ok"),
    [
        ("2026-03-30T07:59", False),
        ("2026-03-30T08:00", True),
        ("2026-03-30T19:45", True),
        ("2026-03-30T19:46", False),
        ("2026-03-28T08:00", True),  # Saturday
        ("2026-03-28T19:46", False),
        ("2026-03-29T12:00", False),  # Sunday
    ],
)
def test_ddv_edges(when: str, ok: bool) -> None:
    assert (reasons(DDV, when) == []) is ok


def test_ddv_never_on_sundays_even_when_allowed() -> None:
    r = rules("telemarketing", allow_sunday_holiday=True)
    found = reasons(r, "2026-03-29T12:00")
    assert found and "profile ddv" in found[0]
    assert "allow_sunday_holiday" not in found[0]


CUSTOM = rules(calling_profile="custom", calling_windows="mon-fri 09:00-12:00; mon-fri 14:00-18:00; sat 10:00-14:00")


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ("2026-03-30T11:45", ""),
        ("2026-03-30T11:50", "too late to finish"),
        ("2026-03-30T12:30", "outside calling hours: 12:30 on Monday in Europe/Berlin; calling hours "
                             "09:00–12:00, 14:00–18:00, next from 14:00 (profile custom)"),
        ("2026-03-30T14:00", ""),
        ("2026-03-28T13:45", ""),
        ("2026-03-28T14:00", "too late"),
        ("2026-03-29T10:00", "Sunday"),
    ],
)
def test_custom_windows(when: str, fragment: str) -> None:
    found = reasons(CUSTOM, when)
    if fragment:
        assert found and fragment in found[0]
    else:
        assert found == []


def test_custom_touching_windows_merge_and_missing_days() -> None:
    r = rules(calling_profile="custom", calling_windows="mon-fri 09:00-12:00; mon-fri 12:00-15:00")
    assert reasons(r, "2026-03-30T11:55") == []
    assert reasons(r, "2026-03-28T11:00") == ["no calling window on Saturdays (profile custom)"]


def test_custom_sunday_window_needs_the_switch() -> None:
    spec = "mon-fri 09:00-18:00; sun 11:00-16:00"
    off = rules(calling_profile="custom", calling_windows=spec)
    on = rules(calling_profile="custom", calling_windows=spec, allow_sunday_holiday=True)
    assert "allow_sunday_holiday is off" in reasons(off, "2026-03-29T12:00")[0]
    assert reasons(on, "2026-03-29T12:00") == []
    assert reasons(on, "2025-12-25T12:00") == []  # holidays take the Sunday windows
    assert reasons(on, "2025-12-25T10:00") != []


def test_custom_needs_windows() -> None:
    with pytest.raises(ValueError, match="calling_windows"):
        rules(calling_profile="custom")
    parsed = rules(calling_profile="custom", calling_windows=[[0, 4, "10:00", "16:00"]])
    assert reasons(parsed, "2026-03-30T10:00") == []


def test_duration_setting() -> None:
    long = rules(expected_duration=45)
    assert reasons(long, "2026-03-27T20:15") == []
    assert reasons(long, "2026-03-27T20:16") != []


# --------------------------------------------------------------------------- holidays


@pytest.mark.parametrize(
    ("when", "state", "blocked", "fragment"),
    [
        ("2025-11-01T12:00", "NW", True, "public holiday in NW: Allerheiligen"),  # All Saints, a Saturday
        ("2025-11-01T12:00", "BE", False, ""),
        ("2025-11-01T12:00", "BY", True, "Allerheiligen"),
        ("2025-10-31T12:00", "NI", True, "public holiday in NI: Reformationstag"),  # Friday
        ("2025-10-31T12:00", "SN", True, "Reformationstag"),
        ("2025-10-31T12:00", "NW", False, ""),
        ("2025-10-31T12:00", "BY", False, ""),
        ("2025-03-08T12:00", "BE", True, "Frauentag"),  # International Women's Day, Berlin
        ("2025-03-08T12:00", "HH", False, ""),
        ("2025-08-15T12:00", "BY", True, "Mariä Himmelfahrt"),  # catholic category included
        ("2025-08-15T12:00", "SL", True, "Mariä Himmelfahrt"),
        ("2025-08-15T12:00", "NW", False, ""),
        ("2025-11-19T12:00", "SN", True, "Buß- und Bettag"),
        ("2025-11-19T12:00", "BE", False, ""),
        ("2025-12-25T12:00", "HB", True, "Erster Weihnachtstag"),
    ],
)
def test_holidays_per_state(when: str, state: str, blocked: bool, fragment: str) -> None:
    found = reasons(ADM, when, state)
    assert bool(found) is blocked, found
    if fragment:
        assert any(fragment in r for r in found)


def test_unknown_state_gets_the_union_of_all_states() -> None:
    for when in ("2025-10-31T12:00", "2025-11-01T12:00", "2025-03-08T12:00", "2025-11-19T12:00"):
        found = reasons(ADM, when, None)
        assert found and "state unknown" in found[0], when
    assert "BB, HB, HH, MV, NI, SH, SN, ST, TH" in reasons(ADM, "2025-10-31T12:00", None)[0]
    assert reasons(ADM, "2025-12-25T12:00", None) == ["public holiday in DE: Erster Weihnachtstag"]
    assert reasons(ADM, "2025-10-30T12:00", None) == []


def test_other_countries() -> None:
    # 8 Dec 2025 (Monday): Mariä Empfängnis in Austria, a working day in Germany
    assert "public holiday in AT" in reasons(ADM, "2025-12-08T12:00", None, "Europe/Vienna", "AT")[0]
    assert reasons(ADM, "2025-12-08T12:00", None) == []
    assert "Independence Day" in reasons(ADM, "2025-07-04T12:00", "NY", "America/New_York", "US")[0]
    assert reasons(ADM, "2025-07-03T12:00", "NY", "America/New_York", "US") == []
    assert reasons(ADM, "2025-07-03T12:00", None, "Asia/Tokyo", "XX") == []  # unknown country: no holidays known


def test_holiday_calendar_caches_per_country_state_year() -> None:
    calendar = HolidayCalendar()
    assert calendar.holiday("DE", "NW", dt.date(2025, 11, 1)).name == "Allerheiligen"
    assert calendar.holiday("DE", "BE", dt.date(2025, 11, 1)) is None
    assert calendar.holiday(None, "NW", dt.date(2026, 11, 1)) is not None  # country None = Germany
    assert set(calendar._cache) == {("DE", "NW", 2025), ("DE", "BE", 2025), ("DE", "NW", 2026)}


# --------------------------------------------------------------------------- time zones and DST


def test_new_york_number_uses_new_york_time() -> None:
    # Monday 2026-03-30 15:00 UTC = 11:00 in New York (EDT), 17:00 in Berlin
    at = dt.datetime(2026, 3, 30, 15, 0, tzinfo=UTC)
    assert window_reasons(ADM, "America/New_York", "NY", "US", at) == []
    # 01:30 UTC Tuesday = 21:30 Monday in New York: too late there, though 03:30 in Berlin
    late = dt.datetime(2026, 3, 31, 1, 30, tzinfo=UTC)
    assert "21:30 on Monday in America/New_York" in window_reasons(ADM, "America/New_York", "NY", "US", late)[0]
    assert next_window_start(ADM, "America/New_York", "NY", "US", late) == dt.datetime(2026, 3, 31, 13, 0, tzinfo=UTC)


def test_dst_spring_forward_2026_03_29() -> None:
    allowed = rules(allow_sunday_holiday=True)
    # Sunday 29 March 2026: clocks go 02:00 -> 03:00; 10:00 CEST = 08:00 UTC
    assert window_reasons(allowed, BERLIN, "BE", "DE", dt.datetime(2026, 3, 29, 7, 59, tzinfo=UTC)) != []
    assert window_reasons(allowed, BERLIN, "BE", "DE", dt.datetime(2026, 3, 29, 8, 0, tzinfo=UTC)) == []
    saturday_evening = local("2026-03-28T21:00")
    sunday_10 = dt.datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert next_window_start(allowed, BERLIN, "BE", "DE", saturday_evening) == sunday_10
    assert next_window_start(ADM, BERLIN, "BE", "DE", saturday_evening) == dt.datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    # Saturday before: 20:00 CET = 19:00 UTC
    assert window_reasons(ADM, BERLIN, "BE", "DE", dt.datetime(2026, 3, 28, 18, 45, tzinfo=UTC)) == []
    assert window_reasons(ADM, BERLIN, "BE", "DE", dt.datetime(2026, 3, 28, 18, 46, tzinfo=UTC)) != []


def test_dst_fall_back_2026_10_25() -> None:
    allowed = rules(allow_sunday_holiday=True)
    # Sunday 25 October 2026: clocks go 03:00 -> 02:00; 10:00 CET = 09:00 UTC
    assert window_reasons(allowed, BERLIN, "BE", "DE", dt.datetime(2026, 10, 25, 8, 59, tzinfo=UTC)) != []
    assert window_reasons(allowed, BERLIN, "BE", "DE", dt.datetime(2026, 10, 25, 9, 0, tzinfo=UTC)) == []
    assert next_window_start(ADM, BERLIN, "BE", "DE", local("2026-10-24T20:30")) == dt.datetime(
        2026, 10, 26, 8, 0, tzinfo=UTC
    )
    # Saturday before (CEST): 20:00 local = 18:00 UTC
    assert window_reasons(ADM, BERLIN, "BE", "DE", dt.datetime(2026, 10, 24, 17, 45, tzinfo=UTC)) == []
    assert window_reasons(ADM, BERLIN, "BE", "DE", dt.datetime(2026, 10, 24, 17, 46, tzinfo=UTC)) != []


def test_window_across_the_missing_hour_is_measured_in_real_time() -> None:
    # sun 01:00-04:00 local on the spring-forward day lasts only two real hours (00:00-02:00 UTC)
    r = rules(calling_profile="custom", calling_windows="sun 01:00-04:00", allow_sunday_holiday=True,
              expected_duration=90)
    assert window_reasons(r, BERLIN, "BE", "DE", dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)) == []
    assert "too late to finish" in window_reasons(r, BERLIN, "BE", "DE", dt.datetime(2026, 3, 29, 0, 31, tzinfo=UTC))[0]


def test_unknown_time_zone() -> None:
    assert window_reasons(ADM, None, None, "DE", local("2026-03-30T12:00")) == [
        "no time zone known for the respondent (give a timezone in the sample)"
    ]
    assert window_reasons(ADM, "Mars/Olympus", None, "DE", local("2026-03-30T12:00")) == [
        "unknown time zone 'Mars/Olympus'"
    ]
    assert next_window_start(ADM, None, None, "DE", local("2026-03-30T12:00")) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        window_reasons(ADM, BERLIN, None, "DE", dt.datetime(2026, 3, 30, 12, 0))


# --------------------------------------------------------------------------- next window


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-03-27T20:50", "2026-03-28T10:00"),  # Friday too late -> Saturday 10:00
        ("2026-03-30T07:00", "2026-03-30T09:00"),
        ("2026-03-30T12:34:56", "2026-03-30T12:34:56"),  # already callable: now
        ("2025-12-24T20:50", "2025-12-27T10:00"),  # over Christmas (Thu, Fri holidays) to Saturday
        ("2025-10-30T21:00", "2025-11-03T09:00"),  # state unknown: Reformation Day, All Saints, Sunday
    ],
)
def test_next_window_start(after: str, expected: str) -> None:
    assert next_window_start(ADM, BERLIN, None, "DE", local(after)) == local(expected)


def test_next_window_start_none_when_no_window_exists() -> None:
    r = rules(calling_profile="custom", calling_windows="sun 10:00-12:00")
    assert next_window_start(r, BERLIN, None, "DE", local("2026-03-30T12:00")) is None


# --------------------------------------------------------------------------- appointments


def test_validate_appointment() -> None:
    assert validate_appointment(ADM, BERLIN, "BE", "DE", local("2026-03-30T10:00")) == []
    refused = validate_appointment(ADM, BERLIN, "BE", "DE", local("2026-03-27T20:50"))
    assert refused and refused[0].startswith("appointment outside calling hours: too late to finish")
    assert validate_appointment(ADM, BERLIN, "NW", "DE", local("2025-11-01T12:00"))
    past = validate_appointment(ADM, BERLIN, "BE", "DE", local("2026-03-30T10:00"), now_utc=local("2026-03-30T11:00"))
    assert past == ["the appointment lies in the past"]


# --------------------------------------------------------------------------- legal basis


@pytest.mark.parametrize(
    ("rule", "person", "customer", "consent", "fragment"),
    [
        ("none", "private", False, None, None),
        ("consent", "private", False, dt.datetime(2024, 1, 1, tzinfo=UTC), None),
        ("consent", "private", True, None, "no documented consent (purpose customer_satisfaction requires consent "
                                            "for private persons)"),
        ("consent", None, False, None, "person type unknown, treated as private"),
        ("consent", "business", True, None, None),
        ("consent", "business", False, dt.datetime(2024, 1, 1, tzinfo=UTC), None),
        ("consent", "business", False, None, "business contact without documented consent or existing customer"),
        ("consent", "private", False, dt.datetime(2030, 1, 1, tzinfo=UTC), "consent is dated in the future"),
    ],
)
def test_legal_basis(rule: str, person: str | None, customer: bool, consent: dt.datetime | None,
                     fragment: str | None) -> None:
    reason = legal_basis_reason(rule, person, customer, consent, purpose="customer_satisfaction",
                                at_utc=dt.datetime(2026, 1, 1, tzinfo=UTC))
    if fragment is None:
        assert reason is None
    else:
        assert reason is not None and fragment in reason


# --------------------------------------------------------------------------- attempts


def test_attempt_limits_and_retry() -> None:
    at = local("2026-03-30T13:00")
    assert attempt_reasons(ADM, tz=BERLIN, at_utc=at, attempts_total=10) == ["10 of 10 attempts used"]
    today = attempt_reasons(ADM, tz=BERLIN, at_utc=at, attempts_total=5, attempts_today=4,
                            last_attempt_at=local("2026-03-30T09:00"))
    assert today == ["4 of 4 attempts today used (respondent's local day)"]
    yesterday = attempt_reasons(ADM, tz=BERLIN, at_utc=at, attempts_total=5, attempts_today=4,
                                last_attempt_at=local("2026-03-29T20:00"))
    assert yesterday == []
    retry = attempt_reasons(ADM, tz=BERLIN, at_utc=at, attempts_total=1, last_outcome="no_answer",
                            last_attempt_at=local("2026-03-30T12:30"))
    assert retry == ["retry after no answer not before 14:30"]
    busy = attempt_reasons(ADM, tz=BERLIN, at_utc=at, last_outcome="busy", last_attempt_at=local("2026-03-30T12:50"))
    assert busy == ["retry after busy not before 13:05"]
    stored = attempt_reasons(ADM, tz=BERLIN, at_utc=at, last_outcome="no_answer",
                             last_attempt_at=local("2026-03-30T12:30"), next_retry_at=local("2026-03-31T17:00"))
    assert stored == ["retry after no answer not before Tue 2026-03-31 17:00"]
    study = rules(**{"retry.no_answer": 20})
    assert attempt_reasons(study, tz=BERLIN, at_utc=at, last_outcome="no_answer",
                           last_attempt_at=local("2026-03-30T12:30")) == []


def test_custom_limits() -> None:
    r = rules(max_attempts=3, max_attempts_per_day=1)
    at = local("2026-03-30T13:00")
    assert attempt_reasons(r, tz=BERLIN, at_utc=at, attempts_total=3) == ["3 of 3 attempts used"]
    assert attempt_reasons(r, tz=BERLIN, at_utc=at, attempts_total=1, attempts_today=1,
                           last_attempt_at=local("2026-03-30T09:00"))


# --------------------------------------------------------------------------- explain


def test_explain_callable() -> None:
    at = local("2026-03-30T13:00")
    result = explain(CaseFacts(tz=BERLIN, state="NW"), ADM, at)
    assert (result.callable, result.reasons, result.next_callable_at) == (True, [], at)


def test_explain_retry_gives_next_time() -> None:
    facts = CaseFacts(tz=BERLIN, state="NW", attempts_total=2, attempts_today=1, last_outcome="no_answer",
                      last_attempt_at=local("2026-03-30T19:30"))
    result = explain(facts, ADM, local("2026-03-30T20:00"))
    assert result.reasons == ["retry after no answer not before 21:30"]
    assert result.next_callable_at == local("2026-03-31T09:00")


def test_explain_collects_every_reason() -> None:
    facts = CaseFacts(tz=BERLIN, state="NW", dnc=True, final=True, final_outcome="hard_refusal", attempts_total=10,
                      study_status="paused")
    result = explain(facts, DDV, local("2025-11-01T12:00"))
    assert not result.callable and result.next_callable_at is None
    text = "\n".join(result.reasons)
    for fragment in ("study is paused", "final disposition (hard_refusal)", "do-not-call", "no documented consent",
                     "10 of 10 attempts used", "public holiday in NW: Allerheiligen"):
        assert fragment in text


def test_explain_per_day_limit_waits_for_the_next_local_day() -> None:
    facts = CaseFacts(tz=BERLIN, attempts_total=4, attempts_today=4, last_attempt_at=local("2026-03-30T12:00"),
                      last_outcome="busy")
    result = explain(facts, ADM, local("2026-03-30T13:00"))
    assert result.reasons == ["4 of 4 attempts today used (respondent's local day)"]
    assert result.next_callable_at == local("2026-03-31T09:00")
    assert explain(facts, ADM, result.next_callable_at).callable


def test_explain_appointments() -> None:
    facts = CaseFacts(tz=BERLIN, attempts_total=1, last_outcome="no_answer", last_attempt_at=local("2026-03-30T12:55"),
                      appointment_at=local("2026-03-30T13:30"), appointment_kind="hard")
    early = explain(facts, ADM, local("2026-03-30T13:00"))
    assert early.reasons == ["hard appointment at 13:30"]  # the appointment replaces the retry delay
    assert early.next_callable_at == local("2026-03-30T13:30")
    assert explain(facts, ADM, local("2026-03-30T13:30")).callable


def test_explain_without_time_zone() -> None:
    result = explain(CaseFacts(tz=None), ADM, local("2026-03-30T13:00"))
    assert not result.callable and result.next_callable_at is None
    assert "no time zone" in result.reasons[0]


def test_explain_business_with_customer_relationship() -> None:
    facts = CaseFacts(tz=BERLIN, person_type="business", customer=True)
    assert explain(facts, DDV, local("2026-03-30T13:00")).callable


# --------------------------------------------------------------------------- day parts


@pytest.mark.parametrize(
    ("when", "part"),
    [
        ("2026-03-30T09:00", "morning"),
        ("2026-03-30T11:59", "morning"),
        ("2026-03-30T12:00", "afternoon"),
        ("2026-03-30T16:59", "afternoon"),
        ("2026-03-30T17:00", "evening"),
        ("2026-03-28T11:00", "saturday"),
        ("2026-03-29T11:00", "saturday"),
    ],
)
def test_day_part(when: str, part: str) -> None:
    assert day_part(dt.datetime.fromisoformat(when)) == part


def _part(moment: dt.datetime) -> str:
    return day_part(moment.astimezone(ZoneInfo(BERLIN)))


def test_preferred_retry_moves_to_another_part_of_the_day() -> None:
    monday_morning = local("2026-03-30T10:00")
    plain = preferred_retry_start(ADM, BERLIN, "BE", "DE", monday_morning, ["morning"])
    assert plain == monday_morning  # one no-answer: no preference yet
    moved = preferred_retry_start(ADM, BERLIN, "BE", "DE", monday_morning, ["morning", "morning"])
    assert moved == local("2026-03-30T12:00") and _part(moved) == "afternoon"
    busy_day = ["morning", "morning", "afternoon", "afternoon"]
    assert preferred_retry_start(ADM, BERLIN, "BE", "DE", monday_morning, busy_day) == local("2026-03-30T17:00")
    weekdays_done = [*busy_day, "evening", "evening"]
    assert preferred_retry_start(ADM, BERLIN, "BE", "DE", monday_morning, weekdays_done) == local("2026-04-04T10:00")
    everything = [*weekdays_done, "saturday", "saturday", "saturday", "morning"]
    # every part reached the threshold: the parts with the fewest (afternoon, evening: 2) are preferred
    assert preferred_retry_start(ADM, BERLIN, "BE", "DE", monday_morning, everything) == local("2026-03-30T12:00")


def test_preferred_retry_respects_duration_and_windows() -> None:
    friday_evening = local("2026-03-27T20:40")
    # evenings are exhausted; Saturday 10:00 is the next other part
    got = preferred_retry_start(ADM, BERLIN, "BE", "DE", friday_evening, ["evening", "evening"])
    assert got == local("2026-03-28T10:00")
    assert window_reasons(ADM, BERLIN, "BE", "DE", got) == []
