"""The demo that ``make run`` loads: its example studies keep their calling hours, and its training
study lets the console be tried at any hour."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cati.demo import load_demo
from cati.models import Case, User
from cati.services.scheduler import next_case
from cati.services.studies import get_study

pytestmark = pytest.mark.db

SUNDAY_NIGHT = dt.datetime(2026, 11, 22, 22, 30, tzinfo=dt.UTC)  # 23:30 in Berlin
MONDAY_MORNING = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)  # 10:30 in Berlin


def _anna(dbsession):
    load_demo(dbsession)
    return dbsession.scalar(select(User).where(User.username == "anna"))


def test_at_night_on_a_sunday_only_the_training_study_delivers(dbsession):
    anna = _anna(dbsession)
    examples = [get_study(dbsession, slug) for slug in ("lieferdienst_nachfrage", "kundendienst_zufriedenheit")]
    assert next_case(dbsession, anna, now=SUNDAY_NIGHT, studies=examples) is None
    delivery = next_case(dbsession, anna, now=SUNDAY_NIGHT)
    assert delivery is not None
    assert delivery.case.study_id == get_study(dbsession, "schulung").id


def test_in_calling_hours_the_example_studies_come_first(dbsession):
    anna = _anna(dbsession)
    delivery = next_case(dbsession, anna, now=MONDAY_MORNING)
    assert delivery is not None
    assert delivery.case.study_id != get_study(dbsession, "schulung").id


def test_the_training_study_is_nobody_s_client_study_and_loading_twice_adds_nothing(dbsession):
    load_demo(dbsession)
    training = get_study(dbsession, "schulung")
    assert training.client is None and training.status == "field"
    cases = dbsession.scalar(select(Case.id).where(Case.study_id == training.id).order_by(Case.id.desc()).limit(1))
    load_demo(dbsession)
    assert dbsession.scalar(select(Case.id).where(Case.study_id == training.id).order_by(Case.id.desc())
                            .limit(1)) == cases
