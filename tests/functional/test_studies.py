"""Researchers create studies from questionnaire files and run them from the study page."""

from __future__ import annotations

import hashlib
import re

import pytest
import webtest
from sqlalchemy import func, select

from cati.models import AuditEvent, QuestionnaireVersion, Study, StudyMember

from .conftest import FIXTURES, add_user

EBIKE = FIXTURES / "ebike_abo_konzept.yaml"
BROKEN = FIXTURES / "broken_questionnaire.yaml"
PROBLEM_LINE = re.compile(r"^broken_questionnaire\.yaml:\d+:\d+: \S")


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def upload(form, path, *, name=None, content=None):
    form["questionnaire"] = webtest.Upload(name or path.name, content if content is not None else path.read_bytes(),
                                           "application/x-yaml")
    return form


@pytest.fixture
def ebike_study(world, as_role):
    """The e-bike study, created through the form by the researcher; returns (app, study page)."""
    app = as_role("researcher")
    form = upload(app.get("/studies/new").forms["study-form"], EBIKE)
    form["client"] = "Acme Mobility"
    response = form.submit(status=303)
    return app, response.follow()


class TestCreateStudy:
    def test_upload_creates_a_draft_study_with_version(self, world, ebike_study, dbsession):
        _app, page = ebike_study
        assert page.request.path == "/studies/ebike_abo_konzept"
        assert "Studie Konzepttest E-Bike-Abo 2025 angelegt." in page.text
        study = dbsession.scalar(select(Study).where(Study.slug == "ebike_abo_konzept"))
        assert study.status == "draft"
        assert study.client_id == world.acme.id
        [version] = study.versions
        assert version.version == 3
        assert version.published_by_id == world.users["researcher"].id
        checksum = hashlib.sha256(EBIKE.read_bytes()).hexdigest()
        assert version.sha256 == checksum
        row = page.html.select_one("#versions-heading ~ table tbody tr")
        cells = [td.text.strip() for td in row.find_all("td")]
        assert cells[0] == "3"
        assert cells[1] == "Konzepttest E-Bike-Abo 2025"
        assert cells[3] == "Rita Researcher"
        assert cells[4] == checksum
        audit = dbsession.scalar(select(AuditEvent).where(AuditEvent.action == "study.create"))
        assert audit.study_id == study.id and audit.user_id == world.users["researcher"].id

    def test_created_study_is_listed_for_the_client(self, world, ebike_study, as_role):
        page = as_role("client").get("/")
        assert "Konzepttest E-Bike-Abo 2025" in page.text

    def test_bad_questionnaire_shows_every_problem_and_creates_nothing(self, world, as_role, dbsession):
        studies_before, audit_before = count(dbsession, Study), count(dbsession, AuditEvent)
        app = as_role("researcher")
        response = upload(app.get("/studies/new").forms["study-form"], BROKEN).submit(status=422)
        problems = [li.text.strip() for li in response.html.select(".problems li")]
        assert len(problems) >= 2
        assert all(PROBLEM_LINE.match(p) for p in problems), problems
        assert "Der Fragebogen hat Fehler; die Studie wurde nicht angelegt:" in response.text
        assert count(dbsession, Study) == studies_before
        assert count(dbsession, AuditEvent) == audit_before

    def test_form_values_survive_a_refusal(self, world, as_role):
        app = as_role("researcher")
        form = upload(app.get("/studies/new").forms["study-form"], BROKEN)
        form["name"] = "Mein Name"
        form["purpose"] = "telemarketing"
        again = form.submit(status=422).forms["study-form"]
        assert again["name"].value == "Mein Name"
        assert again["purpose"].value == "telemarketing"

    def test_missing_and_unreadable_files(self, world, as_role):
        app = as_role("researcher")
        response = app.get("/studies/new").forms["study-form"].submit(status=422)
        assert "Bitte wählen Sie eine Fragebogen-Datei (YAML)." in response.text
        form = upload(app.get("/studies/new").forms["study-form"], EBIKE, content="Größe".encode("latin-1"))
        assert "kein UTF-8-Text" in form.submit(status=422).text

    def test_duplicate_slug_is_refused(self, world, ebike_study, dbsession):
        app, _page = ebike_study
        before = count(dbsession, Study)
        response = upload(app.get("/studies/new").forms["study-form"], EBIKE).submit(status=422)
        assert "exists already" in response.text
        assert count(dbsession, Study) == before


class TestStudyPage:
    def test_publish_new_version(self, world, ebike_study, dbsession):
        _app, page = ebike_study
        text = EBIKE.read_text(encoding="utf-8").replace("\nversion: 3 ", "\nversion: 4 ", 1)
        assert "version: 4" in text
        response = upload(page.forms["version-form"], EBIKE, content=text.encode()).submit(status=303)
        page = response.follow()
        assert "Version 4 veröffentlicht." in page.text
        versions = [tr.find("td").text for tr in page.html.select("#versions-heading ~ table tbody tr")]
        assert versions == ["4", "3"]

    def test_version_must_be_higher(self, world, ebike_study, dbsession):
        _app, page = ebike_study
        before = count(dbsession, QuestionnaireVersion)
        response = upload(page.forms["version-form"], EBIKE).submit(status=422)
        assert "Die neue Version wurde nicht veröffentlicht:" in response.text
        assert "must be higher" in response.text
        assert count(dbsession, QuestionnaireVersion) == before

    def test_broken_version_shows_problems(self, world, ebike_study, dbsession):
        _app, page = ebike_study
        response = upload(page.forms["version-form"], BROKEN).submit(status=422)
        problems = [li.text.strip() for li in response.html.select(".problems li")]
        assert problems and all(PROBLEM_LINE.match(p) for p in problems)

    def test_status_change(self, world, ebike_study, dbsession):
        _app, page = ebike_study
        form = page.forms["status-form"]
        form["status"] = "field"
        page = form.submit(status=303).follow()
        assert "Status geändert." in page.text
        assert page.html.select_one(".heading-row .badge").text == "Im Feld"
        assert dbsession.scalar(select(Study.status).where(Study.slug == "ebike_abo_konzept")) == "field"

    def test_settings_change_and_refusal(self, world, ebike_study, dbsession):
        _app, page = ebike_study
        form = page.forms["settings-form"]
        form["changes"] = "max_attempts = 8\n# a comment\n\nretry.busy=20"
        page = form.submit(status=303).follow()
        assert "Einstellungen gespeichert." in page.text
        study = dbsession.scalar(select(Study).where(Study.slug == "ebike_abo_konzept"))
        assert study.settings["max_attempts"] == 8
        form = page.forms["settings-form"]
        form["changes"] = "max_attempts=9\nbogus=1"
        response = form.submit(status=422)
        assert "bogus" in response.html.select_one(".problems").text
        assert response.forms["settings-form"]["changes"].value == "max_attempts=9\nbogus=1"
        dbsession.expire_all()
        assert study.settings["max_attempts"] == 8

    def test_the_study_s_outcome_table_is_shown_and_changed_in_the_settings_form(self, world, ebike_study):
        _app, page = ebike_study
        rows = {tr.find("code").text: [td.text for td in tr.find_all("td")]
                for tr in page.html.select("#outcome-table tbody tr")}
        assert rows["busy"][1:5] == ["Besetzt", "3.12", "nein", "retry.busy"]
        assert rows["complete"][1:4] == ["Vollständiges Interview", "1.1", "ja"]
        form = page.forms["settings-form"]
        form["changes"] = "outcome.busy.label_de=Leitung besetzt\noutcome.fax.final=no\noutcome.fax.default_delay=600"
        page = form.submit(status=303).follow()
        rows = {tr.find("code").text: [td.text for td in tr.find_all("td")]
                for tr in page.html.select("#outcome-table tbody tr")}
        assert rows["busy"][1] == "Leitung besetzt" and rows["fax"][3:5] == ["nein", "600 Min."]
        form = page.forms["settings-form"]
        form["changes"] = "outcome.fax.aapor=5.1"
        assert "not an AAPOR code" in form.submit(status=422).html.select_one(".problems").text

    def test_settings_text_must_be_key_value(self, world, ebike_study):
        _app, page = ebike_study
        form = page.forms["settings-form"]
        form["changes"] = "max_attempts 8"
        assert "Zeile 1: bitte als schlüssel=wert schreiben." in form.submit(status=422).text

    def test_assign_and_remove_members(self, world, ebike_study, dbsession):
        _app, page = ebike_study
        form = page.forms["member-form"]
        form["user_id"] = str(world.users["interviewer"].id)
        page = form.submit(status=303).follow()
        assert "Ines Interviewer zugeordnet." in page.text
        study = dbsession.scalar(select(Study).where(Study.slug == "ebike_abo_konzept"))
        assert dbsession.get(StudyMember, (study.id, world.users["interviewer"].id)) is not None
        page = page.forms[f"remove-member-{world.users['interviewer'].id}"].submit(status=303).follow()
        assert "Ines Interviewer aus der Studie entfernt." in page.text
        assert dbsession.get(StudyMember, (study.id, world.users["interviewer"].id)) is None
        actions = dbsession.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study.id)).all()
        assert {"study.assign", "study.unassign"} <= set(actions)

    def test_clients_are_not_assigned(self, world, ebike_study, dbsession):
        app, page = ebike_study
        options = [o[0] for o in page.forms["member-form"]["user_id"].options]
        assert str(world.users["client"].id) not in options
        token = page.forms["member-form"]["csrf_token"].value
        response = app.post("/studies/ebike_abo_konzept/members",
                            {"user_id": str(world.users["client"].id), "csrf_token": token}, status=422)
        assert "Studien werden nur aktive Supervisoren und Interviewer zugeordnet" in response.text

    def test_deactivated_staff_are_not_offered(self, world, ebike_study, dbsession):
        add_user(dbsession, "gone", "interviewer", active=False)
        app, _page = ebike_study
        page = app.get("/studies/ebike_abo_konzept")
        labels = [o[2] for o in page.forms["member-form"]["user_id"].options]
        assert not any("Gone" in label for label in labels)
