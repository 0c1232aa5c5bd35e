"""The quota page: supervisors watch every cell of the demo pre-sale study and change targets
and modes; changes are audited and refused input changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from cati.models import AuditEvent, QuotaCell, StudyMember
from cati.services.studies import create_study, update_settings

QUESTIONNAIRES = Path(__file__).resolve().parents[2] / "questionnaires"


@pytest.fixture
def demand(dbsession, world):
    source = (QUESTIONNAIRES / "lieferdienst_nachfrage.yaml").read_text(encoding="utf-8")
    study = create_study(dbsession, source=source, source_name="lieferdienst_nachfrage.yaml", client="Acme Mobility")
    update_settings(dbsession, study, {"status": "field"})
    dbsession.add(StudyMember(study_id=study.id, user_id=world.users["supervisor"].id))
    dbsession.flush()
    dbsession.expire(study)
    return study


def cells(page):
    rows = {}
    for row in page.html.select("tr[id^=cell-]"):
        values = [td.get_text(" ", strip=True) for td in row.find_all(["th", "td"])]
        rows[row["id"].removeprefix("cell-")] = values
    return rows


def test_supervisor_sees_every_cell(demand, as_role):
    app = as_role("supervisor")
    detail = app.get(f"/studies/{demand.slug}")
    page = detail.click(linkid="quotas-link")
    assert page.html.find("h1").get_text(strip=True).startswith("Quoten")
    rows = cells(page)
    assert list(rows) == [f"alter_geschlecht-{c}" for c in
                          ("m_18_39", "m_40_59", "m_60_79", "w_18_39", "w_40_59", "w_60_79", "divers_ka")]
    # cell, target, completes, pending, remaining, progress, turned away, attempts/complete, state
    assert rows["alter_geschlecht-m_18_39"][:5] == ["m_18_39", "95", "0", "0", "95"]
    assert rows["alter_geschlecht-divers_ka"][:5] == ["divers_ka", "ohne Grenze", "0", "0", "–"]
    assert page.html.find("progress")["max"] == "95"


def test_client_sees_no_quota_page(demand, as_role):
    app = as_role("client")
    assert app.get(f"/studies/{demand.slug}").html.find(id="quotas-link") is None
    app.get(f"/studies/{demand.slug}/quotas", status=403)


def test_target_change_is_saved_and_audited(demand, as_role, dbsession, world):
    app = as_role("supervisor")
    page = app.get(f"/studies/{demand.slug}/quotas")
    form = page.forms["target-form-alter_geschlecht-w_60_79"]
    form["target"] = "120"
    done = form.submit(status=303).follow()
    assert "Ziel von alter_geschlecht.w_60_79 auf 120 gesetzt." in done.text
    assert cells(done)["alter_geschlecht-w_60_79"][1] == "120"
    row = dbsession.scalar(select(QuotaCell).where(QuotaCell.study_id == demand.id, QuotaCell.cell == "w_60_79"))
    assert row.target == 120
    assert demand.settings["quota_targets"] == {"alter_geschlecht": {"w_60_79": 120}}
    event = dbsession.scalars(select(AuditEvent).where(AuditEvent.study_id == demand.id,
                                                       AuditEvent.action == "study.settings")
                              .order_by(AuditEvent.id)).all()[-1]
    assert event.user_id == world.users["supervisor"].id
    assert event.details["quota_cells"][0]["before"]["target"] == 100
    # empty: no limit
    form = done.forms["target-form-alter_geschlecht-w_60_79"]
    form["target"] = ""
    done = form.submit(status=303).follow()
    assert cells(done)["alter_geschlecht-w_60_79"][1] == "ohne Grenze"


@pytest.mark.parametrize("value", ["-1", "viele", "10000001"])
def test_bad_target_is_refused_and_changes_nothing(demand, as_role, dbsession, value):
    app = as_role("supervisor")
    form = app.get(f"/studies/{demand.slug}/quotas").forms["target-form-alter_geschlecht-m_18_39"]
    form["target"] = value
    refused = form.submit(status=422)
    assert "ganze Zahl" in refused.text
    assert refused.forms["target-form-alter_geschlecht-m_18_39"]["target"].value == value
    assert cells(refused)["alter_geschlecht-m_18_39"][1] == "95"
    assert "quota_targets" not in (demand.settings or {})


def test_mode_change(demand, as_role, dbsession):
    app = as_role("researcher")
    form = app.get(f"/studies/{demand.slug}/quotas").forms["mode-form-alter_geschlecht"]
    form["mode"] = "soft"
    form["overshoot"] = "10%"
    done = form.submit(status=303).follow()
    assert "Modus der Quote alter_geschlecht geändert." in done.text
    assert "Überschreitung 10.0 %" in done.text
    row = dbsession.scalar(select(QuotaCell).where(QuotaCell.study_id == demand.id, QuotaCell.cell == "m_18_39"))
    assert (row.mode, row.overshoot) == ("soft", 0.1)
    form = done.forms["mode-form-alter_geschlecht"]
    form["overshoot"] = "lots"
    assert "Anteil" in form.submit(status=422).text


def test_unknown_cell_is_refused(demand, as_role):
    app = as_role("admin")
    page = app.get(f"/studies/{demand.slug}/quotas")
    token = page.forms["target-form-alter_geschlecht-m_18_39"]["csrf_token"].value
    refused = app.post(f"/studies/{demand.slug}/quotas/target",
                       {"quota": "alter_geschlecht", "cell": "nope", "target": "5", "csrf_token": token}, status=422)
    assert "Bitte eine Quotenzelle wählen." in refused.text


def test_page_without_quotas(world, as_role):
    page = as_role("admin").get(f"/studies/{world.own.slug}/quotas")
    assert "Der Fragebogen definiert keine Quoten." in page.text


def test_sample_quota_shows_waiting_and_held_cases(dbsession, world, as_role):
    from cati.services.sample_import import import_sample

    source = (QUESTIONNAIRES / "kundendienst_zufriedenheit.yaml").read_text(encoding="utf-8")
    study = create_study(dbsession, source=source, source_name="kundendienst.yaml", purpose="customer_satisfaction")
    update_settings(dbsession, study, {"status": "field"})
    sample = QUESTIONNAIRES / "samples" / "kundendienst_zufriedenheit.csv"
    assert import_sample(dbsession, study, sample, filename=sample.name).committed
    update_settings(dbsession, study, {"quota.kontaktgrund.umzug": "0"})
    page = as_role("admin").get(f"/studies/{study.slug}/quotas")
    assert "Zurückgehaltene Fälle" in page.text
    moves = cells(page)["kontaktgrund-umzug"]
    # cell, target, completes, pending, remaining, progress, turned away, attempts/complete, waiting, held, state
    assert moves[:5] == ["umzug", "0", "0", "0", "0"]
    assert moves[8] == "0" and int(moves[9]) > 0 and moves[10] == "voll"
