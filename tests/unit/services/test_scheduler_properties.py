"""Property: whatever the sample, the study's rules, the call history and the moment, ``due_cases``
lists only cases that may be called then - and every case that may be called and is ready.

Hypothesis builds small samples (16 German states and "state unknown", person types, consent,
numbers on the do-not-call list), random study rules (profiles adm/ddv/custom windows, Sundays and
holidays allowed or not, legal basis, expected duration, attempt limits, retry delays) and random
histories played through the real services at random moments (``next_case``, ``record_outcome``
including appointments, numbers put on the do-not-call list and the legal basis changed while
cases are being called, stale claims released). It then asks ``due_cases`` at random moments,
many of them on the DST change days 2026-03-29 and 2026-10-25 and their nights (Europe/Berlin).

Every due case is checked by an oracle that does not use ``cati.sampling.calling_rules``: its own
calling-hours table, the ``holidays`` package for the holidays of the case's state (all states
when unknown), the attempts table for limits and retry delays, the numbers the test itself put on
the do-not-call list and the study's current legal basis.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cati.models import Case, User
from cati.sampling.dispositions import default_table
from cati.services import dnc, scheduler
from cati.services.sample_import import import_sample
from cati.services.scheduler import OutcomeError, due_cases, next_case, record_outcome
from cati.services.studies import assign_member, create_study, update_settings
from cati.services.users import create_user

QUESTIONNAIRE = Path(__file__).resolve().parents[3] / "questionnaires" / "lieferdienst_nachfrage.yaml"
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC
SALT = "property-salt"
STATES = ("BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OUTCOMES = default_table()
#: Outcomes interviewers record, weighted towards the common ones.
CODES = ("no_answer",) * 4 + ("busy",) * 2 + (
    "answering_machine_message", "answering_machine_no_message", "soft_refusal", "appointment_soft",
    "appointment_soft", "appointment_hard", "hard_refusal", "do_not_call", "complete", "not_in_service",
    "break_off",
)
#: The periods the simulations run in: the weeks around both DST changes, and a week in summer.
PERIODS = (dt.datetime(2026, 3, 22, tzinfo=BERLIN), dt.datetime(2026, 10, 18, tzinfo=BERLIN),
           dt.datetime(2026, 6, 1, tzinfo=BERLIN))
DST_DAYS = (dt.date(2026, 3, 29), dt.date(2026, 10, 25))
_slugs = itertools.count()


# --------------------------------------------------------------------------- the oracle


PROFILE_HOURS = {  # weekday -> (start, end) in minutes; from the ADM guideline and the DDV code
    "adm": {**{d: [(9 * 60, 21 * 60)] for d in range(5)}, 5: [(10 * 60, 20 * 60)]},
    "ddv": {d: [(8 * 60, 20 * 60)] for d in range(6)},
}
ADM_SUNDAY = [(10 * 60, 18 * 60)]


@lru_cache(maxsize=64)
def _holidays(state: str | None, year: int) -> frozenset[dt.date]:
    """German public holidays (and the catholic ones, as the product decided) of ``state``; the
    union over all 16 states when the state is unknown."""
    states = (state,) if state else STATES
    days: set[dt.date] = set()
    for code in states:
        days |= set(holidays.country_holidays("DE", subdiv=code, years=year, categories=("public", "catholic")))
    return frozenset(days)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


@dataclass
class Rules:
    purpose: str
    profile: str
    windows: list[tuple[int, int, int, int]]  # custom: first day, last day, start, end (minutes)
    allow_sunday: bool
    duration: int
    legal_basis: str
    max_attempts: int
    per_day: int
    delays: dict[str, int]

    def changes(self) -> dict[str, str]:
        values = {"calling_profile": self.profile, "allow_sunday_holiday": "yes" if self.allow_sunday else "no",
                  "expected_duration": str(self.duration), "legal_basis": self.legal_basis,
                  "max_attempts": str(self.max_attempts), "max_attempts_per_day": str(self.per_day),
                  **{f"retry.{k}": str(v) for k, v in self.delays.items()}}
        if self.profile == "custom":
            values["calling_windows"] = "; ".join(
                f"{DAYS[a]}-{DAYS[b]} {s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"
                for a, b, s, e in self.windows)
        return values

    def hours(self, day: dt.date, state: str | None) -> list[tuple[int, int]]:
        """Calling windows (minutes after local midnight) of the respondent's local ``day``."""
        weekday = day.weekday()
        if weekday == 6 or day in _holidays(state, day.year):
            if not self.allow_sunday or self.profile == "ddv":
                return []
            if self.profile == "adm":
                return ADM_SUNDAY
            return _merged([(s, e) for a, b, s, e in self.windows if a <= 6 <= b])
        if self.profile == "custom":
            return _merged([(s, e) for a, b, s, e in self.windows if a <= weekday <= b])
        return PROFILE_HOURS[self.profile].get(weekday, [])

    def delay(self, code: str) -> int:
        outcome = OUTCOMES[code]
        key = (outcome.retry_key or "").removeprefix("retry.")
        return self.delays.get(key) or outcome.default_delay or scheduler.FALLBACK_DELAY


def _instant(day: dt.date, minutes: int, zone: ZoneInfo) -> dt.datetime:
    """A wall-clock time of ``day`` as an instant. A time that does not exist (the skipped hour of
    the spring change) is the instant ``zoneinfo`` gives for it (fold=0), as documented."""
    day, minutes = (day + dt.timedelta(days=1), minutes - 1440) if minutes >= 1440 else (day, minutes)
    return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=zone).astimezone(UTC)


@dataclass
class Facts:
    """What the test knows about a case independently of the scheduler's stored columns."""

    ref: str
    state: str | None
    numbers: list[str]
    person_type: str
    customer: bool
    consent_at: dt.datetime | None
    appointment_at: dt.datetime | None = None
    attempts: list[tuple[dt.datetime, str]] = field(default_factory=list)  # (ended, outcome)


def violations(case: Facts, rules: Rules, at: dt.datetime, dnc_numbers: set[str]) -> list[str]:
    """Why ``case`` may not be called at ``at`` (empty: it may)."""
    found = []
    local = at.astimezone(BERLIN)
    end = at + dt.timedelta(minutes=rules.duration)
    windows = rules.hours(local.date(), case.state)
    if not any(_instant(local.date(), s, BERLIN) <= at and end <= _instant(local.date(), e, BERLIN)
               for s, e in windows):
        found.append(f"outside calling hours {windows} at {local:%a %Y-%m-%d %H:%M:%S %Z} for {rules.duration} min")
    if set(case.numbers) & dnc_numbers:
        found.append("on the do-not-call list")
    if rules.legal_basis == "consent" and not (case.person_type == "business" and case.customer) and not (
            case.consent_at is not None and case.consent_at <= at):
        found.append("no legal basis (consent)")
    if any(OUTCOMES[code].final or OUTCOMES[code].adds_to_dnc for _, code in case.attempts):
        found.append("closed by a final outcome")
    if len(case.attempts) >= rules.max_attempts:
        found.append(f"{len(case.attempts)} of {rules.max_attempts} attempts used")
    today = sum(1 for ended, _ in case.attempts if ended.astimezone(BERLIN).date() == local.date())
    if today >= rules.per_day:
        found.append(f"{today} of {rules.per_day} attempts today")
    if case.attempts:
        ended, code = case.attempts[-1]
        if code.startswith("appointment"):
            if case.appointment_at is not None and at < case.appointment_at:
                found.append(f"before its appointment at {case.appointment_at}")
        elif at < ended + dt.timedelta(minutes=rules.delay(code)):
            found.append(f"before its retry delay after {code} at {ended}")
    return found


# --------------------------------------------------------------------------- strategies


def _moments(start: dt.datetime, days: int = 14) -> st.SearchStrategy[dt.datetime]:
    """Instants in ``days`` days from ``start``, to the microsecond, with extra weight on the DST
    days and their nights."""
    anywhere = st.builds(lambda s, us: start.astimezone(UTC) + dt.timedelta(seconds=s, microseconds=us),
                         st.integers(0, days * 86400), st.integers(0, 999_999))
    dst_night = st.builds(
        lambda day, s: dt.datetime.combine(day, dt.time(0), tzinfo=BERLIN).astimezone(UTC) + dt.timedelta(seconds=s),
        st.sampled_from(DST_DAYS), st.integers(0, 30 * 3600))
    return st.one_of(anywhere, anywhere, dst_night)


@st.composite
def rule_sets(draw: st.DrawFn) -> Rules:
    purpose = draw(st.sampled_from(("research", "customer_satisfaction")))
    profile = draw(st.sampled_from(("adm", "adm", "ddv", "custom")))
    windows = []
    for _ in range(draw(st.integers(1, 3))):
        first = draw(st.integers(0, 6))
        last = draw(st.integers(first, 6))
        start = draw(st.integers(0, 22 * 4)) * 15
        end = draw(st.integers(start // 15 + 1, 96)) * 15
        windows.append((first, last, start, end))
    return Rules(
        purpose=purpose, profile=profile, windows=windows, allow_sunday=draw(st.booleans()),
        duration=draw(st.sampled_from((1, 5, 15, 30, 45, 120))),
        legal_basis=draw(st.sampled_from(("none", "none", "consent"))),
        max_attempts=draw(st.integers(1, 6)), per_day=draw(st.integers(1, 4)),
        delays={k: draw(st.sampled_from((1, 15, 60, 240, 1440))) for k in ("no_answer", "busy", "answering_machine")},
    )


#: No consent, consent documented long ago, consent dated after the import (refused as future).
CONSENTS = (None, dt.datetime(2025, 6, 1, 12, tzinfo=UTC), dt.datetime(2025, 6, 1, 12, tzinfo=UTC),
            dt.datetime(2027, 2, 1, 12, tzinfo=UTC))


@st.composite
def samples(draw: st.DrawFn) -> list[Facts]:
    cases = []
    for i in range(draw(st.integers(1, 6))):
        numbers = [f"+49 30 4{i}{k}{draw(st.integers(10000, 99999))}" for k in range(draw(st.integers(1, 2)))]
        cases.append(Facts(
            ref=f"P{i}", state=draw(st.sampled_from((*STATES, None))), numbers=numbers,
            person_type=draw(st.sampled_from(("private", "business", ""))), customer=draw(st.booleans()),
            consent_at=draw(st.sampled_from(CONSENTS)),
        ))
    return cases


#: Events of a history, calls the most frequent.
EVENTS = st.sampled_from(("call",) * 6 + ("hold", "hold", "end_held", "end_held", "dnc", "dnc_held", "legal",
                                        "stale")).flatmap(lambda kind: {
    "call": st.tuples(st.just("call"), st.integers(0, 1), st.sampled_from(CODES), st.integers(1, 40)),
    "hold": st.tuples(st.just("hold"), st.integers(0, 1)),
    "end_held": st.tuples(st.just("end_held"), st.sampled_from(CODES)),
    "dnc": st.tuples(st.just("dnc"), st.integers(0, 5)),
    "legal": st.tuples(st.just("legal"), st.sampled_from(("none", "consent"))),
}.get(kind, st.just((kind,))))
#: Pauses between events: mostly minutes to hours (calls within a shift), sometimes about a day.
PAUSES = st.one_of(st.integers(60, 3 * 3600), st.integers(60, 3 * 3600), st.integers(20 * 3600, 26 * 3600))
#: Appointments: (days ahead, local time in minutes); some fall outside calling hours and are refused.
APPOINTMENTS = st.one_of(st.tuples(st.integers(0, 3), st.integers(7 * 4, 22 * 4).map(lambda q: q * 15)),
                         st.tuples(st.integers(1, 2), st.integers(10 * 4, 17 * 4).map(lambda q: q * 15)))


@dataclass
class Scenario:
    rules: Rules
    cases: list[Facts]
    dnc_before: list[int]
    start: dt.datetime
    events: list[tuple[int, int, tuple]]  # (seconds after the previous event, microseconds, event)
    queries: list[dt.datetime]
    appointments: list[tuple[int, int]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    cases = draw(samples())
    day = draw(st.sampled_from(PERIODS)) + dt.timedelta(days=draw(st.integers(0, 13)))
    start = day.replace(hour=draw(st.integers(8, 19)), minute=draw(st.sampled_from((0, 15, 30, 45))))
    return Scenario(
        rules=draw(rule_sets()), cases=cases,
        dnc_before=draw(st.lists(st.integers(0, len(cases) - 1), max_size=1)),
        start=start,
        events=draw(st.lists(st.tuples(PAUSES, st.integers(0, 999_999), EVENTS), min_size=3, max_size=16)),
        queries=draw(st.lists(_moments(start - dt.timedelta(days=1), days=10), min_size=1, max_size=5)),
        appointments=draw(st.lists(APPOINTMENTS, min_size=4, max_size=4)),
    )


# --------------------------------------------------------------------------- playing a scenario


@pytest.fixture
def interviewers(dbsession):
    """Ids of two interviewers for every example (created once: hashing passwords is slow on
    purpose)."""
    converter = create_user(dbsession, "prop-anna", role="interviewer", password="geheim-passwort")
    converter.skills = {"refusal_conversion": True}
    plain = create_user(dbsession, "prop-ben", role="interviewer", password="geheim-passwort")
    dbsession.flush()
    return [converter.id, plain.id]


def _import(session, study, cases: list[Facts]) -> None:
    rows = "".join(
        f"{c.ref},{c.numbers[0]},{c.numbers[1] if len(c.numbers) > 1 else ''},{c.state or ''},{c.person_type},"
        f"{'yes' if c.customer else 'no'},{c.consent_at.isoformat() if c.consent_at else ''}\n" for c in cases)
    report = import_sample(session, study, ("id,phone,phone2,state,person_type,customer,consent_at\n" + rows).encode(),
                           filename="property.csv", dnc_salt=SALT)
    assert report.committed and report.imported == len(cases), report.lines()


def _e164(number: str) -> str:
    return "+" + "".join(ch for ch in number if ch.isdigit())


def _end_call(session, case: Case, user, code: str, at: dt.datetime, facts: Facts,
              appointment: tuple[int, int]) -> None:
    when = None
    if code.startswith("appointment"):
        days, minutes = appointment
        local_day = at.astimezone(BERLIN).date() + dt.timedelta(days=days)
        when = dt.datetime.combine(local_day, dt.time(minutes // 60, minutes % 60), tzinfo=BERLIN).astimezone(UTC)
    try:
        record_outcome(session, case, user, code, note="property test", appointment_at=when, now=at, dnc_salt=SALT)
    except OutcomeError:  # an appointment the rules refuse: the interviewer records no answer instead
        when, code = None, "no_answer"
        record_outcome(session, case, user, code, note="property test", now=at, dnc_salt=SALT)
    facts.attempts.append((at, code))
    facts.appointment_at = when


def play(session, scenario: Scenario, users) -> tuple[object, Rules, set[str]]:
    """Create the study, import the sample, run the events; returns (study, its rules at the end,
    numbers on the do-not-call list)."""
    rules = dataclasses.replace(scenario.rules)
    study = create_study(session, source=QUESTIONNAIRE.read_text(encoding="utf-8"), source_name=QUESTIONNAIRE.name,
                         slug=f"prop{next(_slugs)}", purpose=rules.purpose)
    update_settings(session, study, {**rules.changes(), "status": "field"})
    for user in users:
        assign_member(session, study, user)
    by_ref = {c.ref: c for c in scenario.cases}
    listed: set[str] = set()

    def put_on_list(facts: Facts) -> None:
        numbers = [_e164(n) for n in facts.numbers]
        dnc.add_numbers(session, numbers, salt=SALT, source="property test")
        listed.update(numbers)

    for index in scenario.dnc_before:
        put_on_list(scenario.cases[index])
    _import(session, study, scenario.cases)
    held: list[tuple[Case, object]] = []
    at = scenario.start.astimezone(UTC)
    appointments = itertools.cycle(scenario.appointments)
    for pause, microseconds, event in scenario.events:
        at = at.replace(microsecond=0) + dt.timedelta(seconds=pause, microseconds=microseconds)
        kind = event[0]
        if kind in ("call", "hold"):
            user = users[event[1]]
            delivery = next_case(session, user, now=at, claim_timeout=10**9)
            if delivery is None:
                continue
            if kind == "hold":
                held.append((delivery.case, user))
            else:
                _end_call(session, delivery.case, user, event[2], at + dt.timedelta(minutes=event[3]),
                          by_ref[delivery.case.ref], next(appointments))
        elif kind == "end_held" and held:
            case, user = held.pop(0)
            session.refresh(case)
            if case.state == "claimed" and case.claimed_by == user.id:
                _end_call(session, case, user, event[1], at, by_ref[case.ref], next(appointments))
        elif kind == "dnc":
            put_on_list(scenario.cases[event[1] % len(scenario.cases)])
        elif kind == "dnc_held" and held:
            put_on_list(by_ref[held[0][0].ref])
        elif kind == "legal":
            rules.legal_basis = event[1]
            update_settings(session, study, {"legal_basis": event[1]})
        elif kind == "stale":  # also after a held case's number went on the list
            scheduler.release_stale_claims(session, at, 1800, force=True)
            held = [(c, u) for c, u in held if session.get(Case, c.id, populate_existing=True).state == "claimed"]
    session.flush()
    return study, rules, listed


def _edges(session, study, facts: dict[str, Facts]) -> list[dt.datetime]:
    """Moments on the edges of the cases' scheduled times: just before, at, and a second after."""
    moments = []
    for case in session.scalars(select(Case).where(Case.study_id == study.id)):
        for when in (case.next_call_at, facts[case.ref].appointment_at):
            if when is not None:
                moments += [when - dt.timedelta(microseconds=1), when, when + dt.timedelta(seconds=1)]
    return moments


# The ``dbsession`` fixture is function-scoped, so Hypothesis shares one session (and its outer
# transaction) between the examples of a test. That is safe here: every example works inside its
# own SAVEPOINT, which it rolls back, then empties the identity map, and creates its study under a
# fresh slug; the two interviewers of the ``interviewers`` fixture live outside the savepoints and
# are only read (each example loads them again by id).
EXAMPLES = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


@EXAMPLES
@given(scenario=scenarios())
def test_due_cases_only_lists_callable_cases_and_every_ready_one(dbsession, interviewers, scenario):
    savepoint = dbsession.begin_nested()
    try:
        users = [dbsession.get(User, user_id) for user_id in interviewers]
        study, rules, listed = play(dbsession, scenario, users)
        facts = {c.ref: c for c in scenario.cases}
        for moment in [*scenario.queries, *_edges(dbsession, study, facts)]:
            due = due_cases(dbsession, study, moment, limit=1000)
            refs = [d.ref for d in due]
            assert len(refs) == len(set(refs))
            for ref in refs:
                reasons = violations(facts[ref], rules, moment, listed)
                assert not reasons, f"{ref} due at {moment.isoformat()} although: {reasons}"
            # The converse: a ready case whose scheduled time has come (whole seconds: the draw
            # index keeps seconds, rounded up) and that the oracle lets through is due.
            for case in dbsession.scalars(select(Case).where(Case.study_id == study.id, Case.state == "ready")):
                scheduled = case.tier == scheduler.TIER_FRESH or (
                    case.next_call_at is not None and case.next_call_at + dt.timedelta(seconds=1) <= moment)
                if scheduled and not violations(facts[case.ref], rules, moment, listed):
                    assert case.ref in refs, f"{case.ref} ready and callable at {moment.isoformat()} but not due"
    finally:
        savepoint.rollback()
        # A rolled-back savepoint can leave rows it created in the identity map (seen with the
        # questionnaire version); the next example must not meet them under reused ids.
        dbsession.expunge_all()


def test_the_oracle_knows_the_rules():
    """The oracle itself, on hand-picked moments (so that a property failure is the scheduler's)."""
    rules = Rules("research", "adm", [], False, 15, "none", 10, 4, {})
    case = Facts("X", "NI", ["+49301111111"], "private", False, None)
    tuesday = dt.datetime(2026, 11, 24, 20, 45, tzinfo=BERLIN).astimezone(UTC)
    assert violations(case, rules, tuesday, set()) == []
    assert violations(case, rules, tuesday + dt.timedelta(minutes=1), set())  # would end after 21:00
    reformation = dt.datetime(2026, 10, 31, 11, tzinfo=BERLIN).astimezone(UTC)  # Saturday, holiday in NI
    assert violations(case, rules, reformation, set())
    assert violations(Facts("Y", "BY", ["+49302222222"], "private", False, None), rules, reformation, set()) == []
    assert violations(Facts("Z", None, ["+49303333333"], "private", False, None), rules, reformation, set())
    spring = dt.datetime(2026, 3, 30, 9, 0, tzinfo=BERLIN).astimezone(UTC)  # first Monday of summer time
    assert spring.hour == 7 and violations(case, rules, spring, set()) == []
    assert violations(case, rules, spring - dt.timedelta(seconds=1), set())
    consent = Rules("customer_satisfaction", "ddv", [], False, 15, "consent", 10, 4, {})
    assert violations(case, consent, tuesday - dt.timedelta(hours=2), set()) == ["no legal basis (consent)"]
    customer = Facts("C", "NI", ["+49304444444"], "business", True, None)
    assert violations(customer, consent, tuesday - dt.timedelta(hours=2), set()) == []
    assert violations(customer, consent, tuesday - dt.timedelta(hours=2), {"+49304444444"})


# --------------------------------------------------------------------------- what the property found
# Each of these failed before the fix named in its docstring (kept as plain examples, so that a
# regression shows without a Hypothesis run).


def _one_case_study(session, slug: str, **changes: str):
    study = create_study(session, source=QUESTIONNAIRE.read_text(encoding="utf-8"), source_name=QUESTIONNAIRE.name,
                         slug=slug)
    update_settings(session, study, {**changes, "status": "field"})
    user = create_user(session, f"{slug}-anna", role="interviewer", password="geheim-passwort")
    assign_member(session, study, user)
    report = import_sample(session, study, b"id,phone,state\nA,030 1234567,BE\n", filename="a.csv", dnc_salt=SALT)
    assert report.committed
    return study, user


def _berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(UTC)


def test_a_retry_is_not_due_a_fraction_of_a_second_early(dbsession):
    """The draw index keeps whole seconds: the due time is rounded up, not down."""
    study, user = _one_case_study(dbsession, "found-subsecond", **{"retry.busy": "1"})
    case = next_case(dbsession, user, now=_berlin(2026, 11, 24, 10)).case
    ended = _berlin(2026, 11, 24, 10, 5) + dt.timedelta(microseconds=700_000)
    record_outcome(dbsession, case, user, "busy", now=ended)
    assert due_cases(dbsession, study, ended + dt.timedelta(seconds=60, microseconds=-500_000)) == []
    assert [d.ref for d in due_cases(dbsession, study, ended + dt.timedelta(seconds=61))] == ["A"]


def test_an_appointment_on_the_last_attempt_closes_the_case(dbsession):
    """Attempt limits apply to appointment calls too (they used to stay due past the limit)."""
    study, user = _one_case_study(dbsession, "found-maxattempts", max_attempts="1")
    case = next_case(dbsession, user, now=_berlin(2026, 11, 24, 10)).case
    record_outcome(dbsession, case, user, "appointment_soft", appointment_at=_berlin(2026, 11, 24, 15),
                   now=_berlin(2026, 11, 24, 10, 5))
    assert case.state == "final"
    assert due_cases(dbsession, study, _berlin(2026, 11, 24, 15, 1)) == []


def test_an_appointment_later_today_needs_an_attempt_left_today(dbsession):
    study, user = _one_case_study(dbsession, "found-perday", max_attempts_per_day="1")
    case = next_case(dbsession, user, now=_berlin(2026, 11, 24, 10)).case
    with pytest.raises(OutcomeError, match="from tomorrow on"):
        record_outcome(dbsession, case, user, "appointment_soft", appointment_at=_berlin(2026, 11, 24, 15),
                       now=_berlin(2026, 11, 24, 10, 5))
    record_outcome(dbsession, case, user, "appointment_soft", appointment_at=_berlin(2026, 11, 25, 15),
                   now=_berlin(2026, 11, 24, 10, 5))
    assert [d.ref for d in due_cases(dbsession, study, _berlin(2026, 11, 25, 15, 1))] == ["A"]


def test_a_number_listed_during_the_call_blocks_the_case_when_the_call_ends(dbsession):
    study, user = _one_case_study(dbsession, "found-dnc")
    case = next_case(dbsession, user, now=_berlin(2026, 11, 24, 10)).case
    dnc.add_numbers(dbsession, ["+49301234567"], salt=SALT)
    record_outcome(dbsession, case, user, "no_answer", now=_berlin(2026, 11, 24, 10, 5), dnc_salt=SALT)
    assert (case.state, case.block_kind) == ("blocked", "dnc")
    assert due_cases(dbsession, study, _berlin(2026, 11, 25, 10, 1)) == []


@pytest.mark.parametrize("release", ["outcome", "stale"])
def test_a_legal_basis_lost_during_the_call_blocks_the_case_when_the_call_ends(dbsession, release):
    study, user = _one_case_study(dbsession, f"found-legal-{release}")
    case = next_case(dbsession, user, now=_berlin(2026, 11, 24, 10)).case
    update_settings(dbsession, study, {"legal_basis": "consent"})
    if release == "outcome":
        record_outcome(dbsession, case, user, "no_answer", now=_berlin(2026, 11, 24, 10, 5))
    else:
        assert scheduler.release_stale_claims(dbsession, _berlin(2026, 11, 24, 11), 1800, force=True) == 1
        dbsession.refresh(case)
    assert (case.state, case.block_kind) == ("blocked", "legal")
    update_settings(dbsession, study, {"legal_basis": "none"})
    dbsession.refresh(case)
    assert case.state == "ready"


def test_a_future_consent_does_not_count_after_a_switch_to_consent(dbsession):
    """A research study (no consent needed) switched to consent: a consent dated in the future
    must not let the case be called before that date."""
    study = create_study(dbsession, source=QUESTIONNAIRE.read_text(encoding="utf-8"), source_name=QUESTIONNAIRE.name,
                         slug="found-future-consent")
    update_settings(dbsession, study, {"status": "field"})
    text = "id,phone,state,consent_at\nA,030 1234567,BE,2027-02-01T12:00:00+00:00\n"
    assert import_sample(dbsession, study, text.encode(), filename="a.csv").committed
    update_settings(dbsession, study, {"legal_basis": "consent"})
    assert due_cases(dbsession, study, _berlin(2026, 11, 24, 10)) == []
    assert [d.ref for d in due_cases(dbsession, study, _berlin(2027, 2, 2, 10))] == ["A"]
