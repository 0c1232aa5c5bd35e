"""Test interviews: random respondents through the real engine, stored as test data without cases,
quotas untouched, reproducible by seed, one audit event per run."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from cati.models import AuditEvent, Interview, QuotaCell
from cati.questionnaires.state import State
from cati.services import exports, testdata
from cati.services.interviews import engine_for
from cati.services.studies import create_study

from .test_topline import QUOTA_QUESTIONNAIRE

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"


@pytest.fixture
def study(dbsession):
    return create_study(dbsession, source=(EXAMPLES / "haustech_nachkauf.yaml").read_text(encoding="utf-8"),
                        source_name="haustech.yaml", purpose="customer_satisfaction")


def interviews(dbsession, study):
    return list(dbsession.scalars(select(Interview).where(Interview.study_id == study.id).order_by(Interview.id)))


def test_interviews_are_test_data_without_cases(dbsession, study):
    seen = []
    report = testdata.generate(dbsession, study, 25, seed=5, progress=seen.append)
    assert report.created == 25 and sum(report.dispositions.values()) + report.stuck == 25
    assert seen[-1] == 25
    rows = interviews(dbsession, study)
    assert len(rows) == 25
    assert all(i.is_test and i.case_id is None and i.interviewer_id is None for i in rows)
    assert {i.version_id for i in rows} == {study.current_version.id}
    engine = engine_for(study.current_version)
    names = [v.name for v in engine.codebook()]
    for interview in rows:
        if interview.status in ("complete", "ended"):
            assert list(interview.data) == names  # the export row, as the interview service stores it
            assert interview.data["resp_id"] == interview.resp_id and interview.ended_at is not None
            assert interview.disposition in engine.questionnaire.dispositions
        state = State.from_dict(interview.state)
        assert state.questionnaire_id == engine.questionnaire.id
    assert "COMPLETE" in report.dispositions
    assert "25 test interviews on questionnaire version" in report.summary()


def test_the_seed_makes_answers_reproducible(dbsession, study):
    testdata.generate(dbsession, study, 8, seed=42)
    first = [(i.disposition, {k: v for k, v in (i.data or {}).items()
                              if k not in ("resp_id", "start_ts", "end_ts", "duration_s")})
             for i in interviews(dbsession, study)]
    other = create_study(dbsession, source=(EXAMPLES / "haustech_nachkauf.yaml").read_text(encoding="utf-8"),
                         source_name="haustech.yaml", slug="haustech-2")
    testdata.generate(dbsession, other, 8, seed=42)
    second = [(i.disposition, {k: v for k, v in (i.data or {}).items()
                               if k not in ("resp_id", "start_ts", "end_ts", "duration_s")})
              for i in interviews(dbsession, other)]
    assert first == second


def test_exports_leave_them_out_unless_asked(dbsession, study):
    report = testdata.generate(dbsession, study, 20, seed=3)
    assert exports.count(dbsession, study, exports.Selection()) == 0
    assert exports.count(dbsession, study, exports.Selection(test=True)) == report.dispositions["COMPLETE"]


def test_quotas_are_not_touched(dbsession):
    study = create_study(dbsession, source=QUOTA_QUESTIONNAIRE, source_name="q.yaml")
    before = dbsession.scalar(select(func.coalesce(func.sum(QuotaCell.completes), 0))
                              .where(QuotaCell.study_id == study.id))
    report = testdata.generate(dbsession, study, 30, seed=1)
    assert report.dispositions["COMPLETE"] == 30  # every cell is open for test interviews
    after = dbsession.scalar(select(func.coalesce(func.sum(QuotaCell.completes), 0))
                             .where(QuotaCell.study_id == study.id))
    assert before == after == 0


def test_one_audit_event_per_run(dbsession, study):
    report = testdata.generate(dbsession, study, 10, seed=9, actor_id=None)
    events = list(dbsession.scalars(select(AuditEvent).where(AuditEvent.study_id == study.id,
                                                            AuditEvent.action.like("%test%"))))
    assert len(events) == 1 and events[0].action == "study.testdata"
    assert events[0].details["count"] == 10 and events[0].details["seed"] == report.seed == 9
    assert not list(dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "interview.answer")))


def test_a_random_seed_is_drawn_and_reported(dbsession, study):
    report = testdata.generate(dbsession, study, 1)
    assert f"(seed {report.seed})" in report.summary()


@pytest.mark.parametrize("count", [0, testdata.MAX_COUNT + 1])
def test_count_out_of_range_is_refused(dbsession, study, count):
    with pytest.raises(testdata.TestdataError, match="--count"):
        testdata.generate(dbsession, study, count)
    assert interviews(dbsession, study) == []
