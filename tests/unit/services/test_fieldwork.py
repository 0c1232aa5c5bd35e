"""The supervisor dashboard's figures: tallies kept by triggers, rates, and every number of a
seeded study checked by hand."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import ClassVar

import pytest
from sqlalchemy import select

from cati.models import AuditEvent
from cati.services import fieldwork, scheduler
from cati.services.fieldwork import FieldworkError, count_by_key, dashboard, rebuild_tallies, stored_tallies
from cati.services.sample_import import import_sample
from cati.services.studies import update_settings
from tests.fieldwork_seed import (
    TUESDAY_10,
    add_attempt,
    add_case,
    add_interview,
    local,
    make_study,
    make_user,
    zone,
)


@pytest.fixture
def study(dbsession):
    return make_study(dbsession)


@pytest.fixture
def anna(dbsession, study):
    return make_user(dbsession, study, "anna")


def approx(fraction):
    return pytest.approx(float(Fraction(fraction)), abs=1e-12)


class TestTallies:
    """The triggers keep ``case_tallies`` equal to a GROUP BY over the cases, whatever changes them."""

    def assert_consistent(self, session, study):
        assert stored_tallies(session, study.id) == count_by_key(session, study.id)

    def test_every_kind_of_change(self, dbsession, study, anna):
        text = "id,phone\n" + "".join(f"R{i},030 55501{i:02d}\n" for i in range(8))
        assert import_sample(dbsession, study, text.encode(), filename="s.csv").committed
        self.assert_consistent(dbsession, study)

        first = scheduler.next_case(dbsession, anna, now=TUESDAY_10).case  # a claim: no key changes
        self.assert_consistent(dbsession, study)
        scheduler.record_outcome(dbsession, first, anna, "no_answer", now=TUESDAY_10)
        second = scheduler.next_case(dbsession, anna, now=TUESDAY_10).case
        scheduler.record_outcome(dbsession, second, anna, "appointment_soft", now=TUESDAY_10,
                                 appointment_at=local(2026, 11, 25, 18, 0))
        third = scheduler.next_case(dbsession, anna, now=TUESDAY_10).case
        scheduler.record_outcome(dbsession, third, anna, "complete", now=TUESDAY_10)
        scheduler.next_case(dbsession, anna, now=TUESDAY_10)
        scheduler.release_stale_claims(dbsession, TUESDAY_10 + dt.timedelta(hours=1), 60, force=True)
        self.assert_consistent(dbsession, study)

        update_settings(dbsession, study, {"legal_basis": "consent"})  # bulk UPDATE: blocks the open cases
        self.assert_consistent(dbsession, study)
        assert sum(n for key, n in stored_tallies(dbsession, study.id).items() if key[1] == "blocked") == 7
        update_settings(dbsession, study, {"legal_basis": "none"})
        self.assert_consistent(dbsession, study)

        dbsession.delete(add_case(dbsession, study, state="final", outcome="fax", aapor="4.20", attempts=1))
        dbsession.flush()
        self.assert_consistent(dbsession, study)

    def test_test_cases_and_attempt_cap(self, dbsession, study):
        add_case(dbsession, study, "T", is_test=True, state="final", outcome="complete", aapor="1.1")
        add_case(dbsession, study, "M", attempts=250, state="final", outcome="max_attempts", aapor="3.90")
        self.assert_consistent(dbsession, study)
        keys = stored_tallies(dbsession, study.id)
        assert {(k[1], k[7]) for k in keys} == {("test", 0), ("final", 99)}

    def test_rebuild_gives_the_same_tallies(self, dbsession, study):
        for state in ("ready", "blocked", "final"):
            add_case(dbsession, study, state=state)
        before = stored_tallies(dbsession, study.id)
        assert rebuild_tallies(dbsession, study.id) == len(before)
        assert stored_tallies(dbsession, study.id) == before


def seed_every_class(session, study):
    """20 cases covering every AAPOR rate class (current dispositions, final and temporary)."""
    spec = [
        ("complete", "1.1", "final", 4),
        ("partial", "1.2", "final", 2),
        ("hard_refusal", "2.111", "final", 2),
        ("soft_refusal", "2.11", "ready", 1),
        ("appointment_soft", "2.21", "ready", 2),
        ("language_barrier", "2.33", "final", 1),
        ("", "3.11", "ready", 3),
        ("no_answer", "3.13", "ready", 1),
        ("busy", "3.12", "ready", 1),
        ("max_attempts", "3.90", "final", 1),
        ("not_in_service", "4.30", "final", 1),
        ("screened_out", "4.70", "final", 1),
    ]
    for outcome, aapor, state, count in spec:
        for _ in range(count):
            add_case(session, study, state=state, outcome=outcome, aapor=aapor, attempts=0 if not outcome else 1,
                     tier=2 if not outcome else 1)


class TestRates:
    """A hand-computed example with every class: I=4 P=2 R=3 NC=2 O=1 UH=5 UO=1 NE=2."""

    # e = (I+P+R+NC+O)/(I+P+R+NC+O+NE) = 12/14 = 6/7, so known + e(UH+UO) = 12 + 36/7 = 120/7.
    EXPECTED: ClassVar[dict[str, str]] = {
        "RR1": "4/18", "RR2": "6/18", "RR3": "28/120", "RR4": "42/120", "RR5": "4/12", "RR6": "6/12",
        "COOP1": "4/10", "COOP2": "6/10", "COOP3": "4/9", "COOP4": "6/9",
        "REF1": "3/18", "REF2": "21/120", "REF3": "3/12",
        "CON1": "10/18", "CON2": "70/120", "CON3": "10/12",
    }

    def test_proportional_estimator(self, dbsession, study):
        seed_every_class(dbsession, study)
        board = dashboard(dbsession, study, now=TUESDAY_10)
        assert board.class_counts == {"I": 4, "P": 2, "R": 3, "NC": 2, "O": 1, "UH": 5, "UO": 1, "NE": 2}
        assert (board.e.method, board.e.value) == ("proportional", approx("6/7"))
        assert board.rates == {name: approx(value) for name, value in self.EXPECTED.items()}

    def test_supervisor_estimate_is_used_and_reported(self, dbsession, study):
        seed_every_class(dbsession, study)
        fieldwork.set_eligibility_estimate(dbsession, study, 0.5, "share eligible in the 2025 wave", actor_id=None)
        board = dashboard(dbsession, study, now=TUESDAY_10)
        assert (board.e.method, board.e.value, board.e.basis) == ("supervisor", 0.5,
                                                                  "share eligible in the 2025 wave")
        # known + e(UH+UO) = 12 + 3 = 15
        assert board.rates["RR3"] == approx("4/15")
        assert board.rates["RR4"] == approx("6/15")
        assert board.rates["REF2"] == approx("3/15")
        assert board.rates["CON2"] == approx("10/15")
        assert board.rates["RR1"] == approx("4/18")  # rates without e are unchanged
        fieldwork.set_eligibility_estimate(dbsession, study, None)
        assert dashboard(dbsession, study, now=TUESDAY_10).e.method == "proportional"

    @pytest.mark.parametrize(("value", "basis", "field"), [(1.5, "x", "e"), (-0.1, "x", "e"),
                                                            (float("nan"), "x", "e"), (0.4, "  ", "basis")])
    def test_estimate_is_validated(self, dbsession, study, value, basis, field):
        with pytest.raises(FieldworkError) as info:
            fieldwork.set_eligibility_estimate(dbsession, study, value, basis)
        assert info.value.field == field
        assert "aapor_e" not in (study.settings or {})

    def test_estimate_change_is_audited(self, dbsession, study):
        fieldwork.set_eligibility_estimate(dbsession, study, 0.7, "screener 2025", actor_id=None)
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "study.settings")
                                  .order_by(AuditEvent.id.desc())).first()
        assert event.details["changes"] == {"aapor_e": 0.7, "aapor_e_basis": "screener 2025"}


class TestDashboard:
    """Every figure of a seeded study at Tuesday 10:00 Berlin (New York: 04:00, closed)."""

    @pytest.fixture
    def seeded(self, dbsession, study, anna):
        be, ny = zone(dbsession, study, "BE"), zone(dbsession, study, "", "America/New_York", "US")
        now = TUESDAY_10
        hour = dt.timedelta(hours=1)
        cases = {
            "F1": add_case(dbsession, study, "F1", zone_id=be),
            "F2": add_case(dbsession, study, "F2", zone_id=be),
            "F3": add_case(dbsession, study, "F3", zone_id=ny),
            "F4": add_case(dbsession, study, "F4", zone_id=be, state="claimed", claimed_by=anna.id,
                           claimed_at=now - dt.timedelta(minutes=5)),
            "R1": add_case(dbsession, study, "R1", zone_id=be, tier=1, outcome="no_answer", aapor="3.13", attempts=1,
                           next_call_at=now - dt.timedelta(minutes=10)),
            "R2": add_case(dbsession, study, "R2", zone_id=be, tier=1, outcome="busy", aapor="3.12", attempts=2,
                           next_call_at=now + hour),
            "A1": add_case(dbsession, study, "A1", zone_id=be, tier=0, outcome="appointment_soft", aapor="2.21",
                           attempts=1, next_call_at=now + 2 * hour),
            "A2": add_case(dbsession, study, "A2", zone_id=be, tier=0, outcome="appointment_hard", aapor="2.21",
                           attempts=1, next_call_at=now - dt.timedelta(minutes=30), reserved_for=anna.id),
            "A3": add_case(dbsession, study, "A3", zone_id=be, tier=0, outcome="appointment_soft", aapor="2.21",
                           attempts=1, next_call_at=now + 6 * hour),
            "B1": add_case(dbsession, study, "B1", zone_id=be, state="blocked", block_kind="dnc"),
            "B2": add_case(dbsession, study, "B2", zone_id=be, state="blocked", block_kind="legal"),
            "X1": add_case(dbsession, study, "X1", state="final", outcome="complete", aapor="1.1", attempts=1),
            "X2": add_case(dbsession, study, "X2", state="final", outcome="complete", aapor="1.1", attempts=3),
            "X3": add_case(dbsession, study, "X3", state="final", outcome="hard_refusal", aapor="2.111", attempts=2),
            "X4": add_case(dbsession, study, "X4", state="final", outcome="not_in_service", aapor="4.30",
                           attempts=1),
            "T1": add_case(dbsession, study, "T1", state="final", outcome="complete", aapor="1.1", is_test=True),
        }
        add_attempt(dbsession, cases["R1"], anna, "no_answer", "3.13", local(2026, 11, 24, 9, 0))
        add_attempt(dbsession, cases["X2"], anna, "complete", "1.1", local(2026, 11, 24, 0, 30))  # 23:30 UTC
        add_attempt(dbsession, cases["X2"], anna, "busy", "3.12", local(2026, 11, 24, 9, 30))
        add_attempt(dbsession, cases["X1"], anna, "complete", "1.1", local(2026, 11, 23, 23, 30))  # yesterday
        add_attempt(dbsession, cases["R2"], anna, "busy", "3.12", now + dt.timedelta(minutes=5))  # in the future
        add_interview(dbsession, study, cases["X1"], anna, started_at=local(2026, 11, 23, 18, 0))
        add_interview(dbsession, study, cases["X2"], anna, started_at=local(2026, 11, 24, 0, 15))  # ends 00:27
        add_interview(dbsession, study, cases["X3"], anna, status="invalidated", started_at=local(2026, 11, 24, 8))
        test = add_interview(dbsession, study, None, anna, started_at=local(2026, 11, 24, 8))
        test.is_test = True
        dbsession.flush()
        return cases

    def test_figures(self, dbsession, study, seeded):
        board = dashboard(dbsession, study, now=TUESDAY_10, days=7)
        assert (board.total_cases, board.open_cases, board.claimed, board.blocked, board.final_cases) == (
            15, 9, 1, 2, 4)
        assert board.blocked_by_kind == {"dnc": 1, "legal": 1}
        assert (board.completes, board.target, board.target_source) == (2, 500, "quotas")
        assert board.progress == pytest.approx(2 / 500)
        assert (board.zones, board.open_zones) == (2, 1)
        # F1 + F2 (F3's zone is closed, F4 is claimed) + R1 (due) + A2 (due); R2, A1, A3 later.
        assert board.callable_now == 4
        assert [a.ref for a in board.appointments] == ["A2", "A1"]
        assert [a.overdue for a in board.appointments] == [True, False]
        assert board.appointments[0].reserved_for == "anna"
        assert (board.appointments_due, board.appointments_overdue) == (2, 1)
        assert board.attempts_today == 3
        assert board.completes_per_day == [(dt.date(2026, 11, 18 + i), 0) for i in range(5)] + [
            (dt.date(2026, 11, 23), 1), (dt.date(2026, 11, 24), 1)]
        assert board.attempts_histogram == [(0, 6), (1, 6), (2, 2), (3, 1)]
        rows = {(d.aapor, d.outcome): (d.final, d.temporary) for d in board.dispositions}
        assert rows == {("1.1", "complete"): (2, 0), ("2.111", "hard_refusal"): (1, 0),
                        ("2.21", "appointment_soft"): (0, 2), ("2.21", "appointment_hard"): (0, 1),
                        ("3.11", ""): (0, 6), ("3.12", "busy"): (0, 1), ("3.13", "no_answer"): (0, 1),
                        ("4.30", "not_in_service"): (1, 0)}
        assert [d.aapor for d in board.dispositions] == ["1.1", "2.111", "2.21", "2.21", "3.11", "3.12", "3.13",
                                                         "4.30"]
        assert board.class_counts == {"I": 2, "P": 0, "R": 1, "NC": 3, "O": 0, "UH": 8, "UO": 0, "NE": 1}
        assert board.e.value == pytest.approx(6 / 7)
        assert board.rates["RR1"] == pytest.approx(2 / 14)
        cells = {(c.quota, c.cell): c for c in board.quota_cells}
        assert cells[("alter_geschlecht", "m_18_44")].target == 130
        assert cells[("alter_geschlecht", "divers_ka")].target is None

    def test_json_is_plain(self, dbsession, study, seeded):
        import json

        data = json.loads(json.dumps(dashboard(dbsession, study, now=TUESDAY_10).as_json()))
        assert data["callable_now"] == 4
        assert data["e"]["method"] == "proportional"
        assert data["cases"]["blocked_by_kind"] == {"dnc": 1, "legal": 1}

    def test_nothing_is_callable_outside_fieldwork(self, dbsession, study, seeded):
        update_settings(dbsession, study, {"status": "paused"})
        board = dashboard(dbsession, study, now=TUESDAY_10)
        assert (board.callable_now, board.open_zones) == (0, 0)
        assert board.total_cases == 15

    def test_empty_study(self, dbsession, study):
        board = dashboard(dbsession, study, now=TUESDAY_10)
        assert (board.total_cases, board.completes, board.callable_now, board.attempts_today) == (0, 0, 0, 0)
        assert board.rates["RR1"] is None
        assert board.e.value is None
        assert len(board.completes_per_day) == 30

    def test_overall_target_setting_wins(self, dbsession, study):
        study.settings = {**study.settings, "target_completes": 800}
        board = dashboard(dbsession, study, now=TUESDAY_10)
        assert (board.target, board.target_source) == (800, "setting")


class TestSkills:
    def test_interviewer_skills(self, dbsession, study, anna):
        fieldwork.set_interviewer_skills(dbsession, study, anna, languages=["DE", "tr", "de", " "],
                                         refusal_conversion=True)
        assert anna.skills == {"languages": ["de", "tr"], "refusal_conversion": True}
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "user.skills")).one()
        assert event.target == f"user:{anna.id}"

    def test_only_interviewers_of_the_study(self, dbsession, study):
        outsider = make_user(dbsession, None, "otto")
        supervisor = make_user(dbsession, study, "sina", role="supervisor")
        for user in (outsider, supervisor):
            with pytest.raises(FieldworkError):
                fieldwork.set_interviewer_skills(dbsession, study, user, languages=[], refusal_conversion=False)

    def test_language_codes_are_checked(self, dbsession, study, anna):
        with pytest.raises(FieldworkError, match="language code"):
            fieldwork.set_interviewer_skills(dbsession, study, anna, languages=["de; drop"],
                                             refusal_conversion=False)
