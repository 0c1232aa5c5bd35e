"""Study service rules that the CLI and web tests do not reach directly."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from cati.models import Case
from cati.services.sample_import import import_sample
from cati.services.studies import StudyError, create_study, update_settings

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"
SOURCE = (EXAMPLES / "ebike_abo_konzept.yaml").read_text()


def test_reserved_slug_is_refused(dbsession):
    with pytest.raises(StudyError, match="reserved"):
        create_study(dbsession, source=SOURCE, source_name="e.yaml", slug="new")


def test_refused_settings_leave_the_study_untouched_in_the_session(dbsession):
    study = create_study(dbsession, source=SOURCE, source_name="e.yaml")
    with pytest.raises(StudyError, match="calling_windows"):
        update_settings(dbsession, study, {"max_attempts": "5", "calling_profile": "custom"})
    assert (study.settings, study.status) == ({}, "draft")


def test_changing_the_legal_basis_blocks_and_releases_cases(dbsession):
    study = create_study(dbsession, source=SOURCE, source_name="e.yaml", purpose="research")
    text = ("id,phone,person_type,customer,consent_at\n"
            "P,030 1111111,private,no,\nB,030 2222222,business,no,\nK,030 3333333,business,yes,\n"
            "C,030 4444444,private,no,2026-01-01T10:00:00+01:00\n")
    assert import_sample(dbsession, study, text.encode(), filename="s.csv").imported == 4

    def states():
        dbsession.expire_all()
        return {c.ref: (c.state, c.block_kind) for c in dbsession.scalars(select(Case))}

    assert set(states().values()) == {("ready", "")}
    update_settings(dbsession, study, {"legal_basis": "consent"})
    assert states() == {"P": ("blocked", "legal"), "B": ("blocked", "legal"), "K": ("ready", ""),
                        "C": ("ready", "")}
    update_settings(dbsession, study, {"legal_basis": "none"})
    assert set(states().values()) == {("ready", "")}
