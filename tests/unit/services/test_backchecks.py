"""Back-checks: a share of each interviewer's completes is drawn, results are recorded once, and
a failed check can invalidate its interview (quota cells, exports and the case's disposition)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from cati.models import AuditEvent, QuotaCell, QuotaReservation
from cati.services import backchecks
from cati.services.backchecks import BackcheckError
from cati.services.fieldwork import dashboard
from tests.fieldwork_seed import TUESDAY_10, add_attempt, add_case, add_interview, make_study, make_user


@pytest.fixture
def study(dbsession):
    return make_study(dbsession)


@pytest.fixture
def team(dbsession, study):
    return {name: make_user(dbsession, study, name) for name in ("anna", "ben", "carl")}


def completes(session, study, user, n, *, with_case=False):
    out = []
    for _ in range(n):
        case = add_case(session, study, state="final", outcome="complete", aapor="1.1", attempts=1) \
            if with_case else None
        out.append(add_interview(session, study, case, user, started_at=TUESDAY_10))
    return out


class TestDraw:
    def test_ten_percent_of_each_interviewer_rounded_up(self, dbsession, study, team):
        completes(dbsession, study, team["anna"], 25)
        completes(dbsession, study, team["ben"], 3)
        add_interview(dbsession, study, None, team["carl"], status="ended", started_at=TUESDAY_10)
        test = add_interview(dbsession, study, None, team["carl"], started_at=TUESDAY_10)
        test.is_test = True
        drawn = backchecks.draw(dbsession, study, rng=random.Random(1))
        by_user = {u: sum(c.interviewer_id == team[u].id for c in drawn) for u in team}
        assert by_user == {"anna": 3, "ben": 1, "carl": 0}
        assert {c.status for c in drawn} == {"pending"}
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "backcheck.draw")).one()
        assert event.details["drawn"] == 4

    def test_drawing_again_tops_up_with_new_completes_only(self, dbsession, study, team):
        first = completes(dbsession, study, team["anna"], 25)
        earlier = {c.interview_id for c in backchecks.draw(dbsession, study, rng=random.Random(2))}
        assert backchecks.draw(dbsession, study) == []
        completes(dbsession, study, team["anna"], 10)
        more = backchecks.draw(dbsession, study, rng=random.Random(3))
        assert len(more) == 1
        assert not earlier & {c.interview_id for c in more}
        assert earlier <= {i.id for i in first}

    def test_share_is_a_study_setting(self, dbsession, study, team):
        completes(dbsession, study, team["anna"], 10)
        backchecks.set_share(dbsession, study, 0.5)
        assert backchecks.share_for(study) == 0.5
        assert len(backchecks.draw(dbsession, study)) == 5
        with pytest.raises(BackcheckError):
            backchecks.set_share(dbsession, study, 1.5)

    def test_overview(self, dbsession, study, team):
        completes(dbsession, study, team["anna"], 12)
        backchecks.draw(dbsession, study)
        [anna] = backchecks.overview(dbsession, study)
        assert (anna.name, anna.completes, anna.wanted, anna.pending, anna.missing) == ("anna", 12, 2, 2, 0)


class TestResult:
    def test_passed(self, dbsession, study, team):
        completes(dbsession, study, team["anna"], 1)
        [check] = backchecks.draw(dbsession, study)
        backchecks.record_result(dbsession, check, passed=True, note="alles bestätigt")
        assert (check.status, check.invalidated, check.note) == ("passed", False, "alles bestätigt")
        with pytest.raises(BackcheckError, match="recorded already"):
            backchecks.record_result(dbsession, check, passed=False, note="doch nicht")

    @pytest.mark.parametrize(("passed", "note", "invalidate", "field"),
                             [(False, "", False, "note"), (True, "ok", True, "invalidate")])
    def test_refusals(self, dbsession, study, team, passed, note, invalidate, field):
        completes(dbsession, study, team["anna"], 1)
        [check] = backchecks.draw(dbsession, study)
        with pytest.raises(BackcheckError) as info:
            backchecks.record_result(dbsession, check, passed=passed, note=note, invalidate=invalidate)
        assert info.value.field == field
        assert check.status == "pending"

    def test_failed_without_invalidating(self, dbsession, study, team):
        [interview] = completes(dbsession, study, team["anna"], 1)
        [check] = backchecks.draw(dbsession, study)
        backchecks.record_result(dbsession, check, passed=False, note="Alter stimmt nicht")
        assert (check.status, interview.status) == ("failed", "complete")

    def test_invalidating_leaves_quota_cells_and_takes_the_complete_from_the_case(self, dbsession, study, team):
        anna = team["anna"]
        [interview] = completes(dbsession, study, anna, 1, with_case=True)
        case = dbsession.get(type(add_case(dbsession, study)), interview.case_id)
        add_attempt(dbsession, case, anna, "no_answer", "3.13", TUESDAY_10)
        add_attempt(dbsession, case, anna, "complete", "1.1", TUESDAY_10)
        cell = dbsession.scalar(select(QuotaCell).where(QuotaCell.study_id == study.id,
                                                        QuotaCell.cell == "m_18_44"))
        cell.completes = 1
        dbsession.add(QuotaReservation(study_id=study.id, interview_id=interview.id, quota="alter_geschlecht",
                                       cell_id=cell.id, status="complete"))
        dbsession.flush()
        assert dashboard(dbsession, study, now=TUESDAY_10).completes == 1
        [check] = backchecks.draw(dbsession, study)
        backchecks.record_result(dbsession, check, passed=False, note="Interview fand nie statt", invalidate=True)
        assert (check.status, check.invalidated, interview.status) == ("failed", True, "invalidated")
        dbsession.refresh(cell)
        assert cell.completes == 0
        assert (case.state, case.outcome, case.aapor) == ("final", "no_answer", "3.13")
        assert dashboard(dbsession, study, now=TUESDAY_10).completes == 0
        actions = set(dbsession.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study.id)))
        assert {"backcheck.result", "interview.invalidate", "case.invalidated"} <= actions
        # the note stays on the back-check (erased with the contact), never in the audit trail
        details = list(dbsession.scalars(select(AuditEvent.details).where(AuditEvent.study_id == study.id)))
        assert not any("Interview fand nie statt" in str(d) for d in details)

    def test_a_case_with_no_other_call_becomes_unknown_eligibility(self, dbsession, study, team):
        [interview] = completes(dbsession, study, team["anna"], 1, with_case=True)
        [check] = backchecks.draw(dbsession, study)
        backchecks.record_result(dbsession, check, passed=False, note="gefälscht", invalidate=True)
        case = dbsession.get(type(add_case(dbsession, study)), interview.case_id)
        assert (case.outcome, case.aapor) == ("max_attempts", "3.90")

    def test_listing(self, dbsession, study, team):
        completes(dbsession, study, team["anna"], 11, with_case=True)
        drawn = backchecks.draw(dbsession, study)
        backchecks.record_result(dbsession, drawn[0], passed=True)
        rows = backchecks.checks(dbsession, study)
        assert [r.check.status for r in rows] == ["pending", "passed"]
        assert rows[0].interviewer == "anna" and rows[0].ref
        assert [r.check.status for r in backchecks.checks(dbsession, study, status="passed")] == ["passed"]
        assert backchecks.get_check(dbsession, study, drawn[0].id) is drawn[0]
        assert backchecks.get_check(dbsession, make_study(dbsession, slug="andere"), drawn[0].id) is None
