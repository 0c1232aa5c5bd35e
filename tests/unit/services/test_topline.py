"""The topline: frequencies per single/multi/grid/NPS question over the completes, labelled from
the codebooks, without test interviews or personal data; cached until the completes change.
Field progress: completes against the target and by quota cell."""

from __future__ import annotations

import datetime as dt

import pytest

from cati.services import topline
from cati.services.studies import publish_version

from .test_exports_service import BROKEN, COMPLETE, PARTIAL_END, SCREENED, V2, add_interview, make_study

QUOTA_QUESTIONNAIRE = """\
format: cati/1
id: quota_topline
version: 1
title: {de: "Quotentopline"}
languages: [de]
dispositions:
  COMPLETE: 1
  QUOTA_FULL: {code: 31, aapor: "4.80"}
quotas:
  - id: geschlecht
    on_full: QUOTA_FULL
    cells:
      - {id: m, if: "G == 1", target: 3}
      - {id: w, if: "G == 2", target: 5}
flow:
  - {id: G, type: single, text: {de: "Geschlecht?"}, options: [{code: 1, de: männlich}, {code: 2, de: weiblich}]}
  - quota: geschlecht
"""


def by_id(report):
    return {table.id: table for table in report.tables}


def counts(table):
    return {c.code: c.count for c in table.categories}


@pytest.fixture
def study(dbsession):
    study = make_study(dbsession)
    add_interview(dbsession, study, COMPLETE)  # K1 1,3; N1 9; C1 1->1, 2->2
    add_interview(dbsession, study, {**COMPLETE, "K1": "DK", "N1": 3, "C1": {1: 2, 2: 2}})
    add_interview(dbsession, study, {**COMPLETE, "K1": [3], "N1": "DK", "C1": {1: 1, 2: 1}})
    add_interview(dbsession, study, {**COMPLETE, "N1": 0}, test=True)  # never counted
    add_interview(dbsession, study, PARTIAL_END)
    add_interview(dbsession, study, SCREENED)
    add_interview(dbsession, study, BROKEN)
    return study


def test_frequencies_over_the_completes(dbsession, study):
    report = topline.compute(dbsession, study)
    assert report.completes == 3 and report.versions == [1]
    tables = by_id(report)
    assert [t.id for t in report.tables] == ["S1", "K1", "N1", "C1", "P1"]
    s1 = tables["S1"]
    assert (s1.kind, s1.label, s1.base) == ("single", "S1 Teilnahme", 3)
    assert [(c.code, c.label, c.count) for c in s1.categories] == [(1, "ja", 3), (2, "nein", 0),
                                                                   (3, "nicht Zielgruppe", 0)]
    assert s1.categories[0].share == 1.0


def test_multi_counts_each_option_of_those_asked(dbsession, study):
    k1 = by_id(topline.compute(dbsession, study))["K1"]
    assert (k1.kind, k1.label, k1.base) == ("multi", "K1 Marken", 3)
    assert [(c.label, c.count) for c in k1.categories] == [("Alpha", 1), ("Beta", 0), ("Gamma", 2),
                                                           ("weiß nicht", 1)]
    assert k1.categories[-1].special and k1.categories[2].share == pytest.approx(2 / 3)


def test_nps_distribution_and_score(dbsession, study):
    n1 = by_id(topline.compute(dbsession, study))["N1"]
    assert n1.kind == "nps" and n1.base == 3
    assert [c.code for c in n1.categories] == [*range(11), 98]
    assert counts(n1) == {**dict.fromkeys(range(11), 0), 3: 1, 9: 1, 98: 1}
    assert n1.categories[0].label == "0 – gar nicht" and n1.categories[-1].special
    assert n1.nps == 0.0  # one promoter, one detractor of two valid answers


def test_grid_rows_by_scale(dbsession, study):
    c1 = by_id(topline.compute(dbsession, study))["C1"]
    assert (c1.kind, c1.label) == ("grid", "C1 Zufriedenheit")
    assert [code for code, _, _ in c1.columns] == [1, 2]
    assert [(r.label, r.base, [c.count for c in r.categories]) for r in c1.rows] == [
        ("Preis", 3, [2, 1]), ("Service", 3, [1, 2])]


def test_no_personal_data_or_open_answers(dbsession, study):
    ids = set(by_id(topline.compute(dbsession, study)))
    assert {"T1", "kd_tel", "region"}.isdisjoint(ids)


def test_version_union_uses_the_newest_labels(dbsession, study):
    v2 = publish_version(dbsession, study, source=V2.replace("de: Alpha", "de: Alpha neu"), source_name="v2.yaml")
    add_interview(dbsession, study, {**COMPLETE, "K1": [4]}, version=v2)
    report = topline.compute(dbsession, study)
    assert report.versions == [1, 2] and report.completes == 4
    k1 = by_id(report)["K1"]
    assert [(c.label, c.count) for c in k1.categories] == [("Alpha neu", 1), ("Beta", 0), ("Gamma", 2),
                                                           ("Delta", 1), ("weiß nicht", 1)]


def test_cached_until_the_completes_change(dbsession, study, monkeypatch):
    first = topline.topline(dbsession, study)
    calls = []
    real = topline.compute
    monkeypatch.setattr(topline, "compute", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    assert topline.topline(dbsession, study) is first and calls == []
    add_interview(dbsession, study, COMPLETE, at=dt.datetime(2026, 3, 11, tzinfo=dt.UTC))
    second = topline.topline(dbsession, study)
    assert calls == [1] and second.completes == 4


def test_empty_study(dbsession):
    study = make_study(dbsession)
    report = topline.topline(dbsession, study)
    assert (report.completes, report.tables) == (0, [])


class TestFieldProgress:
    def test_target_from_the_quotas_and_cells(self, dbsession):
        from cati.services.studies import create_study

        study = create_study(dbsession, source=QUOTA_QUESTIONNAIRE, source_name="q.yaml")
        progress = topline.field_progress(dbsession, study)
        assert (progress.completes, progress.target, progress.target_source) == (0, 8, "quotas")
        assert [(c.cell, c.target, c.completes) for c in progress.quotas[0].cells] == [("m", 3, 0), ("w", 5, 0)]
        assert progress.share == 0

    def test_target_setting_wins_and_test_data_never_counts(self, dbsession, study):
        study.settings = {**(study.settings or {}), "target_completes": 6}  # as the dashboard reads it
        dbsession.flush()
        progress = topline.field_progress(dbsession, study)
        assert (progress.completes, progress.screened, progress.target) == (3, 1, 6)
        assert progress.share == 0.5 and progress.target_source == "setting"
