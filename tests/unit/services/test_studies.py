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


class TestOutcomeTable:
    """The outcome table is data a study may change (``outcome.<code>.<field>=VALUE``), through
    ``cati study set`` and the settings form alike."""

    def test_a_changed_outcome_is_what_the_study_s_rules_use(self, dbsession):
        from cati.services.scheduler import rules_for

        study = create_study(dbsession, source=SOURCE, source_name="e.yaml")
        update_settings(dbsession, study, {"outcome.busy.label_de": "Leitung besetzt", "outcome.fax.final": "no",
                                           "outcome.break_off.default_delay": "30",
                                           "outcome.not_eligible.eligible": "unknown"})
        table = rules_for(study).outcomes
        assert table["busy"].label_de == "Leitung besetzt" and table["busy"].aapor == "3.12"
        assert table["fax"].final is False and table["break_off"].default_delay == 30
        assert table["not_eligible"].eligible is None
        update_settings(dbsession, study, {"outcome.busy.label_de": ""})  # taken back
        assert rules_for(study).outcomes["busy"].label_de == "Besetzt"

    def test_a_new_outcome_needs_its_fields_and_is_offered_to_interviewers(self, dbsession):
        from cati.services.console import interviewer_outcomes

        study = create_study(dbsession, source=SOURCE, source_name="e.yaml")
        with pytest.raises(StudyError, match="outcome mailbox_full"):
            update_settings(dbsession, study, {"outcome.mailbox_full.label_de": "Mailbox voll"})
        assert study.settings == {}
        update_settings(dbsession, study, {
            "outcome.mailbox_full.label_de": "Mailbox voll", "outcome.mailbox_full.label_en": "Mailbox full",
            "outcome.mailbox_full.aapor": "3.14", "outcome.mailbox_full.final": "no",
            "outcome.mailbox_full.default_delay": "180"})
        [new] = [o for o in interviewer_outcomes(study) if o.code == "mailbox_full"]
        assert (new.rate_class, new.final, new.default_delay) == ("UH", False, 180)

    def test_what_the_system_sets_keeps_its_meaning_only_labels_change(self, dbsession):
        from cati.services.scheduler import rules_for

        study = create_study(dbsession, source=SOURCE, source_name="e.yaml")
        update_settings(dbsession, study, {"outcome.complete.label_de": "Interview vollständig",
                                           "outcome.busy.label_en": "unknown"})  # "unknown" is a label here
        table = rules_for(study).outcomes
        assert table["complete"].label_de == "Interview vollständig" and table["busy"].label_en == "unknown"

    def test_a_code_attempts_were_recorded_with_cannot_be_removed(self, dbsession):
        from cati.models import Attempt, User

        study = create_study(dbsession, source=SOURCE, source_name="e.yaml")
        fields = {"label_de": "Mailbox voll", "label_en": "Mailbox full", "aapor": "3.14", "final": "no"}
        update_settings(dbsession, study, {f"outcome.mailbox_full.{k}": v for k, v in fields.items()})
        update_settings(dbsession, study, {f"outcome.mailbox_full.{k}": "" for k in fields})  # unused: gone
        update_settings(dbsession, study, {f"outcome.mailbox_full.{k}": v for k, v in fields.items()})
        text = "id,phone\nA,030 1111111\n"
        assert import_sample(dbsession, study, text.encode(), filename="s.csv").imported == 1
        case = dbsession.scalar(select(Case).where(Case.study_id == study.id))
        user = User(username="anna", role="interviewer", password_hash="x", display_name="Anna", code="I0000001")
        dbsession.add(user)
        dbsession.flush()
        dbsession.add(Attempt(case_id=case.id, study_id=study.id, user_id=user.id, outcome="mailbox_full",
                              aapor="3.14"))
        dbsession.flush()
        with pytest.raises(StudyError, match="mailbox_full: attempts were recorded with it"):
            update_settings(dbsession, study, {f"outcome.mailbox_full.{k}": "" for k in fields})

    @pytest.mark.parametrize(("changes", "message"), [
        ({"outcome.complete.final": "no"}, "set by the engine, not chosen by interviewers"),
        ({"outcome.max_attempts.final": "no"}, "set by the system"),
        ({"outcome.screened_out.aapor": "2.11"}, "only its labels may change"),
        ({"outcome.appointment_soft.final": "yes"}, "an appointment is never final"),
        ({"outcome.do_not_call.final": "no"}, "do not call again is always final"),
        ({"outcome.busy.aapor": "9.99"}, "not an AAPOR code"),
        ({"outcome.busy.default_delay": "20"}, "retry.busy"),
        ({"outcome.busy.colour": "red"}, "no field 'colour'"),
        ({"outcome.busy.final": "perhaps"}, "expected yes or no"),
    ])
    def test_bad_changes_are_refused_by_name_and_change_nothing(self, dbsession, changes, message):
        study = create_study(dbsession, source=SOURCE, source_name="e.yaml")
        with pytest.raises(StudyError, match=message):
            update_settings(dbsession, study, changes)
        assert study.settings == {}


def test_a_client_account_without_an_organisation_sees_no_study(dbsession):
    """Not even the studies without a client: ``client_id = NULL`` must not become ``IS NULL``."""
    from cati.models import User
    from cati.services.studies import studies_visible_to

    create_study(dbsession, source=SOURCE, source_name="e.yaml")  # no client
    orphan = User(username="ohne_firma", role="client", password_hash="x", display_name="Ohne Firma", code="K0000001")
    dbsession.add(orphan)
    dbsession.flush()
    assert dbsession.scalars(studies_visible_to(orphan)).all() == []
