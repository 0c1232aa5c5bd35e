"""The quota arithmetic of cati.sampling.quotas, without a database: room per mode, priority
bands, order keys, and the cell a case falls in by its sample fields."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.route import FlowIndex
from cati.sampling.quotas import (
    BAND_SPAN,
    PRIORITY_BANDS,
    band_of_key,
    banded_key,
    cap,
    has_room,
    priority_band,
    remaining,
    sample_cell,
)


@pytest.mark.parametrize(
    ("mode", "target", "overshoot", "expected"),
    [
        ("hard", 100, 0.0, 100),
        ("hard", 100, 0.5, 100),  # overshoot only applies to soft quotas
        ("soft", 100, 0.1, 110),
        ("soft", 5, 0.1, 5),  # 10 % of 5 is half an interview: never more than the share allows
        ("soft", 10, 0.15, 11),
        ("soft", 3, 1 / 3, 4),  # float noise does not lose the place
        ("counter", 100, 0.0, None),
        ("hard", None, 0.0, None),
        ("hard", 0, 0.0, 0),
    ],
)
def test_cap(mode, target, overshoot, expected):
    assert cap(mode, target, overshoot) == expected


def test_pending_interviews_count_towards_the_cap():
    assert has_room("hard", 10, 0.0, 9, 0)
    assert not has_room("hard", 10, 0.0, 9, 1)
    assert not has_room("hard", 10, 0.0, 0, 10)
    assert has_room("soft", 10, 0.2, 10, 1)
    assert not has_room("soft", 10, 0.2, 10, 2)
    assert has_room("counter", 1, 0.0, 500, 500)
    assert has_room("hard", None, 0.0, 500, 500)


def test_remaining():
    assert remaining(10, 3) == 7
    assert remaining(10, 12) == 0
    assert remaining(None, 3) is None


@pytest.mark.parametrize(
    ("target", "completes", "pending", "band"),
    [(90, 0, 0, 3), (90, 29, 0, 3), (90, 30, 0, 2), (90, 59, 0, 2), (90, 60, 0, 1), (90, 89, 0, 1),
     (90, 88, 2, 0), (90, 100, 0, 0), (None, 0, 0, 0), (0, 0, 0, 0)],
)
def test_priority_band(target, completes, pending, band):
    assert priority_band("hard", target, completes, pending) == band
    assert priority_band("counter", target, completes, pending) == 0


@given(st.integers(min_value=0, max_value=(1 << 62) - 1), st.lists(st.integers(0, PRIORITY_BANDS), max_size=6))
def test_banded_keys_sort_by_band_and_come_back(raw, bands):
    key = raw
    for band in bands:
        key = banded_key(key, band)
        assert band_of_key(key) == band
        assert -PRIORITY_BANDS * BAND_SPAN <= key < 1 << 62
    if bands and bands[-1] == 0 and any(bands):
        assert key >> 4 == raw >> 4  # only the lowest bits are lost on a round trip
    elif not any(bands):
        assert key == raw


def test_higher_bands_are_delivered_first():
    rng = random.Random(7)
    keys = [(band, banded_key(rng.randrange(1 << 62), band)) for band in [0, 1, 2, 3] * 50]
    ordered = [band for band, _ in sorted(keys, key=lambda item: item[1])]
    assert ordered == sorted(ordered, reverse=True)


QUESTIONNAIRE = """\
format: cati/1
id: q
version: 1
title: {de: "Q"}
languages: [de]
dispositions: {COMPLETE: 1, FULL: {code: 31, aapor: "4.80"}}
sample:
  - {name: region, type: single, options: [{code: 1, de: Nord}, {code: 2, de: Süd}]}
  - {name: kaufdatum, type: date}
quotas:
  - id: region
    on_full: FULL
    cells:
      - {id: nord, if: "region == 1", target: 5}
      - {id: sued_neu, if: "region == 2 and year(kaufdatum) >= 2026", target: 5}
      - {id: rest, if: "true", target: null}
flow:
  - quota: region
  - {id: A, type: single, text: {de: "A?"}, options: [{code: 1, de: ja}]}
"""


def test_sample_cell_evaluates_like_the_interview():
    questionnaire = load_questionnaire(QUESTIONNAIRE, "q.yaml")
    quota = questionnaire.quotas[0]
    assert quota.sample_only
    flow = FlowIndex(questionnaire)
    today = dt.date(2026, 11, 24)
    assert sample_cell(flow, quota, {"region": 1}, today)[1].id == "nord"
    assert sample_cell(flow, quota, {"region": 2, "kaufdatum": "2026-07-01"}, today)[1].id == "sued_neu"
    assert sample_cell(flow, quota, {"region": 2, "kaufdatum": "2025-07-01"}, today)[0] == 3
    assert sample_cell(flow, quota, {}, today)[1].id == "rest"
